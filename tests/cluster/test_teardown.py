"""The namespace backend leaves nothing behind: after a clean run, a failed one, and a runner killed
in the middle of `up`; and it refuses, with a message, to start over a cluster or a taken port.

These tests bring their own clusters up and down. A session cluster that is already up (from
`local_cluster`) is taken down first and brought back up after the module, as it was found.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from compose.backend import ClusterError, can_run_namespaces
from compose.namespaces import STATE_DIR, NamespaceBackend, leftovers
from compose.topology import COMPOSE_DIR, COMPOSE_FILE, load_topology

pytestmark = [pytest.mark.root, pytest.mark.cluster, pytest.mark.integration]
REPO = COMPOSE_DIR.parent


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _recorded_pids() -> list[int]:
    state = json.loads((STATE_DIR / "state.json").read_text())
    return [record["pid"] for record in state["processes"].values()]


def _listed(command: list[str], name: str) -> bool:
    return name in subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def no_cluster() -> Iterator[None]:
    """No cluster up while the module runs; one that was up is brought back afterwards."""
    if not can_run_namespaces():
        pytest.skip("the namespace backend needs Linux and root (network namespaces, nftables)")
    backend = NamespaceBackend(load_topology())
    was_up = backend.is_up()
    if was_up:
        backend.down()
    assert leftovers() == []
    yield
    backend.down()
    if was_up:
        backend.up()


def test_down_after_a_clean_run_leaves_nothing(no_cluster: None) -> None:
    backend = NamespaceBackend(load_topology())
    backend.up()
    pids = _recorded_pids()
    with pytest.raises(ClusterError, match="already up"):
        backend.up()
    assert backend.is_up()
    backend.down()
    assert leftovers() == []
    assert [pid for pid in pids if _pid_alive(pid)] == []
    backend.down()  # idempotent
    assert not backend.is_up()


def test_a_node_that_fails_to_start_is_named_with_its_log_and_nothing_is_left(
    no_cluster: None, tmp_path: Path
) -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"]["node5"]["environment"]["HTTP_PORT"] = "eighty"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(document))
    shutil.copy(COMPOSE_DIR / "haproxy.cfg", tmp_path / "haproxy.cfg")
    backend = NamespaceBackend(load_topology(broken))
    with pytest.raises(ClusterError) as failure:
        backend.up()
    message = str(failure.value)
    assert "node5 exited" in message
    assert "HTTP_PORT" in message  # the node's own error line, from its log
    assert leftovers() == []


def test_up_refuses_a_taken_balancer_port_and_makes_nothing(no_cluster: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 8080))
        squatter.listen()
        with pytest.raises(ClusterError, match=r"port 127\.0\.0\.1:8080 \(alb\) is taken"):
            NamespaceBackend(load_topology()).up()
        assert leftovers() == ["a listener on 127.0.0.1:8080"]
    assert leftovers() == []


def test_the_guard_comes_first_and_down_after_the_runner_was_killed_mid_up_leaves_nothing(
    no_cluster: None,
) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "compose", "--backend", "namespaces", "up"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        pids: list[int] = []
        while len(pids) < 5 and time.monotonic() < deadline:
            # Whenever a namespace exists, the guard must already be there.
            if _listed(["ip", "netns", "list"], "casty-"):
                assert _listed(["nft", "list", "tables"], "casty_guard")
            with contextlib.suppress(OSError, ValueError):
                pids = _recorded_pids()
            time.sleep(0.02)
        assert len(pids) >= 5, "the runner never started five processes"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    assert leftovers() != []  # it really was killed half-way: something is there to remove
    NamespaceBackend(load_topology()).down()
    assert leftovers() == []
    assert [pid for pid in pids if _pid_alive(pid)] == []
