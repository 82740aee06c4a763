"""Offer and answer on the real Asterisk: ring the reserved nurse's phone over ARI, bridge her with
the caller when she answers, and report ring-no-answer and callers who give up to the engine.

The driver is a `RoutingEngine` listener (`on_routing_event`) and receives the ARI events of the
nurse legs (`on_ari_event`: the IVR hands over events of channels it does not own). A nurse leg is
originated into the Stasis app with the arguments `offer,<call id>`; it enters Stasis when she
answers. A leg destroyed before that is a ring-no-answer (Asterisk's originate timeout, her phone
declining, or no phone registered): the engine pauses her with "missed offer" and the call keeps its
place.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from agents.presence import Event as PresenceEvent
from calls import service as calls
from ivr.handover import RouteRequest
from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound
from telephony.ari.models import ChannelDestroyed, Event, StasisEnd, StasisStart
from vardlinje.db import Database

from .engine import RoutingEngine
from .model import RoutingEvent
from .router import EngineRouter

log = logging.getLogger("vardlinje.routing.asterisk")

OFFER_ARG = "offer"

OfferState = Literal["ringing", "bridged", "ended"]


@dataclass
class LiveOffer:
    call_id: str
    nurse_id: str
    caller_channel: str
    nurse_channel: str
    state: OfferState = "ringing"
    bridge_id: str | None = None


class OfferDriver:
    def __init__(self, ari: AriClient, engine: RoutingEngine, router: EngineRouter, db: Database,
                 clock: Callable[[], datetime], endpoint_for: Callable[[str], str | None], *,
                 ring_seconds: int = 20, caller_id: str = "Vardlinje") -> None:
        self.ari = ari
        self.engine = engine
        self.router = router
        self.db = db
        self.clock = clock
        self.endpoint_for = endpoint_for  # nurse id → her PJSIP endpoint name (None: not provisioned)
        self.ring_seconds = ring_seconds
        self.caller_id = caller_id
        self.offers: dict[str, LiveOffer] = {}  # call id → offer
        self.by_nurse_channel: dict[str, LiveOffer] = {}
        router.on_caller_left = self.caller_left
        engine.listeners.append(self.on_routing_event)

    async def _record(self, offer: LiveOffer, kind: str, data: dict[str, object]) -> None:
        now = self.clock()
        await self.db.run(lambda s: calls.append(s, offer.call_id, kind, now, channel_id=offer.caller_channel,
                                                 data={"nurse": offer.nurse_id, **data}))

    # -- the engine's decisions -------------------------------------------------------------------

    async def on_routing_event(self, event: RoutingEvent) -> None:
        if event.kind == "offered" and event.nurse_id is not None:
            await self._ring(event)

    async def _ring(self, event: RoutingEvent) -> None:
        assert event.nurse_id is not None
        request = self.router.request_for(event.call_id)
        if request is None:  # the caller left between the decision and here
            await self.engine.offer_ended(event.call_id, self.clock(), missed=False)
            return
        offer = LiveOffer(event.call_id, event.nurse_id, request.channel_id, f"offer-{uuid.uuid4().hex[:16]}")
        self.offers[offer.call_id] = offer
        self.by_nurse_channel[offer.nurse_channel] = offer
        endpoint = self.endpoint_for(offer.nurse_id)
        await self._record(offer, "offer.started", {"nurse_channel": offer.nurse_channel, "endpoint": endpoint,
                                                    "step": event.step.value if event.step else None})
        log.info("call=%s offered to nurse=%s endpoint=%s", offer.call_id, offer.nurse_id, endpoint)
        if endpoint is None:
            await self._missed(offer, "no endpoint")
            return
        try:
            await self.ari.request("POST", "/channels", params={
                "endpoint": f"PJSIP/{endpoint}", "app": self.ari.app, "appArgs": f"{OFFER_ARG},{offer.call_id}",
                "timeout": str(self.ring_seconds), "callerId": self.caller_id, "channelId": offer.nurse_channel})
        except AriError as exc:  # not registered, endpoint unknown: she cannot be reached
            await self._missed(offer, f"originate failed: {exc}")

    # -- the nurse legs ---------------------------------------------------------------------------

    async def on_ari_event(self, event: Event) -> None:
        """An event of a channel the IVR does not own."""
        channel_id = event.channel_id()
        offer = self.by_nurse_channel.get(channel_id or "")
        if isinstance(event, StasisStart) and event.args[:1] == [OFFER_ARG]:
            if offer is None or offer.state != "ringing":
                log.info("channel=%s answered an offer that is gone; hanging up", event.channel.id)
                await self._hangup(event.channel.id)
                return
            await self._answered(offer)
        elif offer is None:
            return
        elif isinstance(event, ChannelDestroyed | StasisEnd):
            self.by_nurse_channel.pop(offer.nurse_channel, None)
            if offer.state == "ringing":
                cause = event.cause_txt if isinstance(event, ChannelDestroyed) else "left"
                await self._missed(offer, cause)
            elif offer.state == "bridged":
                await self._nurse_hung_up(offer)

    async def _answered(self, offer: LiveOffer) -> None:
        now = self.clock()
        offer.state = "bridged"
        await self.router.stop_announcements(offer.call_id)
        await self.engine.answered(offer.call_id, now)
        await self._record(offer, "offer.answered", {})
        bridge_id = f"call-{offer.call_id}"
        try:
            await self.ari.request("POST", "/bridges", params={"type": "mixing", "bridgeId": bridge_id,
                                                                "name": f"call-{offer.call_id}"})
            offer.bridge_id = bridge_id
            await self.ari.request("POST", f"/bridges/{bridge_id}/addChannel",
                                   params={"channel": f"{offer.caller_channel},{offer.nurse_channel}"})
        except AriError as exc:
            # The caller hung up in the same instant, or Asterisk refused: end both legs.
            log.warning("call=%s could not be bridged: %s", offer.call_id, exc)
            await self._hangup(offer.nurse_channel)
            await self._hangup(offer.caller_channel)
            return
        await self._record(offer, "call.bridged", {"bridge": bridge_id, "nurse_channel": offer.nurse_channel})
        log.info("call=%s bridged with nurse=%s (%s)", offer.call_id, offer.nurse_id, bridge_id)

    async def _missed(self, offer: LiveOffer, why: str) -> None:
        offer.state = "ended"
        self.offers.pop(offer.call_id, None)
        self.by_nurse_channel.pop(offer.nurse_channel, None)
        await self._record(offer, "offer.missed", {"why": why})
        log.info("call=%s ring-no-answer by nurse=%s (%s); the call keeps its place", offer.call_id,
                 offer.nurse_id, why)
        await self.engine.offer_ended(offer.call_id, self.clock(), missed=True)

    async def _nurse_hung_up(self, offer: LiveOffer) -> None:
        offer.state = "ended"
        self.offers.pop(offer.call_id, None)
        await self._hangup(offer.caller_channel)
        await self._after_call(offer)

    async def _after_call(self, offer: LiveOffer) -> None:
        await self._destroy_bridge(offer)
        # Wrap-up (and the timer back to ready, W s per region) is the next slice.
        await self.engine.nurse_event(offer.nurse_id, PresenceEvent.HANGUP, self.clock())

    # -- the caller leaving (from the router) -----------------------------------------------------

    async def caller_left(self, request: RouteRequest) -> None:
        call_id = request.call_id
        offer = self.offers.pop(call_id, None)
        now = self.clock()
        if offer is None or offer.state == "ringing":
            if offer is not None:
                offer.state = "ended"
                self.by_nurse_channel.pop(offer.nurse_channel, None)
                await self._record(offer, "offer.cancelled", {"why": "caller left"})
                await self._hangup(offer.nurse_channel)
            await self.engine.caller_left(call_id, now)
            return
        if offer.state == "bridged":
            offer.state = "ended"
            self.by_nurse_channel.pop(offer.nurse_channel, None)
            await self._hangup(offer.nurse_channel)
            await self._after_call(offer)

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self.ari.hangup(channel_id)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("channel=%s could not be hung up: %s", channel_id, exc)

    async def _destroy_bridge(self, offer: LiveOffer) -> None:
        if offer.bridge_id is None:
            return
        try:
            await self.ari.request("DELETE", f"/bridges/{offer.bridge_id}")
        except AriError:
            pass
        offer.bridge_id = None
