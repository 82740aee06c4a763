"""Sending an SMS and following its status: number check, rate limit, the `sms_message` row and
the call record.

Nothing is lost: the row is written before the provider is called, a provider failure leaves a
`failed` row with the error, and a caller hanging up (the IVR task being cancelled) does not
interrupt a send that has started — it completes and is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from calls.service import append
from vardlinje.db import Database

from .models import SmsMessage
from .numbers import DEFAULT_REGION, normalise_mobile
from .provider import InvalidMessage, RateLimited, SmsError, SmsProvider, Unavailable
from .ratelimit import RateDecision, SmsLimiter
from .status import FAILED, PENDING, advances

log = logging.getLogger(__name__)

# Twilio's limit for one message (it is split into segments on the way).
MAX_BODY = 1600

# Sends that outlive a cancelled caller; referenced here so they are not garbage-collected.
_IN_FLIGHT: set[asyncio.Task[SmsMessage]] = set()


def _check_body(body: str) -> None:
    if not body.strip():
        raise InvalidMessage("SMS-texten är tom / the message text is empty")
    if len(body) > MAX_BODY:
        raise InvalidMessage(f"SMS-texten är för lång ({len(body)} tecken, högst {MAX_BODY}) / "
                             f"the message text is too long ({len(body)} characters, at most {MAX_BODY})")


def _failure(exc: SmsError, **data: Any) -> dict[str, Any]:
    return {**data, "reason": exc.code, "error": str(exc), "error_code": exc.error_code}


async def send_sms(
    db: Database,
    provider: SmsProvider,
    limiter: SmsLimiter | None,
    *,
    call_id: str | None,
    to: str,
    body: str,
    at: datetime,
    region: str = DEFAULT_REGION,
    allowed_regions: Collection[str] = (DEFAULT_REGION,),
) -> SmsMessage:
    """Send `body` to `to` and return the stored message (status as the provider answered).

    Raises InvalidNumber / InvalidMessage (nothing stored; `sms.failed` on the call), RateLimited
    (a `failed` row), or the provider's SmsError (a `failed` row). `limiter` None: no limit.
    """
    try:
        number = normalise_mobile(to, region=region, allowed_regions=allowed_regions)
        _check_body(body)
    except SmsError as exc:
        if call_id is not None:
            data = _failure(exc, to=to)
            await db.run(lambda s: append(s, call_id, "sms.failed", at, data=data))
        raise

    message = SmsMessage(id=uuid.uuid4().hex, call_id=call_id, to_number=number, body=body, provider=provider.name,
                         status=PENDING, created_at=at, updated_at=at)
    decision = await _acquire(limiter, number, at)
    if decision is not None:
        wait = decision.retry_after(at.timestamp())
        limited = RateLimited(f"{number} har redan fått {decision.count} SMS nyligen; nästa tidigast om {wait} s / "
                              f"{number} has had {decision.count} messages recently; next allowed in {wait} s",
                              retry_after=wait)
        await db.run(lambda s: _store_failed(s, message, limited, at))
        raise limited

    await db.run(lambda s: _store(s, message))
    task = asyncio.ensure_future(_transmit(db, provider, message, at))
    _IN_FLIGHT.add(task)
    task.add_done_callback(_finished)
    # Shielded: if the caller hangs up mid-send, the send and its record still complete.
    return await asyncio.shield(task)


async def _acquire(limiter: SmsLimiter | None, number: str, at: datetime) -> RateDecision | None:
    """The refusing decision, or None when the message may go."""
    if limiter is None:
        return None
    try:
        decision = await limiter.acquire(number, at.timestamp())
    except Exception:
        # Fail open: the caller on the line gets their link; a Redis outage is logged loudly
        # and abuse during it is bounded by the provider's own limits.
        log.exception("SMS rate limit unavailable; sending to %s without it", number)
        return None
    return None if decision.allowed else decision


def _finished(task: asyncio.Task[SmsMessage]) -> None:
    _IN_FLIGHT.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # Retrieved here so a send whose caller went away does not warn "never retrieved";
        # the failure itself is already on the row and the call record.
        log.info("SMS send ended with %s", task.exception())


def _store(s: Session, message: SmsMessage) -> None:
    s.add(message)
    s.flush()


def _store_failed(s: Session, message: SmsMessage, exc: SmsError, at: datetime) -> None:
    message.status = FAILED
    message.error = str(exc)
    message.error_code = exc.error_code
    message.updated_at = at
    s.add(message)
    s.flush()
    if message.call_id is not None:
        append(s, message.call_id, "sms.failed", at,
               data=_failure(exc, message_id=message.id, to=message.to_number, provider=message.provider))


async def _transmit(db: Database, provider: SmsProvider, message: SmsMessage, at: datetime) -> SmsMessage:
    try:
        sent = await provider.send(message.to_number, message.body, reference=message.id)
    except SmsError as exc:
        failure = exc
        await db.run(lambda s: _mark_failed(s, message.id, failure, at))
        raise
    except Exception as exc:
        log.exception("SMS provider %s failed unexpectedly", provider.name)
        error = Unavailable(f"SMS-tjänsten {provider.name} fick ett oväntat fel / provider {provider.name} "
                            f"failed unexpectedly: {exc!r}")
        await db.run(lambda s: _mark_failed(s, message.id, error, at))
        raise error from exc

    def record(s: Session) -> SmsMessage:
        row = s.get(SmsMessage, message.id)
        assert row is not None
        row.provider_id = sent.provider_id
        # A status callback may already have moved the row on (it finds it by our reference).
        if advances(row.status, sent.status):
            row.status = sent.status
        row.updated_at = at
        s.add(row)
        if row.call_id is not None:
            append(s, row.call_id, "sms.sent", at, data={
                "message_id": row.id, "to": row.to_number, "provider": row.provider,
                "provider_id": sent.provider_id, "status": sent.status})
        return row

    return await db.run(record)


def _mark_failed(s: Session, message_id: str, exc: SmsError, at: datetime) -> None:
    row = s.get(SmsMessage, message_id)
    assert row is not None
    _store_failed(s, row, exc, at)


@dataclass(frozen=True)
class StatusUpdate:
    message: SmsMessage
    previous: str
    applied: bool  # False: an older status arriving late; recorded on the call, row unchanged


def apply_status(s: Session, *, provider_id: str, status: str, at: datetime, reference: str | None = None,
                 error_code: str | None = None, error: str | None = None) -> StatusUpdate | None:
    """A provider's status report for one message; None when the message is not ours."""
    row = s.get(SmsMessage, reference) if reference else None
    if row is not None and row.provider_id not in (None, provider_id):
        row = None  # the reference and the provider's id disagree: trust the provider's id
    if row is None:
        row = s.exec(select(SmsMessage).where(SmsMessage.provider_id == provider_id)).first()
    if row is None:
        return None
    previous = row.status
    applied = advances(previous, status)
    if row.provider_id is None:
        row.provider_id = provider_id
    if applied:
        row.status = status
        row.updated_at = at
        if error_code:
            row.error_code = error_code
            row.error = error or row.error
    s.add(row)
    if row.call_id is not None:
        append(s, row.call_id, "sms.status", at, data={
            "message_id": row.id, "provider_id": provider_id, "status": status, "previous": previous,
            "applied": applied, "error_code": error_code})
    s.flush()
    return StatusUpdate(message=row, previous=previous, applied=applied)
