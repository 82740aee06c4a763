"""Registry changes announced to the running app over Redis pub/sub: a nurse added, her skills or
phone changed, deactivated. The app pushes her endpoint to Asterisk and her profile to routing at
once instead of at the next ARI reconnect.

A message lost while no app listened is harmless: every (re)connect to Asterisk syncs the whole
registry anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from vardlinje.pubsub import Follower

log = logging.getLogger("vardlinje.agents.notify")

CHANNEL = "vardlinje:agents:changed"


async def announce(redis_url: str, endpoint: str) -> bool:
    """Tell running apps that `endpoint`'s nurse changed; False if no app listened (or no Redis answered)."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        return int(await redis.publish(CHANNEL, endpoint)) > 0
    except (RedisError, OSError):
        return False
    finally:
        await redis.aclose()


def follower(redis: Redis, on_change: Callable[[str], Awaitable[object]]) -> Follower:
    """Calls `on_change(endpoint)` for each announcement while it runs (`run(stop)` or cleanup_ctx)."""
    return Follower(redis, CHANNEL, on_change, name="registry listener")
