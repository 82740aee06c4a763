"""Login throttling: the pure decision at its edges, and the Redis adapter against a real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from identity.throttle import ALLOWED, Decision, LoginThrottle, decide, stricter

WINDOW = 60.0
NOW = 1_000_000.0


def test_below_limit_is_allowed() -> None:
    """limit - 1 failures in the window still allow an attempt."""
    assert decide([NOW - 10, NOW - 5], NOW, limit=3, window=WINDOW) == ALLOWED


def test_at_limit_locks_until_oldest_relevant_failure_leaves_window() -> None:
    """With `limit` failures the lock ends when the oldest of the last `limit` leaves the window."""
    d = decide([NOW - 30, NOW - 20, NOW - 10], NOW, limit=3, window=WINDOW)
    assert not d.allowed and d.locked_until == NOW - 30 + WINDOW
    assert d.retry_after(NOW) == 30


def test_more_failures_than_limit_uses_the_last_limit_ones() -> None:
    """Five failures with limit 3: the third-newest decides, so the lock lasts longer than with three."""
    d = decide([NOW - 50, NOW - 40, NOW - 30, NOW - 20, NOW - 10], NOW, limit=3, window=WINDOW)
    assert d.locked_until == NOW - 30 + WINDOW


def test_failure_exactly_window_old_does_not_count() -> None:
    """The window is (now - window, now]: a failure exactly `window` seconds old has expired."""
    assert decide([NOW - WINDOW, NOW - 1, NOW - 2], NOW, limit=3, window=WINDOW).allowed
    assert not decide([NOW - WINDOW + 0.001, NOW - 1, NOW - 2], NOW, limit=3, window=WINDOW).allowed


def test_lock_is_over_at_locked_until() -> None:
    """At the moment the lock ends, the same failures allow an attempt again."""
    failures = [NOW - 30, NOW - 20, NOW - 10]
    locked = decide(failures, NOW, limit=3, window=WINDOW)
    assert locked.locked_until is not None
    assert decide(failures, locked.locked_until, limit=3, window=WINDOW).allowed
    assert not decide(failures, locked.locked_until - 0.001, limit=3, window=WINDOW).allowed


def test_future_failures_are_ignored_and_limit_must_be_positive() -> None:
    """Clock skew cannot lock someone out with 'future' failures; a zero limit is a programming error."""
    assert decide([NOW + 5] * 10, NOW, limit=3, window=WINDOW).allowed
    with pytest.raises(ValueError):
        decide([], NOW, limit=0, window=WINDOW)


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    """Retry-After rounds up and never says 0 while locked."""
    assert Decision(False, NOW + 0.2).retry_after(NOW) == 1
    assert Decision(False, NOW + 59.1).retry_after(NOW) == 60
    assert ALLOWED.retry_after(NOW) == 0


def test_stricter_takes_the_longer_lock() -> None:
    """Per-user and per-address decisions combine to the one that locks longer."""
    a, b = Decision(False, NOW + 10), Decision(False, NOW + 20)
    assert stricter(a, b) == b and stricter(b, a) == b
    assert stricter(ALLOWED, a) == a and stricter(a, ALLOWED) == a and stricter(ALLOWED, ALLOWED) == ALLOWED


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def test_redis_adapter_locks_after_limit_and_window_frees(redis: Redis) -> None:
    """Failures are counted in Redis per (user, address); the limit locks, the window's end frees."""
    clock = Clock()
    throttle = LoginThrottle(redis, limit=3, window_seconds=WINDOW, clock=clock, prefix="t:throttle1")
    for _ in range(2):
        assert (await throttle.record_failure("anna", "10.0.0.1")).allowed
        clock.now += 1
    locked = await throttle.record_failure("anna", "10.0.0.1")
    assert not locked.allowed and locked.locked_until == NOW + WINDOW
    assert not (await throttle.check("ANNA ", "10.0.0.1")).allowed  # same user, however typed
    assert (await throttle.check("anna", "10.0.0.2")).allowed  # other address
    assert (await throttle.check("bertil", "10.0.0.1")).allowed  # other user
    clock.now = NOW + WINDOW
    assert (await throttle.check("anna", "10.0.0.1")).allowed
    assert await redis.ttl("t:throttle1:addr:10.0.0.1") > 0  # keys expire by themselves


async def test_redis_adapter_success_clears_only_the_user_counter(redis: Redis) -> None:
    """A good login resets that user's failures but not the address counter."""
    clock = Clock()
    throttle = LoginThrottle(redis, limit=2, window_seconds=WINDOW, address_limit=3, clock=clock,
                             prefix="t:throttle2")
    await throttle.record_failure("anna", "10.0.0.9")
    await throttle.record_success("anna", "10.0.0.9")
    assert (await throttle.record_failure("anna", "10.0.0.9")).allowed  # counter restarted at 1
    assert not (await throttle.record_failure("bertil", "10.0.0.9")).allowed  # address reached 3


async def test_redis_adapter_address_limit_stops_guessing_across_usernames(redis: Redis) -> None:
    """Spraying many usernames from one address is locked by the per-address counter."""
    clock = Clock()
    throttle = LoginThrottle(redis, limit=5, window_seconds=WINDOW, address_limit=4, clock=clock,
                             prefix="t:throttle3")
    for name in ("a1", "a2", "a3"):
        assert (await throttle.record_failure(name, "10.1.1.1")).allowed
    assert not (await throttle.record_failure("a4", "10.1.1.1")).allowed
    assert not (await throttle.check("someone-new", "10.1.1.1")).allowed
    assert (await throttle.check("someone-new", "10.1.1.2")).allowed
