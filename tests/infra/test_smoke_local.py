"""`just smoke` passes against the local ten-node cluster, and again on a rerun."""

from __future__ import annotations

import subprocess
import sys

import pytest

from compose.backend import Backend

pytestmark = [pytest.mark.cluster, pytest.mark.root]


def test_the_smoke_sequence_passes_through_the_local_balancer_twice(
    local_cluster: Backend,
) -> None:
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "loadtest.smoke", local_cluster.balancer_url, "--wait", "60"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "every answer was right" in done.stdout


def test_the_smoke_sequence_passes_against_one_node_directly(local_cluster: Backend) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.smoke", local_cluster.node_url(7), "--wait", "60"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
