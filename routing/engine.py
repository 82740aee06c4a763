"""The routing engine: the thin async layer between triggers and the pure policy.

On every trigger — a call arrives, a nurse's presence changes, an offer ends, a tick — it loads a
snapshot from the store, runs `policy.decide`, tries to `reserve` each proposed offer and reports
the events of what really happened. A reservation that fails (another instance got there first, the
nurse paused meanwhile) is no offer; the engine decides once more on fresh state so a call is not left
waiting for the next trigger. No telephony here: the offer/answer layer calls these methods and
rings the nurse for every `offered` event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from agents.presence import Event, InvalidTransition, PauseReason

from .model import EventKind, Offer, RoutingEvent, RoutingRules, WaitingCall
from .policy import decide
from .store import CallOutcome, RoutingStore

log = logging.getLogger("vardlinje.routing")

Listener = Callable[[RoutingEvent], Awaitable[None]]


class RoutingEngine:
    def __init__(self, store: RoutingStore, rules: RoutingRules, *, rounds: int = 2,
                 listeners: list[Listener] | None = None) -> None:
        self.store = store
        self.rules = rules  # replaced as a whole when the configuration changes
        self.rounds = rounds  # decisions per trigger at most (the first plus retries after lost races)
        self.listeners = list(listeners or [])

    async def _emit(self, events: list[RoutingEvent]) -> list[RoutingEvent]:
        for event in events:
            for listener in self.listeners:
                try:
                    await listener(event)
                except Exception:
                    # One listener's failure (the registry's database, a ring that failed oddly)
                    # must not keep the others from hearing of the event.
                    log.exception("call=%s routing listener failed on %s", event.call_id, event.kind)
        return events

    async def route(self, now: datetime) -> list[RoutingEvent]:
        """Offer what can be offered at `now`; the `offered` events (and `reserve_failed` for lost races)."""
        events: list[RoutingEvent] = []
        for _ in range(self.rounds):
            if not await self.store.any_ready():
                break  # the common case in a long queue: nobody free, nothing to decide
            snapshot = await self.store.snapshot(ready_only=True)
            offers = decide(now, snapshot.calls, snapshot.nurses, self.rules)
            calls = {c.call_id: c for c in snapshot.calls}
            lost = False
            for offer in offers:
                call = calls[offer.call_id]
                ok = await self.store.reserve(offer)
                if not ok:
                    lost = True
                    log.info("reservation of %s for %s lost (state changed)", offer.nurse_id, offer.call_id)
                events.append(RoutingEvent(
                    kind="offered" if ok else "reserve_failed", at=now, call_id=offer.call_id,
                    nurse_id=offer.nurse_id, step=offer.step, region=call.region, via_region=offer.via_region,
                    agreement=offer.agreement, wait_seconds=call.wait_seconds(now)))
            if not lost:
                break
        return await self._emit(events)

    async def tick(self, now: datetime) -> list[RoutingEvent]:
        """Time passed: waits may have crossed a threshold, windows opened or closed."""
        return await self.route(now)

    async def call_arrived(self, call: WaitingCall, now: datetime) -> list[RoutingEvent]:
        if not await self.store.add_call(call):
            return []
        queued = RoutingEvent(kind="queued", at=now, call_id=call.call_id, region=call.region,
                              wait_seconds=call.wait_seconds(now))
        return [*await self._emit([queued]), *await self.route(now)]

    async def call_reserved(self, call: WaitingCall, offer: Offer, now: datetime) -> list[RoutingEvent]:
        """A call queued straight to one nurse (a transfer to a named nurse): queued and offered to her in
        one atomic step (`store.add_reserved`). [] and nothing changed if she is not ready any more or the
        call is queued already."""
        if not await self.store.add_reserved(call, offer):
            return []
        wait = call.wait_seconds(now)
        return await self._emit([
            RoutingEvent(kind="queued", at=now, call_id=call.call_id, region=call.region, wait_seconds=wait),
            RoutingEvent(kind="offered", at=now, call_id=call.call_id, nurse_id=offer.nurse_id, step=offer.step,
                         region=call.region, via_region=offer.via_region, agreement=offer.agreement,
                         wait_seconds=wait)])

    async def nurse_event(self, nurse_id: str, event: Event, now: datetime, *,
                          reason: PauseReason | None = None) -> list[RoutingEvent]:
        """A presence change (ready, pause, hang-up, wrap-up done, …); a nurse who became ready may get a call."""
        await self.store.transition(nurse_id, event, now, reason=reason)
        return await self.route(now)

    def _outcome_event(self, kind: EventKind, outcome: CallOutcome, now: datetime) -> RoutingEvent:
        offer = outcome.offer
        return RoutingEvent(
            kind=kind, at=now, call_id=outcome.call.call_id,
            nurse_id=offer.nurse_id if offer else None, step=offer.step if offer else None,
            region=outcome.call.region, via_region=offer.via_region if offer else None,
            agreement=offer.agreement if offer else None, wait_seconds=outcome.call.wait_seconds(now))

    async def answered(self, call_id: str, now: datetime) -> list[RoutingEvent]:
        try:
            outcome = await self.store.answered(call_id, now)
        except InvalidTransition as exc:
            # The store no longer has this nurse offered the call (restored from an older state):
            # the caller and nurse are talking regardless; routing just has nothing to record.
            log.warning("call=%s answered, but routing disagrees: %s", call_id, exc)
            return []
        if outcome is None:
            return []
        return await self._emit([self._outcome_event("answered", outcome, now)])

    async def offer_ended(self, call_id: str, now: datetime, *, missed: bool) -> list[RoutingEvent]:
        """Ring-no-answer (`missed`: the nurse is paused) or a cancelled offer: the call keeps its place
        and is offered again at once if someone can take it."""
        outcome = await self.store.release(call_id, now, missed=missed)
        if outcome is None:
            return []
        event = self._outcome_event("missed" if missed else "cancelled", outcome, now)
        return [*await self._emit([event]), *await self.route(now)]

    async def caller_left(self, call_id: str, now: datetime) -> list[RoutingEvent]:
        """The caller hung up while waiting or while the nurse's phone rang; a ringing nurse is freed."""
        outcome = await self.store.remove_call(call_id, now)
        if outcome is None:
            return []
        events = await self._emit([self._outcome_event("abandoned", outcome, now)])
        if outcome.offer is not None:
            events += await self.route(now)  # the nurse is ready again
        return events
