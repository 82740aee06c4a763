"""The schema of the configuration files (pydantic, unknown fields are errors).

Two kinds of file, both YAML (read with `config.loader.load_yaml`, which rejects duplicate keys):

- `regions/<id>.yaml` — one region (`RegionConfig`): the numbers and caller prefixes that resolve a call
  to it, its languages, named opening-hours sets, SMS links and templates, and its voice menu.
- `national.yaml` — `NationalConfig`: the skills and queues vocabulary, the relay-service numbers, the
  national queue, the collaboration agreements between regions, the region choice and the national menu.

The schema checks what one file says about itself. What needs several files or the filesystem (unknown
skills, unreachable nodes, numbers claimed twice, recordings, phone-number validity, …) is checked by
`config.check`. `docs/regions.md` is the reference for region admins.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ivr.model import Menu, Prompt

from .regions import REGIONS

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DayType = Literal["weekday", "saturday", "sunday", "holiday", "eve"]
#: Placeholders an SMS template may use.
SMS_PLACEHOLDERS: frozenset[str] = frozenset({"link", "region"})

_NAME = r"^[a-z][a-z0-9_]{0,63}$"
Lang = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code: sv, en, ar, fi, so, …")]
Name = Annotated[str, Field(pattern=_NAME, description="ascii snake_case id")]
MINUTES_PER_DAY = 24 * 60


def _county_code(value: object) -> object:
    # YAML may read 12 as a number; county codes are two-digit text ("01" … "25").
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 99:
        return f"{value:02d}"
    return value


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"unknown region {value!r}: county codes are {', '.join(REGIONS)}")
    return value


RegionId = Annotated[str, BeforeValidator(_county_code), Field(pattern=r"^[0-9]{2}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- opening hours ---------------------------------------------------------------------------------

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})(\+1)?$")


class Window(Strict):
    """An opening window, written "HH:MM-HH:MM" in the files (local wall-clock time, end exclusive).

    "24:00" may end a window. A window that crosses midnight says so with "+1": "22:00-02:00+1" opens
    at 22:00 and closes at 02:00 the next day. Stored as minutes from the start of the day the window
    opens (`end` > 1440 when it crosses midnight)."""

    start: int = Field(ge=0, lt=MINUTES_PER_DAY)
    end: int = Field(gt=0, le=2 * MINUTES_PER_DAY)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_window(value)
        if isinstance(value, dict):
            return value
        raise ValueError('a window is written "HH:MM-HH:MM", e.g. "08:00-17:00" or "22:00-02:00+1"')

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")
        return self

    @property
    def crosses_midnight(self) -> bool:
        return self.end > MINUTES_PER_DAY

    def __str__(self) -> str:
        def hm(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        if self.crosses_midnight:
            return f"{hm(self.start)}-{hm(self.end - MINUTES_PER_DAY)}+1"
        return f"{hm(self.start)}-{hm(self.end)}"


def parse_window(text: str) -> dict[str, int]:
    """ "08:00-17:00" → {start: 480, end: 1020}; raises ValueError with a message for admins."""
    m = _WINDOW.match(text.strip())
    if not m:
        raise ValueError(f'{text!r} is not a window "HH:MM-HH:MM" (e.g. "08:00-17:00", or "22:00-02:00+1" '
                         "for one that crosses midnight)")
    h1, m1, h2, m2 = (int(g) for g in m.group(1, 2, 3, 4))
    next_day = m.group(5) is not None
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r}: not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if next_day:
        if end == MINUTES_PER_DAY:
            raise ValueError(f"{text!r}: write 24:00 without +1")
        if end > start:
            raise ValueError(f"{text!r}: a window crossing midnight may last at most 24 hours")
        return {"start": start, "end": end + MINUTES_PER_DAY}
    if end == start:
        raise ValueError(f"{text!r}: empty window (it ends when it starts)")
    if end < start:
        raise ValueError(f"{text!r}: inverted window (it ends before it starts); if it crosses midnight, "
                         f'write "{text.strip()}+1"')
    return {"start": start, "end": end}


class DayRule(Strict):
    """What applies on a public holiday or an eve: `closed`, `sunday` / `saturday` (that day's weekly
    hours), `weekly` (the weekday's own hours, as if it were an ordinary day) or a list of windows."""

    use: Literal["closed", "sunday", "saturday", "weekly"] | None = None
    windows: list[Window] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in ("closed", "sunday", "saturday", "weekly"):
                raise ValueError(f"{value!r}: use closed, sunday, saturday, weekly or a list of windows")
            return {"use": value}
        if isinstance(value, list):
            return {"windows": value}
        return value


class OverrideDay(Strict):
    """An exception day: `closed` or its own windows (an empty list is closed too)."""

    windows: list[Window]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if value == "closed" or value is None:
            return {"windows": []}
        if isinstance(value, list):
            return {"windows": value}
        if isinstance(value, str):
            raise ValueError(f"{value!r}: write closed or a list of windows")
        return value


class OpeningHours(Strict):
    """A named opening-hours set (e.g. `pharmacy`): it governs menu options, never the advice line."""

    description: str = ""
    weekly: dict[Weekday, list[Window]] = Field(description="weekday → windows; a missing day is closed")
    holidays: DayRule = Field(default_factory=lambda: DayRule(use="sunday"))
    eves: DayRule = Field(default_factory=lambda: DayRule(use="sunday"))
    exceptions: dict[date, OverrideDay] = Field(default_factory=dict, description="date → windows or closed")


# --- region ----------------------------------------------------------------------------------------


def _sv_text(value: object) -> object:
    return {"sv": value} if isinstance(value, str) else value


SmsTemplate = Annotated[dict[Lang, str], BeforeValidator(_sv_text)]


class SmsSettings(Strict):
    chat_url: str | None = Field(None, description="https link to the region's chat")
    form_url: str | None = Field(None, description="https link to the region's web form")
    templates: dict[Name, SmsTemplate] = Field(description="name → text per language (sv required)")

    @field_validator("templates")
    @classmethod
    def _swedish(cls, templates: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for name, texts in templates.items():
            if "sv" not in texts:
                raise ValueError(f"template {name!r} has no Swedish text (sv)")
        return templates


class _MenuOwner(Strict):
    languages: list[Lang] = Field(min_length=1, description="the languages the prompts are in; sv first")
    opening_hours: dict[Name, OpeningHours] = Field(default_factory=dict)
    sms: SmsSettings | None = None
    menu: Menu

    @field_validator("languages")
    @classmethod
    def _swedish_first(cls, languages: list[str]) -> list[str]:
        if "sv" not in languages:
            raise ValueError("Swedish (sv) must be among the languages")
        if len(set(languages)) != len(languages):
            raise ValueError("a language is listed twice")
        return languages


class RegionRouting(Strict):
    """How the region's nurses are offered calls. The nurse's home region decides for her (it is her
    employer's staffing policy), whichever region's call she takes."""

    ring_seconds: int = Field(20, ge=5, le=120, description="ring-no-answer: the offer ends after this long")
    wrap_up_seconds: int = Field(60, ge=0, le=1800, description="after a call, the nurse is in wrap-up this long")


class CallPhase(Strict):
    """One phase of the shared call process; the nurse's desktop shows them in order."""

    id: Name
    name: str = Field(min_length=1, max_length=60, description="Swedish name shown to the nurse")
    hint: str = Field("", max_length=300, description="what the phase covers, shown under its name")


def default_phases() -> list[CallPhase]:
    return [
        CallPhase(id="inledning", name="Inledning", hint="Vem ringer, för vem, samtycke"),
        CallPhase(id="kartlaggning", name="Kartläggning", hint="Symtom, beslutsstöd"),
        CallPhase(id="bedomning", name="Bedömning", hint="Brådskandegrad"),
        CallPhase(id="rad", name="Råd och hänvisning", hint="Råd, hänvisning"),
        CallPhase(id="avslut", name="Avslut", hint="Sammanfattning, den som ringer upprepar rådet"),
    ]


class RegionConfig(_MenuOwner):
    """`regions/<id>.yaml`."""

    id: RegionId = Field(description="county code, e.g. 01")
    name: str
    numbers: list[str] = Field(default_factory=list, description="dialled numbers (E.164) that mean this region")
    caller_prefixes: list[str] = Field(default_factory=list, description='caller-number prefixes, e.g. "+468"')
    routing: RegionRouting = Field(default_factory=RegionRouting)
    call_phases: list[CallPhase] = Field(default_factory=default_phases, min_length=1, max_length=12,
                                         description="the call process in phases, in order")

    @field_validator("call_phases")
    @classmethod
    def _distinct_phases(cls, phases: list[CallPhase]) -> list[CallPhase]:
        ids = [p.id for p in phases]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"phase id(s) listed twice: {', '.join(twice)}")
        return phases

    @field_validator("id")
    @classmethod
    def _real_region(cls, value: str) -> str:
        return _known_region(value)

    @field_validator("caller_prefixes")
    @classmethod
    def _prefixes(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            if not re.fullmatch(r"\+46[1-9][0-9]{0,5}", prefix):
                raise ValueError(f"{prefix!r}: a caller prefix is +46 and the area code without 0, e.g. +468 "
                                 "or +4631")
        return prefixes

    @model_validator(mode="after")
    def _real_name(self) -> RegionConfig:
        real = REGIONS.get(self.id)
        if real is not None and self.name != real:
            raise ValueError(f"name must be {real!r} for region {self.id}, not {self.name!r}")
        return self


# --- national --------------------------------------------------------------------------------------


class Skill(Strict):
    name: str = Field(description="Swedish name shown to supervisors")
    description: str = ""
    levels: dict[int, str] = Field(description="level (1 … at most 5) → what it means")

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: dict[int, str]) -> dict[int, str]:
        if sorted(levels) != list(range(1, len(levels) + 1)) or not 1 <= len(levels) <= 5:
            raise ValueError("levels are numbered 1, 2, … without gaps, at most 5")
        return levels

    @property
    def max_level(self) -> int:
        return max(self.levels)


class QueueDef(Strict):
    name: str
    description: str = ""


class RelayService(Strict):
    """A relay service (text or video relay): calls dialled to `number` go to the national queue."""

    name: str
    kind: Literal["text", "video", "speech"]
    number: str = Field(description="E.164")
    skills: dict[Name, int] = Field(default_factory=dict, description="extra required skills → minimum level")


class NationalQueue(Strict):
    name: str
    queue: Name = Field("national", description="the queue id (among `queues`)")
    served_by: list[RegionId] = Field(min_length=1, description="the regions whose nurses answer it")
    skills: dict[Name, int] = Field(default_factory=dict)
    languages: list[Lang] = Field(default_factory=lambda: ["sv", "en"])
    weights: dict[RegionId, float] = Field(
        default_factory=dict, description="share of the national calls per serving region (default: equal)"
    )
    pool_after_seconds: dict[RegionId, int] = Field(
        default_factory=dict,
        description="a region's own calls may also go to the national pool after waiting this long",
    )

    @model_validator(mode="after")
    def _positive(self) -> NationalQueue:
        # That the weighted regions serve the queue is checked by config check (with the path).
        if any(w <= 0 for w in self.weights.values()):
            raise ValueError("weights must be positive")
        if any(s < 0 for s in self.pool_after_seconds.values()):
            raise ValueError("pool_after_seconds must not be negative")
        return self


class _Agreement(Strict):
    description: str = ""
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _period(self) -> _Agreement:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class GeographicAgreement(_Agreement):
    """Neighbours take each other's calls when a queue grows."""

    kind: Literal["geographic"]
    regions: list[RegionId] = Field(min_length=2)
    after_wait_seconds: int | None = Field(None, gt=0, le=3600, description="overflow after this wait")
    queue_length: int | None = Field(None, ge=1, description="overflow when at least this many wait")

    @model_validator(mode="after")
    def _threshold(self) -> GeographicAgreement:
        if self.after_wait_seconds is None and self.queue_length is None:
            raise ValueError("give after_wait_seconds, queue_length or both")
        return self


class NightAgreement(_Agreement):
    """`answering` answers the calls of the `served` regions during `window` (usually crossing midnight)."""

    kind: Literal["night"]
    answering: RegionId
    served: list[RegionId] = Field(min_length=1)
    window: Window
    days: list[Weekday] | None = Field(None, description="the days the window starts on; all when omitted")


class AroundTheClockAgreement(_Agreement):
    """`answering` answers the calls of the `served` regions at all hours."""

    kind: Literal["around_the_clock"]
    answering: RegionId
    served: list[RegionId] = Field(min_length=1)


class MeetingCoverAgreement(_Agreement):
    """`covering` answers `covered`'s calls during its weekly meeting or training slots."""

    kind: Literal["meeting_cover"]
    covering: RegionId
    covered: RegionId
    slots: dict[Weekday, list[Window]] = Field(min_length=1)


Agreement = Annotated[
    GeographicAgreement | NightAgreement | AroundTheClockAgreement | MeetingCoverAgreement,
    Field(discriminator="kind"),
]


class RegionChoice(Strict):
    """Asked when the region cannot be resolved: the caller keys in a county code. No valid code after
    the retries: the call goes to the national menu."""

    prompt: Prompt
    invalid_prompt: Prompt | None = None
    timeout_seconds: float = Field(8.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=5)


class NationalConfig(_MenuOwner):
    """`national.yaml`."""

    skills: dict[Name, Skill] = Field(min_length=1)
    queues: dict[Name, QueueDef] = Field(min_length=1)
    relay_numbers: dict[Name, RelayService] = Field(default_factory=dict)
    national_queue: NationalQueue
    agreements: dict[Name, Agreement] = Field(default_factory=dict)
    region_choice: RegionChoice

