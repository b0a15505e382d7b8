"""HTTP errors: a stable code, a sentence a person can act on, and the one place where casty's
exceptions become statuses.

Every error body is `{"error": code, "message": sentence, "node": index}`.
"""

from __future__ import annotations

from casty import ActorFailed, MailboxFull, MessageTooLarge, Unavailable

RETRY_AFTER_SECONDS = 1
"""What a 503 asks a client to wait: about one failure-detection round of the tuned defaults."""


class ApiError(Exception):
    """An answer that is not a success: status, stable code, message, and extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, {"Retry-After": str(RETRY_AFTER_SECONDS)})


# The codes a casty `ActorFailed` carries when a write inside an entity body failed: the body
# raised the exception and casty restarted it from the last confirmed state.
_UNCONFIRMED = {"Unavailable", "TimeoutError"}


def unconfirmed_write(exc: BaseException) -> bool:
    """Whether `exc` is a write inside an entity body that a majority did not confirm."""
    return isinstance(exc, ActorFailed) and getattr(exc, "error", "") in _UNCONFIRMED


def from_casty(exc: BaseException, timeout_ms: int) -> ApiError:
    """Map what an `ask` to an entity raised to the answer the client gets.

    A deadline is 504 and an unconfirmed write 503: both are indeterminate, the operation may
    have been applied, and the messages say so, so that a client retries with an Idempotency-Key.
    """
    match exc:
        case TimeoutError():
            return ApiError(
                504,
                "deadline_exceeded",
                f"no answer from the entity within REQUEST_TIMEOUT_MS of {timeout_ms} ms;"
                " the operation may or may not have been applied",
            )
        case Unavailable():
            return unavailable(
                f"the cluster could not confirm the operation ({exc}); it may or may not have"
                " been applied: retry, with an Idempotency-Key for increments"
            )
        case MailboxFull():
            return unavailable("the entity is overloaded (its mailbox is full): retry later")
        case MessageTooLarge():
            return ApiError(
                413, "entity_too_large", f"the operation does not fit in a message: {exc}"
            )
        case ActorFailed() if unconfirmed_write(exc):
            return unavailable(
                f"a majority of replicas did not confirm the write ({exc}); it may or"
                " may not have been applied: retry, with an Idempotency-Key for increments"
            )
        case ActorFailed():
            return ApiError(500, "entity_failed", f"the entity failed on this operation: {exc}")
        case _:
            raise exc
