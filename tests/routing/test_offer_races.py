"""The offer driver's races and faults that the real Asterisk cannot be made to produce on demand: the
caller hanging up in the instant the nurse answers (two channels, two event tasks), and a database
that fails while calls are offered. ARI is a small local double that records requests; routing, the
store and the call record (SQLite) are real."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.presence import Event, PauseReason, State
from calls import service as calls
from ivr.handover import RouteRequest
from routing.asterisk import OfferDriver
from routing.engine import RoutingEngine
from routing.memory import MemoryStore
from routing.model import NurseState, RoutingRules
from routing.router import EngineRouter
from telephony.ari.errors import AriError
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from .conftest import T0


class Ari:
    """Answers like ARI after a short delay; a channel hung up cannot be added to a bridge."""

    app = "vardlinje"

    def __init__(self) -> None:
        self.gone: set[str] = set()
        self.requests: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        self.requests.append((method, path))
        await asyncio.sleep(0.01)
        if path.endswith("addChannel") and params and any(c in self.gone for c in params["channel"].split(",")):
            raise AriError(method, path, 400, "Channel not in Stasis application")
        return {}

    async def hangup(self, channel_id: str) -> None:
        await asyncio.sleep(0.005)
        self.gone.add(channel_id)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/races.db"
    upgrade(url)
    database = Database.from_url(url)
    yield database
    database.dispose()


async def _queued(db: Database, store: MemoryStore, ari: Ari, clock: list[datetime]) -> tuple[OfferDriver, EngineRouter, str]:
    engine = RoutingEngine(store, RoutingRules())
    router = EngineRouter(engine, db, lambda: clock[0], lambda _channel: None)

    async def hang_up(nurse_id: str) -> object:
        return await engine.nurse_event(nurse_id, Event.HANGUP, clock[0])

    driver = OfferDriver(ari, engine, router, db, lambda: clock[0], lambda n: n, on_hangup=hang_up)  # type: ignore[arg-type]
    await store.upsert_nurse(NurseState("nurse-1", "01", {"triage": 3}, State.READY, T0))
    clock[0] = T0 + timedelta(seconds=1)
    record = await db.run(lambda s: calls.open_call(s, channel_id="caller-1", linkedid="caller-1", at=clock[0]))
    await router.enqueue(RouteRequest(call_id=record.id, channel_id="caller-1", region="01", skills={"triage": 1}))
    return driver, router, record.id


async def test_caller_hanging_up_as_the_nurse_answers_frees_her(db: Database) -> None:
    """The answer and the caller's hang-up overlap: the nurse ends in wrap-up (not stuck on a call with
    nobody), her leg is hung up, and the driver holds no offer."""
    store, ari, clock = MemoryStore(), Ari(), [T0]
    driver, router, call_id = await _queued(db, store, ari, clock)
    offer = driver.offers[call_id]
    stop = router.stop_announcements

    async def slow_stop(cid: str) -> None:  # stopping the announcement is an ARI round trip
        await asyncio.sleep(0.02)
        await stop(cid)

    router.stop_announcements = slow_stop  # type: ignore[method-assign]

    async def caller_gone() -> None:
        await asyncio.sleep(0.005)
        ari.gone.add("caller-1")
        await router.release("caller-1")

    await asyncio.gather(driver._answered(offer), caller_gone())
    nurse = await store.get_nurse("nurse-1")
    assert nurse is not None and nurse.state is State.WRAP_UP
    assert offer.nurse_channel in ari.gone
    assert not driver.offers and not driver.by_nurse_channel


async def test_a_failing_database_never_strands_an_offer(db: Database) -> None:
    """With the call record unwritable, the phone still rings, and a ring-no-answer still frees the
    call (it waits again) and pauses the nurse: the record is best effort, routing is not."""
    store, ari, clock = MemoryStore(), Ari(), [T0]
    driver, _router, call_id = await _queued(db, store, ari, clock)
    assert ("POST", "/channels") in ari.requests

    async def broken(_work: Any) -> Any:
        raise RuntimeError("database is locked")

    db.run = broken  # type: ignore[method-assign]
    clock[0] += timedelta(seconds=20)
    await driver._missed(driver.offers[call_id], "User alerting, no answer")
    nurse = await store.get_nurse("nurse-1")
    assert nurse is not None and nurse.state is State.PAUSED and nurse.reason is PauseReason.MISSED_OFFER
    assert [c.call_id for c in (await store.snapshot()).calls] == [call_id]
    assert await store.get_offer(call_id) is None


async def test_a_caller_queued_again_keeps_the_first_entry_and_the_more_urgent_priority(db: Database) -> None:
    """A caller whose external transfer failed is queued again by the IVR with a fresh request: the wait
    that counts is still the first queue entry, and a less urgent default never lowers their priority."""
    store = MemoryStore()
    engine = RoutingEngine(store, RoutingRules())
    clock = [T0]
    router = EngineRouter(engine, db, lambda: clock[0], lambda _channel: None)
    record = await db.run(lambda s: calls.open_call(s, channel_id="caller-1", linkedid="caller-1", at=T0))
    await router.enqueue(RouteRequest(call_id=record.id, channel_id="caller-1", region="01", priority=2))
    clock[0] = T0 + timedelta(minutes=4)
    await router.enqueue(RouteRequest(call_id=record.id, channel_id="caller-1", region="01", priority=5))
    waiting = await store.get_call(record.id)
    assert waiting is not None
    assert waiting.entered_at == T0 and waiting.priority == 2, waiting
    assert router.entered_at(record.id) == T0
