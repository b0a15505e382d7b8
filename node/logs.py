"""Logging for the node: one logger per subsystem, each line carrying the node's identity.

Subsystems log under `node.http`, `node.cluster`, `node.lifecycle`, and casty under `casty`.
Lines are plain text or one JSON object each (`LOG_FORMAT`). The handler writes to stderr, which
is unbuffered, so a line costs a write and never waits on the event loop.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

from node.settings import Settings


class _Identity(logging.Filter):
    """Stamps every record with the node's index and advertised address."""

    def __init__(self, node: int, address: str) -> None:
        super().__init__()
        self.node = node
        self.address = address

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        record.address = self.address
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "node": getattr(record, "node", None),
            "address": getattr(record, "address", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


PLAIN = "%(asctime)s %(levelname)-7s node=%(node)s %(name)s: %(message)s"


def configure(settings: Settings) -> None:
    """Send every logger's records to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Identity(settings.node_index, settings.casty_address))
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(PLAIN))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Hypercorn's access log would cost a line per request; errors still come through.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
