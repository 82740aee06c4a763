"""Ordered event dispatch: the events of one channel are handled one after another, in the
order Asterisk sent them; different channels are handled concurrently.

A handler that raises is logged with the channel id and the next event is still handled:
one bad event never stops the stream. The app layer decides how a failure keeps a caller
from being stranded (see ivr.calls)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .models import ChannelDestroyed, Event

log = logging.getLogger("vardlinje.ari.dispatch")

Handler = Callable[[Event], Awaitable[None]]

_GLOBAL = ""  # key for events that belong to no channel


class OrderedDispatcher:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._queues: dict[str, asyncio.Queue[Event | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def submit(self, event: Event) -> None:
        key = event.channel_id() or _GLOBAL
        queue = self._queues.get(key)
        if queue is None:
            queue = asyncio.Queue()
            self._queues[key] = queue
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"ari-events-{key or 'global'}")
        queue.put_nowait(event)
        if isinstance(event, ChannelDestroyed) and key:
            # Nothing follows a destroyed channel; let its worker finish once drained.
            queue.put_nowait(None)

    async def _work(self, key: str, queue: asyncio.Queue[Event | None]) -> None:
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                try:
                    await self._handler(event)
                except Exception:
                    log.exception("handler failed for %s channel=%s", event.type, key or "-")
        finally:
            self._queues.pop(key, None)
            self._workers.pop(key, None)

    @property
    def active_channels(self) -> int:
        return len([k for k in self._workers if k])

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until the queued events are handled (used on shutdown and in tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(not q.empty() for q in self._queues.values()):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
