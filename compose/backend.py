"""The local cluster runner's interface: one `Backend` per way of running the Compose file.

Two backends run the same `compose/docker-compose.yml`:

- `namespaces` (compose/namespaces.py): Linux as root, no Docker engine. Each service is a network
  namespace on a Linux bridge at its static address; the nodes run from the project's `.venv`,
  HAProxy from the Debian package. Its state lives under /run/casty-cluster, so node actions work
  from any process while the cluster is up.
- `docker` (compose/docker_backend.py): Docker Compose for up and down, the Python docker SDK for
  the node actions.

`open_backend` picks what the machine can run: a reachable Docker engine first, otherwise the
namespace backend when running as root; `name` (or the CASTY_BACKEND variable) overrides.
Node indexes are 0-based: node i is service `node{i}`, at 10.0.1.(10+i), published on
127.0.0.1:(8100+i).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from compose.topology import Topology

BACKENDS = ("namespaces", "docker")


class ClusterError(RuntimeError):
    """A cluster operation could not be done; the message says what to do about it."""


@runtime_checkable
class Backend(Protocol):
    """A way to run the local cluster. Every method raises `ClusterError` with a message for a
    person when it cannot do what it says."""

    name: str
    topology: Topology
    balancer_url: str

    def up(self) -> None:
        """Start everything and return once every node is a member and healthy and the balancer
        answers. On failure, remove whatever it made before raising."""
        ...

    def down(self) -> None:
        """Remove everything this backend made (processes, namespaces, links, firewall tables or
        containers and networks). Idempotent; works after a runner was killed mid-`up`."""
        ...

    def is_up(self) -> bool:
        """Whether a cluster of this backend is running (some of it at least)."""
        ...

    def kill(self, node: int) -> None:
        """SIGKILL the node's process (container)."""
        ...

    def start(self, node: int) -> None:
        """Start a stopped or killed node again, at the same address; returns once it runs
        (not once it is healthy)."""
        ...

    def stop(self, node: int) -> None:
        """SIGTERM the node: it drains and leaves. Returns once it exited (SIGKILL after its
        Compose stop grace period)."""
        ...

    def pause(self, node: int) -> None:
        """SIGSTOP the node (docker pause)."""
        ...

    def resume(self, node: int) -> None:
        """SIGCONT the node (docker unpause)."""
        ...

    def isolate(self, node: int) -> None:
        """Cut the node off from every other node and the balancer. Its published port on
        127.0.0.1 still answers where the backend can keep it (namespaces can, docker cannot)."""
        ...

    def split(self, side_a: Sequence[int], side_b: Sequence[int]) -> None:
        """Make the nodes of `side_a` and those of `side_b` unable to reach each other. The
        balancer, and nodes on neither side, still reach both sides (as the ALB would)."""
        ...

    def heal(self) -> None:
        """Undo every isolate and split."""
        ...

    def node_url(self, node: int) -> str:
        """The node's published URL, `http://127.0.0.1:{8100+node}`."""
        ...

    def process(self, node: int) -> str:
        """The node's process or container as a short phrase for `status` (`pid 123 paused`)."""
        ...

    def logs_command(self, service: str | None) -> list[str]:
        """The command that follows the log of one service (`node3`, `alb`), or of all."""
        ...


def docker_engine_reachable() -> bool:
    """Whether a Docker engine answers a ping (with the docker SDK's usual environment)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, no SDK: all mean "no engine here"
        return False


def can_run_namespaces() -> bool:
    """Whether the namespace backend can run: Linux, as root."""
    return sys.platform == "linux" and os.geteuid() == 0


def open_backend(name: str | None = None, topology: Topology | None = None) -> Backend:
    """The backend named `name` (or CASTY_BACKEND), else the first one this machine can run.

    Raises `ClusterError` when the name is unknown or when the machine can run neither.
    """
    from compose.topology import load_topology

    chosen = name or os.environ.get("CASTY_BACKEND") or None
    topology = topology or load_topology()
    if chosen is None:
        if docker_engine_reachable():
            chosen = "docker"
        elif can_run_namespaces():
            chosen = "namespaces"
        else:
            raise ClusterError(
                "no backend can run here: the docker backend needs a reachable Docker engine"
                " (none answered), and the namespace backend needs Linux and root"
                f" (running as uid {os.geteuid()}). Start Docker, or run as root (sudo)."
            )
    if chosen == "namespaces":
        from compose.namespaces import NamespaceBackend

        return NamespaceBackend(topology)
    if chosen == "docker":
        from compose.docker_backend import DockerBackend

        return DockerBackend(topology)
    raise ClusterError(f"unknown backend {chosen!r}: expected one of {', '.join(BACKENDS)}")
