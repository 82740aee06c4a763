"""The engine over both stores: one scenario (arrivals, offers, answers, missed offers, callers who give
up, wrap-up, the meeting-cover window opening) gives identical event lists on the in-memory store and
on the real Redis; a nurse who changes state between the decision and the reservation gets no offer;
two engines (two app instances) racing on one Redis for one nurse never both win."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from redis.asyncio import Redis

from agents.presence import Event, InvalidTransition, PauseReason, State
from routing.engine import RoutingEngine
from routing.memory import MemoryStore
from routing.model import NATIONAL, RoutingEvent, RoutingRules, Snapshot, Step
from routing.redis_store import RedisStore
from routing.store import RoutingStore

from .conftest import call, fresh_prefix, nurse, sthlm

START = sthlm(2026, 11, 24, 12, 55)  # a Tuesday: Halland's meeting cover opens at 13:00


async def run_scenario(store: RoutingStore, rules: RoutingRules, seed: int = 7) -> list[RoutingEvent]:
    """A small contact centre for 40 minutes, driven by a virtual clock."""
    rnd = random.Random(seed)
    engine = RoutingEngine(store, rules)
    events: list[RoutingEvent] = []
    todo: list[tuple[datetime, int, Callable[[datetime], Awaitable[list[RoutingEvent]]]]] = []
    seq = 0

    def at(when: datetime, action: Callable[[datetime], Awaitable[list[RoutingEvent]]]) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(todo, (when, seq, action))

    staff = [("12", 3), ("10", 2), ("13", 2), ("14", 2), ("01", 3)]
    for region, count in staff:
        for i in range(count):
            skills = {"triage": rnd.choice([2, 3, 4]), **({"barn": 3} if i == 0 else {})}
            n = nurse(f"n{region}-{i}", region, since=START - timedelta(seconds=rnd.randint(0, 600)), skills=skills)
            await store.upsert_nurse(n)

    async def to_meeting(now: datetime, nurse_id: str) -> list[RoutingEvent]:
        try:
            return await engine.nurse_event(nurse_id, Event.PAUSE, now, reason=PauseReason.MEETING)
        except InvalidTransition:  # on a call: she joins the meeting late
            return []

    for i in range(2):  # Halland's nurses go to their meeting at 13:00
        at(sthlm(2026, 11, 24, 13, 0), partial(to_meeting, nurse_id=f"n13-{i}"))

    def presence(nurse_id: str, event: Event) -> Callable[[datetime], Awaitable[list[RoutingEvent]]]:
        return lambda now: engine.nurse_event(nurse_id, event, now)

    def on_event(event: RoutingEvent) -> None:
        if event.kind == "offered":
            assert event.nurse_id is not None
            nurse_id, call_id = event.nurse_id, event.call_id

            async def respond(now: datetime) -> list[RoutingEvent]:
                current = await store.get_offer(call_id)
                if current is None or current.nurse_id != nurse_id:
                    return []  # the offer ended meanwhile (caller left)
                if nurse_id == "n10-1":  # never answers
                    return await engine.offer_ended(call_id, now, missed=True)
                return await engine.answered(call_id, now)

            delay = 20 if nurse_id == "n10-1" else rnd.randint(2, 8)
            at(event.at + timedelta(seconds=delay), respond)
        elif event.kind == "answered":
            assert event.nurse_id is not None
            nurse_id = event.nurse_id
            handle = timedelta(seconds=rnd.randint(120, 400))
            at(event.at + handle, presence(nurse_id, Event.HANGUP))
            at(event.at + handle + timedelta(seconds=30), presence(nurse_id, Event.WRAP_DONE))
        elif event.kind == "missed":
            assert event.nurse_id is not None
            nurse_id = event.nurse_id
            at(event.at + timedelta(seconds=90), presence(nurse_id, Event.READY))

    regions = ["12"] * 6 + ["13"] * 3 + ["09"] * 2 + [NATIONAL] * 2 + ["14"] * 2 + ["10"]
    clock = START
    for i in range(70):
        clock += timedelta(seconds=rnd.randint(5, 40))
        c = call(f"c{i:03d}", rnd.choice(regions), at=clock, priority=rnd.choice([3, 5, 5, 7]),
                 skills={"triage": rnd.choice([2, 3]), **({"barn": 2} if rnd.random() < 0.15 else {})})
        at(clock, partial(engine.call_arrived, c))
        patience = timedelta(seconds=rnd.randint(200, 900))
        at(clock + patience, partial(engine.caller_left, c.call_id))
    for k in range(0, 40 * 60, 15):
        at(START + timedelta(seconds=k), engine.tick)

    while todo:
        when, _, action = heapq.heappop(todo)
        for event in await action(when):
            events.append(event)
            on_event(event)
    return events


async def test_same_scenario_same_events_on_both_stores(rules: RoutingRules, redis_client: Redis) -> None:
    """Memory and Redis give the same events, in the same order, for a scenario that uses own region,
    partners, around the clock (Gotland), meeting cover (Halland) and the national queue."""
    on_memory = await run_scenario(MemoryStore(), rules)
    on_redis = await run_scenario(RedisStore(redis_client, fresh_prefix()), rules)
    assert on_memory == on_redis
    kinds = {e.kind for e in on_memory}
    assert {"queued", "offered", "answered", "missed", "abandoned"} <= kinds
    steps = {e.step for e in on_memory if e.kind == "offered"}
    assert {Step.OWN, Step.PARTNER, Step.AROUND_THE_CLOCK, Step.COVER, Step.NATIONAL} <= steps


class PausesDuringDecision:
    """A store whose nurse pauses right after the snapshot is read: another instance's change landing
    between the decision and the reservation."""

    def __init__(self, inner: RoutingStore, nurse_id: str, at: datetime) -> None:
        self.inner, self.nurse_id, self.at, self.done = inner, nurse_id, at, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def snapshot(self, *, ready_only: bool = False) -> Snapshot:
        snap = await self.inner.snapshot(ready_only=ready_only)
        if not self.done:
            self.done = True
            await self.inner.transition(self.nurse_id, Event.PAUSE, self.at, reason=PauseReason.BREAK)
        return snap


async def test_nurse_pausing_during_the_offer_gets_none(store: RoutingStore, rules: RoutingRules) -> None:
    """The decision picked her, but she paused before the reservation: it fails, nobody is offered, the
    call still waits — on both stores."""
    now = START
    await store.upsert_nurse(nurse("n1", since=now - timedelta(seconds=60)))
    engine = RoutingEngine(PausesDuringDecision(store, "n1", now), rules)
    events = await engine.call_arrived(call("c1", at=now), now)
    assert [e.kind for e in events] == ["queued", "reserve_failed"]
    n = await store.get_nurse("n1")
    assert n is not None and n.state is State.PAUSED
    assert [c.call_id for c in (await store.snapshot()).calls] == ["c1"] and await store.offers() == []


async def test_failed_reservation_falls_back_to_the_next_nurse(store: RoutingStore, rules: RoutingRules) -> None:
    """The chosen nurse paused meanwhile, another one is free: the retry offers the call to her at once."""
    now = START
    await store.upsert_nurse(nurse("n1", since=now - timedelta(seconds=60)))
    await store.upsert_nurse(nurse("n2", since=now - timedelta(seconds=10)))
    engine = RoutingEngine(PausesDuringDecision(store, "n1", now), rules)
    events = await engine.call_arrived(call("c1", at=now), now)
    assert [(e.kind, e.nurse_id) for e in events] == [("queued", None), ("reserve_failed", "n1"), ("offered", "n2")]


async def test_two_instances_race_for_one_nurse(redis_url: str, rules: RoutingRules) -> None:
    """Two engines with their own Redis connections decide at the same moment for one nurse and two
    calls, 200 times over: exactly one offer each time, and the nurse holds exactly that call."""
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        for round_ in range(200):
            prefix = fresh_prefix()
            stores = [RedisStore(client, prefix) for client in clients]
            now = START + timedelta(seconds=round_)
            await stores[0].upsert_nurse(nurse("n1", since=now - timedelta(seconds=5)))
            await stores[0].add_call(call("c1", at=now - timedelta(seconds=2)))
            await stores[1].add_call(call("c2", at=now - timedelta(seconds=1), priority=round_ % 2 * 9))
            engines = [RoutingEngine(s, rules) for s in stores]
            results = await asyncio.gather(*(e.route(now) for e in engines))
            offered = [e for events in results for e in events if e.kind == "offered"]
            assert len(offered) == 1, results
            n = await stores[1].get_nurse("n1")
            assert n is not None and n.state is State.OFFERED and n.call_id == offered[0].call_id
            assert [o.call_id for o in await stores[0].offers()] == [offered[0].call_id]
    finally:
        for client in clients:
            await client.aclose()
