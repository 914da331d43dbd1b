"""The platform's one retry policy: few attempts, jittered backoff, one overall deadline.

The orchestrator retries a pipeline stage that failed for a transient reason, and the feeder
retries a fetch from sources_api inside that stage. Both call `call_with_retries`, built on
tenacity:

- at most `LAKEHOUSE_RETRY_ATTEMPTS` attempts, exponential backoff with full jitter (so
  replicas that failed together do not retry together);
- never past `LAKEHOUSE_RETRY_DEADLINE_SECONDS` from the first attempt, and never a sleep
  that would end after it, nor one after the last attempt;
- nested retries share the *outer* deadline: an inner call inherits what is left of it (a
  context variable), so stage retries times fetch retries can no longer add up to more than
  one deadline (they once reached 18 minutes against a 15-minute schedule).

`sleep` and `clock` can be replaced, so the tests count attempts and sleeps with a fake clock
instead of waiting.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from lakehouse.config import Settings

T = TypeVar("T")
logger = logging.getLogger("lakehouse.retry")
# The absolute deadline (in `clock` time) of the outermost retry loop running in this context.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "lakehouse_retry_deadline", default=None
)
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0


class _Deadline(stop_base):
    """Stop when the next attempt would start at or after the deadline."""

    def __init__(self, at: float, clock: Callable[[], float]) -> None:
        self.at = at
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.at


def call_with_retries(
    action: Callable[[], T],
    settings: Settings,
    *,
    retry_on: tuple[type[BaseException], ...],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_backoff: float = FIRST_BACKOFF_SECONDS,
) -> T:
    """Call `action`, retrying the `retry_on` errors under the one policy.

    Args:
        action: what to run; any other error propagates at once.
        settings: `retry_attempts` and `retry_deadline_seconds`.
        retry_on: the transient errors worth another attempt.
        what: names the action in the retry log lines.
        sleep: how to wait between attempts (replaced in tests).
        clock: monotonic time in seconds (replaced in tests).
        first_backoff: upper bound of the first jittered wait; it doubles, up to 60 s.

    Returns:
        What `action` returned.

    Raises:
        The last transient error once attempts or the deadline are exhausted.
    """
    own = clock() + settings.retry_deadline_seconds
    outer = _DEADLINE.get()
    deadline = own if outer is None else min(own, outer)
    token = _DEADLINE.set(deadline)

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s failed (attempt %d), retrying in %.1f s: %s",
            what, state.attempt_number, state.upcoming_sleep, error,
            extra={"attempt": state.attempt_number, "error": str(error)},
        )  # fmt: skip

    try:
        retrying = Retrying(
            stop=stop_after_attempt(settings.retry_attempts) | _Deadline(deadline, clock),
            wait=wait_random_exponential(multiplier=first_backoff, max=MAX_BACKOFF_SECONDS),
            retry=retry_if_exception_type(retry_on),
            sleep=sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(action)
    finally:
        _DEADLINE.reset(token)
