"""The pure presence state machine: every allowed transition, the refused ones, and its rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.presence import Event, InvalidTransition, PauseReason, Presence, State, logged_out, transition

T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LATER = T + timedelta(minutes=5)

# (from, event) → to: the whole table, written out so a change to the machine is a visible change here.
ALLOWED = {
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


def _in(state: State) -> Presence:
    reason = PauseReason.BREAK if state is State.PAUSED else None
    call = "c1" if state in (State.OFFERED, State.ON_CALL, State.WRAP_UP) else None
    return Presence(state, T, reason, call)


@pytest.mark.parametrize(("start", "event"), sorted(ALLOWED))
def test_every_allowed_transition(start: State, event: Event) -> None:
    """Each allowed (state, event) pair moves to its target state at the event's time."""
    after = transition(_in(start), event, LATER, reason=PauseReason.MEETING, call_id="c1")
    assert after.state is ALLOWED[(start, event)]
    assert after.since == LATER


def test_every_other_pair_is_refused_with_the_possible_events() -> None:
    """Every pair not in the table raises InvalidTransition naming the state and what is possible."""
    refused = [(s, e) for s in State for e in Event if (s, e) not in ALLOWED]
    assert len(refused) == len(State) * len(Event) - len(ALLOWED)
    for state, event in refused:
        with pytest.raises(InvalidTransition, match=f"{event.value} is not possible while {state.value}"):
            transition(_in(state), event, LATER, reason=PauseReason.BREAK, call_id="c1")


@pytest.mark.parametrize(("state", "event"), [(State.ON_CALL, Event.LOGOUT), (State.OFFERED, Event.PAUSE),
                                              (State.LOGGED_OUT, Event.READY), (State.READY, Event.ANSWER)])
def test_sample_of_refused_transitions(state: State, event: Event) -> None:
    """A nurse on a call cannot log out, an offered one cannot pause, a logged-out one cannot be ready."""
    with pytest.raises(InvalidTransition):
        transition(_in(state), event, LATER, reason=PauseReason.BREAK, call_id="c1")


def test_time_going_backwards_is_refused() -> None:
    """An event stamped before the current state began is refused; the same instant is allowed."""
    with pytest.raises(InvalidTransition, match="before the current state began"):
        transition(_in(State.READY), Event.PAUSE, T - timedelta(seconds=1), reason=PauseReason.BREAK)
    assert transition(_in(State.READY), Event.PAUSE, T, reason=PauseReason.BREAK).since == T


def test_pause_needs_a_reason_and_keeps_it() -> None:
    """pause without a reason is refused; with one, the reason is the new presence's."""
    with pytest.raises(InvalidTransition, match="needs a reason"):
        transition(_in(State.READY), Event.PAUSE, LATER)
    after = transition(_in(State.READY), Event.PAUSE, LATER, reason=PauseReason.TRAINING)
    assert after == Presence(State.PAUSED, LATER, PauseReason.TRAINING, None)


def test_login_pauses_for_administration_and_missed_offer_pauses() -> None:
    """login → paused(administration); a missed offer → paused(missed_offer), the call let go."""
    assert transition(logged_out(T), Event.LOGIN, LATER) == Presence(State.PAUSED, LATER, PauseReason.ADMINISTRATION)
    missed = transition(_in(State.OFFERED), Event.MISSED, LATER)
    assert missed == Presence(State.PAUSED, LATER, PauseReason.MISSED_OFFER, None)


def test_the_call_follows_offer_answer_hangup_and_is_dropped_when_ready() -> None:
    """offer needs a call; the call id stays through on_call and wrap_up, and ready clears it."""
    with pytest.raises(InvalidTransition, match="needs the call"):
        transition(_in(State.READY), Event.OFFER, LATER)
    p = transition(_in(State.READY), Event.OFFER, LATER, call_id="c9")
    p = transition(p, Event.ANSWER, LATER)
    p = transition(p, Event.HANGUP, LATER)
    assert (p.state, p.call_id, p.reason) == (State.WRAP_UP, "c9", None)
    assert transition(p, Event.WRAP_DONE, LATER).call_id is None
