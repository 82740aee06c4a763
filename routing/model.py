"""What the routing policy sees and says, as frozen data: waiting calls, nurses, offers, events,
and the compiled collaboration rules. No I/O and no clock here; every time is an aware datetime.

`RoutingRules` is the national configuration's agreements in the shape the policy needs
(`routing.rules.rules_from_config` builds it); the policy never reads YAML or pydantic models
for routing decisions, so a simulator can build rules directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Literal

from agents.presence import PauseReason, State
from config.schema import OpeningHours
from ivr.handover import RouteRequest

NATIONAL = "national"  # the region id of calls in the national queue
CRISIS_ALL = "*"  # in `RoutingRules.crisis`: every region's calls are redirected to the national queue
CRISIS_AGREEMENT = "crisis"  # the agreement name reported for offers a crisis redirect allowed


def utc(at: datetime) -> datetime:
    """`at` in UTC. Python subtracts and compares two datetimes that share a tzinfo (every
    Europe/Stockholm time does) by their wall clocks, ignoring DST and `fold`; in UTC they are
    real instants. A naive datetime is refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; routing needs aware datetimes")
    return at.astimezone(UTC)


class Step(StrEnum):
    """Why a nurse may take a call: the route step that matched (for the event log and statistics)."""

    OWN = "own"
    COVER = "cover"
    AROUND_THE_CLOCK = "around_the_clock"
    NIGHT = "night"
    PARTNER = "partner"
    NATIONAL = "national"


#: Preference between steps when several nurses are free: the own region first, then the most
#: specific agreement, the national pool last (collaboration is help, not the first choice).
STEP_RANK: dict[Step, int] = {step: rank for rank, step in enumerate(Step)}


@dataclass(frozen=True)
class WaitingCall:
    call_id: str
    region: str  # county code, or NATIONAL
    skills: Mapping[str, int]  # required skill → minimum level
    priority: int  # 0 most urgent … 9
    entered_at: datetime  # when it entered the queue; kept when an offer is released
    language: str = "sv"
    queue: str = "advice"
    history: tuple[str, ...] = ()  # earlier offers that did not end in an answer: "missed:<nurse>:<step>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "entered_at", utc(self.entered_at))

    @classmethod
    def from_request(cls, request: RouteRequest, entered_at: datetime) -> WaitingCall:
        return cls(call_id=request.call_id, region=request.region, skills=dict(request.skills),
                   priority=request.priority, entered_at=entered_at, language=request.language,
                   queue=request.queue)

    def wait_seconds(self, now: datetime) -> float:
        # In UTC, so a DST change neither stretches nor shrinks a wait.
        return (utc(now) - self.entered_at).total_seconds()


@dataclass(frozen=True)
class NurseState:
    """A nurse as routing needs her: where she works, what she can, and her live presence."""

    nurse_id: str
    home_region: str
    skills: Mapping[str, int]  # skill → level; languages are skills too (sprak_en, …)
    state: State
    since: datetime  # when the current state began; for READY, how long she has been idle
    regions: frozenset[str] = frozenset()  # further regions she works for (care provider of several)
    call_id: str | None = None
    reason: PauseReason | None = None
    #: home region and further regions; derived once (every decision reads it for every free nurse)
    all_regions: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", utc(self.since))
        object.__setattr__(self, "all_regions", self.regions | {self.home_region})


@dataclass(frozen=True)
class Offer:
    """A proposed (policy) or reserved (store) pairing of a call and a nurse."""

    call_id: str
    nurse_id: str
    step: Step
    at: datetime
    via_region: str  # the nurse's region that made her eligible
    agreement: str | None = None  # the agreement's name, None for the own region

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at))


EventKind = Literal["queued", "offered", "answered", "missed", "cancelled", "abandoned", "reserve_failed"]


@dataclass(frozen=True)
class RoutingEvent:
    kind: EventKind
    at: datetime
    call_id: str
    nurse_id: str | None = None
    step: Step | None = None
    region: str | None = None  # the call's region
    via_region: str | None = None
    agreement: str | None = None
    wait_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at))


@dataclass(frozen=True)
class Snapshot:
    """The state one decision is made on: the calls still waiting (not offered) and all nurses."""

    calls: tuple[WaitingCall, ...]
    nurses: tuple[NurseState, ...]


# --- the compiled rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Validity:
    valid_from: date | None = None
    valid_until: date | None = None  # inclusive

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class GeographicRule:
    name: str
    regions: frozenset[str]
    after_wait_seconds: int | None
    queue_length: int | None
    validity: Validity = Validity()


@dataclass(frozen=True)
class WindowRule:
    """`answering` serves `served` while `hours` is open (night collaboration, meeting cover) or always
    (`hours` None: around the clock)."""

    name: str
    step: Step
    answering: str
    served: frozenset[str]
    hours: OpeningHours | None
    validity: Validity = Validity()


@dataclass(frozen=True)
class NationalRule:
    served_by: tuple[str, ...]
    weights: Mapping[str, float]  # region → share; equal when not configured
    skills: Mapping[str, int] = field(default_factory=dict)  # required of every national call


@dataclass(frozen=True)
class RoutingRules:
    geographic: tuple[GeographicRule, ...] = ()
    windows: tuple[WindowRule, ...] = ()
    national: NationalRule = NationalRule(served_by=(), weights={})
    #: region → seconds after which its calls may go to the national pool (the regions serving the
    #: national queue); a region absent here never overflows to it.
    national_pool_after: Mapping[str, int] = field(default_factory=dict)
    #: caller language → the skill a nurse needs to speak it (Swedish needs none)
    language_skills: Mapping[str, str] = field(default_factory=dict)
    language_level: int = 2  # "professionally fluent": advice on health needs more than small talk
    #: The national crisis switch (run-time state, `routing.crisis`): region ids whose calls are
    #: redirected to the national queue; the member `CRISIS_ALL` ("*") means every region. A
    #: redirected call keeps its region, its own nurses and its own skills; the regions serving the
    #: national queue may take it at once, as for a national call (`docs/crisis.md`). Being part of the
    #: rules, it applies to calls already waiting as soon as the engine's rules are replaced.
    crisis: frozenset[str] = frozenset()
