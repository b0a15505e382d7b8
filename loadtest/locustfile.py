"""Locust load for the casty cluster: counters, key-value maps and the operational endpoints.

Aim it at the local balancer or at the ALB by URL:

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --headless -u 20 -r 10 -t 20s

Every response is checked, status and body, and a wrong one is marked failed with the reason.
Dynamic URLs are grouped by name (`/counter/[id]`), so the statistics have one row per endpoint
and per kind of call. Options (also in the web UI): `--entities`, `--kv-keys`, `--read-ratio`,
`--skew`, `--think-time`, `--shape`, `--prefix`, `--no-consistency-checks`.

Consistency checks. Each user remembers what the cluster acknowledged to it and checks what it
reads back: a counter never reads below the value one of its own increments produced, its own
increments of one counter produce rising values, a retried increment with the same
`Idempotency-Key` answers the same value, and each KV user reads its private key back as it last
wrote it (read-your-writes). In steady state casty routes every request for an entity to its
owner, so these hold through any node and any balancer; during ownership changes (a node joining,
leaving or dying) casty's reads may be stale, and these checks then report failures: pass
`--no-consistency-checks` for load under faults.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, events, task

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtest.keyspace import Popularity
from loadtest.shapes import SHAPES, Step, plan, tick

JSON = {"Content-Type": "application/json"}
Response = Any
"""Locust's `Response` (catch_response=True): its success/failure are untyped."""
_user_numbers = itertools.count()


def _options(parser: Any) -> None:
    group = parser.add_argument_group("casty cluster")
    group.add_argument(
        "--entities", type=int, default=1000, help="Entity ids in the key space, per kind."
    )
    group.add_argument("--kv-keys", type=int, default=20, help="Keys used in each KV entity.")
    group.add_argument(
        "--read-ratio",
        type=float,
        default=0.8,
        help="Fraction of counter and shared-KV operations that are reads (0 to 1).",
    )
    group.add_argument(
        "--skew",
        type=float,
        default=0.0,
        help="Zipf exponent of entity popularity: 0 is uniform, 1.1 makes a few entities hot.",
    )
    group.add_argument(
        "--think-time",
        type=float,
        default=0.1,
        help="Mean pause of a user between operations, in seconds (0: as fast as it can).",
    )
    group.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="constant",
        help="Load shape; -u is its peak users and -t its length. "
        + "; ".join(f"{s.name}: {s.description}" for s in SHAPES.values()),
    )
    group.add_argument(
        "--prefix",
        default="load",
        help="Prefix of every entity id, to keep this run's entities apart from others'.",
    )
    group.add_argument(
        "--no-consistency-checks",
        action="store_true",
        default=False,
        help="Skip the read-your-writes checks (for load under faults, when reads may be stale).",
    )


def _validate_options(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    problems = []
    if options.entities < 1:
        problems.append(f"--entities is {options.entities}: expected at least 1")
    if options.kv_keys < 1:
        problems.append(f"--kv-keys is {options.kv_keys}: expected at least 1")
    if not 0.0 <= options.read_ratio <= 1.0:
        problems.append(f"--read-ratio is {options.read_ratio}: expected from 0 to 1")
    if options.skew < 0.0:
        problems.append(f"--skew is {options.skew}: expected 0 (uniform) or more")
    if options.think_time < 0.0:
        problems.append(f"--think-time is {options.think_time}: expected 0 or more seconds")
    if problems:
        raise SystemExit("locustfile: " + "; ".join(problems))


_hooks: Any = events  # Locust's EventHook.add_listener is untyped
_hooks.init_command_line_parser.add_listener(_options)
_hooks.test_start.add_listener(_validate_options)


_popularity: dict[tuple[int, float], Popularity] = {}


def popularity(size: int, skew: float) -> Popularity:
    """One table per key space and skew, shared by every user of this process."""
    key = (size, skew)
    if key not in _popularity:
        _popularity[key] = Popularity(size, skew)
    return _popularity[key]


def body_of(response: Response) -> dict[str, Any] | None:
    """The response's JSON object, or None after marking the response failed."""
    try:
        body = response.json()
    except Exception:
        response.failure(f"status {response.status_code}: body is not JSON: {_text(response)!r}")
        return None
    if not isinstance(body, dict):
        response.failure(f"status {response.status_code}: body is not a JSON object: {body!r}")
        return None
    return body


def expect(response: Response, status: int | tuple[int, ...]) -> dict[str, Any] | None:
    """The JSON body if the status is one of `status` and the node named itself, else None."""
    allowed = (status,) if isinstance(status, int) else status
    if response.status_code == 0:
        response.failure(f"no response: {response.error!r}")
        return None
    if response.status_code not in allowed:
        response.failure(
            f"expected status {' or '.join(map(str, allowed))}, got {response.status_code}:"
            f" {_text(response)[:200]!r}"
        )
        return None
    if "X-Casty-Node" not in response.headers:
        response.failure(f"status {response.status_code}: no X-Casty-Node header")
        return None
    response.success()  # an expected 404 or 412 is a success; a later check may still fail it
    return body_of(response)


def _text(response: Response) -> str:
    try:
        return str(response.text or "")
    except Exception:
        return "<undecodable body>"


def is_count(value: object) -> bool:
    """An integer that is not a bool (JSON true would pass `isinstance(value, int)`)."""
    return isinstance(value, int) and not isinstance(value, bool)


class ClusterUser(FastHttpUser):
    """Shared behaviour: option access, entity choice, think time."""

    abstract = True

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.rng = random.Random()
        self.number = next(_user_numbers)
        self.run_id = uuid.uuid4().hex[:8]
        self.checks = not options.no_consistency_checks
        self.read_ratio: float = options.read_ratio
        self.kv_keys: int = options.kv_keys
        self.prefix: str = options.prefix
        self.entities = popularity(options.entities, options.skew)
        self.think: float = options.think_time

    def wait_time(self) -> float:
        return self.rng.uniform(0.5 * self.think, 1.5 * self.think)

    def entity(self, kind: str) -> str:
        return f"{self.prefix}-{kind}{self.entities.draw(self.rng)}"


class CounterUser(ClusterUser):
    """Increments and reads counters; checks that its own acknowledged increments are visible."""

    weight = 4

    def on_start(self) -> None:
        super().on_start()
        self.acknowledged: dict[str, int] = {}
        """The value this user's last acknowledged increment of each counter produced."""
        self.idempotency = itertools.count()

    @task
    def operate(self) -> None:
        entity = self.entity("c")
        if self.rng.random() < self.read_ratio:
            self.read(entity)
        elif self.rng.random() < 0.1:
            self.retried_increment(entity)
        else:
            self.increment(entity)

    def read(self, entity: str) -> None:
        with self.client.get(
            f"/counter/{entity}", name="/counter/[id]", catch_response=True
        ) as response:
            body = expect(response, 200)
            if body is None or not self.counter_body_is_valid(response, body, entity):
                return
            floor = self.acknowledged.get(entity)
            if self.checks and floor is not None and body["value"] < floor:
                response.failure(
                    f"read-your-writes: counter {entity} read {body['value']}, below the value"
                    f" {floor} this user's increment produced"
                )

    def increment(self, entity: str) -> None:
        amount = self.rng.randint(1, 5)
        with self.client.post(
            f"/counter/{entity}/increment",
            json={"amount": amount},
            name="/counter/[id]/increment",
            catch_response=True,
        ) as response:
            body = expect(response, 200)
            if body is None or not self.counter_body_is_valid(response, body, entity):
                return
            self.check_rises(response, entity, body["value"], amount)

    def retried_increment(self, entity: str) -> None:
        """An increment sent twice with one Idempotency-Key: both answers are the same value."""
        amount = self.rng.randint(1, 5)
        headers = {**JSON, "Idempotency-Key": f"{self.run_id}-{next(self.idempotency)}"}
        values: list[int] = []
        for attempt in ("first", "retry"):
            with self.client.post(
                f"/counter/{entity}/increment",
                json={"amount": amount},
                headers=headers,
                name=f"/counter/[id]/increment Idempotency-Key {attempt}",
                catch_response=True,
            ) as response:
                body = expect(response, 200)
                if body is None or not self.counter_body_is_valid(response, body, entity):
                    return
                if attempt == "first":
                    self.check_rises(response, entity, body["value"], amount)
                elif body["value"] != values[0]:
                    response.failure(
                        f"idempotency: retry of an increment of counter {entity} answered"
                        f" {body['value']}, the first attempt answered {values[0]}"
                    )
                values.append(body["value"])

    def counter_body_is_valid(self, response: Response, body: dict[str, Any], entity: str) -> bool:
        if body.get("entity_id") != entity or not is_count(body.get("value")):
            response.failure(f"expected {{entity_id: {entity!r}, value: int}}, got {body!r}")
            return False
        return True

    def check_rises(self, response: Response, entity: str, value: int, amount: int) -> None:
        previous = self.acknowledged.get(entity)
        self.acknowledged[entity] = value
        if self.checks and previous is not None and value < previous + amount:
            response.failure(
                f"monotonic: increment of counter {entity} by {amount} produced {value}, but this"
                f" user's previous increment had already produced {previous}"
            )


class KvUser(ClusterUser):
    """Reads and writes shared keys, and runs read-your-writes cycles on a private key."""

    weight = 4

    def on_start(self) -> None:
        super().on_start()
        self.private_entity = self.entity("kv")
        self.private_key = f"ryw-{self.run_id}-{self.number}"
        self.written = itertools.count()

    @task(4)
    def shared(self) -> None:
        entity = self.entity("kv")
        key = f"k{self.rng.randrange(self.kv_keys)}"
        roll = self.rng.random()
        if roll < self.read_ratio * 0.8:
            self.read_shared(entity, key)
        elif roll < self.read_ratio:
            self.list_entries(entity)
        else:
            self.write(entity, key, f"v-{self.run_id}-{next(self.written)}", "/kv/[id]/[key]")

    @task(1)
    def read_your_writes(self) -> None:
        """Write the private key, read it back, overwrite it conditionally, delete it."""
        entity, key = self.private_entity, self.private_key
        value = f"own-{self.run_id}-{next(self.written)}"
        written = self.write(entity, key, value, "/kv/[id]/[key] private")
        if written is None:
            return
        version, etag = written
        self.read_own(entity, key, value, version)
        newer = f"{value}-if-match"
        with self.client.put(
            f"/kv/{entity}/{key}",
            json={"value": newer},
            headers={**JSON, "If-Match": etag},
            name="/kv/[id]/[key] If-Match",
            catch_response=True,
        ) as response:
            body = expect(response, 200)
            if body is None or not self.entry_is_valid(response, body, entity, key, newer):
                return
            if self.checks and body["version"] <= version:
                response.failure(
                    f"conditional write of {entity}/{key} answered version {body['version']},"
                    f" not above the version {version} it replaced"
                )
        self.stale_etag_is_refused(entity, key, etag)
        if self.rng.random() < 0.3:
            self.delete_and_miss(entity, key)

    def write(self, entity: str, key: str, value: str, name: str) -> tuple[int, str] | None:
        """PUT a value; returns its version and ETag, or None when the response was a failure."""
        with self.client.put(
            f"/kv/{entity}/{key}", json={"value": value}, name=name, catch_response=True
        ) as response:
            body = expect(response, 200)
            if body is None or not self.entry_is_valid(response, body, entity, key, value):
                return None
            etag = response.headers.get("ETag")
            if not etag:
                response.failure(f"write of {entity}/{key}: no ETag header")
                return None
            return int(body["version"]), etag

    def read_own(self, entity: str, key: str, value: str, version: int) -> None:
        with self.client.get(
            f"/kv/{entity}/{key}", name="/kv/[id]/[key] private", catch_response=True
        ) as response:
            body = expect(response, 200)
            if body is None or not self.entry_is_valid(response, body, entity, key, None):
                return
            if self.checks and (body["value"] != value or body["version"] < version):
                response.failure(
                    f"read-your-writes: {entity}/{key} was written {value!r} (version {version}),"
                    f" then read {body['value']!r} (version {body['version']})"
                )

    def stale_etag_is_refused(self, entity: str, key: str, etag: str) -> None:
        with self.client.put(
            f"/kv/{entity}/{key}",
            json={"value": "must-not-be-written"},
            headers={**JSON, "If-Match": etag},
            name="/kv/[id]/[key] If-Match stale",
            catch_response=True,
        ) as response:
            body = expect(response, 412)
            if body is not None and body.get("error") != "precondition_failed":
                response.failure(f"stale If-Match: expected error precondition_failed: {body!r}")

    def delete_and_miss(self, entity: str, key: str) -> None:
        with self.client.delete(
            f"/kv/{entity}/{key}", name="/kv/[id]/[key] private", catch_response=True
        ) as response:
            body = expect(response, 200)
            if body is None:
                return
            if (body.get("entity_id"), body.get("key"), body.get("deleted")) != (entity, key, True):
                response.failure(f"delete of {entity}/{key}: unexpected body {body!r}")
                return
        with self.client.get(
            f"/kv/{entity}/{key}", name="/kv/[id]/[key] deleted", catch_response=True
        ) as response:
            body = expect(response, 404)
            if body is not None and body.get("error") != "key_not_found":
                response.failure(f"read after delete: expected error key_not_found: {body!r}")
        created = f"created-{self.run_id}-{next(self.written)}"
        with self.client.put(
            f"/kv/{entity}/{key}",
            json={"value": created},
            headers={**JSON, "If-None-Match": "*"},
            name="/kv/[id]/[key] If-None-Match",
            catch_response=True,
        ) as response:
            body = expect(response, 200)
            if body is not None:
                self.entry_is_valid(response, body, entity, key, created)

    def read_shared(self, entity: str, key: str) -> None:
        with self.client.get(
            f"/kv/{entity}/{key}", name="/kv/[id]/[key]", catch_response=True
        ) as response:
            body = expect(response, (200, 404))
            if body is None:
                return
            if response.status_code == 404:
                if body.get("error") != "key_not_found":
                    response.failure(f"missing key: expected error key_not_found: {body!r}")
                else:
                    response.success()  # a shared key no one has written yet
                return
            self.entry_is_valid(response, body, entity, key, None)

    def list_entries(self, entity: str) -> None:
        with self.client.get(f"/kv/{entity}", name="/kv/[id]", catch_response=True) as response:
            body = expect(response, 200)
            if body is None:
                return
            entries = body.get("entries")
            if body.get("entity_id") != entity or not isinstance(entries, list):
                response.failure(f"expected {{entity_id: {entity!r}, entries: [...]}}: {body!r}")
                return
            for entry in entries:
                if not (
                    isinstance(entry, dict)
                    and isinstance(entry.get("key"), str)
                    and isinstance(entry.get("value"), str)
                    and is_count(entry.get("version"))
                ):
                    response.failure(f"list of {entity}: malformed entry {entry!r}")
                    return

    def entry_is_valid(
        self,
        response: Response,
        body: dict[str, Any],
        entity: str,
        key: str,
        value: str | None,
    ) -> bool:
        """The body is the entry `entity`/`key` (holding `value`, when given) with a version."""
        if (
            body.get("entity_id") != entity
            or body.get("key") != key
            or not isinstance(body.get("value"), str)
            or not is_count(body.get("version"))
            or (value is not None and body["value"] != value)
        ):
            wanted = f"value {value!r}" if value is not None else "a string value"
            response.failure(f"expected entry {entity}/{key} with {wanted} and a version: {body!r}")
            return False
        return True


class OperatorUser(ClusterUser):
    """What an operator and the balancer call: health, status, placement, metrics, OpenAPI."""

    weight = 1

    @task(4)
    def health(self) -> None:
        with self.client.get("/health", catch_response=True) as response:
            body = expect(response, 200)
            if body is not None and (body.get("status") != "ok" or not is_count(body.get("node"))):
                response.failure(f"expected {{node: int, status: 'ok'}}: {body!r}")

    @task(2)
    def cluster_status(self) -> None:
        with self.client.get("/cluster/status", catch_response=True) as response:
            body = expect(response, 200)
            if body is None:
                return
            members = body.get("members")
            if not isinstance(members, list) or not members or body.get("majority") is not True:
                response.failure(f"expected members and a majority: {str(body)[:300]}")

    @task(2)
    def placement(self) -> None:
        kind = self.rng.choice(("counter", "kv"))
        entity = self.entity("c" if kind == "counter" else "kv")
        with self.client.get(
            f"/placement/{kind}/{entity}", name=f"/placement/{kind}/[id]", catch_response=True
        ) as response:
            body = expect(response, 200)
            if body is None:
                return
            owner, replicas = body.get("owner"), body.get("replicas")
            if (
                body.get("entity_id") != entity
                or body.get("kind") != kind
                or not (owner is None or isinstance(owner, str))
                or not isinstance(replicas, list)
            ):
                response.failure(f"expected the placement of {kind} {entity}: {body!r}")

    @task(1)
    def metrics(self) -> None:
        with self.client.get("/metrics", catch_response=True) as response:
            text = _text(response)
            if response.status_code != 200:
                response.failure(f"expected status 200, got {response.status_code}")
            elif "# TYPE" not in text:
                response.failure(f"not Prometheus text: {text[:200]!r}")

    @task(1)
    def openapi(self) -> None:
        with self.client.get("/openapi.json", catch_response=True) as response:
            body = expect(response, 200)
            if body is not None and not (
                str(body.get("openapi", "")).startswith("3.") and "/health" in body.get("paths", {})
            ):
                response.failure("expected an OpenAPI 3 document with the /health path")


class SelectedShape(LoadTestShape):
    """The shape named by `--shape`, scaled to -u (peak users), -r and -t (length).

    Locust uses a shape class whenever the locustfile has one, so the constant shape stands in
    for Locust's plain mode: -u users at -r per second, until -t or until stopped.
    """

    use_common_options = True

    def __init__(self) -> None:
        self.start_time = time.perf_counter()
        self._steps: list[Step] | None = None

    def reset_time(self) -> None:
        self.start_time = time.perf_counter()
        self._steps = None  # re-read the options: the web UI may have changed them

    def tick(self) -> tuple[int, float] | None:
        if self._steps is None:
            assert self.runner is not None
            options = self.runner.environment.parsed_options
            assert options is not None
            self._steps = plan(
                SHAPES[options.shape],
                peak_users=int(options.num_users or 1),
                duration_s=float(options.run_time) if options.run_time else None,
                spawn_rate=float(options.spawn_rate or 1),
            )
        return tick(self._steps, time.perf_counter() - self.start_time)
