"""The routing simulator and its documented scenarios (routing/scenarios/, docs/simulator.md).

Each shipped scenario runs on the real engine and its events show the rule it documents working — and
not working outside its conditions (no night step before the window opens, no cover outside the
meeting, partners only past the threshold or the queue length, the national pool only after its wait).
Also: the same events on the in-memory store and on the real Redis, scenario errors that name the file,
field and line, the estimate and its error in the events and the summary, and the CLI's output."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from config.hours import STOCKHOLM
from routing.cli import routing_group, run_on
from routing.memory import MemoryStore
from routing.model import RoutingRules
from routing.scenario import SCENARIO_DIR, ScenarioError, compile_scenario, load_scenario, parse_scenario
from routing.simulator import Result, simulate

Event = dict[str, Any]
_results: dict[str, Result] = {}


async def run(name: str) -> Result:
    """A shipped scenario on the in-memory store, once per test session."""
    if name not in _results:
        _results[name] = await simulate(load_scenario(name), MemoryStore(), keep_events=True)
    return _results[name]


def kind(result: Result, *kinds: str) -> list[Event]:
    return [e for e in result.events if e["kind"] in kinds]


def local(event: Event) -> datetime:
    return datetime.fromisoformat(event["at"]).astimezone(STOCKHOLM)


def waiting_counts(result: Result, region: str) -> Iterator[tuple[Event, int]]:
    """Each event with the number of the region's calls waiting (queued, not ringing) just before it."""
    waiting: set[str] = set()
    for event in result.events:
        yield event, len(waiting)
        if event.get("region") != region:
            continue
        if event["kind"] in ("queued", "missed"):
            waiting.add(event["call"])
        elif event["kind"] in ("offered", "abandoned", "answered"):
            waiting.discard(event["call"])


SHIPPED = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml") if p.stem != "big")


@pytest.mark.parametrize("name", SHIPPED)
async def test_every_call_is_accounted_for(name: str) -> None:
    """In every shipped scenario each queued call ends answered, abandoned or still waiting at the end —
    never lost or counted twice — and every answer follows an offer to the same nurse."""
    result = await run(name)
    summary = result.summary()
    for region, figures in summary["regions"].items():
        assert figures["offered"] == figures["answered"] + figures["abandoned"] + figures["waiting_at_end"], region
    offered_to = {}
    for event in result.events:
        if event["kind"] == "offered":
            offered_to[event["call"]] = event["nurse"]
        elif event["kind"] == "answered":
            assert offered_to[event["call"]] == event["nurse"]
    assert summary["all"]["answered"] > 0


async def test_own_region_only() -> None:
    """Skåne's calls go to Skåne's nurses only (step own), even while calls wait and Västra Götaland's
    nurses are idle: there is no agreement between 12 and 14."""
    result = await run("own")
    answered = kind(result, "answered")
    assert answered and all(e["step"] == "own" and e["via"] == "12" for e in answered)
    assert not [e for e in kind(result, "offered") if e["nurse"].startswith("n14")]
    assert max(e["wait"] for e in answered) > 120  # calls did wait meanwhile


async def test_geographic_partners_after_the_wait_or_the_queue_length() -> None:
    """Blekinge's calls reach Skåne (syd_geografisk) only after 180 s of waiting or while at least 15 of
    Blekinge's calls wait; both triggers happen in the scenario."""
    result = await run("partners")
    by_wait = by_length = 0
    for event, waiting in waiting_counts(result, "10"):
        if event["kind"] != "offered" or event["step"] != "partner":
            continue
        assert event["region"] == "10" and event["via"] == "12" and event["agreement"] == "syd_geografisk"
        if event["wait"] >= 180:
            by_wait += 1
        else:
            # The queue length is counted at the start of the decision, before its offers.
            assert waiting + sum(1 for e in kind(result, "offered") if e["t"] == event["t"]) >= 15, event
            by_length += 1
    assert by_wait > 0 and by_length > 0


async def test_night_collaboration_from_the_window() -> None:
    """Västerbotten answers Jämtland's and Norrbotten's calls (natt_norr) from 22:00, never before, and
    through midnight; the two regions' nurses, off at 22:00, get no new offers after it."""
    result = await run("night")
    night = [e for e in kind(result, "offered") if e["step"] == "night"]
    assert night
    assert all(e["via"] == "24" and e["region"] in ("23", "25") and e["agreement"] == "natt_norr" for e in night)
    window_opens = datetime(2026, 11, 24, 22, 0, tzinfo=STOCKHOLM)
    assert min(local(e) for e in night) >= window_opens
    assert any(local(e).date() > window_opens.date() for e in night)  # after midnight too
    answered = {e["region"] for e in kind(result, "answered") if e["step"] == "night"}
    assert answered == {"23", "25"}
    late = [e for e in kind(result, "offered") if e["nurse"].startswith(("n23", "n25")) and local(e) >= window_opens]
    assert late == []


async def test_around_the_clock_at_once() -> None:
    """Stockholm takes Gotland's calls (gotland_dygnet_runt) at once, by day, with no wait threshold;
    Gotland's own nurse still answers some."""
    result = await run("around_the_clock")
    steps = Counter((e["region"], e["step"], e["via"]) for e in kind(result, "answered"))
    assert steps[("09", "around_the_clock", "01")] > 0 and steps[("09", "own", "09")] > 0
    quick = [e for e in kind(result, "offered") if e["step"] == "around_the_clock" and e["wait"] < 30]
    assert quick and all(e["agreement"] == "gotland_dygnet_runt" for e in quick)


async def test_meeting_cover_only_during_the_slot() -> None:
    """Västra Götaland covers Halland (halland_motestackning) on Tuesday 13:00-14:00 only, while
    Halland's nurses are in their meeting and get no offers."""
    result = await run("meeting_cover")
    cover = [e for e in kind(result, "offered") if e["step"] == "cover"]
    assert cover and all(e["via"] == "14" and e["agreement"] == "halland_motestackning" for e in cover)
    assert all(13 <= local(e).hour < 14 for e in cover)
    in_meeting = [e for e in kind(result, "offered") if e["nurse"].startswith("n13") and local(e).hour == 13]
    assert in_meeting == []


async def test_national_queue_by_weights() -> None:
    """Callers from abroad are national calls; 01, 12 and 14 answer them about 2 : 1 : 2 (weights),
    and nurses below triage level 3 never get one."""
    result = await run("national")
    answered = kind(result, "answered")
    assert answered and all(e["region"] == "national" and e["step"] == "national" for e in answered)
    shares = Counter(e["via"] for e in answered)
    total = sum(shares.values())
    assert shares["01"] / total == pytest.approx(0.4, abs=0.1)
    assert shares["12"] / total == pytest.approx(0.2, abs=0.1)
    assert shares["14"] / total == pytest.approx(0.4, abs=0.1)
    assert not [e for e in kind(result, "offered") if "junior" in e["nurse"]]
    callers = {e["caller"] for e in kind(result, "queued")}
    assert all(not c.startswith("+46") for c in callers) and len(callers) == 5


async def test_national_pool_after_its_wait() -> None:
    """Jämtland's calls reach the national pool (01, 12) only after 600 s (pool_after_seconds), the
    northern partners only after 300 s; both happen."""
    result = await run("national_pool")
    offered = [e for e in kind(result, "offered") if e["region"] == "23"]
    pool = [e for e in offered if e["step"] == "national"]
    partner = [e for e in offered if e["step"] == "partner"]
    assert pool and all(e["wait"] >= 600 and e["via"] in ("01", "12") for e in pool)
    assert partner and all(e["wait"] >= 300 and e["agreement"] == "norr_geografisk" for e in partner)
    assert any(e["step"] == "national" for e in kind(result, "answered") if e["region"] == "23")


async def test_crisis_switch_redirects_while_on() -> None:
    """While the crisis switch is on for Skåne (10:15-10:45), its calls go to the national queue's regions
    at once (agreement "crisis"); before and after, they do not."""
    if "crisis" not in RoutingRules.__dataclass_fields__:
        pytest.skip("RoutingRules has no crisis field in this version of routing")
    result = await run("crisis")
    assert [e["regions"] for e in kind(result, "crisis")] == [["12"], []]
    redirected = [e for e in kind(result, "offered") if e.get("agreement") == "crisis"]
    assert redirected and all(e["region"] == "12" and e["via"] in ("01", "14") for e in redirected)
    start, end = (datetime(2026, 11, 25, 10, m, tzinfo=STOCKHOLM) for m in (15, 45))
    assert all(start <= local(e) < end for e in redirected)
    assert any(e["wait"] > 60 for e in redirected if local(e) == start)  # calls already waiting follow


async def test_big_scenario_scaled_down_shows_every_step() -> None:
    """The big scenario at a fifth of its size (2,000 calls, 100 nurses) runs, and own, partner, night
    and national steps all occur in it (the full size is the benchmark: docs/simulator.md)."""
    scenario, lines = parse_scenario((SCENARIO_DIR / "big.yaml").read_text(encoding="utf-8"), "big.yaml")
    small = scenario.model_copy(update={
        "streams": [s.model_copy(update={"count": max(1, (s.count or 0) // 5)}) for s in scenario.streams],
        "nurses": [g.model_copy(update={"count": max(1, g.count // 5)}) for g in scenario.nurses],
    })
    plan = compile_scenario(small, "big.yaml", lines)
    assert 1900 <= len(plan.calls) <= 2100
    result = await simulate(plan, MemoryStore(), keep_events=True)
    steps = {e["step"] for e in kind(result, "answered")}
    assert {"own", "partner", "night", "national"} <= steps


async def test_same_events_on_memory_and_redis(redis_url: str) -> None:
    """One scenario on the in-memory store and on the real Redis gives identical event lines (estimates
    included), and the simulator's Redis keys are gone afterwards."""
    plan = load_scenario("partners")
    on_memory = await run_on(plan, "memory", None, keep_events=True)
    on_redis = await run_on(plan, "redis", redis_url, keep_events=True)
    assert on_memory.events == on_redis.events
    assert on_memory.summary()["regions"] == on_redis.summary()["regions"]
    client = Redis.from_url(redis_url)
    try:
        assert [k async for k in client.scan_iter(match="vardlinje:sim:*")] == []
    finally:
        await client.aclose()


async def test_estimates_and_their_error() -> None:
    """Every queued line has the estimate and position, every answered one its error, and the summary
    gives MAE and bias per region from them."""
    result = await run("meeting_cover")
    queued = kind(result, "queued")
    assert queued and all("ewt" in e and e["position"] >= 1 for e in queued)
    errors = [e["ewt_error"] for e in kind(result, "answered")]
    assert len(errors) == len(kind(result, "answered"))
    figures = result.summary()["all"]
    assert figures["ewt_mae"] == pytest.approx(sum(abs(x) for x in errors) / len(errors), abs=0.2)
    assert figures["ewt_bias"] == pytest.approx(sum(errors) / len(errors), abs=0.2)
    assert figures["ewt_mae_queued"] is not None and figures["ewt_mae_queued"] >= figures["ewt_mae"]
    # Those who queued were told something sensible: long waits got long estimates.
    waited = {e["call"]: e["wait"] for e in kind(result, "answered")}
    told = {e["call"]: e["ewt"] for e in queued if e["call"] in waited and e["ewt"] is not None}
    long_ = [told[c] for c in told if waited[c] > 240]
    short = [told[c] for c in told if waited[c] < 30]
    assert long_ and short and sum(long_) / len(long_) > 3 * sum(short) / len(short)


async def test_runs_are_deterministic() -> None:
    """The same scenario and seed give the same events; another seed gives other calls."""
    plan = load_scenario("around_the_clock")
    again = await simulate(plan, MemoryStore(), keep_events=True)
    assert again.events == (await run("around_the_clock")).events
    other = await simulate(load_scenario("around_the_clock", seed=99), MemoryStore(), keep_events=True)
    assert other.events != again.events


# --- scenario errors --------------------------------------------------------------------------------

BASE = """\
name: t
start: 2026-11-25T10:00
duration: 10m
nurses:
  - region: "12"
streams:
  - {region: "12", count: 3}
"""


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.problems


@pytest.mark.parametrize(("change", "expected"), [
    (("region: \"12\"\nstreams", "region: \"99\"\nstreams"), "nurses.0.region: unknown region '99'"),
    (("  - region: \"12\"\n", "  - region: \"12\"\n    skils: {triage: 3}\n"), "nurses.0.skils: unknown field"),
    (("{region: \"12\", count: 3}", "{region: \"12\"}"), "streams.0: give either rate_per_hour or count"),
    (("duration: 10m", "duration: ten minutes"), "duration: 'ten minutes' is not a duration"),
    (("start: 2026-11-25T10:00", "start: \"10:00\""), "start: the start is a date and time"),
    (("{region: \"12\", count: 3}", "{caller: \"+46999\", count: 3}"), "streams.0.caller: '+46999' resolves to no region"),
    (("{region: \"12\", count: 3}", "{region: \"12\", count: 3, start: \"11:00\"}"), "streams.0.start: 2026-11-25 11:00:00 is outside"),
    (("  - region: \"12\"\n", "  - region: \"12\"\n    handle_seconds: {min: 60}\n"), "nurses.0.handle_seconds: write a number"),
    (("duration: 10m", "duration: 10m\nrules: {only_agreements: [nope]}"), "rules.only_agreements.0: no agreement 'nope'"),
    (("duration: 10m", "duration: 10m\ncrisis: [{at: \"10:05\", regions: [\"77\"]}]"), "crisis.0.regions: unknown region '77'"),
])
def test_scenario_errors_name_the_field(change: tuple[str, str], expected: str, tmp_path: Path) -> None:
    """A broken scenario is refused with every problem as "file: field.path: message (line N)"."""
    old, new = change
    assert old in BASE
    problems = problems_of(BASE.replace(old, new, 1), tmp_path)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "bad.yaml")) for p in problems)


def test_scenario_error_lines_and_yaml_problems(tmp_path: Path) -> None:
    """The line of the offending field is given; duplicate keys and non-YAML are refused too."""
    problems = problems_of(BASE.replace('region: "12"\nstreams', 'region: "99"\nstreams'), tmp_path)
    assert problems[0].endswith("(line 5)")
    assert "duplicate key 'seed'" in problems_of(BASE + "seed: 1\nseed: 2\n", tmp_path)[0]
    assert "not valid YAML" in problems_of("name: [", tmp_path)[0]
    assert "cannot read" in problems_of_missing(tmp_path)


def problems_of_missing(tmp_path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "absent.yaml")
    return info.value.problems[0]


def test_scenario_overrides_change_the_rules(tmp_path: Path) -> None:
    """Agreements can be removed, added and the national queue changed in the scenario."""
    text = BASE + """\
rules:
  agreements:
    syd_geografisk: null
    test_partner: {kind: geographic, regions: ["12", "14"], after_wait_seconds: 30}
  weights: {"01": 1, "12": 0, "14": 1}
  pool_after_seconds: {"12": 90}
"""
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    rules = load_scenario(path).rules
    names = {g.name for g in rules.geographic}
    assert "test_partner" in names and "syd_geografisk" not in names
    assert rules.national.weights == {"01": 1, "12": 0, "14": 1}
    assert rules.national_pool_after == {"12": 90}


# --- the command ------------------------------------------------------------------------------------


def test_cli_prints_events_and_the_summary_table() -> None:
    """`routing simulate own`: JSON lines of events on stdout, the region table on stderr."""
    result = CliRunner().invoke(routing_group, ["simulate", "own"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"queued", "offered", "answered"} <= {line["kind"] for line in lines}
    assert all({"t", "at", "kind", "call"} <= set(line) for line in lines)
    table = result.stderr.splitlines()
    assert table[0].startswith("own region: ") and any(row.startswith("12 ") for row in table)
    assert any(row.startswith("all ") and "own" in row for row in table)


def test_cli_json_summary_and_events_file(tmp_path: Path) -> None:
    """`--json --events FILE`: the events go to the file, stdout has only the summary object."""
    events = tmp_path / "events.jsonl"
    result = CliRunner().invoke(routing_group, ["simulate", "night", "--json", "--events", str(events)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kind"] == "summary" and summary["store"] == "memory"
    assert summary["regions"]["23"]["answered_by_step"]["night"] > 0
    assert summary["regions"]["23"]["ewt_mae"] is not None
    assert sum(1 for _ in events.open()) == summary["events"]


def test_cli_refuses_a_bad_scenario(tmp_path: Path) -> None:
    """A scenario error is one line per problem on stderr and exit status 1, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("duration: 10m", "duration: -5"), encoding="utf-8")
    result = CliRunner().invoke(routing_group, ["simulate", str(path)])
    assert result.exit_code == 1
    assert "duration:" in result.stderr and "Traceback" not in result.output


def test_cli_lists_the_scenarios() -> None:
    """`routing scenarios` names every shipped scenario with its description."""
    result = CliRunner().invoke(routing_group, ["scenarios"])
    assert result.exit_code == 0
    names = {line.split()[0] for line in result.stdout.splitlines()}
    assert names == {p.stem for p in SCENARIO_DIR.glob("*.yaml")}
