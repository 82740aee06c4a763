"""Opening hours and branch conditions: pure functions of a given time (never the clock itself).

Day types (one per date, in this order):

- ``holiday`` — a Swedish public holiday (allmän helgdag) from the `holidays` package, built with
  ``include_sundays=False``: the package otherwise counts every Sunday as a holiday, which would make
  ``sunday`` unreachable. Påskdagen and Pingstdagen (always Sundays) and Midsommardagen and Alla helgons
  dag (always Saturdays) are therefore ``holiday``, not ``sunday``/``saturday``.
- ``eve`` — midsommarafton, julafton and nyårsafton: the package's *de facto* category (not public
  holidays by law, but treated like Sundays by working-hours law and by most services). Other eves
  (påskafton, trettondagsafton, valborgsmässoafton) are ordinary days; use exception days for them.
- otherwise ``saturday``, ``sunday`` or ``weekday``.

Times are local wall-clock times in Europe/Stockholm. A window belongs to the day it opens: a window
"22:00-02:00+1" on a Friday is open until 02:00 on Saturday even if Saturday is an exception day.
On the autumn DST change the hour 02:00-03:00 happens twice and is inside a window both times; on the
spring change 02:00-03:00 does not happen at all.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

from ivr.model import Condition

from .schema import MINUTES_PER_DAY, WEEKDAYS, DayType, OpeningHours, Weekday, Window

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class HasOpeningHours(Protocol):
    """A region or the national file: anything with named opening-hours sets."""

    @property
    def opening_hours(self) -> dict[str, OpeningHours]: ...


class UnknownOpeningHours(KeyError):
    """A condition names an opening-hours set the region does not have (`config check` reports it)."""


@lru_cache(maxsize=32)
def _year(year: int) -> dict[date, tuple[DayType, str]]:
    table: dict[date, tuple[DayType, str]] = {}
    for day, name in holidays.country_holidays("SE", years=year, categories=("de_facto",), language="sv").items():
        table[day] = ("eve", name)
    for day, name in holidays.country_holidays("SE", years=year, language="sv", include_sundays=False).items():
        table[day] = ("holiday", name)
    return table


def day_type(day: date) -> DayType:
    """The date's day type: weekday, saturday, sunday, holiday or eve (see the module docstring)."""
    special = _year(day.year).get(day)
    if special is not None:
        return special[0]
    weekday = day.weekday()
    if weekday == 5:
        return "saturday"
    if weekday == 6:
        return "sunday"
    return "weekday"


def holiday_name(day: date) -> str | None:
    """The Swedish name of a public holiday or eve ("Julafton"), else None."""
    special = _year(day.year).get(day)
    return special[1] if special else None


def local(at: datetime) -> datetime:
    """`at` in Stockholm local time. A naive datetime is refused: its meaning would depend on the host."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware datetime")
    return at.astimezone(STOCKHOLM)


def windows_on(hours: OpeningHours, day: date) -> list[Window]:
    """The windows that open on `day`: an exception day, else the holiday/eve rule, else the weekly hours."""
    override = hours.exceptions.get(day)
    if override is not None:
        return list(override.windows)
    kind = day_type(day)
    weekday: Weekday = WEEKDAYS[day.weekday()]
    weekly_today = hours.weekly.get(weekday, [])
    if kind in ("holiday", "eve"):
        rule = hours.holidays if kind == "holiday" else hours.eves
        if rule.windows is not None:
            return list(rule.windows)
        if rule.use == "closed":
            return []
        if rule.use in ("sunday", "saturday"):
            return list(hours.weekly.get(rule.use, []))
        return list(weekly_today)
    return list(weekly_today)


def _minute_of_day(at: datetime) -> float:
    return at.hour * 60 + at.minute + at.second / 60 + at.microsecond / 60_000_000


def is_open(hours: OpeningHours, at: datetime) -> bool:
    """Is the set open at `at` (aware datetime)? Windows are [start, end) in wall-clock time."""
    here = local(at)
    minute = _minute_of_day(here)
    today = here.date()
    if any(w.start <= minute < w.end for w in windows_on(hours, today)):
        return True
    yesterday = today - timedelta(days=1)
    return any(w.end > MINUTES_PER_DAY and minute < w.end - MINUTES_PER_DAY for w in windows_on(hours, yesterday))


def in_time_window(start: time, end: time, at: datetime) -> bool:
    """[start, end) in local time; an end before the start crosses midnight; start == end is empty."""
    now = local(at).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


def evaluate(condition: Condition, at: datetime, region: HasOpeningHours) -> bool:
    """A branch condition at `at`: every part given must hold (no part given: true)."""
    if condition.open is not None:
        hours = region.opening_hours.get(condition.open)
        if hours is None:
            raise UnknownOpeningHours(f"no opening-hours set named {condition.open!r}")
        if not is_open(hours, at):
            return False
    if condition.day_type is not None and day_type(local(at).date()) not in condition.day_type:
        return False
    if condition.time is not None and not in_time_window(condition.time.start, condition.time.end, at):
        return False
    return True
