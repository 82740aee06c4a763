"""The in-memory routing store, for the simulator and tests. One event loop, no awaits inside a
method, so every method — `reserve` included — is atomic with respect to other coroutines."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from agents.presence import Event, InvalidTransition, PauseReason, State, transition

from .model import NurseState, Offer, Snapshot, WaitingCall
from .store import (
    CallOutcome,
    UnknownNurse,
    check_nurse_only,
    presence_of,
    released_history,
    same_presence,
    with_presence,
)


class MemoryStore:
    def __init__(self) -> None:
        self._calls: dict[str, WaitingCall] = {}
        self._offers: dict[str, Offer] = {}  # call id → offer
        self._nurses: dict[str, NurseState] = {}
        self._ready: dict[str, NurseState] = {}  # the ready nurses: an index, like the Redis store's

    def _track(self, nurse: NurseState) -> None:
        if nurse.state is State.READY:
            self._ready[nurse.nurse_id] = nurse
        else:
            self._ready.pop(nurse.nurse_id, None)

    async def add_call(self, call: WaitingCall) -> bool:
        if call.call_id in self._calls:
            return False
        self._calls[call.call_id] = call
        return True

    async def get_call(self, call_id: str) -> WaitingCall | None:
        return self._calls.get(call_id)

    async def remove_call(self, call_id: str, at: datetime) -> CallOutcome | None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return None
        offer = self._offers.pop(call_id, None)
        if offer is not None:
            self._settle(offer, Event.CANCEL, at)
        return CallOutcome(call, offer)

    async def upsert_nurse(self, nurse: NurseState) -> None:
        self._put(nurse)

    def _put(self, nurse: NurseState) -> None:
        self._nurses[nurse.nurse_id] = nurse
        self._track(nurse)

    async def restore(self, nurse: NurseState, expected: NurseState | None) -> bool:
        current = self._nurses.get(nurse.nurse_id)
        if (current is None) != (expected is None) or (
                current is not None and expected is not None and not same_presence(current, expected)):
            return False
        self._put(nurse)
        return True

    async def reindex(self) -> int:
        self._ready = {k: n for k, n in self._nurses.items() if n.state is State.READY}
        return len(self._ready)

    async def update_profile(self, nurse: NurseState) -> bool:
        current = self._nurses.get(nurse.nurse_id)
        if current is None:
            return False
        self._put(replace(current, home_region=nurse.home_region, skills=nurse.skills, regions=nurse.regions))
        return True

    async def remove_nurse(self, nurse_id: str) -> None:
        self._nurses.pop(nurse_id, None)
        self._ready.pop(nurse_id, None)

    async def get_nurse(self, nurse_id: str) -> NurseState | None:
        return self._nurses.get(nurse_id)

    async def transition(
        self, nurse_id: str, event: Event, at: datetime, *, reason: PauseReason | None = None
    ) -> NurseState:
        check_nurse_only(event)
        return self._apply(nurse_id, event, at, reason)

    def _apply(self, nurse_id: str, event: Event, at: datetime, reason: PauseReason | None = None,
               call_id: str | None = None) -> NurseState:
        nurse = self._nurses.get(nurse_id)
        if nurse is None:
            raise UnknownNurse(nurse_id)
        updated = with_presence(nurse, transition(presence_of(nurse), event, at, reason=reason, call_id=call_id))
        self._nurses[nurse_id] = updated
        self._track(updated)
        return updated

    def _settle(self, offer: Offer, event: Event, at: datetime) -> None:
        # The call must never stay stuck on a nurse: if she is gone or was overwritten meanwhile,
        # only the call is released.
        nurse = self._nurses.get(offer.nurse_id)
        if nurse is not None and nurse.state is State.OFFERED and nurse.call_id == offer.call_id:
            self._apply(offer.nurse_id, event, at)

    async def any_ready(self) -> bool:
        return bool(self._ready)

    async def snapshot(self, *, ready_only: bool = False) -> Snapshot:
        waiting = tuple(c for cid, c in self._calls.items() if cid not in self._offers)
        return Snapshot(waiting, tuple((self._ready if ready_only else self._nurses).values()))

    async def reserve(self, offer: Offer) -> bool:
        if offer.call_id not in self._calls or offer.call_id in self._offers:
            return False
        if offer.nurse_id not in self._nurses:
            return False
        try:
            self._apply(offer.nurse_id, Event.OFFER, offer.at, call_id=offer.call_id)
        except InvalidTransition:  # not ready any more, or the offer predates her current state
            return False
        self._offers[offer.call_id] = offer
        return True

    async def add_reserved(self, call: WaitingCall, offer: Offer) -> bool:
        if call.call_id != offer.call_id or call.call_id in self._calls or call.call_id in self._offers:
            return False
        if offer.nurse_id not in self._nurses:
            return False
        try:
            self._apply(offer.nurse_id, Event.OFFER, offer.at, call_id=offer.call_id)
        except InvalidTransition:  # not ready any more, or the offer predates her current state
            return False
        self._calls[call.call_id] = call
        self._offers[call.call_id] = offer
        return True

    async def get_offer(self, call_id: str) -> Offer | None:
        return self._offers.get(call_id)

    async def offers(self) -> list[Offer]:
        return list(self._offers.values())

    async def release(self, call_id: str, at: datetime, *, missed: bool) -> CallOutcome | None:
        offer = self._offers.get(call_id)
        if offer is None:
            return None
        self._settle(offer, Event.MISSED if missed else Event.CANCEL, at)
        del self._offers[call_id]
        call = released_history(self._calls[call_id], offer, missed)
        self._calls[call_id] = call
        return CallOutcome(call, offer)

    async def answered(self, call_id: str, at: datetime) -> CallOutcome | None:
        offer = self._offers.get(call_id)
        if offer is None:
            return None
        nurse = self._nurses.get(offer.nurse_id)
        if nurse is None or nurse.state is not State.OFFERED or nurse.call_id != call_id:
            raise InvalidTransition(f"{offer.nurse_id} is not offered {call_id}")
        self._apply(offer.nurse_id, Event.ANSWER, at)
        del self._offers[call_id]
        return CallOutcome(self._calls.pop(call_id), offer)
