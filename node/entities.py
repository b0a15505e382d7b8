"""The two entity types, as casty virtual actors: a counter and a key-value map per entity id.

casty places each entity on the ring, activates it on its owner and keeps its state on
`replicas` nodes; every write below returns only once a majority of them confirmed it
(`write="majority"`), so an answered write survives the loss of a minority of replicas. Reads
answer from the owner's last confirmed state and are not linearizable during a change of owner:
casty says so of itself.

Limits that depend on settings travel inside the messages (`window`, `max_keys`), so the bodies
read no global and every owner enforces the limits of the node that accepted the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from casty import Askable, Backoff, Context, DefaultedActor, actor

RESTART = Backoff(first=timedelta(milliseconds=50), limit=timedelta(seconds=1))
"""How soon a body whose write was not confirmed runs again, from the last confirmed state.

casty's default grows to 10 s, which would keep an entity unavailable long after a partition
heals; an entity here holds no resource that a quick retry could exhaust.
"""


# ---- counter -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """An increment remembered by its idempotency key: what it added, what it produced, when."""

    amount: int
    value: int
    serial: int


@dataclass(frozen=True)
class CounterState:
    """A counter's value, and the latest `window` increments it remembers by idempotency key."""

    value: int = 0
    serial: int = 0
    applied: Mapping[str, Applied] = field(default_factory=dict)


@dataclass(frozen=True)
class Incremented:
    """The value an increment produced; `replayed` when its idempotency key had already counted."""

    value: int
    replayed: bool = False


@dataclass(frozen=True)
class Rejected:
    """An operation the entity refused, with a stable code and a sentence for the client."""

    code: str
    message: str


@dataclass(frozen=True)
class Increment(Askable[Incremented | Rejected]):
    """Add `amount`. With `idempotency_key`, a retry of the same increment counts once."""

    amount: int
    idempotency_key: str | None = None
    window: int = 1000


@dataclass(frozen=True)
class ReadCounter(Askable[int]):
    """Answer the counter's last confirmed value."""


type CounterMessage = Increment | ReadCounter


@actor(initial=CounterState(), write="majority", idle_after=timedelta(minutes=5), backoff=RESTART)
async def counter(ctx: Context[CounterState, CounterMessage]) -> None:
    """A counter entity: one increment at a time, each confirmed by a majority before it answers."""
    async for msg in ctx.inbox:
        match msg:
            case ReadCounter():
                msg.reply_to.tell(ctx.state.value.value)
            case Increment(amount=amount, idempotency_key=None):
                state = ctx.state.value
                await ctx.state.set(
                    CounterState(state.value + amount, state.serial + 1, state.applied)
                )
                msg.reply_to.tell(Incremented(state.value + amount))
            case Increment(amount=amount, idempotency_key=key, window=window):
                assert key is not None
                msg.reply_to.tell(await _increment_once(ctx, amount, key, window))


async def _increment_once(
    ctx: Context[CounterState, CounterMessage], amount: int, key: str, window: int
) -> Incremented | Rejected:
    state = ctx.state.value
    seen = state.applied.get(key)
    if seen is not None:
        if seen.amount != amount:
            return Rejected(
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was already used for an increment of {seen.amount},"
                f" not {amount}: use a new key for a different increment",
            )
        return Incremented(seen.value, replayed=True)
    value = state.value + amount
    serial = state.serial + 1
    applied = dict(state.applied)
    applied[key] = Applied(amount, value, serial)
    if len(applied) > window:
        # Forget the oldest keys: a retry is expected within seconds, not after `window` others.
        for old, _ in sorted(applied.items(), key=lambda item: item[1].serial)[
            : len(applied) - window
        ]:
            del applied[old]
    await ctx.state.set(CounterState(value, serial, applied))
    return Incremented(value)


# ---- key-value map -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A value and the entity revision that wrote it, which is the key's ETag."""

    value: str
    version: int


@dataclass(frozen=True)
class KVState:
    """An entity's keys; `revision` grows with every write or delete, so no version is reused."""

    revision: int = 0
    entries: Mapping[str, Entry] = field(default_factory=dict)
    size: int = 0
    """UTF-8 bytes of every key and value, which MAX_ENTITY_BYTES bounds."""


@dataclass(frozen=True)
class Put(Askable[Entry | Rejected]):
    """Store `value` under `key`; `if_match` requires the current version, `if_absent` no entry."""

    key: str
    value: str
    if_match: int | None = None
    if_exists: bool = False
    if_absent: bool = False
    max_keys: int = 1000
    max_bytes: int = 1_048_576


@dataclass(frozen=True)
class Read(Askable[Entry | None]):
    """Answer the entry under `key`, or None."""

    key: str


@dataclass(frozen=True)
class Remove(Askable[Entry | Rejected]):
    """Delete `key` (answering the entry it held); `if_match` requires the current version."""

    key: str
    if_match: int | None = None
    if_exists: bool = False


@dataclass(frozen=True)
class Listed:
    """One key of a listing."""

    key: str
    value: str
    version: int


@dataclass(frozen=True)
class ReadAll(Askable[tuple[Listed, ...]]):
    """Answer every entry, sorted by key."""


type KVMessage = Put | Read | Remove | ReadAll


@actor(initial=KVState(), write="majority", idle_after=timedelta(minutes=5), backoff=RESTART)
async def kv(ctx: Context[KVState, KVMessage]) -> None:
    """A key-value entity: each write or delete is confirmed by a majority before it answers."""
    async for msg in ctx.inbox:
        match msg:
            case Read(key=key):
                msg.reply_to.tell(ctx.state.value.entries.get(key))
            case ReadAll():
                entries = ctx.state.value.entries
                msg.reply_to.tell(
                    tuple(Listed(k, e.value, e.version) for k, e in sorted(entries.items()))
                )
            case Put():
                msg.reply_to.tell(await _put(ctx, msg))
            case Remove():
                msg.reply_to.tell(await _remove(ctx, msg))


async def _put(ctx: Context[KVState, KVMessage], msg: Put) -> Entry | Rejected:
    state = ctx.state.value
    current = state.entries.get(msg.key)
    refused = _precondition(msg.key, current, msg.if_match, msg.if_exists, msg.if_absent)
    if refused is not None:
        return refused
    if current is None and len(state.entries) >= msg.max_keys:
        return Rejected(
            "too_many_keys",
            f"the entity holds {len(state.entries)} keys, the most MAX_KEYS_PER_ENTITY allows:"
            " delete a key first or use another entity",
        )
    size = (
        state.size + _size(msg.key, msg.value) - (_size(msg.key, current.value) if current else 0)
    )
    if size > msg.max_bytes:
        return Rejected(
            "entity_too_large",
            f"the entity would hold {size} bytes, above MAX_ENTITY_BYTES of {msg.max_bytes}:"
            " delete keys first or spread them over several entities",
        )
    entry = Entry(msg.value, state.revision + 1)
    await ctx.state.set(KVState(entry.version, {**state.entries, msg.key: entry}, size))
    return entry


async def _remove(ctx: Context[KVState, KVMessage], msg: Remove) -> Entry | Rejected:
    state = ctx.state.value
    current = state.entries.get(msg.key)
    if current is None:
        return Rejected("key_not_found", f"key {msg.key!r} does not exist in this entity")
    refused = _precondition(msg.key, current, msg.if_match, msg.if_exists, False)
    if refused is not None:
        return refused
    remaining = {k: e for k, e in state.entries.items() if k != msg.key}
    size = state.size - _size(msg.key, current.value)
    await ctx.state.set(KVState(state.revision + 1, remaining, size))
    return current


def _size(key: str, value: str) -> int:
    return len(key.encode()) + len(value.encode())


def _precondition(
    key: str, current: Entry | None, if_match: int | None, if_exists: bool, if_absent: bool
) -> Rejected | None:
    if if_exists and current is None:
        return Rejected(
            "precondition_failed", f"key {key!r} does not exist (If-Match: *): nothing to replace"
        )
    if if_absent and current is not None:
        return Rejected(
            "precondition_failed",
            f"key {key!r} already exists at version {current.version} (If-None-Match: *)",
        )
    if if_match is not None and (current is None or current.version != if_match):
        found = "does not exist" if current is None else f"is at version {current.version}"
        return Rejected(
            "precondition_failed",
            f"key {key!r} {found}, not version {if_match} (If-Match): read it again and retry",
        )
    return None


def configured(
    replicas: int,
) -> tuple[DefaultedActor[CounterState, CounterMessage], DefaultedActor[KVState, KVMessage]]:
    """The counter and KV types with `replicas` copies and majority writes.

    casty names a type after its body, so a reconfigured type keeps the body's name: every node of
    a cluster must run with the same REPLICAS.
    """
    return (
        counter.configured(counter.name, replicas, "majority"),
        kv.configured(kv.name, replicas, "majority"),
    )
