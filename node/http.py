"""The node's HTTP API: Quart routes over the counter and KV entities, health, status, metrics.

Every answer is JSON (except `/metrics`) and carries `X-Casty-Node`. Input is validated here,
before any message reaches an entity, so bad input changes nothing; casty's exceptions become
statuses in `node.errors.from_casty` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import orjson
from casty import Ref
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from quart import Quart, Request, Response, request
from quart.typing import ResponseTypes
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from node import entities, openapi
from node.asking import Asker
from node.cluster import Membership, NotJoined
from node.errors import ApiError, unavailable
from node.settings import Settings

log = logging.getLogger("node.http")


# Stable codes for the statuses Quart raises itself (unknown route, wrong method, body too big).
_HTTP_CODES = {
    400: ("bad_request", "the request is malformed"),
    404: ("not_found", "no such route: see /openapi.json for the API"),
    405: ("method_not_allowed", "this route does not take that method"),
    413: ("body_too_large", "the request body is larger than MAX_BODY_BYTES"),
    415: ("unsupported_media_type", "send the body as application/json"),
}


class _NodeApp(Quart):
    """Quart that stamps every answer with the node's index and counts it in the metrics.

    Done here rather than in an `after_request` hook, which Quart wraps and awaits on every
    request: that alone cost a twentieth of a read's instructions. The latency runs from the
    request's dispatch to its answer, without the time taken to send it.
    """

    def __init__(self, node: Membership) -> None:
        super().__init__("node")
        self.membership = node
        self.node_header = str(node.settings.node_index)

    async def handle_request(self, request: Request) -> ResponseTypes:
        started = time.perf_counter()
        response = await super().handle_request(request)
        response.headers["X-Casty-Node"] = self.node_header
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - started
        self.membership.metrics.answered(rule, request.method, response.status_code, elapsed)
        return response


def create_app(settings: Settings) -> Quart:
    """The node as an ASGI app. Serving it joins the cluster; shutting it down leaves it."""
    node = Membership(settings)
    app = _NodeApp(node)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.extensions["membership"] = node
    api = _Api(settings, node)

    @app.before_serving
    async def join() -> None:
        node.start()

    @app.after_serving
    async def leave() -> None:
        await node.stop()

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return api.error(error)

    @app.errorhandler(NotJoined)
    async def not_joined(error: NotJoined) -> Response:
        return api.error(
            unavailable(
                f"this node is {error.phase}, not a member of the cluster: try another node"
            )
        )

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code, message = _HTTP_CODES.get(status, ("http_error", error.description or "error"))
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return api.error(ApiError(status, code, message, headers))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return api.error(
            ApiError(500, "internal_error", f"the node failed unexpectedly: {error!r}")
        )

    app.add_url_rule("/health", view_func=api.health, methods=["GET"])
    app.add_url_rule("/cluster/status", view_func=api.status, methods=["GET"])
    app.add_url_rule("/metrics", view_func=api.metrics, methods=["GET"])
    app.add_url_rule("/openapi.json", view_func=api.openapi, methods=["GET"])
    app.add_url_rule("/placement/<kind>/<entity_id>", view_func=api.placement, methods=["GET"])
    app.add_url_rule("/counter/<entity_id>", view_func=api.read_counter, methods=["GET"])
    app.add_url_rule("/counter/<entity_id>/increment", view_func=api.increment, methods=["POST"])
    app.add_url_rule("/kv/<entity_id>", view_func=api.list_keys, methods=["GET"])
    app.add_url_rule("/kv/<entity_id>/<key>", view_func=api.read_key, methods=["GET"])
    app.add_url_rule("/kv/<entity_id>/<key>", view_func=api.write_key, methods=["PUT"])
    app.add_url_rule("/kv/<entity_id>/<key>", view_func=api.delete_key, methods=["DELETE"])
    return app


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


class _Api:
    """The route handlers, sharing the settings and the membership."""

    def __init__(self, settings: Settings, node: Membership) -> None:
        self.settings = settings
        self.node = node
        self.asker = Asker(
            settings.request_timeout_ms, settings.repeat_after_ms, node.metrics.repeated
        )

    def error(self, error: ApiError) -> Response:
        body = {"error": error.code, "message": error.message, "node": self.settings.node_index}
        return json_response(body, error.status, error.headers)

    # ---- operations ----------------------------------------------------------------------------

    async def health(self) -> Response:
        readiness = self.node.readiness()
        body: dict[str, object] = {"node": self.settings.node_index, "status": readiness.status}
        if not readiness.ready:
            body["reason"] = readiness.reason
        return json_response(body, 200 if readiness.ready else 503)

    async def status(self) -> Response:
        members = self.node.members()
        readiness = self.node.readiness()
        return json_response(
            {
                "node": self.settings.node_index,
                "address": self.settings.casty_address,
                "cluster": self.settings.cluster_name,
                "phase": self.node.phase,
                "ready": readiness.ready,
                "reason": readiness.reason,
                "members": [
                    {
                        "address": m.node.address,
                        "status": m.status,
                        "incarnation": m.node.incarnation.hex,
                    }
                    for m in sorted(members, key=lambda m: m.node.address or "")
                ],
                "unreachable": sorted(
                    m.node.address or "" for m in members if m.status in ("suspect", "dead")
                ),
                "alive": sum(1 for m in members if m.status == "alive"),
                "majority": readiness.ready or readiness.status == "draining",
            }
        )

    async def metrics(self) -> Response:
        return Response(generate_latest(self.node.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    async def openapi(self) -> Response:
        return json_response(openapi.document(self.settings))

    async def placement(self, kind: str, entity_id: str) -> Response:
        if kind not in ("counter", "kv"):
            raise ApiError(404, "not_found", f"no entity kind {kind!r}: use counter or kv")
        self._identifier("entity id", entity_id)
        where = await self.node.placement(kind, entity_id)
        return json_response(
            {
                "entity_id": entity_id,
                "kind": kind,
                "owner": where.owner.address if where.owner is not None else None,
                "replicas": [r.address for r in where.replicas],
            }
        )

    async def read_counter(self, entity_id: str) -> Response:
        ref = self._counter(entity_id)
        value = await self.asker.ask_repeatable(ref, entities.ReadCounter())
        return json_response({"entity_id": entity_id, "value": value})

    async def increment(self, entity_id: str) -> Response:
        ref = self._counter(entity_id)
        body = await self._body(required=False, allowed=("amount",))
        amount = self._amount(body.get("amount", 1))
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            self._identifier("Idempotency-Key", key)
        increment = entities.Increment(amount, key, self.settings.idempotency_window)
        if key is None:
            answer = await self.asker.ask(ref, increment)
        else:
            answer = await self.asker.ask_repeatable(ref, increment)
        if isinstance(answer, entities.Rejected):
            raise ApiError(422, answer.code, answer.message)
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        return json_response({"entity_id": entity_id, "value": answer.value}, headers=headers)

    async def list_keys(self, entity_id: str) -> Response:
        ref = self._kv(entity_id)
        listed = await self.asker.ask_repeatable(ref, entities.ReadAll())
        entries = [{"key": e.key, "value": e.value, "version": e.version} for e in listed]
        return json_response({"entity_id": entity_id, "entries": entries})

    async def read_key(self, entity_id: str, key: str) -> Response:
        ref = self._kv(entity_id)
        self._identifier("key", key)
        entry = await self.asker.ask_repeatable(ref, entities.Read(key))
        if entry is None:
            raise ApiError(
                404, "key_not_found", f"key {key!r} does not exist in entity {entity_id!r}"
            )
        return self._entry(entity_id, key, entry)

    async def write_key(self, entity_id: str, key: str) -> Response:
        ref = self._kv(entity_id)
        self._identifier("key", key)
        body = await self._body(required=True, allowed=("value",))
        if "value" not in body:
            raise ApiError(422, "missing_field", 'the body needs a "value": {"value": "..."}')
        value = body["value"]
        if not isinstance(value, str):
            raise ApiError(
                422, "invalid_value", f'"value" must be a string, got {type(value).__name__}'
            )
        size = len(value.encode())
        if size > self.settings.max_value_bytes:
            raise ApiError(
                413,
                "value_too_large",
                f"the value is {size} bytes,"
                f" above MAX_VALUE_BYTES of {self.settings.max_value_bytes}",
            )
        if_match, if_exists = self._if_match()
        if_absent = request.headers.get("If-None-Match", "").strip() == "*"
        put = entities.Put(
            key,
            value,
            if_match=if_match,
            if_exists=if_exists,
            if_absent=if_absent,
            max_keys=self.settings.max_keys_per_entity,
            max_bytes=self.settings.max_entity_bytes,
        )
        answer = await self.asker.ask(ref, put)
        if isinstance(answer, entities.Rejected):
            self._rejected(answer)
        return self._entry(entity_id, key, answer)

    async def delete_key(self, entity_id: str, key: str) -> Response:
        ref = self._kv(entity_id)
        self._identifier("key", key)
        if_match, if_exists = self._if_match()
        answer = await self.asker.ask(ref, entities.Remove(key, if_match, if_exists))
        if isinstance(answer, entities.Rejected):
            self._rejected(answer)
        return json_response(
            {"entity_id": entity_id, "key": key, "deleted": True, "version": answer.version}
        )

    # ---- helpers -------------------------------------------------------------------------------

    def _counter(self, entity_id: str) -> Ref[entities.CounterMessage]:
        self._identifier("entity id", entity_id)
        return self.node.ref(self.node.counter, entity_id)

    def _kv(self, entity_id: str) -> Ref[entities.KVMessage]:
        self._identifier("entity id", entity_id)
        return self.node.ref(self.node.kv, entity_id)

    def _entry(self, entity_id: str, key: str, entry: entities.Entry) -> Response:
        return json_response(
            {"entity_id": entity_id, "key": key, "value": entry.value, "version": entry.version},
            headers={"ETag": f'"{entry.version}"'},
        )

    @staticmethod
    def _rejected(answer: entities.Rejected) -> NoReturn:
        status = {"precondition_failed": 412, "key_not_found": 404}.get(answer.code, 422)
        raise ApiError(status, answer.code, answer.message)

    def _identifier(self, what: str, value: str) -> None:
        limit = self.settings.max_id_length
        if len(value) > limit:
            raise ApiError(
                422,
                "identifier_too_long",
                f"the {what} is {len(value)} characters, above MAX_ID_LENGTH of {limit}",
            )
        if not value or not value.isprintable() or value != value.strip():
            raise ApiError(
                422,
                "invalid_identifier",
                f"the {what} {value!r} must be printable, non-empty, without surrounding spaces",
            )

    def _amount(self, amount: object) -> int:
        # bool is a subclass of int in Python, and JSON's true must not count as 1.
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ApiError(
                422,
                "invalid_amount",
                f'"amount" must be a whole number, got {type(amount).__name__} {amount!r}',
            )
        limit = self.settings.max_amount
        if not -limit <= amount <= limit:
            raise ApiError(
                422,
                "invalid_amount",
                f'"amount" is {amount}, outside the MAX_AMOUNT range of -{limit} to {limit}',
            )
        return amount

    def _if_match(self) -> tuple[int | None, bool]:
        """(version required, must exist) from If-Match; `*` is (None, True)."""
        header = request.headers.get("If-Match")
        if header is None:
            return None, False
        tag = header.strip()
        if tag == "*":
            return None, True
        tag = tag.removeprefix("W/").strip('"')
        if not tag.isdigit():
            # An ETag this node never issued matches no current entry (RFC 9110, section 13.1.1).
            return -1, False
        return int(tag), False

    async def _body(self, *, required: bool, allowed: tuple[str, ...]) -> dict[str, Any]:
        data = await request.get_data(cache=False)
        if not data:
            if required:
                raise ApiError(
                    400, "missing_body", 'this request needs a JSON body, such as {"value": "..."}'
                )
            return {}
        # The media type without parameters; werkzeug's `request.mimetype` parses them all.
        mimetype = request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if mimetype != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                f"the body is {mimetype or 'untyped'}: send it as application/json",
            )
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(
                422, "invalid_body", f"the body must be a JSON object, got {type(body).__name__}"
            )
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise ApiError(
                422,
                "unknown_field",
                f"unknown field(s) {', '.join(unknown)}: this request takes {', '.join(allowed)}",
            )
        return body
