"""Asking an entity: which messages are asked once more, when, and what the client then gets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from casty import ActorFailed, Unavailable

from node.asking import Asker
from node.errors import ApiError


class ScriptedRef:
    """A ref whose asks play a script: each step is an answer, an exception, or "silent"."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.asked: list[Any] = []

    async def ask(self, msg: Any, /) -> Any:
        self.asked.append(msg)
        step = self.steps.pop(0)
        if step == "silent":
            await asyncio.sleep(3600)
        if isinstance(step, Exception):
            raise step
        return step


def asker(
    repeats: list[tuple[str, str]], timeout_ms: int = 2000, repeat_after_ms: int = 100
) -> Asker:
    def record(message: str, reason: str) -> None:
        repeats.append((message, reason))

    return Asker(timeout_ms, repeat_after_ms, record)


class Read:
    """A stand-in message; only its type name reaches the metrics."""


async def test_a_repeatable_message_that_met_an_owner_changing_is_asked_once_more() -> None:
    repeats: list[tuple[str, str]] = []
    ref = ScriptedRef(Unavailable("the owner is changing"), 7)
    assert await asker(repeats).ask_repeatable(ref, Read()) == 7
    assert len(ref.asked) == 2
    assert repeats == [("Read", "unavailable")]


async def test_a_repeatable_message_left_unanswered_is_asked_again_within_the_deadline() -> None:
    repeats: list[tuple[str, str]] = []
    ref = ScriptedRef("silent", 7)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asker(repeats, repeat_after_ms=100).ask_repeatable(ref, Read()) == 7
    assert 0.1 <= loop.time() - started < 1.0
    assert repeats == [("Read", "unanswered")]


async def test_the_second_ask_has_only_what_is_left_of_the_deadline_and_ends_in_a_504() -> None:
    ref = ScriptedRef("silent", "silent")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ApiError) as raised:
        await asker([], timeout_ms=1000, repeat_after_ms=800).ask_repeatable(ref, Read())
    assert raised.value.status == 504
    # Within the one deadline of 1 s: a second ask with a fresh deadline would end at 1.6 s.
    assert 1.0 <= loop.time() - started < 1.4
    assert len(ref.asked) == 2


async def test_a_repeatable_message_unavailable_twice_is_a_503_with_retry_after() -> None:
    ref = ScriptedRef(Unavailable("no owner"), Unavailable("no owner"))
    with pytest.raises(ApiError) as raised:
        await asker([]).ask_repeatable(ref, Read())
    assert raised.value.status == 503
    assert "Retry-After" in raised.value.headers
    assert len(ref.asked) == 2


async def test_a_message_that_is_not_repeatable_is_asked_only_once() -> None:
    repeats: list[tuple[str, str]] = []
    ref = ScriptedRef(Unavailable("the owner is changing"), 7)
    with pytest.raises(ApiError) as raised:
        await asker(repeats).ask(ref, Read())
    assert raised.value.status == 503
    assert len(ref.asked) == 1
    assert repeats == []


async def test_a_failure_of_the_entity_itself_is_not_asked_again() -> None:
    ref = ScriptedRef(ActorFailed("boom"), 7)
    with pytest.raises(ApiError) as raised:
        await asker([]).ask_repeatable(ref, Read())
    assert raised.value.status == 500
    assert len(ref.asked) == 1


async def test_an_idempotent_write_the_replicas_did_not_confirm_is_asked_once_more() -> None:
    unconfirmed = ActorFailed("a majority did not confirm")
    unconfirmed.error = "Unavailable"
    repeats: list[tuple[str, str]] = []
    ref = ScriptedRef(unconfirmed, 7)
    assert await asker(repeats).ask_repeatable(ref, Read()) == 7
    assert repeats == [("Read", "unavailable")]
