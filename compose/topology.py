"""The local cluster's topology, read from `compose/docker-compose.yml`: the one description both
backends run.

`load_topology` parses the Compose file into services (name, static address, environment,
command, published ports, mounted files) and splits them into the ten nodes and the balancer.
It reads only what the backends need; Compose features it does not model (build, healthcheck,
sysctls) are left to Docker, and the namespace backend has its own equivalent of each.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMPOSE_DIR = Path(__file__).resolve().parent
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
NETWORK = "cluster"
BALANCER = "alb"
PROJECT = "casty"
"""The Compose project name: `docker compose -p casty`, and the prefix of every name it makes."""
_NODE_NAME = re.compile(r"node(\d+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


class TopologyError(ValueError):
    """The Compose file does not describe a cluster the runner can run."""


@dataclass(frozen=True)
class PublishedPort:
    """A port of a service published on the host, as `host_ip:host_port:container_port`."""

    host_ip: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class Mount:
    """A file of the repository mounted into a service: its path here and inside the service."""

    source: Path
    target: str


@dataclass(frozen=True)
class Service:
    """One Compose service as the runner sees it."""

    name: str
    address: str
    environment: Mapping[str, str]
    command: tuple[str, ...]
    ports: tuple[PublishedPort, ...]
    mounts: tuple[Mount, ...]
    stop_grace_s: float

    @property
    def published(self) -> PublishedPort:
        """The service's one published port (nodes and the balancer each publish exactly one)."""
        return self.ports[0]


@dataclass(frozen=True)
class Topology:
    """The cluster: its subnet, the nodes in index order and the balancer."""

    path: Path
    project: str
    subnet: str
    nodes: tuple[Service, ...]
    balancer: Service

    @property
    def services(self) -> tuple[Service, ...]:
        """Every service: the balancer first, then the nodes."""
        return (self.balancer, *self.nodes)

    def node(self, index: int) -> Service:
        """Node `index` (0-based); raises `IndexError` naming the valid range."""
        if not 0 <= index < len(self.nodes):
            last = len(self.nodes) - 1
            raise IndexError(f"node {index} does not exist: the cluster has nodes 0-{last}")
        return self.nodes[index]

    def node_url(self, index: int) -> str:
        """The node's published HTTP URL on the host."""
        port = self.node(index).published
        return f"http://{port.host_ip}:{port.host_port}"

    @property
    def balancer_url(self) -> str:
        """The balancer's published HTTP URL on the host."""
        port = self.balancer.published
        return f"http://{port.host_ip}:{port.host_port}"


def load_topology(path: Path = COMPOSE_FILE) -> Topology:
    """Parse the Compose file at `path`; raises `TopologyError` saying which service is wrong."""
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise TopologyError(f"{path}: expected a mapping at the top level")
    subnet = _subnet(path, document)
    services = document.get("services") or {}
    nodes: dict[int, Service] = {}
    balancer: Service | None = None
    for name, spec in services.items():
        service = _service(path, name, spec, subnet)
        if name == BALANCER:
            balancer = service
            continue
        match = _NODE_NAME.fullmatch(name)
        if match is None:
            raise TopologyError(f"{path}: service {name!r} is neither {BALANCER!r} nor node<index>")
        index = int(match.group(1))
        if service.environment.get("NODE_INDEX") != str(index):
            raise TopologyError(
                f"{path}: service {name} has NODE_INDEX {service.environment.get('NODE_INDEX')!r},"
                f" expected {index!r}"
            )
        nodes[index] = service
    if balancer is None:
        raise TopologyError(f"{path}: no {BALANCER!r} service")
    if sorted(nodes) != list(range(len(nodes))) or not nodes:
        raise TopologyError(f"{path}: node services must be node0..nodeN, found {sorted(nodes)}")
    return Topology(
        path=path,
        project=str(document.get("name") or PROJECT),
        subnet=subnet,
        nodes=tuple(nodes[i] for i in range(len(nodes))),
        balancer=balancer,
    )


def _subnet(path: Path, document: Mapping[str, Any]) -> str:
    try:
        config = document["networks"][NETWORK]["ipam"]["config"][0]["subnet"]
    except (KeyError, IndexError, TypeError):
        raise TopologyError(f"{path}: no networks.{NETWORK}.ipam.config[0].subnet") from None
    try:
        return str(ipaddress.IPv4Network(config))
    except ValueError:
        raise TopologyError(f"{path}: network {NETWORK} subnet {config!r} is not IPv4") from None


def _service(path: Path, name: str, spec: Mapping[str, Any], subnet: str) -> Service:
    where = f"{path}: service {name}"
    try:
        address = str(spec["networks"][NETWORK]["ipv4_address"])
    except (KeyError, TypeError):
        raise TopologyError(f"{where}: no static networks.{NETWORK}.ipv4_address") from None
    if ipaddress.IPv4Address(address) not in ipaddress.IPv4Network(subnet):
        raise TopologyError(f"{where}: address {address} is outside the subnet {subnet}")
    command = spec.get("command")
    if not isinstance(command, list) or not command:
        raise TopologyError(f"{where}: command must be a non-empty list (exec form)")
    ports = tuple(_port(where, text) for text in spec.get("ports") or ())
    if len(ports) != 1:
        raise TopologyError(f"{where}: expected exactly one published port, found {len(ports)}")
    return Service(
        name=name,
        address=address,
        environment={str(k): str(v) for k, v in (spec.get("environment") or {}).items()},
        command=tuple(str(part) for part in command),
        ports=ports,
        mounts=tuple(_mount(path, where, text) for text in spec.get("volumes") or ()),
        stop_grace_s=_duration(where, str(spec.get("stop_grace_period", "10s"))),
    )


def _port(where: str, text: object) -> PublishedPort:
    parts = str(text).split(":")
    if len(parts) != 3:
        raise TopologyError(f"{where}: port {text!r} must be host_ip:host_port:container_port")
    host_ip, host_port, container_port = parts
    return PublishedPort(host_ip, int(host_port), int(container_port))


def _mount(path: Path, where: str, text: object) -> Mount:
    parts = str(text).split(":")
    if len(parts) < 2:
        raise TopologyError(f"{where}: volume {text!r} must be source:target[:mode]")
    return Mount(source=(path.parent / parts[0]).resolve(), target=parts[1])


def _duration(where: str, text: str) -> float:
    """A Compose duration such as `30s` or `1m30s`, in seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    pieces = _DURATION.findall(text)
    if not pieces or "".join(n + u for n, u in pieces) != text:
        raise TopologyError(f"{where}: duration {text!r} is not like 30s or 1m30s")
    return sum(float(number) * units[unit] for number, unit in pieces)
