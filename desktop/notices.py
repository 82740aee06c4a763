"""Notices for one nurse's open desktops, from whichever instance has the news (docs/desktop.md, "The desktop
WebSocket"): a caller's photo was kept on instance A while her desktop socket is on instance B.

The instance with the news publishes it on a Redis channel; every instance forwards what it hears to the
desktop sockets it holds for that nurse. Delivery is at most once — a desktop not connected at that moment,
or a Redis outage, misses it — so a notice only ever says "look again": the list behind it (for a photo,
`GET /api/v1/calls/{id}/images`) is the truth the desktop reloads, also when its socket reconnects and when
this instance subscribes again after losing Redis (`{"type": "notices_resumed"}`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vardlinje.pubsub import Follower

log = logging.getLogger("vardlinje.desktop.notices")

CHANNEL = "vardlinje:desktop:notices"
MAX_BYTES = 16 * 1024  # a notice names things; the desktop fetches the rest

Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]


class Notice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    nurse: str = Field(min_length=1, max_length=64, description="the nurse's endpoint name")
    message: dict[str, Any]


def encode(nurse: str, message: dict[str, Any]) -> str:
    if not isinstance(message.get("type"), str):
        raise ValueError("a desktop notice needs a string 'type'")
    return json.dumps({"nurse": nurse, "message": message}, separators=(",", ":"))


def decode(raw: bytes | str) -> Notice | None:
    """The notice, or None for anything else on the channel (logged by the caller, never raised)."""
    if len(raw) > MAX_BYTES:
        return None
    try:
        notice = Notice.model_validate_json(raw)
    except ValidationError:
        return None
    return notice if isinstance(notice.message.get("type"), str) else None


async def publish(redis: Redis, nurse: str, message: dict[str, Any]) -> bool:
    """Publish; False when Redis could not take it (the caller may deliver on this instance instead)."""
    try:
        await redis.publish(CHANNEL, encode(nurse, message))
    except (RedisError, OSError) as exc:
        log.warning("nurse=%s notice %s not published: %s", nurse, message.get("type"), exc)
        return False
    return True


def relay(redis: Redis, deliver: Deliver, resumed: Callable[[], Awaitable[object]] | None = None) -> Follower:
    """Hands each notice on the channel to `deliver` (the hub's) while it runs; anything else is logged.
    `resumed` runs after every (re)subscribe: notices published while this instance was not listening are
    lost, so the desktops it holds are told to look again."""

    async def on_message(raw: str) -> None:
        notice = decode(raw)
        if notice is None:
            log.warning("desktop notices: not a notice on %s, ignored", CHANNEL)
            return
        await deliver(notice.nurse, notice.message)

    # No periodic refresh: only a (re)subscribe can have missed something.
    return Follower(redis, CHANNEL, on_message, refresh=resumed, poll_seconds=float("inf"), name="desktop notices")
