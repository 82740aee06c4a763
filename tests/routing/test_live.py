"""Routing in the running app without telephony: the registry loaded into the store, every presence
change of the engine recorded in the registry (SQLite and PostgreSQL), wrap-up ended by time per the
nurse's home region, and the registry's newer presence winning after a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from agents import service
from agents.presence import Event, InvalidTransition, PauseReason, State
from config.schema import RegionRouting
from identity.models import User
from routing import presence
from routing.live import LiveRouting
from routing.memory import MemoryStore
from routing.model import RoutingRules, WaitingCall
from vardlinje.db import Database

from ..agents.conftest import T0, VOCABULARY, seed

ROUTING_01 = RegionRouting(ring_seconds=15, wrap_up_seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _routing(database: Database, store: MemoryStore, clock: Clock) -> LiveRouting:
    return LiveRouting(database, store, RoutingRules(),
                       lambda region: ROUTING_01 if region == "01" else RegionRouting(), clock)


def _anna(database: Database) -> str:
    ids = seed(database)

    def work(s: Session) -> str:
        user = s.get(User, ids.nurse_user_id)
        assert user is not None
        return service.create_nurse(s, user, "01", {"triage": 3}, ["03"], vocabulary=VOCABULARY, at=T0).endpoint

    return database.run_sync(work)


def _history(database: Database, endpoint: str) -> list[tuple[str, str, str, str | None, str]]:
    def work(s: Session) -> list[tuple[str, str, str, str | None, str]]:
        nurse = presence.by_endpoint(s, endpoint)
        assert nurse is not None and nurse.id is not None
        return [(c.event, c.from_state, c.to_state, c.call_id, c.by)
                for c in service.presence_today(s, nurse.id, T0.date())]

    return database.run_sync(work)


async def test_a_call_is_recorded_in_the_registry_and_wrap_up_ends_on_time(database: Database) -> None:
    """Offer, answer, hang-up and wrap-up done reach the registry with the call; wrap-up lasts the home
    region's `wrap_up_seconds` (30 s for 01 here) — not a second less — then she is ready again."""
    endpoint = _anna(database)
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    assert await live.load_nurses() == 1
    await live.change_presence(endpoint, Event.LOGIN, by="anna")
    await live.change_presence(endpoint, Event.READY, by="anna")
    assert live.ring_seconds(endpoint) == 15

    call = WaitingCall("c1", "01", {"triage": 2}, 5, clock())
    events = await live.engine.call_arrived(call, clock())
    assert [e.kind for e in events] == ["queued", "offered"]
    clock.advance(4)
    await live.engine.answered("c1", clock())
    clock.advance(120)
    await live.change_presence(endpoint, Event.HANGUP, by="routing")
    clock.advance(29)
    await live.tick()
    assert (await store.get_nurse(endpoint)).state is State.WRAP_UP  # type: ignore[union-attr]
    clock.advance(1)
    await live.tick()
    assert (await store.get_nurse(endpoint)).state is State.READY  # type: ignore[union-attr]

    assert _history(database, endpoint) == [
        ("login", "logged_out", "paused", None, "anna"),
        ("ready", "paused", "ready", None, "anna"),
        ("offer", "ready", "offered", "c1", "routing"),
        ("answer", "offered", "on_call", "c1", "routing"),
        ("hangup", "on_call", "wrap_up", "c1", "routing"),
        ("wrap_done", "wrap_up", "ready", "c1", "routing"),
    ]


async def test_a_missed_offer_pauses_her_in_both_places(database: Database) -> None:
    """Ring-no-answer: the store and the registry both say paused (missed offer), and the call waits."""
    endpoint = _anna(database)
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    await live.load_nurses()
    await live.change_presence(endpoint, Event.LOGIN, by="anna")
    await live.change_presence(endpoint, Event.READY, by="anna")
    await live.engine.call_arrived(WaitingCall("c1", "01", {"triage": 2}, 5, clock()), clock())
    clock.advance(15)
    await live.engine.offer_ended("c1", clock(), missed=True)
    nurse = await store.get_nurse(endpoint)
    assert nurse is not None and nurse.state is State.PAUSED and nurse.reason is PauseReason.MISSED_OFFER
    row = database.run_sync(lambda s: presence.by_endpoint(s, endpoint))
    assert row is not None and row.presence_state == "paused" and row.presence_reason == "missed_offer"
    assert [c.call_id for c in (await store.snapshot()).calls] == ["c1"]


async def test_a_pause_while_her_phone_rings_is_refused_everywhere(database: Database) -> None:
    """The state machine refuses a pause during an offer; neither the store nor the registry changes."""
    endpoint = _anna(database)
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    await live.load_nurses()
    await live.change_presence(endpoint, Event.LOGIN, by="anna")
    await live.change_presence(endpoint, Event.READY, by="anna")
    await live.engine.call_arrived(WaitingCall("c1", "01", {"triage": 2}, 5, clock()), clock())
    before = len(_history(database, endpoint))
    with pytest.raises(InvalidTransition):
        await live.change_presence(endpoint, Event.PAUSE, reason=PauseReason.BREAK, by="anna")
    assert (await store.get_nurse(endpoint)).state is State.OFFERED  # type: ignore[union-attr]
    assert len(_history(database, endpoint)) == before


async def test_after_a_restart_the_newer_presence_wins(database: Database) -> None:
    """The store keeps its live presence over an older registry row; a change made while the app was
    down (registry newer) wins; an offer the store no longer holds comes back as ready; a deactivated
    nurse leaves the store."""
    endpoint = _anna(database)
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    await live.load_nurses()
    await live.change_presence(endpoint, Event.LOGIN, by="anna")
    await live.change_presence(endpoint, Event.READY, by="anna")

    # Registry changed while the app was down (the CLI without Redis): newer, so it wins.
    clock.advance(60)
    nurse_id = database.run_sync(lambda s: presence.by_endpoint(s, endpoint).id)  # type: ignore[union-attr]
    database.run_sync(lambda s: service.apply_presence(s, nurse_id, Event.PAUSE, clock(), reason=PauseReason.MEETING,
                                                       by="cli"))
    await live.load_nurses()
    assert (await store.get_nurse(endpoint)).reason is PauseReason.MEETING  # type: ignore[union-attr]

    # The store is newer: a reload keeps it.
    clock.advance(60)
    await live.change_presence(endpoint, Event.READY, by="anna")
    await live.load_nurses()
    assert (await store.get_nurse(endpoint)).state is State.READY  # type: ignore[union-attr]

    # A fresh store after a registry that says "offered": that offer is gone, she is ready.
    await live.engine.call_arrived(WaitingCall("c1", "01", {"triage": 2}, 5, clock()), clock())
    fresh = MemoryStore()
    await presence.load_registry(database, fresh, clock())
    restored = await fresh.get_nurse(endpoint)
    assert restored is not None and restored.state is State.READY

    clock.advance(1)
    await live.engine.caller_left("c1", clock())  # she is ready again and may be deactivated
    database.run_sync(lambda s: service.set_active(s, nurse_id, False, at=clock(), by="admin"))
    await live.load_nurses()
    assert await store.get_nurse(endpoint) is None


async def test_queue_status_gives_place_and_estimate_from_the_store(database: Database) -> None:
    """Callers hear their place among the calls competing for the same nurses and an estimate that grows
    with it (from the shared store, not this instance's memory); an offered call is next, without a time."""
    endpoint = _anna(database)
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    live.view_seconds = 0  # a fresh view for every question in this test
    await live.load_nurses()
    await live.change_presence(endpoint, Event.LOGIN, by="anna")
    await live.change_presence(endpoint, Event.READY, by="anna")
    await live.engine.call_arrived(WaitingCall("c1", "01", {"triage": 2}, 5, clock()), clock())
    assert (await live.queue_status("c1")).state == "offered"
    await live.engine.answered("c1", clock())
    for i, priority in ((2, 5), (3, 5), (4, 3)):
        clock.advance(1)
        await live.engine.call_arrived(WaitingCall(f"c{i}", "01", {"triage": 2}, priority, clock()), clock())
    second, third, urgent = [await live.queue_status(c) for c in ("c2", "c3", "c4")]
    assert (urgent.position, second.position, third.position) == (1, 2, 3)  # priority first, then the wait
    assert second.estimated_wait_seconds is not None and third.estimated_wait_seconds is not None
    assert urgent.estimated_wait_seconds is not None
    assert urgent.estimated_wait_seconds < second.estimated_wait_seconds < third.estimated_wait_seconds


async def test_a_new_caller_hears_her_real_place_not_the_cached_one(database: Database) -> None:
    """The view of the store is shared for 2 s, but a call queued after it was taken is not "next in
    line": its status is computed on a fresh view."""
    clock = Clock()
    store = MemoryStore()
    live = _routing(database, store, clock)
    for i in range(4):
        await live.engine.call_arrived(WaitingCall(f"c{i}", "01", {"triage": 1}, 5, clock() + timedelta(seconds=i)),
                                       clock())
        status = await live.queue_status(f"c{i}")
        assert (status.position, status.state) == (i + 1, "queued")
