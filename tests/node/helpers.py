"""Starting real node processes on loopback for the node's integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """A `python -m node` process on loopback, its HTTP URL and its log file."""

    index: int
    ip: str
    http_port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def casty_address(self) -> str:
        return f"{self.ip}:{self.env['CASTY_PORT']}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "node"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def end(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def node_env(
    index: int, ip: str, http_port: int, casty_port: int, seeds: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "SEED_"))}
    env.update(
        NODE_INDEX=str(index),
        NODE_IP=ip,
        SEED_IPS=seeds,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(http_port),
        CASTY_PORT=str(casty_port),
        CLUSTER_NAME="it-" + str(casty_port),
        DRAIN_SECONDS="1",
    )
    env.update(extra)
    return env


@contextmanager
def loopback_cluster(tmp: Path, size: int, **extra: str) -> Iterator[list[NodeProcess]]:
    """`size` nodes at 127.0.0.1, 127.0.0.2, ... sharing one casty port; ended by PID on exit."""
    casty_port = free_port()
    ips = [f"127.0.0.{i + 1}" for i in range(size)]
    seeds = ",".join(ips[: min(size, 3)])
    nodes = [
        NodeProcess(
            i, ip, port, node_env(i, ip, port, casty_port, seeds, **extra), tmp / f"node{i}.log"
        )
        for i, (ip, port) in enumerate(zip(ips, [free_port() for _ in ips], strict=True))
    ]
    try:
        for node in nodes:
            node.start()
        wait_ready(nodes, expected_members=size)
        yield nodes
    finally:
        for node in nodes:
            node.end()


def wait_ready(nodes: list[NodeProcess], expected_members: int, timeout: float = 60.0) -> None:
    """Wait until every running node answers /health 200 and sees `expected_members` alive."""
    deadline = time.monotonic() + timeout
    pending = [n for n in nodes if n.running()]
    while pending:
        node = pending[0]
        if not node.running():
            raise AssertionError(f"node {node.index} exited:\n{node.tail()}")
        try:
            status = httpx.get(f"{node.url}/cluster/status", timeout=2).json()
            if status["ready"] and status["alive"] >= expected_members:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"node {node.index} not ready in {timeout} s:\n{node.tail()}")
        time.sleep(0.2)
