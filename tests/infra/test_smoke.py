"""`just smoke` against a stand-in on loopback: right answers pass, a wrong one fails loudly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from loadtest import smoke


class StandIn(BaseHTTPRequestHandler):
    """The node API's smoke-tested subset, in memory; `skew` is added to every counter value."""

    counters: dict[str, int]
    kv: dict[tuple[str, str], str]
    skew = 0

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Casty-Node", "0")
        self.end_headers()
        self.wfile.write(raw)

    def body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["health"]:
            self.reply(200, {"node": 0, "status": "ok"})
        elif parts == ["cluster", "status"]:
            members = [{"address": "127.0.0.1:25520", "status": "up", "incarnation": 0}]
            self.reply(200, {"node": 0, "members": members, "alive": 1, "majority": True})
        elif parts[0] == "counter":
            self.reply(200, {"entity_id": parts[1], "value": self.counters.get(parts[1], 0)})
        elif parts[0] == "kv" and (parts[1], parts[2]) in self.kv:
            value = self.kv[parts[1], parts[2]]
            self.reply(200, {"entity_id": parts[1], "key": parts[2], "value": value})
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self) -> None:
        entity = self.path.strip("/").split("/")[1]
        self.counters[entity] = self.counters.get(entity, 0) + self.body()["amount"] + self.skew
        self.reply(200, {"entity_id": entity, "value": self.counters[entity]})

    def do_PUT(self) -> None:
        _, entity, key = self.path.strip("/").split("/")
        self.kv[entity, key] = self.body()["value"]
        self.reply(200, {"entity_id": entity, "key": key, "value": self.kv[entity, key]})


def serve(skew: int) -> Iterator[str]:
    handler = type("Handler", (StandIn,), {"counters": {}, "kv": {}, "skew": skew})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def right_server() -> Iterator[str]:
    yield from serve(skew=0)


@pytest.fixture
def wrong_server() -> Iterator[str]:
    yield from serve(skew=1)


def test_smoke_passes_and_passes_again_on_a_rerun(
    right_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main([right_server, "--wait", "0"]) == 0
    assert smoke.main([right_server, "--wait", "0"]) == 0
    assert "every answer was right" in capsys.readouterr().out


def test_smoke_fails_loudly_on_a_wrong_counter(
    wrong_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main([wrong_server, "--wait", "0"]) == 1
    assert "expected value=5, got 6" in capsys.readouterr().err


def test_smoke_fails_loudly_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["http://127.0.0.1:9", "--wait", "0"]) == 1
    assert "no answer from http://127.0.0.1:9" in capsys.readouterr().err
