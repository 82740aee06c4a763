"""The routing store: the live state the policy decides on, behind one small interface with two
adapters (`routing.memory` for the simulator and tests, `routing.redis_store` for the running system).

One step must be atomic across app instances: `reserve` — compare-and-reserve. It succeeds only if the
nurse is still READY (since no later than the offer) and the call is still waiting (not offered);
then, in the same step, the nurse becomes OFFERED with the call (the presence state machine's
ready → offered) and the call is marked offered. Every other presence change goes through
`transition`, which applies `agents.presence.transition` atomically too; the events that also touch
a call (offer, answer, missed, cancel) only happen through `reserve`, `answered`, `release` and
`remove_call`, so a nurse and her call can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from agents.presence import Event, PauseReason, Presence

from .model import NurseState, Offer, Snapshot, WaitingCall

#: Events a caller of `transition` may apply; the rest belong to the reservation and its outcome.
NURSE_ONLY_EVENTS = frozenset({Event.LOGIN, Event.READY, Event.PAUSE, Event.HANGUP, Event.WRAP_DONE, Event.LOGOUT})


class UnknownNurse(KeyError):
    """The store has no nurse with that id."""


@dataclass(frozen=True)
class CallOutcome:
    """What `release`, `answered` or `remove_call` did: the call (as it is now) and its offer, if any."""

    call: WaitingCall
    offer: Offer | None


class RoutingStore(Protocol):
    async def add_call(self, call: WaitingCall) -> bool:
        """Queue a call; False (and no change) if a call with that id is already there."""
        ...

    async def get_call(self, call_id: str) -> WaitingCall | None: ...

    async def remove_call(self, call_id: str, at: datetime) -> CallOutcome | None:
        """The caller left (or the call was routed elsewhere): drop it; a nurse it was offered to gets
        `cancel` (back to ready). None if the call is unknown."""
        ...

    async def upsert_nurse(self, nurse: NurseState) -> None:
        """Write a nurse's profile and presence as given (registration, login sync, restore). Changes
        while she works go through `transition`, which cannot overwrite an offer."""
        ...

    async def remove_nurse(self, nurse_id: str) -> None: ...

    async def restore(self, nurse: NurseState, expected: NurseState | None) -> bool:
        """Write `nurse` (profile and presence) only if her presence in the store is still `expected`'s
        (state, since, call) — or she is absent, for `expected` None. The registry's presence replaces
        the store's without overwriting a change (an offer) made since it was read."""
        ...

    async def reindex(self) -> int:
        """Rebuild the ready index from the nurses (at start); the number of ready nurses."""
        ...

    async def update_profile(self, nurse: NurseState) -> bool:
        """Write only her profile (home region, regions, skills); her presence stays. False if absent."""
        ...

    async def get_nurse(self, nurse_id: str) -> NurseState | None: ...

    async def transition(
        self, nurse_id: str, event: Event, at: datetime, *, reason: PauseReason | None = None
    ) -> NurseState:
        """Apply a presence event (one of `NURSE_ONLY_EVENTS`) atomically; raises `UnknownNurse` or
        `agents.presence.InvalidTransition`."""
        ...

    async def any_ready(self) -> bool:
        """Is any nurse ready? (Cheap: when nobody is free there is nothing to decide.)"""
        ...

    async def snapshot(self, *, ready_only: bool = False) -> Snapshot:
        """The calls still waiting (not offered) and all nurses (`ready_only`: the ready ones, all a
        decision needs)."""
        ...

    async def reserve(self, offer: Offer) -> bool:
        """Compare-and-reserve (see the module docstring)."""
        ...

    async def add_reserved(self, call: WaitingCall, offer: Offer) -> bool:
        """Queue `call` already reserved for `offer.nurse_id` (a transfer to a named nurse), in one atomic
        step with `reserve`'s comparison: only if the nurse is still READY (since no later than the offer)
        and no call with that id is queued. Then the call is queued and offered, and she is offered it. The
        call is never visible as waiting in between, so no other decision can take it; a failed reservation
        changes nothing."""
        ...

    async def get_offer(self, call_id: str) -> Offer | None: ...

    async def offers(self) -> list[Offer]:
        """Every reserved offer (after a restart: the calls whose nurse's phone may be ringing)."""
        ...

    async def release(self, call_id: str, at: datetime, *, missed: bool) -> CallOutcome | None:
        """The offer ended without an answer: the call waits again with its original `entered_at` (it
        keeps its place) and the offer in its history; the nurse gets `missed` (paused, reason missed
        offer) or `cancel` (ready). None if the call has no offer."""
        ...

    async def answered(self, call_id: str, at: datetime) -> CallOutcome | None:
        """The nurse answered: she is on the call and the call leaves routing's queue. None if the call
        has no offer."""
        ...


# --- helpers shared by the adapters ------------------------------------------------------------


def presence_of(nurse: NurseState) -> Presence:
    return Presence(nurse.state, nurse.since, nurse.reason, nurse.call_id)


def with_presence(nurse: NurseState, presence: Presence) -> NurseState:
    return replace(nurse, state=presence.state, since=presence.since, reason=presence.reason,
                   call_id=presence.call_id)


def released_history(call: WaitingCall, offer: Offer, missed: bool) -> WaitingCall:
    entry = f"{'missed' if missed else 'cancelled'}:{offer.nurse_id}:{offer.step.value}"
    return replace(call, history=(*call.history, entry))


def check_nurse_only(event: Event) -> None:
    if event not in NURSE_ONLY_EVENTS:
        raise ValueError(f"{event.value} belongs to an offer: use reserve, answered, release or remove_call")


def same_presence(a: NurseState, b: NurseState) -> bool:
    return (a.state, a.since, a.call_id) == (b.state, b.since, b.call_id)
