"""What the cluster looks like from the host, through the published ports only.

Both backends wait with `wait_until_healthy`: every node answers /health with 200, every node's
/cluster/status counts all the nodes alive, and the balancer sends requests to every node. The
probes go to 127.0.0.1 published ports, never to the cluster subnet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from compose.backend import ClusterError
from compose.topology import Topology

log = logging.getLogger("compose.health")


@dataclass(frozen=True)
class NodeView:
    """One node as seen through its published port: its /health status code (None when it did
    not answer) and, from /cluster/status, how many members it sees alive and in total."""

    health: int | None
    alive: int | None
    members: int | None

    @property
    def healthy(self) -> bool:
        """Whether /health answered 200."""
        return self.health == 200


def client(timeout: float = 2.0) -> httpx.Client:
    """An HTTP client for published ports: no proxies from the environment, short timeouts."""
    return httpx.Client(timeout=timeout, trust_env=False)


def view(http: httpx.Client, url: str) -> NodeView:
    """Probe one node at `url`; a node that does not answer gives all None."""
    try:
        health = http.get(f"{url}/health").status_code
    except httpx.HTTPError:
        return NodeView(None, None, None)
    try:
        status = http.get(f"{url}/cluster/status").json()
        members = status.get("members")
        return NodeView(health, status.get("alive"), len(members) if members is not None else None)
    except (httpx.HTTPError, ValueError, AttributeError):
        return NodeView(health, None, None)


def balancer_health(http: httpx.Client, url: str) -> int | None:
    """The balancer's answer to /health (from whichever node it picked), or None."""
    try:
        return http.get(f"{url}/health").status_code
    except httpx.HTTPError:
        return None


def balancer_spread(http: httpx.Client, url: str, requests: int) -> set[int]:
    """The nodes that answered `requests` /health calls through the balancer with 200.

    A node the balancer still counts as down (it needs two passing checks in a row) is missing, and
    answers the balancer gave while failing open (every node down) are not counted.
    """
    nodes: set[int] = set()
    for _ in range(requests):
        try:
            answer = http.get(f"{url}/health")
        except httpx.HTTPError:
            continue
        if "X-Balancer-Fail-Open" in answer.headers:
            continue  # no node passes its check: the balancer sends everywhere, as the ALB does
        if answer.status_code == 200 and answer.headers.get("X-Casty-Node", "").isdigit():
            nodes.add(int(answer.headers["X-Casty-Node"]))
    return nodes


def wait_until_healthy(
    topology: Topology,
    timeout_s: float,
    failure: Callable[[], str | None] = lambda: None,
) -> float:
    """Wait until every node is healthy and sees every node alive, and the balancer sends to all.

    Returns the seconds it took. `failure` is asked on every round and returns a message when the
    backend already knows the wait is hopeless (a node process exited); it is raised as a
    `ClusterError` at once. Past `timeout_s`, raises `ClusterError` naming the nodes not ready.
    """
    count = len(topology.nodes)
    started = time.monotonic()
    last_report = ""
    with client(timeout=1.5) as http:
        while True:
            problem = failure()
            if problem is not None:
                raise ClusterError(problem)
            views = [view(http, topology.node_url(i)) for i in range(count)]
            healthy = sum(v.healthy for v in views)
            complete = sum(v.healthy and v.alive == count for v in views)
            spread = (
                balancer_spread(http, topology.balancer_url, 2 * count)
                if complete == count
                else set()
            )
            elapsed = time.monotonic() - started
            if len(spread) == count:
                log.info(
                    "ready: %d/%d nodes healthy and seeing all members (%.1f s)",
                    count,
                    count,
                    elapsed,
                )
                return elapsed
            report = (
                f"waiting: {healthy}/{count} nodes healthy, {complete}/{count} see all {count}"
                f" members, the balancer sends to {len(spread)}/{count}"
            )
            if report != last_report:
                log.info("%s (%.1f s)", report, elapsed)
                last_report = report
            if elapsed > timeout_s:
                late = [
                    f"node{i} (health {v.health}, sees {v.alive} alive)"
                    for i, v in enumerate(views)
                    if not (v.healthy and v.alive == count)
                ]
                raise ClusterError(
                    f"the cluster was not ready after {timeout_s:.0f} s (CLUSTER_UP_TIMEOUT_S):"
                    f" {', '.join(late) or f'the balancer sent only to nodes {sorted(spread)}'}"
                )
            time.sleep(0.5)


def last_lines(path: Path, count: int = 20) -> str:
    """The last `count` lines of a log file, indented for an error message; '' when none."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in lines)
