"""Nemeses: the faults a chaos run injects, a schedule of them, and the code that carries it out.

The schedule is pure: `plan(rng, ...)` draws every choice (which fault, which nodes, how long,
how long between) from the `random.Random` it is given, so a seed reproduces it exactly. The
`Nemesis` carries a plan out through a `Backend`, one fault at a time, and records a
`FaultWindow` for each. Before each fault it waits until every node is healthy again, so a fault
always meets a whole cluster and each window measures one fault's cost.

The faults:

- `kill`: SIGKILL one node, start it again after the hold.
- `pause`: SIGSTOP one node, SIGCONT after the hold (its peers see silence, not a closed socket).
- `isolate`: cut one node off from every other node and the balancer; heal after the hold.
- `split`: two sides that cannot reach each other, either a minority (3 or 4 nodes) against a
  majority, or even halves (5 | 5). With even halves no side holds a majority of the members;
  an entity whose replicas straddle the cut can still write where two of its three are.
- `owner`: find the node owning a hot counter (`GET /placement/counter/{id}`), SIGKILL it, start
  it again after the hold.
- `restart`: a rolling restart of a few nodes: SIGTERM (the node drains and leaves), start,
  wait until it is healthy, then the next.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from compose.backend import Backend, ClusterError
from compose.chaos.history import FaultWindow

log = logging.getLogger("harness.nemesis")

NemesisKind = Literal["kill", "pause", "isolate", "split", "owner", "restart"]
NEMESES: tuple[NemesisKind, ...] = ("kill", "pause", "isolate", "split", "owner", "restart")


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a schedule: what, on whom, after how long a quiet gap, held how long.

    `nodes` are the victims (for `split`, side A, and `other` side B; for `restart`, the order of
    the rolling restart). `entity` is the hot counter whose owner `owner` kills; its victim is
    only known at run time.
    """

    kind: NemesisKind
    gap_s: float
    hold_s: float
    nodes: tuple[int, ...] = ()
    other: tuple[int, ...] = ()
    entity: str | None = None

    @property
    def cost_s(self) -> float:
        """A rough time the fault takes from its gap to its heal, for fitting a schedule."""
        if self.kind == "restart":
            # Per node: drain (DRAIN_SECONDS, 6 s), leave, start, rejoin; 7-9 s measured here.
            return self.gap_s + 9.0 * len(self.nodes)
        return self.gap_s + self.hold_s


def plan(
    rng: random.Random,
    duration_s: float,
    kinds: Sequence[NemesisKind],
    node_count: int,
    hot_entities: Sequence[str],
    tail_s: float = 3.0,
) -> list[PlannedFault]:
    """A schedule that fits in `duration_s`, cycling through `kinds` in a shuffled order.

    Each fault waits a quiet gap of 3 to 6 s (the first one 3 s of warm-up), then holds for 5 to
    8 s. The schedule stops when the next fault would not end `tail_s` before the run does.
    Every choice comes from `rng`: equal seeds give equal schedules.
    """
    if not kinds:
        return []
    order = list(kinds)
    rng.shuffle(order)
    faults: list[PlannedFault] = []
    elapsed = 0.0
    while True:
        kind = order[len(faults) % len(order)]
        gap = 3.0 if not faults else round(rng.uniform(3.0, 6.0), 2)
        fault = _draw(rng, kind, gap, node_count, hot_entities)
        if elapsed + fault.cost_s > duration_s - tail_s:
            return faults
        faults.append(fault)
        elapsed += fault.cost_s


def _draw(
    rng: random.Random,
    kind: NemesisKind,
    gap: float,
    node_count: int,
    hot_entities: Sequence[str],
) -> PlannedFault:
    hold = round(rng.uniform(5.0, 8.0), 2)
    nodes = list(range(node_count))
    if kind == "split":
        rng.shuffle(nodes)
        size = rng.choice([node_count // 2, 3, 4]) if node_count >= 6 else node_count // 2
        return PlannedFault(
            kind, gap, hold, tuple(sorted(nodes[:size])), tuple(sorted(nodes[size:]))
        )
    if kind == "restart":
        return PlannedFault(kind, gap, 0.0, tuple(rng.sample(nodes, min(2, node_count))))
    if kind == "owner":
        return PlannedFault(kind, gap, hold, entity=rng.choice(list(hot_entities)))
    return PlannedFault(kind, gap, hold, (rng.choice(nodes),))


def owner_node(owner: str | None, node_addresses: Sequence[str]) -> int | None:
    """The node index of a placement owner `ip:casty_port`, or None when no node has that IP."""
    if owner is None:
        return None
    host = owner.rpartition(":")[0]
    for index, address in enumerate(node_addresses):
        if address == host:
            return index
    return None


class Nemesis:
    """Carries out a plan through a backend, recording one `FaultWindow` per fault.

    Knows which nodes it has down, paused or cut off, so `heal_all` can undo everything whatever
    happened in between (an exception, a cancelled run).
    """

    def __init__(self, backend: Backend, now: Callable[[], float]) -> None:
        self.backend = backend
        self.now = now
        self.windows: list[FaultWindow] = []
        self.current: str | None = None
        self.down: set[int] = set()
        self.paused: set[int] = set()
        self.cut = False
        self.count = len(backend.topology.nodes)
        self.addresses = [backend.topology.node(i).address for i in range(self.count)]

    async def run(self, faults: Sequence[PlannedFault], until: float) -> None:
        """Inject the faults in order, stopping before one that would start after `until`."""
        for fault in faults:
            await self.wait_healthy(timeout_s=60.0)
            await asyncio.sleep(fault.gap_s)
            if self.now() + fault.cost_s - fault.gap_s > until:
                log.info("nemesis: no time left for %s before the run ends; stopping", fault.kind)
                return
            await self._inject(fault)

    async def _inject(self, fault: PlannedFault) -> None:
        b = self.backend
        started = self.now()
        nodes = fault.nodes
        if fault.kind == "kill":
            detail = f"kill node{nodes[0]} (SIGKILL), start after {fault.hold_s:.1f} s"
            await self._hold_down("kill", nodes[0], detail, fault.hold_s)
            return
        if fault.kind == "owner":
            victim = await self._owner(fault.entity or "")
            if victim is None:
                log.warning(
                    "nemesis: no owner known for %s; skipping the owner fault", fault.entity
                )
                return
            nodes = (victim,)
            detail = f"kill node{victim}, owner of counter {fault.entity}"
            await self._hold_down("owner", victim, detail, fault.hold_s)
            return
        if fault.kind == "pause":
            detail = f"pause node{nodes[0]} (SIGSTOP) for {fault.hold_s:.1f} s"
            self._begin(detail)
            await asyncio.to_thread(b.pause, nodes[0])
            self.paused.add(nodes[0])
            await asyncio.sleep(fault.hold_s)
            await asyncio.to_thread(b.resume, nodes[0])
            self.paused.discard(nodes[0])
        elif fault.kind == "isolate":
            detail = f"isolate node{nodes[0]} from every node and the balancer"
            self._begin(detail)
            await asyncio.to_thread(b.isolate, nodes[0])
            self.cut = True
            await asyncio.sleep(fault.hold_s)
            await asyncio.to_thread(b.heal)
            self.cut = False
        elif fault.kind == "split":
            detail = f"split {list(nodes)} | {list(fault.other)}"
            self._begin(detail)
            await asyncio.to_thread(b.split, nodes, fault.other)
            self.cut = True
            await asyncio.sleep(fault.hold_s)
            await asyncio.to_thread(b.heal)
            self.cut = False
            nodes = (*nodes, *fault.other)
        else:
            detail = f"rolling restart of {', '.join(f'node{n}' for n in nodes)} (SIGTERM, start)"
            self._begin(detail)
            for node in nodes:
                self.down.add(node)
                await asyncio.to_thread(b.stop, node)
                await asyncio.to_thread(b.start, node)
                self.down.discard(node)
                await self.wait_healthy(timeout_s=60.0, nodes=[node])
        self._end(fault.kind, nodes, started, detail)

    async def _hold_down(self, kind: str, node: int, detail: str, hold_s: float) -> None:
        started = self.now()
        self._begin(detail)
        await asyncio.to_thread(self.backend.kill, node)
        self.down.add(node)
        await asyncio.sleep(hold_s)
        await asyncio.to_thread(self.backend.start, node)
        self.down.discard(node)
        self._end(kind, (node,), started, detail)

    def _begin(self, detail: str) -> None:
        self.current = detail
        log.info("nemesis: %s", detail)

    def _end(self, kind: str, nodes: Sequence[int], started: float, detail: str) -> None:
        healed = self.now()
        self.windows.append(FaultWindow(kind, tuple(nodes), started, healed, detail))
        self.current = None
        log.info("nemesis: healed after %.1f s: %s", healed - started, detail)

    async def _owner(self, entity: str) -> int | None:
        url = f"{self.backend.balancer_url}/placement/counter/{entity}"
        try:
            async with httpx.AsyncClient(timeout=3.0, trust_env=False) as http:
                response = await http.get(url)
                owner = response.json().get("owner") if response.is_success else None
        except (httpx.HTTPError, ValueError):
            return None
        return owner_node(owner, self.addresses)

    async def heal_all(self, timeout_s: float = 120.0) -> float:
        """Undo every fault still in place, start every node, wait until all are healthy members.

        Returns the seconds the wait took; raises `compose.backend.ClusterError` if the cluster
        is not whole again within `timeout_s`.
        """
        b = self.backend
        if self.current is not None:
            self.windows.append(FaultWindow("unfinished", (), self.now(), self.now(), self.current))
        await asyncio.to_thread(b.heal)
        self.cut = False
        for node in sorted(self.paused):
            await asyncio.to_thread(b.resume, node)
        self.paused.clear()
        for node in sorted(self.down):
            await asyncio.to_thread(b.start, node)
        self.down.clear()
        return await self.wait_healthy(timeout_s)

    async def wait_healthy(self, timeout_s: float, nodes: Sequence[int] | None = None) -> float:
        """Wait until the nodes (all by default) answer /health 200 and see every member alive."""
        started = time.monotonic()
        wanted = list(range(self.count)) if nodes is None else list(nodes)
        async with httpx.AsyncClient(timeout=1.5, trust_env=False) as http:
            while True:
                views = await asyncio.gather(*(self._whole(http, n) for n in wanted))
                if all(views):
                    return time.monotonic() - started
                if time.monotonic() - started > timeout_s:
                    late = [f"node{n}" for n, ok in zip(wanted, views, strict=True) if not ok]
                    raise ClusterError(
                        f"nemesis: {', '.join(late)} not healthy with all {self.count} members"
                        f" alive {timeout_s:.0f} s after the heal"
                    )
                await asyncio.sleep(0.5)

    async def _whole(self, http: httpx.AsyncClient, node: int) -> bool:
        url = self.backend.node_url(node)
        try:
            health = await http.get(f"{url}/health")
            status = await http.get(f"{url}/cluster/status")
            return health.status_code == 200 and status.json().get("alive") == self.count
        except (httpx.HTTPError, ValueError, AttributeError):
            return False
