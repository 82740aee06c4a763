"""send_sms and apply_status on both databases: the row is written before the provider is
called, failures leave a `failed` row, rate-limited sends are recorded, every outcome is an
event on the call record, status reports only move a row forward, and the migration reverses."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy
from sqlmodel import Session, select

from calls.service import events
from sms.models import SmsMessage
from sms.outbox import OutboxProvider, list_messages
from sms.provider import InvalidMessage, InvalidNumber, RateLimited, SentMessage, Unavailable
from sms.ratelimit import RateDecision, RedisSmsLimiter
from sms.service import apply_status, send_sms
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from .conftest import MOBILE, T0, make_call

LINK = "Hej! Chatta med en sjuksköterska: https://www.1177.se/stockholm/chatt"


def rows(database: Database) -> list[SmsMessage]:
    return database.run_sync(lambda s: list(s.exec(select(SmsMessage))))


def call_events(database: Database, call_id: str) -> list[tuple[str, dict[str, object]]]:
    return database.run_sync(lambda s: [(e.kind, e.data) for e in events(s, call_id) if e.kind.startswith("sms.")])


class FailingProvider:
    name = "twilio"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.seen_rows: list[SmsMessage] = []
        self.database: Database | None = None

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        if self.database is not None:
            self.seen_rows = rows(self.database)
        raise self.exc

    async def aclose(self) -> None:
        return None


async def test_outbox_send_stores_and_records_on_the_call(database: Database, limiter: RedisSmsLimiter) -> None:
    """An outbox SMS is a delivered row with the E.164 number, and `sms.sent` on the call names it."""
    call_id = make_call(database)
    message = await send_sms(database, OutboxProvider(), limiter, call_id=call_id, to="070-123 45 67", body=LINK, at=T0)
    assert message.status == "delivered" and message.to_number == MOBILE and message.provider == "outbox"
    assert message.provider_id == f"outbox-{message.id}"
    [row] = rows(database)
    assert (row.id, row.call_id, row.body, row.status) == (message.id, call_id, LINK, "delivered")
    assert call_events(database, call_id) == [("sms.sent", {
        "message_id": message.id, "to": MOBILE, "provider": "outbox", "provider_id": f"outbox-{message.id}",
        "status": "delivered"})]
    listed = database.run_sync(lambda s: list_messages(s, to=MOBILE))
    assert [m.id for m in listed] == [message.id]


async def test_send_without_call_writes_no_events(database: Database) -> None:
    """A message outside a call (call_id None, no limiter) is stored and sent all the same."""
    message = await send_sms(database, OutboxProvider(), None, call_id=None, to=MOBILE, body="Test", at=T0)
    assert rows(database)[0].id == message.id and message.call_id is None


async def test_invalid_number_and_text_are_refused_before_anything_is_stored(database: Database) -> None:
    """A landline or an empty text raises, stores no row, and leaves `sms.failed` with the reason on the call."""
    call_id = make_call(database)
    with pytest.raises(InvalidNumber):
        await send_sms(database, OutboxProvider(), None, call_id=call_id, to="08-123 456 78", body=LINK, at=T0)
    with pytest.raises(InvalidMessage):
        await send_sms(database, OutboxProvider(), None, call_id=call_id, to=MOBILE, body="  ", at=T0)
    with pytest.raises(InvalidMessage, match="too long"):
        await send_sms(database, OutboxProvider(), None, call_id=call_id, to=MOBILE, body="x" * 1601, at=T0)
    assert rows(database) == []
    reasons = [(kind, data["reason"]) for kind, data in call_events(database, call_id)]
    assert reasons == [("sms.failed", "invalid_number"), ("sms.failed", "invalid_message"),
                       ("sms.failed", "invalid_message")]


async def test_provider_failure_leaves_a_failed_row(database: Database) -> None:
    """The row exists (pending) while the provider works; its failure makes it `failed` with the error."""
    call_id = make_call(database)
    provider = FailingProvider(Unavailable("Twilio is unavailable (Twilio 503: down)", provider_code=None))
    provider.database = database
    with pytest.raises(Unavailable):
        await send_sms(database, provider, None, call_id=call_id, to=MOBILE, body=LINK, at=T0)
    assert [r.status for r in provider.seen_rows] == ["pending"]
    [row] = rows(database)
    assert row.status == "failed" and row.error_code == "unavailable" and "503" in (row.error or "")
    [(kind, data)] = call_events(database, call_id)
    assert kind == "sms.failed" and data["message_id"] == row.id and data["reason"] == "unavailable"


async def test_unexpected_provider_crash_is_recorded_as_unavailable(database: Database) -> None:
    """A bug in a provider (any exception) still ends in a failed row and an SmsError for the IVR."""
    provider = FailingProvider(KeyError("sid"))
    with pytest.raises(Unavailable, match="unexpectedly"):
        await send_sms(database, provider, None, call_id=None, to=MOBILE, body=LINK, at=T0)
    assert rows(database)[0].status == "failed"


async def test_rate_limited_send_is_a_failed_row_and_event(database: Database, limiter: RedisSmsLimiter) -> None:
    """The fourth SMS to a number within the hour is refused, stored as failed (rate_limited) and on the call."""
    call_id = make_call(database)
    for _ in range(3):
        await send_sms(database, OutboxProvider(), limiter, call_id=call_id, to=MOBILE, body=LINK, at=T0)
    with pytest.raises(RateLimited) as info:
        await send_sms(database, OutboxProvider(), limiter, call_id=call_id, to="0701234567", body=LINK, at=T0)
    assert info.value.retry_after == 3600
    statuses = sorted(r.status for r in rows(database))
    assert statuses == ["delivered", "delivered", "delivered", "failed"]
    assert call_events(database, call_id)[-1][1]["reason"] == "rate_limited"


class SlowProvider:
    name = "outbox"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        self.started.set()
        await self.release.wait()
        return SentMessage(provider_id="SMslow", status="queued")

    async def aclose(self) -> None:
        return None


async def test_caller_hanging_up_does_not_lose_a_started_send(database: Database) -> None:
    """Cancelling the IVR task mid-send: the send completes and the row and `sms.sent` are written."""
    call_id = make_call(database)
    provider = SlowProvider()
    task = asyncio.create_task(send_sms(database, provider, None, call_id=call_id, to=MOBILE, body=LINK, at=T0))
    await provider.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    provider.release.set()
    for _ in range(200):
        if rows(database)[0].status == "queued":
            break
        await asyncio.sleep(0.01)
    assert rows(database)[0].provider_id == "SMslow"
    assert [k for k, _ in call_events(database, call_id)] == ["sms.sent"]


class FixedProvider:
    name = "twilio"

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        return SentMessage(provider_id="SM1", status="queued")

    async def aclose(self) -> None:
        return None


async def test_status_reports_move_forward_only(database: Database) -> None:
    """sent → delivered applies; a late `sent` after `delivered` is recorded on the call but not applied."""
    call_id = make_call(database)
    message = await send_sms(database, FixedProvider(), None, call_id=call_id, to=MOBILE, body=LINK, at=T0)

    def report(status: str, **kw: str) -> tuple[str, bool] | None:
        def work(s: Session) -> tuple[str, bool] | None:
            update = apply_status(s, provider_id="SM1", status=status, at=T0, **kw)
            return None if update is None else (update.message.status, update.applied)
        return database.run_sync(work)

    assert report("sent") == ("sent", True)
    assert report("delivered") == ("delivered", True)
    assert report("sent") == ("delivered", False)
    assert report("undelivered", error_code="30003") == ("delivered", False)
    assert database.run_sync(lambda s: apply_status(s, provider_id="SMother", status="sent", at=T0)) is None
    statuses = [(d["status"], d["applied"]) for k, d in call_events(database, call_id) if k == "sms.status"]
    assert statuses == [("sent", True), ("delivered", True), ("sent", False), ("undelivered", False)]
    assert rows(database)[0].id == message.id


async def test_status_before_the_api_answer_finds_the_row_by_reference(database: Database) -> None:
    """A callback that overtakes the API's answer (no provider id stored yet) finds the row by `ref`."""
    call_id = make_call(database)

    class Overtaken:
        name = "twilio"

        async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
            update = database.run_sync(lambda s: apply_status(s, provider_id="SMfast", status="sent", at=T0,
                                                              reference=reference))
            assert update is not None and update.applied
            return SentMessage(provider_id="SMfast", status="queued")

        async def aclose(self) -> None:
            return None

    message = await send_sms(database, Overtaken(), None, call_id=call_id, to=MOBILE, body=LINK, at=T0)
    assert message.status == "sent" and message.provider_id == "SMfast", "the API's older `queued` did not win"


def test_migration_0002_downgrades_and_upgrades(db_url: str) -> None:
    """0002 is reversible on SQLite and PostgreSQL: down to 0001 drops sms_message, up brings it back."""
    from alembic import command

    from vardlinje.migrate import alembic_config

    command.downgrade(alembic_config(db_url), "0001")
    engine = sqlalchemy.create_engine(db_url)
    try:
        assert "sms_message" not in sqlalchemy.inspect(engine).get_table_names()
        upgrade(db_url)
        assert "sms_message" in sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()


class BrokenLimiter:
    async def acquire(self, number: str, now: float) -> RateDecision:
        raise ConnectionError("Redis is down")


async def test_rate_limit_outage_fails_open_and_logs(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    """With Redis unreachable the caller still gets the link, and the outage is logged as an error."""
    message = await send_sms(database, OutboxProvider(), BrokenLimiter(), call_id=None, to=MOBILE, body=LINK, at=T0)
    assert message.status == "delivered"
    assert any(r.levelname == "ERROR" and "rate limit unavailable" in r.getMessage() for r in caplog.records)


async def test_try_send_for_the_ivr(database: Database, limiter: RedisSmsLimiter) -> None:
    """The IVR's adapter: True when sent; False (not an exception) for a refused number, recorded on the call."""
    from sms.config import SmsSettings
    from sms.runtime import SmsContext

    call_id = make_call(database)
    ctx = SmsContext(OutboxProvider(), limiter, SmsSettings(), "https://x/webhooks/twilio/sms-status", clock=lambda: T0)
    assert await ctx.try_send(database, call_id=call_id, to="0701234567", body=LINK)
    assert not await ctx.try_send(database, call_id=call_id, to="0812345678", body=LINK)
    assert [k for k, _ in call_events(database, call_id)] == ["sms.sent", "sms.failed"]
