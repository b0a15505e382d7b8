"""Log lines carry the node's identity, as text or as one JSON object per line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from node import logs
from node.settings import Settings


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_name_the_node_and_the_subsystem(
    capsys: pytest.CaptureFixture[str], restore_root_logger: None
) -> None:
    logs.configure(Settings.from_env({"NODE_INDEX": "4", "LOG_FORMAT": "json"}))
    logging.getLogger("node.cluster").warning("member %s is %s", "10.0.1.12:25520", "dead")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["node"] == 4
    assert line["logger"] == "node.cluster"
    assert line["level"] == "WARNING"
    assert line["message"] == "member 10.0.1.12:25520 is dead"


def test_plain_lines_name_the_node_and_respect_the_level(
    capsys: pytest.CaptureFixture[str], restore_root_logger: None
) -> None:
    logs.configure(Settings.from_env({"NODE_INDEX": "2", "LOG_LEVEL": "warning"}))
    logging.getLogger("node.http").info("not shown")
    logging.getLogger("casty").error("shown")
    err = capsys.readouterr().err
    assert "not shown" not in err
    assert "node=2 casty: shown" in err
