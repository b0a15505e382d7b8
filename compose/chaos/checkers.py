"""Checkers: pure functions from a history to evidence.

Each checker returns a dataclass saying what it looked at (the entity, the key, the bounds), what
broke them (the offending operations), and whether that makes the run invalid. None of them
touches the network or the clock; each is tested on small hand-written histories.

What they can prove, and where they stop:

- `check_counters`: every acknowledged increment is in the final value, and nothing beyond what
  was attempted is (bounds `[acknowledged, attempted]`, exact when every increment carried an
  idempotency key and was answered). Because amounts are positive, two different acknowledged
  increments that answered the same value prove a lost update too.
- `check_kv`: the final value of every KV register is the last acknowledged write or a write
  whose outcome is unknown; an acknowledged write that was overwritten by an older one is lost.
- `check_linearizability`: a Wing-Gong search per register, informational only: casty does not
  promise linearizable reads (a read on a new owner can be stale), so it reports anomalies and
  when they happened, and never fails the run.
- `check_availability`: per fault window, how many operations succeeded, and how long after the
  heal errors went on; latency percentiles. Informational.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from compose.chaos.history import (
    FaultWindow,
    Operation,
    by_entity,
    by_register,
    final_reads,
)

# ---- helpers -------------------------------------------------------------------------------


def brief(op: Operation) -> dict[str, object]:
    """The fields of an operation a reader needs as evidence."""
    out: dict[str, object] = {
        "id": op.id,
        "kind": op.kind,
        "entity": op.entity,
        "outcome": op.outcome,
        "invoked": round(op.invoked, 3),
        "completed": round(op.completed, 3),
    }
    for name in ("key", "value", "expected", "result", "status", "node", "idempotency_key"):
        if getattr(op, name) is not None:
            out[name] = getattr(op, name)
    if op.attempts > 1:
        out["attempts"] = op.attempts
    return out


def is_unavailable(op: Operation) -> bool:
    """Whether the cluster failed to serve `op`: no answer, a 5xx, or a refused connection.

    A 412 (a conditional write whose ETag no longer matched) and the other 4xx are answers: the
    cluster was available and said no.
    """
    if op.outcome == "ok":
        return False
    return op.status is None or op.status >= 500


# ---- counters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterEvidence:
    """One counter: its bounds, the final values read after the heal, and what broke them."""

    entity: str
    finals: list[int]
    lower: int
    upper: int
    acknowledged: int
    indeterminate: int
    failed: int
    idempotent: int
    exact: bool
    missing_units: int
    lost: list[dict[str, object]]
    duplicate_answers: list[dict[str, object]]
    problem: str | None

    @property
    def valid(self) -> bool:
        """Whether this counter kept every acknowledged increment and invented none."""
        return self.problem is None


@dataclass(frozen=True)
class CounterResult:
    """The counter checker's verdict over every counter entity."""

    valid: bool
    counters: list[CounterEvidence]
    lost: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data for `verdict.json`."""
        return {
            "valid": self.valid,
            "lost": self.lost,
            "counters": [asdict(c) | {"valid": c.valid} for c in self.counters],
        }


def check_counters(history: Iterable[Operation]) -> CounterResult:
    """Check every counter's final value against its acknowledged and attempted increments.

    Lower bound: the sum of acknowledged amounts. Upper bound: that plus every increment that
    may have applied: plain increments that ended indeterminate, and idempotent ones that were
    never answered (each key counts at most once, since the node deduplicates retries). A
    counter with no final read is a problem too: the run could not show its increments survived.
    """
    ops = list(history)
    groups = by_entity(ops, ["increment"])
    finals_by_entity: dict[str, list[int]] = {}
    for op in final_reads(ops, "counter_read"):
        if isinstance(op.result, int):
            finals_by_entity.setdefault(op.entity, []).append(op.result)
    evidence = []
    for entity in sorted(set(groups) | set(finals_by_entity)):
        finals = finals_by_entity.get(entity, [])
        evidence.append(_check_counter(entity, groups.get(entity, []), finals))
    # Lost acknowledged increments: those named by their answers, or at least one per counter
    # whose final value fell below the acknowledged sum without naming any.
    lost = sum(len(c.lost) or (1 if c.missing_units else 0) for c in evidence)
    return CounterResult(all(c.valid for c in evidence), evidence, lost)


def _check_counter(entity: str, increments: list[Operation], finals: list[int]) -> CounterEvidence:
    lower = upper = 0
    acknowledged = indeterminate = failed = idempotent = 0
    for op in increments:
        amount = op.value if isinstance(op.value, int) else 0
        idempotent += op.idempotency_key is not None
        if op.outcome == "ok":
            acknowledged += 1
            lower += amount
            upper += amount
        elif op.outcome == "indeterminate":
            indeterminate += 1
            upper += amount
        else:
            failed += 1
    exact = lower == upper

    # Amounts are positive, so the values increments produce strictly increase: two different
    # acknowledged increments answering one value means one of them was applied to a stale copy.
    answered: dict[int, list[Operation]] = {}
    for op in increments:
        if op.outcome == "ok" and isinstance(op.result, int):
            answered.setdefault(op.result, []).append(op)
    duplicates = [
        {"value": value, "operations": [brief(op) for op in same]}
        for value, same in sorted(answered.items())
        if len(same) > 1
    ]

    lost: list[dict[str, object]] = []
    problem = None
    if not finals:
        problem = "no final read answered: the run cannot show the increments survived"
    else:
        low_final, high_final = min(finals), max(finals)
        # An acknowledged increment that answered v is in every later value, which is >= v.
        lost = [
            brief(op)
            for op in increments
            if op.outcome == "ok" and isinstance(op.result, int) and op.result > low_final
        ]
        if low_final < lower:
            problem = (
                f"final value {low_final} is below the acknowledged sum {lower}:"
                f" {lower - low_final} acknowledged units lost"
            )
        elif high_final > upper:
            problem = (
                f"final value {high_final} is above the attempted sum {upper}:"
                f" {high_final - upper} units nobody sent (an increment applied twice?)"
            )
        elif lost:
            problem = (
                f"{len(lost)} acknowledged increments answered a value above the final {low_final}"
            )
        elif len(set(finals)) > 1:
            problem = f"final reads disagree after the heal: {sorted(set(finals))}"
    if problem is None and duplicates:
        problem = f"{len(duplicates)} values were answered to more than one increment (lost update)"
        lost = [brief(op) for same in answered.values() if len(same) > 1 for op in same[1:]]
    return CounterEvidence(
        entity=entity,
        finals=sorted(set(finals)),
        lower=lower,
        upper=upper,
        acknowledged=acknowledged,
        indeterminate=indeterminate,
        failed=failed,
        idempotent=idempotent,
        exact=exact,
        missing_units=max(0, lower - min(finals)) if finals else 0,
        lost=lost,
        duplicate_answers=duplicates,
        problem=problem,
    )


# ---- KV: no acknowledged write lost ----------------------------------------------------------


@dataclass(frozen=True)
class RegisterEvidence:
    """One KV register (entity, key): its final value and the writes that could have left it."""

    entity: str
    key: str
    finals: list[str | None]
    allowed: list[str | None]
    acknowledged: int
    indeterminate: int
    last_acknowledged: list[dict[str, object]]
    lost: list[dict[str, object]]
    problem: str | None

    @property
    def valid(self) -> bool:
        """Whether the register's final value is one the acknowledged writes allow."""
        return self.problem is None


@dataclass(frozen=True)
class KvResult:
    """The KV checker's verdict over every register."""

    valid: bool
    registers: list[RegisterEvidence]
    lost: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data for `verdict.json`."""
        return {
            "valid": self.valid,
            "lost": self.lost,
            "registers": [asdict(r) | {"valid": r.valid} for r in self.registers],
        }


def check_kv(history: Iterable[Operation]) -> KvResult:
    """Check that each register's final value is its last acknowledged write or a later unknown one.

    The last acknowledged writes are those no other acknowledged write began after (several when
    they overlapped in time: any of them may have been applied last). A write whose outcome is
    unknown may have been applied at any time after its invocation, so its value is allowed too.
    A register nobody acknowledged a write to may also be missing. Values are unique per write,
    so a final value names the write that produced it.
    """
    ops = list(history)
    finals: dict[tuple[str, str], list[str | None]] = {}
    for op in ops:
        if op.phase == "final" and op.kind == "kv_read" and op.outcome == "ok" and op.key:
            result = op.result if isinstance(op.result, str) else None
            finals.setdefault((op.entity, op.key), []).append(result)
    evidence = []
    for (entity, key), group in sorted(by_register(ops).items()):
        writes = [op for op in group if op.kind in ("kv_write", "kv_cas") and op.phase == "run"]
        if not writes:
            continue
        evidence.append(_check_register(entity, key, writes, finals.get((entity, key), [])))
    lost = sum(len(r.lost) for r in evidence)
    return KvResult(all(r.valid for r in evidence), evidence, lost)


def _check_register(
    entity: str, key: str, writes: list[Operation], finals: list[str | None]
) -> RegisterEvidence:
    acked = [op for op in writes if op.outcome == "ok"]
    unknown = [op for op in writes if op.outcome == "indeterminate"]
    last = [w for w in acked if not any(other.invoked > w.completed for other in acked)]
    allowed: list[str | None] = [str(w.value) for w in [*last, *unknown]]
    if not acked:
        allowed.append(None)
    problem = None
    lost: list[dict[str, object]] = []
    if not finals:
        problem = "no final read answered: the run cannot show the writes survived"
    else:
        wrong = [value for value in finals if value not in allowed]
        if wrong:
            named = {str(w.value): w for w in writes}
            source = named.get(wrong[0]) if wrong[0] is not None else None
            origin = "no write" if source is None else _describe(source)
            why = "the key is missing" if wrong[0] is None else f"{wrong[0]!r} comes from {origin}"
            problem = f"final value {wrong[0]!r} is not the last acknowledged write: {why}"
            lost = [brief(w) for w in last if str(w.value) not in finals]
        elif len(set(finals)) > 1:
            problem = f"final reads disagree after the heal: {sorted(map(str, set(finals)))}"
    return RegisterEvidence(
        entity=entity,
        key=key,
        finals=sorted(set(finals), key=str),
        allowed=sorted(set(allowed), key=str),
        acknowledged=len(acked),
        indeterminate=len(unknown),
        last_acknowledged=[brief(w) for w in last],
        lost=lost,
        problem=problem,
    )


def _describe(op: Operation) -> str:
    return f"operation {op.id} ({op.kind}, {op.outcome}, invoked at {op.invoked:.3f} s)"


# ---- KV: linearizability (informational) ---------------------------------------------------


@dataclass(frozen=True)
class StaleRead:
    """A read that returned a value already overwritten before the read began."""

    read: dict[str, object]
    returned_from: dict[str, object] | None
    overwritten_by: dict[str, object]
    staleness_s: float


@dataclass(frozen=True)
class RegisterLinearizability:
    """The search's answer for one register, with the anomalies a reader can act on.

    `linearizable` is `None` when the search ran out of its work budget. `first_violation_at` is
    the time of the earliest prefix of the history that admits no linearization, and `stuck` the
    operation the search could not place there.
    """

    entity: str
    key: str
    operations: int
    linearizable: bool | None
    explored: int
    first_violation_at: float | None
    stuck: dict[str, object] | None
    stale_reads: list[StaleRead]


@dataclass(frozen=True)
class LinearizabilityResult:
    """Per-register linearizability, informational: casty reads are not promised linearizable."""

    registers: list[RegisterLinearizability]
    linearizable: int
    violations: int
    unknown: int
    stale_reads: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data for `verdict.json`."""
        return {
            "informational": True,
            "linearizable": self.linearizable,
            "violations": self.violations,
            "unknown": self.unknown,
            "stale_reads": self.stale_reads,
            "registers": [asdict(r) for r in self.registers],
        }


@dataclass(frozen=True)
class _Entry:
    op: Operation
    required: bool
    call: float
    ret: float


@dataclass
class SearchOutcome:
    """What one Wing-Gong search found: yes, no, or out of budget, and where it got stuck."""

    linearizable: bool | None
    explored: int
    stuck: Operation | None = None


def search_register(ops: Sequence[Operation], budget: int = 100_000) -> SearchOutcome:
    """Wing-Gong search for a linearization of one register's operations.

    The model: a register holding a string or nothing. A write sets it; a conditional write sets
    it only if it holds `expected`; a read must see what it holds (`None` for a missing key).
    Acknowledged operations must be placed between their invocation and completion; writes whose
    outcome is unknown may be placed anywhere after their invocation, or left out (and are, when
    nobody observed their value); failed ones and unanswered reads are left out. Memoizes
    (placed set, register value) pairs, as in Lowe's refinement of Wing and Gong, and stops after
    `budget` configurations (`linearizable=None`).
    """
    # An unknown-outcome write whose value nobody observed (no read returned it, no conditional
    # write expected it) can be left out: in any linearization that places it, nothing sits
    # between it and the next write that could see it, so dropping it keeps the order valid.
    # Without this, every such write multiplies the configurations the search must visit.
    observed = {op.result for op in ops if op.kind == "kv_read" and op.outcome == "ok"}
    observed |= {op.expected for op in ops if op.kind == "kv_cas" and op.outcome == "ok"}
    entries: list[_Entry] = []
    for op in sorted(ops, key=lambda o: o.invoked):
        if op.outcome == "ok":
            entries.append(_Entry(op, True, op.invoked, op.completed))
        elif op.outcome == "indeterminate" and op.is_write and str(op.value) in observed:
            entries.append(_Entry(op, False, op.invoked, math.inf))
    required_mask = 0
    for i, e in enumerate(entries):
        if e.required:
            required_mask |= 1 << i
    optional = [i for i, e in enumerate(entries) if not e.required]

    def step(entry: _Entry, state: str | None) -> tuple[bool, str | None]:
        op = entry.op
        if op.kind == "kv_write":
            return True, str(op.value)
        if op.kind == "kv_cas":
            return (state == op.expected), str(op.value)
        result = op.result if isinstance(op.result, str) else None
        return state == result, state

    start: tuple[int, str | None] = (0, None)
    seen = {start}
    stack = [start]
    explored = 0
    deepest, stuck = -1, None
    while stack:
        mask, state = stack.pop()
        explored += 1
        if mask & required_mask == required_mask:
            return SearchOutcome(True, explored)
        if explored > budget:
            return SearchOutcome(None, explored, stuck)
        # Candidates: not yet placed, invoked before the earliest completion still pending.
        first = _first_unplaced_required(mask, required_mask)
        horizon = math.inf
        window = []
        for i in range(first, len(entries)):
            e = entries[i]
            if e.call >= horizon:
                break
            if mask >> i & 1:
                continue
            window.append(i)
            if e.required:
                horizon = min(horizon, e.ret)
        window += [i for i in optional if i < first and not mask >> i & 1]
        depth = (mask & required_mask).bit_count()
        if depth > deepest:
            deepest = depth
            blocking = [i for i in window if entries[i].required and entries[i].ret == horizon]
            stuck = entries[blocking[0]].op if blocking else None
        for i in window:
            if entries[i].call >= horizon:
                continue
            ok, after = step(entries[i], state)
            if ok:
                nxt = (mask | 1 << i, after)
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return SearchOutcome(False, explored, stuck)


def _first_unplaced_required(mask: int, required_mask: int) -> int:
    pending = required_mask & ~mask
    return (pending & -pending).bit_length() - 1 if pending else 0


def stale_reads(ops: Sequence[Operation]) -> list[StaleRead]:
    """Reads that returned a value an acknowledged write had replaced before the read began.

    Values are unique per write, so each read names its source write. A read is stale when an
    acknowledged write began after its source completed and completed before the read began. A
    read of a missing key is stale when any acknowledged write completed before it began.
    """
    writes = [op for op in ops if op.kind in ("kv_write", "kv_cas")]
    acked = [w for w in writes if w.outcome == "ok"]
    source = {str(w.value): w for w in writes}
    found = []
    for read in ops:
        if read.kind != "kv_read" or read.outcome != "ok":
            continue
        origin = source.get(read.result) if isinstance(read.result, str) else None
        if isinstance(read.result, str) and (origin is None or origin.outcome != "ok"):
            # No recorded write produced it (left to the search), or one whose outcome is
            # unknown: it may have taken effect at any time, so the read cannot be called stale.
            continue
        newer = [
            w
            for w in acked
            if w.completed < read.invoked and (origin is None or w.invoked > origin.completed)
        ]
        if newer:
            latest = max(newer, key=lambda w: w.completed)
            found.append(
                StaleRead(
                    read=brief(read),
                    returned_from=None if origin is None else brief(origin),
                    overwritten_by=brief(latest),
                    staleness_s=round(read.invoked - latest.completed, 3),
                )
            )
    return found


def check_linearizability(
    history: Iterable[Operation], budget: int = 100_000
) -> LinearizabilityResult:
    """Search every KV register for a linearization; report violations and stale reads by time.

    When a register's whole history admits none, a bisection over its prefixes (by invocation
    time) finds the earliest point where it stops being linearizable.
    """
    registers = []
    for (entity, key), ops in sorted(by_register(history).items()):
        outcome = search_register(ops, budget)
        first_at = None
        stuck = outcome.stuck
        if outcome.linearizable is False:
            first_at, stuck = _first_violation(ops, budget)
        registers.append(
            RegisterLinearizability(
                entity=entity,
                key=key,
                operations=len(ops),
                linearizable=outcome.linearizable,
                explored=outcome.explored,
                first_violation_at=first_at,
                stuck=None if stuck is None else brief(stuck),
                stale_reads=stale_reads(ops),
            )
        )
    return LinearizabilityResult(
        registers=registers,
        linearizable=sum(r.linearizable is True for r in registers),
        violations=sum(r.linearizable is False for r in registers),
        unknown=sum(r.linearizable is None for r in registers),
        stale_reads=sum(len(r.stale_reads) for r in registers),
    )


def _first_violation(
    ops: Sequence[Operation], budget: int
) -> tuple[float | None, Operation | None]:
    # Cutting the history at an invocation keeps every constraint among the operations before
    # the cut, so a prefix that fails stays failing as it grows (except in the rare case where a
    # read needs a write invoked after it): bisect for the shortest failing prefix.
    ordered = sorted(ops, key=lambda o: o.invoked)
    low, high = 0, len(ordered)
    stuck = None
    while low < high:
        middle = (low + high) // 2
        outcome = search_register(ordered[: middle + 1], budget)
        if outcome.linearizable is False:
            high, stuck = middle, outcome.stuck
        else:
            low = middle + 1
    if high >= len(ordered):
        return None, None
    return ordered[high].invoked, stuck or ordered[high]


# ---- availability and latency (informational) --------------------------------------------


@dataclass(frozen=True)
class WindowAvailability:
    """How the cluster served while one fault was in place, and how long errors went on after."""

    kind: str
    nodes: list[int]
    detail: str
    started: float
    healed: float | None
    operations: int
    ok: int
    unavailable: int
    availability: float | None
    balancer_availability: float | None
    recovery_s: float | None
    last_error_after_heal_s: float | None
    recovered: bool


@dataclass(frozen=True)
class AvailabilityResult:
    """Availability per fault window and outside them, and latency percentiles per kind."""

    windows: list[WindowAvailability]
    steady_availability: float | None
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data for `verdict.json`."""
        return {"informational": True} | asdict(self)


def check_availability(
    history: Iterable[Operation],
    faults: Sequence[FaultWindow],
    end: float,
    bucket_s: float = 1.0,
    threshold: float = 0.9,
) -> AvailabilityResult:
    """Availability per fault window, time to recover after each heal, latencies.

    An operation counts for the window its invocation falls in. After a heal, errors may go on
    while a restarted node rejoins and ownership settles. `recovery_s` is the time from the heal
    until every following `bucket_s` window, up to the next fault, had at least `threshold` of
    its operations answered (0 when all did; a single error in a second never counts).
    `last_error_after_heal_s` is the raw figure: the heal to the last unavailable operation.
    `recovered` says whether the last window before the next fault met the threshold.
    """
    ops = sorted((op for op in history if op.phase == "run"), key=lambda op: op.invoked)
    ordered = sorted(faults, key=lambda f: f.started)
    windows = []
    inside: set[int] = set()
    for n, fault in enumerate(ordered):
        stop = fault.healed if fault.healed is not None else end
        during = [op for op in ops if fault.started <= op.invoked < stop]
        inside.update(op.id for op in during)
        after_end = ordered[n + 1].started if n + 1 < len(ordered) else end
        after = [op for op in ops if stop <= op.invoked < after_end]
        last_error = max((op.invoked for op in after if is_unavailable(op)), default=None)
        recovery, recovered = _recovery(after, stop, bucket_s, threshold)
        healed = fault.healed is not None
        windows.append(
            WindowAvailability(
                kind=fault.kind,
                nodes=list(fault.nodes),
                detail=fault.detail,
                started=round(fault.started, 3),
                healed=round(stop, 3) if healed else None,
                operations=len(during),
                ok=sum(not is_unavailable(op) for op in during),
                unavailable=sum(is_unavailable(op) for op in during),
                availability=_ratio(during),
                balancer_availability=_ratio([op for op in during if op.target == "balancer"]),
                recovery_s=recovery if healed else None,
                last_error_after_heal_s=_since(stop, last_error) if healed else None,
                recovered=recovered,
            )
        )
    steady = [op for op in ops if op.id not in inside]
    return AvailabilityResult(windows, _ratio(steady), latency_percentiles(ops))


def _recovery(
    after: Sequence[Operation], heal: float, bucket_s: float, threshold: float
) -> tuple[float, bool]:
    """Seconds from `heal` to the end of the last bucket below `threshold`; whether it ended."""
    buckets: dict[int, list[Operation]] = {}
    for op in after:
        buckets.setdefault(int((op.invoked - heal) // bucket_s), []).append(op)
    # A bucket is poor when under `threshold` by more than one operation: a lone error in the
    # short last bucket before the next fault would otherwise read as a second of outage.
    poor = [
        b
        for b, ops in buckets.items()
        if (_ratio(ops) or 0.0) < threshold and sum(map(is_unavailable, ops)) > 1
    ]
    if not poor:
        return 0.0, True
    last = max(poor)
    return round((last + 1) * bucket_s, 3), last < max(buckets)


def _since(heal: float, last_error: float | None) -> float:
    return 0.0 if last_error is None else round(max(0.0, last_error - heal), 3)


def _ratio(ops: Sequence[Operation]) -> float | None:
    if not ops:
        return None
    return round(sum(not is_unavailable(op) for op in ops) / len(ops), 4)


def latency_percentiles(ops: Iterable[Operation]) -> dict[str, dict[str, float]]:
    """p50/p90/p99/max latency in milliseconds of answered operations, per kind and overall."""
    samples: dict[str, list[float]] = {}
    for op in ops:
        if op.outcome == "ok" and op.attempts == 1:
            samples.setdefault(op.kind, []).append(op.latency * 1000)
            samples.setdefault("all", []).append(op.latency * 1000)
    return {kind: _percentiles(values) for kind, values in sorted(samples.items())}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)

    return {"count": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}
