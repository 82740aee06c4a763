"""Registry changes announced to the running app over Redis pub/sub: a nurse added, her skills or
phone changed, deactivated. The app pushes her endpoint to Asterisk and her profile to routing at
once instead of at the next ARI reconnect.

A message lost while no app listened is harmless: every (re)connect to Asterisk syncs the whole
registry anyway.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("vardlinje.agents.notify")

CHANNEL = "vardlinje:agents:changed"


async def announce(redis_url: str, endpoint: str) -> bool:
    """Tell running apps that `endpoint`'s nurse changed; False if no Redis answered (no app runs)."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        await redis.publish(CHANNEL, endpoint)
        return True
    except (RedisError, OSError):
        return False
    finally:
        await redis.aclose()


async def listen(redis: Redis, on_change: Callable[[str], Awaitable[object]], stop: asyncio.Event) -> None:
    """Until `stop`: call `on_change(endpoint)` for each announcement. Redis errors: retry with a
    growing, jittered delay; a failing `on_change` is logged and the next message still handled."""
    delay = 0.5
    while not stop.is_set():
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            delay = 0.5
            while not stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is None or message.get("type") != "message":
                    continue
                data = message["data"]
                endpoint = data.decode() if isinstance(data, bytes) else str(data)
                try:
                    await on_change(endpoint)
                except Exception:
                    log.exception("nurse=%s: applying a registry change failed", endpoint)
        except (RedisError, OSError) as exc:
            log.warning("registry change listener: %s; retrying in %.1f s", exc, delay)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * random.uniform(0.5, 1.0) + delay / 2)
            delay = min(delay * 2, 30.0)
        finally:
            with suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
