"""Asking an entity: the deadline, the one repeat of a message that is safe to send twice, and
casty's exceptions turned into answers (through `node.errors.from_casty`).

casty bounds every ask by the system's ask_timeout, which is REQUEST_TIMEOUT_MS. A message that
changes nothing when it arrives twice (a read, an increment with an idempotency key) is asked
once more when the first ask meets an owner that is changing: casty's `Unavailable`, a write the
replicas did not confirm, or no answer within REPEAT_AFTER_MS, which is how a message to an owner
leaving the cluster can end. Once more only, so a cluster in trouble gets at most twice its
requests, and the second ask has only what is left of the deadline. The deadline of the first
ask costs a read about 2% of its CPU (an `asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from casty import ActorFailed, MailboxFull, MessageTooLarge, Unavailable

from node.errors import from_casty, unconfirmed_write

log = logging.getLogger("node.http")

CASTY_ERRORS = (TimeoutError, Unavailable, MailboxFull, MessageTooLarge, ActorFailed)
"""What an `ask` raises that `from_casty` turns into an answer."""

REPEAT_PAUSE_S = 0.1
"""The pause before a message that met `Unavailable` is asked again: a moment for an owner that
is changing to settle, short enough to leave most of the deadline."""


class Askable(Protocol):
    """What `Asker` needs of a casty `Ref`."""

    async def ask(self, msg: Any, /) -> Any: ...


class Asker:
    """Asks entities on behalf of the HTTP routes, within REQUEST_TIMEOUT_MS.

    `repeated(message type, reason)` is told of every second ask, `reason` being `unanswered`
    or `unavailable`, so that the metrics can count them.
    """

    def __init__(
        self,
        request_timeout_ms: int,
        repeat_after_ms: int,
        repeated: Callable[[str, str], None],
    ) -> None:
        self._timeout_ms = request_timeout_ms
        self._timeout_s = request_timeout_ms / 1000
        self._repeat_after_s = repeat_after_ms / 1000
        self._repeated = repeated

    async def ask(self, ref: Askable, msg: Any) -> Any:
        """The entity's answer to `msg`, asked once; raises `ApiError` for casty's errors."""
        try:
            return await ref.ask(msg)
        except CASTY_ERRORS as exc:
            raise from_casty(exc, self._timeout_ms) from exc

    async def ask_repeatable(self, ref: Askable, msg: Any) -> Any:
        """The entity's answer to `msg`, which must change nothing when it arrives twice.

        Asked once more after `Unavailable`, an unconfirmed write, or REPEAT_AFTER_MS without an
        answer; the error of the second ask is the one answered. Any other error is answered at
        once.
        """
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        try:
            async with asyncio.timeout(self._repeat_after_s):
                return await ref.ask(msg)
        except TimeoutError:
            reason = "unanswered"
        except CASTY_ERRORS as exc:
            if not isinstance(exc, Unavailable) and not unconfirmed_write(exc):
                raise from_casty(exc, self._timeout_ms) from exc
            reason = "unavailable"

        self._repeated(type(msg).__name__, reason)
        log.debug("%s to %s was %s: asking once more", type(msg).__name__, ref, reason)
        if reason == "unavailable":
            # An unconfirmed write restarts the entity's body after casty's backoff (50 ms).
            await asyncio.sleep(REPEAT_PAUSE_S)
        try:
            async with asyncio.timeout_at(deadline):
                return await ref.ask(msg)
        except CASTY_ERRORS as exc:
            raise from_casty(exc, self._timeout_ms) from exc
