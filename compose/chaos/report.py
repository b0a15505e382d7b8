"""The run's report: one self-contained HTML page, a timeline picture and the checkers' evidence.

The timeline (matplotlib, embedded as a base64 PNG so the page travels alone) has three panels
sharing the time axis: answered operations per second, the latency of each answered operation,
and unavailable operations per second; every fault window is shaded across all three and named
at the top. Below it, tables: the faults with their availability and recovery, then each
checker's evidence, problems first.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from compose.chaos.checkers import is_unavailable
from compose.chaos.history import FaultWindow, Operation

_FAULT_COLOURS = {
    "kill": "#e4572e",
    "owner": "#a4243b",
    "pause": "#f3a712",
    "isolate": "#29335c",
    "split": "#669bbc",
    "restart": "#4c956c",
    "unfinished": "#999999",
}


def timeline_png(
    history: Sequence[Operation], faults: Sequence[FaultWindow], end: float, bucket_s: float = 0.5
) -> bytes:
    """The timeline picture as PNG bytes (see the module docstring for what it shows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [op for op in history if op.phase == "run"]
    buckets = max(1, int(end / bucket_s) + 1)
    times = [i * bucket_s for i in range(buckets)]
    reads, writes, errors, refused = (
        [0.0] * buckets,
        [0.0] * buckets,
        [0.0] * buckets,
        [0.0] * buckets,
    )
    for op in ops:
        b = min(buckets - 1, max(0, int(op.completed / bucket_s)))
        if is_unavailable(op):
            errors[int(min(buckets - 1, op.invoked / bucket_s))] += 1 / bucket_s
        elif op.outcome == "failed":
            refused[b] += 1 / bucket_s
        elif op.is_write:
            writes[b] += 1 / bucket_s
        else:
            reads[b] += 1 / bucket_s

    fig, (ax_rate, ax_latency, ax_errors) = plt.subplots(
        3, 1, figsize=(12, 7.5), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.2]}
    )
    ax_rate.stackplot(
        times,
        writes,
        reads,
        labels=["writes acknowledged", "reads answered"],
        colors=["#3a86ff", "#8ecae6"],
        step="post",
    )
    ax_rate.set_ylabel("answered / s")
    ax_rate.legend(loc="upper right", fontsize=8)

    for target, colour, label in (
        ("balancer", "#3a86ff", "via balancer"),
        (None, "#fb8500", "direct to a node"),
    ):
        chosen = [
            op
            for op in ops
            if op.outcome == "ok" and (op.target == "balancer") == (target is not None)
        ]
        ax_latency.scatter(
            [op.invoked for op in chosen],
            [max(op.latency * 1000, 0.1) for op in chosen],
            s=4,
            alpha=0.5,
            color=colour,
            label=label,
            linewidths=0,
        )
    ax_latency.set_yscale("log")
    ax_latency.set_ylabel("latency (ms)")
    ax_latency.legend(loc="upper right", fontsize=8, markerscale=3)

    ax_errors.bar(
        times,
        errors,
        width=bucket_s,
        align="edge",
        color="#d62828",
        label="unavailable (5xx, timeout, refused)",
    )
    ax_errors.bar(
        times,
        refused,
        width=bucket_s,
        align="edge",
        bottom=errors,
        color="#adb5bd",
        label="refused by rule (412, 4xx)",
    )
    ax_errors.set_ylabel("errors / s")
    ax_errors.set_xlabel("seconds since the run started")
    ax_errors.legend(loc="upper right", fontsize=8)

    for fault in faults:
        stop = fault.healed if fault.healed is not None else end
        colour = _FAULT_COLOURS.get(fault.kind, "#999999")
        for ax in (ax_rate, ax_latency, ax_errors):
            ax.axvspan(fault.started, stop, color=colour, alpha=0.18, linewidth=0)
        label = fault.kind + (
            " " + ",".join(map(str, fault.nodes)) if fault.kind != "split" else ""
        )
        ax_rate.annotate(
            label,
            xy=(fault.started, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=8,
            color=colour,
            va="bottom",
        )
    ax_errors.set_xlim(0, end)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def render(
    verdict: Mapping[str, Any],
    history: Sequence[Operation],
    faults: Sequence[FaultWindow],
    end: float,
) -> str:
    """The whole report page as HTML text."""
    picture = base64.b64encode(timeline_png(history, faults, end)).decode()
    checkers = verdict["checkers"]
    valid = bool(verdict["valid"])
    badge = (
        '<span class="badge ok">VALID: no acknowledged write lost</span>'
        if valid
        else '<span class="badge bad">INVALID: see the problems below</span>'
    )
    summary = {
        "seed": verdict["seed"],
        "duration (s)": verdict["duration_s"],
        "nemeses": ", ".join(verdict["nemeses"]),
        "operations": verdict["operations"],
        "acknowledged writes": verdict["acknowledged"],
        "indeterminate": verdict["indeterminate"],
        "failed": verdict["failed"],
        "acknowledged writes lost": verdict["lost"],
        "faults injected": len(verdict["faults"]),
        "cluster recovered": verdict["recovered"],
        "recovery wait after the final heal (s)": verdict["final_heal_s"],
        "final reads agreed on every node": verdict["final_reads_agreed"],
    }
    if verdict.get("nemesis_error"):
        summary["nemesis stopped early"] = verdict["nemesis_error"]
    if verdict.get("node_environment"):
        settings = verdict["node_environment"].items()
        summary["node settings"] = ", ".join(f"{k}={v}" for k, v in settings)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>chaos run {_e(verdict['run'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Chaos run {_e(verdict['run'])} {badge}</h1>",
        f"<p class='muted'>Reproduce: <code>{_e(verdict['command'])}</code></p>",
        _table(["", ""], [[k, v] for k, v in summary.items()]),
        "<h2>Timeline</h2>",
        f"<img alt='throughput, latency and errors over time, fault windows shaded'"
        f" src='data:image/png;base64,{picture}'>",
        "<h2>Faults, availability and recovery</h2>",
        _faults(checkers["availability"]),
        "<h2>Counters: final value within [acknowledged, attempted]</h2>",
        _counters(checkers["counters"]),
        "<h2>KV registers: final value is the last acknowledged write (or an unknown one)</h2>",
        _registers(checkers["kv"]),
        "<h2>KV linearizability (informational: casty reads are not linearizable)</h2>",
        _linearizability(checkers["linearizability"]),
        "<h2>Latency of answered operations (ms)</h2>",
        _latency(checkers["availability"]["latency_ms"]),
        "<p class='muted'>Files beside this page: <code>verdict.json</code> (everything above as"
        " data) and <code>history.jsonl</code> (one line per operation).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _faults(availability: Mapping[str, Any]) -> str:
    rows = []
    for w in availability["windows"]:
        rows.append(
            [
                w["kind"],
                w["detail"],
                f"{w['started']:.1f}",
                "-" if w["healed"] is None else f"{w['healed']:.1f}",
                w["operations"],
                _percent(w["availability"]),
                _percent(w["balancer_availability"]),
                "-" if w["recovery_s"] is None else f"{w['recovery_s']:.0f}",
                "-"
                if w["last_error_after_heal_s"] is None
                else f"{w['last_error_after_heal_s']:.1f}",
                "yes" if w["recovered"] else "NO",
            ]
        )
    head = [
        "fault",
        "what",
        "start (s)",
        "healed (s)",
        "operations",
        "available",
        "via balancer",
        "recovery (s)",
        "last error after heal (s)",
        "recovered",
    ]
    steady = _percent(availability["steady_availability"])
    note = (
        f"<p>Outside the fault windows: {steady} available. Recovery: seconds from the heal"
        " until every later second, up to the next fault, had 90% of its operations answered.</p>"
    )
    return _table(head, rows) + note


def _counters(result: Mapping[str, Any]) -> str:
    rows = []
    for c in sorted(result["counters"], key=lambda c: c["valid"]):
        rows.append(
            [
                _status(c["valid"]),
                c["entity"],
                ", ".join(map(str, c["finals"])) or "-",
                f"[{c['lower']}, {c['upper']}]" + (" exact" if c["exact"] else ""),
                c["acknowledged"],
                c["indeterminate"],
                c["failed"],
                c["idempotent"],
                c["problem"] or "",
            ]
        )
    head = ["", "counter", "final", "bounds", "acked", "unknown", "failed", "idempotent", "problem"]
    lost = "".join(
        f"<details><summary>{len(c['lost'])} lost increments of {_e(c['entity'])}</summary>"
        f"{_ops(c['lost'])}</details>"
        for c in result["counters"]
        if c["lost"]
    )
    return _table(head, rows) + lost


def _registers(result: Mapping[str, Any]) -> str:
    rows = []
    for r in sorted(result["registers"], key=lambda r: r["valid"]):
        rows.append(
            [
                _status(r["valid"]),
                f"{r['entity']} / {r['key']}",
                ", ".join(map(str, r["finals"])) or "-",
                _allowed(r),
                r["acknowledged"],
                r["indeterminate"],
                r["problem"] or "",
            ]
        )
    head = ["", "register", "final", "last acknowledged write(s)", "acked", "unknown", "problem"]
    lost = "".join(
        f"<details open><summary>lost writes of {_e(r['entity'])} / {_e(r['key'])}</summary>"
        f"{_ops(r['lost'])}</details>"
        for r in result["registers"]
        if r["lost"]
    )
    return _table(head, rows) + lost


def _allowed(register: Mapping[str, Any]) -> str:
    last = [str(w["value"]) for w in register["last_acknowledged"]]
    unknown = len(register["allowed"]) - len(last)
    text = ", ".join(last) or "missing (nothing acknowledged)"
    return text + (f" or one of {unknown} writes of unknown outcome" if unknown > 0 else "")


def _linearizability(result: Mapping[str, Any]) -> str:
    rows = []
    for r in result["registers"]:
        verdict = {True: "yes", False: "NO", None: "unknown (budget)"}[r["linearizable"]]
        first = "-" if r["first_violation_at"] is None else f"{r['first_violation_at']:.2f}"
        rows.append(
            [f"{r['entity']} / {r['key']}", r["operations"], verdict, first, len(r["stale_reads"])]
        )
    stale = [s for r in result["registers"] for s in r["stale_reads"]]
    stale_rows = [
        [
            f"{s['read']['invoked']:.2f}",
            f"{s['read']['entity']} / {s['read'].get('key')}",
            s["read"].get("target", s["read"].get("node", "-")),
            s["read"].get("result"),
            s["overwritten_by"].get("value"),
            f"{s['staleness_s']:.2f}",
        ]
        for s in sorted(stale, key=lambda s: s["read"]["invoked"])[:50]
    ]
    text = (
        f"<p>{result['linearizable']} registers linearizable, {result['violations']} not,"
        f" {result['unknown']} undecided within the search budget; {result['stale_reads']}"
        " stale reads (a value already overwritten before the read began).</p>"
    )
    head = ["register", "operations", "linearizable", "first violation (s)", "stale reads"]
    body = text + _table(head, rows)
    if stale_rows:
        body += (
            "<details><summary>stale reads (first 50)</summary>"
            + _table(
                [
                    "at (s)",
                    "register",
                    "answered by node",
                    "read",
                    "already overwritten by",
                    "stale for (s)",
                ],
                stale_rows,
            )
            + "</details>"
        )
    return body


def _latency(latency: Mapping[str, Mapping[str, float]]) -> str:
    rows = [
        [kind, v["count"], v["p50"], v["p90"], v["p99"], v["max"]] for kind, v in latency.items()
    ]
    return _table(["kind", "answered", "p50", "p90", "p99", "max"], rows)


def _ops(ops: Iterable[Mapping[str, Any]]) -> str:
    keys = ["id", "kind", "invoked", "completed", "outcome", "value", "result", "node", "status"]
    return _table(keys, [[op.get(k, "") for k in keys] for op in ops])


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = ["<table>"]
    if any(head):
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, str) and value.startswith("<span"):
        return value
    return _e(value)


def _status(valid: bool) -> str:
    return '<span class="ok">ok</span>' if valid else '<span class="bad">LOST</span>'


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _e(value: Any) -> str:
    return html.escape(str(value))


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em 2em; color: #222; max-width: 1400px }
h1 { font-size: 1.5em } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd }
table { border-collapse: collapse; margin: .5em 0 } td, th { padding: 3px 9px; text-align: left;
  border-bottom: 1px solid #eee; vertical-align: top } th { background: #f5f5f5 }
img { max-width: 100%; border: 1px solid #ddd } code { background: #f3f3f3; padding: 1px 4px }
.badge { font-size: .7em; padding: 4px 10px; border-radius: 4px; vertical-align: middle }
.badge.ok { background: #2b9348; color: white } .badge.bad { background: #d62828; color: white }
span.ok { color: #2b9348 } span.bad { color: #d62828; font-weight: bold } .muted { color: #666 }
"""
