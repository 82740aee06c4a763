"""The national crisis switch: the policy's edges (one region, all regions, off again, the instant of the
flip, national calls untouched, weights, skills, step preference), the engine on both stores, and the
switch itself on SQLite and PostgreSQL with the real Redis (log, validation, restore after a fresh
Redis, repair, pub/sub to other instances, concurrent changes, the append-only log, the migration),
and its CLI."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from routing import crisis
from routing.crisis import (
    CrisisState,
    CrisisSwitch,
    InvalidChange,
    NotRedirected,
    OnChange,
    Redirect,
    UnknownRegion,
    state_from_log,
    with_crisis,
)
from routing.crisis_cli import crisis_group
from routing.engine import RoutingEngine
from routing.memory import MemoryStore
from routing.model import CRISIS_ALL, NATIONAL, RoutingRules, Step
from routing.policy import (
    Allowance,
    best_nurse_for,
    decide,
    eligible_regions,
    national_order,
    required_skills,
)
from routing.store import RoutingStore
from vardlinje.db import Database
from vardlinje.migrate import alembic_config, upgrade

from .conftest import T0, call, nurse

CRISIS = Allowance(Step.NATIONAL, "crisis")


def crisis_rules(rules: RoutingRules, *regions: str) -> RoutingRules:
    return replace(rules, crisis=frozenset(regions))


# --- the policy ------------------------------------------------------------------------------------------


def test_switch_on_for_one_region_opens_the_national_pool_at_once(rules: RoutingRules) -> None:
    """Jämtland (23) switched: its fresh call may go at once to the national queue's regions, named
    "crisis"; its own nurses stay first; Norrbotten (25), not switched, stays with its own nurses."""
    on = crisis_rules(rules, "23")
    assert eligible_regions(call(region="23"), T0, rules) == {"23": Allowance(Step.OWN)}
    assert eligible_regions(call(region="23"), T0, on) == {"23": Allowance(Step.OWN), "01": CRISIS, "12": CRISIS,
                                                           "14": CRISIS}
    assert eligible_regions(call(region="25"), T0, on) == {"25": Allowance(Step.OWN)}


def test_switch_for_all_regions_redirects_every_region(rules: RoutingRules) -> None:
    """"*" redirects every real region's calls, those of a region serving the national queue included
    (its own nurses stay own, the other serving regions come in as "crisis")."""
    everywhere = crisis_rules(rules, CRISIS_ALL)
    assert eligible_regions(call(region="25"), T0, everywhere) == {"25": Allowance(Step.OWN), "01": CRISIS,
                                                                   "12": CRISIS, "14": CRISIS}
    assert eligible_regions(call(region="01"), T0, everywhere) == {"01": Allowance(Step.OWN), "12": CRISIS,
                                                                   "14": CRISIS}


def test_switched_off_again_the_call_is_regional_again(rules: RoutingRules) -> None:
    """The same waiting call follows the switch both ways: on, the national regions; off, its own only."""
    waiting = call(region="23", at=T0)
    now = T0 + timedelta(seconds=30)
    assert set(eligible_regions(waiting, now, crisis_rules(rules, "23"))) == {"23", "01", "12", "14"}
    assert eligible_regions(waiting, now, crisis_rules(rules)) == {"23": Allowance(Step.OWN)}
    assert eligible_regions(waiting, now, crisis_rules(rules, "25")) == {"23": Allowance(Step.OWN)}


def test_a_waiting_call_is_offered_nationally_at_the_instant_of_the_flip(rules: RoutingRules) -> None:
    """A call waiting 120 s (below every threshold) with only a Stockholm nurse free: no offer without the
    switch, an offer at the very same instant with it, none again once it is off."""
    waiting = [call("c1", region="23", at=T0)]
    free = [nurse("n01", region="01", since=T0)]
    now = T0 + timedelta(seconds=120)
    assert decide(now, waiting, free, rules) == []
    offers = decide(now, waiting, free, crisis_rules(rules, "23"))
    assert [(o.nurse_id, o.step, o.agreement, o.via_region) for o in offers] == [("n01", Step.NATIONAL, "crisis",
                                                                                  "01")]
    assert decide(now, waiting, free, crisis_rules(rules)) == []


def test_national_calls_are_not_affected(rules: RoutingRules) -> None:
    """A national call is the same with or without the switch: national step without an agreement name,
    the national queue's skills, the same nurse chosen."""
    everywhere = crisis_rules(rules, CRISIS_ALL, "01")
    national = call(region=NATIONAL)
    assert eligible_regions(national, T0, everywhere) == eligible_regions(national, T0, rules) == {
        "01": Allowance(Step.NATIONAL), "12": Allowance(Step.NATIONAL), "14": Allowance(Step.NATIONAL)}
    assert required_skills(national, everywhere) == required_skills(national, rules) == {"triage": 3}
    nurses = [nurse(f"n{r}", region=r, skills={"triage": 3}) for r in ("01", "12", "14")]
    for i in range(50):
        national = call(f"x{i}", region=NATIONAL)
        assert best_nurse_for(national, T0, nurses, everywhere) == best_nurse_for(national, T0, nurses, rules)


def test_redirected_calls_keep_their_own_skills(rules: RoutingRules) -> None:
    """The national queue's triage 3 is not asked of a redirected call: a triage-2 nurse of a national
    region takes it (she could not take a national call), and the region's own triage-2 nurse too."""
    on = crisis_rules(rules, "23")
    redirected = call(region="23", skills={"triage": 2})
    assert required_skills(redirected, on) == {"triage": 2}
    helper = nurse("n01", region="01", skills={"triage": 2})
    offer = best_nurse_for(redirected, T0, [helper], on)
    assert offer is not None and offer.nurse_id == "n01" and offer.agreement == "crisis"
    assert best_nurse_for(call(region=NATIONAL), T0, [helper], on) is None
    own = best_nurse_for(redirected, T0, [helper, nurse("n23", region="23", skills={"triage": 2},
                                                        since=T0 + timedelta(seconds=1))], on)
    assert own is not None and own.nurse_id == "n23" and own.step is Step.OWN


def test_more_specific_steps_win_over_the_redirect(rules: RoutingRules) -> None:
    """Skåne (12) switched, its call waiting 180 s: the southern partners stay partners, only 01 and 14
    come in as "crisis"; the nurse chosen is own first, then a partner, then a national region."""
    on = crisis_rules(rules, "12")
    waiting = call("c12", region="12", at=T0)
    now = T0 + timedelta(seconds=180)
    partner = Allowance(Step.PARTNER, "syd_geografisk")
    assert eligible_regions(waiting, now, on) == {"12": Allowance(Step.OWN), "10": partner, "07": partner,
                                                  "13": partner, "01": CRISIS, "14": CRISIS}
    # The national regions idle longest: only the step keeps them behind.
    n01, n13 = nurse("n01", region="01", since=T0 - timedelta(hours=2)), nurse("n13", region="13", since=T0)
    n12 = nurse("n12", region="12", since=T0 + timedelta(seconds=10))
    for nurses, chosen in (([n01, n13, n12], "n12"), ([n01, n13], "n13"), ([n01], "n01")):
        offer = best_nurse_for(waiting, now, nurses, on)
        assert offer is not None and offer.nurse_id == chosen


def test_the_pool_overflow_of_a_switched_region_is_named_crisis(rules: RoutingRules) -> None:
    """Jämtland overflows to the national pool after 600 s anyway; while switched, the reason reported
    is the switch."""
    waiting = call(region="23", at=T0)
    later = T0 + timedelta(seconds=600)
    assert eligible_regions(waiting, later, rules)["01"] == Allowance(Step.NATIONAL)
    assert eligible_regions(waiting, later, crisis_rules(rules, "23"))["01"] == CRISIS


def test_weights_share_the_redirected_calls(rules: RoutingRules) -> None:
    """The shipped weights 01:2, 12:1, 14:2 share redirected calls about 40/20/40 % by the same weighted
    order as national calls; a region with weight 0 gets none, even when its nurse is the only one free."""
    on = crisis_rules(rules, CRISIS_ALL)
    nurses = [nurse(f"n{r}", region=r) for r in ("01", "12", "14")]
    won: Counter[str] = Counter()
    for i in range(4000):
        redirected = call(f"r{i}", region="25")
        offer = best_nurse_for(redirected, T0, nurses, on)
        assert offer is not None and offer.agreement == "crisis"
        order = national_order(redirected.call_id, on.national.weights, ["01", "12", "14"])
        assert offer.via_region == min(order, key=order.__getitem__)
        won[offer.via_region] += 1
    assert 0.36 < won["01"] / 4000 < 0.44 and 0.36 < won["14"] / 4000 < 0.44
    assert 0.16 < won["12"] / 4000 < 0.24
    no_14 = replace(on, national=replace(on.national, weights={"01": 2, "12": 1, "14": 0}))
    assert "14" not in eligible_regions(call(region="25"), T0, no_14)
    assert best_nurse_for(call(region="25"), T0, [nurse("n14", region="14")], no_14) is None


# --- the engine on both stores ---------------------------------------------------------------------------


async def test_engine_follows_the_switch_for_waiting_calls(store: RoutingStore, rules: RoutingRules) -> None:
    """Two Jämtland calls wait with a Stockholm nurse free: nothing until 23 is switched, then the first is
    offered on the next tick (national, "crisis"); switched off, the second waits though a Västra
    Götaland nurse is free; switched on for all regions, she gets it."""
    engine = RoutingEngine(store, rules)
    await store.upsert_nurse(nurse("n01", region="01", since=T0))
    for i, call_id in enumerate(("c1", "c2")):
        events = await engine.call_arrived(call(call_id, region="23", at=T0 + timedelta(seconds=i)),
                                           T0 + timedelta(seconds=i))
        assert [e.kind for e in events] == ["queued"]
    assert await engine.tick(T0 + timedelta(seconds=60)) == []

    engine.rules = with_crisis(rules, CrisisState((Redirect("23", T0, "nils", "telefoni nere"),), log_id=1))
    events = await engine.tick(T0 + timedelta(seconds=61))
    assert [(e.kind, e.call_id, e.nurse_id, e.step, e.agreement, e.region, e.via_region) for e in events] == [
        ("offered", "c1", "n01", Step.NATIONAL, "crisis", "23", "01")]

    engine.rules = with_crisis(rules, CrisisState(log_id=2))
    await store.upsert_nurse(nurse("n14", region="14", since=T0 + timedelta(seconds=62)))
    assert await engine.tick(T0 + timedelta(seconds=63)) == []

    engine.rules = with_crisis(rules, CrisisState((Redirect(CRISIS_ALL, T0, "nils", "nationell kris"),), log_id=3))
    events = await engine.tick(T0 + timedelta(seconds=64))
    assert [(e.kind, e.call_id, e.nurse_id, e.agreement) for e in events] == [("offered", "c2", "n14", "crisis")]


# --- the switch: SQL log + Redis ---------------------------------------------------------------------------


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def names() -> dict[str, str]:
    """A key and channel of this test's own on the shared Redis."""
    tag = secrets.token_hex(4)
    return {"key": f"test:{tag}:crisis", "channel": f"test:{tag}:crisis"}


def make_switch(database: Database, redis: Redis, names: dict[str, str], *,
                on_change: OnChange | None = None) -> CrisisSwitch:
    return CrisisSwitch(database, redis, key=names["key"], channel=names["channel"], poll_seconds=3600,
                        on_change=on_change)


async def stored(redis: Redis, key: str) -> CrisisState | None:
    raw = await redis.get(key)
    return None if raw is None else CrisisState.from_json(json.loads(raw))


async def test_set_logs_every_change_and_keeps_the_live_state(database: Database, redis: Redis,
                                                             names: dict[str, str]) -> None:
    """On for 01 and 03, off for 03: each change is a row with who, when and why; Redis holds the state
    the log folds to; the newest changes come first; the instance's state and callback follow."""
    seen: list[CrisisState] = []
    switch = make_switch(database, redis, names, on_change=seen.append)
    first = await switch.set(["03", "01", "03"], True, "nils", "  IT-haveri\n i Stockholm ", T0)
    assert first.change.regions == ("01", "03") and first.change.reason == "IT-haveri i Stockholm"
    assert first.state.regions == {"01", "03"} and first.state.redirect("01") == Redirect("01", T0, "nils",
                                                                                         "IT-haveri i Stockholm")
    later = T0 + timedelta(minutes=5)
    second = await switch.set(["03"], False, "rita", "Uppsala klarar sig", later)
    assert second.state.regions == {"01"} and second.state.log_id == second.change.id > first.change.id
    assert await stored(redis, names["key"]) == second.state == await switch.current() == switch.state
    assert seen == [first.state, second.state]
    recent = await switch.recent(10)
    assert [(c.regions, c.active, c.by, c.at) for c in recent] == [(("03",), False, "rita", later),
                                                                  (("01", "03"), True, "nils", T0)]
    assert [c.id for c in await switch.recent(1)] == [second.change.id]
    assert database.run_sync(state_from_log) == second.state


@pytest.mark.parametrize(
    ("regions", "by", "reason", "error", "fragment"),
    [
        (["99"], "nils", "x", UnknownRegion, "unknown region '99'"),
        (["1"], "nils", "x", UnknownRegion, "county codes are 01, 03"),
        ([], "nils", "x", InvalidChange, "at least one region"),
        (["*", "01"], "nils", "x", InvalidChange, "cannot be combined"),
        (["01"], "nils", " \n ", InvalidChange, "a reason is required"),
        (["01"], "  ", "x", InvalidChange, "the user is required"),
        (["01"], "nils", "x" * 501, InvalidChange, "longer than 500"),
    ],
)
async def test_invalid_changes_are_refused_and_not_logged(database: Database, redis: Redis, names: dict[str, str],
                                                          regions: list[str], by: str, reason: str,
                                                          error: type[Exception], fragment: str) -> None:
    """Unknown regions, no region, "*" mixed with regions, no reason, no user, a reason over 500
    characters: a clear error, and neither the log nor Redis changes."""
    switch = make_switch(database, redis, names)
    with pytest.raises(error, match=fragment):
        await switch.set(regions, True, by, reason, T0)
    assert await switch.recent() == [] and await redis.get(names["key"]) is None
    ok = await switch.set(["01"], True, "nils", "x" * 500, T0)  # exactly the limit is fine
    assert ok.state.regions == {"01"}


async def test_switching_off_needs_the_regions_own_redirect(database: Database, redis: Redis,
                                                            names: dict[str, str]) -> None:
    """Off for a region not redirected is refused; under "all regions" a single region cannot be taken
    out (switch all off instead); "all" off leaves the regions switched on one by one."""
    switch = make_switch(database, redis, names)
    with pytest.raises(NotRedirected, match="region 05 is not redirected"):
        await switch.set(["05"], False, "nils", "fel", T0)
    await switch.set(["03"], True, "rita", "Uppsala", T0)
    await switch.set(["*"], True, "nils", "nationell kris", T0 + timedelta(minutes=1))
    with pytest.raises(NotRedirected, match="switch off all") as refused:
        await switch.set(["01"], False, "nils", "Stockholm klarar sig", T0 + timedelta(minutes=2))
    assert "alla regioner är omdirigerade" in refused.value.sv
    after = await switch.set(["*"], False, "nils", "krisen över", T0 + timedelta(minutes=3))
    assert after.state.regions == {"03"} and after.state.covers("03") and not after.state.covers("01")
    with pytest.raises(NotRedirected, match="all regions are not redirected now"):
        await switch.set(["*"], False, "nils", "igen", T0 + timedelta(minutes=4))
    assert len(await switch.recent()) == 3


async def test_a_fresh_redis_is_restored_from_the_log(database: Database, redis: Redis,
                                                      names: dict[str, str]) -> None:
    """An app restart with an empty Redis: the active crisis comes back from the log with who, when and
    why, is written to Redis again and handed to the engine's callback — it is not silently dropped."""
    before = await make_switch(database, redis, names).set(["09", "01"], True, "nils", "storm på Gotland", T0)
    await redis.delete(names["key"])
    seen: list[CrisisState] = []
    restarted = make_switch(database, redis, names, on_change=seen.append)
    assert restarted.state == CrisisState()
    assert await restarted.refresh() is True
    assert restarted.state == before.state and seen == [before.state]
    assert restarted.state.redirect("09") == Redirect("09", T0, "nils", "storm på Gotland")
    assert await stored(redis, names["key"]) == before.state
    assert await restarted.refresh() is False  # nothing new: no second callback
    await redis.delete(names["key"])
    assert await make_switch(database, redis, names).current() == before.state  # a read restores too


async def test_redis_that_disagrees_with_the_log_is_rebuilt(database: Database, redis: Redis,
                                                            names: dict[str, str]) -> None:
    """The log is the truth: a Redis state behind the log (a lost write, an old snapshot) or ahead of it
    (another database) is replaced by the log's state."""
    switch = make_switch(database, redis, names)
    done = await switch.set(["12"], True, "nils", "Skåne", T0)
    await redis.set(names["key"], json.dumps(CrisisState().to_json()))  # behind: no redirects, log id 0
    assert await switch.reconcile() == done.state
    ahead = CrisisState((Redirect("25", T0, "x", "y"),), log_id=done.state.log_id + 10)
    await redis.set(names["key"], json.dumps(ahead.to_json()))
    assert await switch.reconcile() == done.state == await stored(redis, names["key"])


async def test_other_instances_hear_a_change_at_once(database: Database, redis: Redis, redis_url: str,
                                                     names: dict[str, str]) -> None:
    """Instance B's listener (its own connection, polling hourly) gets A's change through pub/sub within
    a second, on and off, and hands each new state to its callback."""
    other = Redis.from_url(redis_url)
    heard: asyncio.Queue[CrisisState] = asyncio.Queue()
    b = make_switch(database, other, names, on_change=heard.put_nowait)
    stop = asyncio.Event()
    task = asyncio.create_task(b.listen(stop))
    try:
        await asyncio.wait_for(b.subscribed.wait(), 5)
        a = make_switch(database, redis, names)
        on = await a.set(["20"], True, "nils", "Dalarna", T0)
        assert await asyncio.wait_for(heard.get(), 1) == on.state
        off = await a.set(["20"], False, "nils", "Dalarna klar", T0 + timedelta(minutes=1))
        assert await asyncio.wait_for(heard.get(), 1) == off.state == b.state
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await other.aclose()


async def test_concurrent_changes_from_two_instances_are_serialised(database: Database, redis: Redis,
                                                                    redis_url: str, names: dict[str, str]) -> None:
    """Two instances (own connections) switching different regions at the same time, 12 each: every
    change is logged once and Redis ends with exactly the state the log folds to."""
    other = Redis.from_url(redis_url)
    try:
        a, b = make_switch(database, redis, names), make_switch(database, other, names)
        regions_a, regions_b = ["01", "03", "04", "05", "06", "07"], ["08", "09", "10", "12", "13", "14"]

        async def run(switch: CrisisSwitch, regions: list[str], who: str) -> None:
            for i, region in enumerate(regions):
                await switch.set([region], True, who, "test", T0 + timedelta(seconds=i))
            for i, region in enumerate(regions[::2]):
                await switch.set([region], False, who, "test", T0 + timedelta(seconds=10 + i))

        await asyncio.gather(run(a, regions_a, "a"), run(b, regions_b, "b"))
        truth = database.run_sync(state_from_log)
        assert truth.regions == set(regions_a[1::2] + regions_b[1::2])
        assert await stored(redis, names["key"]) == truth
        changes = await a.recent(100)
        assert len(changes) == 18 and truth.log_id == max(c.id for c in changes)
    finally:
        await other.aclose()


async def test_the_switch_drives_the_engine(database: Database, redis: Redis, names: dict[str, str]) -> None:
    """Wired as the app wires it (on_change replaces the engine's rules, then ticks), a switch turns a
    waiting call into an offer at once, and back."""
    base = RoutingRules()
    engine = RoutingEngine(MemoryStore(), replace(base, national=replace(base.national, served_by=("01",),
                                                                        weights={"01": 1.0})))
    base = engine.rules
    ticks: list[str] = []

    async def follow(state: CrisisState) -> None:
        engine.rules = with_crisis(base, state)
        ticks.extend(e.kind for e in await engine.tick(T0 + timedelta(seconds=5)))

    switch = make_switch(database, redis, names, on_change=follow)
    await engine.store.upsert_nurse(nurse("n01", region="01", since=T0))
    await engine.call_arrived(call("c1", region="23", at=T0), T0)
    await switch.set(["23"], True, "nils", "Jämtland", T0 + timedelta(seconds=5))
    assert ticks == ["offered"] and engine.rules.crisis == {"23"}
    await switch.set(["23"], False, "nils", "klart", T0 + timedelta(seconds=6))
    assert engine.rules.crisis == frozenset()


def test_crisis_change_is_append_only_in_the_database(database: Database) -> None:
    """The database itself refuses UPDATE and DELETE of logged switch changes."""
    from routing.crisis_models import CrisisChange

    database.run_sync(lambda s: s.add(CrisisChange(at=T0, regions=["01"], active=True, by="nils", reason="x")))
    for statement in ("UPDATE crisis_change SET active = false", "DELETE FROM crisis_change"):
        with pytest.raises(DBAPIError, match="append-only"):
            database.run_sync(lambda s, q=statement: s.connection().execute(text(q)))  # type: ignore[misc]
    assert [c.active for c in database.run_sync(crisis.read_log)] == [True]


def test_migration_0005_downgrades_and_upgrades(db_url: str) -> None:
    """0005 is reversible on SQLite and PostgreSQL: down to 0004 drops crisis_change (and its triggers),
    up brings it back, append-only again."""
    from alembic import command

    command.downgrade(alembic_config(db_url), "0004")
    engine = sqlalchemy.create_engine(db_url)
    try:
        assert "crisis_change" not in sqlalchemy.inspect(engine).get_table_names()
        upgrade(db_url)
        assert "crisis_change" in sqlalchemy.inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO crisis_change (at, regions, active, by, reason) "
                              "VALUES (:at, '[\"01\"]', true, 'nils', 'x')"), {"at": T0})
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM crisis_change"))
    finally:
        engine.dispose()


# --- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def runner(db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    """The CLI on this test's database and the shared Redis, whose default crisis key is cleared."""
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    monkeypatch.setenv("VARDLINJE_REDIS_URL", redis_url)

    async def clear() -> None:
        client = Redis.from_url(redis_url)
        await client.delete(crisis.KEY, f"{crisis.KEY}:lock")
        await client.aclose()

    asyncio.run(clear())
    yield CliRunner()
    asyncio.run(clear())


def test_cli_on_status_off(runner: CliRunner, database: Database) -> None:
    """`on` for two regions and for all, `status` with who/when/why and the latest changes, `off`."""
    on = runner.invoke(crisis_group, ["on", "--region", "01", "--region", "03", "--by", "nils",
                                      "--reason", "IT-haveri"])
    assert on.exit_code == 0, on.output
    assert "redirected to the national queue: 01 Region Stockholm, 03 Region Uppsala (change #1)" in on.output
    status = runner.invoke(crisis_group, ["status"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0] == "Redirected to the national queue:"
    assert lines[1].startswith("  01 Region Stockholm: since ") and lines[1].endswith(" by nils: IT-haveri")
    assert "Latest changes (1):" in status.output and "ON   01 Region Stockholm, 03 Region Uppsala" in status.output

    off = runner.invoke(crisis_group, ["off", "--region", "03", "--by", "rita", "--reason", "klart"])
    assert off.exit_code == 0, off.output
    assert "back to normal routing: 03 Region Uppsala (change #2)" in off.output
    assert "redirected now: 01 Region Stockholm" in off.output
    everywhere = runner.invoke(crisis_group, ["on", "--all", "--by", "nils", "--reason", "nationell kris"])
    assert everywhere.exit_code == 0 and "redirected now: alla regioner, 01 Region Stockholm" in everywhere.output
    status = runner.invoke(crisis_group, ["status", "--last", "2"])
    assert "Latest changes (2):" in status.output and "#3" in status.output and "#1 " not in status.output
    assert database.run_sync(state_from_log).regions == {"*", "01"}


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["on", "--region", "99", "--by", "nils", "--reason", "x"], 1, "unknown region '99'"),
        (["on", "--region", "01", "--all", "--by", "nils", "--reason", "x"], 2, "not both"),
        (["on", "--by", "nils", "--reason", "x"], 2, "give --region"),
        (["on", "--region", "01", "--by", "nils"], 2, "--reason"),
        (["on", "--region", "01", "--reason", "x"], 2, "--by"),
        (["on", "--region", "01", "--by", "nils", "--reason", " "], 1, "a reason is required"),
        (["off", "--region", "05", "--by", "nils", "--reason", "x"], 1, "region 05 is not redirected"),
    ],
)
def test_cli_refuses_clearly_and_logs_nothing(runner: CliRunner, database: Database, args: list[str], code: int,
                                              fragment: str) -> None:
    """Bad regions, --all with --region, no target, no reason, no user, off for a region not redirected:
    one clear line, no traceback, nothing logged."""
    result = runner.invoke(crisis_group, args)
    assert result.exit_code == code, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert database.run_sync(crisis.read_log) == []


def test_cli_without_redis(runner: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis down: `on` fails with one line and logs nothing; `status` shows the log's state with a note."""
    assert runner.invoke(crisis_group, ["on", "--region", "01", "--by", "nils", "--reason", "x"]).exit_code == 0
    monkeypatch.setenv("VARDLINJE_REDIS_URL", "redis://127.0.0.1:1/0")
    failed = runner.invoke(crisis_group, ["on", "--region", "03", "--by", "nils", "--reason", "x"])
    assert failed.exit_code == 1 and "Redis failed" in failed.output
    assert len(database.run_sync(crisis.read_log)) == 1
    status = runner.invoke(crisis_group, ["status"])
    assert status.exit_code == 0, status.output
    assert "the state shown is the log's" in status.output and "01 Region Stockholm: since" in status.output


def test_time_is_shown_in_stockholm_time(runner: CliRunner, database: Database, redis_url: str) -> None:
    """`status` shows the change's instant in Swedish local time with its zone (CET in winter)."""

    async def set_it() -> None:
        client = Redis.from_url(redis_url)
        await CrisisSwitch(database, client).set(["01"], True, "nils", "x", datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
        await client.aclose()

    asyncio.run(set_it())
    assert "since 2026-01-06 00:30 CET by nils: x" in runner.invoke(crisis_group, ["status"]).output
