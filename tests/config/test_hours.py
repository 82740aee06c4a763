"""Opening hours and branch conditions at the edges: day types, midnight, holidays, eves, exception days and
the DST change days (2026-03-29 and 2026-10-25)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from config.hours import STOCKHOLM, UnknownOpeningHours, day_type, evaluate, holiday_name, is_open, windows_on
from config.schema import OpeningHours, RegionConfig
from ivr.model import Condition, TimeWindow


def hours(**fields: Any) -> OpeningHours:
    return OpeningHours.model_validate(fields)


def at(text: str) -> datetime:
    """Stockholm local wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 25), "weekday"),
    (date(2026, 3, 28), "saturday"),
    (date(2026, 3, 29), "sunday"),         # an ordinary Sunday is not a holiday (include_sundays=False)
    (date(2026, 4, 3), "holiday"),         # långfredagen
    (date(2026, 4, 4), "saturday"),        # påskafton is not an eve here (use an exception day)
    (date(2026, 4, 5), "holiday"),         # påskdagen, a Sunday
    (date(2026, 6, 19), "eve"),            # midsommarafton
    (date(2026, 6, 20), "holiday"),        # midsommardagen, a Saturday
    (date(2026, 12, 24), "eve"),           # julafton
    (date(2026, 12, 31), "eve"),           # nyårsafton
    (date(2028, 12, 24), "eve"),           # julafton on a Sunday is still an eve
    (date(2027, 1, 1), "holiday"),
])
def test_day_type(day: date, expected: str) -> None:
    """One day type per date: public holidays, then the three de-facto eves, then the weekday."""
    assert day_type(day) == expected


def test_holiday_names_are_swedish() -> None:
    """holiday_name gives the Swedish name."""
    assert holiday_name(date(2026, 12, 24)) == "Julafton"
    assert holiday_name(date(2026, 6, 6)) == "Nationaldagen"
    assert holiday_name(date(2026, 6, 8)) is None


def test_window_edges_are_half_open() -> None:
    """08:00 is open, 17:00 is closed (the end is exclusive)."""
    h = hours(weekly={"wednesday": ["08:00-17:00"]})
    assert not is_open(h, at("2026-03-25T07:59:59"))
    assert is_open(h, at("2026-03-25T08:00"))
    assert is_open(h, at("2026-03-25T16:59:59"))
    assert not is_open(h, at("2026-03-25T17:00"))


def test_window_crossing_midnight() -> None:
    """22:00-02:00+1 on Monday is open Monday night and Tuesday until 02:00; Sunday's night runs into Monday."""
    h = hours(weekly={"monday": ["22:00-02:00+1"], "sunday": ["23:00-01:00+1"]})
    assert not is_open(h, at("2026-03-23T21:59"))
    assert is_open(h, at("2026-03-23T23:30"))
    assert is_open(h, at("2026-03-24T01:59"))
    assert not is_open(h, at("2026-03-24T02:00"))
    assert is_open(h, at("2026-03-23T00:30"))  # Monday 00:30: Sunday's window
    assert not is_open(h, at("2026-03-24T22:30"))  # Tuesday evening: closed


def test_twenty_four_hours() -> None:
    """00:00-24:00 is the whole day, until the next midnight."""
    h = hours(weekly={"wednesday": ["00:00-24:00"]})
    assert is_open(h, at("2026-03-25T00:00"))
    assert is_open(h, at("2026-03-25T23:59:59"))
    assert not is_open(h, at("2026-03-26T00:00"))


def test_holiday_rules() -> None:
    """On a holiday: closed, Sunday's hours or own windows; the weekday hours do not apply."""
    weekly = {"friday": ["08:00-20:00"], "sunday": ["10:00-14:00"]}
    good_friday = at("2026-04-03T09:00")
    assert not is_open(hours(weekly=weekly, holidays="closed"), good_friday)
    assert not is_open(hours(weekly=weekly), good_friday)  # default: like Sunday, 10-14
    assert is_open(hours(weekly=weekly), at("2026-04-03T11:00"))
    assert is_open(hours(weekly=weekly, holidays=["09:00-10:00"]), good_friday)
    assert is_open(hours(weekly=weekly, holidays="weekly"), good_friday)


def test_eve_rules() -> None:
    """Julafton (a Thursday in 2026) follows the eve rule, not Thursday's hours."""
    weekly = {"thursday": ["08:00-20:00"], "saturday": ["10:00-12:00"]}
    christmas_eve = at("2026-12-24T15:00")
    assert is_open(hours(weekly=weekly), at("2026-12-17T15:00"))  # an ordinary Thursday
    assert not is_open(hours(weekly=weekly, eves="closed"), christmas_eve)
    assert not is_open(hours(weekly=weekly, eves="saturday"), christmas_eve)
    assert is_open(hours(weekly=weekly, eves="saturday"), at("2026-12-24T11:00"))
    assert is_open(hours(weekly=weekly, eves=["09:00-16:00"]), christmas_eve)


def test_exception_days_override_everything() -> None:
    """An exception day replaces the weekly hours and the holiday rule; `closed` closes an ordinary day."""
    h = hours(weekly={"thursday": ["08:00-20:00"]}, eves="closed",
              exceptions={"2026-12-24": ["10:00-12:00"], "2026-12-17": "closed"})
    assert is_open(h, at("2026-12-24T11:00"))
    assert not is_open(h, at("2026-12-24T13:00"))
    assert not is_open(h, at("2026-12-17T09:00"))
    assert [str(w) for w in windows_on(h, date(2026, 12, 24))] == ["10:00-12:00"]


def test_window_belongs_to_the_day_it_opens() -> None:
    """A night window keeps its tail after midnight even when the next day is closed by an exception."""
    h = hours(weekly={"friday": ["22:00-02:00+1"]}, exceptions={"2026-03-28": "closed"})
    assert is_open(h, at("2026-03-28T01:00"))


def test_dst_spring_forward() -> None:
    """2026-03-29: 02:00 becomes 03:00. Windows are wall-clock: 08:00-17:00 is 06:00-15:00 UTC that day."""
    h = hours(weekly={"sunday": ["08:00-17:00"], "saturday": ["22:00-04:00+1"]})
    assert not is_open(h, utc("2026-03-29T05:59"))  # 07:59 CEST
    assert is_open(h, utc("2026-03-29T06:00"))       # 08:00 CEST
    assert is_open(h, utc("2026-03-29T14:59"))       # 16:59 CEST
    assert not is_open(h, utc("2026-03-29T15:30"))   # 17:30 CEST (would be 16:30 with a fixed +01:00)
    assert is_open(h, utc("2026-03-29T00:59"))       # 01:59 CET
    assert is_open(h, utc("2026-03-29T01:00"))       # 03:00 CEST, the skipped hour is not a gap in the night
    assert not is_open(h, utc("2026-03-29T02:00"))   # 04:00 CEST


def test_dst_fall_back() -> None:
    """2026-10-25: 03:00 becomes 02:00; 02:30 happens twice and a 02:00-03:00 window is open both times."""
    h = hours(weekly={"sunday": ["02:00-03:00", "08:00-17:00"]})
    assert is_open(h, utc("2026-10-25T00:30"))      # 02:30 CEST
    assert is_open(h, utc("2026-10-25T01:30"))      # 02:30 CET
    assert not is_open(h, utc("2026-10-25T02:00"))  # 03:00 CET
    assert not is_open(h, utc("2026-10-25T06:30"))  # 07:30 CET
    assert is_open(h, utc("2026-10-25T07:00"))      # 08:00 CET
    assert not is_open(h, utc("2026-10-25T16:00"))  # 17:00 CET


def test_naive_datetime_is_refused() -> None:
    """Time must come with a time zone: the function never guesses the host's zone."""
    with pytest.raises(ValueError, match="no time zone"):
        is_open(hours(weekly={}), datetime(2026, 3, 25, 9, 0))


def _region() -> RegionConfig:
    from config.loader import load_config

    return load_config().regions["01"]


def test_evaluate_conditions() -> None:
    """Branch conditions: an opening-hours set, day types and a time window that crosses midnight; all parts
    given must hold."""
    region = _region()
    pharmacy = Condition(open="pharmacy")
    assert evaluate(pharmacy, at("2026-03-25T12:00"), region)
    assert not evaluate(pharmacy, at("2026-03-25T21:00"), region)      # weekday night
    assert evaluate(pharmacy, at("2026-12-24T10:00"), region)          # eve: own 09-13
    assert not evaluate(pharmacy, at("2026-12-24T14:00"), region)
    night = Condition(time=TimeWindow(start=time(22), end=time(7)))
    assert evaluate(night, at("2026-03-25T23:00"), region)
    assert evaluate(night, at("2026-03-26T06:59"), region)
    assert not evaluate(night, at("2026-03-26T07:00"), region)
    weekend = Condition(day_type=["saturday", "sunday", "holiday"], time=TimeWindow(start=time(8), end=time(10)))
    assert evaluate(weekend, at("2026-04-05T09:00"), region)           # påskdagen
    assert not evaluate(weekend, at("2026-04-05T11:00"), region)
    assert not evaluate(weekend, at("2026-03-25T09:00"), region)
    assert evaluate(Condition(), at("2026-03-25T09:00"), region)
    with pytest.raises(ValueError, match="empty time window"):
        TimeWindow(start=time(8), end=time(8))  # refused by the model itself


def test_evaluate_unknown_set_raises() -> None:
    """A set the region lacks raises (config check reports it before it can happen)."""
    with pytest.raises(UnknownOpeningHours):
        evaluate(Condition(open="apotek"), at("2026-03-25T12:00"), _region())
