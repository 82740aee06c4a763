"""The IVR's `Router` backed by the routing engine: a queued call is recorded, announced to
(the WaitPlayer) and handed to the engine, which offers it to a nurse when one is eligible.

The telephony of an offer (ring the nurse, bridge, ring-no-answer) is `routing.asterisk.OfferDriver`,
a listener of the engine; this class only owns the waiting side: the queue entry, the player and the
caller leaving.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from calls import service as calls
from ivr.handover import QueueStatus, RouteRequest
from ivr.waiting import Play, WaitPlayer
from vardlinje.db import Database

from .engine import RoutingEngine
from .model import WaitingCall

log = logging.getLogger("vardlinje.routing.router")

CallerLeft = Callable[[RouteRequest], Awaitable[None]]


@dataclass
class _Queued:
    request: RouteRequest
    player: WaitPlayer | None
    entered_at: datetime | None = None  # when the caller first entered the queue (kept by a transfer)


class EngineRouter:
    def __init__(self, engine: RoutingEngine, db: Database, clock: Callable[[], datetime],
                 player_for: Callable[[str], Play | None], *,
                 status_for: Callable[[str], Awaitable[QueueStatus]] | None = None) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        self.player_for = player_for  # channel id → how to play to it
        # call id → its place and estimated wait from the shared store (LiveRouting.queue_status);
        # without it, the place among this instance's queued calls and no estimate.
        self.status_for = status_for
        self.queued: dict[str, _Queued] = {}  # call id → entry, until the caller leaves
        #: Told when a queued caller leaves (hang-up): the offer driver cancels a ringing offer or
        #: ends a bridged call. Without it the engine is told `caller_left` directly.
        self.on_caller_left: CallerLeft | None = None

    def request_for(self, call_id: str) -> RouteRequest | None:
        entry = self.queued.get(call_id)
        return entry.request if entry is not None else None

    def entered_at(self, call_id: str) -> datetime | None:
        entry = self.queued.get(call_id)
        return entry.entered_at if entry is not None else None

    async def _status(self, call_id: str) -> QueueStatus:
        if self.status_for is not None:
            try:
                return await self.status_for(call_id)
            except Exception:
                # An estimate is a courtesy: its failure must not take the caller out of the queue.
                log.exception("call=%s queue status failed; announcing the place only", call_id)
        ids = list(self.queued)
        position = ids.index(call_id) + 1 if call_id in ids else len(ids) + 1
        return QueueStatus(position=max(1, position), estimated_wait_seconds=None)

    async def enqueue(self, request: RouteRequest) -> QueueStatus:
        now = self.clock()
        previous = self.queued.get(request.call_id)
        entered = now
        if previous is not None:
            # The same caller back in the queue (an external transfer that failed): their first queue entry
            # and the more urgent priority stand, as for a nurse's transfer (`requeue`).
            entered = previous.entered_at or now
            request = request.model_copy(update={"priority": min(request.priority, previous.request.priority)})
            if previous.player is not None:
                await previous.player.stop()
        await self.db.run(lambda s: calls.append(s, request.call_id, "queue.entered", now, channel_id=request.channel_id,
                                                 data=request.model_dump(mode="json")))
        player: WaitPlayer | None = None
        play = self.player_for(request.channel_id)
        if play is not None:
            async def current() -> QueueStatus:
                return await self._status(request.call_id)

            player = WaitPlayer(play, current, request.language)
        self.queued[request.call_id] = _Queued(request, player, entered)
        log.info("call=%s channel=%s queued: region=%s skills=%s priority=%d", request.call_id, request.channel_id,
                 request.region, request.skills, request.priority)
        # The engine may offer at once: the offer driver (a listener) rings the nurse from here.
        await self.engine.call_arrived(WaitingCall.from_request(request, entered), now)
        status = await self._status(request.call_id)
        if player is not None:
            player.start()
        return status

    def requeue(self, request: RouteRequest, *, announce: bool = True) -> bool:
        """A connected call goes back to waiting (a nurse transferred it): the request now says what the
        call needs, the wait announcements start again (`announce`), the first queue entry time stays.
        The caller (routing.asterisk) puts the call into the engine. False if the caller is not queued here."""
        entry = self.queued.get(request.call_id)
        if entry is None:
            return False
        entry.request = request
        if announce and entry.player is None:
            play = self.player_for(request.channel_id)
            if play is not None:
                call_id = request.call_id

                async def current() -> QueueStatus:
                    return await self._status(call_id)

                entry.player = WaitPlayer(play, current, request.language)
                entry.player.start()
        return True

    async def stop_announcements(self, call_id: str) -> None:
        """The call is answered: the caller hears the nurse, no more queue announcements."""
        entry = self.queued.get(call_id)
        if entry is not None and entry.player is not None:
            await entry.player.stop()
            entry.player = None

    async def release(self, channel_id: str) -> RouteRequest | None:
        """The caller's channel ended (or this instance stands down): stop the announcements and
        take the call out of routing."""
        found = next((e for e in self.queued.values() if e.request.channel_id == channel_id), None)
        if found is None:
            return None
        del self.queued[found.request.call_id]
        if found.player is not None:
            await found.player.stop()
        if self.on_caller_left is not None:
            await self.on_caller_left(found.request)
        else:
            await self.engine.caller_left(found.request.call_id, self.clock())
        return found.request
