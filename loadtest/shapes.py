"""Load shapes as data: stages of users over time, scaled to the run's peak users and duration.

A shape is written once in relative units (a stage ends at a fraction of the run and holds a
fraction of the peak users), so `--shape spike -u 50 -t 2m` and `--shape spike -u 500 -t 1h` are
the same spike. `plan` turns a shape into absolute stages and `tick` answers what Locust's
`LoadTestShape.tick` must: the users and spawn rate at a moment, or None once the run is over.
Nothing here imports Locust, so the shapes are tested as plain data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """Hold `users` (a fraction of the peak) until `end` (a fraction of the run).

    The users are reached within `ramp_s` seconds of the stage's start; None ramps at the run's
    own spawn rate (Locust's `-r`).
    """

    end: float
    users: float
    ramp_s: float | None = None


@dataclass(frozen=True)
class Shape:
    """A named sequence of stages, ordered by their end; the last one ends the run (1.0)."""

    name: str
    description: str
    stages: tuple[Stage, ...]
    default_duration_s: float | None
    """The run's length when none is given; None runs until stopped (constant shape only)."""

    def __post_init__(self) -> None:
        ends = [stage.end for stage in self.stages]
        if not self.stages or ends != sorted(ends) or ends[-1] != 1.0 or ends[0] <= 0.0:
            raise ValueError(
                f"shape {self.name}: stage ends must rise from above 0 to exactly 1.0, got {ends}"
            )
        for stage in self.stages:
            if not 0.0 <= stage.users <= 1.0:
                raise ValueError(
                    f"shape {self.name}: a stage holds {stage.users} of the peak users,"
                    " expected a fraction from 0 to 1"
                )


@dataclass(frozen=True)
class Step:
    """One absolute stage of a planned run: `users` from the previous step's end until `end_s`."""

    end_s: float
    users: int
    spawn_rate: float


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        Shape(
            "constant",
            "the peak users (-u) at the spawn rate (-r) for the whole run (-t), or until stopped",
            (Stage(1.0, 1.0),),
            default_duration_s=None,
        ),
        Shape(
            "step",
            "five equal steps of a fifth of the peak each, to find where latency bends",
            tuple(Stage(end=(i + 1) / 5, users=(i + 1) / 5, ramp_s=2.0) for i in range(5)),
            default_duration_s=150.0,
        ),
        Shape(
            "spike",
            "a fifth of the peak, then the full peak within a second, then back: does it recover?",
            (
                Stage(0.4, 0.2, ramp_s=5.0),
                Stage(0.6, 1.0, ramp_s=1.0),
                Stage(1.0, 0.2, ramp_s=1.0),
            ),
            default_duration_s=120.0,
        ),
        Shape(
            "soak",
            "ramp to the peak over a tenth of the run, then hold it: leaks and slow drift",
            (Stage(0.1, 1.0), Stage(1.0, 1.0)),
            default_duration_s=1800.0,
        ),
    )
}


def plan(shape: Shape, peak_users: int, duration_s: float | None, spawn_rate: float) -> list[Step]:
    """The shape's stages in absolute users, seconds and spawn rates.

    `duration_s` None takes the shape's default; for the constant shape with no default the
    single step lasts forever (`end_s` is infinite). A stage's spawn rate brings the user count
    from the previous stage's to its own within its ramp time, and is never below 1 user/s.
    """
    if peak_users < 1:
        raise ValueError(f"peak users is {peak_users}: expected at least 1")
    if spawn_rate <= 0:
        raise ValueError(f"spawn rate is {spawn_rate}: expected more than 0 users per second")
    length = duration_s if duration_s is not None else shape.default_duration_s
    if length is not None and length <= 0:
        raise ValueError(f"duration is {length} s: expected more than 0")
    steps: list[Step] = []
    previous = 0
    for stage in shape.stages:
        users = max(1, round(stage.users * peak_users)) if stage.users > 0 else 0
        if stage.ramp_s is None:
            rate = spawn_rate
        else:
            rate = max(1.0, abs(users - previous) / stage.ramp_s)
        end_s = math.inf if length is None else stage.end * length
        steps.append(Step(end_s=end_s, users=users, spawn_rate=rate))
        previous = users
    return steps


def tick(steps: list[Step], elapsed_s: float) -> tuple[int, float] | None:
    """Users and spawn rate `elapsed_s` into the run, or None once the last step has ended."""
    for step in steps:
        if elapsed_s < step.end_s:
            return step.users, step.spawn_rate
    return None
