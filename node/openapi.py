"""The OpenAPI 3.1 document of the node's API, with the limits of the settings it runs with."""

from __future__ import annotations

from typing import Any

from node.settings import Settings


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_COMMON = {
    "422": _error("invalid input (an id too long, a wrong type); nothing was changed"),
    "503": _error("the cluster could not confirm it; see Retry-After (indeterminate for writes)"),
    "504": _error("deadline exceeded (REQUEST_TIMEOUT_MS); indeterminate for writes"),
}


def document(settings: Settings) -> dict[str, Any]:
    entity = {
        "name": "entity_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": settings.max_id_length},
    }
    key = {**entity, "name": "key"}
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": 'write only if the key is at this ETag ("N"), or exists at all (*)',
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "casty cluster node",
            "version": "1.0.0",
            "description": "Sharded, replicated counters and key-value maps; any node answers.",
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Readiness: joined and a majority of members alive",
                    "responses": {
                        "200": _ok("Health"),
                        "503": _ok("Health", "starting or draining"),
                    },
                }
            },
            "/cluster/status": {
                "get": {
                    "summary": "This node's view of the members",
                    "responses": {"200": _ok("Status")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/placement/{kind}/{entity_id}": {
                "get": {
                    "summary": "The owner and replicas of an entity, as this node routes",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": ["counter", "kv"]},
                        },
                        entity,
                    ],
                    "responses": {
                        "200": _ok("Placement"),
                        "404": _error("unknown kind"),
                        **_COMMON,
                    },
                }
            },
            "/counter/{entity_id}": {
                "get": {
                    "summary": "Read a counter (0 if never incremented)",
                    "parameters": [entity],
                    "responses": {"200": _ok("Counter"), **_COMMON},
                }
            },
            "/counter/{entity_id}/increment": {
                "post": {
                    "summary": "Add an amount; answers the value it produced, majority-confirmed",
                    "parameters": [
                        entity,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": settings.max_id_length},
                            "description": "a retry with the same key counts once, same answer",
                        },
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Increment"}
                            }
                        },
                    },
                    "responses": {
                        "200": _ok("Counter"),
                        "400": _error("not JSON"),
                        "413": _error("body above MAX_BODY_BYTES"),
                        "415": _error("not application/json"),
                        **_COMMON,
                    },
                }
            },
            "/kv/{entity_id}": {
                "get": {
                    "summary": "List an entity's keys",
                    "parameters": [entity],
                    "responses": {"200": _ok("Listing"), **_COMMON},
                }
            },
            "/kv/{entity_id}/{key}": {
                "get": {
                    "summary": "Read a key (its ETag is the version)",
                    "parameters": [entity, key],
                    "responses": {"200": _ok("Entry"), "404": _error("no such key"), **_COMMON},
                },
                "put": {
                    "summary": "Write a key, confirmed by a majority",
                    "parameters": [
                        entity,
                        key,
                        if_match,
                        {
                            "name": "If-None-Match",
                            "in": "header",
                            "required": False,
                            "schema": {"const": "*"},
                            "description": "write only if the key does not exist",
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Value"}}
                        },
                    },
                    "responses": {
                        "200": _ok("Entry"),
                        "400": _error("missing body or not JSON"),
                        "412": _error("If-Match / If-None-Match did not hold"),
                        "413": _error("value above MAX_VALUE_BYTES or body above MAX_BODY_BYTES"),
                        "415": _error("not application/json"),
                        **_COMMON,
                    },
                },
                "delete": {
                    "summary": "Delete a key, confirmed by a majority",
                    "parameters": [entity, key, if_match],
                    "responses": {
                        "200": _ok("Deleted"),
                        "404": _error("no such key"),
                        "412": _error("If-Match did not hold"),
                        **_COMMON,
                    },
                },
            },
        },
        "components": {"schemas": _schemas(settings)},
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    text = {"type": "string"}
    integer = {"type": "integer"}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message", "node"],
            "properties": {"error": text, "message": text, "node": integer},
        },
        "Health": {
            "type": "object",
            "required": ["node", "status"],
            "properties": {
                "node": integer,
                "status": {"enum": ["ok", "starting", "draining"]},
                "reason": text,
            },
        },
        "Status": {
            "type": "object",
            "properties": {
                "node": integer,
                "address": text,
                "members": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"address": text, "status": text, "incarnation": text},
                    },
                },
                "unreachable": {"type": "array", "items": text},
                "alive": integer,
                "majority": {"type": "boolean"},
            },
        },
        "Placement": {
            "type": "object",
            "properties": {
                "entity_id": text,
                "kind": text,
                "owner": {"type": ["string", "null"]},
                "replicas": {"type": "array", "items": text},
            },
        },
        "Increment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "amount": {
                    "type": "integer",
                    "minimum": -settings.max_amount,
                    "maximum": settings.max_amount,
                    "default": 1,
                }
            },
        },
        "Counter": {
            "type": "object",
            "required": ["entity_id", "value"],
            "properties": {"entity_id": text, "value": integer},
        },
        "Value": {
            "type": "object",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {
                "value": {
                    "type": "string",
                    "description": f"at most {settings.max_value_bytes} UTF-8 bytes",
                }
            },
        },
        "Entry": {
            "type": "object",
            "required": ["entity_id", "key", "value", "version"],
            "properties": {"entity_id": text, "key": text, "value": text, "version": integer},
        },
        "Listing": {
            "type": "object",
            "properties": {
                "entity_id": text,
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": text, "value": text, "version": integer},
                    },
                },
            },
        },
        "Deleted": {
            "type": "object",
            "properties": {
                "entity_id": text,
                "key": text,
                "deleted": {"const": True},
                "version": integer,
            },
        },
    }
