"""How long a killed owner's entities stay unavailable, for several failure-detection settings.

`python -m compose.chaos.failover [--trials N] [--profiles casty,relaxed,node]` (`just
chaos-failover`) brings up its own ten-node cluster once per profile, with the profile's
HEARTBEAT_MS / SUSPECT_AFTER_MS / DEAD_AFTER_MS in every node's environment, and for each:

1. **False suspicion under load**: runs the chaos workload at `--load-rate` operations per
   second for `--load-s` seconds with no fault, while polling every node's /cluster/status; any
   member a node reports as other than alive is a false suspicion (nothing was wrong). It also
   watches the owners of 40 counters (8 of them on every poll, all 40 before and after): with
   no fault, an owner that moved means some node was suspected.
2. **Owner loss**: `--trials` times, picks a fresh counter, finds its owner through the
   placement API, sends an idempotent increment to it every 50 ms through the balancer and
   straight at the surviving nodes, SIGKILLs the owner, and measures the time from the kill to
   the completion of the first increment that was sent after the kill and acknowledged. That is
   how long a client retrying at once would wait. Then it starts the node again and waits until
   the cluster is whole.

It needs the machine's one cluster slot to itself: it refuses to run while a cluster is up.
Results go to `results/chaos/failover-<UTC time>.json` and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from compose.backend import Backend, ClusterError, open_backend
from compose.chaos.history import History
from compose.chaos.nemesis import Nemesis, owner_node
from compose.chaos.run import RESULTS
from compose.chaos.workload import Clock, Workload, WorkloadConfig
from compose.topology import Topology, load_topology
from node.settings import Settings

log = logging.getLogger("harness.failover")


@dataclass(frozen=True)
class Profile:
    """A failure-detection setting: the three node variables, in milliseconds."""

    name: str
    heartbeat_ms: int
    suspect_after_ms: int
    dead_after_ms: int

    @property
    def environment(self) -> dict[str, str]:
        """The node environment variables that select this setting."""
        return {
            "HEARTBEAT_MS": str(self.heartbeat_ms),
            "SUSPECT_AFTER_MS": str(self.suspect_after_ms),
            "DEAD_AFTER_MS": str(self.dead_after_ms),
        }

    def __str__(self) -> str:
        return f"{self.name} ({self.heartbeat_ms}/{self.suspect_after_ms}/{self.dead_after_ms})"


_DEFAULTS = Settings()

PROFILES = {
    "casty": Profile("casty", 1000, 5000, 5000),
    "relaxed": Profile("relaxed", 500, 2000, 2000),
    # The node's own defaults, chosen from this measurement: half the outage of `relaxed`.
    "node": Profile(
        "node", _DEFAULTS.heartbeat_ms, _DEFAULTS.suspect_after_ms, _DEFAULTS.dead_after_ms
    ),
    "edge": Profile("edge", 100, 500, 500),
}


def with_environment(topology: Topology, overrides: dict[str, str]) -> Topology:
    """The topology with `overrides` added to every node's environment."""
    nodes = tuple(replace(n, environment={**n.environment, **overrides}) for n in topology.nodes)
    return replace(topology, nodes=nodes)


async def false_suspicions(backend: Backend, rate: float, seconds: float) -> dict[str, Any]:
    """Load the cluster with no fault; count members any node reported not alive meanwhile."""
    count = len(backend.topology.nodes)
    clock, history = Clock(), History()
    workload = Workload(
        backend.balancer_url,
        [backend.node_url(i) for i in range(count)],
        f"fs{int(time.time())}",
        random.Random(1),
        WorkloadConfig(rate=rate),
        clock,
        history,
    )
    seen: list[dict[str, Any]] = []
    polls = 0
    probes = [f"placement-{i}" for i in range(40)]
    before = await _owners(backend, probes)
    moved: set[str] = set()

    async def poll() -> None:
        nonlocal polls
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            while True:
                for node in range(count):
                    try:
                        status = (await http.get(f"{backend.node_url(node)}/cluster/status")).json()
                    except (httpx.HTTPError, ValueError):
                        continue
                    polls += 1
                    for member in status.get("members", []):
                        if member.get("status") != "alive":
                            seen.append(
                                {"at": round(clock.now(), 2), "seen_by": node}
                                | {"member": member.get("address"), "status": member["status"]}
                            )
                now = await _owners(backend, probes[:8])
                moved.update(e for e, owner in now.items() if owner != before.get(e))
                await asyncio.sleep(0.5)

    poller = asyncio.create_task(poll())
    await workload.run(until=seconds)
    await workload.drain(deadline_s=10.0)
    poller.cancel()
    await workload.close()
    after = await _owners(backend, probes)
    moved.update(e for e in probes if before.get(e) != after.get(e))
    ops = list(history)
    return {
        "load_rate": rate,
        "load_s": seconds,
        "operations": len(ops),
        "ok": sum(op.outcome == "ok" for op in ops),
        "status_polls": polls,
        "suspicions": len(seen),
        "examples": seen[:10],
        "owners_moved": len(moved),
        "owners_probed": len(probes),
    }


async def _owners(backend: Backend, entities: list[str]) -> dict[str, str | None]:
    # Ownership moves only when casty suspects a member: with no fault, any move is a false
    # suspicion, even one too short for the status polls to see.
    owners: dict[str, str | None] = {}
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        for entity in entities:
            url = f"{backend.balancer_url}/placement/counter/{entity}"
            try:
                owners[entity] = (await http.get(url)).json().get("owner")
            except (httpx.HTTPError, ValueError):
                owners[entity] = None
    return owners


async def owner_outage(backend: Backend, trial: int) -> dict[str, Any]:
    """Kill the owner of a fresh counter; seconds until an increment sent after it is answered."""
    count = len(backend.topology.nodes)
    addresses = [backend.topology.node(i).address for i in range(count)]
    entity = f"failover-{int(time.time())}-{trial}"
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        await http.post(f"{backend.balancer_url}/counter/{entity}/increment", json={"amount": 1})
        placement = (await http.get(f"{backend.balancer_url}/placement/counter/{entity}")).json()
        victim = owner_node(placement.get("owner"), addresses)
        if victim is None:
            raise ClusterError(f"failover: no owner for {entity}: placement said {placement}")
        survivors = [backend.node_url(i) for i in range(count) if i != victim]
        targets = [backend.balancer_url, *survivors]
        killed_at: float | None = None
        first_ok: float | None = None
        answered_after = 0
        tasks: set[asyncio.Task[None]] = set()

        async def probe(url: str, sent: float, n: int) -> None:
            nonlocal first_ok, answered_after
            try:
                response = await http.post(
                    f"{url}/counter/{entity}/increment",
                    json={"amount": 1},
                    headers={"Idempotency-Key": f"{entity}-{n}"},
                )
            except httpx.HTTPError:
                return
            if response.is_success and killed_at is not None and sent > killed_at:
                answered_after += 1
                done = time.monotonic()
                first_ok = done if first_ok is None else min(first_ok, done)

        n = 0
        started = time.monotonic()
        while time.monotonic() - started < 40.0:
            now = time.monotonic()
            if killed_at is None and now - started > 1.0:
                await asyncio.to_thread(backend.kill, victim)
                killed_at = time.monotonic()
            if first_ok is not None and now - first_ok > 1.0:
                break
            n += 1
            task = asyncio.create_task(probe(targets[n % len(targets)], time.monotonic(), n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.05)
        for task in list(tasks):
            task.cancel()
    await asyncio.to_thread(backend.start, victim)
    outage = None if first_ok is None or killed_at is None else round(first_ok - killed_at, 2)
    log.info("failover: trial %d: killed node%d, owner of %s: %s s", trial, victim, entity, outage)
    return {"trial": trial, "entity": entity, "victim": victim, "outage_s": outage}


async def measure(backend: Backend, profile: Profile, args: argparse.Namespace) -> dict[str, Any]:
    """One profile: false suspicions under load, then the owner-loss trials."""
    nemesis = Nemesis(backend, time.monotonic)
    await nemesis.wait_healthy(timeout_s=60.0)
    suspicion = await false_suspicions(backend, args.load_rate, args.load_s)
    log.info("failover: %s: %d false suspicions under load", profile, suspicion["suspicions"])
    trials = []
    for trial in range(args.trials):
        await nemesis.wait_healthy(timeout_s=90.0)
        trials.append(await owner_outage(backend, trial))
    await nemesis.wait_healthy(timeout_s=90.0)
    outages = [t["outage_s"] for t in trials if t["outage_s"] is not None]
    return {
        "profile": profile.name,
        "environment": profile.environment,
        "false_suspicion": suspicion,
        "trials": trials,
        "outage_s": {
            "median": round(statistics.median(outages), 2) if outages else None,
            "min": min(outages, default=None),
            "max": max(outages, default=None),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Measure each profile on its own cluster; print a table; write the JSON results."""
    parser = argparse.ArgumentParser(prog="python -m compose.chaos.failover", description=__doc__)
    parser.add_argument("--profiles", default="casty,relaxed,node", help="casty,relaxed,node,edge")
    parser.add_argument("--trials", type=int, default=3, help="owner kills per profile (3)")
    parser.add_argument("--load-rate", type=float, default=150.0, help="ops/s of the load (150)")
    parser.add_argument("--load-s", type=float, default=20.0, help="seconds of load (20)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        print(f"unknown profile {', '.join(unknown)}: choose from {','.join(PROFILES)}")
        return 2
    base = load_topology()
    results = []
    try:
        if open_backend(topology=base).is_up():
            raise ClusterError(
                "failover: a cluster is already up; this measurement needs its own, with other"
                " node settings. Run `just local-down` first."
            )
        for name in names:
            profile = PROFILES[name]
            backend = open_backend(topology=with_environment(base, profile.environment))
            log.info("failover: bringing up a cluster with %s", profile)
            backend.up()
            try:
                results.append(asyncio.run(measure(backend, profile, args)))
            finally:
                backend.down()
    except ClusterError as exc:
        print(f"chaos-failover: {exc}", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"failover-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    header = f"{'profile (heartbeat/suspect/dead ms)':40} {'outage median':>14} {'min':>6}"
    print(f"\n{header} {'max':>6} {'false suspicions':>17} {'owners moved':>13}")
    for r in results:
        label = str(PROFILES[r["profile"]])
        o = r["outage_s"]
        print(
            f"{label:40} {o['median']!s:>13}s {o['min']!s:>5}s {o['max']!s:>5}s"
            f" {r['false_suspicion']['suspicions']:>17}"
            f" {r['false_suspicion']['owners_moved']:>6}/{r['false_suspicion']['owners_probed']}"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
