"""The node's membership in the casty cluster: joining, readiness, the member table, leaving.

`Membership.start` returns at once and joins in the background, because casty's `ActorSystem`
waits in `__aenter__` until a seed answers, and `/health` must answer `starting` meanwhile. The
node is ready when it has joined and sees a majority of the members it knows alive; it never
waits for all of them, or a cluster could not restart one node.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from casty import (
    ActorDefinition,
    ActorSystem,
    Cluster,
    DefaultedActor,
    Event,
    LoggingObserver,
    Member,
    Placement,
    Ref,
    Stats,
)

from node import entities
from node.metrics import NodeMetrics
from node.settings import Settings

log = logging.getLogger("node.cluster")

Phase = Literal["starting", "serving", "draining", "stopped"]

REFS_KEPT = 4096
"""Entity refs a node keeps for reuse; past that, the oldest made is dropped."""


@dataclass(frozen=True)
class Readiness:
    """Whether the node should take traffic, and why not when it should not."""

    ready: bool
    status: Literal["ok", "starting", "draining"]
    reason: str


class Membership:
    """One casty node: the actor system, its phase, and the views the HTTP API answers from."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.phase: Phase = "starting"
        self.counter, self.kv = entities.configured(settings.replicas)
        self.metrics = NodeMetrics(self.stats, self.members)
        self._system: ActorSystem | None = None
        self.failed = asyncio.Event()
        """Set when joining failed (the casty port is taken, the cluster refused this node)."""
        self._joining: asyncio.Task[None] | None = None
        self._refs: dict[tuple[str, str], Ref[Any]] = {}

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin joining the cluster in the background; `failed` is set if that fails."""
        s = self.settings
        cluster = Cluster(
            bind=s.casty_address,
            advertise=s.casty_address,
            seeds=s.seeds,
            name=s.cluster_name,
            heartbeat=timedelta(milliseconds=s.heartbeat_ms),
            suspect_after=timedelta(milliseconds=s.suspect_after_ms),
            dead_after=timedelta(milliseconds=s.dead_after_ms),
            remove_after=timedelta(seconds=s.remove_after_s),
        )
        system = ActorSystem(
            cluster=cluster,
            ask_timeout=timedelta(milliseconds=s.request_timeout_ms),
            write_timeout=timedelta(milliseconds=s.write_timeout_ms),
            leave_timeout=timedelta(seconds=s.leave_timeout_s),
            observer=_Observer(self.metrics),
        )
        self._joining = asyncio.create_task(self._join(system), name="casty-join")

    async def _join(self, system: ActorSystem) -> None:
        log.info(
            "joining cluster %r as %s through seeds %s",
            self.settings.cluster_name,
            self.settings.casty_address,
            ", ".join(self.settings.seeds),
        )
        try:
            await system.__aenter__()
        except Exception as exc:
            log.error("could not join the cluster as %s: %s", self.settings.casty_address, exc)
            self.phase = "stopped"
            self.failed.set()
            return
        self._system = system
        if self.phase == "starting":
            self.phase = "serving"
        log.info("joined: %d members seen", len(system.members))

    def drain(self) -> None:
        """Fail readiness from now on, so the load balancer stops sending requests here."""
        if self.phase in ("starting", "serving"):
            self.phase = "draining"
            log.info("draining: /health answers 503 from now on")

    async def stop(self) -> None:
        """Leave the cluster in order: casty hands this node's entities to their replicas first."""
        self.drain()
        if self._joining is not None and not self._joining.done():
            self._joining.cancel()
            await asyncio.gather(self._joining, return_exceptions=True)
        if self._system is not None:
            log.info("leaving the cluster; entities move to their replicas")
            await self._system.__aexit__(None, None, None)
            self._system = None
            self._refs.clear()
            log.info("left the cluster")
        self.phase = "stopped"

    # ---- views -------------------------------------------------------------------------------

    @property
    def system(self) -> ActorSystem:
        """The joined actor system; raises `NotJoined` before the node joined or after it left."""
        if self._system is None:
            raise NotJoined(self.phase)
        return self._system

    def ref[S, M](self, actor: DefaultedActor[S, M], entity_id: str) -> Ref[M]:
        """The ref of entity `entity_id` of type `actor`, made once and then reused.

        Making a ref wakes casty's transport thread; reusing one costs a dict lookup. A ref names
        the entity, not a node: each message is routed by the ring when it is sent, so a kept ref
        follows its entity to a new owner. Raises `NotJoined` as `system` does.
        """
        system = self.system
        key = (actor.name, entity_id)
        ref = self._refs.get(key)
        if ref is None:
            if len(self._refs) >= REFS_KEPT:
                del self._refs[next(iter(self._refs))]
            ref = self._refs[key] = system.ref(actor, entity_id)
        return ref

    def members(self) -> tuple[Member, ...]:
        return self._system.members if self._system is not None else ()

    def stats(self) -> Stats | None:
        return self._system.stats() if self._system is not None else None

    def readiness(self) -> Readiness:
        """Ready = joined, not draining, and a majority of the known members alive."""
        if self.phase == "draining" or self.phase == "stopped":
            return Readiness(False, "draining", "the node is shutting down")
        if self._system is None:
            return Readiness(False, "starting", "joining the cluster through its seeds")
        members = self._system.members
        alive = sum(1 for m in members if m.status == "alive")
        needed = len(members) // 2 + 1
        if alive < needed:
            return Readiness(
                False,
                "starting",
                f"sees {alive} of {len(members)} members alive, needs a majority of {needed}",
            )
        return Readiness(True, "ok", f"sees {alive} of {len(members)} members alive")

    async def placement(self, kind: str, entity_id: str) -> Placement:
        return await self.system.placement(self.definition(kind), entity_id)

    def definition(self, kind: str) -> ActorDefinition:
        return self.counter if kind == "counter" else self.kv


class _Observer:
    """casty's events to the `casty` logger (as casty would log them) and to the metrics."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics
        self._logged = LoggingObserver()

    def wants(self, kind: type[Event], /) -> bool:
        # Activations starting and ending are left out unless debugging: they are the frequent
        # kinds, and a system builds no event of a kind its observer refused.
        return self._logged.wants(kind)

    def __call__(self, event: Event, /) -> None:
        self._metrics.observe(event)
        self._logged(event)


class NotJoined(Exception):
    """The node has no actor system to route to: it is still joining, or it has left."""

    def __init__(self, phase: Phase) -> None:
        super().__init__(phase)
        self.phase = phase
