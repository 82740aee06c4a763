"""Following a Redis pub/sub channel for as long as the app runs: what the configuration's live
reload, the crisis switch and the nurse registry share.

A message published while nobody listened is lost, so a follower that keeps state refreshes it after
every (re)subscribe and every `poll_seconds` as well as on each message. Redis errors are logged and
retried with a growing, jittered delay; they never end the follower. A failing handler is logged and
the next message is still handled.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("vardlinje.pubsub")


@dataclass
class Follower:
    redis: Redis
    channel: str
    on_message: Callable[[str], Awaitable[object]]  # the message's data, decoded
    #: after every (re)subscribe and every `poll_seconds`: reload what a lost message would have said
    refresh: Callable[[], Awaitable[object]] | None = None
    poll_seconds: float = 30.0
    max_backoff: float = 30.0
    name: str = "listener"
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)  # set while subscribed (tests wait on it)

    async def _safely(self, work: Awaitable[object]) -> None:
        try:
            await work
        except Exception:
            # A database or Redis hiccup must not end the follower; the next message or poll retries.
            log.exception("%s: handling a change failed", self.name)

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                delay = 0.5
                if self.refresh is not None:
                    await self._safely(self.refresh())  # whatever changed while we were not listening
                loop = asyncio.get_running_loop()
                next_poll = loop.time() + self.poll_seconds
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        data = message.get("data")
                        await self._safely(self.on_message(data.decode() if isinstance(data, bytes) else str(data)))
                    elif self.refresh is not None and loop.time() >= next_poll:
                        await self._safely(self.refresh())
                    if loop.time() >= next_poll:
                        next_poll = loop.time() + self.poll_seconds
            except (RedisError, OSError) as exc:
                log.warning("%s: Redis failed (%s); retrying in %.1f s", self.name, exc, delay)
            finally:
                self.subscribed.clear()
                with suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if stop.is_set():
                break
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay / 2 + random.uniform(0, delay / 2))
            delay = min(delay * 2, self.max_backoff)

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: the follower runs while the app runs."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name=self.name)
        yield
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
