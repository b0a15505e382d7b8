"""The smoke sequence of the original deployment guide, against any URL (`just smoke [URL]`).

Health, cluster status, counter `order-1` incremented by 5 then 3 (8), counter `order-2` by 10
(10), and the KV entity `user-1` given a name (Alice) and an email. Entity ids carry a run
suffix, so a rerun against a live cluster starts from zero and still expects 8 and 10. The
first wrong answer stops the run with a line saying what was expected and what came back, and
the exit status 1. Writes are not retried: a retried increment could count twice.

Standard library only, so it runs wherever Python 3.13 does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"


class SmokeFailure(Exception):
    """A step got an answer other than the one the sequence expects."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    node: str


def request(base: str, method: str, path: str, body: object = None, timeout: float = 10) -> Answer:
    """One HTTP request; any status is an answer, a dropped connection is a `SmokeFailure`."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    call = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return _answer(response.status, response.read(), response.headers)
    except urllib.error.HTTPError as error:
        return _answer(error.code, error.read(), error.headers)
    except (urllib.error.URLError, OSError) as error:
        raise SmokeFailure(f"{method} {path}: no answer from {base} ({error})") from None


def _answer(status: int, raw: bytes, headers: Any) -> Answer:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(status, body, headers.get("X-Casty-Node", "?"))


def expect(step: str, answer: Answer, code: int, **fields: object) -> None:
    """Fail `step` unless `answer` has the status `code` and every one of `fields` in its body."""
    if answer.status != code:
        raise SmokeFailure(f"{step}: expected status {code}, got {answer.status}: {answer.body}")
    body = answer.body if isinstance(answer.body, dict) else {}
    for name, wanted in fields.items():
        if body.get(name) != wanted:
            raise SmokeFailure(
                f"{step}: expected {name}={wanted!r}, got {body.get(name)!r} in {answer.body}"
            )
    print(f"ok    {step}  (node {answer.node})")


def wait_healthy(base: str, wait_s: float) -> Answer:
    """GET /health until it answers 200, for at most `wait_s` seconds; the last answer."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            answer = request(base, "GET", "/health")
        except SmokeFailure:
            if time.monotonic() >= deadline:
                raise
        else:
            if answer.status == 200 or time.monotonic() >= deadline:
                return answer
        time.sleep(1)


def run(base: str, run_id: str, wait_s: float) -> None:
    """The whole sequence against `base`; raises `SmokeFailure` at the first wrong answer."""
    base = base.rstrip("/")
    expect("GET /health", wait_healthy(base, wait_s), 200, status="ok")

    status = request(base, "GET", "/cluster/status")
    expect("GET /cluster/status", status, 200, majority=True)
    members = status.body.get("members") if isinstance(status.body, dict) else None
    if not isinstance(members, list) or not members:
        raise SmokeFailure(f"GET /cluster/status: expected a list of members, got {status.body}")
    print(f"      {status.body.get('alive')} of {len(members)} members alive")

    order_1, order_2, user_1 = f"order-1-{run_id}", f"order-2-{run_id}", f"user-1-{run_id}"
    increment = f"/counter/{order_1}/increment"
    expect(
        f"increment {order_1} by 5", request(base, "POST", increment, {"amount": 5}), 200, value=5
    )
    expect(
        f"increment {order_1} by 3", request(base, "POST", increment, {"amount": 3}), 200, value=8
    )
    expect(f"read {order_1}", request(base, "GET", f"/counter/{order_1}"), 200, value=8)
    increment = f"/counter/{order_2}/increment"
    expect(
        f"increment {order_2} by 10",
        request(base, "POST", increment, {"amount": 10}),
        200,
        value=10,
    )
    expect(f"read {order_2}", request(base, "GET", f"/counter/{order_2}"), 200, value=10)

    email = f"alice-{run_id}@example.com"
    for key, value in (("name", "Alice"), ("email", email)):
        path = f"/kv/{user_1}/{key}"
        expect(
            f"put {user_1}/{key}", request(base, "PUT", path, {"value": value}), 200, value=value
        )
    for key, value in (("name", "Alice"), ("email", email)):
        path = f"/kv/{user_1}/{key}"
        expect(f"read {user_1}/{key}", request(base, "GET", path), 200, key=key, value=value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just smoke", description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for /health to answer 200"
    )
    parser.add_argument("--run-id", default=uuid.uuid4().hex[:8], help="suffix of entity ids")
    args = parser.parse_args(argv)
    print(f"smoke: {args.url}, entity suffix {args.run_id}")
    try:
        run(args.url, args.run_id, args.wait)
    except SmokeFailure as failure:
        print(f"FAIL  {failure}", file=sys.stderr)
        return 1
    print("smoke: every answer was right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
