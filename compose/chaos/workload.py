"""Workload clients: async HTTP operations through the balancer and straight at nodes.

Operations are generated open-loop at a fixed rate (a paused node must not slow the others
down), each one spawned as its own task up to `max_in_flight`. Every operation is recorded in the
history when it completes, with its outcome classified as the harness's contract says:

- answered 2xx: `ok` (a KV read of a missing key, 404 `key_not_found`, is an answered read);
- 4xx: `failed`, the node refused it and changed nothing;
- a 5xx on a write: `indeterminate`. A 503 is casty's `Unavailable`, documented as "the message
  may or may not have been processed", and the node maps unconfirmed majority writes to it too;
  a 504 is a deadline; a balancer's 502 can follow a request the node had already applied;
- a 5xx on a read: `failed` (a read changes nothing);
- no connection (refused before the request went out): `failed`;
- anything after the request went out (timeout, reset, protocol error): `indeterminate`.

The choice of operations, entities, targets and amounts comes from one seeded `random.Random`,
so two runs with one seed send the same sequence of requests (their timing and outcomes differ).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from compose.chaos.history import History, Kind, Operation, Outcome, Phase

log = logging.getLogger("harness.workload")


@dataclass(frozen=True)
class WorkloadConfig:
    """What the clients send: how fast, to which entities, in what mix, and how long they wait."""

    rate: float = 40.0
    counters: int = 4
    kv_entities: int = 2
    keys_per_entity: int = 3
    balancer_share: float = 0.5
    idempotent_share: float = 0.5
    timeout_s: float = 6.0
    retry_for_s: float = 60.0
    max_in_flight: int = 96
    mix: tuple[tuple[Kind, float], ...] = (
        ("increment", 0.25),
        ("counter_read", 0.15),
        ("kv_write", 0.25),
        ("kv_read", 0.2),
        ("kv_cas", 0.15),
    )


@dataclass
class Clock:
    """Seconds since the run started, on the monotonic clock every record shares."""

    origin: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """Seconds since the origin."""
        return time.monotonic() - self.origin

    def restart(self) -> None:
        """Make this instant the origin."""
        self.origin = time.monotonic()


@dataclass
class Stats:
    """Running totals for the progress lines."""

    ok: int = 0
    failed: int = 0
    indeterminate: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> None:
        """Add one completed operation."""
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(frozen=True)
class _Answer:
    outcome: Outcome
    status: int | None = None
    body: dict[str, Any] | None = None
    node: int | None = None
    etag: str | None = None
    error: str | None = None


class Workload:
    """The clients of one run: one HTTP connection pool per target, one shared history.

    Targets are "balancer" and "node0".."node9". `run` generates operations until its deadline;
    `drain` waits for those still in flight (idempotent increments keep retrying until answered
    or until `retry_for_s` after the generation stopped); `final_reads` reads every entity from
    every target once the cluster has healed. `transport` replaces the network (tests).
    """

    def __init__(
        self,
        balancer_url: str,
        node_urls: Sequence[str],
        run_id: str,
        rng: random.Random,
        config: WorkloadConfig,
        clock: Clock,
        history: History,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.retry_rng = random.Random(rng.random())  # retries happen when timing says
        self.clock = clock
        self.history = history
        self.stats = Stats()
        self.run_id = run_id
        self.counters = [f"chaos-{run_id}-c{i}" for i in range(config.counters)]
        self.kv_entities = [f"chaos-{run_id}-m{i}" for i in range(config.kv_entities)]
        self.keys = [f"k{i}" for i in range(config.keys_per_entity)]
        timeout = httpx.Timeout(config.timeout_s, connect=2.0, pool=config.timeout_s)
        limits = httpx.Limits(max_connections=config.max_in_flight, max_keepalive_connections=32)
        urls = {"balancer": balancer_url} | {f"node{i}": u for i, u in enumerate(node_urls)}
        # trust_env=False: a proxy from the environment must never carry cluster traffic.
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url, timeout=timeout, limits=limits, trust_env=False, transport=transport
            )
            for name, url in urls.items()
        }
        self.node_targets = [f"node{i}" for i in range(len(node_urls))]
        self.tasks: set[asyncio.Task[object]] = set()
        self.stop_retrying_at = float("inf")

    async def close(self) -> None:
        """Close every connection pool."""
        for client in self.clients.values():
            await client.aclose()

    # ---- generation ----------------------------------------------------------------------------

    async def run(self, until: float) -> None:
        """Spawn operations at `config.rate` per second until `until` (clock seconds)."""
        period = 1.0 / self.config.rate
        kinds = [k for k, _ in self.config.mix]
        weights = [w for _, w in self.config.mix]
        next_at = self.clock.now()
        while next_at < until:
            delay = next_at - self.clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += period
            kind = self.rng.choices(kinds, weights)[0]
            target = self._target()
            operation = self._operation(kind, target)
            if len(self.tasks) >= self.config.max_in_flight:
                operation.close()  # never started
                self.stats.skipped += 1  # open loop: a stalled target must not slow the rest
                continue
            self._spawn(operation)
        self.stop_retrying_at = until + self.config.retry_for_s

    async def drain(self, deadline_s: float) -> None:
        """Wait up to `deadline_s` for operations in flight, then cancel (and record) the rest."""
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=deadline_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _target(self) -> str:
        if self.rng.random() < self.config.balancer_share:
            return "balancer"
        return self.rng.choice(self.node_targets)

    def _operation(self, kind: Kind, target: str) -> Coroutine[Any, Any, object]:
        # Every choice is drawn here, in the generating loop, not inside the task: tasks
        # interleave by timing, and the sequence of requests must depend on the seed alone.
        if kind == "increment":
            entity = self.rng.choice(self.counters)
            amount = self.rng.randint(1, 5)
            if self.rng.random() < self.config.idempotent_share:
                return self.idempotent_increment(target, entity, amount)
            return self.increment(target, entity, amount)
        if kind == "counter_read":
            return self.read_counter(target, self.rng.choice(self.counters))
        entity, key = self.rng.choice(self.kv_entities), self.rng.choice(self.keys)
        if kind == "kv_write":
            return self.write(target, entity, key)
        if kind == "kv_read":
            return self.read(target, entity, key)
        return self.conditional_write(target, entity, key)

    # ---- operations ----------------------------------------------------------------------------

    async def increment(self, target: str, entity: str, amount: int) -> None:
        """One plain increment: a single attempt."""
        op_id, invoked = self.history.next_id(), self.clock.now()
        answer = await self._send(target, "POST", f"/counter/{entity}/increment", True, amount)
        self._record(op_id, target, "increment", entity, invoked, answer, value=amount)

    async def idempotent_increment(self, target: str, entity: str, amount: int) -> None:
        """An increment with an Idempotency-Key, retried with the same key until answered.

        Retries go to a different target each time, so the key must be honoured cluster-wide.
        It gives up after a 4xx or once retrying time is over; its outcome is then
        `indeterminate` if any attempt may have applied, `failed` if none can have.
        """
        op_id, invoked = self.history.next_id(), self.clock.now()
        key = f"{self.run_id}-{op_id}"
        attempts, maybe_applied = 0, False
        answer = _Answer("failed", error="never sent")
        try:
            while True:
                attempts += 1
                answer = await self._send(
                    target, "POST", f"/counter/{entity}/increment", True, amount, key
                )
                maybe_applied |= answer.outcome == "indeterminate"
                if answer.outcome == "ok" or (answer.status is not None and answer.status < 500):
                    break
                if self.clock.now() > self.stop_retrying_at:
                    break
                await asyncio.sleep(0.3 + 0.2 * self.retry_rng.random())
                target = self.retry_rng.choice(["balancer", *self.node_targets])
        except asyncio.CancelledError:
            # The attempt in flight may have been applied: no way to know any more.
            answer = _Answer("indeterminate", error="cancelled at the end of the run")
            raise
        finally:
            if answer.outcome == "failed" and maybe_applied:
                answer = _Answer(
                    "indeterminate", answer.status, None, answer.node, None, answer.error
                )
            self._record(
                op_id,
                target,
                "increment",
                entity,
                invoked,
                answer,
                value=amount,
                idempotency_key=key,
                attempts=attempts,
            )

    async def read_counter(self, target: str, entity: str, phase: Phase = "run") -> Operation:
        """Read a counter."""
        op_id, invoked = self.history.next_id(), self.clock.now()
        answer = await self._send(target, "GET", f"/counter/{entity}", False)
        return self._record(op_id, target, "counter_read", entity, invoked, answer, phase=phase)

    async def write(self, target: str, entity: str, key: str) -> None:
        """Write a value no other operation writes (the run id and the operation id)."""
        op_id, invoked = self.history.next_id(), self.clock.now()
        value = f"{self.run_id}-{op_id}"
        answer = await self._send(target, "PUT", f"/kv/{entity}/{key}", True, value)
        self._record(op_id, target, "kv_write", entity, invoked, answer, key=key, value=value)

    async def read(
        self, target: str, entity: str, key: str, phase: Phase = "run"
    ) -> tuple[Operation, str | None]:
        """Read a key; answers the operation and the key's ETag when it exists."""
        op_id, invoked = self.history.next_id(), self.clock.now()
        answer = await self._send(target, "GET", f"/kv/{entity}/{key}", False)
        op = self._record(op_id, target, "kv_read", entity, invoked, answer, key=key, phase=phase)
        return op, answer.etag

    async def conditional_write(self, target: str, entity: str, key: str) -> None:
        """Read the key, then write a new value only if it still holds what was read.

        If-Match with the ETag read, or If-None-Match: * when the key was missing. A 412 is a
        failed write: the key had changed, and nothing was written.
        """
        seen, etag = await self.read(target, entity, key)
        if seen.outcome != "ok":
            return
        op_id, invoked = self.history.next_id(), self.clock.now()
        value = f"{self.run_id}-{op_id}"
        headers = {"If-Match": etag} if etag else {"If-None-Match": "*"}
        answer = await self._send(target, "PUT", f"/kv/{entity}/{key}", True, value, None, headers)
        expected = seen.result if isinstance(seen.result, str) else None
        self._record(
            op_id,
            target,
            "kv_cas",
            entity,
            invoked,
            answer,
            key=key,
            value=value,
            expected=expected,
        )

    # ---- final reads ---------------------------------------------------------------------------

    async def final_reads(self, settle_s: float = 30.0) -> bool:
        """Read every counter and key from every target until all targets agree (or time is up).

        Rounds that disagree are recorded in phase "settle"; the last round in phase "final",
        which the checkers judge. Answers whether the last round agreed.
        """
        deadline = self.clock.now() + settle_s
        targets = ["balancer", *self.node_targets]
        while True:
            last = self.clock.now() >= deadline
            agreed = await self._read_round(targets, "final" if last else "settle")
            if agreed or last:
                if agreed and not last:
                    await self._read_round(targets, "final")
                return agreed
            await asyncio.sleep(1.0)

    async def _read_round(self, targets: list[str], phase: Phase) -> bool:
        reads: list[Any] = []
        for entity in self.counters:
            reads += [self.read_counter(t, entity, phase) for t in targets]
        for entity in self.kv_entities:
            for key in self.keys:
                reads += [self.read(t, entity, key, phase) for t in targets]
        results = await asyncio.gather(*reads)
        seen: dict[tuple[str, str | None], set[object]] = {}
        for item in results:
            op = item[0] if isinstance(item, tuple) else item
            if op.outcome != "ok":
                return False
            seen.setdefault((op.entity, op.key), set()).add(op.result)
        return all(len(values) == 1 for values in seen.values())

    # ---- transport -----------------------------------------------------------------------------

    async def _send(
        self,
        target: str,
        method: str,
        path: str,
        is_write: bool,
        payload: int | str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> _Answer:
        client = self.clients[target]
        extra = dict(headers or {})
        if idempotency_key is not None:
            extra["Idempotency-Key"] = idempotency_key
        body: dict[str, object] | None = None
        if isinstance(payload, int):
            body = {"amount": payload}
        elif isinstance(payload, str):
            body = {"value": payload}
        try:
            response = await client.request(method, path, json=body, headers=extra)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing was sent: the node cannot have seen it.
            return _Answer("failed", error=f"{type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            return _Answer("indeterminate", error=f"{type(exc).__name__}: {exc}")
        node = _node_header(response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            return _Answer("ok", response.status_code, data, node, response.headers.get("ETag"))
        if response.status_code == 404 and _code(data) == "key_not_found":
            return _Answer("ok", 404, None, node)
        error = _code(data) or response.reason_phrase
        if response.status_code >= 500:
            outcome: Outcome = "indeterminate" if is_write else "failed"
            return _Answer(outcome, response.status_code, data, node, error=error)
        return _Answer("failed", response.status_code, data, node, error=error)

    def _record(
        self,
        op_id: int,
        target: str,
        kind: Kind,
        entity: str,
        invoked: float,
        answer: _Answer,
        **fields: Any,
    ) -> Operation:
        result: int | str | None = None
        if answer.outcome == "ok" and answer.body is not None:
            result = answer.body.get("value")
        op = Operation(
            id=op_id,
            client=f"{target}/{op_id}",
            target=target,
            kind=kind,
            entity=entity,
            invoked=invoked,
            completed=self.clock.now(),
            outcome=answer.outcome,
            result=result,
            status=answer.status,
            node=answer.node,
            error=answer.error,
            **fields,
        )
        self.history.record(op)
        self.stats.count(op.outcome)
        return op


def _node_header(response: httpx.Response) -> int | None:
    with contextlib.suppress(ValueError):
        return int(response.headers.get("X-Casty-Node", ""))
    return None


def _code(data: object) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return None
