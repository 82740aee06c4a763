"""The leader lease: which app instance owns the Stasis application of one Asterisk.

Asterisk gives an application's events to the newest WebSocket and sends the older one
`ApplicationReplaced`; two instances that both connect would keep stealing the application
from each other. So an instance connects only while it holds this lease in Redis. The lease
is a key with a TTL, set only if absent, renewed and released only by its holder (Lua
compare-and-set, so a holder whose lease expired can never extend or delete the new holder's).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

log = logging.getLogger("vardlinje.leader")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLease:
    def __init__(self, redis: Redis, key: str, holder: str, ttl_seconds: float) -> None:
        self.redis = redis
        self.key = key
        self.holder = holder
        self.ttl_ms = int(ttl_seconds * 1000)

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True if we hold it now (also when we already did)."""
        if await self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms):
            log.info("leader lease %s taken by %s", self.key, self.holder)
            return True
        return await self.renew()

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.holder, str(self.ttl_ms)))

    async def release(self) -> bool:
        released = bool(await self.redis.eval(_RELEASE, 1, self.key, self.holder))
        if released:
            log.info("leader lease %s released by %s", self.key, self.holder)
        return released

    async def holder_now(self) -> str | None:
        value = await self.redis.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
