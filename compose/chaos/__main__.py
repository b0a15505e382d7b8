"""`python -m compose.chaos`: a chaos run against the local cluster, with a verdict and a report.

Uses the cluster that is up (from `just local-up`) or brings one up and takes it down after.
Exits 0 only when the verdict is valid: no acknowledged write lost, and the cluster recovered.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from pathlib import Path

from compose.backend import ClusterError, open_backend
from compose.chaos.failover import with_environment
from compose.chaos.nemesis import NEMESES, NemesisKind
from compose.chaos.run import RESULTS, ChaosOptions, rejudge, run_chaos
from compose.topology import load_topology

log = logging.getLogger("harness.chaos")


def _nemeses(text: str) -> tuple[NemesisKind, ...]:
    if text.strip() == "none":
        return ()  # a baseline run: the workload and the checkers, no fault
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in chosen if name not in NEMESES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown nemesis {', '.join(unknown)}: choose from {','.join(NEMESES)}"
        )
    return tuple(n for n in NEMESES if n in chosen)


def _environment(text: str) -> dict[str, str]:
    pairs = [part.strip() for part in text.split(",") if part.strip()]
    bad = [pair for pair in pairs if "=" not in pair]
    if bad:
        raise argparse.ArgumentTypeError(f"--node-env {', '.join(bad)}: expected NAME=VALUE")
    return dict(pair.split("=", 1) for pair in pairs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compose.chaos",
        description="Run a workload under injected faults and check that no acknowledged"
        " write is lost. Writes results/chaos/<time>-<seed>/{verdict.json,history.jsonl,"
        "report.html}.",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of workload (60)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the schedule (random)")
    parser.add_argument(
        "--nemesis",
        type=_nemeses,
        default=NEMESES,
        help=f"comma-separated faults to use ({','.join(NEMESES)}), or none",
    )
    parser.add_argument("--rate", type=float, default=40.0, help="operations per second (40)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where runs are written")
    parser.add_argument("--backend", default=None, help="namespaces or docker (auto)")
    parser.add_argument(
        "--rejudge",
        type=Path,
        metavar="RUN_DIR",
        help="check a finished run's history again and rewrite its verdict and report; no cluster",
    )
    parser.add_argument(
        "--node-env",
        type=_environment,
        default={},
        help="extra node settings, e.g. HEARTBEAT_MS=250,SUSPECT_AFTER_MS=1000; needs a cluster"
        " of its own (refused while one is up)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print where the report is; the exit status is the verdict."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per request would drown the progress lines; httpx logs each at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.rejudge is not None:
        result = rejudge(args.rejudge)
        print(f"{'VALID' if result.valid else 'INVALID'}: {result.directory / 'report.html'}")
        return 0 if result.valid else 1
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    if args.duration < 10:
        print(f"--duration is {args.duration:g}: a run needs at least 10 s", file=sys.stderr)
        return 2
    options = ChaosOptions(
        duration_s=args.duration,
        seed=seed,
        nemeses=args.nemesis,
        rate=args.rate,
        results=args.results,
        node_environment=args.node_env,
    )
    try:
        topology = with_environment(load_topology(), args.node_env)
        backend = open_backend(args.backend, topology)
        started = False
        if args.node_env and backend.is_up():
            raise ClusterError(
                "--node-env needs a cluster of its own, started with those settings, and one is"
                " already up: run `just local-down` first"
            )
        if not backend.is_up():
            log.info("chaos: no cluster running; bringing one up (it is taken down after)")
            backend.up()
            started = True
        try:
            result = asyncio.run(run_chaos(backend, options))
        finally:
            if started:
                log.info("chaos: taking down the cluster this run brought up")
                backend.down()
    except ClusterError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    verdict = result.verdict
    print(
        f"{'VALID' if result.valid else 'INVALID'}: {verdict['operations']} operations,"
        f" {verdict['acknowledged']} acknowledged writes, {verdict['lost']} lost,"
        f" {len(verdict['faults'])} faults, recovered: {verdict['recovered']}\n"
        f"report: {result.directory / 'report.html'}"
    )
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
