"""Simulator scenario files: the schema (pydantic, unknown fields are errors) and their compilation into
a `Plan` — nurses with their shifts, every call with its arrival and patience, timed crisis switches and
the `RoutingRules` to run — ready for `routing.simulator`.

The format is documented in `docs/simulator.md`; the shipped scenarios are in `routing/scenarios/`.
Errors name the file, the field path and the line, like `vardlinje config check`. Everything random
(Poisson arrivals, patience) is drawn here from the scenario's seed, so a scenario is the same list of
calls on every store and every run.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from config.hours import STOCKHOLM
from config.loader import ConfigError, ConfigSet, clean_loc, line_for, load_valid_config, load_yaml
from config.regions import REGIONS
from config.resolve import NATIONAL
from config.schema import Agreement, NationalConfig, RegionId, RegionRouting

from .model import RoutingRules
from .rules import rules_from_config

#: Where the documented scenarios live; `vardlinje routing simulate night` finds `night.yaml` here.
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(Exception):
    """The scenario cannot be run; `problems` are "file: field.path: message (line N)" lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --- value types ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: object) -> object:
    """Seconds as a number, or text like "90s", "5m", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 5m, 1h30m")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groups()):
            h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return h * 3600 + mi * 60 + s
    raise ValueError(f"{value!r} is not a duration: write seconds (90) or text like 90s, 5m, 1h30m")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\+(\d+))?$")


@dataclass(frozen=True)
class TimeRef:
    """A time in a scenario: absolute (ISO 8601; without an offset it is Stockholm time), a Stockholm
    wall-clock time on the start's date ("21:30", "07:00+1" for the next day), or an offset from the
    start ("+90s", "+2h")."""

    absolute: datetime | None = None
    clock: time | None = None
    days: int = 0
    offset: float | None = None

    def resolve(self, start: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        if self.offset is not None:
            return start + timedelta(seconds=self.offset)
        assert self.clock is not None
        day: date = start.astimezone(STOCKHOLM).date() + timedelta(days=self.days)
        return datetime.combine(day, self.clock, tzinfo=STOCKHOLM)


def parse_time(value: object) -> TimeRef:
    if isinstance(value, TimeRef):
        return value
    if isinstance(value, datetime):
        return TimeRef(absolute=value if value.tzinfo else value.replace(tzinfo=STOCKHOLM))
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time: write 2026-11-24T21:00+01:00, 21:00, 07:00+1 or +90s")
    text = value.strip()
    if text.startswith("+"):
        seconds = parse_duration(text[1:])
        assert isinstance(seconds, float)
        return TimeRef(offset=seconds)
    m = _CLOCK.match(text)
    if m:
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{text!r} is not a time of day")
        return TimeRef(clock=time(hour, minute, second), days=int(m.group(4) or 0))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write 2026-11-24T21:00+01:00, 21:00, 07:00+1 or +90s") from None
    return TimeRef(absolute=parsed if parsed.tzinfo else parsed.replace(tzinfo=STOCKHOLM))


When = Annotated[TimeRef, PlainValidator(parse_time)]


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"unknown region {value!r}: county codes are {', '.join(REGIONS)}")
    return value


Region = Annotated[RegionId, AfterValidator(_known_region)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dist(Strict):
    """A random duration in seconds: a number (always that), {mean} (exponential), {min, max}
    (uniform) or {mean, sd} (log-normal: right-skewed, like real call lengths)."""

    fixed: Duration | None = None
    mean: Duration | None = None
    sd: Duration | None = None
    min: Duration | None = None
    max: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return {"fixed": value}
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Dist:
        forms = [self.fixed is not None, self.mean is not None and self.sd is None,
                 self.mean is not None and self.sd is not None, self.min is not None or self.max is not None]
        if sum(forms) != 1 or (forms[3] and (self.min is None or self.max is None or self.mean is not None)):
            raise ValueError("write a number, {mean: …}, {mean: …, sd: …} or {min: …, max: …}")
        if forms[3] and self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max is below min")
        return self

    def draw(self, rng: random.Random) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.min is not None and self.max is not None:
            return rng.uniform(self.min, self.max)
        assert self.mean is not None
        if self.mean == 0:
            return 0.0
        if self.sd is None:
            return rng.expovariate(1 / self.mean)
        sigma2 = math.log(1 + (self.sd / self.mean) ** 2)
        return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))


Skills = dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Annotated[int, Field(ge=1, le=5)]]
PauseReasonName = Literal["meeting", "break", "training", "administration"]


class PauseSpec(Strict):
    at: When
    seconds: Duration = Field(gt=0)
    reason: PauseReasonName = "meeting"


class NurseGroup(Strict):
    region: Region
    count: int = Field(1, ge=1, le=10_000)
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="id prefix; default n<region>")
    regions: list[Region] = Field(default_factory=list, description="further regions she works for")
    skills: Skills = Field(default_factory=lambda: {"triage": 3})
    start: When | None = None  # shift start; default the scenario's start
    end: When | None = None  # shift end; default the scenario's end
    handle_seconds: Dist | None = None
    wrap_seconds: Dist | None = None
    no_answer: float = Field(0.0, ge=0, le=1, description="probability that she lets an offer ring out")
    pauses: list[PauseSpec] = Field(default_factory=list)


class _CallFields(Strict):
    region: str | None = None  # county code or "national"
    caller: str | None = None  # a caller number, resolved like the IVR does (abroad → national)
    skills: Skills = Field(default_factory=lambda: {"triage": 2})
    priority: int = Field(5, ge=0, le=9)
    language: str = Field("sv", pattern=r"^[a-z]{2}$")
    patience_seconds: Dist | None = None  # none: the caller waits for ever

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:02d}"
        if isinstance(value, str) and value != NATIONAL:
            _known_region(value)
        return value


class CallSpec(_CallFields):
    """One call at a given time."""

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]+$")
    at: When

    @model_validator(mode="after")
    def _where(self) -> CallSpec:
        if (self.region is None) == (self.caller is None):
            raise ValueError("give either region or caller")
        return self


class StreamSpec(_CallFields):
    """Calls arriving at random (Poisson) or evenly over a period."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="id prefix")
    callers: list[str] | None = None  # several caller numbers, one picked per call
    start: When | None = None
    end: When | None = None
    rate_per_hour: float | None = Field(None, gt=0)
    count: int | None = Field(None, ge=1)
    arrivals: Literal["poisson", "even"] = "poisson"

    @model_validator(mode="after")
    def _shape(self) -> StreamSpec:
        if sum(x is not None for x in (self.region, self.caller, self.callers)) != 1:
            raise ValueError("give one of region, caller or callers")
        if (self.rate_per_hour is None) == (self.count is None):
            raise ValueError("give either rate_per_hour or count")
        return self


class CrisisSpec(Strict):
    at: When
    regions: list[str] = Field(min_length=1, description='county codes, or "*" for all regions')
    on: bool = True

    @field_validator("regions", mode="before")
    @classmethod
    def _codes(cls, value: object) -> object:
        if isinstance(value, list):
            value = [f"{v:02d}" if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
            for v in value:
                if v != "*":
                    _known_region(v)
        return value


class RulesOverride(Strict):
    """Changes to the configuration's national file for this scenario."""

    only_agreements: list[str] | None = None  # keep only these configured agreements (plus `agreements`)
    agreements: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")], Agreement | None] = Field(
        default_factory=dict, description="added or replaced by name; null removes one")
    served_by: list[Region] | None = None
    weights: dict[Region, float] | None = None
    pool_after_seconds: dict[Region, int] | None = None
    national_skills: Skills | None = None


class Scenario(Strict):
    name: str
    description: str = ""
    start: When
    duration: Duration = Field(gt=0)
    seed: int = 1
    config: str | None = None  # a configuration directory, relative to the scenario file; default shipped
    rules: RulesOverride = Field(default_factory=RulesOverride)
    tick_seconds: Duration = Field(60.0, gt=0)  # on whole minutes; see docs/simulator.md
    ring_seconds: Dist = Field(default_factory=lambda: Dist(min=2, max=8))
    # Ring-no-answer: the offer ends as missed. Default: the nurse's home region's `routing.ring_seconds`.
    no_answer_seconds: Duration | None = Field(None, gt=0)
    missed_pause_seconds: Duration = Field(60.0, ge=0)  # after a missed offer she is ready again after this
    handle_seconds: Dist = Field(default_factory=lambda: Dist(mean=420, sd=240))
    wrap_seconds: Dist | None = None  # default: the nurse's home region's `routing.wrap_up_seconds`
    nurses: list[NurseGroup] = Field(min_length=1)
    calls: list[CallSpec] = Field(default_factory=list)
    streams: list[StreamSpec] = Field(default_factory=list)
    crisis: list[CrisisSpec] = Field(default_factory=list)

    @field_validator("start")
    @classmethod
    def _absolute(cls, value: TimeRef) -> TimeRef:
        if value.absolute is None:
            raise ValueError("the start is a date and time, e.g. 2026-11-24T21:00 (Stockholm) or with an offset")
        return value


# --- the compiled plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NursePlan:
    nurse_id: str
    region: str
    regions: frozenset[str]
    skills: Mapping[str, int]
    start: float  # seconds from the scenario start
    end: float
    handle: Dist
    wrap: Dist
    no_answer: float  # probability of letting an offer ring out
    ring_out_seconds: float  # ring-no-answer time
    pauses: tuple[tuple[float, float, str], ...]  # (from, until, reason)


@dataclass(frozen=True)
class CallPlan:
    call_id: str
    at: float
    region: str
    skills: Mapping[str, int]
    priority: int
    language: str
    patience: float | None  # seconds; None: never gives up
    caller: str | None = None


@dataclass(frozen=True)
class CrisisPlan:
    at: float
    regions: frozenset[str]
    on: bool


@dataclass(frozen=True)
class Plan:
    name: str
    file: str
    start: datetime
    duration: float
    seed: int
    rules: RoutingRules
    tick_seconds: float
    ring: Dist
    missed_pause_seconds: float
    nurses: tuple[NursePlan, ...]
    calls: tuple[CallPlan, ...]  # by arrival time
    crisis: tuple[CrisisPlan, ...] = ()
    description: str = ""
    regions: tuple[str, ...] = field(default=())  # the call regions, for the summary

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)


# --- loading -------------------------------------------------------------------------------------


def _message(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def find_scenario(name: str | Path) -> Path:
    """A path, or the name of a shipped scenario ("night" → routing/scenarios/night.yaml)."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    return SCENARIO_DIR / f"{name}.yaml"


def parse_scenario(text: str, file: str) -> tuple[Scenario, dict[str, int]]:
    """Validate a scenario's YAML; ScenarioError lists every problem with its field path and line."""
    import yaml

    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ScenarioError([f"{file}: not valid YAML: {getattr(exc, 'problem', None) or exc}{where}"]) from None
    if doc.problems:
        raise ScenarioError([f"{file}: {path}: {message} (line {line})" for path, message, line in doc.problems])
    if not isinstance(doc.data, dict):
        raise ScenarioError([f"{file}: a scenario is a mapping of fields (name, start, duration, nurses, …)"])
    try:
        return Scenario.model_validate(doc.data), doc.lines
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path = ".".join(clean_loc(error["loc"], doc.data))
            line = line_for(doc.lines, path)
            problems.append(f"{file}: {path}: {_message(error)}" + (f" (line {line})" if line else ""))
        raise ScenarioError(problems) from None


@lru_cache(maxsize=8)
def _config(directory: str | None) -> ConfigSet:
    # Loading and checking the 22 files takes about half a second; tests and repeated runs share it.
    return load_valid_config(directory)


def load_scenario(source: str | Path, *, seed: int | None = None) -> Plan:
    """Read, validate and compile a scenario file (or a shipped scenario's name); `seed` overrides the
    file's."""
    path = find_scenario(source)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{file}: cannot read: {exc.strerror or exc}"]) from None
    scenario, lines = parse_scenario(text, file)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    return compile_scenario(scenario, file, lines, base=path.parent)


def _apply_rules(national: NationalConfig, override: RulesOverride, problem: Any) -> RoutingRules:
    agreements = dict(national.agreements)
    if override.only_agreements is not None:
        for index, name in enumerate(override.only_agreements):
            if name not in agreements:
                problem(f"rules.only_agreements.{index}", f"no agreement {name!r} in the configuration "
                        f"({', '.join(sorted(agreements))})")
        agreements = {k: v for k, v in agreements.items() if k in override.only_agreements}
    for name, agreement in override.agreements.items():
        if agreement is None:
            agreements.pop(name, None)
        else:
            agreements[name] = agreement
    queue = national.national_queue
    queue_update: dict[str, Any] = {}
    if override.served_by is not None:
        queue_update["served_by"] = list(override.served_by)
    if override.weights is not None:
        queue_update["weights"] = dict(override.weights)
    if override.pool_after_seconds is not None:
        queue_update["pool_after_seconds"] = dict(override.pool_after_seconds)
    if override.national_skills is not None:
        queue_update["skills"] = dict(override.national_skills)
    national = national.model_copy(update={"agreements": agreements,
                                           "national_queue": queue.model_copy(update=queue_update)})
    return rules_from_config(national)


def compile_scenario(scenario: Scenario, file: str, lines: Mapping[str, int] | None = None, *,
                     base: Path | None = None) -> Plan:
    """The scenario as a `Plan`: rules built, times resolved, streams drawn. ScenarioError on problems
    that need the configuration (caller numbers that resolve nowhere, unknown agreements, …)."""
    problems: list[str] = []

    def problem(path: str, message: str) -> None:
        line = line_for(dict(lines or {}), path)
        problems.append(f"{file}: {path}: {message}" + (f" (line {line})" if line else ""))

    directory = None
    if scenario.config is not None:
        directory = str(((base or Path.cwd()) / scenario.config).resolve())
    try:
        cs = _config(directory)
    except ConfigError as exc:
        raise ScenarioError([f"{file}: config: the configuration has errors:", *(f"  {i}" for i in exc.issues
                                                                               if i.severity == "error")]) from None
    assert cs.national is not None
    rules = _apply_rules(cs.national, scenario.rules, problem)
    if scenario.crisis and not hasattr(rules, "crisis"):
        problem("crisis", "this version of routing has no crisis switch (RoutingRules.crisis)")
    resolver = cs.resolver()

    start = scenario.start.absolute
    assert start is not None  # checked by the schema
    duration = scenario.duration

    def offset(ref: TimeRef | None, default: float, path: str) -> float:
        if ref is None:
            return default
        value = (ref.resolve(start) - start).total_seconds()
        if value < 0 or value > duration:
            problem(path, f"{ref.resolve(start).astimezone(STOCKHOLM):%Y-%m-%d %H:%M:%S} is outside the "
                          f"scenario ({start.astimezone(STOCKHOLM):%Y-%m-%d %H:%M} + {duration:g} s)")
        return value

    def region_of(spec: _CallFields, caller: str | None, path: str) -> str | None:
        if spec.region is not None:
            return spec.region
        found = resolver.resolve(None, caller).region
        if found is None:
            problem(path, f"{caller!r} resolves to no region (a Swedish number without a known prefix); "
                          "give region")
        return found

    nurses: list[NursePlan] = []
    seen_ids: set[str] = set()
    for g, group in enumerate(scenario.nurses):
        prefix = group.id or f"n{group.region}"
        begin = offset(group.start, 0.0, f"nurses.{g}.start")
        end = offset(group.end, duration, f"nurses.{g}.end")
        if end <= begin:
            problem(f"nurses.{g}.end", "the shift ends before it starts (a shift past midnight: 07:00+1)")
        pauses = []
        for p, pause in enumerate(group.pauses):
            at = offset(pause.at, 0.0, f"nurses.{g}.pauses.{p}.at")
            pauses.append((at, at + pause.seconds, pause.reason))
        # The live system's per-region times (the nurse's home region decides, `RegionRouting`) unless
        # the scenario says otherwise.
        configured = cs.regions[group.region].routing if group.region in cs.regions else RegionRouting()
        wrap = group.wrap_seconds or scenario.wrap_seconds or Dist(fixed=configured.wrap_up_seconds)
        ring_out = scenario.no_answer_seconds or float(configured.ring_seconds)
        for i in range(group.count):
            nurse_id = f"{prefix}-{i + 1}" if group.count > 1 or group.id is None else prefix
            if nurse_id in seen_ids:
                problem(f"nurses.{g}.id", f"nurse id {nurse_id!r} is used twice: give the groups different ids")
            seen_ids.add(nurse_id)
            nurses.append(NursePlan(nurse_id, group.region, frozenset(group.regions) - {group.region},
                                    dict(group.skills), begin, end, group.handle_seconds or scenario.handle_seconds,
                                    wrap, group.no_answer, ring_out, tuple(pauses)))

    calls: list[CallPlan] = []
    rng = random.Random(scenario.seed)

    def patience(spec: _CallFields) -> float | None:
        return spec.patience_seconds.draw(rng) if spec.patience_seconds is not None else None

    for c, spec in enumerate(scenario.calls):
        at = offset(spec.at, 0.0, f"calls.{c}.at")
        region = region_of(spec, spec.caller, f"calls.{c}.caller")
        calls.append(CallPlan(spec.id or f"c{c + 1:04d}", at, region or "", dict(spec.skills), spec.priority,
                              spec.language, patience(spec), spec.caller))
    for s, stream in enumerate(scenario.streams):
        begin = offset(stream.start, 0.0, f"streams.{s}.start")
        end = offset(stream.end, duration, f"streams.{s}.end")
        if end <= begin:
            problem(f"streams.{s}.end", "the stream ends before it starts")
            continue
        count = stream.count
        times: list[float] = []
        if stream.arrivals == "even":
            n = count if count is not None else round((stream.rate_per_hour or 0) * (end - begin) / 3600)
            times = [begin + (k + 0.5) * (end - begin) / n for k in range(n)] if n else []
        elif count is not None:
            times = sorted(rng.uniform(begin, end) for _ in range(count))  # Poisson, given the count
        else:
            t, rate = begin, (stream.rate_per_hour or 0) / 3600
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                times.append(t)
        prefix = stream.name or f"s{s + 1}"
        numbers: list[str | None] = [*stream.callers] if stream.callers else [stream.caller]
        where = f"streams.{s}.caller" + ("s" if stream.callers else "")
        regions = {n: region_of(stream, n, where) for n in dict.fromkeys(numbers)}
        for k, at in enumerate(times):
            number = numbers[rng.randrange(len(numbers))] if len(numbers) > 1 else numbers[0]
            calls.append(CallPlan(f"{prefix}-{k + 1:05d}", at, regions[number] or "", dict(stream.skills),
                                  stream.priority, stream.language, patience(stream), number))
    ids = [c.call_id for c in calls]
    if len(set(ids)) != len(ids):
        problem("calls", "call ids are used twice: give streams different names")
    if not calls:
        problem("calls", "the scenario has no calls: give calls or streams")
    crisis = tuple(CrisisPlan(offset(x.at, 0.0, f"crisis.{i}.at"), frozenset(x.regions), x.on)
                   for i, x in enumerate(scenario.crisis))
    if problems:
        raise ScenarioError(problems)
    calls.sort(key=lambda c: (c.at, c.call_id))
    return Plan(name=scenario.name, file=file, start=start, duration=duration, seed=scenario.seed, rules=rules,
                tick_seconds=scenario.tick_seconds, ring=scenario.ring_seconds,
                missed_pause_seconds=scenario.missed_pause_seconds,
                nurses=tuple(nurses), calls=tuple(calls), crisis=crisis, description=scenario.description,
                regions=tuple(sorted({c.region for c in calls})))
