"""The one retry policy (lakehouse/retry.py): attempts, jitter, and a deadline nesting cannot pass.

A fake clock that only moves when the code "sleeps" or an attempt "takes time" stands in for
the wall clock. The tests count attempts and sleeps, and add up fake seconds. Nothing waits,
and nothing depends on how long the test takes.
"""

from __future__ import annotations

import pytest

from lakehouse.config import Settings
from lakehouse.pipeline.sources_http import SourceUnavailableError
from lakehouse.retry import MAX_BACKOFF_SECONDS, call_with_retries


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _failing(time: FakeTime, seconds_per_attempt: float, calls: list[int]):  # type: ignore[no-untyped-def]
    def action() -> None:
        calls.append(1)
        time.now += seconds_per_attempt
        raise SourceUnavailableError("down")

    return action


def _retry(action, settings: Settings, time: FakeTime, first_backoff: float = 1.0):  # type: ignore[no-untyped-def]
    return call_with_retries(
        action, settings, retry_on=(SourceUnavailableError,), what="test",
        sleep=time.sleep, clock=time.clock, first_backoff=first_backoff,
    )  # fmt: skip


def test_attempts_are_capped_and_the_last_is_not_followed_by_a_sleep() -> None:
    time, calls = FakeTime(), []
    with pytest.raises(SourceUnavailableError):
        _retry(_failing(time, 0.1, calls), Settings(retry_attempts=4), time)
    assert len(calls) == 4 and len(time.sleeps) == 3
    # Full jitter: each wait is random up to 1, 2, 4 s.
    assert all(0 <= wait <= 2**i for i, wait in enumerate(time.sleeps))


def test_success_after_transient_errors_returns_the_value() -> None:
    time, calls = FakeTime(), []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise SourceUnavailableError("down")
        return "ok"

    assert _retry(flaky, Settings(retry_attempts=5), time) == "ok"
    assert len(calls) == 3 and len(time.sleeps) == 2


def test_the_deadline_bounds_the_time_spent() -> None:
    time, calls = FakeTime(), []
    settings = Settings(retry_attempts=20, retry_deadline_seconds=30)
    with pytest.raises(SourceUnavailableError):
        _retry(_failing(time, 2.0, calls), settings, time, first_backoff=4.0)
    # No attempt starts at or after the deadline: the time spent is at most the deadline
    # plus the one attempt that was already running when it passed.
    assert time.now <= 30 + 2.0
    assert 1 < len(calls) < 20 and len(time.sleeps) == len(calls) - 1
    assert max(time.sleeps) <= MAX_BACKOFF_SECONDS


def test_nested_retries_share_the_outer_deadline() -> None:
    # A stage retried around a fetch that is itself retried: one deadline for both.
    time, fetches = FakeTime(), []
    settings = Settings(retry_attempts=5, retry_deadline_seconds=60)

    def stage() -> None:
        _retry(_failing(time, 3.0, fetches), settings, time, first_backoff=8.0)

    with pytest.raises(SourceUnavailableError):
        _retry(stage, settings, time, first_backoff=8.0)
    assert time.now <= 60 + 3.0
    assert len(fetches) < 5 * 5  # the nesting did not multiply the attempts to the full 25
