"""Side-by-side benchmarks: what a node costs above bare Quart, and what the cluster's size costs.

    python -m loadtest.bench node      # bare endpoint against one node: the two ratios
    python -m loadtest.bench all       # that, then 1, 3 and 10 nodes behind HAProxy

Everything compared is measured in the same run on the same machine, so the figures that matter
are ratios, not absolutes: on two shared cores an absolute throughput says as much about the
neighbours as about the code.

- **node**: a bare Quart/Hypercorn endpoint (`loadtest.bare`, the node's own server settings and
  JSON encoder) and one node, both on loopback, loaded in alternating rounds with counter reads
  and counter increments. The ratios node/bare are the medians of the per-round ratios.
- **cluster**: 1 and 3 nodes as processes on loopback addresses (127.77.x.x), each behind an
  HAProxy started from `compose/haproxy.cfg` with only its bind address and servers changed, and
  the ten-node cluster of the namespace backend behind its own HAProxy. For each: throughput,
  p50/p99 latency and the CPU time per request of every server process (nodes and balancer,
  read from /proc before and after each measurement).

The load generator is wrk (Debian package `wrk`) with `loadtest/wrk.lua`: one thread of C with an
event loop and a fixed number of keep-alive connections costs a fraction of the CPU a Python
client would, which matters when it shares two cores with the servers it measures. Its own CPU
time is recorded too. A closed loop with fixed connections measures throughput at saturation, and
its latencies are those of a saturated server (wrk does not correct for coordinated omission).

- **instructions**: the bare endpoint and one node each under valgrind's callgrind, sent the
  same fixed number of reads and increments by a small client: user-space instructions per
  request. Unlike throughput and CPU time, the counts repeat within about 1% whatever else the
  machine runs, so this ratio can judge a change to the node on a busy machine. It leaves out the
  kernel (syscalls, wake-ups between casty's threads and the event loop), which the throughput
  ratio includes. `--node-dir DIR` runs the node package found in DIR instead, to compare a
  change against the bare endpoint before it lands.

Results go to `results/bench/<UTC time>/`: `bench.json`, `bench.png` and the servers' logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WRK_SCRIPT = REPO / "loadtest" / "wrk.lua"
HAPROXY_CFG = REPO / "compose" / "haproxy.cfg"
CLUSTER_STATE = Path("/run/casty-cluster/state.json")
PYTHON = REPO / ".venv" / "bin" / "python"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Loopback addresses and ports of the processes this benchmark starts: a /16 of 127.0.0.0/8 and
# ports that neither the ten-node cluster (8080, 8100-8109) nor the node's tests use.
BARE = ("127.77.0.100", 19001)
SINGLE = "127.77.0.1"
ONE = "127.77.2.1"
TRIO = ("127.77.1.1", "127.77.1.2", "127.77.1.3")
BALANCER = ("127.77.0.250", 19080)
HTTP_PORT = 19000
CASTY_PORT = 19520
TARGETS = {"node": 0.85, "increment": 0.75}
"""The issue's targets: node reads / bare reads >= 0.85, node increments / bare >= 0.75."""


class BenchError(RuntimeError):
    """The benchmark cannot run or a measurement is not trustworthy; the message says why."""


@dataclass
class Measurement:
    """One wrk run against one target: throughput, latency and the CPU it cost."""

    target: str
    operation: str
    requests: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu_s: float | None
    cpu_ms_per_request: float | None
    client_cpu_s: float


@dataclass
class Options:
    seconds: float
    warmup: float
    rounds: int
    connections: int
    entities: int
    out: Path
    log_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_dir = self.out / "logs"


# ---- processes -------------------------------------------------------------------------------


class Servers:
    """The processes this benchmark starts; every one is ended by its pid when the block ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            child = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.children.append(child)
        return child.pid

    def check_alive(self) -> None:
        """Refuse to measure when a process died: whatever answers is then not ours."""
        for child in self.children:
            if child.poll() is not None:
                raise BenchError(
                    f"{str(child.args)[:120]} exited with status"
                    f" {child.returncode}; see the logs in {self.log_dir}"
                )

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()


@contextlib.contextmanager
def servers(log_dir: Path) -> Iterator[Servers]:
    started = Servers(log_dir)
    try:
        yield started
    finally:
        started.stop_all()


def start_node(
    started: Servers, index: int, ip: str, seed: str, extra_env: dict[str, str] | None = None
) -> int:
    env = {
        "NODE_INDEX": str(index),
        "SEED_IPS": seed,
        "NODE_IP": ip,
        "HTTP_HOST": ip,
        "HTTP_PORT": str(HTTP_PORT),
        "CASTY_PORT": str(CASTY_PORT),
        "DRAIN_SECONDS": "0",
        "LEAVE_TIMEOUT_S": "2",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    return started.start(f"node-{ip}", [str(PYTHON), "-m", "node"], env)


def start_balancer(started: Servers, log_dir: Path, nodes: Sequence[str]) -> int:
    """HAProxy with the cluster's own config, bound to BALANCER and pointing at `nodes`."""
    config = balancer_config(HAPROXY_CFG.read_text(), BALANCER, [(ip, HTTP_PORT) for ip in nodes])
    path = log_dir / f"haproxy-{len(nodes)}.cfg"
    path.write_text(config)
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise BenchError("haproxy is not installed (Debian: apt-get install haproxy)")
    return started.start(f"haproxy-{len(nodes)}", [haproxy, "-db", "-f", str(path)])


def balancer_config(text: str, bind: tuple[str, int], nodes: Sequence[tuple[str, int]]) -> str:
    """`compose/haproxy.cfg` with its bind address and every backend's servers replaced."""
    if not re.search(r"^\s*bind\s+\S+", text, re.M):
        raise BenchError(f"{HAPROXY_CFG}: no bind line to replace")
    text = re.sub(r"^(\s*)bind\s+\S+", rf"\g<1>bind {bind[0]}:{bind[1]}", text, flags=re.M)
    servers = "".join(f"    server node{i} {ip}:{port}\n" for i, (ip, port) in enumerate(nodes))
    lines, replaced = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\s*server\s", line):
            if not replaced:
                lines.append(servers)
                replaced = True
            continue
        replaced = False
        lines.append(line)
    return "".join(lines)


def refuse_if_taken(host: str, port: int) -> None:
    """A leftover server on the address would be measured instead of ours: refuse to start."""
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex((host, port)) == 0:
            raise BenchError(
                f"{host}:{port} already answers: a leftover benchmark server? End it by its pid"
                f" (ss -ltnp | grep {host}:{port})"
            )


def wait_healthy(url: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"status {error.code}"
        except OSError as error:
            last = str(error)
        time.sleep(0.3)
    raise BenchError(f"{url}/health: not 200 within {timeout_s:.0f} s (last: {last})")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time of `pids` (every thread), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total / CLOCK_TICKS


# ---- measuring -------------------------------------------------------------------------------


def wrk(
    url: str,
    operation: str,
    seconds: float,
    connections: int,
    entities: int,
    prefix: str,
    namespace: str | None = None,
) -> tuple[dict[str, Any], float]:
    """Run wrk once; its `BENCH` summary and the CPU seconds it used itself."""
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(WRK_SCRIPT), url, "--", operation, str(entities), prefix,
    ]  # fmt: skip
    if namespace is not None:
        argv = ["ip", "netns", "exec", namespace, *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            summary: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
            return summary, client_cpu
    raise BenchError(
        f"wrk against {url} printed no summary (status {done.returncode}):"
        f" {done.stderr.strip() or done.stdout.strip()}"
    )


def measure(
    target: str,
    url: str,
    operation: str,
    pids: Sequence[int],
    options: Options,
    namespace: str | None = None,
) -> Measurement:
    """Load `url` with `operation` for the configured time; refuses a run with errors."""
    prefix = f"bench{os.getpid()}"
    before = cpu_seconds(pids) if pids else None
    summary, client_cpu = wrk(
        url, operation, options.seconds, options.connections, options.entities, prefix, namespace
    )
    after = cpu_seconds(pids) if pids else None
    requests = int(summary["requests"])
    seconds = summary["duration_us"] / 1e6
    errors = {kind: int(n) for kind, n in summary["errors"].items() if n}
    if errors:
        raise BenchError(f"{target} {operation}: {requests} requests with errors {errors}")
    server_cpu = None if before is None or after is None else after - before
    measurement = Measurement(
        target=target,
        operation=operation,
        requests=requests,
        seconds=round(seconds, 3),
        throughput=round(requests / seconds, 1),
        p50_ms=summary["latency_us"]["p50"] / 1000,
        p99_ms=summary["latency_us"]["p99"] / 1000,
        errors=errors,
        server_cpu_s=None if server_cpu is None else round(server_cpu, 3),
        cpu_ms_per_request=None if server_cpu is None else round(1000 * server_cpu / requests, 4),
        client_cpu_s=round(client_cpu, 3),
    )
    print(
        f"  {target:<14} {operation:<9} {measurement.throughput:>8.0f} req/s"
        f"  p50 {measurement.p50_ms:6.1f} ms  p99 {measurement.p99_ms:6.1f} ms"
        + (
            f"  server CPU {measurement.cpu_ms_per_request:.3f} ms/req"
            if measurement.cpu_ms_per_request is not None
            else ""
        ),
        flush=True,
    )
    return measurement


def warm(url: str, options: Options, namespace: str | None = None) -> None:
    """Touch the key space with both operations so activations are not measured."""
    for operation in ("increment", "read"):
        wrk(
            url,
            operation,
            options.warmup,
            options.connections,
            options.entities,
            f"bench{os.getpid()}",
            namespace,
        )


def median_of(runs: Sequence[Measurement]) -> dict[str, Any]:
    """The per-field medians of repeated runs of one target and operation."""
    first = runs[0]
    cpu = [r.cpu_ms_per_request for r in runs if r.cpu_ms_per_request is not None]
    return {
        "target": first.target,
        "operation": first.operation,
        "runs": len(runs),
        "throughput": round(statistics.median(r.throughput for r in runs), 1),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "cpu_ms_per_request": round(statistics.median(cpu), 4) if cpu else None,
        "client_cpu_ms_per_request": round(
            statistics.median(1000 * r.client_cpu_s / r.requests for r in runs), 4
        ),
    }


# ---- the two benchmarks ----------------------------------------------------------------------


def bench_node(options: Options) -> dict[str, Any]:
    """Bare endpoint against one node, alternating, `rounds` times per operation."""
    print("bare Quart/Hypercorn endpoint against one node", flush=True)
    bare_url = f"http://{BARE[0]}:{BARE[1]}"
    node_url = f"http://{SINGLE}:{HTTP_PORT}"
    runs: dict[tuple[str, str], list[Measurement]] = {}
    with servers(options.log_dir) as started:
        refuse_if_taken(*BARE)
        refuse_if_taken(SINGLE, HTTP_PORT)
        bare_pid = started.start(
            "bare",
            [str(PYTHON), "-m", "loadtest.bare", "--host", BARE[0], "--port", str(BARE[1])],
        )
        node_pid = start_node(started, 0, SINGLE, SINGLE)
        wait_healthy(bare_url)
        wait_healthy(node_url)
        started.check_alive()
        warm(bare_url, options)
        warm(node_url, options)
        for _ in range(options.rounds):
            for operation in ("read", "increment"):
                for target, url, pid in (
                    ("bare", bare_url, bare_pid),
                    ("node", node_url, node_pid),
                ):
                    measurement = measure(target, url, operation, [pid], options)
                    runs.setdefault((target, operation), []).append(measurement)
    ratios: dict[str, Any] = {}
    for operation, target_ratio in (("read", TARGETS["node"]), ("increment", TARGETS["increment"])):
        paired = [
            node.throughput / bare.throughput
            for node, bare in zip(runs["node", operation], runs["bare", operation], strict=True)
        ]
        ratio = statistics.median(paired)
        # CPU per request is steadier than throughput on shared cores: bare CPU / node CPU is the
        # throughput ratio the two would have if each had a core of its own to saturate.
        cpu_paired = [
            (bare.cpu_ms_per_request or 0.0) / (node.cpu_ms_per_request or 1.0)
            for node, bare in zip(runs["node", operation], runs["bare", operation], strict=True)
        ]
        ratios[operation] = {
            "ratio": round(ratio, 3),
            "per_round": [round(r, 3) for r in paired],
            "cpu_ratio": round(statistics.median(cpu_paired), 3),
            "target": target_ratio,
            "met": ratio >= target_ratio,
        }
    return {
        "summary": [median_of(r) for r in runs.values()],
        "ratios": ratios,
        "runs": [asdict(m) for r in runs.values() for m in r],
    }


def bench_cluster(options: Options, sizes: Sequence[int]) -> dict[str, Any]:
    """1 and 3 nodes on loopback behind HAProxy, and the ten-node cluster behind its own."""
    print("cluster sizes behind HAProxy", flush=True)
    runs: list[Measurement] = []
    balancer_url = f"http://{BALANCER[0]}:{BALANCER[1]}"
    for size in sizes:
        if size == 10:
            runs += ten_nodes(options)
            continue
        addresses = (ONE,) if size == 1 else TRIO[:size]
        if len(addresses) != size:
            raise BenchError(f"cluster size {size}: only 1, 3 and 10 are supported")
        for ip in addresses:
            refuse_if_taken(ip, HTTP_PORT)
        refuse_if_taken(*BALANCER)
        with servers(options.log_dir) as started:
            pids = [start_node(started, i, ip, addresses[0]) for i, ip in enumerate(addresses)]
            for ip in addresses:
                wait_healthy(f"http://{ip}:{HTTP_PORT}")
            wait_for_members(f"http://{addresses[0]}:{HTTP_PORT}", size)
            pids.append(start_balancer(started, options.log_dir, addresses))
            wait_healthy(balancer_url)
            started.check_alive()
            warm(balancer_url, options)
            for _ in range(options.rounds):
                for operation in ("read", "increment"):
                    runs.append(measure(f"{size} node(s)", balancer_url, operation, pids, options))
    grouped: dict[tuple[str, str], list[Measurement]] = {}
    for run in runs:
        grouped.setdefault((run.target, run.operation), []).append(run)
    return {
        "summary": [median_of(r) for r in grouped.values()],
        "runs": [asdict(m) for m in runs],
    }


def wait_for_members(url: str, size: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    alive = 0
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/cluster/status", timeout=2) as answer:
            alive = int(json.load(answer)["alive"])
        if alive >= size:
            return
        time.sleep(0.3)
    raise BenchError(f"{url}: sees {alive} members alive, expected {size} within {timeout_s} s")


def ten_nodes(options: Options) -> list[Measurement]:
    """The namespace backend's cluster, up already or brought up (and down) here.

    wrk runs inside the balancer's namespace against HAProxy on that namespace's loopback, as it
    runs against the loopback HAProxy for 1 and 3 nodes: the host's published port goes through
    the runner's Python port forwarder, which would cap the throughput by itself. One extra
    measurement through the published port shows what the forwarder costs.
    """
    sys.path.insert(0, str(REPO))
    from compose.backend import open_backend

    backend = open_backend("namespaces")
    started_here = not backend.is_up()
    if started_here:
        print("  bringing the ten-node cluster up (namespace backend)", flush=True)
        backend.up()
    try:
        processes = json.loads(CLUSTER_STATE.read_text())["processes"]
        server_pids = [int(p["pid"]) for name, p in processes.items() if name != "forwarder"]
        forwarder = [int(processes["forwarder"]["pid"])] if "forwarder" in processes else []
        namespace = f"casty-{backend.topology.balancer.name}"
        inside = f"http://127.0.0.1:{backend.topology.balancer.published.container_port}"
        wait_healthy(backend.balancer_url)
        warm(inside, options, namespace)
        runs = []
        for _ in range(options.rounds):
            for operation in ("read", "increment"):
                runs.append(measure("10 nodes", inside, operation, server_pids, options, namespace))
        for operation in ("read", "increment"):
            runs.append(
                measure(
                    "10 nodes via forwarder",
                    backend.balancer_url,
                    operation,
                    server_pids + forwarder,
                    options,
                )
            )
        return runs
    finally:
        if started_here:
            backend.down()


def bench_instructions(options: Options, node_dir: Path, requests: int) -> dict[str, Any]:
    """User-space instructions per request of the bare endpoint and of one node, by callgrind."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise BenchError("valgrind is not installed (Debian: apt-get install valgrind)")
    print(f"instructions per request under callgrind ({requests} requests each)", flush=True)
    address = "127.77.3.1"
    counts: dict[str, dict[str, float]] = {}
    refuse_if_taken(address, 19000)
    for target in ("bare", "node"):
        dump_dir = options.log_dir / f"callgrind-{target}"
        dump_dir.mkdir(parents=True, exist_ok=True)
        valgrind = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={dump_dir}/callgrind.%p",
        ]  # fmt: skip
        with servers(options.log_dir) as started:
            if target == "bare":
                argv = [str(PYTHON), "-m", "loadtest.bare", "--host", address, "--port", "19000"]
                # From node_dir, so the bare endpoint takes that node's server settings and loop.
                pid = started.start(
                    "bare-callgrind", [*valgrind, *argv], {"PYTHONPATH": str(REPO)}, cwd=node_dir
                )
            else:
                env = {
                    "NODE_INDEX": "0", "SEED_IPS": address, "NODE_IP": address,
                    "HTTP_HOST": address, "HTTP_PORT": "19000", "CASTY_PORT": str(CASTY_PORT),
                    "DRAIN_SECONDS": "0", "LEAVE_TIMEOUT_S": "2", "LOG_LEVEL": "WARNING",
                    "PYTHONPATH": str(node_dir),
                }  # fmt: skip
                pid = started.start(
                    "node-callgrind", [*valgrind, str(PYTHON), "-m", "node"], env, cwd=node_dir
                )
            url = f"http://{address}:19000"
            wait_healthy(url, timeout_s=240)
            started.check_alive()
            for operation in ("increment", "read"):
                send(address, 19000, operation, requests, options.connections)  # warm-up
            counts[target] = {}
            for operation in ("read", "increment"):
                per_request = (
                    callgrind_count(
                        pid,
                        dump_dir,
                        lambda op=operation: send(
                            address, 19000, op, requests, options.connections
                        ),
                    )
                    / requests
                )
                counts[target][operation] = round(per_request)
                print(
                    f"  {target:<6} {operation:<9} {per_request / 1e6:6.3f} M instructions/request",
                    flush=True,
                )
    ratios = {
        operation: round(counts["bare"][operation] / counts["node"][operation], 3)
        for operation in ("read", "increment")
    }
    return {
        "requests": requests,
        "node_dir": str(node_dir),
        "instructions_per_request": counts,
        "ratios": ratios,
    }


def send(host: str, port: int, operation: str, requests: int, concurrency: int) -> None:
    """Exactly `requests` reads or increments over `concurrency` keep-alive connections."""
    import http.client
    import random
    import threading

    failures: list[str] = []

    def client(count: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=300)
        rng = random.Random()
        for _ in range(count):
            entity = f"instr-c{rng.randrange(200)}"
            if operation == "read":
                connection.request("GET", f"/counter/{entity}")
            else:
                connection.request(
                    "POST",
                    f"/counter/{entity}/increment",
                    body=b'{"amount": 1}',
                    headers={"Content-Type": "application/json"},
                )
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                failures.append(f"{operation} {entity}: status {answer.status}")
        connection.close()

    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share if n]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchError(f"{len(failures)} failed requests, first: {failures[0]}")


def callgrind_count(pid: int, dump_dir: Path, work: Any) -> int:
    """Instructions the process `pid` ran (every thread) while `work()` ran."""

    def control(*arguments: str) -> None:
        subprocess.run(["callgrind_control", *arguments, str(pid)], check=True, capture_output=True)

    before = set(dump_dir.iterdir())
    control("--zero")
    control("--instr=on")
    work()
    control("--instr=off")
    control("--dump")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in sorted(set(dump_dir.iterdir()) - before):
            match = re.search(r"^totals:\s*(\d+)", path.read_text(errors="replace"), re.M)
            if match:
                return int(match.group(1))
        time.sleep(0.2)
    raise BenchError(f"callgrind wrote no dump into {dump_dir} within 60 s")


# ---- report ----------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = [
        s for part in ("node", "cluster") if part in results for s in results[part]["summary"]
    ]
    panels = ("node" in results) + ("cluster" in results) + ("instructions" in results)
    panels += bool(summaries)
    if not panels:
        return
    grid_rows = 1 if panels <= 2 else 2
    grid_columns = -(-panels // grid_rows)
    figure, axes = plt.subplots(
        grid_rows, grid_columns, figsize=(7 * grid_columns, 5 * grid_rows), squeeze=False
    )
    for unused in axes.flat[panels:]:
        unused.set_visible(False)
    column = iter(axes.flat)
    colours = {"read": "tab:blue", "increment": "tab:orange"}

    if "node" in results:
        ax = next(column)
        node = results["node"]
        by = {(s["target"], s["operation"]): s for s in node["summary"]}
        for offset, operation in ((-0.2, "read"), (0.2, "increment")):
            values = [by["bare", operation]["throughput"], by["node", operation]["throughput"]]
            bars = ax.bar(
                [offset, 1 + offset], values, 0.4, label=operation, color=colours[operation]
            )
            ax.bar_label(bars, fmt="%.0f")
        ax.set_xticks([0, 1], ["bare Quart/Hypercorn", "one node"])
        ax.set_ylabel("requests per second (median)")
        ratios = node["ratios"]
        ax.set_title(
            f"node / bare: reads {ratios['read']['ratio']:.2f}x (target 0.85),"
            f" increments {ratios['increment']['ratio']:.2f}x (target 0.75)",
            fontsize=9,
        )
        ax.legend()

    if "cluster" in results:
        ax = next(column)
        cluster = [s for s in results["cluster"]["summary"] if "forwarder" not in s["target"]]
        sizes = sorted({int(s["target"].split()[0]) for s in cluster})
        cpu_axis = ax.twinx()
        for operation in ("read", "increment"):
            rows = {int(s["target"].split()[0]): s for s in cluster if s["operation"] == operation}
            ax.plot(
                sizes,
                [rows[n]["throughput"] for n in sizes],
                "o-",
                color=colours[operation],
                label=f"{operation}: req/s",
            )
            cpu_axis.plot(
                sizes,
                [rows[n]["cpu_ms_per_request"] for n in sizes],
                "s--",
                color=colours[operation],
                alpha=0.6,
                label=f"{operation}: server CPU ms/req",
            )
        ax.set_xticks(sizes)
        ax.set_xlabel("nodes behind HAProxy")
        ax.set_ylabel("requests per second (median)")
        cpu_axis.set_ylabel("server CPU ms per request (dashed)")
        ax.set_ylim(bottom=0)
        cpu_axis.set_ylim(bottom=0)
        ax.set_title("cluster size: throughput and CPU per request", fontsize=9)
        handles = ax.get_legend_handles_labels()
        more = cpu_axis.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="lower left")

    if "instructions" in results:
        ax = next(column)
        counts = results["instructions"]["instructions_per_request"]
        for offset, operation in ((-0.2, "read"), (0.2, "increment")):
            values = [counts["bare"][operation] / 1e6, counts["node"][operation] / 1e6]
            bars = ax.bar(
                [offset, 1 + offset], values, 0.4, label=operation, color=colours[operation]
            )
            ax.bar_label(bars, fmt="%.2f")
        ax.set_xticks([0, 1], ["bare Quart/Hypercorn", "one node"])
        ax.set_ylabel("million user-space instructions per request")
        ratios = results["instructions"]["ratios"]
        ax.set_title(
            f"callgrind, bare / node: reads {ratios['read']:.2f}x,"
            f" increments {ratios['increment']:.2f}x",
            fontsize=9,
        )
        ax.legend()

    if not summaries:
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return
    ax = next(column)
    labels = [f"{s['target']} {s['operation']}" for s in summaries]
    y = range(len(labels))
    ax.barh([i - 0.2 for i in y], [s["p50_ms"] for s in summaries], 0.4, label="p50")
    ax.barh([i + 0.2 for i in y], [s["p99_ms"] for s in summaries], 0.4, label="p99")
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency, ms ({results['options']['connections']} connections, saturated)")
    ax.set_title("latency p50 / p99", fontsize=9)
    ax.legend()

    figure.suptitle(
        f"casty cluster benchmarks, {results['started']} ({results['machine']['cpus']} CPUs)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def print_ratios(results: dict[str, Any]) -> None:
    if "node" in results:
        print("\nnode / bare endpoint (median of per-round ratios):")
        for operation, r in results["node"]["ratios"].items():
            verdict = "meets" if r["met"] else "SHORT of"
            print(
                f"  {operation:<9} {r['ratio']:.3f}x  ({verdict} the {r['target']}x target;"
                f" rounds {', '.join(f'{x:.2f}' for x in r['per_round'])});"
                f" by CPU per request {r['cpu_ratio']:.3f}x"
            )
    if "instructions" in results:
        print("\nbare / node by user-space instructions per request (callgrind):")
        counts = results["instructions"]["instructions_per_request"]
        for operation, ratio in results["instructions"]["ratios"].items():
            print(
                f"  {operation:<9} {ratio:.3f}x  (bare {counts['bare'][operation] / 1e6:.3f} M,"
                f" node {counts['node'][operation] / 1e6:.3f} M instructions per request)"
            )
    if "cluster" in results:
        print("\ncluster size (medians):")
        header = ("target", "operation", "req/s", "CPU ms/req", "p50", "p99")
        print("  {:<24} {:<9} {:>8} {:>10} {:>7} {:>7}".format(*header))
        for s in results["cluster"]["summary"]:
            cpu = s["cpu_ms_per_request"]
            print(
                f"  {s['target']:<24} {s['operation']:<9} {s['throughput']:>8.0f}"
                f" {cpu if cpu is not None else float('nan'):>10.3f}"
                f" {s['p50_ms']:>6.1f}ms {s['p99_ms']:>6.1f}ms"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Side-by-side benchmarks of the node and the cluster (see the module doc)."
    )
    parser.add_argument(
        "part", choices=("node", "cluster", "instructions", "all"), nargs="?", default="all"
    )
    parser.add_argument("--seconds", type=int, default=8, help="Length of one measurement.")
    parser.add_argument("--warmup", type=int, default=2, help="Warm-up per operation, seconds.")
    parser.add_argument("--rounds", type=int, default=3, help="Measurements per target.")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections.")
    parser.add_argument("--entities", type=int, default=200, help="Counters in the key space.")
    parser.add_argument("--sizes", default="1,3,10", help="Cluster sizes to measure (1, 3, 10).")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench")
    parser.add_argument(
        "--node-dir",
        type=Path,
        default=REPO,
        help="Directory holding the node package run by the instructions part (default: this one).",
    )
    parser.add_argument(
        "--requests", type=int, default=400, help="Requests per operation under callgrind."
    )
    arguments = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    out = arguments.out / started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    options = Options(
        seconds=arguments.seconds,
        warmup=arguments.warmup,
        rounds=arguments.rounds,
        connections=arguments.connections,
        entities=arguments.entities,
        out=out,
    )
    results: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m loadtest.bench", *(argv or sys.argv[1:])]),
        "options": {k: v for k, v in asdict(options).items() if k not in ("out", "log_dir")},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": os.getloadavg(),
        },
        "load_generator": "wrk, 1 thread, fixed keep-alive connections, loadtest/wrk.lua",
    }
    try:
        if arguments.part in ("node", "all"):
            results["node"] = bench_node(options)
        if arguments.part in ("cluster", "all"):
            sizes = [int(s) for s in arguments.sizes.split(",") if s.strip()]
            results["cluster"] = bench_cluster(options, sizes)
        if arguments.part in ("instructions", "all"):
            node_dir = arguments.node_dir.resolve()
            results["instructions"] = bench_instructions(options, node_dir, arguments.requests)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    results["machine"]["load_average_after"] = os.getloadavg()
    (out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / "bench.png")
    print_ratios(results)
    print(f"\nresults: {out / 'bench.json'}\nplot:    {out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
