"""`casty-node-update`, the script that (re)starts a node's container, run against stub commands.

`docker`, `aws`, `curl` and `sleep` are replaced by scripts that log their arguments, so the
test sees what the script would do on an instance, in order, without Docker or AWS.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infra.node_env import STOP_TIMEOUT_S
from infra.user_data import update_script

REF = "123456789012.dkr.ecr.us-east-1.amazonaws.com/casty-prod-repo@sha256:" + "c" * 64
OLD = REF.replace("c" * 64, "d" * 64)

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $1 $2" in
    "docker inspect"*) [ -n "$RUNNING" ] && echo "$RUNNING" && exit 0; exit 1 ;;
    "docker login"*) cat > /dev/null ;;  # reads the password, as docker does
    "aws ssm get-parameter") echo "$PARAMETER_REF" ;;
    "aws ecr get-login-password")
        echo x >> "$STUB_LOG.ecr"
        [ "$(wc -l < "$STUB_LOG.ecr")" -gt "$ECR_FAILS" ] || exit 255
        echo password ;;
    "curl "*) exit "$CURL_EXIT" ;;
esac
exit 0
"""


def run_update(
    tmp_path: Path, *args: str, running: str = "", curl_exit: int = 0, ecr_fails: int = 0
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for command in ("docker", "aws", "curl", "sleep"):
        stub = bin_dir / command
        stub.write_text(STUB)
        stub.chmod(0o755)
    script = tmp_path / "casty-node-update"
    script.write_text(update_script(region="us-east-1", image_parameter="/casty-prod/image"))
    log = tmp_path / "log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "RUNNING": running,
        "PARAMETER_REF": REF,
        "CURL_EXIT": str(curl_exit),
        "ECR_FAILS": str(ecr_fails),
    }
    done = subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done, log.read_text().splitlines()


def index_of(calls: list[str], prefix: str) -> int:
    matches = [i for i, call in enumerate(calls) if call.startswith(prefix)]
    assert matches, f"no call starting with {prefix!r} in {calls}"
    return matches[0]


def test_with_no_argument_it_runs_the_image_the_parameter_names(tmp_path: Path) -> None:
    done, calls = run_update(tmp_path, running=f"{OLD} true")
    assert done.returncode == 0, done.stderr
    assert calls[0] == (
        "aws ssm get-parameter --region us-east-1 --name /casty-prod/image"
        " --query Parameter.Value --output text"
    )
    assert f"docker pull {REF}" in calls
    assert calls[index_of(calls, "docker run")].endswith(REF)


def test_it_pulls_before_it_stops_the_old_node_and_waits_for_health_after_starting(
    tmp_path: Path,
) -> None:
    done, calls = run_update(tmp_path, REF, running=f"{OLD} true")
    assert done.returncode == 0, done.stderr
    assert not any(call.startswith("aws ssm") for call in calls)
    login = index_of(calls, "docker login --username AWS --password-stdin")
    assert calls[login].endswith("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    pull = index_of(calls, f"docker pull {REF}")
    stop = index_of(calls, f"docker stop --time {STOP_TIMEOUT_S} casty-node")
    run = index_of(calls, "docker run")
    health = index_of(calls, "curl")
    assert login < pull < stop < run < health
    assert "--network=host --restart=unless-stopped" in calls[run]
    assert "http://127.0.0.1:8000/health" in calls[health]


def test_it_does_nothing_when_the_image_already_runs(tmp_path: Path) -> None:
    done, calls = run_update(tmp_path, REF, running=f"{REF} true")
    assert done.returncode == 0, done.stderr
    assert "already runs" in done.stdout
    assert not any(call.startswith(("docker pull", "docker stop", "docker run")) for call in calls)


def test_it_restarts_the_image_when_its_container_is_stopped(tmp_path: Path) -> None:
    done, calls = run_update(tmp_path, REF, running=f"{REF} false")
    assert done.returncode == 0, done.stderr
    assert any(call.startswith("docker run") for call in calls)


@pytest.mark.parametrize("curl_exit", [7, 22])
def test_it_fails_when_the_new_node_never_answers_health(tmp_path: Path, curl_exit: int) -> None:
    done, calls = run_update(tmp_path, REF, curl_exit=curl_exit)
    assert done.returncode == 1
    assert "/health gave no 200" in done.stderr
    assert sum(call.startswith("curl") for call in calls) == 300


def test_a_refused_ecr_login_is_retried_until_it_works(tmp_path: Path) -> None:
    done, calls = run_update(tmp_path, REF, ecr_fails=3)
    assert done.returncode == 0, done.stderr
    assert sum(call.startswith("aws ecr get-login-password") for call in calls) == 4
    assert sum(call.startswith("sleep 6") for call in calls) == 3


def test_an_ecr_login_refused_ten_times_fails_before_the_old_node_is_stopped(
    tmp_path: Path,
) -> None:
    done, calls = run_update(tmp_path, REF, ecr_fails=10)
    assert done.returncode != 0
    assert sum(call.startswith("aws ecr get-login-password") for call in calls) == 10
    assert not any(call.startswith(("docker stop", "docker run")) for call in calls)
