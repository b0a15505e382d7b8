"""Every endpoint and every kind of bad input, through Quart's test app with its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from node.http import create_app
from node.settings import Settings
from tests.node.helpers import free_port

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    settings = Settings.from_env(
        {
            "CASTY_PORT": str(free_port()),
            "NODE_INDEX": "3",
            "MAX_ID_LENGTH": "16",
            "MAX_VALUE_BYTES": "1024",
            "MAX_BODY_BYTES": "2048",
            "MAX_KEYS_PER_ENTITY": "2",
            "MAX_AMOUNT": "100",
        }
    )
    app: Quart = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for _ in range(100):
            if (await client.get("/health")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        yield client


async def body(response: Any) -> Any:
    return await response.get_json()


async def test_health_is_ok_once_joined_and_names_the_node(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert await body(response) == {"node": 3, "status": "ok"}
    assert response.headers["X-Casty-Node"] == "3"


async def test_cluster_status_lists_this_node_as_an_alive_member(client: Client) -> None:
    status = await body(await client.get("/cluster/status"))
    assert status["alive"] == 1
    assert status["majority"] is True
    assert [m["status"] for m in status["members"]] == ["alive"]
    assert status["members"][0]["address"] == status["address"]


async def test_the_seed_smoke_sequence_answers_as_the_seed_did(client: Client) -> None:
    first = await client.post("/counter/order-1/increment", json={"amount": 5})
    second = await client.post("/counter/order-1/increment", json={"amount": 3})
    assert await body(first) == {"entity_id": "order-1", "value": 5}
    assert await body(second) == {"entity_id": "order-1", "value": 8}
    assert await body(await client.get("/counter/order-1")) == {"entity_id": "order-1", "value": 8}
    put = await client.put("/kv/user-1/name", json={"value": "Alice"})
    assert (await body(put))["value"] == "Alice"
    got = await body(await client.get("/kv/user-1/name"))
    assert {k: got[k] for k in ("entity_id", "key", "value")} == {
        "entity_id": "user-1",
        "key": "name",
        "value": "Alice",
    }


async def test_an_increment_without_a_body_adds_one(client: Client) -> None:
    response = await client.post("/counter/c/increment")
    assert await body(response) == {"entity_id": "c", "value": 1}


async def test_an_idempotency_key_makes_a_retry_count_once(client: Client) -> None:
    headers = {**JSON, "Idempotency-Key": "retry-1"}
    first = await client.post("/counter/c/increment", json={"amount": 7}, headers=headers)
    retry = await client.post("/counter/c/increment", json={"amount": 7}, headers=headers)
    assert (await body(first))["value"] == (await body(retry))["value"] == 7
    assert retry.headers["Idempotent-Replayed"] == "true"
    reused = await client.post("/counter/c/increment", json={"amount": 8}, headers=headers)
    assert reused.status_code == 422
    assert (await body(reused))["error"] == "idempotency_key_reused"
    assert (await body(await client.get("/counter/c")))["value"] == 7


async def test_kv_etags_make_writes_conditional(client: Client) -> None:
    created = await client.put(
        "/kv/u/name", json={"value": "Alice"}, headers={"If-None-Match": "*"}
    )
    etag = created.headers["ETag"]
    again = await client.put("/kv/u/name", json={"value": "Eve"}, headers={"If-None-Match": "*"})
    stale = await client.put("/kv/u/name", json={"value": "Eve"}, headers={"If-Match": '"99"'})
    foreign = await client.put("/kv/u/name", json={"value": "Eve"}, headers={"If-Match": '"abc"'})
    fresh = await client.put("/kv/u/name", json={"value": "Bob"}, headers={"If-Match": etag})
    assert [r.status_code for r in (created, again, stale, foreign, fresh)] == [
        200,
        412,
        412,
        412,
        200,
    ]
    assert (await body(again))["error"] == "precondition_failed"
    read = await client.get("/kv/u/name")
    assert (await body(read))["value"] == "Bob"
    assert read.headers["ETag"] == fresh.headers["ETag"] != etag


async def test_kv_delete_and_list(client: Client) -> None:
    await client.put("/kv/u/a", json={"value": "1"})
    await client.put("/kv/u/b", json={"value": "2"})
    listed = await body(await client.get("/kv/u"))
    assert [(e["key"], e["value"]) for e in listed["entries"]] == [("a", "1"), ("b", "2")]
    deleted = await client.delete("/kv/u/a")
    assert (await body(deleted))["deleted"] is True
    assert (await client.get("/kv/u/a")).status_code == 404
    missing = await client.delete("/kv/u/a")
    assert missing.status_code == 404
    assert (await body(missing))["error"] == "key_not_found"


async def test_placement_names_this_node_as_owner_and_replica(client: Client) -> None:
    status = await body(await client.get("/cluster/status"))
    where = await body(await client.get("/placement/counter/order-1"))
    assert where["owner"] == status["address"]
    assert where["replicas"] == [status["address"]]
    assert (await client.get("/placement/queue/x")).status_code == 404


async def test_metrics_count_requests_by_route_and_members(client: Client) -> None:
    await client.post("/counter/m/increment")
    text = (await (await client.get("/metrics")).get_data()).decode()
    assert (
        'http_requests_total{method="POST",route="/counter/<entity_id>/increment",status="200"} 1.0'
        in text
    )
    assert 'http_request_duration_seconds_count{route="/counter/<entity_id>/increment"} 1.0' in text
    # The latency was measured from the request's arrival: more than nothing, less than 10 s.
    total = 'http_request_duration_seconds_sum{route="/counter/<entity_id>/increment"} '
    seconds = float(text.split(total, 1)[1].split()[0])
    assert 0 < seconds < 10
    assert 'casty_members{status="alive"} 1.0' in text
    assert "casty_writes_confirmed" in text


async def test_the_openapi_document_covers_every_route(client: Client) -> None:
    spec = await body(await client.get("/openapi.json"))
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {
        "/health",
        "/cluster/status",
        "/metrics",
        "/placement/{kind}/{entity_id}",
        "/counter/{entity_id}",
        "/counter/{entity_id}/increment",
        "/kv/{entity_id}",
        "/kv/{entity_id}/{key}",
    }


BAD_INCREMENTS = [
    ({"amount": True}, 422, "invalid_amount"),
    ({"amount": 1.5}, 422, "invalid_amount"),
    ({"amount": "5"}, 422, "invalid_amount"),
    ({"amount": None}, 422, "invalid_amount"),
    ({"amount": 101}, 422, "invalid_amount"),
    ({"amount": 10**30}, 422, "invalid_amount"),
    ({"amout": 5}, 422, "unknown_field"),
    ([5], 422, "invalid_body"),
]


@pytest.mark.parametrize(("payload", "status", "code"), BAD_INCREMENTS)
async def test_a_bad_increment_is_refused_and_changes_nothing(
    client: Client, payload: object, status: int, code: str
) -> None:
    response = await client.post("/counter/bad/increment", json=payload)
    assert response.status_code == status
    answer = await body(response)
    assert answer["error"] == code
    assert answer["node"] == 3
    assert answer["message"]
    assert (await body(await client.get("/counter/bad")))["value"] == 0


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"),
    [
        (b"{", JSON, 400, "invalid_json"),
        (
            b"amount=5",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (b'{"amount": 5}', {}, 415, "unsupported_media_type"),
        (b'{"amount": 5}' + b" " * 4096, JSON, 413, "body_too_large"),
    ],
)
async def test_a_malformed_body_gets_a_json_error(
    client: Client, data: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await client.post("/counter/bad/increment", data=data, headers=headers)
    assert response.status_code == status
    assert (await body(response))["error"] == code
    assert (await body(await client.get("/counter/bad")))["value"] == 0


async def test_a_json_media_type_with_parameters_in_any_case_is_accepted(client: Client) -> None:
    response = await client.post(
        "/counter/typed/increment",
        data=b'{"amount": 4}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200
    assert (await body(response))["value"] == 4


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/kv/u/k", {"value": 5}, 422, "invalid_value"),
        ("/kv/u/k", {}, 422, "missing_field"),
        ("/kv/u/k", {"value": "x", "ttl": 3}, 422, "unknown_field"),
        ("/kv/u/k", {"value": "v" * 1100}, 413, "value_too_large"),
        ("/kv/u/" + "k" * 17, {"value": "x"}, 422, "identifier_too_long"),
        ("/kv/" + "u" * 17 + "/k", {"value": "x"}, 422, "identifier_too_long"),
        ("/kv/u/%20k", {"value": "x"}, 422, "invalid_identifier"),
    ],
)
async def test_a_bad_kv_write_is_refused_and_changes_nothing(
    client: Client, path: str, payload: object, status: int, code: str
) -> None:
    response = await client.put(path, json=payload)
    assert response.status_code == status
    assert (await body(response))["error"] == code
    assert (await body(await client.get("/kv/u")))["entries"] == []


async def test_a_put_without_a_body_is_a_400(client: Client) -> None:
    response = await client.put("/kv/u/k")
    assert response.status_code == 400
    assert (await body(response))["error"] == "missing_body"


async def test_the_key_limit_is_a_422_and_keeps_the_keys(client: Client) -> None:
    for key in ("a", "b"):
        assert (await client.put(f"/kv/u/{key}", json={"value": "v"})).status_code == 200
    third = await client.put("/kv/u/c", json={"value": "v"})
    assert third.status_code == 422
    assert (await body(third))["error"] == "too_many_keys"
    assert len((await body(await client.get("/kv/u")))["entries"]) == 2


async def test_unknown_routes_and_methods_get_json_404_and_405(client: Client) -> None:
    missing = await client.get("/nothing/here")
    wrong = await client.delete("/counter/c")
    assert missing.status_code == 404
    assert (await body(missing))["error"] == "not_found"
    assert wrong.status_code == 405
    assert (await body(wrong))["error"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    assert wrong.headers["X-Casty-Node"] == "3"
