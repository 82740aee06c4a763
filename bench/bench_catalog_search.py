"""How fast the referral catalog answers the nurse over 10,000 units (the goal: p95 under 20 ms).

Catalog: `catalog.demo.synthetic_units(N)` (default 10,000): units of every type spread over all 290
municipalities, with varied opening hours, services and age limits (seeded). Queries: 600 drawn from what a
nurse asks during a call — an urgency level; open now, or opening within 2–12 hours; near a municipality or
a point (half with a radius); some with the caller's region(s), an age, a type or a service — at times
spread over a week, holidays included. Each query is timed alone after a warm-up pass.

Peer measured in the same run: the straightforward search — every unit's opening computed for itself and
the great-circle distance computed for every unit (no shared opening hours, no cheap distance first) — on
the same queries, so the table shows what the index's two shortcuts buy.

Run: .venv/bin/python bench/bench_catalog_search.py [--units N] [--queries Q]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _rig import machine, ms, pct, ratio, table  # noqa: E402

from advice.urgency import CARE_UNIT_TYPES, Urgency  # noqa: E402
from catalog.demo import synthetic_units  # noqa: E402
from catalog.hours import open_state  # noqa: E402
from catalog.model import CareUnit  # noqa: E402
from catalog.municipalities import haversine_km  # noqa: E402
from catalog.municipalities import load as municipalities  # noqa: E402
from catalog.search import CatalogIndex, Hit, Query  # noqa: E402

SE = ZoneInfo("Europe/Stockholm")


def queries(n: int, rng: random.Random) -> list[Query]:
    places = municipalities().all()
    start = datetime(2026, 12, 21, 0, 0, tzinfo=SE)  # the week with julafton and juldagen
    out = []
    for _ in range(n):
        m = rng.choice(places)
        at = start + timedelta(minutes=rng.randrange(7 * 24 * 60))
        urgency = rng.choice([u for u in Urgency if u != Urgency.CALL_112])
        within = timedelta(hours=rng.choice([2, 4, 12])) if rng.random() < 0.5 else None
        region = m.region
        out.append(Query(
            regions=frozenset({region}) if rng.random() < 0.5 else None,
            types=frozenset({rng.choice(list(CARE_UNIT_TYPES))}) if rng.random() < 0.15 else None,
            services=frozenset({"provtagning"}) if rng.random() < 0.1 else frozenset(),
            urgency=urgency, at=at, within=within, near=(m.lat, m.lon),
            max_km=rng.choice([10.0, 30.0, 100.0]) if rng.random() < 0.5 else None,
            age=rng.randrange(0, 90) if rng.random() < 0.3 else None, limit=20))
    return out


def naive(units: list[CareUnit], q: Query) -> list[Hit]:
    """The peer: everything computed per unit."""
    ranked = []
    for u in units:
        if q.regions is not None and u.region not in q.regions:
            continue
        if q.types is not None and u.type not in q.types:
            continue
        if q.urgency is not None and q.urgency not in CARE_UNIT_TYPES[u.type].fits:
            continue
        if q.services and not q.services <= set(u.services):
            continue
        if q.age is not None and not u.serves_age(q.age):
            continue
        km = haversine_km(q.near[0], q.near[1], u.lat, u.lon) if q.near else None
        if km is not None and q.max_km is not None and km > q.max_km:
            continue
        state = open_state(u.hours, q.at) if q.at is not None else None
        if state is not None and q.at is not None:
            if q.within is not None and not state.open_within(q.at, q.within):
                continue
            if q.within is None and not state.open:
                continue
        limited = u.age_min is not None or u.age_max is not None
        primary = min(CARE_UNIT_TYPES[u.type].fits, key=lambda v: v.rank)
        fit = 0 if (q.age is not None and limited) else 1 if (q.urgency is None or primary == q.urgency) else 2
        rank = 0 if state is None or state.open else 1
        ranked.append((fit, rank, km or 0.0, u.name, Hit(u, fit, state, km)))
    ranked.sort(key=lambda r: r[:4])
    return [r[4] for r in ranked[: q.limit]]


def timed(label: str, run: object, qs: list[Query]) -> list[float]:
    times = []
    gc.collect()
    for q in tqdm(qs, desc=label, unit="query", file=sys.stderr, leave=False):
        t0 = time.perf_counter()
        run(q)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(1177)
    units = synthetic_units(args.units, seed=7)
    t0 = time.perf_counter()
    index = CatalogIndex.build(units)
    build = time.perf_counter() - t0
    qs = queries(args.queries, rng)
    for q in qs[:50]:  # warm-up: the holiday tables, the code paths
        index.search(q)
    ours = timed("index", index.search, qs)
    peer = timed("naive", lambda q: naive(units, q), qs)
    hits = sum(len(index.search(q)) for q in qs[:100])
    print(f"# catalog search over {len(units):,} units, {len(qs)} queries — {machine()}")
    print(f"index built in {ms(build)} ms ({len(index.hours):,} distinct opening hours); "
          f"{hits / 100:.1f} hits per query on average")
    rows = []
    for label, times in (("CatalogIndex.search", ours), ("naive (peer)", peer)):
        rows.append([label, ms(pct(times, 50)), ms(pct(times, 95)), ms(pct(times, 99)), ms(max(times))])
    print(table(["search", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    print(f"p95: index {ms(pct(ours, 95))} ms (goal < 20 ms) — {ratio(pct(peer, 95), pct(ours, 95))} faster "
          "than the peer")


if __name__ == "__main__":
    main()
