"""Login throttling: a pure decision over recent failure times, and a Redis adapter that keeps
failures per (username, remote address) and per remote address in sliding windows.

Time always comes from an injected clock (seconds since the epoch), so edges are testable.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

Clock = Callable[[], float]

# Advice centres put many nurses behind one NAT address, so the per-address limit must be far
# above the per-user one or one nurse's typos would lock out the whole centre.
ADDRESS_LIMIT_FACTOR = 10


@dataclass(frozen=True)
class Decision:
    allowed: bool
    locked_until: float | None = None

    def retry_after(self, now: float) -> int:
        """Whole seconds to wait (at least 1 while locked), for the Retry-After header."""
        if self.locked_until is None:
            return 0
        return max(1, math.ceil(self.locked_until - now))


ALLOWED = Decision(allowed=True)


def decide(failures: Iterable[float], now: float, limit: int, window: float) -> Decision:
    """Allowed while fewer than `limit` failures lie in the window (now - window, now].

    When locked, the lock lasts until enough old failures have left the window for the count
    to drop below the limit again.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    recent = sorted(t for t in failures if now - window < t <= now)
    if len(recent) < limit:
        return ALLOWED
    return Decision(allowed=False, locked_until=recent[len(recent) - limit] + window)


def stricter(a: Decision, b: Decision) -> Decision:
    """The decision that locks longer."""
    if a.allowed:
        return b
    if b.allowed:
        return a
    assert a.locked_until is not None and b.locked_until is not None
    return a if a.locked_until >= b.locked_until else b


class LoginThrottle:
    """Counts failed logins in Redis sorted sets (score = failure time) and decides with `decide`."""

    def __init__(
        self,
        redis: Redis,
        *,
        limit: int,
        window_seconds: float,
        address_limit: int | None = None,
        clock: Clock = time.time,
        prefix: str = "vardlinje:login-fail",
    ) -> None:
        self.redis = redis
        self.limit = limit
        self.window = float(window_seconds)
        self.address_limit = address_limit if address_limit is not None else limit * ADDRESS_LIMIT_FACTOR
        self.clock = clock
        self.prefix = prefix

    def _user_key(self, username: str, address: str) -> str:
        # Hashed: usernames are user input and should not shape Redis keys or show up in them.
        digest = hashlib.sha256(f"{username.strip().casefold()}\0{address}".encode()).hexdigest()
        return f"{self.prefix}:user:{digest}"

    def _address_key(self, address: str) -> str:
        return f"{self.prefix}:addr:{address}"

    async def _failures(self, key: str, now: float) -> list[float]:
        await self.redis.zremrangebyscore(key, "-inf", now - self.window)
        entries = await self.redis.zrange(key, 0, -1, withscores=True)
        return [float(entry[1]) for entry in entries]

    async def check(self, username: str, address: str) -> Decision:
        """May this (username, address) try to log in now?"""
        now = self.clock()
        per_user = decide(await self._failures(self._user_key(username, address), now), now,
                          self.limit, self.window)
        per_address = decide(await self._failures(self._address_key(address), now), now,
                             self.address_limit, self.window)
        return stricter(per_user, per_address)

    async def record_failure(self, username: str, address: str) -> Decision:
        """Count a failed login; returns the decision for the next attempt."""
        now = self.clock()
        # A random suffix keeps two failures in the same clock tick as two members.
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        ttl = max(1, math.ceil(self.window))
        for key in (self._user_key(username, address), self._address_key(address)):
            await self.redis.zadd(key, {member: now})
            await self.redis.expire(key, ttl)
        return await self.check(username, address)

    async def record_success(self, username: str, address: str) -> None:
        """A successful login clears the user's counter; the address counter keeps running so one
        known password cannot be used to reset guessing at other accounts."""
        await self.redis.delete(self._user_key(username, address))
