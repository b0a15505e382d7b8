"""The image, checked without a Docker engine: its instructions, and its command run directly."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.node.helpers import ROOT, free_port

pytestmark = [pytest.mark.integration]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs of the root Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                env[name] = value
    return env


def exec_form(word: str) -> list[str]:
    argument = next(rest for w, rest in instructions() if w == word)
    argument = argument.split(" CMD ", 1)[-1] if word == "HEALTHCHECK" else argument
    command = json.loads(argument)
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_the_image_is_slim_python_313_run_by_a_non_root_user() -> None:
    pairs = instructions()
    assert pairs[0] == ("FROM", "python:3.13-slim")
    users = [rest for word, rest in pairs if word == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert ("EXPOSE", "8000 25520") in pairs
    assert any(word == "RUN" and "uv sync --frozen" in rest for word, rest in pairs)


def test_the_build_context_holds_the_lock_and_the_node_only() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*") :][:4] == ["*", "!pyproject.toml", "!uv.lock", "!node/"]


def test_the_image_command_starts_a_node_that_its_healthcheck_passes(tmp_path: Path) -> None:
    command = exec_form("CMD")
    assert command == ["python", "-m", "node"]
    # The image's environment, with free ports so the test never collides with a running node.
    env = {"PATH": os.environ["PATH"], **image_env()}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env.update(HTTP_PORT=str(free_port()), CASTY_PORT=str(free_port()))
    log = (tmp_path / "node.log").open("wb")
    node = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        healthcheck = exec_form("HEALTHCHECK")
        deadline = time.monotonic() + 30
        while True:
            check = subprocess.run(healthcheck, env=env, capture_output=True, timeout=10)
            if check.returncode == 0:
                break
            assert node.poll() is None, (tmp_path / "node.log").read_text()
            assert time.monotonic() < deadline, check.stderr.decode()
            time.sleep(0.3)
    finally:
        node.terminate()
        assert node.wait(30) == 0
