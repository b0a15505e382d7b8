"""The checkers on small hand-written histories, valid and invalid. No cluster, no root."""

from __future__ import annotations

import itertools
from typing import Any

from compose.chaos.checkers import (
    check_availability,
    check_counters,
    check_kv,
    check_linearizability,
    search_register,
    stale_reads,
)
from compose.chaos.history import FaultWindow, History, Operation

_ids = itertools.count(1)


def op(
    kind: str, invoked: float, completed: float, outcome: str = "ok", **fields: Any
) -> Operation:
    """One operation with sensible defaults: entity "c" or "m", client "t", through the balancer."""
    entity = fields.pop("entity", "c" if kind in ("increment", "counter_read") else "m")
    if kind.startswith("kv"):
        fields.setdefault("key", "k")
    return Operation(
        id=next(_ids),
        client="t",
        target=fields.pop("target", "balancer"),
        kind=kind,  # type: ignore[arg-type]
        entity=entity,
        invoked=invoked,
        completed=completed,
        outcome=outcome,  # type: ignore[arg-type]
        **fields,
    )


def final_counter(value: int, at: float = 100.0, entity: str = "c") -> Operation:
    return op("counter_read", at, at + 0.01, result=value, phase="final", entity=entity)


def final_kv(value: str | None, at: float = 100.0) -> Operation:
    return op("kv_read", at, at + 0.01, result=value, phase="final")


# ---- counters ------------------------------------------------------------------------------


def test_a_counter_holding_every_acknowledged_increment_and_some_unknown_ones_is_valid() -> None:
    history = [
        op("increment", 0.0, 0.1, value=2, result=2),
        op("increment", 0.2, 0.3, value=3, result=5),
        op("increment", 0.4, 5.0, "indeterminate", value=4, status=504),
        op("increment", 0.5, 0.6, "failed", value=100, status=422),
        final_counter(9),
    ]
    result = check_counters(history)
    assert result.valid
    (counter,) = result.counters
    assert (counter.lower, counter.upper, counter.finals) == (5, 9, [9])
    assert result.lost == 0


def test_a_counter_below_its_acknowledged_sum_names_the_lost_increments() -> None:
    history = [
        op("increment", 0.0, 0.1, value=2, result=2),
        op("increment", 0.2, 0.3, value=3, result=5),
        op("increment", 0.4, 0.5, value=1, result=6),
        final_counter(2),
    ]
    result = check_counters(history)
    assert not result.valid
    (counter,) = result.counters
    assert counter.missing_units == 4
    assert [lost["result"] for lost in counter.lost] == [5, 6]
    assert result.lost == 2
    assert counter.problem is not None
    assert "below the acknowledged sum 6" in counter.problem


def test_a_counter_above_its_attempted_sum_is_invalid() -> None:
    history = [op("increment", 0.0, 0.1, value=2, result=2), final_counter(4)]
    result = check_counters(history)
    assert not result.valid
    assert result.counters[0].problem is not None
    assert "above the attempted sum 2" in result.counters[0].problem


def test_idempotent_increments_that_were_all_answered_bound_the_counter_exactly() -> None:
    history = [
        op("increment", 0.0, 3.0, value=5, result=5, idempotency_key="a", attempts=3),
        op("increment", 1.0, 1.1, value=1, result=6, idempotency_key="b"),
        final_counter(6),
    ]
    result = check_counters(history)
    assert result.valid
    assert result.counters[0].exact
    assert check_counters([*history[:2], final_counter(11)]).valid is False  # "a" counted twice


def test_an_unanswered_idempotent_increment_counts_at_most_once() -> None:
    unanswered = op(
        "increment", 0.0, 9.0, "indeterminate", value=5, idempotency_key="a", attempts=4
    )
    assert check_counters([unanswered, final_counter(0)]).valid
    assert check_counters([unanswered, final_counter(5)]).valid
    assert not check_counters([unanswered, final_counter(10)]).valid


def test_two_increments_answering_the_same_value_prove_a_lost_update() -> None:
    # Both were answered 3, and the final value 3 + 0 lies within [3, 6] only if one is gone.
    history = [
        op("increment", 0.0, 0.1, value=3, result=3),
        op("increment", 0.2, 0.3, value=3, result=3, target="node4"),
        op("increment", 0.4, 9.0, "indeterminate", value=3),
        final_counter(6),
    ]
    result = check_counters(history)
    assert not result.valid
    assert result.counters[0].duplicate_answers[0]["value"] == 3
    assert result.lost == 1


def test_a_counter_without_a_final_read_is_not_proven() -> None:
    result = check_counters([op("increment", 0.0, 0.1, value=1, result=1)])
    assert not result.valid
    assert result.counters[0].problem is not None
    assert "no final read" in result.counters[0].problem


# ---- KV: no acknowledged write lost ----------------------------------------------------------


def test_a_register_ending_on_its_last_acknowledged_write_is_valid() -> None:
    history = [
        op("kv_write", 0.0, 0.1, value="w1"),
        op("kv_write", 0.2, 0.3, value="w2"),
        final_kv("w2"),
    ]
    assert check_kv(history).valid


def test_a_register_ending_on_an_older_acknowledged_write_lost_the_newer_one() -> None:
    history = [
        op("kv_write", 0.0, 0.1, value="w1"),
        op("kv_write", 0.2, 0.3, value="w2"),
        final_kv("w1"),
    ]
    result = check_kv(history)
    assert not result.valid
    (register,) = result.registers
    assert [lost["value"] for lost in register.lost] == ["w2"]
    assert result.lost == 1


def test_concurrent_acknowledged_writes_may_either_end_last() -> None:
    first = op("kv_write", 0.0, 0.5, value="w1")
    second = op("kv_write", 0.1, 0.4, value="w2")
    assert check_kv([first, second, final_kv("w1")]).valid
    assert check_kv([first, second, final_kv("w2")]).valid


def test_an_indeterminate_write_may_end_last_even_if_invoked_early() -> None:
    history = [
        op("kv_write", 0.0, 6.0, "indeterminate", value="w1", status=504),
        op("kv_write", 1.0, 1.1, value="w2"),
        final_kv("w1"),
    ]
    assert check_kv(history).valid


def test_a_failed_write_must_not_appear_and_a_missing_key_is_a_loss() -> None:
    acked = op("kv_write", 0.0, 0.1, value="w1")
    refused = op("kv_cas", 0.2, 0.3, "failed", value="w2", expected="w0", status=412)
    result = check_kv([acked, refused, final_kv("w2")])
    assert not result.valid
    assert result.registers[0].problem is not None
    assert "operation" in result.registers[0].problem  # names the failed write
    assert not check_kv([acked, final_kv(None)]).valid


# ---- KV: linearizability ---------------------------------------------------------------------


def test_a_sequential_register_history_is_linearizable() -> None:
    history = [
        op("kv_write", 0.0, 0.1, value="a"),
        op("kv_read", 0.2, 0.3, result="a"),
        op("kv_cas", 0.4, 0.5, value="b", expected="a"),
        op("kv_read", 0.6, 0.7, result="b"),
    ]
    assert search_register(history).linearizable is True
    assert stale_reads(history) == []


def test_a_read_overlapping_a_write_may_see_either_value() -> None:
    history = [
        op("kv_write", 0.0, 0.1, value="a"),
        op("kv_write", 0.2, 1.0, value="b"),
        op("kv_read", 0.3, 0.4, result="a"),
        op("kv_read", 0.5, 0.6, result="b"),
    ]
    assert search_register(history).linearizable is True


def test_a_stale_read_is_not_linearizable_and_is_reported_with_its_timing() -> None:
    history = [
        op("kv_write", 0.0, 0.1, value="a"),
        op("kv_write", 0.2, 0.3, value="b"),
        op("kv_read", 1.0, 1.1, result="a"),
        op("kv_read", 2.0, 2.1, result="b"),
    ]
    assert search_register(history).linearizable is False
    (stale,) = stale_reads(history)
    assert stale.read["result"] == "a"
    assert stale.overwritten_by["value"] == "b"
    assert stale.staleness_s == 0.7
    result = check_linearizability(history)
    assert result.violations == 1
    assert result.stale_reads == 1
    (register,) = result.registers
    assert register.first_violation_at == 1.0


def test_an_indeterminate_write_may_take_effect_late_or_never() -> None:
    late = [
        op("kv_write", 0.0, 0.1, value="a"),
        op("kv_write", 0.2, 9.9, "indeterminate", value="b"),
        op("kv_read", 1.0, 1.1, result="a"),
        op("kv_read", 2.0, 2.1, result="b"),
    ]
    assert search_register(late).linearizable is True
    never = [*late[:3], op("kv_read", 2.0, 2.1, result="a")]
    assert search_register(never).linearizable is True


def test_a_read_of_a_value_never_written_is_not_linearizable() -> None:
    history = [op("kv_write", 0.0, 0.1, value="a"), op("kv_read", 0.2, 0.3, result="zzz")]
    assert search_register(history).linearizable is False


def test_a_failed_conditional_write_is_left_out_and_a_missing_key_reads_none() -> None:
    history = [
        op("kv_read", 0.0, 0.1, result=None, status=404),
        op("kv_cas", 0.2, 0.3, "failed", value="x", expected="a", status=412),
        op("kv_write", 0.4, 0.5, value="a"),
        op("kv_read", 0.6, 0.7, result="a"),
    ]
    assert search_register(history).linearizable is True


def test_the_search_gives_up_within_its_budget() -> None:
    # Many concurrent writes, then a read of a value none of them wrote: every order fails.
    writes = [op("kv_write", 0.0, 1.0, value=f"w{i}") for i in range(12)]
    outcome = search_register([*writes, op("kv_read", 2.0, 2.1, result="nope")], budget=500)
    assert outcome.linearizable is None
    assert outcome.explored > 500


# ---- availability ----------------------------------------------------------------------------


def test_availability_is_counted_per_fault_window_with_the_errors_after_the_heal() -> None:
    fault = FaultWindow("kill", (3,), started=10.0, healed=20.0, detail="kill node 3")
    history = [
        op("counter_read", 5.0, 5.1, result=0),
        op("counter_read", 11.0, 11.1, result=0),
        op("counter_read", 12.0, 12.5, "failed", target="node3"),
        op("kv_cas", 13.0, 13.1, "failed", status=412, value="x", expected="y"),
        op("counter_read", 14.0, 17.0, "indeterminate", status=504),
        op("counter_read", 21.0, 21.2, "failed", status=503, target="node3"),
        op("kv_read", 21.5, 21.6, "indeterminate", target="node3"),
        op("counter_read", 23.0, 23.1, result=0, target="node3"),
    ]
    result = check_availability(history, [fault], end=30.0)
    (window,) = result.windows
    assert (window.operations, window.ok, window.unavailable) == (4, 2, 2)
    assert window.availability == 0.5
    assert window.last_error_after_heal_s == 1.5
    assert window.recovery_s == 2.0  # the second after the heal was all errors
    assert window.recovered
    assert result.steady_availability == 0.5  # 5.0 ok, 21.0 and 21.5 unavailable, 23.0 ok
    assert result.latency_ms["all"]["count"] == 3


# ---- history -------------------------------------------------------------------------------


def test_a_history_reads_back_what_it_wrote(tmp_path: Any) -> None:
    history = History()
    history.record(op("increment", 0.0, 0.1, value=2, result=2, idempotency_key="k", attempts=2))
    history.record(op("kv_read", 0.2, 0.3, result=None, status=404))
    path = tmp_path / "history.jsonl"
    history.write(path)
    assert History.read(path).operations == history.operations


def test_a_read_of_an_indeterminate_write_is_never_called_stale() -> None:
    # "a" timed out at 0.5 but was applied after "b": reading it at 1.0 is no stale read.
    history = [
        op("kv_write", 0.0, 0.5, "indeterminate", value="a"),
        op("kv_write", 0.6, 0.7, value="b"),
        op("kv_read", 1.0, 1.1, result="a"),
    ]
    assert stale_reads(history) == []
    assert search_register(history).linearizable is True


def test_unknown_outcome_writes_nobody_observed_do_not_slow_the_search() -> None:
    # Twenty concurrent timed-out writes nobody read: without pruning, 2^20 placements.
    lost = [op("kv_write", 0.0, 6.0, "indeterminate", value=f"x{i}") for i in range(20)]
    history = [
        op("kv_write", 0.0, 0.1, value="a"),
        *lost,
        op("kv_read", 1.0, 1.1, result="a"),
        op("kv_read", 2.0, 2.1, result="x7"),
    ]
    outcome = search_register(history, budget=1000)
    assert outcome.linearizable is True
    assert outcome.explored < 50


def test_a_stray_error_in_a_busy_second_does_not_delay_recovery() -> None:
    fault = FaultWindow("pause", (8,), started=0.0, healed=1.0, detail="pause node8")
    answered = [
        op("counter_read", 1.0 + i * 0.05, 1.0 + i * 0.05 + 0.01, result=0) for i in range(60)
    ]
    stray = op("counter_read", 3.5, 3.6, "failed", status=503)
    (window,) = check_availability([*answered, stray], [fault], end=5.0).windows
    assert window.recovery_s == 0.0
    assert window.last_error_after_heal_s == 2.5
    assert window.recovered
