"""Fixtures shared by every test tier. `local_cluster` is the ten-node cluster, once per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from compose.backend import Backend, ClusterError, can_run_namespaces
from compose.health import wait_until_healthy
from compose.namespaces import NamespaceBackend
from compose.topology import load_topology

RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """In CI (CI=true) a skipped test fails: every tier must really run there, root ones too."""
    report = yield
    if report.skipped and os.environ.get("CI") == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
    return report


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Backend]:
    """The ten-node cluster on the namespace backend, up and healthy.

    Reuses a cluster that is already up and healthy (and then leaves it up); otherwise removes
    any half-made one, brings it up, and at the end of the session copies the logs to
    results/cluster-logs/ and takes it down. Tests that use it must leave it healed, with every
    node running. Skips when not root: namespaces, a bridge and nftables need it.
    """
    if not can_run_namespaces():
        pytest.skip("the local cluster needs Linux and root (network namespaces, nftables)")
    backend = NamespaceBackend(load_topology())
    if backend.is_up():
        try:
            wait_until_healthy(backend.topology, timeout_s=5.0)
        except ClusterError:
            pass
        else:
            yield backend
            return
    backend.down()  # whatever a killed session left half-made
    backend.up()
    try:
        yield backend
    finally:
        if backend.log_dir.exists():
            target = RESULTS / "cluster-logs"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(backend.log_dir, target)
        backend.down()
