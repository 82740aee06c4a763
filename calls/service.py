"""Writing and reading the call record. Events are only ever appended (the database refuses
UPDATE and DELETE on call_event, see the initial migration)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from .models import Call, CallEvent


def new_call_id() -> str:
    return uuid.uuid4().hex


def open_call(
    session: Session,
    *,
    channel_id: str,
    linkedid: str,
    at: datetime,
    dialled_number: str = "",
    caller_number: str = "",
    asterisk_id: str = "",
) -> Call:
    """The call of this channel; created (with a `call.started` event) if it is new.

    Idempotent so that a resync after reconnect, which sees the channel again, does not
    open a second record for the same contact.
    """
    existing = session.exec(select(Call).where(Call.channel_id == channel_id)).first()
    if existing is not None:
        return existing
    call = Call(
        id=new_call_id(),
        channel_id=channel_id,
        linkedid=linkedid or channel_id,
        asterisk_id=asterisk_id,
        dialled_number=dialled_number,
        caller_number=caller_number,
        started_at=at,
    )
    session.add(call)
    session.flush()
    append(session, call.id, "call.started", at, channel_id=channel_id,
           data={"dialled": dialled_number, "caller": caller_number})
    return call


def append(
    session: Session,
    call_id: str,
    kind: str,
    at: datetime,
    *,
    channel_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> CallEvent:
    ev = CallEvent(call_id=call_id, kind=kind, at=at, channel_id=channel_id, data=data or {})
    session.add(ev)
    session.flush()
    return ev


def mark_answered(session: Session, call_id: str, at: datetime) -> None:
    call = session.get(Call, call_id)
    if call is not None and call.answered_at is None:
        call.answered_at = at
        session.add(call)
        append(session, call_id, "call.answered", at, channel_id=call.channel_id)


def close_call(session: Session, call_id: str, at: datetime, reason: str, data: dict[str, Any] | None = None) -> bool:
    """End the call once; later calls (e.g. a second ChannelDestroyed after resync) are no-ops."""
    call = session.get(Call, call_id)
    if call is None or call.ended_at is not None:
        return False
    call.ended_at = at
    call.end_reason = reason
    session.add(call)
    append(session, call_id, "call.ended", at, channel_id=call.channel_id, data={"reason": reason, **(data or {})})
    return True


def call_by_channel(session: Session, channel_id: str) -> Call | None:
    return session.exec(select(Call).where(Call.channel_id == channel_id)).first()


def open_calls(session: Session) -> list[Call]:
    return list(session.exec(select(Call).where(col(Call.ended_at).is_(None))))


def events(session: Session, call_id: str) -> list[CallEvent]:
    return list(session.exec(select(CallEvent).where(CallEvent.call_id == call_id).order_by(col(CallEvent.id))))


def set_region(session: Session, call_id: str, region_id: str, at: datetime, how: str) -> None:
    """Record the region the call was resolved to, and how (dialled, caller, keyed, fallback)."""
    call = session.get(Call, call_id)
    if call is None:
        return
    call.region_id = region_id
    session.add(call)
    append(session, call_id, "ivr.region", at, channel_id=call.channel_id, data={"region": region_id, "how": how})
