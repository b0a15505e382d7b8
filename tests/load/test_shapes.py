"""Load shapes are data: planned stages, ticks over time, and refusal of malformed shapes."""

from __future__ import annotations

import math

import pytest

from loadtest.shapes import SHAPES, Shape, Stage, Step, plan, tick


def test_every_shape_ends_at_the_run_length_and_then_stops() -> None:
    for shape in SHAPES.values():
        steps = plan(shape, peak_users=50, duration_s=100.0, spawn_rate=5.0)
        assert steps[-1].end_s == pytest.approx(100.0), shape.name
        assert tick(steps, 99.9) is not None, shape.name
        assert tick(steps, 100.0) is None, shape.name


def test_every_shape_reaches_the_peak_users_and_never_exceeds_it() -> None:
    for shape in SHAPES.values():
        users = [step.users for step in plan(shape, peak_users=40, duration_s=60, spawn_rate=4)]
        assert max(users) == 40, shape.name
        assert min(users) >= 1, shape.name


def test_constant_shape_holds_the_users_at_the_given_spawn_rate() -> None:
    steps = plan(SHAPES["constant"], peak_users=20, duration_s=30, spawn_rate=10)
    assert steps == [Step(end_s=30, users=20, spawn_rate=10)]


def test_constant_shape_without_a_run_time_runs_until_stopped() -> None:
    steps = plan(SHAPES["constant"], peak_users=5, duration_s=None, spawn_rate=1)
    assert steps[-1].end_s == math.inf
    assert tick(steps, 1e9) == (5, 1)


def test_step_shape_climbs_in_five_equal_steps() -> None:
    steps = plan(SHAPES["step"], peak_users=100, duration_s=50, spawn_rate=1)
    assert [s.users for s in steps] == [20, 40, 60, 80, 100]
    assert [s.end_s for s in steps] == pytest.approx([10, 20, 30, 40, 50])
    assert tick(steps, 0) == (20, 10.0)
    assert tick(steps, 25)[0] == 60  # type: ignore[index]


def test_spike_shape_jumps_to_the_peak_within_a_second_and_falls_back() -> None:
    steps = plan(SHAPES["spike"], peak_users=100, duration_s=100, spawn_rate=1)
    before, spike, after = steps
    assert (before.users, spike.users, after.users) == (20, 100, 20)
    assert spike.spawn_rate == pytest.approx(80.0)  # 80 more users within its 1 s ramp
    assert tick(steps, 39.9) == (20, before.spawn_rate)
    assert tick(steps, 45) == (100, 80.0)
    assert tick(steps, 70)[0] == 20  # type: ignore[index]


def test_a_shape_takes_its_default_length_when_no_run_time_is_given() -> None:
    steps = plan(SHAPES["soak"], peak_users=10, duration_s=None, spawn_rate=1)
    assert steps[-1].end_s == SHAPES["soak"].default_duration_s


def test_spawn_rate_is_never_below_one_user_per_second() -> None:
    steps = plan(SHAPES["step"], peak_users=2, duration_s=10, spawn_rate=1)
    assert all(step.spawn_rate >= 1.0 for step in steps)


@pytest.mark.parametrize(
    "stages",
    [
        (),
        (Stage(0.5, 1.0),),  # does not end the run
        (Stage(0.6, 1.0), Stage(0.4, 1.0), Stage(1.0, 1.0)),  # ends out of order
        (Stage(1.0, 1.5),),  # more than the peak
    ],
)
def test_a_malformed_shape_is_refused_when_defined(stages: tuple[Stage, ...]) -> None:
    with pytest.raises(ValueError, match="shape bad"):
        Shape("bad", "malformed", stages, default_duration_s=10)


@pytest.mark.parametrize(
    ("peak", "duration", "rate", "message"),
    [(0, 10.0, 1.0, "peak users"), (5, 0.0, 1.0, "duration"), (5, 10.0, 0.0, "spawn rate")],
)
def test_a_plan_refuses_impossible_arguments(
    peak: int, duration: float, rate: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan(SHAPES["step"], peak_users=peak, duration_s=duration, spawn_rate=rate)
