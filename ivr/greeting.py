"""The first call handler: answer, play the Swedish greeting, hang up; every step is written
to the call record and logged with the call and channel id.

The voice menus of the IVR issue replace the "play and hang up" with the region's menu; the
shape stays: ARI events in (on_event), decisions here, the call record and ARI calls out.
A failed step never strands a caller: it sends the channel to the dialplan's safe path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from calls import service as calls
from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound
from telephony.ari.models import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from telephony.media import PromptStore
from vardlinje.db import Database

log = logging.getLogger("vardlinje.ivr")

FALLBACK_CONTEXT = "vardlinje-fallback"


@dataclass
class _Leg:
    call_id: str
    channel_id: str
    fallback: bool
    playback_id: str | None = None
    app_hung_up: bool = False
    rescued: bool = False  # sent to the dialplan's safe path; the contact goes on there
    log_extra: dict[str, str] = field(default_factory=dict)


class GreetingHandler:
    def __init__(
        self,
        ari: AriClient,
        db: Database,
        prompts: PromptStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.ari = ari
        self.db = db
        self.prompts = prompts
        self.clock = clock
        self.legs: dict[str, _Leg] = {}

    async def on_event(self, event: Event) -> None:
        log.debug("event %s channel=%s", event.type, event.channel_id() or "-")
        if isinstance(event, StasisStart):
            await self._start(event.channel, event.args)
        elif isinstance(event, PlaybackStarted | PlaybackFinished):
            await self._playback(event)
        elif isinstance(event, ChannelDtmfReceived):
            await self._record(event.channel.id, "dtmf", {"digit": event.digit})
        elif isinstance(event, StasisEnd):
            await self._stasis_end(event)
        elif isinstance(event, ChannelDestroyed):
            await self._destroyed(event)
        else:
            log.debug("ignored %s", event.type)

    async def _start(self, channel: Channel, args: list[str]) -> None:
        fallback = bool(args) and args[0] == "fallback"
        dialled = args[0] if args and not fallback else channel.dialplan.exten
        now = self.clock()
        call = await self.db.run(
            lambda s: calls.open_call(
                s, channel_id=channel.id, linkedid=str(getattr(channel, "linkedid", "") or channel.id), at=now,
                dialled_number=dialled, caller_number=channel.caller.number,
            )
        )
        leg = _Leg(call_id=call.id, channel_id=channel.id, fallback=fallback)
        self.legs[channel.id] = leg
        log.info("call=%s channel=%s StasisStart dialled=%s caller=%s%s", call.id, channel.id, dialled,
                 channel.caller.number or "-", " (after fallback)" if fallback else "")
        await self._record(channel.id, "stasis.started", {"args": args})
        try:
            if channel.state != "Up":
                await self.ari.answer(channel.id)
                answered_at = self.clock()
                await self.db.run(lambda s: calls.mark_answered(s, call.id, answered_at))
                log.info("call=%s channel=%s answered", call.id, channel.id)
            leg.playback_id = f"{call.id}-greeting"
            await self.ari.play(channel.id, self.prompts.uri("greeting"), playback_id=leg.playback_id)
        except AriNotFound:
            log.info("call=%s channel=%s gone before the greeting (caller hung up)", call.id, channel.id)
        except Exception as exc:
            await self._rescue(leg, exc)

    async def _playback(self, event: PlaybackStarted | PlaybackFinished) -> None:
        channel_id = event.channel_id()
        leg = self.legs.get(channel_id or "")
        if leg is None or event.playback.id != leg.playback_id:
            return
        if isinstance(event, PlaybackStarted):
            await self._record(leg.channel_id, "prompt.started", {"prompt": "greeting", "media": event.playback.media_uri})
            log.info("call=%s channel=%s greeting playing", leg.call_id, leg.channel_id)
            return
        await self._record(leg.channel_id, "prompt.finished", {"prompt": "greeting", "state": event.playback.state})
        log.info("call=%s channel=%s greeting done (%s); hanging up", leg.call_id, leg.channel_id, event.playback.state)
        leg.app_hung_up = True
        try:
            await self.ari.hangup(leg.channel_id, "normal")
        except AriNotFound:
            log.info("call=%s channel=%s already gone", leg.call_id, leg.channel_id)
        except Exception as exc:
            await self._rescue(leg, exc)

    async def _stasis_end(self, event: StasisEnd) -> None:
        # Asterisk stops sending a channel's events once it leaves the app (no ChannelDestroyed
        # follows with subscribeAll=false), so leaving the app ends our part of the contact,
        # unless we sent the caller to the safe path, where the dialplan brings them back.
        await self._record(event.channel.id, "stasis.ended", {})
        leg = self.legs.pop(event.channel.id, None)
        if leg is None or leg.rescued:
            return
        await self._close(leg, "completed" if leg.app_hung_up else "caller_hangup", {})

    async def _destroyed(self, event: ChannelDestroyed) -> None:
        leg = self.legs.pop(event.channel.id, None)
        if leg is None:
            return
        reason = "completed" if leg.app_hung_up else "caller_hangup"
        await self._close(leg, reason, {"cause": event.cause, "cause_txt": event.cause_txt})

    async def _close(self, leg: _Leg, reason: str, data: dict[str, object]) -> None:
        now = self.clock()
        await self.db.run(lambda s: calls.close_call(s, leg.call_id, now, reason, dict(data)))
        log.info("call=%s channel=%s ended reason=%s", leg.call_id, leg.channel_id, reason)

    async def _record(self, channel_id: str, kind: str, data: dict[str, object]) -> None:
        leg = self.legs.get(channel_id)
        if leg is None:
            return
        now = self.clock()
        await self.db.run(lambda s: calls.append(s, leg.call_id, kind, now, channel_id=channel_id, data=dict(data)))

    async def _rescue(self, leg: _Leg, exc: Exception) -> None:
        """A step failed: hand the caller to the dialplan's safe path instead of leaving them in silence."""
        extension = "final" if leg.fallback else "s"
        log.error("call=%s channel=%s step failed (%s); sending the caller to %s,%s", leg.call_id,
                  leg.channel_id, exc, FALLBACK_CONTEXT, extension)
        leg.rescued = True
        await self._record(leg.channel_id, "app.failed", {"error": str(exc)[:300], "to": f"{FALLBACK_CONTEXT},{extension}"})
        try:
            await self.ari.continue_in_dialplan(leg.channel_id, FALLBACK_CONTEXT, extension)
        except AriError as again:
            log.error("call=%s channel=%s could not reach the safe path either: %s", leg.call_id, leg.channel_id, again)

    async def resync(self, channels: list[Channel]) -> None:
        alive = {c.id for c in channels}
        ours = [c for c in channels if c.dialplan.app_name == "Stasis" and c.dialplan.app_data.split(",")[0] == self.ari.app]
        for channel in ours:
            if channel.id not in self.legs:
                # A call that reached us while this instance was away (restart, reconnect):
                # pick it up again rather than leave the caller in silence.
                log.warning("channel=%s adopted after resync", channel.id)
                fallback = channel.dialplan.context == FALLBACK_CONTEXT
                await self._start(channel, ["fallback"] if fallback else [channel.dialplan.exten or ""])
        now = self.clock()
        for channel_id in [cid for cid in self.legs if cid not in alive]:
            self.legs.pop(channel_id)

        # Records left open (by this instance while disconnected, or by a crashed one) whose
        # channel no longer exists in Asterisk.
        def close_stale(s: Session) -> list[str]:
            closed = []
            for c in calls.open_calls(s):
                if c.channel_id not in alive and calls.close_call(s, c.id, now, "ended_while_disconnected"):
                    closed.append(c.id)
            return closed

        stale = await self.db.run(close_stale)
        if stale:
            log.info("resync closed %d call record(s) whose channel is gone", len(stale))
