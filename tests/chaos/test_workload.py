"""The workload's outcome classification and its seeded choices, on a fake network (httpx's
MockTransport). No cluster, no root."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx

from compose.chaos.history import History, Operation
from compose.chaos.workload import Clock, Workload, WorkloadConfig

Handler = Callable[[httpx.Request], httpx.Response]


def workload(handler: Handler, seed: int = 1, **config: object) -> Workload:
    settings = WorkloadConfig(**{"rate": 200.0, "timeout_s": 1.0, **config})  # type: ignore[arg-type]
    return Workload(
        "http://balancer.test",
        [f"http://node{i}.test" for i in range(3)],
        "t",
        random.Random(seed),
        settings,
        Clock(),
        History(),
        transport=httpx.MockTransport(handler),
    )


def answer(status: int, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"X-Casty-Node": "2", **headers})


async def only(w: Workload) -> Operation:
    await w.close()
    (op,) = w.history.operations
    return op


async def test_an_answered_increment_is_acknowledged_with_its_value_and_node() -> None:
    w = workload(lambda r: answer(200, {"entity_id": "c", "value": 7}))
    await w.increment("balancer", "c", 3)
    op = await only(w)
    assert (op.outcome, op.result, op.value, op.node, op.status) == ("ok", 7, 3, 2, 200)


async def test_a_503_on_a_write_is_indeterminate_but_on_a_read_it_failed() -> None:
    unavailable = {"error": "unavailable", "message": "may or may not have been applied"}
    w = workload(lambda r: answer(503, unavailable, **{"Retry-After": "1"}))
    await w.write("node1", "m", "k")
    await w.read("node1", "m", "k")
    await w.close()
    write, read = w.history.operations
    assert (write.outcome, write.status, write.error) == ("indeterminate", 503, "unavailable")
    assert (read.outcome, read.status) == ("failed", 503)


async def test_a_missing_key_is_an_answered_read_and_a_412_a_failed_write() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return answer(404, {"error": "key_not_found", "message": "no such key"})
        assert request.headers["If-None-Match"] == "*"  # the key was missing when read
        return answer(412, {"error": "precondition_failed", "message": "it exists now"})

    w = workload(handler)
    await w.conditional_write("balancer", "m", "k")
    await w.close()
    read, cas = w.history.operations
    assert (read.kind, read.outcome, read.result) == ("kv_read", "ok", None)
    assert (cas.kind, cas.outcome, cas.status, cas.expected) == ("kv_cas", "failed", 412, None)


async def test_a_conditional_write_sends_the_etag_it_read_and_records_the_value_it_expected() -> (
    None
):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return answer(200, {"value": "old", "version": 4}, ETag='"4"')
        assert request.headers["If-Match"] == '"4"'
        sent = json.loads(request.content)["value"]
        return answer(200, {"value": sent, "version": 5}, ETag='"5"')

    w = workload(handler)
    await w.conditional_write("node0", "m", "k")
    await w.close()
    _, cas = w.history.operations
    assert (cas.outcome, cas.expected, cas.result == cas.value) == ("ok", "old", True)


async def test_no_connection_is_a_failure_but_a_timeout_after_sending_is_indeterminate() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    refused = workload(refuse)
    await refused.increment("node1", "c", 1)
    assert (await only(refused)).outcome == "failed"
    timed_out = workload(hang)
    await timed_out.increment("node1", "c", 1)
    assert (await only(timed_out)).outcome == "indeterminate"


async def test_an_idempotent_increment_is_retried_with_one_key_until_answered() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) < 3:
            return answer(504, {"error": "deadline_exceeded", "message": "maybe applied"})
        return answer(200, {"entity_id": "c", "value": 5})

    w = workload(handler)
    await w.idempotent_increment("balancer", "c", 5)
    op = await only(w)
    assert len(set(keys)) == 1
    assert (op.outcome, op.attempts, op.result, op.idempotency_key) == ("ok", 3, 5, keys[0])


async def requests_sent(seed: int) -> list[tuple[str, str, str]]:
    """The requests one seeded run sends in 0.3 s at 100 per second, sorted."""
    seen: list[tuple[str, str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url.host), request.url.path))
        return answer(200, {"entity_id": "x", "value": 1}, ETag='"1"')

    w = workload(handler, seed=seed, rate=100.0)
    w.clock.restart()
    await w.run(until=0.305)  # 31 operations, at 0.00, 0.01, ... 0.30 s
    await w.drain(deadline_s=5.0)
    await w.close()
    return sorted(seen)


async def test_one_seed_sends_one_sequence_of_requests() -> None:
    first, again, other = [await requests_sent(seed) for seed in (5, 5, 6)]
    assert first == again
    assert first != other
