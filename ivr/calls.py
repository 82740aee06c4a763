"""The IVR's call handler on the Stasis app: ARI events in, the flow interpreter per call,
the call record and the handover to routing out.

StasisStart → answer → resolve the region (dialled number, caller number, else the caller
keys it in) → run the region's menu as a task → queue (routing owns the channel from then),
SMS, transfer or hang-up. DTMF, playback and hang-up events are fed to that call's executor.
A flow that fails sends the caller to the dialplan's safe path; a hang-up is no error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from calls import service as calls
from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound
from telephony.ari.models import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from telephony.media import PromptStore
from vardlinje.db import Database

from .ari_io import AriFlowIO, SendSms
from .flow import CallerHungUp, CallState, FlowEnv, run_flow
from .handover import QueueStatus, RouteRequest
from .holding import HoldingRouter
from .model import Menu, Prompt
from .waiting import Play

log = logging.getLogger("vardlinje.ivr")

FALLBACK_CONTEXT = "vardlinje-fallback"

REGION_INVALID = Prompt(text={"sv": "Den koden känner vi inte igen.", "en": "We do not recognise that code."})


class RegionDirectory(Protocol):
    """The configuration the IVR reads (files now; versioned in the database later)."""

    def resolve(self, dialled: str, caller: str) -> str | None:
        """Region id, "national", or None when the caller must key in their region."""
        ...

    def region_for_code(self, digits: str) -> str | None: ...

    def menu(self, region: str) -> Menu: ...

    def env(self, region: str) -> FlowEnv: ...

    def version(self, region: str) -> int | None: ...

    def region_prompt(self) -> tuple[Prompt, Prompt | None, float, int]:
        """How to ask for a county code: prompt, invalid prompt, timeout, retries."""
        ...


class QueueRouter(Protocol):
    """What the handler needs of routing: take a queued call, and release it when its channel ends."""

    async def enqueue(self, request: RouteRequest) -> QueueStatus: ...

    async def release(self, channel_id: str) -> RouteRequest | None: ...


#: Events of channels the handler does not own (a nurse leg routing originated) go here.
ForeignEvents = Callable[[Event], Awaitable[None]]

#: The first Stasis argument of a nurse leg routing originated (routing.asterisk.OFFER_ARG).
OFFER_ARG = "offer"


@dataclass
class _Call:
    state: CallState
    io: AriFlowIO
    task: asyncio.Task[None] | None = None


class IvrHandler:
    def __init__(
        self,
        ari: AriClient,
        db: Database,
        prompts: PromptStore,
        directory: RegionDirectory,
        send_sms: SendSms,
        clock: Callable[[], datetime],
        *,
        router: Callable[[Callable[[str], Play | None]], QueueRouter] | None = None,
        foreign_events: ForeignEvents | None = None,
    ) -> None:
        self.ari = ari
        self.db = db
        self.prompts = prompts
        self.directory = directory
        self.send_sms = send_sms
        self.clock = clock
        self.calls: dict[str, _Call] = {}
        # `router` builds the router from the handler's per-channel players; the holding
        # placeholder when routing is not wired in.
        self.router: QueueRouter = (router(self._player_for) if router is not None
                                    else HoldingRouter(db, clock, self._player_for))
        self.foreign_events = foreign_events

    def _player_for(self, channel_id: str) -> Play | None:
        call = self.calls.get(channel_id)
        return call.io.play if call is not None else None

    # -- ARI events ---------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        if isinstance(event, StasisStart):
            if event.args[:1] == [OFFER_ARG]:
                if self.foreign_events is not None:
                    await self.foreign_events(event)
                return
            await self._start(event.channel, event.args)
            return
        call = self.calls.get(event.channel_id() or "")
        if call is None:
            if self.foreign_events is not None:
                await self.foreign_events(event)
            return
        if isinstance(event, ChannelDtmfReceived):
            call.io.on_dtmf(event.digit)
            await self._record(call, "dtmf", {"digit": event.digit})
        elif isinstance(event, PlaybackFinished):
            call.io.on_playback_finished(event.playback.id)
        elif isinstance(event, ChannelHangupRequest):
            call.io.on_hangup()
        elif isinstance(event, StasisEnd) and call.io.left_for:
            await self._record(call, "stasis.ended", {"to": call.io.left_for})  # the record stays open
        elif isinstance(event, StasisEnd | ChannelDestroyed):
            await self._end(call, {"transfer": "transferred", "fallback": "fallback"}.get(call.io.left_for or "", "ended"))

    async def _start(self, channel: Channel, args: list[str]) -> None:
        current = self.calls.get(channel.id)
        if current is not None and current.task is not None and not current.task.done():
            return  # already handled (a resync racing the StasisStart of the same channel)
        try:
            await self._open(channel, args, previous=current)
        except Exception as exc:
            # Not even the record could be written (database down?): the caller still gets
            # the safe path rather than silence.
            log.exception("channel=%s could not be taken into the menu; safe path", channel.id)
            try:
                await self.ari.continue_in_dialplan(channel.id, FALLBACK_CONTEXT,
                                                    "final" if args[:1] == ["fallback"] else "s")
            except AriError as again:
                log.error("channel=%s could not reach the safe path either: %s (%s)", channel.id, again, exc)

    async def _open(self, channel: Channel, args: list[str], previous: _Call | None) -> None:
        again = args[0] if args and args[0] in ("fallback", "transfer-failed") else None
        now = self.clock()
        record = await self.db.run(lambda s: calls.open_call(
            s, channel_id=channel.id, linkedid=str(getattr(channel, "linkedid", "") or channel.id), at=now,
            dialled_number=args[0] if args and not again else channel.dialplan.exten,
            caller_number=channel.caller.number))
        # Back from the dialplan: the number first dialled still decides the region.
        dialled = record.dialled_number
        state = CallState(call_id=record.id, channel_id=channel.id, caller_number=channel.caller.number, region="")
        if previous is not None:
            state.language, state.path = previous.state.language, list(previous.state.path)
        io = AriFlowIO(self.ari, channel.id, self.prompts, self.router, self.send_sms, call_id=record.id)
        call = _Call(state=state, io=io)
        self.calls[channel.id] = call
        log.info("call=%s channel=%s StasisStart dialled=%s caller=%s%s", record.id, channel.id, dialled,
                 channel.caller.number or "-", f" (back after {again})" if again else "")
        await self._record(call, "stasis.started", {"args": args})
        if again == "transfer-failed":
            work = self._after_failed_transfer(call, record.region_id, previous)
        else:
            work = self._run(call, channel, dialled, again == "fallback")
        call.task = asyncio.create_task(work, name=f"ivr-{channel.id}")

    async def _run(self, call: _Call, channel: Channel, dialled: str, after_fallback: bool) -> None:
        state, io = call.state, call.io
        # The call keeps the configuration it started with, whatever is published meanwhile.
        directory = self.directory
        try:
            if channel.state != "Up":
                await self.ari.answer(channel.id)
                at = self.clock()
                await self.db.run(lambda s: calls.mark_answered(s, state.call_id, at))
            region, how = directory.resolve(dialled, state.caller_number), "number"
            if region is None:
                region, how = await self._ask_region(io, directory), "keyed"
            state.region = region
            io.owner = region
            state.config_version = directory.version(region)
            at = self.clock()
            await self.db.run(lambda s: calls.set_region(s, state.call_id, region, at, how))
            log.info("call=%s channel=%s region=%s (%s)", state.call_id, state.channel_id, region, how)
            outcome = await run_flow(directory.menu(region), directory.env(region), io, state, self.clock)
            data: dict[str, object] = {"kind": outcome.kind, "path": state.path, "language": state.language}
            if outcome.request is not None:
                data["request"] = outcome.request.model_dump(mode="json")
            if outcome.number:
                data["number"] = outcome.number
            await self._record(call, "ivr.outcome", data)
            log.info("call=%s channel=%s menu done: %s path=%s", state.call_id, state.channel_id, outcome.kind,
                     " ".join(state.path))
        except CallerHungUp:
            await self._record(call, "ivr.caller_left", {"path": state.path})
            log.info("call=%s channel=%s caller left the menu at %s", state.call_id, state.channel_id,
                     state.path[-1] if state.path else "-")
        except AriNotFound:
            log.info("call=%s channel=%s gone (hang-up race)", state.call_id, state.channel_id)
        except Exception as exc:
            await self._rescue(call, exc, after_fallback)

    async def _after_failed_transfer(self, call: _Call, region: str | None, previous: _Call | None) -> None:
        """A transfer could not be made: the dialplan told the caller and sent them back;
        a nurse of the call's region takes over, in the caller's language."""
        state = call.state
        state.region = region or "national"
        state.path.append("transfer-failed")
        request = RouteRequest(call_id=state.call_id, channel_id=state.channel_id, region=state.region,
                               language=state.language, menu_path=list(state.path),
                               config_version=previous.state.config_version if previous else None)
        try:
            await call.io.queue(request)
            await self._record(call, "ivr.outcome", {"kind": "queue", "path": state.path,
                                                      "request": request.model_dump(mode="json")})
        except CallerHungUp:
            await self._record(call, "ivr.caller_left", {"path": state.path})
        except Exception as exc:
            await self._rescue(call, exc, after_fallback=True)

    async def _ask_region(self, io: AriFlowIO, directory: RegionDirectory) -> str:
        prompt, invalid, timeout, retries = directory.region_prompt()
        for _ in range(retries + 1):
            keys = await io.collect(prompt, "sv", max_digits=3, timeout=timeout, terminator="#")
            region = directory.region_for_code(keys.rstrip("#"))
            if region is not None:
                return region
            await io.play(invalid or REGION_INVALID, "sv")
        return "national"

    async def _end(self, call: _Call, reason: str = "ended") -> None:
        state = call.state
        if self.calls.pop(state.channel_id, None) is None:
            return
        call.io.on_hangup()
        if call.task is not None:
            # Let the flow see the hang-up and finish (an enqueue in progress included) before
            # the queue entry is released.
            await asyncio.wait({call.task}, timeout=5)
            if not call.task.done():
                call.task.cancel()
        await self.router.release(state.channel_id)
        now = self.clock()
        await self.db.run(lambda s: calls.close_call(s, state.call_id, now, reason))
        log.info("call=%s channel=%s ended (%s)", state.call_id, state.channel_id, reason)

    async def _record(self, call: _Call, kind: str, data: dict[str, object]) -> None:
        now = self.clock()
        state = call.state
        await self.db.run(lambda s: calls.append(s, state.call_id, kind, now, channel_id=state.channel_id, data=data))

    async def _rescue(self, call: _Call, exc: Exception, after_fallback: bool) -> None:
        extension = "final" if after_fallback else "s"
        state = call.state
        log.exception("call=%s channel=%s menu failed; sending the caller to %s,%s", state.call_id,
                      state.channel_id, FALLBACK_CONTEXT, extension, exc_info=exc)
        try:
            await call.io.leave_for("fallback", FALLBACK_CONTEXT, extension)
        except AriError as again:
            log.error("call=%s channel=%s could not reach the safe path either: %s", state.call_id,
                      state.channel_id, again)
        try:  # best effort: the failure may be the database itself
            await self._record(call, "app.failed", {"error": str(exc)[:300], "to": f"{FALLBACK_CONTEXT},{extension}"})
        except Exception:
            log.exception("call=%s could not record the failure", state.call_id)

    async def stand_down(self) -> None:
        """This instance is no longer the leader (or stops): end its flows and announcements;
        the channels stay in Asterisk for the new leader to adopt."""
        for call in list(self.calls.values()):
            if call.task is not None and not call.task.done():
                call.task.cancel()
            try:
                await self.router.release(call.state.channel_id)
            except Exception:
                # Redis down is a likely reason to lose the lease: every other flow must still stop.
                log.exception("call=%s could not be released from routing", call.state.call_id)
        self.calls.clear()

    async def resync(self, channels: list[Channel], *, skip: Collection[str] = ()) -> None:
        """`skip`: alive channels another part owns (routing's adopted bridged callers)."""
        alive = {c.id for c in channels}
        for channel in channels:
            if channel.id in skip:
                continue
            app_args = channel.dialplan.app_data.split(",")
            in_app = channel.dialplan.app_name == "Stasis" and app_args[0] == self.ari.app
            if in_app and app_args[1:2] == [OFFER_ARG]:
                continue  # a nurse leg: routing's, not a caller to take into the menu
            if in_app and channel.id not in self.calls:
                log.warning("channel=%s adopted after resync; its menu starts again", channel.id)
                await self._start(channel, channel.dialplan.app_data.split(",")[1:])
        for channel_id in [c for c in self.calls if c not in alive]:
            gone = self.calls.get(channel_id)
            if gone is not None:
                await self._end(gone, "ended_while_disconnected")
        now = self.clock()

        def close_stale(s: Session) -> int:
            closed = 0
            for c in calls.open_calls(s):
                if c.channel_id not in alive and calls.close_call(s, c.id, now, "ended_while_disconnected"):
                    closed += 1
            return closed

        if await self.db.run(close_stale):
            log.info("resync closed call records whose channel is gone")
