"""The per-number SMS rate limit: the pure decision at its edges, and the Redis adapter
(counting, refusing, the window sliding on, separate numbers, concurrent senders)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from sms.ratelimit import MemorySmsLimiter, RedisSmsLimiter, decide

WINDOW = 3600.0


def test_allowed_below_the_limit() -> None:
    """Two earlier messages with a limit of 3: allowed, and the count says 2."""
    d = decide([100.0, 200.0], now=300.0, limit=3, window=WINDOW)
    assert d.allowed and d.count == 2 and d.retry_at is None and d.retry_after(300.0) == 0


def test_refused_at_the_limit_until_the_oldest_leaves() -> None:
    """At the limit the next message waits until the oldest in the window is a full window old."""
    d = decide([100.0, 200.0, 300.0], now=400.0, limit=3, window=WINDOW)
    assert not d.allowed and d.count == 3 and d.retry_at == 100.0 + WINDOW
    assert d.retry_after(400.0) == int(100.0 + WINDOW - 400.0)


def test_window_edge_is_exclusive_of_the_old_end() -> None:
    """A message exactly one window ago no longer counts; one a hair younger still does."""
    assert decide([0.0, 10.0, 20.0], now=WINDOW, limit=3, window=WINDOW).allowed
    assert not decide([0.001, 10.0, 20.0], now=WINDOW, limit=3, window=WINDOW).allowed


def test_future_entries_and_bad_limits() -> None:
    """Entries after `now` (clock skew between instances) do not count; limit < 1 or window <= 0 is a bug."""
    assert decide([500.0, 600.0, 700.0], now=400.0, limit=3, window=WINDOW).allowed
    with pytest.raises(ValueError):
        decide([], now=0.0, limit=0, window=WINDOW)
    with pytest.raises(ValueError):
        decide([], now=0.0, limit=1, window=0)


def test_retry_after_is_at_least_one_second() -> None:
    """A refusal never says "retry in 0 s" even when the slot frees within the same second."""
    d = decide([0.5], now=WINDOW + 0.2, limit=1, window=WINDOW)
    assert not d.allowed and d.retry_after(WINDOW + 0.2) == 1


async def test_redis_limiter_counts_refuses_and_slides(limiter: RedisSmsLimiter) -> None:
    """Three messages pass, the fourth is refused, and one window after the first the next passes."""
    number = "+46701234567"
    for i in range(3):
        assert (await limiter.acquire(number, 1000.0 + i)).allowed
    refused = await limiter.acquire(number, 1010.0)
    assert not refused.allowed and refused.retry_at == 1000.0 + WINDOW
    assert (await limiter.acquire("+46709876543", 1010.0)).allowed, "another number has its own count"
    later = await limiter.acquire(number, 1000.0 + WINDOW)
    assert later.allowed and later.count == 2


async def test_redis_limiter_keys_hide_the_number_and_expire(limiter: RedisSmsLimiter, redis: Redis) -> None:
    """The key is a hash (no phone number in Redis key listings) and expires after the window."""
    await limiter.acquire("+46701234567", 1000.0)
    key = limiter.key("+46701234567")
    assert "46701234567" not in key
    ttl = await redis.pttl(key)
    assert 0 < ttl <= WINDOW * 1000


async def test_redis_limiter_is_atomic_under_concurrency(redis_url: str) -> None:
    """Twenty concurrent sends to one number through separate connections: exactly the limit pass."""
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    prefix = "t:sms:concurrent:" + str(id(clients))
    limiters = [RedisSmsLimiter(c, limit=3, window_seconds=WINDOW, prefix=prefix) for c in clients]
    try:
        results = await asyncio.gather(*(limiters[i % 4].acquire("+46701234567", 5000.0) for i in range(20)))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(r.allowed for r in results) == 3


async def test_memory_limiter_follows_the_same_rule() -> None:
    """The in-process limiter (simulator, tools) refuses the fourth message in the window too."""
    mem = MemorySmsLimiter(limit=3, window=WINDOW)
    assert [(await mem.acquire("+46701234567", float(t))).allowed for t in range(4)] == [True, True, True, False]
    assert (await mem.acquire("+46701234567", WINDOW + 0.5)).allowed
