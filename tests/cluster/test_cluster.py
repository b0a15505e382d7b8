"""The ten-node cluster on the namespace backend, reached only through 127.0.0.1 published ports.

Each test leaves the cluster as it found it: healed, every node running and seeing all ten.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from compose.backend import Backend
from compose.forwarder import socket_in
from compose.health import wait_until_healthy
from compose.namespaces import BRIDGE, GUARD_TABLE, PREFIX

pytestmark = [pytest.mark.root, pytest.mark.cluster, pytest.mark.integration]

EXPECTED = {f"10.0.1.{10 + i}:25520" for i in range(10)}


def _rejoined(cluster: Backend) -> None:
    wait_until_healthy(cluster.topology, timeout_s=120.0)


def test_ten_members_are_alive_at_the_mirrored_addresses_through_every_published_port(
    local_cluster: Backend, http: httpx.Client
) -> None:
    for index in range(10):
        answer = http.get(f"{local_cluster.node_url(index)}/cluster/status")
        assert answer.status_code == 200
        assert answer.headers["X-Casty-Node"] == str(index)
        status = answer.json()
        assert status["node"] == index
        assert status["address"] == f"10.0.1.{10 + index}:25520"
        assert {m["address"] for m in status["members"]} == EXPECTED
        assert {m["status"] for m in status["members"]} == {"alive"}
        assert status["alive"] == 10
    assert http.get(f"{local_cluster.balancer_url}/health").status_code == 200


def test_the_balancer_spreads_requests_over_all_ten_nodes(
    local_cluster: Backend, http: httpx.Client
) -> None:
    answered_by = [
        http.get(f"{local_cluster.balancer_url}/health").headers["X-Casty-Node"] for _ in range(30)
    ]
    assert set(answered_by) == {str(i) for i in range(10)}


def test_any_node_reads_what_another_node_wrote(local_cluster: Backend, http: httpx.Client) -> None:
    entity = f"cluster-{uuid.uuid4().hex[:8]}"
    for writer in range(10):
        url = f"{local_cluster.node_url(writer)}/kv/{entity}/from-{writer}"
        assert http.put(url, json={"value": f"written by {writer}"}).status_code == 200
        added = http.post(f"{local_cluster.node_url(writer)}/counter/{entity}/increment")
        assert added.status_code == 200
    for reader in range(10):
        for writer in range(10):
            url = f"{local_cluster.node_url(reader)}/kv/{entity}/from-{writer}"
            assert http.get(url).json()["value"] == f"written by {writer}"
        assert http.get(f"{local_cluster.node_url(reader)}/counter/{entity}").json()["value"] == 10


def test_the_guard_drops_host_packets_for_the_subnet_unless_they_leave_by_the_bridge(
    local_cluster: Backend,
) -> None:
    table = subprocess.run(
        ["nft", "list", "table", "inet", GUARD_TABLE], capture_output=True, text=True, check=True
    ).stdout
    rule = f'ip daddr {local_cluster.topology.subnet} oifname != "{BRIDGE}"'
    for hook in ("output", "forward"):
        chain = table.split(f"chain {hook} {{", 1)[1].split("}", 1)[0]
        assert f"hook {hook}" in chain
        assert rule in chain
        assert "drop" in chain


def _guard_drops() -> int:
    listing = subprocess.run(
        ["nft", "-j", "list", "table", "inet", GUARD_TABLE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(
        item["rule"]["expr"][-2]["counter"]["packets"]
        for item in json.loads(listing)["nftables"]
        if "rule" in item and item["rule"]["chain"] == "output"
    )


def test_the_guard_drops_a_host_packet_for_the_subnet_that_would_leave_by_another_interface(
    local_cluster: Backend,
) -> None:
    # The probe route leads into a veth whose other end lies, down, in a namespace of its own:
    # even without the guard, this packet could not leave the machine.
    probe, target = "casty-probe", "10.0.1.250"

    def ip(*arguments: str) -> None:
        subprocess.run(["ip", *arguments], check=True)

    ip("netns", "add", probe)
    try:
        ip("link", "add", probe, "type", "veth", "peer", "name", "eth0", "netns", probe)
        ip("link", "set", probe, "up")
        ip("route", "add", f"{target}/32", "dev", probe)
        before = _guard_drops()
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
            pytest.raises(PermissionError),
        ):
            sender.sendto(b"probe", (target, 9))
        assert _guard_drops() == before + 1
    finally:
        subprocess.run(["ip", "link", "del", probe], check=False)
        ip("netns", "del", probe)


def test_the_forwarder_hands_each_chunk_to_a_node_at_once(local_cluster: Backend) -> None:
    # With Nagle's algorithm, a body that follows its headers in a second write waits for the
    # node's delayed ACK: 40 ms on every POST straight at a node.
    with socket_in(f"{PREFIX}{local_cluster.topology.node(0).name}") as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_killed_node_restarts_and_rejoins_as_a_new_incarnation(
    local_cluster: Backend, http: httpx.Client
) -> None:
    victim = 7
    address = f"10.0.1.{10 + victim}:25520"

    def incarnation() -> str:
        status = http.get(f"{local_cluster.node_url(0)}/cluster/status").json()
        return next(m["incarnation"] for m in status["members"] if m["address"] == address)

    def seen_alive() -> bool:
        status = http.get(f"{local_cluster.node_url(0)}/cluster/status").json()
        member = next((m for m in status["members"] if m["address"] == address), None)
        return member is not None and member["status"] == "alive"

    before = incarnation()
    local_cluster.kill(victim)
    try:
        with pytest.raises(httpx.HTTPError):
            http.get(f"{local_cluster.node_url(victim)}/health")
        deadline = time.monotonic() + 60
        while seen_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not seen_alive(), "the other nodes never noticed the killed node"
    finally:
        local_cluster.start(victim)
    _rejoined(local_cluster)
    assert http.get(f"{local_cluster.node_url(victim)}/health").status_code == 200
    assert incarnation() != before


@dataclass
class _Outcome:
    operation: str
    status: int | None
    node: str | None
    completed: float
    error: str | None = None


def test_a_stopped_node_drains_out_of_the_balancer_without_a_failed_request(
    local_cluster: Backend,
) -> None:
    victim = 6
    entity = f"drain-{uuid.uuid4().hex[:8]}"
    outcomes: list[_Outcome] = []
    finished = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=local_cluster.balancer_url, timeout=10, trust_env=False) as c:
            while not finished.is_set():
                for operation, send in (
                    ("read", lambda: c.get(f"/counter/{entity}")),
                    ("increment", lambda: c.post(f"/counter/{entity}/increment")),
                ):
                    try:
                        answer = send()
                        node = answer.headers.get("X-Casty-Node")
                        done = time.monotonic()
                        outcomes.append(_Outcome(operation, answer.status_code, node, done))
                    except httpx.HTTPError as error:
                        done = time.monotonic()
                        outcomes.append(_Outcome(operation, None, None, done, repr(error)))
                time.sleep(0.02)

    client = threading.Thread(target=traffic)
    client.start()
    try:
        time.sleep(1.0)
        stopping = time.monotonic()
        local_cluster.stop(victim)
        exited = time.monotonic()
        time.sleep(1.0)
    finally:
        finished.set()
        client.join()
        local_cluster.start(victim)
    _rejoined(local_cluster)
    failed = [o for o in outcomes if o.status != 200]
    assert failed == []
    by_victim = [o.completed for o in outcomes if o.node == str(victim)]
    assert by_victim, "the victim was never in the rotation"
    assert min(by_victim) < stopping
    # The balancer stopped sending to the node while it still served (draining), not when it
    # went away: other nodes answered between its last answer and its exit.
    last = max(by_victim)
    assert last < exited
    assert any(last < o.completed < exited for o in outcomes)
