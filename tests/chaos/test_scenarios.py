"""Short seeded chaos runs against the local ten-node cluster, one per nemesis.

Each runs the checked workload under one kind of fault, heals, and asserts what casty promises
(no acknowledged write lost, counters within their bounds) and that the cluster became whole
again. Availability and linearizability are reported in the run's report.html, not asserted:
timings on a two-core machine are too noisy to gate on. Reports go to results/chaos/tests/.

Needs root (network namespaces); about 40 s per scenario, four to five minutes in all.
"""

from __future__ import annotations

import pytest

from compose.backend import Backend
from compose.chaos.nemesis import NemesisKind
from compose.chaos.run import RESULTS, ChaosOptions, ChaosResult, run_chaos

pytestmark = [pytest.mark.chaos, pytest.mark.root, pytest.mark.slow]


async def scenario(
    backend: Backend, nemesis: NemesisKind, seed: int, duration_s: float = 25.0
) -> ChaosResult:
    options = ChaosOptions(
        duration_s=duration_s,
        seed=seed,
        nemeses=(nemesis,),
        rate=30.0,
        results=RESULTS / "tests",
        progress_s=10.0,
    )
    result = await run_chaos(backend, options)
    verdict = result.verdict
    where = f"see {result.directory / 'report.html'}"
    assert verdict["recovered"], f"the cluster did not become whole after the heal; {where}"
    assert [f["kind"] for f in verdict["faults"]].count(nemesis) >= 1, (
        f"no {nemesis} fault; {where}"
    )
    assert verdict["operations"] >= 300, f"too few operations to prove anything; {where}"
    counters, kv = verdict["checkers"]["counters"], verdict["checkers"]["kv"]
    assert counters["valid"], f"counter bounds broken: {_problems(counters['counters'])}; {where}"
    assert kv["valid"], f"acknowledged KV writes lost: {_problems(kv['registers'])}; {where}"
    assert verdict["lost"] == 0
    assert result.valid
    return result


def _problems(evidence: list[dict[str, object]]) -> list[object]:
    return [e["problem"] for e in evidence if e["problem"]]


async def test_a_killed_node_loses_no_acknowledged_write_and_rejoins(
    local_cluster: Backend,
) -> None:
    await scenario(local_cluster, "kill", seed=101)


async def test_a_paused_node_loses_no_acknowledged_write_and_catches_up(
    local_cluster: Backend,
) -> None:
    await scenario(local_cluster, "pause", seed=102)


async def test_an_isolated_node_loses_no_acknowledged_write_and_rejoins(
    local_cluster: Backend,
) -> None:
    await scenario(local_cluster, "isolate", seed=103)


async def test_a_split_cluster_loses_no_acknowledged_write_and_heals(
    local_cluster: Backend,
) -> None:
    await scenario(local_cluster, "split", seed=104)


async def test_a_killed_owner_loses_no_acknowledged_increment(local_cluster: Backend) -> None:
    await scenario(local_cluster, "owner", seed=105)


async def test_a_rolling_restart_loses_no_acknowledged_write(local_cluster: Backend) -> None:
    await scenario(local_cluster, "restart", seed=106, duration_s=36.0)
