"""The history of a chaos run: every operation a client attempted, and what came of it.

An operation is recorded once, when it completes, with its invocation and completion times in
seconds since the run started (one monotonic clock for the whole run, so clients, nemesis and
checkers agree on "before" and "after"). Its outcome is one of three:

- `ok`: the cluster answered it; a write is acknowledged.
- `failed`: it certainly did not take effect (refused before sending, 4xx, a read's 5xx).
- `indeterminate`: it may or may not have taken effect (a timeout after sending, a dropped
  connection, a 504, and a write's 503: casty's `Unavailable` says "the message may or may not
  have been processed").

Checkers reason with acknowledged and attempted operations apart; they never treat an
indeterminate write as failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

Outcome = Literal["ok", "failed", "indeterminate"]
Kind = Literal["increment", "counter_read", "kv_write", "kv_read", "kv_cas"]
Phase = Literal["run", "settle", "final"]
"""`run`: under the nemesis; `settle`: read rounds after the heal that did not agree yet;
`final`: the read round after the heal that the checkers judge."""

WRITE_KINDS: frozenset[str] = frozenset({"increment", "kv_write", "kv_cas"})


@dataclass(frozen=True)
class Operation:
    """One operation as a client saw it.

    `value` is what the operation sent (an increment's amount, a KV write's string); `result` is
    what the cluster answered (a counter's value, the string a KV read returned, `None` for a
    missing key or no answer). A conditional write carries the value it expected in `expected`.
    An idempotent increment carries its `idempotency_key` and the number of `attempts` it took;
    its times span the first attempt's invocation to the last attempt's completion.
    """

    id: int
    client: str
    target: str
    kind: Kind
    entity: str
    invoked: float
    completed: float
    outcome: Outcome
    key: str | None = None
    value: int | str | None = None
    expected: str | None = None
    result: int | str | None = None
    status: int | None = None
    node: int | None = None
    error: str | None = None
    idempotency_key: str | None = None
    attempts: int = 1
    phase: Phase = "run"

    @property
    def is_write(self) -> bool:
        """Whether this operation may change state."""
        return self.kind in WRITE_KINDS

    @property
    def acknowledged(self) -> bool:
        """Whether this is a write the cluster confirmed."""
        return self.is_write and self.outcome == "ok"

    @property
    def latency(self) -> float:
        """Seconds from invocation to completion."""
        return self.completed - self.invoked

    def to_json(self) -> str:
        """This operation as one JSON line (`history.jsonl`), fields with default values omitted."""
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Operation:
        """Read back one line written by `to_json`."""
        data = json.loads(line)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class FaultWindow:
    """One fault the nemesis injected: when it began, when it was healed, and whom it hit.

    `healed` is `None` when the run ended before the nemesis undid the fault (the final heal then
    undid it). `detail` says what was done in words, e.g. "split [0, 1, 2] | [3, ..., 9]".
    """

    kind: str
    nodes: tuple[int, ...]
    started: float
    healed: float | None
    detail: str

    def to_dict(self) -> dict[str, object]:
        """This window as JSON-ready data."""
        return {
            "kind": self.kind,
            "nodes": list(self.nodes),
            "started": round(self.started, 3),
            "healed": None if self.healed is None else round(self.healed, 3),
            "detail": self.detail,
        }


@dataclass
class History:
    """An append-only list of operations, with ids handed out in order of invocation."""

    operations: list[Operation] = field(default_factory=list)
    _next_id: int = 0

    def next_id(self) -> int:
        """A fresh operation id."""
        self._next_id += 1
        return self._next_id

    def record(self, operation: Operation) -> None:
        """Append a completed operation."""
        self.operations.append(operation)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    def write(self, path: Path) -> None:
        """Write the history as JSON lines, sorted by invocation time."""
        ordered = sorted(self.operations, key=lambda op: (op.invoked, op.id))
        path.write_text("".join(op.to_json() + "\n" for op in ordered))

    @classmethod
    def read(cls, path: Path) -> History:
        """Read a history written by `write`."""
        ops = [Operation.from_json(line) for line in path.read_text().splitlines() if line]
        return cls(ops, max((op.id for op in ops), default=0))


def final_reads(history: Iterable[Operation], kind: Kind) -> list[Operation]:
    """The answered reads of `kind` made after the cluster healed, in invocation order."""
    return sorted(
        (op for op in history if op.phase == "final" and op.kind == kind and op.outcome == "ok"),
        key=lambda op: op.invoked,
    )


def by_entity(history: Iterable[Operation], kinds: Sequence[Kind]) -> dict[str, list[Operation]]:
    """Operations of the given kinds grouped by entity, each group in invocation order."""
    groups: dict[str, list[Operation]] = {}
    for op in sorted(history, key=lambda op: op.invoked):
        if op.kind in kinds:
            groups.setdefault(op.entity, []).append(op)
    return groups


def by_register(history: Iterable[Operation]) -> dict[tuple[str, str], list[Operation]]:
    """KV operations grouped by register (entity, key), each group in invocation order."""
    groups: dict[tuple[str, str], list[Operation]] = {}
    for op in sorted(history, key=lambda op: op.invoked):
        if op.kind in ("kv_write", "kv_read", "kv_cas") and op.key is not None:
            groups.setdefault((op.entity, op.key), []).append(op)
    return groups
