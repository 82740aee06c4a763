"""The desktop API's request bodies and the Swedish words the desktop shows for states and reasons."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.presence import Event, PauseReason, State

#: The events a nurse (or a supervisor for her) may send; the others are routing's own.
NURSE_EVENTS: tuple[Event, ...] = (Event.LOGIN, Event.READY, Event.PAUSE, Event.LOGOUT)
SUPERVISOR_EVENTS: tuple[Event, ...] = (Event.READY, Event.PAUSE, Event.LOGOUT)
#: Pause reasons a person chooses; `missed_offer` is set by routing only.
CHOSEN_REASONS: tuple[PauseReason, ...] = (PauseReason.BREAK, PauseReason.MEETING, PauseReason.TRAINING,
                                           PauseReason.ADMINISTRATION)

STATE_SV: dict[State, str] = {
    State.LOGGED_OUT: "utloggad",
    State.READY: "redo",
    State.OFFERED: "erbjuden ett samtal",
    State.ON_CALL: "i samtal",
    State.WRAP_UP: "efterarbete",
    State.PAUSED: "paus",
}
REASON_SV: dict[PauseReason, str] = {
    PauseReason.BREAK: "rast",
    PauseReason.MEETING: "möte",
    PauseReason.TRAINING: "utbildning",
    PauseReason.ADMINISTRATION: "administration",
    PauseReason.MISSED_OFFER: "missat samtal",
}
EVENT_SV: dict[Event, str] = {
    Event.LOGIN: "logga in",
    Event.READY: "bli redo",
    Event.PAUSE: "pausa",
    Event.LOGOUT: "logga ut",
    Event.OFFER: "erbjudas ett samtal",
    Event.ANSWER: "svara",
    Event.MISSED: "missa ett samtal",
    Event.CANCEL: "avbryta erbjudandet",
    Event.HANGUP: "lägga på",
    Event.WRAP_DONE: "avsluta efterarbetet",
}


class PresenceRequest(BaseModel):
    """`POST /api/v1/desktop/presence`: the nurse's own presence event."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event: Literal["login", "ready", "pause", "logout"] = Field(description="what she does")
    reason: Literal["break", "meeting", "training", "administration"] | None = Field(
        None, description="why she pauses (required with pause, not allowed otherwise)")


class SupervisorPresenceRequest(BaseModel):
    """`POST /api/v1/supervisor/nurses/{endpoint}/presence`: a supervisor changes a nurse's state."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event: Literal["ready", "pause", "logout"] = Field(description="what the supervisor does for her")
    reason: Literal["break", "meeting", "training", "administration"] | None = Field(
        None, description="why she is paused (required with pause, not allowed otherwise)")
