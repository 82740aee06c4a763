"""The per-number SMS rate limit: a pure decision over the times of recent messages, and a Redis
adapter that checks and records in one optimistic transaction, so two app instances cannot
both slip past the limit.

Attempts count, not deliveries: the limit is about what we try to send to someone's phone.
Time is passed in (seconds since the epoch), so the edges are testable.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from redis.asyncio import Redis
from redis.exceptions import WatchError


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int  # messages in the window, before this one
    retry_at: float | None = None  # when the next message is allowed, if refused now

    def retry_after(self, now: float) -> int:
        """Whole seconds until the next message is allowed (0 when allowed now)."""
        if self.retry_at is None:
            return 0
        return max(1, math.ceil(self.retry_at - now))


def decide(sent: Iterable[float], now: float, limit: int, window: float) -> RateDecision:
    """Allowed while fewer than `limit` messages lie in the window (now - window, now].

    When refused, the next message is allowed once the oldest message that keeps the count at
    the limit has left the window.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if window <= 0:
        raise ValueError("window must be positive")
    recent = sorted(t for t in sent if now - window < t <= now)
    if len(recent) < limit:
        return RateDecision(allowed=True, count=len(recent))
    return RateDecision(allowed=False, count=len(recent), retry_at=recent[len(recent) - limit] + window)


class SmsLimiter(Protocol):
    async def acquire(self, number: str, now: float) -> RateDecision:
        """Decide for one more message to `number`, and count it when allowed."""
        ...


@dataclass
class MemorySmsLimiter:
    """The same rule in process memory: for the simulator and tools that run without Redis."""

    limit: int
    window: float
    _sent: dict[str, list[float]] = field(default_factory=dict)

    async def acquire(self, number: str, now: float) -> RateDecision:
        times = [t for t in self._sent.get(number, []) if now - self.window < t <= now]
        decision = decide(times, now, self.limit, self.window)
        if decision.allowed:
            times.append(now)
        self._sent[number] = times
        return decision


class RedisSmsLimiter:
    """Recent send times per number in a Redis sorted set (score = time)."""

    def __init__(self, redis: Redis, *, limit: int, window_seconds: float, prefix: str = "vardlinje:sms-rate") -> None:
        self.redis = redis
        self.limit = limit
        self.window = float(window_seconds)
        self.prefix = prefix

    def key(self, number: str) -> str:
        # Hashed: phone numbers are personal data and should not show up in Redis key listings.
        return f"{self.prefix}:{hashlib.sha256(number.encode()).hexdigest()}"

    async def acquire(self, number: str, now: float) -> RateDecision:
        key = self.key(number)
        # A random suffix keeps two messages in the same clock tick as two members.
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        ttl_ms = max(1, math.ceil(self.window * 1000))
        async with self.redis.pipeline(transaction=True) as typed_pipe:
            # redis-py leaves watch/multi/unwatch unannotated.
            pipe = cast(Any, typed_pipe)
            while True:
                try:
                    await pipe.watch(key)
                    # Read only: writing the watched key before MULTI would abort our own EXEC.
                    entries: list[tuple[bytes, float]] = await pipe.zrangebyscore(
                        key, now - self.window, "+inf", withscores=True)
                    decision = decide((float(score) for _member, score in entries), now, self.limit, self.window)
                    if not decision.allowed:
                        await pipe.unwatch()
                        return decision
                    pipe.multi()
                    pipe.zremrangebyscore(key, "-inf", now - self.window)
                    pipe.zadd(key, {member: now})
                    pipe.pexpire(key, ttl_ms)
                    await pipe.execute()
                    return decision
                except WatchError:
                    # Another instance sent to the same number meanwhile: decide again.
                    continue
