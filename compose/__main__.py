"""`python -m compose`: run the local cluster (see `--help`, and the README's compose section)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from compose.backend import BACKENDS, Backend, ClusterError, open_backend
from compose.health import balancer_health, client, view
from compose.namespaces import NamespaceBackend

log = logging.getLogger("compose")

USAGE = """\
python -m compose [--backend namespaces|docker] COMMAND

commands:
  up                 start everything; wait until all nodes are members and healthy
  down               remove everything the backend made (idempotent)
  status             a table: node, address, health, members it sees, process
  logs [SERVICE]     follow the logs of one node (index or name), `alb`, or all
  kill N             SIGKILL node N          start N    start node N again
  stop N             SIGTERM node N: it drains and leaves; waits until it exited
  pause N            SIGSTOP node N          resume N   SIGCONT node N
  isolate N          cut node N off from every other node and the balancer
  split A B          sides A and B (comma-separated indexes) cannot reach each other
  heal               undo every isolate and split
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compose", usage=USAGE)
    parser.add_argument(
        "--backend", choices=BACKENDS, help="override the choice (also CASTY_BACKEND)"
    )
    parser.add_argument("command")
    parser.add_argument("arguments", nargs="*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        backend = open_backend(args.backend)
        return _dispatch(backend, args.command, args.arguments)
    except (ClusterError, IndexError) as error:  # IndexError: a node index out of range
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(backend: Backend, command: str, arguments: list[str]) -> int:
    def one_node() -> int:
        if len(arguments) != 1 or not arguments[0].isdigit():
            raise ClusterError(f"{command} takes one node index, e.g. `{command} 3`")
        return int(arguments[0])

    if command == "up":
        return _up(backend)
    if command == "down":
        log.info("removing the local cluster (%s backend)", backend.name)
        backend.down()
        log.info("down: nothing of the cluster is left")
        return 0
    if command == "status":
        return _status(backend)
    if command == "logs":
        service = arguments[0] if arguments else None
        if service is not None and service.isdigit():
            service = backend.topology.node(int(service)).name
        follow = backend.logs_command(service)
        os.execvp(follow[0], follow)
    actions = {
        "kill": backend.kill,
        "start": backend.start,
        "stop": backend.stop,
        "pause": backend.pause,
        "resume": backend.resume,
        "isolate": backend.isolate,
    }
    if command in actions:
        actions[command](one_node())
        return 0
    if command == "heal":
        backend.heal()
        return 0
    if command == "split":
        if len(arguments) != 2:
            raise ClusterError("split takes two sides, e.g. `split 0,1,2,3 4,5,6,7,8,9`")
        side_a, side_b = (_indexes(side) for side in arguments)
        backend.split(side_a, side_b)
        return 0
    raise ClusterError(f"unknown command {command!r}; see `python -m compose --help`")


def _up(backend: Backend) -> int:
    log.info("starting the local cluster with the %s backend", backend.name)
    started = time.monotonic()
    backend.up()
    elapsed = time.monotonic() - started
    log.info("")
    log.info(
        "the cluster is up: %d nodes, in %.1f s (%s backend)",
        len(backend.topology.nodes),
        elapsed,
        backend.name,
    )
    log.info("  balancer  %s", backend.balancer_url)
    for index, node in enumerate(backend.topology.nodes):
        log.info("  node%-5d %s  (%s)", index, backend.node_url(index), node.address)
    log.info("`just local-status` shows it, `just local-down` removes it")
    return 0


def _status(backend: Backend) -> int:
    if not backend.is_up():
        log.info("the local cluster is not up (%s backend)", backend.name)
        return 3
    count = len(backend.topology.nodes)
    rows = [("node", "address", "url", "health", "members alive", "process")]
    healthy = 0
    with client(timeout=1.5) as http:
        for index, node in enumerate(backend.topology.nodes):
            seen = view(http, backend.node_url(index))
            healthy += seen.healthy
            health = "no answer" if seen.health is None else str(seen.health)
            members = "-" if seen.alive is None else f"{seen.alive}/{seen.members}"
            rows.append(
                (
                    f"node{index}",
                    node.address,
                    backend.node_url(index),
                    health,
                    members,
                    backend.process(index),
                )
            )
        balancer = balancer_health(http, backend.balancer_url)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        log.info("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    log.info("")
    if isinstance(backend, NamespaceBackend):
        for fault in backend.faults():
            log.info("fault in force: %s", fault)
    log.info(
        "balancer %s: /health %s; %d/%d nodes healthy (%s backend)",
        backend.balancer_url,
        "no answer" if balancer is None else balancer,
        healthy,
        count,
        backend.name,
    )
    return 0


def _indexes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ClusterError(f"side {text!r}: expected comma-separated node indexes") from None


if __name__ == "__main__":
    sys.exit(main())
