"""The namespace backend: the Compose file run on Linux as root, with no Docker engine.

Each service becomes a network namespace `casty-<service>` whose `eth0` holds the service's
static address and is one end of a veth pair; the other end, `casty-<service>`, sits on the bridge
`casty-br0`. The bridge has no address and the host no route into the subnet: the host reaches
the cluster only through `compose.forwarder`, which publishes each service's port on 127.0.0.1
by opening its sockets inside the service's namespace. Nodes run the service's command and
environment with the project's `.venv`; the balancer is the Debian haproxy with the same
`compose/haproxy.cfg`.

Before anything exists that could dial the subnet, the nftables table `inet casty_guard` drops
every packet for the subnet that would leave by an interface other than the bridge. Faults
(isolate, split) are rules in the bridge-family table `casty_faults`, which filters frames between
the bridge's ports.

State (process ids, faults) is a JSON file under /run/casty-cluster, guarded by a lock file, so
any process can act on a cluster another one started. `down` needs none of it: it finds every
namespace, link and table by the `casty` prefix, and the processes by the namespaces they run in.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from compose.backend import ClusterError, can_run_namespaces
from compose.health import last_lines, wait_until_healthy
from compose.topology import Service, Topology, load_topology

log = logging.getLogger("compose.namespaces")

PREFIX = "casty-"
BRIDGE = "casty-br0"
GUARD_TABLE = "casty_guard"
FAULT_TABLE = "casty_faults"
STATE_DIR = Path("/run/casty-cluster")
LOCK_FILE = Path("/run/lock/casty-cluster.lock")
REPO = Path(__file__).resolve().parent.parent
UP_TIMEOUT_S = float(os.environ.get("CLUSTER_UP_TIMEOUT_S", "120"))

# Processes started here are kept so the interpreter does not warn about them; they outlive this
# process on purpose (the cluster stays up after `up` returns).
_children: dict[int, subprocess.Popen[bytes]] = {}


class NamespaceBackend:
    """The local cluster in network namespaces. See the module docstring for the layout."""

    name = "namespaces"

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.balancer_url = topology.balancer_url
        self.state_file = STATE_DIR / "state.json"
        self.log_dir = STATE_DIR / "logs"

    # ---- the Backend protocol --------------------------------------------------------------

    def up(self) -> None:
        _require_root()
        with self._locked():
            self._refuse_if_present()
            self._refuse_taken_ports()
            try:
                self._create()
            except BaseException:
                log.warning("up failed: removing everything it made")
                self._teardown()
                raise

    def down(self) -> None:
        _require_root()
        with self._locked():
            self._teardown()

    def is_up(self) -> bool:
        state = self._read_state()
        if state is None:
            return bool(_namespaces())
        return any(_running(record) for record in state["processes"].values())

    def kill(self, node: int) -> None:
        with self._locked():
            record = self._running_record(node)
            os.kill(record["pid"], signal.SIGKILL)
            _wait_gone(record, 10.0)
            log.info("node%d: killed (pid %d)", node, record["pid"])

    def start(self, node: int) -> None:
        with self._locked():
            state = self._state()
            service = self.topology.node(node)
            record = state["processes"].get(service.name)
            if record is not None and _running(record):
                raise ClusterError(f"node{node} is already running (pid {record['pid']})")
            state["processes"][service.name] = self._spawn(service)
            state["paused"] = [n for n in state["paused"] if n != node]
            self._write_state(state)
            log.info("node%d: started (pid %d)", node, state["processes"][service.name]["pid"])

    def stop(self, node: int) -> None:
        with self._locked():
            record = self._running_record(node)
            grace = self.topology.node(node).stop_grace_s
            os.kill(record["pid"], signal.SIGTERM)
            os.kill(record["pid"], signal.SIGCONT)  # a paused node could not act on SIGTERM
            if not _wait_gone(record, grace):
                log.warning("node%d: still running %.0f s after SIGTERM; killing it", node, grace)
                os.kill(record["pid"], signal.SIGKILL)
                _wait_gone(record, 10.0)
            self._forget_pause(node)
            log.info("node%d: stopped (pid %d)", node, record["pid"])

    def pause(self, node: int) -> None:
        with self._locked():
            record = self._running_record(node)
            os.kill(record["pid"], signal.SIGSTOP)
            state = self._state()
            state["paused"] = sorted({*state["paused"], node})
            self._write_state(state)
            log.info("node%d: paused (pid %d)", node, record["pid"])

    def resume(self, node: int) -> None:
        with self._locked():
            record = self._running_record(node)
            os.kill(record["pid"], signal.SIGCONT)
            self._forget_pause(node)
            log.info("node%d: resumed (pid %d)", node, record["pid"])

    def isolate(self, node: int) -> None:
        address = self.topology.node(node).address
        with self._locked():
            state = self._state()
            _nft(
                f"add rule bridge {FAULT_TABLE} forward ip saddr {address} drop\n"
                f"add rule bridge {FAULT_TABLE} forward ip daddr {address} drop\n"
            )
            state["faults"].append({"isolate": node})
            self._write_state(state)
        log.info("node%d: isolated from every other node and the balancer", node)

    def split(self, side_a: Sequence[int], side_b: Sequence[int]) -> None:
        if not side_a or not side_b or set(side_a) & set(side_b):
            raise ClusterError(
                f"split {list(side_a)} | {list(side_b)}: sides must be non-empty and apart"
            )
        a = ", ".join(self.topology.node(i).address for i in side_a)
        b = ", ".join(self.topology.node(i).address for i in side_b)
        with self._locked():
            state = self._state()
            _nft(
                f"add rule bridge {FAULT_TABLE} forward"
                f" ip saddr {{ {a} }} ip daddr {{ {b} }} drop\n"
                f"add rule bridge {FAULT_TABLE} forward"
                f" ip saddr {{ {b} }} ip daddr {{ {a} }} drop\n"
            )
            state["faults"].append({"split": [list(side_a), list(side_b)]})
            self._write_state(state)
        log.info("split: nodes %s cannot reach nodes %s", list(side_a), list(side_b))

    def heal(self) -> None:
        with self._locked():
            state = self._state()
            _nft(f"flush chain bridge {FAULT_TABLE} forward\n")
            state["faults"] = []
            self._write_state(state)
        log.info("healed: every isolate and split undone")

    def node_url(self, node: int) -> str:
        return self.topology.node_url(node)

    # ---- what the CLI shows ----------------------------------------------------------------

    def process(self, node: int) -> str:
        """The node's process as a short phrase: `pid 123`, `pid 123 paused`, or `exited`."""
        state = self._read_state()
        record = None if state is None else state["processes"].get(self.topology.node(node).name)
        if record is None or not _running(record):
            return "exited"
        return f"pid {record['pid']}{' paused' if node in state['paused'] else ''}"  # type: ignore[index]

    def faults(self) -> list[dict[str, Any]]:
        """The isolates and splits in force, as recorded."""
        state = self._read_state()
        return [] if state is None else list(state["faults"])

    def logs_command(self, service: str | None) -> list[str]:
        """The command that follows one service's log (or all of them)."""
        names = [service] if service else [s.name for s in self.topology.services]
        files = [str(self.log_dir / f"{name}.log") for name in names]
        return ["tail", "-n", "40", "-F", *files]

    def log_file(self, service: str) -> Path:
        """Where a service's stdout and stderr go."""
        return self.log_dir / f"{service}.log"

    # ---- up --------------------------------------------------------------------------------

    def _refuse_if_present(self) -> None:
        found = _namespaces() + _links() + _tables()
        state = self._read_state()
        if state is None and not found:
            return
        running = [] if state is None else [n for n, r in state["processes"].items() if _running(r)]
        if state is not None and state.get("phase") == "up" and running:
            raise ClusterError(
                f"the cluster is already up (namespaces backend, since {state['started']},"
                f" {len(running)} processes running): use it at {self.balancer_url},"
                " or run `just local-down` first"
            )
        raise ClusterError(
            "a half-made cluster from an earlier run is still here"
            f" ({', '.join(found) or 'its state file'}): run `just local-down` to remove it"
        )

    def _refuse_taken_ports(self) -> None:
        for service in self.topology.services:
            port = service.published
            error = _bind_error(port.host_ip, port.host_port)
            if error is not None:
                holder = _run(["ss", "-ltnpH", f"sport = :{port.host_port}"], check=False)
                raise ClusterError(
                    f"port {port.host_ip}:{port.host_port} ({service.name}) is taken ({error}):"
                    f" {holder.strip() or 'see ss -ltnp'}. Stop what listens there, then run"
                    " `just local-up` again"
                )

    def _create(self) -> None:
        started = time.monotonic()
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        state: dict[str, Any] = {
            "backend": self.name,
            "phase": "starting",
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "processes": {},
            "paused": [],
            "faults": [],
        }
        self._write_state(state)
        self._install_guard()
        self._make_network()
        for service in self.topology.services:
            state["processes"][service.name] = self._spawn(service)
            self._write_state(state)
        log.info("started: %d nodes and haproxy", len(self.topology.nodes))
        state["processes"]["forwarder"] = self._spawn_forwarder()
        self._write_state(state)
        wait_until_healthy(self.topology, UP_TIMEOUT_S, lambda: self._exited(state))
        state["phase"] = "up"
        self._write_state(state)
        log.info("up in %.1f s", time.monotonic() - started)

    def _install_guard(self) -> None:
        subnet = self.topology.subnet
        rule = f'ip daddr {subnet} oifname != "{BRIDGE}" counter drop'
        _nft(
            f"add table inet {GUARD_TABLE}\n"
            f"add chain inet {GUARD_TABLE} output"
            " { type filter hook output priority -10; policy accept; }\n"
            f"add chain inet {GUARD_TABLE} forward"
            " { type filter hook forward priority -10; policy accept; }\n"
            f"add rule inet {GUARD_TABLE} output {rule}\n"
            f"add rule inet {GUARD_TABLE} forward {rule}\n"
        )
        log.info(
            "guard: nftables table inet %s drops packets for %s leaving by any interface but %s",
            GUARD_TABLE,
            subnet,
            BRIDGE,
        )

    def _make_network(self) -> None:
        prefix = ipaddress.IPv4Network(self.topology.subnet).prefixlen
        _run(
            ["ip", "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0", "stp_state", "0"]
        )
        _run(["ip", "link", "set", BRIDGE, "up"])
        _nft(
            f"add table bridge {FAULT_TABLE}\n"
            f"add chain bridge {FAULT_TABLE} forward"
            " { type filter hook forward priority 0; policy accept; }\n"
        )
        for service in self.topology.services:
            netns = PREFIX + service.name
            _run(["ip", "netns", "add", netns])
            _run(
                ["ip", "link", "add", netns, "type", "veth", "peer", "name", "eth0", "netns", netns]
            )
            _run(["ip", "link", "set", netns, "master", BRIDGE, "up"])
            _run(["ip", "-n", netns, "addr", "add", f"{service.address}/{prefix}", "dev", "eth0"])
            _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", netns, "link", "set", "lo", "up"])
        log.info(
            "network: bridge %s, %d namespaces on %s",
            BRIDGE,
            len(self.topology.services),
            self.topology.subnet,
        )

    def _command(self, service: Service) -> list[str]:
        mounts = {mount.target: str(mount.source) for mount in service.mounts}
        command = [mounts.get(part, part) for part in service.command]
        if command[0] == "python":
            python = REPO / ".venv" / "bin" / "python"
            if not python.exists():
                raise ClusterError(f"{python} does not exist: run `just setup` first")
            command[0] = str(python)
        elif shutil.which(command[0]) is None:
            raise ClusterError(
                f"{service.name}: {command[0]} is not installed"
                f" (Debian: apt-get install {command[0]})"
            )
        return command

    def _spawn(self, service: Service) -> dict[str, Any]:
        command = self._command(service)
        environment = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            **service.environment,
        }
        with open(self.log_file(service.name), "ab") as output:
            child = subprocess.Popen(
                ["ip", "netns", "exec", PREFIX + service.name, *command],
                cwd=REPO,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[child.pid] = child
        return _record(child.pid)

    def _spawn_forwarder(self) -> dict[str, Any]:
        routes = [
            f"{s.published.host_ip}:{s.published.host_port}={PREFIX}{s.name}:{s.published.container_port}"
            for s in self.topology.services
        ]
        with open(self.log_file("forwarder"), "ab") as output:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "compose.forwarder",
                    "--watch",
                    PREFIX + self.topology.balancer.name,
                    "--pidfile",
                    str(STATE_DIR / "forwarder.pid"),
                    *routes,
                ],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[child.pid] = child
        return _record(child.pid)

    def _exited(self, state: dict[str, Any]) -> str | None:
        """A message for the first process that died while the cluster came up, else None."""
        for name, record in state["processes"].items():
            if _running(record):
                continue
            child = _children.get(record["pid"])
            status = (
                ""
                if child is None or child.returncode is None
                else f" with status {child.returncode}"
            )
            return (
                f"{name} exited{status} while the cluster was starting; the last lines of"
                f" {self.log_file(name)}:\n{last_lines(self.log_file(name)) or '    (empty)'}"
            )
        return None

    # ---- down ------------------------------------------------------------------------------

    def _teardown(self) -> None:
        """Remove processes, namespaces, links and tables, found by prefix; then the state."""
        state = self._read_state()
        victims: list[dict[str, Any]] = []
        if state is not None:
            victims += [r for r in state["processes"].values() if _running(r)]
        pidfile = STATE_DIR / "forwarder.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text())
            if _is_forwarder(pid):
                victims.append(_record(pid))
        namespaces = _namespaces()
        for netns in namespaces:
            victims += [_record(pid) for pid in _namespace_pids(netns)]
        victims = list({record["pid"]: record for record in victims}.values())
        for record in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record["pid"], signal.SIGKILL)
        for record in victims:
            if not _wait_gone(record, 10.0):
                log.warning("down: pid %d survived SIGKILL for 10 s", record["pid"])
        for netns in namespaces:
            _run(["ip", "netns", "del", netns], check=False)
        for link in _links():
            _run(["ip", "link", "del", link], check=False)
        # The guard goes last: until here something could still have dialed the subnet.
        for table in _tables():
            _run(["nft", "delete", "table", *table.split(" ", 1)], check=False)
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        remaining = _namespaces() + _links() + _tables()
        if remaining:
            raise ClusterError(f"down could not remove {', '.join(remaining)}: see `ip netns pids`")
        if victims or namespaces:
            log.info(
                "down: ended %d processes, removed %d namespaces, the bridge and nftables tables",
                len(victims),
                len(namespaces),
            )

    # ---- state -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state

    def _state(self) -> dict[str, Any]:
        state = self._read_state()
        if state is None:
            raise ClusterError("the cluster is not up (namespaces backend): run `just local-up`")
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_file)

    def _running_record(self, node: int) -> dict[str, Any]:
        name = self.topology.node(node).name  # an index out of range is named before anything
        record = self._state()["processes"].get(name)
        if record is None or not _running(record):
            raise ClusterError(
                f"node{node} is not running: `python -m compose start {node}` starts it"
            )
        return dict(record)

    def _forget_pause(self, node: int) -> None:
        state = self._state()
        state["paused"] = [n for n in state["paused"] if n != node]
        self._write_state(state)


def leftovers() -> list[str]:
    """Everything of a namespace-backend cluster still on this machine, as phrases; [] is clean.

    Looks for the prefixed namespaces, links and nftables tables, the state directory, and
    anything listening on the published ports."""
    found = [f"namespace {name}" for name in _namespaces()]
    found += [f"link {name}" for name in _links()]
    found += [f"nftables table {table}" for table in _tables()]
    if STATE_DIR.exists():
        found.append(f"directory {STATE_DIR}")
    topology = load_topology()
    for service in topology.services:
        port = service.published
        if _bind_error(port.host_ip, port.host_port) is not None:
            found.append(f"a listener on {port.host_ip}:{port.host_port}")
    return found


def _bind_error(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound (someone listens there), or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


# ---- processes ---------------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone or a zombie.

    Kept with each pid so that a recycled pid is never mistaken for our process."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _record(pid: int) -> dict[str, Any]:
    return {"pid": pid, "ticks": _start_ticks(pid)}


def _running(record: dict[str, Any]) -> bool:
    ticks = _start_ticks(record["pid"])
    return ticks is not None and ticks == record["ticks"]


def _wait_gone(record: dict[str, Any], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _running(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    child = _children.pop(record["pid"], None)
    if child is not None:
        child.poll()
    return True


def _is_forwarder(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"compose.forwarder" in command


def _namespace_pids(netns: str) -> list[int]:
    output = _run(["ip", "netns", "pids", netns], check=False)
    return [int(word) for word in output.split() if word.isdigit()]


# ---- the machine's network objects, found by prefix ----------------------------------------------


def _namespaces() -> list[str]:
    output = _run(["ip", "netns", "list"], check=False)
    names = [line.split()[0] for line in output.splitlines() if line.strip()]
    return [name for name in names if name.startswith(PREFIX)]


def _links() -> list[str]:
    output = _run(["ip", "-o", "link", "show"], check=False)
    names = [line.split(": ")[1].split("@")[0] for line in output.splitlines() if ": " in line]
    return [name for name in names if name.startswith(PREFIX)]


def _tables() -> list[str]:
    """Our nftables tables as `family name`."""
    output = _run(["nft", "list", "tables"], check=False)
    tables = [line.removeprefix("table ").strip() for line in output.splitlines()]
    return [t for t in tables if t.split(" ")[-1] in (GUARD_TABLE, FAULT_TABLE)]


def _nft(script: str) -> None:
    _run(["nft", "-f", "-"], stdin=script)


def _run(command: list[str], check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _require_root() -> None:
    if not can_run_namespaces():
        raise ClusterError(
            f"the namespace backend needs Linux and root (running as uid {os.geteuid()}):"
            " run it with sudo, or use --backend docker with a Docker engine"
        )
