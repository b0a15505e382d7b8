"""A bare Quart/Hypercorn endpoint: the ceiling a node's throughput is measured against.

It answers the node's two hottest routes with the node's JSON shapes, encoded the way the node
encodes them (orjson), served by Hypercorn with the node's own server settings (its
`hypercorn_config`) on the node's event loop (its `loop_factory`), and does nothing else: no
casty, no validation beyond the amount, no metrics. A node's reads and increments divided by this
endpoint's throughput, measured in the same run, is what the node costs above the framework it
runs on.

    python -m loadtest.bare --host 127.0.0.1 --port 18001
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import orjson
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

from node.server import hypercorn_config, loop_factory
from node.settings import Settings


def server_config(host: str, port: int) -> Config:
    """Hypercorn's settings exactly as the node builds them, bound to `host`:`port`."""
    return hypercorn_config(Settings(http_host=host, http_port=port))


def create_app() -> Quart:
    """The bare app: `GET /counter/<id>`, `POST /counter/<id>/increment` and `GET /health`."""
    app = Quart(__name__)

    def answer(body: dict[str, Any], status: int = 200) -> Response:
        return Response(
            orjson.dumps(body),
            status=status,
            mimetype="application/json",
            headers={"X-Casty-Node": "bare"},
        )

    @app.get("/health")
    async def health() -> Response:
        return answer({"node": "bare", "status": "ok"})

    @app.get("/counter/<entity_id>")
    async def read(entity_id: str) -> Response:
        return answer({"entity_id": entity_id, "value": 0})

    @app.post("/counter/<entity_id>/increment")
    async def increment(entity_id: str) -> Response:
        data = await request.get_data()
        amount = orjson.loads(data).get("amount", 1) if data else 1
        if not isinstance(amount, int) or isinstance(amount, bool):
            return answer({"error": "invalid_amount"}, 422)
        return answer({"entity_id": entity_id, "value": amount})

    return app


async def _main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(create_app(), server_config(host, port), shutdown_trigger=stop.wait)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    arguments = parser.parse_args()
    asyncio.run(_main(arguments.host, arguments.port), loop_factory=loop_factory)


if __name__ == "__main__":
    main()
