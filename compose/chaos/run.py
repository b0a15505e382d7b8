"""One chaos run against an up cluster: workload and nemesis together, heal, final reads, verdict.

`run_chaos` is what the CLI and the chaos tests call. It expects the cluster up and healthy and
leaves it healed with every node running (or raises `ClusterError` saying which node is not).
The verdict is valid when no acknowledged write was lost (counters and KV registers) and the
cluster became whole again after the final heal; linearizability and availability are reported
but never fail the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compose.backend import Backend, ClusterError
from compose.chaos import checkers, report
from compose.chaos.history import FaultWindow, History
from compose.chaos.nemesis import NEMESES, Nemesis, NemesisKind, plan
from compose.chaos.workload import Clock, Workload, WorkloadConfig

log = logging.getLogger("harness.chaos")

RESULTS = Path(__file__).resolve().parents[2] / "results" / "chaos"


@dataclass(frozen=True)
class ChaosOptions:
    """What one run does: how long, which faults, how hard, from which seed, where it writes."""

    duration_s: float = 60.0
    seed: int = 1
    nemeses: tuple[NemesisKind, ...] = NEMESES
    rate: float = 40.0
    results: Path = RESULTS
    progress_s: float = 5.0
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    node_environment: dict[str, str] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The command line that repeats this run's schedule and workload."""
        return shlex.join(
            [
                "just", "chaos",
                "--duration", f"{self.duration_s:g}",
                "--seed", str(self.seed),
                "--nemesis", ",".join(self.nemeses),
                "--rate", f"{self.rate:g}",
            ]
            + (["--node-env", ",".join(f"{k}={v}" for k, v in self.node_environment.items())]
               if self.node_environment else [])
        )  # fmt: skip


@dataclass(frozen=True)
class ChaosResult:
    """Where the run wrote its files, and its verdict."""

    directory: Path
    verdict: dict[str, Any]

    @property
    def valid(self) -> bool:
        """Whether no acknowledged write was lost and the cluster recovered."""
        return bool(self.verdict["valid"])


async def run_chaos(backend: Backend, options: ChaosOptions) -> ChaosResult:
    """Run the workload under the nemesis schedule, heal, read back, check and write the results.

    The seed draws two independent streams, the fault schedule and the workload's choices, so
    adding a fault kind does not change which operations are sent. Entity names carry the seed
    and the start time, so runs never share state. Files go to
    `options.results/<UTC time>-<seed>/`: verdict.json, history.jsonl and report.html.
    """
    seeds = random.Random(options.seed)
    schedule_rng, workload_rng = random.Random(seeds.random()), random.Random(seeds.random())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{options.seed}"
    directory = options.results / run_id
    directory.mkdir(parents=True, exist_ok=True)

    count = len(backend.topology.nodes)
    config = replace(options.workload, rate=options.rate)
    clock, history = Clock(), History()
    workload = Workload(
        backend.balancer_url,
        [backend.node_url(i) for i in range(count)],
        f"{options.seed}x{stamp[9:15]}",
        workload_rng,
        config,
        clock,
        history,
    )
    faults = plan(schedule_rng, options.duration_s, options.nemeses, count, workload.counters[:2])
    log.info(
        "chaos: run %s, %.0f s at %.0f ops/s, %d faults planned (%s); results in %s",
        run_id,
        options.duration_s,
        options.rate,
        len(faults),
        ", ".join(f.kind for f in faults) or "none",
        directory,
    )
    nemesis = Nemesis(backend, clock.now)
    await nemesis.wait_healthy(timeout_s=60.0)
    clock.restart()  # time 0 is when the workload starts
    recovered, final_heal_s, agreed = False, None, False
    nemesis_error: str | None = None
    progress = asyncio.create_task(_progress(workload, nemesis, options))
    try:
        generating = asyncio.create_task(workload.run(until=options.duration_s))
        faulting = asyncio.create_task(nemesis.run(faults, until=options.duration_s))
        await generating
        if not faulting.done():
            faulting.cancel()
        try:
            await faulting
        except asyncio.CancelledError:
            pass
        except ClusterError as exc:
            # A fault that could not be injected or undone: the run goes on to heal and judge
            # what happened, and the verdict says so.
            nemesis_error = str(exc)
            log.error("chaos: the nemesis stopped: %s", exc)
    finally:
        end = clock.now()
        try:
            final_heal_s = round(await nemesis.heal_all(timeout_s=120.0), 2)
            recovered = True
            log.info(
                "chaos: healed; every node healthy with all members after %.1f s", final_heal_s
            )
        except ClusterError as exc:
            log.error("chaos: the cluster did not recover after the final heal: %s", exc)
        await workload.drain(deadline_s=config.retry_for_s + 10.0)
        progress.cancel()
        if recovered:
            agreed = await workload.final_reads()
        await workload.close()

    outcome = {
        "recovered": recovered,
        "final_heal_s": final_heal_s,
        "final_reads_agreed": agreed,
        "nemesis_error": nemesis_error,
        "workload_end_s": round(end, 3),
    }
    history.write(directory / "history.jsonl")
    verdict = _write(directory, history, nemesis.windows, options, run_id, outcome)
    log.info(
        "chaos: %s: %d operations, %d acknowledged writes, %d lost, %d faults; report %s",
        "VALID" if verdict["valid"] else "INVALID",
        verdict["operations"],
        verdict["acknowledged"],
        verdict["lost"],
        len(verdict["faults"]),
        directory / "report.html",
    )
    return ChaosResult(directory, verdict)


def _write(
    directory: Path,
    history: History,
    faults: Sequence[FaultWindow],
    options: ChaosOptions,
    run_id: str,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    end = float(outcome["workload_end_s"])
    verdict = judge(history, faults, end, options, run_id) | outcome
    verdict["valid"] = bool(verdict["valid"] and outcome["recovered"])
    (directory / "verdict.json").write_text(json.dumps(verdict, indent=2, default=str) + "\n")
    (directory / "report.html").write_text(report.render(verdict, list(history), faults, end))
    return verdict


def rejudge(directory: Path) -> ChaosResult:
    """Check a finished run's history again and rewrite its verdict.json and report.html.

    For runs recorded before a checker or the report changed: the history and the fault windows
    are the facts; what was observed at the end of the run (recovery, final-read agreement) is
    kept from the old verdict.
    """
    old = json.loads((directory / "verdict.json").read_text())
    history = History.read(directory / "history.jsonl")
    faults = [
        FaultWindow(f["kind"], tuple(f["nodes"]), f["started"], f["healed"], f["detail"])
        for f in old["faults"]
    ]
    options = ChaosOptions(
        duration_s=old["duration_s"],
        seed=old["seed"],
        nemeses=tuple(old["nemeses"]),
        rate=old["rate"],
        node_environment=old.get("node_environment") or {},
    )
    last = max((op.completed for op in history if op.phase == "run"), default=0.0)
    outcome = {
        "recovered": old["recovered"],
        "final_heal_s": old.get("final_heal_s"),
        "final_reads_agreed": old.get("final_reads_agreed"),
        "nemesis_error": old.get("nemesis_error"),
        "workload_end_s": old.get("workload_end_s") or max(old["duration_s"], last),
    }
    return ChaosResult(directory, _write(directory, history, faults, options, old["run"], outcome))


def judge(
    history: History,
    faults: Sequence[Any],
    end: float,
    options: ChaosOptions,
    run_id: str,
) -> dict[str, Any]:
    """Run every checker over the history and gather the verdict (without the recovery fields)."""
    ops = list(history)
    counters = checkers.check_counters(ops)
    kv = checkers.check_kv(ops)
    linear = checkers.check_linearizability(ops)
    availability = checkers.check_availability(ops, faults, end)
    during = [op for op in ops if op.phase == "run"]
    return {
        "valid": counters.valid and kv.valid,
        "run": run_id,
        "seed": options.seed,
        "duration_s": options.duration_s,
        "rate": options.rate,
        "nemeses": list(options.nemeses),
        "command": options.command,
        "node_environment": options.node_environment,
        "operations": len(during),
        "acknowledged": sum(op.acknowledged for op in during),
        "indeterminate": sum(op.outcome == "indeterminate" for op in during),
        "failed": sum(op.outcome == "failed" for op in during),
        "lost": counters.lost + kv.lost,
        "faults": [f.to_dict() for f in faults],
        "checkers": {
            "counters": counters.to_dict(),
            "kv": kv.to_dict(),
            "linearizability": linear.to_dict(),
            "availability": availability.to_dict(),
        },
    }


async def _progress(workload: Workload, nemesis: Nemesis, options: ChaosOptions) -> None:
    while True:
        await asyncio.sleep(options.progress_s)
        s = workload.stats
        log.info(
            "t=%5.1fs ops: %d ok, %d failed, %d indeterminate, %d in flight%s | %s",
            workload.clock.now(),
            s.ok,
            s.failed,
            s.indeterminate,
            len(workload.tasks),
            f", {s.skipped} skipped" if s.skipped else "",
            nemesis.current or "no fault",
        )
