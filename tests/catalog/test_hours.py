"""Opening hours at their edges: midnight, windows crossing it, public holidays and eves, exception days, the
nights the clocks change — as instants in Swedish time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from catalog.hours import open_state
from config.schema import OpeningHours

SE = ZoneInfo("Europe/Stockholm")


def hours(**data: object) -> OpeningHours:
    return OpeningHours.model_validate(data)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SE)


OFFICE = hours(weekly={d: ["08:00-12:00", "13:00-17:00"] for d in ("monday", "tuesday", "wednesday", "thursday",
                                                                    "friday")},
               holidays="closed", eves="closed", exceptions={"2026-12-28": "closed", "2026-12-29": ["10:00-12:00"]})
NIGHT = hours(weekly={d: ["18:00-02:00+1"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                     "saturday", "sunday")}, holidays="weekly", eves="weekly")
ALWAYS = hours(weekly={d: ["00:00-24:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                    "saturday", "sunday")}, holidays="weekly", eves="weekly")


def test_a_window_is_open_from_its_start_and_closed_at_its_end() -> None:
    """[start, end): open at 08:00 and at 16:59, closed at 12:00 (lunch) and at 17:00; it says until when and
    when it opens next."""
    assert open_state(OFFICE, at("2026-11-26T08:00")).open
    lunch = open_state(OFFICE, at("2026-11-26T12:00"))
    assert not lunch.open and lunch.opens_at == at("2026-11-26T13:00")
    late = open_state(OFFICE, at("2026-11-26T16:59"))
    assert late.open and late.closes_at == at("2026-11-26T17:00")
    evening = open_state(OFFICE, at("2026-11-26T17:00"))
    assert not evening.open and evening.opens_at == at("2026-11-27T08:00")


def test_friday_evening_opens_on_monday_and_within_is_measured_from_then() -> None:
    """Closed over the weekend: next opening Monday 08:00; 'within 3 hours' on Friday night is false, on
    Monday 06:00 it is true."""
    friday = open_state(OFFICE, at("2026-11-27T20:00"))
    assert friday.opens_at == at("2026-11-30T08:00")
    assert not friday.open_within(at("2026-11-27T20:00"), timedelta(hours=3))
    assert open_state(OFFICE, at("2026-11-30T06:00")).open_within(at("2026-11-30T06:00"), timedelta(hours=3))


def test_a_window_crossing_midnight_is_open_after_midnight_on_the_next_day() -> None:
    """18:00-02:00+1: open at 01:59 (yesterday's window), closed at 02:00, open again at 18:00."""
    assert open_state(NIGHT, at("2026-11-26T01:59")).open
    closed = open_state(NIGHT, at("2026-11-26T02:00"))
    assert not closed.open and closed.opens_at == at("2026-11-26T18:00")
    assert open_state(NIGHT, at("2026-11-26T23:30")).closes_at == at("2026-11-27T02:00")


def test_public_holidays_eves_and_exception_days() -> None:
    """Juldagen (a holiday) and julafton (an eve) follow their rules (closed here); 28 December is an exception
    day (closed), 29 December has its own short window."""
    assert not open_state(OFFICE, at("2026-12-25T10:00")).open  # juldagen, a Friday
    assert not open_state(OFFICE, at("2026-12-24T10:00")).open  # julafton, a Thursday
    assert not open_state(OFFICE, at("2026-12-28T10:00")).open  # a Monday, closed by exception
    assert open_state(OFFICE, at("2026-12-29T11:00")).open
    assert not open_state(OFFICE, at("2026-12-29T13:30")).open
    assert open_state(OFFICE, at("2026-12-24T10:00")).opens_at == at("2026-12-29T10:00")
    assert open_state(NIGHT, at("2026-12-25T19:00")).open  # holidays="weekly": its own weekday hours


def test_round_the_clock_has_no_closing_time_and_holds_over_both_dst_changes() -> None:
    """00:00-24:00 every day is one interval: open, no closing time, at 02:30 on the night summer time starts
    (a wall-clock time that does not exist) and at 02:30 the night it ends (one that happens twice)."""
    state = open_state(ALWAYS, at("2026-11-26T03:00"))
    assert state.open and state.closes_at is None
    assert open_state(ALWAYS, datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("UTC"))).open  # 03:30 CEST
    assert open_state(ALWAYS, datetime(2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC"))).open  # 02:30 CEST


def test_the_night_summer_time_starts_a_night_window_closes_at_02_wall_clock() -> None:
    """On 29 March 2026 the clock jumps 02:00→03:00: the 18:00-02:00+1 window of the 28th ends at 02:00 wall
    clock (= 01:00 UTC); at 01:30 UTC (03:30 CEST) it is closed. In October 02:00 comes twice; the window ends
    at the first 02:00 (00:00 UTC)."""
    utc = ZoneInfo("UTC")
    assert open_state(NIGHT, datetime(2026, 3, 29, 0, 59, tzinfo=utc)).open
    assert not open_state(NIGHT, datetime(2026, 3, 29, 1, 30, tzinfo=utc)).open
    assert open_state(NIGHT, datetime(2026, 10, 24, 23, 59, tzinfo=utc)).open
    assert not open_state(NIGHT, datetime(2026, 10, 25, 0, 30, tzinfo=utc)).open
