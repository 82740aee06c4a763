"""Offer and answer on the real Asterisk: ring the reserved nurse's phone over ARI, bridge her with
the caller when she answers, and report ring-no-answer and callers who give up to the engine.

The driver is a `RoutingEngine` listener (`on_routing_event`) and receives the ARI events of the
nurse legs (`on_ari_event`: the IVR hands over events of channels it does not own). A nurse leg is
originated into the Stasis app with the arguments `offer,<call id>`; it enters Stasis when she
answers. A leg destroyed before that is a ring-no-answer (Asterisk's originate timeout, her phone
declining, or no phone registered): the engine pauses her with "missed offer" and the call keeps its
place.

A bridged call can be transferred by its nurse (docs/routing.md, "Transfer and hold"): back into routing
(`transfer_to_routing`: a queue, or one named nurse) or out to an external number (`transfer_out`). Her hold
(her phone's re-INVITE) is recorded from the ChannelHold/ChannelUnhold events of her leg; Asterisk itself
plays music on hold to the caller in the bridge.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from agents.presence import Event as PresenceEvent
from calls import service as calls
from ivr.calls import FALLBACK_CONTEXT
from ivr.handover import RouteRequest
from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound
from telephony.ari.models import Channel, ChannelDestroyed, Event, StasisEnd, StasisStart
from vardlinje.db import Database

from .engine import RoutingEngine
from .model import Offer, RoutingEvent, WaitingCall
from .router import EngineRouter
from .transfer import Refusal

log = logging.getLogger("vardlinje.routing.asterisk")

OFFER_ARG = "offer"
BRIDGE_PREFIX = "call-"  # a bridged call's bridge is `call-<call id>`: found again after a restart
NURSE_CHANNEL_PREFIX = "offer-"
TRANSFER_CONTEXT = "vardlinje-transfer"  # the dialplan context that dials an external number (as the IVR's)
HOLD_EVENTS = {"ChannelHold": "call.held", "ChannelUnhold": "call.unheld"}

# ringing → answering (she answered; routing and the bridge are being set up) → bridged → ended;
# bridged → transferring (the caller is being handed on) → ended, or back to bridged if that fails
OfferState = Literal["ringing", "answering", "bridged", "transferring", "ended"]

#: Sends a caller's channel on in the dialplan through the IVR that holds it (channel, why, context,
#: extension), so the IVR keeps following it; False when no IVR flow holds the channel (an adopted call).
DialplanOut = Callable[[str, str, str, str], Awaitable[bool]]


class TransferFailed(Exception):
    """A transfer could not be made. The caller is still with the nurse, or — if even that failed — on the
    dialplan's safe path; never dropped."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


def _call_ended() -> TransferFailed:
    return TransferFailed(Refusal(409, "call_ended", "Samtalet har redan avslutats / the call has ended"))


def _failed(why: str) -> TransferFailed:
    return TransferFailed(Refusal(503, "transfer_failed", f"Samtalet kunde inte kopplas vidare ({why}); du är "
                                                          "fortfarande kopplad till uppringaren / the transfer "
                                                          "failed, the caller is still with you"))


@dataclass
class LiveOffer:
    call_id: str
    nurse_id: str
    caller_channel: str
    nurse_channel: str
    state: OfferState = "ringing"
    bridge_id: str | None = None
    adopted: bool = False  # bridged before this instance took over: no IVR flow owns the caller
    transferred_by: str | None = None  # the nurse who transferred the call to this (named) nurse


class OfferDriver:
    def __init__(self, ari: AriClient, engine: RoutingEngine, router: EngineRouter, db: Database,
                 clock: Callable[[], datetime], endpoint_for: Callable[[str], str | None], *,
                 ring_seconds: int | Callable[[str], int] = 20, caller_id: str = "Vardlinje",
                 on_hangup: Callable[[str], Awaitable[object]] | None = None) -> None:
        self.ari = ari
        self.engine = engine
        self.router = router
        self.db = db
        self.clock = clock
        self.endpoint_for = endpoint_for  # nurse id → her PJSIP endpoint name (None: not provisioned)
        # nurse id → seconds her phone rings before the offer counts as missed (her region's setting)
        if isinstance(ring_seconds, int):
            fixed = ring_seconds
            ring_seconds = lambda _nurse: fixed  # noqa: E731
        self.ring_seconds: Callable[[str], int] = ring_seconds
        self.caller_id = caller_id
        # The call ended for the nurse: her wrap-up starts (LiveRouting records it in the registry).
        self.on_hangup = on_hangup or (lambda nurse_id: engine.nurse_event(nurse_id, PresenceEvent.HANGUP,
                                                                           clock()))
        self.offers: dict[str, LiveOffer] = {}  # call id → offer
        self.by_nurse_channel: dict[str, LiveOffer] = {}
        self.by_caller_channel: dict[str, LiveOffer] = {}  # bridged calls adopted after a restart
        self.standing_down = False  # leadership is moving: leave the shared store to the next leader
        self.dialplan_out: DialplanOut | None = None  # set by RoutedCallHandler (the IVR holds the callers)
        self.transfers: dict[str, str] = {}  # call id → the nurse who transferred it to a named nurse
        router.on_caller_left = self.caller_left
        # First among the engine's listeners: the phone rings before anything is recorded.
        engine.listeners.insert(0, self.on_routing_event)

    async def _record(self, offer: LiveOffer, kind: str, data: dict[str, object]) -> None:
        """Append to the call record, best effort: a database fault must never keep a phone from
        ringing, a nurse from being freed or a bridge from being made."""
        now = self.clock()
        try:
            await self.db.run(lambda s: calls.append(s, offer.call_id, kind, now, channel_id=offer.caller_channel,
                                                     data={"nurse": offer.nurse_id, **data}))
        except Exception:
            log.exception("call=%s could not record %s", offer.call_id, kind)

    def _track(self, offer: LiveOffer) -> None:
        self.offers[offer.call_id] = offer
        self.by_nurse_channel[offer.nurse_channel] = offer
        if offer.adopted:
            self.by_caller_channel[offer.caller_channel] = offer

    def _forget(self, offer: LiveOffer) -> None:
        """The offer is over for this driver: no event of its channels concerns it any more."""
        offer.state = "ended"
        if self.offers.get(offer.call_id) is offer:
            del self.offers[offer.call_id]
        self.by_nurse_channel.pop(offer.nurse_channel, None)
        self.by_caller_channel.pop(offer.caller_channel, None)

    # -- the engine's decisions -------------------------------------------------------------------

    async def on_routing_event(self, event: RoutingEvent) -> None:
        if event.kind != "offered" or event.nurse_id is None:
            return
        try:
            await self._ring(event)
        except Exception:
            # Never leave a nurse reserved for a call nobody rings: the offer ends as missed (she is
            # paused, so a persistent fault cannot re-offer the call to her in a loop).
            log.exception("call=%s ringing nurse=%s failed", event.call_id, event.nurse_id)
            offer = self.offers.get(event.call_id)
            if offer is not None:
                self._forget(offer)
                await self._hangup(offer.nurse_channel)
            await self.engine.offer_ended(event.call_id, self.clock(), missed=True)

    async def _ring(self, event: RoutingEvent) -> None:
        assert event.nurse_id is not None
        request = self.router.request_for(event.call_id)
        if request is None:
            # Not a call of this instance's: its caller left between the decision and here, or it is
            # left over from before a restart. Either way nobody can be connected to it.
            log.info("call=%s offered to nurse=%s but no caller is waiting here; dropped", event.call_id,
                     event.nurse_id)
            await self.engine.caller_left(event.call_id, self.clock())
            return
        current = self.offers.get(event.call_id)
        if current is not None and current.state in ("answering", "bridged"):
            # The caller is talking with a nurse (a transfer that failed and put them back together): ringing
            # another nurse would pull the caller out of that conversation. The stray queue entry goes.
            log.warning("call=%s offered to nurse=%s while connected to nurse=%s; withdrawn", event.call_id,
                        event.nurse_id, current.nurse_id)
            await self.engine.caller_left(event.call_id, self.clock())
            return
        offer = LiveOffer(event.call_id, event.nurse_id, request.channel_id, f"{NURSE_CHANNEL_PREFIX}{uuid.uuid4().hex[:16]}",
                          transferred_by=self.transfers.pop(event.call_id, None))
        self._track(offer)
        endpoint = self.endpoint_for(offer.nurse_id)
        log.info("call=%s offered to nurse=%s endpoint=%s", offer.call_id, offer.nurse_id, endpoint)
        failed = "no endpoint" if endpoint is None else None
        if endpoint is not None:
            # Ring first, record after: the caller is waiting for this, not for the database.
            try:
                await self.ari.request("POST", "/channels", params={
                    "endpoint": f"PJSIP/{endpoint}", "app": self.ari.app, "appArgs": f"{OFFER_ARG},{offer.call_id}",
                    "timeout": str(self.ring_seconds(offer.nurse_id)), "callerId": self.caller_id,
                    "channelId": offer.nurse_channel})
            except AriError as exc:  # not registered, endpoint unknown: she cannot be reached
                failed = f"originate failed: {exc}"
        await self._record(offer, "offer.started", {"nurse_channel": offer.nurse_channel, "endpoint": endpoint,
                                                    "step": event.step.value if event.step else None})
        if failed is not None and offer.state == "ringing":
            await self._missed(offer, failed)

    # -- the nurse legs ---------------------------------------------------------------------------

    async def on_ari_event(self, event: Event) -> None:
        """An event of a channel the IVR does not own."""
        channel_id = event.channel_id() or ""
        adopted = self.by_caller_channel.get(channel_id)
        if adopted is not None:
            if isinstance(event, ChannelDestroyed | StasisEnd):
                await self._caller_hung_up(adopted)
            return
        offer = self.by_nurse_channel.get(channel_id)
        if isinstance(event, StasisStart) and event.args[:1] == [OFFER_ARG]:
            if offer is None or offer.state != "ringing":
                log.info("channel=%s answered an offer that is gone; hanging up", event.channel.id)
                await self._hangup(event.channel.id)
                return
            await self._answered(offer)
        elif offer is None:
            return
        elif event.type in HOLD_EVENTS:
            if offer.state == "bridged":
                await self._record(offer, HOLD_EVENTS[event.type], {"by": "nurse", "nurse_channel": offer.nurse_channel})
        elif isinstance(event, ChannelDestroyed | StasisEnd):
            if offer.state == "ringing":
                await self._missed(offer, event.cause_txt if isinstance(event, ChannelDestroyed) else "left")
            elif offer.state == "bridged":
                await self._nurse_hung_up(offer)
            elif offer.state == "answering":
                offer.state = "ended"  # she hung up at once; _answered finishes the call

    async def _answered(self, offer: LiveOffer) -> None:
        offer.state = "answering"
        await self.router.stop_announcements(offer.call_id)
        await self.engine.answered(offer.call_id, self.clock())
        if offer.state != "answering":
            # The caller (or she) hung up while routing recorded the answer: end the other leg.
            log.info("call=%s ended while nurse=%s answered", offer.call_id, offer.nurse_id)
            await self._end_call(offer, "caller" if self.offers.get(offer.call_id) is not offer else "nurse")
            return
        offer.state = "bridged"
        await self._record(offer, "offer.answered", {})
        bridge_id = f"{BRIDGE_PREFIX}{offer.call_id}"
        try:
            await self.ari.request("POST", "/bridges", params={"type": "mixing", "bridgeId": bridge_id,
                                                                "name": bridge_id})
            offer.bridge_id = bridge_id
            await self.ari.request("POST", f"/bridges/{bridge_id}/addChannel",
                                   params={"channel": f"{offer.caller_channel},{offer.nurse_channel}"})
        except AriError as exc:
            # The caller hung up in the same instant, or Asterisk refused: end both legs.
            log.warning("call=%s could not be bridged: %s", offer.call_id, exc)
            await self._end_call(offer, "caller")
            return
        await self._record(offer, "call.bridged", {"bridge": bridge_id, "nurse_channel": offer.nurse_channel})
        log.info("call=%s bridged with nurse=%s (%s)", offer.call_id, offer.nurse_id, bridge_id)

    async def _missed(self, offer: LiveOffer, why: str) -> None:
        self._forget(offer)
        if offer.transferred_by is not None:
            # A transfer to a named nurse she did not answer: the call waits with the skills it had, offered
            # to whoever may take it (never back to the transferring nurse, who is in wrap-up: the safest for
            # the caller is the next free nurse, not a nurse who has just moved on).
            log.info("call=%s transferred by nurse=%s: nurse=%s did not answer (%s); back to the queue",
                     offer.call_id, offer.transferred_by, offer.nurse_id, why)
        else:
            log.info("call=%s ring-no-answer by nurse=%s (%s); the call keeps its place", offer.call_id,
                     offer.nurse_id, why)
        await self.engine.offer_ended(offer.call_id, self.clock(), missed=True)
        data: dict[str, object] = {"why": why}
        if offer.transferred_by is not None:
            data["transferred_by"] = offer.transferred_by
        await self._record(offer, "offer.missed", data)

    async def _nurse_hung_up(self, offer: LiveOffer) -> None:
        await self._end_call(offer, "nurse")

    async def _caller_hung_up(self, offer: LiveOffer) -> None:
        await self._end_call(offer, "caller")

    async def _end_call(self, offer: LiveOffer, hung_up_by: Literal["nurse", "caller"]) -> None:
        """A connected (or connecting) call is over: both legs and the bridge go, the nurse's wrap-up
        starts, and the record of a call no IVR flow owns any more is closed."""
        adopted = offer.adopted
        self._forget(offer)
        await self._hangup(offer.nurse_channel)
        await self._hangup(offer.caller_channel)
        await self._destroy_bridge(offer)
        try:
            await self.on_hangup(offer.nurse_id)  # her wrap-up starts; LiveRouting ends it in time
        except Exception:
            log.exception("call=%s nurse=%s: the end of the call could not be recorded in her presence",
                          offer.call_id, offer.nurse_id)
        await self._record(offer, "call.hung_up", {"by": hung_up_by})
        if adopted:
            now = self.clock()
            try:
                await self.db.run(lambda s: calls.close_call(s, offer.call_id, now, "ended"))
            except Exception:
                log.exception("call=%s could not be closed", offer.call_id)

    # -- transfers ----------------------------------------------------------------------------------

    def bridged_offer(self, call_id: str) -> LiveOffer | None:
        """The call's offer if caller and nurse are connected through this instance now."""
        offer = self.offers.get(call_id)
        return offer if offer is not None and offer.state == "bridged" else None

    async def transfer_to_routing(self, offer: LiveOffer, request: RouteRequest, call: WaitingCall,
                                  to_nurse: Offer | None, data: dict[str, object]) -> bool:
        """The caller leaves her bridge and waits in routing again: `request` (what the call needs now) on
        the router with the wait announcements, `call` in the engine — offered to whoever may take it, or
        (`to_nurse`) reserved for that one nurse. Then her leg is hung up and her wrap-up starts.

        False if the named nurse was not ready any more: caller and nurse are connected again and nothing
        changed. Raises `TransferFailed` when routing could not take the call (the caller is back with her)."""
        call_id = offer.call_id
        original = self.router.request_for(call_id)
        if original is None:
            raise _failed("the caller is not queued here")
        offer.state = "transferring"
        # The bridge goes first (both legs stay in Stasis): the next nurse's answer creates the call's bridge
        # `call-<call id>` again, which must not exist by then.
        try:
            await self.ari.request("DELETE", f"/bridges/{offer.bridge_id}")
        except AriError as exc:
            if offer.state == "transferring":
                offer.state = "bridged"
            raise _call_ended() if isinstance(exc, AriNotFound) else _failed(str(exc)) from exc
        offer.bridge_id = None
        if offer.state != "transferring":
            raise _call_ended()  # the caller hung up meanwhile (caller_left ended the call)
        error: Exception | None = None
        reserved = False
        try:
            if not self.router.requeue(request):
                raise LookupError("the caller left the queue")
            now = self.clock()
            if to_nurse is None:
                await self.engine.call_arrived(call, now)
                reserved = True
            else:
                self.transfers[call_id] = offer.nurse_id
                reserved = bool(await self.engine.call_reserved(call, to_nurse, now))
        except Exception as exc:
            error = exc
            log.exception("call=%s could not be put back into routing", call_id)
        finally:
            self.transfers.pop(call_id, None)
        if offer.state != "transferring":
            if self.router.request_for(call_id) is None:  # the caller left before the call was queued again
                with suppress(Exception):
                    await self.engine.caller_left(call_id, self.clock())
            raise _call_ended()
        if error is not None or not reserved:
            await self._undo_transfer(offer, original)
            if error is not None:
                raise _failed(type(error).__name__) from error
            return False
        await self._release_nurse(offer, data)
        return True

    async def transfer_out(self, offer: LiveOffer, number: str, data: dict[str, object]) -> None:
        """The caller goes on in the dialplan to `number` (context vardlinje-transfer, as the IVR's transfer:
        a failed dial brings them back with `transfer-failed` and the IVR queues them); her leg is hung up and
        her wrap-up starts. Raises `TransferFailed` if the caller could not be sent (still with her)."""
        if self.dialplan_out is None:
            raise _failed("no dialplan hand-over")
        offer.state = "transferring"
        try:
            sent = await self.dialplan_out(offer.caller_channel, "transfer", TRANSFER_CONTEXT, number)
        except AriError as exc:
            if offer.state == "transferring":
                offer.state = "bridged"
            raise _call_ended() if isinstance(exc, AriNotFound) else _failed(str(exc)) from exc
        if not sent:
            if offer.state == "transferring":
                offer.state = "bridged"
            raise TransferFailed(Refusal(409, "transfer_unavailable", "Samtalet hålls inte av någon meny på den "
                                                                      "här servern / no IVR holds this caller"))
        if offer.state != "transferring":
            return  # the caller hung up in the same instant: the call is ended already
        await self._release_nurse(offer, data)

    async def _release_nurse(self, offer: LiveOffer, data: dict[str, object]) -> None:
        """The caller is handed on: her leg and the bridge go, her wrap-up starts."""
        self._forget(offer)  # no event of her leg concerns the call any more
        await self._hangup(offer.nurse_channel)
        await self._destroy_bridge(offer)
        try:
            await self.on_hangup(offer.nurse_id)
        except Exception:
            log.exception("call=%s nurse=%s: the transfer could not be recorded in her presence", offer.call_id,
                          offer.nurse_id)
        await self._record(offer, "call.transferred", data)
        log.info("call=%s transferred by nurse=%s: %s", offer.call_id, offer.nurse_id, data)

    async def _undo_transfer(self, offer: LiveOffer, original: RouteRequest) -> None:
        """Routing could not take the call: caller and nurse are connected again as before. Anything the
        attempt left in routing is withdrawn first, so no other nurse rings for a caller who is talking."""
        call_id = offer.call_id
        await self.router.stop_announcements(call_id)
        self.router.requeue(original, announce=False)
        other = self.offers.get(call_id)
        if other is not None and other is not offer:
            self._forget(other)
            await self._hangup(other.nurse_channel)
        try:
            await self.engine.caller_left(call_id, self.clock())  # out of the store (her reservation too)
        except Exception:
            log.exception("call=%s could not be withdrawn from routing", call_id)
        self.offers[call_id] = offer
        bridge_id = f"{BRIDGE_PREFIX}{call_id}"
        try:
            await self.ari.request("POST", "/bridges", params={"type": "mixing", "bridgeId": bridge_id,
                                                                "name": bridge_id})
            offer.bridge_id = bridge_id
            await self.ari.request("POST", f"/bridges/{bridge_id}/addChannel",
                                   params={"channel": f"{offer.caller_channel},{offer.nurse_channel}"})
        except AriError as exc:
            # One leg is gone (she hung up meanwhile): the caller is not left in silence but takes the
            # dialplan's safe path (the technical-problem message, then the menu again).
            log.warning("call=%s could not be connected again after a failed transfer: %s", call_id, exc)
            self._forget(offer)
            await self._hangup(offer.nurse_channel)
            await self._destroy_bridge(offer)
            with suppress(Exception):
                await self.on_hangup(offer.nurse_id)
            sent = False
            if self.dialplan_out is not None:
                with suppress(AriError):
                    sent = await self.dialplan_out(offer.caller_channel, "fallback", FALLBACK_CONTEXT, "s")
            if not sent:
                with suppress(AriError):
                    await self.ari.continue_in_dialplan(offer.caller_channel, FALLBACK_CONTEXT, "s")
            return
        if offer.state == "transferring":
            offer.state = "bridged"
        log.info("call=%s transfer undone: caller and nurse=%s connected again", call_id, offer.nurse_id)

    # -- leadership ---------------------------------------------------------------------------------

    async def stand_down(self) -> None:
        """Another instance takes over: forget the offers without touching a channel or the shared
        store. Bridged calls stay bridged (the next leader adopts them); a ringing leg the next leader
        does not know is hung up when it answers, and the next leader's resync requeues its call."""
        self.standing_down = True
        self.offers.clear()
        self.by_nurse_channel.clear()
        self.by_caller_channel.clear()

    async def resync(self, channels: Iterable[Channel]) -> set[str]:
        """After a (re)connect: settle this driver's offers whose events were lost while disconnected,
        adopt the bridged calls it lost track of (so the IVR does not restart their menu), end the
        presence of nurses whose call is gone, and drop the calls in the store no caller of this
        instance waits for. Returns the caller channels adopted."""
        self.standing_down = False
        alive = {c.id: c for c in channels}
        for offer in list(self.offers.values()):
            nurse_leg = alive.get(offer.nurse_channel)
            if offer.state == "ringing" and nurse_leg is None:
                await self._missed(offer, "ended while disconnected")
            elif offer.state == "ringing" and nurse_leg is not None and nurse_leg.dialplan.app_name == "Stasis":
                await self._answered(offer)  # she answered while we were not listening
            elif offer.state == "bridged" and (nurse_leg is None or offer.caller_channel not in alive):
                await self._end_call(offer, "nurse" if nurse_leg is None else "caller")
        adopted: set[str] = {o.caller_channel for o in self.offers.values() if o.adopted}
        now = self.clock()
        snapshot = await self.engine.store.snapshot()
        by_call = {n.call_id: n for n in snapshot.nurses if n.call_id}
        on_call = {cid: n for cid, n in by_call.items() if n.state.value == "on_call"}
        bridges = await self.ari.request("GET", "/bridges")
        for bridge in bridges if isinstance(bridges, list) else []:
            bridge_id = str(bridge.get("id", ""))
            call_id = bridge_id.removeprefix(BRIDGE_PREFIX)
            if not bridge_id.startswith(BRIDGE_PREFIX) or call_id in self.offers:
                continue
            members = [c for c in bridge.get("channels", []) if c in alive]
            nurse_legs = [c for c in members if c.startswith(NURSE_CHANNEL_PREFIX)]
            caller_legs = [c for c in members if not c.startswith(NURSE_CHANNEL_PREFIX)]
            nurse = by_call.get(call_id)
            on_call.pop(call_id, None)
            if nurse_legs and caller_legs:
                # Both still talk: adopt the call whatever the store says; never cut a conversation.
                nurse_id = nurse.nurse_id if nurse is not None else ""
                if nurse is None or nurse.state.value != "on_call":
                    log.warning("call=%s is bridged but routing has nurse %s as %s; adopted anyway", call_id,
                                nurse_id or "?", nurse.state.value if nurse else "unknown")
                offer = LiveOffer(call_id, nurse_id, caller_legs[0], nurse_legs[0], "bridged", bridge_id, adopted=True)
                self._track(offer)
                adopted.add(offer.caller_channel)
                log.info("call=%s adopted after resync: nurse=%s still talking with the caller", call_id, nurse_id)
                continue
            log.info("call=%s bridge %s is left over (members %s); ending it", call_id, bridge_id, members)
            for channel_id in members:
                await self._hangup(channel_id)
            with suppress(AriError):
                await self.ari.request("DELETE", f"/bridges/{bridge_id}")
            if nurse is not None and nurse.state.value == "on_call":
                on_call[call_id] = nurse  # her call is over: wrap-up below
        for call_id, nurse in on_call.items():
            log.info("nurse=%s was on call=%s, which ended while this instance was away", nurse.nurse_id, call_id)
            try:
                await self.on_hangup(nurse.nurse_id)
            except Exception:
                log.exception("nurse=%s: could not end her presence on the lost call", nurse.nurse_id)
        stale = [c.call_id for c in snapshot.calls if self.router.request_for(c.call_id) is None]
        stale += [o.call_id for o in await self.engine.store.offers()
                  if o.call_id not in self.offers and self.router.request_for(o.call_id) is None]
        for call_id in dict.fromkeys(stale):
            log.info("call=%s is in the routing store but no caller waits for it here; removed", call_id)
            await self.engine.caller_left(call_id, now)
        return adopted

    # -- the caller leaving (from the router) -----------------------------------------------------

    async def caller_left(self, request: RouteRequest) -> None:
        if self.standing_down:
            return  # the next leader's resync settles the shared store
        call_id = request.call_id
        offer = self.offers.get(call_id)
        if offer is None or offer.state == "ringing":
            if offer is not None:
                self._forget(offer)
                await self._hangup(offer.nurse_channel)
                await self._record(offer, "offer.cancelled", {"why": "caller left"})
            await self.engine.caller_left(call_id, self.clock())
        elif offer.state == "answering":
            self._forget(offer)  # _answered sees it and ends the nurse's leg once routing has the answer
        elif offer.state == "bridged":
            await self._end_call(offer, "caller")
        elif offer.state == "transferring":
            # The transfer in progress sees the offer ended and stops; the call may be queued again already.
            await self._end_call(offer, "caller")
            await self.engine.caller_left(call_id, self.clock())

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
