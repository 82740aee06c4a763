"""How fast routing decides with 2,000 nurses and 10,000 waiting calls, on Redis and in memory.

One decision is the engine's work on one trigger, as the running system does it:
`RoutingEngine.nurse_event(nurse, WRAP_DONE)` → the nurse becomes ready (store.transition) →
store.snapshot() → policy.decide() → store.reserve() → the `offered` event. The second trigger is a
call arriving while nobody is free (`call_arrived`: add_call → snapshot → decide finds no one), the
most frequent trigger when 10,000 calls wait. Each phase is timed inside the real trigger (the
store's methods and `routing.engine.decide` are wrapped with timers for this run), so the table
shows where the time goes.

Peer measured in the same run: the same engine, data and trigger sequence on `MemoryStore`. The
ratio Redis/memory is what the shared, restart-safe store costs. Both stores must make the same
offers (checked). Data: 21 regions weighted by population, skills and queues like the shipped
menus, calls waiting 0–20 minutes, rules from the shipped national.yaml, a fixed weekday noon
(reproducible: seeded random, virtual clock advancing 1 ms per step).

Run: .venv/bin/python bench/bench_routing.py [--triggers N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import _rig
from redis.asyncio import Redis
from tqdm import tqdm

import routing.engine as engine_module
from agents.presence import Event, PauseReason, State
from config.loader import load_config
from routing.engine import RoutingEngine
from routing.memory import MemoryStore
from routing.model import NATIONAL, NurseState, Offer, RoutingEvent, RoutingRules, WaitingCall
from routing.policy import decide
from routing.redis_store import RedisStore
from routing.rules import rules_from_config
from routing.store import RoutingStore

PROFILED = 15  # triggers under cProfile with --profile
NURSES = 2_000
CALLS = 10_000
SEED = 1177
STOCKHOLM = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wednesday 13:00 in Stockholm: day rules, no night windows

# County code → population (millions, 2024, rounded): where calls come from and nurses work.
POPULATION: dict[str, float] = {
    "01": 2.45, "03": 0.40, "04": 0.30, "05": 0.47, "06": 0.37, "07": 0.20, "08": 0.25, "09": 0.06,
    "10": 0.16, "12": 1.41, "13": 0.34, "14": 1.74, "17": 0.28, "18": 0.31, "19": 0.28, "20": 0.29,
    "21": 0.29, "22": 0.24, "23": 0.13, "24": 0.28, "25": 0.25,
}
# Neighbour a nurse may also work for (a care provider of several regions).
NEIGHBOUR: dict[str, str] = {
    "01": "03", "03": "01", "04": "19", "05": "06", "06": "05", "07": "10", "08": "07", "09": "01",
    "10": "12", "12": "10", "13": "14", "14": "13", "17": "14", "18": "19", "19": "18", "20": "21",
    "21": "20", "22": "23", "23": "22", "24": "25", "25": "24",
}

# The queue nodes of the shipped menus: (required skills, priority, share of calls).
QUEUES: list[tuple[dict[str, int], int, float]] = [
    ({"triage": 2}, 5, 0.50),                    # adults, general advice
    ({"triage": 2, "barn": 2}, 4, 0.14),         # children
    ({"triage": 3, "barn": 3}, 3, 0.05),         # infants
    ({"triage": 1, "barn": 4}, 6, 0.03),         # child-health questions
    ({"triage": 2, "psykiatri": 2}, 2, 0.08),    # mental health, suicide risk
    ({"farmaceut": 1}, 7, 0.05),                 # medicines
    ({"triage": 2, "sprak_ar": 2}, 5, 0.03),
    ({"triage": 2, "sprak_fi": 2}, 5, 0.02),
    ({"triage": 2, "sprak_so": 2}, 5, 0.01),
    ({"triage": 2, "sprak_fa": 2}, 5, 0.01),
    ({"triage": 2, "tolk": 1}, 5, 0.03),
    ({"triage": 2, "formedlat": 1}, 4, 0.01),
]
NATIONAL_SHARE = 0.03  # calls from abroad, relay services, crisis redirects
ENGLISH_SHARE = 0.05  # callers who chose English (need sprak_en ≥ 2)

T = TypeVar("T")


# --- the data ------------------------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def make_nurse(rng: random.Random, i: int) -> NurseState:
    home = _weighted(rng, POPULATION)
    regions = frozenset({NEIGHBOUR[home]}) if rng.random() < 0.10 else frozenset()
    skills: dict[str, int] = {}
    if rng.random() < 0.04:  # a pharmacist, no triage
        skills["farmaceut"] = rng.choice([1, 2, 2, 3])
    else:
        skills["triage"] = rng.choices([1, 2, 3, 4, 5], weights=[5, 45, 35, 10, 5])[0]
        if rng.random() < 0.40:
            skills["barn"] = rng.choices([1, 2, 3, 4], weights=[20, 40, 25, 15])[0]
        if rng.random() < 0.15:
            skills["psykiatri"] = rng.choices([1, 2, 3], weights=[40, 40, 20])[0]
        if rng.random() < 0.30:
            skills["tolk"] = rng.choice([1, 2])
        if rng.random() < 0.05:
            skills["formedlat"] = rng.choice([1, 2])
    if rng.random() < 0.60:
        skills["sprak_en"] = rng.choices([1, 2, 3], weights=[30, 55, 15])[0]
    for lang, share in (("sprak_ar", 0.04), ("sprak_fi", 0.03), ("sprak_so", 0.015), ("sprak_fa", 0.02)):
        if rng.random() < share:
            skills[lang] = rng.choice([2, 3])
    # Nobody is free: with 10,000 calls waiting every ready nurse would already have a call.
    state = rng.choices([State.ON_CALL, State.WRAP_UP, State.PAUSED], weights=[70, 15, 15])[0]
    since = T0 - timedelta(seconds=rng.uniform(0, 600))
    return NurseState(
        nurse_id=f"n{i:05d}", home_region=home, skills=skills, state=state, since=since, regions=regions,
        call_id=f"talk-{i}" if state in (State.ON_CALL, State.WRAP_UP) else None,
        reason=PauseReason.BREAK if state is State.PAUSED else None)


def make_call(rng: random.Random, call_id: str, entered_at: datetime) -> WaitingCall:
    if rng.random() < NATIONAL_SHARE:
        return WaitingCall(call_id=call_id, region=NATIONAL, skills={}, priority=5, entered_at=entered_at,
                           language="en" if rng.random() < 0.5 else "sv", queue="national")
    skills, priority, _ = rng.choices(QUEUES, weights=[q[2] for q in QUEUES])[0]
    language = "en" if rng.random() < ENGLISH_SHARE else "sv"
    return WaitingCall(call_id=call_id, region=_weighted(rng, POPULATION), skills=dict(skills), priority=priority,
                       entered_at=entered_at, language=language)


@dataclass
class World:
    nurses: list[NurseState]
    calls: list[WaitingCall]

    @classmethod
    def build(cls, seed: int = SEED) -> World:
        rng = random.Random(seed)
        nurses = [make_nurse(rng, i) for i in range(NURSES)]
        calls = [make_call(rng, f"c{i:06d}", T0 - timedelta(seconds=rng.uniform(0, 1200))) for i in range(CALLS)]
        return cls(nurses, calls)


async def fill(store: RoutingStore, world: World, label: str) -> None:
    items: list[NurseState | WaitingCall] = [*world.nurses, *world.calls]
    with tqdm(total=len(items), desc=f"fill {label}", unit="item", file=sys.stderr, leave=False) as bar:
        for n, item in enumerate(items, 1):
            if isinstance(item, NurseState):
                await store.upsert_nurse(item)
            else:
                await store.add_call(item)
            if n % 500 == 0:
                bar.update(500)


# --- timing inside the real trigger --------------------------------------------------------------


@dataclass
class Phases:
    """Seconds per phase of the current trigger (the wrapped store methods and decide add to it)."""

    current: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        self.current[phase] = self.current.get(phase, 0.0) + seconds


def instrument(store: RoutingStore, phases: Phases) -> None:
    """Wrap the store's methods the engine calls with timers (on this instance only)."""
    for name in ("transition", "snapshot", "reserve", "add_call"):
        method: Callable[..., Awaitable[Any]] = getattr(store, name)

        def timed(method: Callable[..., Awaitable[Any]] = method, name: str = name) -> Callable[..., Awaitable[Any]]:
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await method(*args, **kwargs)
                finally:
                    phases.add(name, time.perf_counter() - start)
            return wrapper

        setattr(store, name, timed())


def timed_decide(phases: Phases) -> Callable[..., list[Offer]]:
    def wrapper(*args: Any, **kwargs: Any) -> list[Offer]:
        start = time.perf_counter()
        try:
            return decide(*args, **kwargs)
        finally:
            phases.add("decide", time.perf_counter() - start)
    return wrapper


@dataclass
class Run:
    """One store's measurements."""

    label: str
    free: list[dict[str, float]] = field(default_factory=list)  # per "nurse free" trigger: phase → s
    arrive: list[dict[str, float]] = field(default_factory=list)  # per "call arrives" trigger
    offers: list[tuple[str, str | None]] = field(default_factory=list)  # (nurse, call offered or None)
    snapshot_sizes: tuple[int, int] = (0, 0)
    wall_free: float = 0.0


async def measure(store: RoutingStore, rules: RoutingRules, world: World, label: str, triggers: int,
                  arrivals: int, budget: float, warmup: int = 3) -> Run:
    phases = Phases()
    instrument(store, phases)
    # The engine looks `decide` up in its module on every route(): time it there for this run.
    vars(engine_module)["decide"] = timed_decide(phases)
    try:
        return await _measure(store, rules, world, label, triggers, arrivals, budget, warmup, phases)
    finally:
        vars(engine_module)["decide"] = decide


async def _measure(store: RoutingStore, rules: RoutingRules, world: World, label: str, triggers: int,
                   arrivals: int, budget: float, warmup: int, phases: Phases) -> Run:
    run = Run(label)
    engine = RoutingEngine(store, rules)
    rng = random.Random(SEED + 1)
    rotation = [n.nurse_id for n in world.nurses if n.state is State.WRAP_UP]
    snap = await store.snapshot()
    run.snapshot_sizes = (len(snap.calls), len(snap.nurses))
    clock = T0
    next_call = CALLS

    def tick() -> datetime:
        nonlocal clock
        clock += timedelta(milliseconds=1)
        return clock

    # A nurse becomes free: the timed part is exactly engine.nurse_event. Afterwards (untimed) she
    # answers, hangs up (wrap-up again) and a new caller takes the offered call's place, so every
    # trigger sees 10,000 waiting calls.
    started = time.perf_counter()
    timed_total = 0.0
    bar = tqdm(total=warmup + triggers, desc=f"{label}: nurse free", unit="trigger", file=sys.stderr, leave=False)
    i = 0
    while i < warmup + triggers and rotation:
        nurse_id = rotation[i % len(rotation)]
        now = tick()
        phases.current = {}
        t = time.perf_counter()
        events: list[RoutingEvent] = await engine.nurse_event(nurse_id, Event.WRAP_DONE, now)
        total = time.perf_counter() - t
        offered = [e for e in events if e.kind == "offered"]
        if i >= warmup:
            run.free.append({**phases.current, "total": total})
            run.offers.append((nurse_id, offered[0].call_id if offered else None))
            timed_total += total
        if offered:
            now = tick()
            await store.answered(offered[0].call_id, now)
            await store.transition(nurse_id, Event.HANGUP, now)
            await store.add_call(make_call(rng, f"c{next_call:06d}", now))
            next_call += 1
        else:  # she may take none of the waiting calls: pause her, out of the rotation
            await store.transition(nurse_id, Event.PAUSE, tick(), reason=PauseReason.ADMINISTRATION)
            rotation.remove(nurse_id)
        i += 1
        bar.update(1)
        if time.perf_counter() - started > budget and i >= warmup + 20:
            break
    bar.close()
    run.wall_free = timed_total

    # A call arrives while nobody is free (the queue just grows); it leaves again untimed.
    for j in tqdm(range(warmup + arrivals), desc=f"{label}: call arrives", unit="trigger", file=sys.stderr,
                  leave=False):
        now = tick()
        call = make_call(rng, f"a{j:06d}", now)
        phases.current = {}
        t = time.perf_counter()
        await engine.call_arrived(call, now)
        total = time.perf_counter() - t
        if j >= warmup:
            run.arrive.append({**phases.current, "total": total})
        await store.remove_call(call.call_id, tick())
    return run


async def profile_triggers(store: RoutingStore, rules: RoutingRules, world: World, count: int) -> str:
    """cProfile of `count` "nurse free" triggers: the top entries by own time."""
    engine = RoutingEngine(store, rules)
    waiting = [n.nurse_id for n in world.nurses if n.state is State.WRAP_UP]
    profiler = cProfile.Profile()
    now = T0 + timedelta(hours=1)
    done = 0
    for nurse_id in waiting:
        if done == count:
            break
        current = await store.get_nurse(nurse_id)
        if current is None or current.state is not State.WRAP_UP:
            continue
        now += timedelta(milliseconds=1)
        profiler.enable()
        await engine.nurse_event(nurse_id, Event.WRAP_DONE, now)
        profiler.disable()
        done += 1
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(12)
    text = out.getvalue()
    return text[text.index("   ncalls"):].rstrip() if "   ncalls" in text else text


# --- the report ----------------------------------------------------------------------------------


PHASES = [("transition", "transition (nurse → ready)"), ("add_call", "add_call"), ("snapshot", "snapshot (load state)"),
          ("decide", "policy.decide"), ("reserve", "reserve (Lua / dict)"), ("other", "engine, events"),
          ("total", "whole trigger")]


def with_other(samples: Sequence[dict[str, float]]) -> list[dict[str, float]]:
    out = []
    for s in samples:
        parts = sum(v for k, v in s.items() if k != "total")
        out.append({**s, "other": max(0.0, s["total"] - parts)})
    return out


def phase_rows(redis: Sequence[dict[str, float]], memory: Sequence[dict[str, float]]) -> list[list[str]]:
    redis, memory = with_other(redis), with_other(memory)
    rows = []
    for key, name in PHASES:
        r = [s[key] for s in redis if key in s]
        m = [s[key] for s in memory if key in s]
        if not r and not m:
            continue
        rows.append([name, _rig.ms(_rig.pct(r, 50)), _rig.ms(_rig.pct(r, 99)), _rig.ms(_rig.pct(m, 50)),
                     _rig.ms(_rig.pct(m, 99)), _rig.ratio(_rig.pct(r, 50), _rig.pct(m, 50))])
    return rows


HEADER = ["phase (ms)", "Redis p50", "Redis p99", "memory p50", "memory p99", "Redis/memory p50"]


def report(redis: Run, memory: Run, profile: dict[str, str], machine: str) -> None:
    local = T0.astimezone(STOCKHOLM)
    calls, nurses = redis.snapshot_sizes
    print(f"Routing decisions: {nurses:,} nurses in {len(POPULATION)} regions, {calls:,} waiting calls, "
          f"rules of national.yaml, at {local:%A %Y-%m-%d %H:%M} Stockholm time")
    print(f"one decision = the engine's work on one trigger; phases timed inside the real trigger; {machine}\n")

    n = len(redis.free)
    given = sum(1 for _, c in redis.offers if c is not None)
    print(f"Trigger A — a nurse becomes free and is offered a call (RoutingEngine.nurse_event), {n} triggers")
    print(_rig.table(HEADER, phase_rows(redis.free, memory.free)))
    r_rate = n / redis.wall_free if redis.wall_free else float("nan")
    m_rate = len(memory.free) / memory.wall_free if memory.wall_free else float("nan")
    print(_rig.table(["decisions/s (one engine, sequential)", "Redis", "memory", "memory/Redis"],
                     [["", f"{r_rate:,.1f}", f"{m_rate:,.1f}", _rig.ratio(m_rate, r_rate)]]))
    same = redis.offers == memory.offers[:len(redis.offers)]
    print(f"offers made: {given} of {n} triggers (the others: a nurse none of the waiting calls may go to); "
          f"same offers on both stores: {'yes' if same else 'NO'}\n")

    print(f"Trigger B — a call arrives while nobody is free (RoutingEngine.call_arrived), {len(redis.arrive)} triggers")
    print(_rig.table(HEADER, phase_rows(redis.arrive, memory.arrive)))
    for label, text in profile.items():
        print(f"\ncProfile of {PROFILED} triggers A on {label} (top entries by own time):")
        print(text)


async def amain(args: argparse.Namespace) -> None:
    machine = _rig.machine()
    cs = load_config()
    if cs.national is None:
        raise SystemExit("config/national.yaml could not be loaded: " + "; ".join(map(str, cs.issues[:3])))
    rules = rules_from_config(cs.national)
    _rig.progress(f"building {NURSES:,} nurses and {CALLS:,} calls")
    world = World.build()
    with _rig.private_redis() as url:
        client = Redis.from_url(url)
        try:
            redis_store = RedisStore(client, "bench:routing")
            await fill(redis_store, world, "Redis")
            memory_store = MemoryStore()
            await fill(memory_store, world, "memory")
            _rig.progress("measuring on Redis")
            redis_run = await measure(redis_store, rules, world, "Redis", args.triggers, args.arrivals, args.budget)
            _rig.progress("measuring in memory (same trigger sequence)")
            memory_run = await measure(memory_store, rules, world, "memory", len(redis_run.free), args.arrivals,
                                       budget=float("inf"))
            profile: dict[str, str] = {}
            if args.profile:
                _rig.progress("profiling trigger A on Redis and in memory")
                profile["Redis"] = await profile_triggers(RedisStore(client, "bench:routing"), rules, world, PROFILED)
                profile["memory"] = await profile_triggers(memory_store, rules, world, PROFILED)
        finally:
            await client.aclose()
    report(redis_run, memory_run, profile, machine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=200, help="'nurse free' triggers per store (default 200)")
    parser.add_argument("--arrivals", type=int, default=40, help="'call arrives' triggers per store (default 40)")
    parser.add_argument("--budget", type=float, default=40.0,
                        help="seconds at most for the Redis 'nurse free' triggers (default 40)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of Redis triggers")
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
