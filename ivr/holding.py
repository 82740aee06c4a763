"""The placeholder for routing: holds queued calls with music and announcements.

It takes the route request like routing will (and records it on the call record) so the IVR
can be run end to end before the routing issue lands; routing replaces it behind the same
`Router` interface and starts/cancels the same WaitPlayer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from calls import service as calls
from vardlinje.db import Database

from .handover import QueueStatus, RouteRequest
from .waiting import Play, WaitPlayer

log = logging.getLogger("vardlinje.ivr.holding")


class HoldingRouter:
    def __init__(self, db: Database, clock: Callable[[], datetime], player_for: Callable[[str], Play | None]) -> None:
        self.db = db
        self.clock = clock
        self.player_for = player_for  # channel id → how to play to it
        self.waiting: dict[str, tuple[RouteRequest, WaitPlayer]] = {}

    async def enqueue(self, request: RouteRequest) -> QueueStatus:
        now = self.clock()
        await self.db.run(lambda s: calls.append(s, request.call_id, "queue.entered", now, channel_id=request.channel_id,
                                                 data=request.model_dump(mode="json")))
        play = self.player_for(request.channel_id)
        status = self._status(request.channel_id, extra=1)
        if play is not None:
            async def current() -> QueueStatus:
                return self._status(request.channel_id)

            player = WaitPlayer(play, current, request.language)
            self.waiting[request.channel_id] = (request, player)
            player.start()
        log.info("call=%s channel=%s held (no routing yet): region=%s skills=%s priority=%d", request.call_id,
                 request.channel_id, request.region, request.skills, request.priority)
        return status

    def _status(self, channel_id: str, extra: int = 0) -> QueueStatus:
        ids = list(self.waiting)
        position = ids.index(channel_id) + 1 if channel_id in ids else len(ids) + extra
        return QueueStatus(position=max(1, position), estimated_wait_seconds=None)

    async def release(self, channel_id: str) -> RouteRequest | None:
        """The caller left (or an offer starts): stop the announcements."""
        entry = self.waiting.pop(channel_id, None)
        if entry is None:
            return None
        await entry[1].stop()
        return entry[0]
