"""The verdict and the report, built from a small hand-written history. No cluster, no root."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from compose.chaos.history import FaultWindow, History, Operation
from compose.chaos.report import render
from compose.chaos.run import ChaosOptions, judge, rejudge


def history_of(*ops: tuple[str, float, str, dict[str, object]]) -> History:
    history = History()
    for kind, at, outcome, fields in ops:
        entity = "c" if kind in ("increment", "counter_read") else "m"
        history.record(
            Operation(
                id=history.next_id(),
                client="t",
                target="balancer",
                kind=kind,  # type: ignore[arg-type]
                entity=entity,
                invoked=at,
                completed=at + 0.05,
                outcome=outcome,  # type: ignore[arg-type]
                **fields,  # type: ignore[arg-type]
            )
        )
    return history


KILL = FaultWindow("kill", (3,), 1.0, 2.0, "kill node3 (SIGKILL), start after 1.0 s")


def test_a_clean_history_gives_a_valid_verdict_and_a_report_with_the_timeline_and_faults() -> None:
    history = history_of(
        ("increment", 0.1, "ok", {"value": 2, "result": 2}),
        ("increment", 1.5, "indeterminate", {"value": 3, "status": 504}),
        ("kv_write", 0.2, "ok", {"key": "k", "value": "a"}),
        ("counter_read", 5.0, "ok", {"result": 5, "phase": "final"}),
        ("kv_read", 5.0, "ok", {"key": "k", "result": "a", "phase": "final"}),
    )
    verdict = judge(history, [KILL], 3.0, ChaosOptions(duration_s=3.0, seed=9), "test-run")
    verdict |= {"recovered": True, "final_heal_s": 0.5, "final_reads_agreed": True}
    assert verdict["valid"]
    assert (verdict["operations"], verdict["acknowledged"], verdict["lost"]) == (3, 2, 0)
    assert verdict["faults"][0]["kind"] == "kill"
    page = render(verdict, list(history), [KILL], 3.0)
    assert "VALID: no acknowledged write lost" in page
    assert "kill node3 (SIGKILL)" in page
    assert "just chaos --duration 3 --seed 9" in page
    picture = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert picture is not None
    assert base64.b64decode(picture.group(1)).startswith(b"\x89PNG")


def test_a_lost_write_makes_the_verdict_invalid_and_the_report_names_it() -> None:
    history = history_of(
        ("kv_write", 0.2, "ok", {"key": "k", "value": "a"}),
        ("kv_write", 0.4, "ok", {"key": "k", "value": "b"}),
        ("kv_read", 5.0, "ok", {"key": "k", "result": "a", "phase": "final"}),
    )
    verdict = judge(history, [], 3.0, ChaosOptions(duration_s=3.0, seed=9), "test-run")
    verdict |= {"recovered": True, "final_heal_s": 0.5, "final_reads_agreed": True}
    assert not verdict["valid"]
    assert verdict["lost"] == 1
    page = render(verdict, list(history), [], 3.0)
    assert "INVALID" in page
    assert "lost writes of m / k" in page


def test_a_finished_run_can_be_judged_again_from_its_files(tmp_path: Path) -> None:
    history = history_of(
        ("kv_write", 0.2, "ok", {"key": "k", "value": "a"}),
        ("kv_read", 5.0, "ok", {"key": "k", "result": "a", "phase": "final"}),
    )
    history.write(tmp_path / "history.jsonl")
    old = judge(history, [KILL], 3.0, ChaosOptions(duration_s=3.0, seed=9), "test-run")
    old |= {"recovered": True, "final_heal_s": 0.5, "final_reads_agreed": True, "valid": False}
    (tmp_path / "verdict.json").write_text(json.dumps(old))
    result = rejudge(tmp_path)
    assert result.valid
    assert json.loads((tmp_path / "verdict.json").read_text())["faults"] == old["faults"]
    assert "VALID" in (tmp_path / "report.html").read_text()
