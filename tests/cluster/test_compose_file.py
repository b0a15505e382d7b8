"""The Compose file describes the cluster the node and the namespace backend expect."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess

import pytest
import yaml

from compose.namespaces import NamespaceBackend
from compose.schema import SchemaUnavailable, fetch_schema
from compose.topology import COMPOSE_DIR, COMPOSE_FILE, load_topology
from node.settings import Settings, node_address

TOPOLOGY = load_topology()


def test_the_compose_file_validates_against_the_compose_spec_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    try:
        schema = json.loads(fetch_schema().read_text())
    except SchemaUnavailable as error:
        pytest.skip(f"the compose-spec schema is not cached and npm could not fetch it: {error}")
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    validator = jsonschema.Draft7Validator(schema)
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
    assert problems == []


def test_ten_nodes_have_unique_addresses_inside_the_subnet_at_ten_plus_index() -> None:
    subnet = ipaddress.IPv4Network(TOPOLOGY.subnet)
    addresses = [service.address for service in TOPOLOGY.services]
    assert len(TOPOLOGY.nodes) == 10
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.IPv4Address(a) in subnet for a in addresses)
    assert [n.address for n in TOPOLOGY.nodes] == [
        node_address(TOPOLOGY.subnet, i) for i in range(10)
    ]


def test_the_namespace_backend_runs_the_addresses_and_commands_of_the_compose_file() -> None:
    backend = NamespaceBackend(TOPOLOGY)
    assert backend.topology.nodes == TOPOLOGY.nodes
    for index in range(10):
        assert backend.node_url(index) == f"http://127.0.0.1:{8100 + index}"
    assert backend.balancer_url == "http://127.0.0.1:8080"


def test_every_node_reads_its_index_address_and_the_three_seeds_from_its_environment() -> None:
    seeds = tuple(node.address for node in TOPOLOGY.nodes[:3])
    assert seeds == ("10.0.1.10", "10.0.1.11", "10.0.1.12")
    for index, node in enumerate(TOPOLOGY.nodes):
        settings = Settings.from_env(node.environment)
        assert settings.node_index == index
        assert settings.node_ip == node.address
        assert settings.seed_ips == seeds
        assert settings.cluster_subnet == TOPOLOGY.subnet
        assert settings.http_port == node.published.container_port == 8000
        assert settings.casty_port == 25520
        assert node.published.host_ip == "127.0.0.1"
        assert node.published.host_port == 8100 + index


def test_the_stop_grace_period_covers_the_drain_and_the_leave() -> None:
    for node in TOPOLOGY.nodes:
        settings = Settings.from_env(node.environment)
        assert node.stop_grace_s > settings.drain_seconds + settings.leave_timeout_s


def test_the_balancer_checks_and_spreads_over_every_node_at_its_compose_address() -> None:
    config = (COMPOSE_DIR / "haproxy.cfg").read_text()
    backend = re.split(r"^backend nodes$", config, flags=re.MULTILINE)[1].split("\nbackend ")[0]
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", backend, re.MULTILINE)
    assert servers == [(n.name, n.address, "8000") for n in TOPOLOGY.nodes]
    assert "balance roundrobin" in backend
    assert "option httpchk GET /health" in backend
    assert TOPOLOGY.balancer.published.host_port == 8080
    assert TOPOLOGY.balancer.published.container_port == 80


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_balancer_config() -> None:
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(COMPOSE_DIR / "haproxy.cfg")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _compose_cli() -> list[str] | None:
    """Docker Compose as installed: the v2 plugin, or Debian's docker-compose; None if neither."""
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(
    _compose_cli() is None, reason="no Docker Compose (Debian: apt-get install docker-compose)"
)
def test_docker_compose_resolves_the_same_nodes_the_namespace_backend_runs() -> None:
    cli = _compose_cli()
    assert cli is not None
    done = subprocess.run(
        [*cli, "-p", "casty", "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    assert set(resolved) == {service.name for service in TOPOLOGY.services}
    for node in TOPOLOGY.nodes:
        service = resolved[node.name]
        assert {k: str(v) for k, v in service["environment"].items()} == dict(node.environment)
        assert service["command"] == list(node.command)
        assert service["networks"]["cluster"]["ipv4_address"] == node.address
