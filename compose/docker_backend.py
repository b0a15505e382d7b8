"""The docker backend: the Compose file run by Docker Compose, node actions through the docker SDK.

`up` and `down` shell out to `docker compose` (the Compose v2 plugin) with the project name from
the file; kill, start, stop, pause and resume act on the node's container. Isolation disconnects
the container from the cluster network and `heal` reconnects it at its static address.

Limits: a container cut off this way loses its published port too (the namespace backend keeps
it), and a split of the cluster into two sides is not offered: containers have no firewall of
their own to drop traffic between chosen peers. Use the namespace backend for split-brain tests.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from typing import Any

from compose.backend import ClusterError
from compose.health import wait_until_healthy
from compose.topology import NETWORK, Topology

log = logging.getLogger("compose.docker")
UP_TIMEOUT_S = 300.0


class DockerBackend:
    """The local cluster as Docker Compose containers."""

    name = "docker"

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.balancer_url = topology.balancer_url
        self.compose = ["docker", "compose", "-f", str(topology.path), "-p", topology.project]
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The docker SDK client, made on first use: making it already asks the engine."""
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as error:
                raise ClusterError(f"no Docker engine answered: {error}") from None
        return self._client

    def up(self) -> None:
        if self.is_up():
            raise ClusterError(
                f"the cluster is already up (docker project {self.topology.project}):"
                " use it, or run `just local-down` first"
            )
        log.info(
            "docker compose: building the image and starting %d services",
            len(self.topology.services),
        )
        try:
            self._compose("up", "--detach", "--build", "--wait", "--wait-timeout", "240")
            wait_until_healthy(self.topology, UP_TIMEOUT_S, self._exited)
        except BaseException:
            log.warning("up failed: removing everything it made")
            self.down()
            raise

    def down(self) -> None:
        self._compose("down", "--volumes", "--remove-orphans", "--timeout", "5")

    def is_up(self) -> bool:
        return bool(self._containers())

    def kill(self, node: int) -> None:
        self._container(node).kill()

    def start(self, node: int) -> None:
        self._container(node).start()

    def stop(self, node: int) -> None:
        self._container(node).stop(timeout=int(self.topology.node(node).stop_grace_s))

    def pause(self, node: int) -> None:
        self._container(node).pause()

    def resume(self, node: int) -> None:
        self._container(node).unpause()

    def isolate(self, node: int) -> None:
        self._network().disconnect(self._container(node))

    def split(self, side_a: Sequence[int], side_b: Sequence[int]) -> None:
        raise ClusterError(
            "the docker backend cannot split the cluster (containers have no firewall of their own"
            " to drop traffic between chosen peers): use --backend namespaces"
        )

    def heal(self) -> None:
        network = self._network()
        network.reload()
        attached = {container.id for container in network.containers}
        for index, node in enumerate(self.topology.nodes):
            container = self._container(index)
            if container.id not in attached:
                network.connect(container, ipv4_address=node.address)

    def node_url(self, node: int) -> str:
        return self.topology.node_url(node)

    def process(self, node: int) -> str:
        try:
            container = self._container(node)
        except ClusterError:
            return "no container"
        return f"container {container.short_id} {container.status}"

    def logs_command(self, service: str | None) -> list[str]:
        return [*self.compose, "logs", "--follow", "--tail", "40", *([service] if service else [])]

    def _compose(self, *arguments: str) -> None:
        try:
            done = subprocess.run([*self.compose, *arguments], check=False)
        except FileNotFoundError:
            raise ClusterError("the docker client is not installed (docker compose)") from None
        if done.returncode != 0:
            raise ClusterError(
                f"docker compose {arguments[0]} failed with status {done.returncode}"
            )

    def _containers(self, service: str | None = None) -> list[Any]:
        labels = [f"com.docker.compose.project={self.topology.project}"]
        if service is not None:
            labels.append(f"com.docker.compose.service={service}")
        try:
            containers: list[Any] = self.client.containers.list(all=True, filters={"label": labels})
        except Exception as error:  # the SDK raises its own types and requests' errors alike
            raise ClusterError(f"the Docker engine did not answer: {error}") from None
        return containers

    def _container(self, node: int) -> Any:
        found = self._containers(self.topology.node(node).name)
        if not found:
            raise ClusterError(f"node{node} has no container: is the cluster up (`just local-up`)?")
        return found[0]

    def _network(self) -> Any:
        return self.client.networks.get(f"{self.topology.project}_{NETWORK}")

    def _exited(self) -> str | None:
        for container in self._containers():
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=20).decode(errors="replace")
                name = container.labels.get("com.docker.compose.service", container.name)
                return f"{name} exited while the cluster was starting; its last log lines:\n{tail}"
        return None
