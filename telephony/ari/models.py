"""Typed models of the ARI resources and events Vårdlinje uses.

Asterisk sends many more event types and fields than we model; unknown fields are kept
(extra="allow") and unknown event types parse as the generic `Event`, so a new Asterisk
version never breaks event handling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class AriModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CallerId(AriModel):
    name: str = ""
    number: str = ""


class DialplanCep(AriModel):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""


class Channel(AriModel):
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = Field(default_factory=CallerId)
    connected: CallerId = Field(default_factory=CallerId)
    dialplan: DialplanCep = Field(default_factory=DialplanCep)
    creationtime: datetime | None = None
    language: str = ""
    protocol_id: str = ""
    channelvars: dict[str, Any] | None = None


class Bridge(AriModel):
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    name: str = ""
    channels: list[str] = Field(default_factory=list)


class Playback(AriModel):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


class AsteriskInfo(AriModel):
    class System(AriModel):
        version: str = ""
        entity_id: str = ""

    system: System = Field(default_factory=System)


class Event(AriModel):
    """Any ARI event; the subclasses below add typed fields for the ones we act on."""

    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str | None = None

    def channel_id(self) -> str | None:
        """The channel this event is about, for ordering per channel; None for global events."""
        channel = getattr(self, "channel", None)
        if isinstance(channel, Channel):
            return channel.id
        if isinstance(channel, dict) and isinstance(channel.get("id"), str):
            return str(channel["id"])  # an event type we do not model
        playback = getattr(self, "playback", None)
        if isinstance(playback, Playback) and playback.target_uri.startswith("channel:"):
            return playback.target_uri.removeprefix("channel:")
        return None


class StasisStart(Event):
    channel: Channel
    args: list[str] = Field(default_factory=list)
    replace_channel: Channel | None = None


class StasisEnd(Event):
    channel: Channel


class ChannelStateChange(Event):
    channel: Channel


class ChannelDestroyed(Event):
    channel: Channel
    cause: int = 0
    cause_txt: str = ""


class ChannelHangupRequest(Event):
    channel: Channel
    cause: int = 0
    soft: bool = False


class ChannelDtmfReceived(Event):
    channel: Channel
    digit: str
    duration_ms: int = 0


class PlaybackStarted(Event):
    playback: Playback


class PlaybackFinished(Event):
    playback: Playback


class ApplicationReplaced(Event):
    pass


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelStateChange,
        ChannelDestroyed,
        ChannelHangupRequest,
        ChannelDtmfReceived,
        PlaybackStarted,
        PlaybackFinished,
        ApplicationReplaced,
    )
}


class BadEvent(ValueError):
    """An event message that is not JSON or lacks the fields of its type."""


def parse_event(raw: dict[str, Any]) -> Event:
    """Parse one event message; raise BadEvent (with the event type) when it does not fit its model."""
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise BadEvent(f"ARI event without a type: {str(raw)[:200]}")
    model = EVENT_TYPES.get(kind, Event)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadEvent(f"ARI event {kind} does not fit its model: {exc.errors()[:3]}") from exc
