"""The nurse's presence state machine: pure, no I/O, time passed in.

Every presence change goes through `transition`. Routing's reservation is the `offer` event
(ready → offered), applied atomically inside the store's compare-and-reserve; wrap-up, pauses
and the desktop's liveness use the other events.

    logged_out --login--> paused(administration) --ready--> ready --offer--> offered
    offered --answer--> on_call --hangup--> wrap_up --wrap_done/ready--> ready
    offered --missed--> paused(missed_offer)      offered --cancel--> ready
    ready/wrap_up/paused --pause(reason)--> paused      (not offered/on_call) --logout--> logged_out
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum


class State(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    OFFERED = "offered"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class PauseReason(StrEnum):
    BREAK = "break"
    MEETING = "meeting"
    TRAINING = "training"
    ADMINISTRATION = "administration"
    MISSED_OFFER = "missed_offer"


class Event(StrEnum):
    LOGIN = "login"
    READY = "ready"
    PAUSE = "pause"
    OFFER = "offer"
    ANSWER = "answer"
    MISSED = "missed"
    CANCEL = "cancel"
    HANGUP = "hangup"
    WRAP_DONE = "wrap_done"
    LOGOUT = "logout"


class InvalidTransition(ValueError):
    """The event is not allowed in the current state; the message says which and why."""


@dataclass(frozen=True)
class Presence:
    state: State
    since: datetime
    reason: PauseReason | None = None
    call_id: str | None = None  # the call offered to or answered by the nurse


# (state the nurse is in, event) → state she moves to
_NEXT: dict[tuple[State, Event], State] = {
    (State.LOGGED_OUT, Event.LOGIN): State.PAUSED,
    (State.PAUSED, Event.READY): State.READY,
    (State.WRAP_UP, Event.READY): State.READY,
    (State.READY, Event.PAUSE): State.PAUSED,
    (State.WRAP_UP, Event.PAUSE): State.PAUSED,
    (State.PAUSED, Event.PAUSE): State.PAUSED,
    (State.READY, Event.OFFER): State.OFFERED,
    (State.OFFERED, Event.ANSWER): State.ON_CALL,
    (State.OFFERED, Event.MISSED): State.PAUSED,
    (State.OFFERED, Event.CANCEL): State.READY,
    (State.ON_CALL, Event.HANGUP): State.WRAP_UP,
    (State.WRAP_UP, Event.WRAP_DONE): State.READY,
    (State.READY, Event.LOGOUT): State.LOGGED_OUT,
    (State.PAUSED, Event.LOGOUT): State.LOGGED_OUT,
    (State.WRAP_UP, Event.LOGOUT): State.LOGGED_OUT,
}


def allowed(state: State) -> list[Event]:
    return [event for (s, event) in _NEXT if s == state]


def transition(
    current: Presence,
    event: Event,
    at: datetime,
    *,
    reason: PauseReason | None = None,
    call_id: str | None = None,
) -> Presence:
    """The presence after `event` at time `at`; InvalidTransition if the event does not apply."""
    target = _NEXT.get((current.state, event))
    if target is None:
        raise InvalidTransition(
            f"{event.value} is not possible while {current.state.value} "
            f"(possible: {', '.join(e.value for e in allowed(current.state)) or 'nothing'})"
        )
    # In UTC: two Europe/Stockholm times share one tzinfo and Python then compares their wall
    # clocks, which is wrong in the hour the clocks go back.
    if at.astimezone(UTC) < current.since.astimezone(UTC):
        raise InvalidTransition(f"{event.value} at {at.isoformat()} is before the current state began")
    if event is Event.PAUSE and reason is None:
        raise InvalidTransition("a pause needs a reason")
    if event is Event.OFFER and not call_id:
        raise InvalidTransition("an offer needs the call it offers")
    if event is Event.LOGIN:
        reason = PauseReason.ADMINISTRATION
    elif event is Event.MISSED:
        reason = PauseReason.MISSED_OFFER
    elif target is not State.PAUSED:
        reason = None
    keeps_call = target in (State.OFFERED, State.ON_CALL, State.WRAP_UP)
    return replace(
        current,
        state=target,
        since=at,
        reason=reason,
        call_id=(call_id or current.call_id) if keeps_call else None,
    )


def logged_out(at: datetime) -> Presence:
    return Presence(State.LOGGED_OUT, at)
