"""A 20-second headless Locust run against the ten-node cluster: every endpoint, no failure.

Locust runs as a subprocess (it patches the process with gevent at import); the claim is read
back from the CSV statistics it writes, not from its exit status alone.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from compose.backend import Backend

REPO = Path(__file__).resolve().parents[2]

# Every endpoint of the API and every kind of call the locustfile makes, by its statistics name.
EXPECTED = {
    ("GET", "/health"),
    ("GET", "/cluster/status"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/placement/counter/[id]"),
    ("GET", "/placement/kv/[id]"),
    ("GET", "/counter/[id]"),
    ("POST", "/counter/[id]/increment"),
    ("POST", "/counter/[id]/increment Idempotency-Key first"),
    ("POST", "/counter/[id]/increment Idempotency-Key retry"),
    ("GET", "/kv/[id]"),
    ("GET", "/kv/[id]/[key]"),
    ("PUT", "/kv/[id]/[key]"),
    ("PUT", "/kv/[id]/[key] private"),
    ("GET", "/kv/[id]/[key] private"),
    ("PUT", "/kv/[id]/[key] If-Match"),
    ("PUT", "/kv/[id]/[key] If-Match stale"),
    ("DELETE", "/kv/[id]/[key] private"),
    ("GET", "/kv/[id]/[key] deleted"),
    ("PUT", "/kv/[id]/[key] If-None-Match"),
}


@pytest.mark.cluster
@pytest.mark.root
def test_twenty_seconds_of_locust_through_the_balancer_exercise_every_endpoint_without_failure(
    local_cluster: Backend, tmp_path: Path
) -> None:
    prefix = f"locust-test-{uuid.uuid4().hex[:8]}"
    # A small key space and a short think time make the rarer calls (idempotent retries,
    # deletes, conditional creates) happen many times in 20 s.
    command = [
        sys.executable, "-m", "locust", "-f", str(REPO / "loadtest" / "locustfile.py"),
        "--host", local_cluster.balancer_url, "--headless", "-u", "20", "-r", "10", "-t", "20s",
        "--csv", str(tmp_path / "load"), "--only-summary", "--stop-timeout", "5",
        "--entities", "50", "--think-time", "0.05", "--prefix", prefix,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    output = (done.stdout + done.stderr)[-4000:]

    with open(tmp_path / "load_stats.csv", newline="") as stats_file:
        rows = list(csv.DictReader(stats_file))
    seen = {(row["Type"], row["Name"]): row for row in rows if row["Name"] != "Aggregated"}
    missing = sorted(EXPECTED - {key for key, row in seen.items() if int(row["Request Count"])})
    failed = {
        f"{method} {name}": int(row["Failure Count"])
        for (method, name), row in seen.items()
        if int(row["Failure Count"])
    }
    failures = (tmp_path / "load_failures.csv").read_text()

    assert not missing, f"never called: {missing}\n{output}"
    assert not failed, f"failures by endpoint: {failed}\n{failures}"
    assert done.returncode == 0, f"locust exited with {done.returncode}\n{output}"
