"""The call record: one row per contact, an append-only event log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from calls import service
from calls.models import CallEvent
from vardlinje.db import Database

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


def test_call_lifecycle_is_recorded_in_order(database: Database) -> None:
    """Opening, answering and closing a call leaves the events in order with their times."""

    def work(s):  # type: ignore[no-untyped-def]
        call = service.open_call(s, channel_id="ch-1", linkedid="ch-1", at=T0, dialled_number="1177",
                                 caller_number="+46701234567")
        service.mark_answered(s, call.id, T0 + timedelta(seconds=1))
        service.append(s, call.id, "prompt.finished", T0 + timedelta(seconds=4), channel_id="ch-1",
                       data={"prompt": "greeting"})
        assert service.close_call(s, call.id, T0 + timedelta(seconds=5), "caller_hangup")
        return call.id

    call_id = database.run_sync(work)
    kinds = database.run_sync(lambda s: [e.kind for e in service.events(s, call_id)])
    assert kinds == ["call.started", "call.answered", "prompt.finished", "call.ended"]
    call = database.run_sync(lambda s: service.call_by_channel(s, "ch-1"))
    assert call is not None and call.end_reason == "caller_hangup"
    assert call.answered_at is not None and call.answered_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=1)


def test_open_call_is_idempotent_per_channel(database: Database) -> None:
    """A resync that sees the same channel again must not open a second contact."""
    a = database.run_sync(lambda s: service.open_call(s, channel_id="ch-2", linkedid="ch-2", at=T0).id)
    b = database.run_sync(lambda s: service.open_call(s, channel_id="ch-2", linkedid="ch-2", at=T0).id)
    assert a == b
    assert database.run_sync(lambda s: len(service.events(s, a))) == 1


def test_close_call_happens_once(database: Database) -> None:
    """A second end (e.g. ChannelDestroyed replayed after reconnect) changes nothing."""
    cid = database.run_sync(lambda s: service.open_call(s, channel_id="ch-3", linkedid="ch-3", at=T0).id)
    assert database.run_sync(lambda s: service.close_call(s, cid, T0, "caller_hangup"))
    assert not database.run_sync(lambda s: service.close_call(s, cid, T0, "other"))
    assert database.run_sync(lambda s: service.call_by_channel(s, "ch-3")).end_reason == "caller_hangup"  # type: ignore[union-attr]


@pytest.mark.parametrize("statement", ["UPDATE call_event SET kind = 'forged'", "DELETE FROM call_event"])
def test_call_events_are_append_only_in_the_database(database: Database, statement: str) -> None:
    """The database itself refuses to change or delete logged events."""
    database.run_sync(lambda s: service.open_call(s, channel_id="ch-4", linkedid="ch-4", at=T0))
    with pytest.raises((IntegrityError, DBAPIError)) as err:
        database.run_sync(lambda s: s.exec_driver_sql(statement) if hasattr(s, "exec_driver_sql")
                          else s.connection().exec_driver_sql(statement))
    assert "append-only" in str(err.value)
    assert database.run_sync(lambda s: [e.kind for e in s.exec(select(CallEvent))]) == ["call.started"]
