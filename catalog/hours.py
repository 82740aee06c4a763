"""When a care unit is open: now, at a given time, and when it next opens or closes. Pure.

The windows are wall-clock times in Sweden (config.schema.Window), per day from config.hours.windows_on —
weekly hours, public holidays and eves (the `holidays` package's Swedish calendar), exception days. Here they
become real instants in Europe/Stockholm, so that "open at 01:30 on the night summer time starts" and "opens
within 3 hours" are right across midnight and the DST change: a window is [start, end) of its day's wall
clock, and a window ending "+1" ends on the next day's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from config.hours import STOCKHOLM, local, windows_on
from config.schema import MINUTES_PER_DAY, OpeningHours

HORIZON_DAYS = 8  # look this far ahead for the next opening (a week and the day before)


@dataclass(frozen=True)
class OpenState:
    open: bool
    closes_at: datetime | None  # open: when it closes (None: not within the horizon — round the clock)
    opens_at: datetime | None  # closed: when it next opens (None: not within the horizon)

    def open_within(self, at: datetime, span: timedelta) -> bool:
        """Open at `at`, or opening before `at + span`."""
        return self.open or (self.opens_at is not None and self.opens_at < at + span)


def _wall(day: date, minutes: int) -> datetime:
    days, minute = divmod(minutes, MINUTES_PER_DAY)
    return datetime.combine(day + timedelta(days=days), time(minute // 60, minute % 60), tzinfo=STOCKHOLM)


def intervals(hours: OpeningHours, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """The opening intervals that start on days first…last, as instants, sorted and with touching or
    overlapping ones merged (a unit open 00:00-24:00 every day is one long interval)."""
    spans: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        spans.extend((_wall(day, w.start), _wall(day, w.end)) for w in windows_on(hours, day))
        day += timedelta(days=1)
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def open_state(hours: OpeningHours, at: datetime, horizon_days: int = HORIZON_DAYS) -> OpenState:
    """Whether the unit is open at `at` (aware), until when, or when it opens next."""
    today = local(at).date()
    spans = intervals(hours, today - timedelta(days=1), today + timedelta(days=horizon_days))
    horizon_end = spans[-1][1] if spans else at
    for start, end in spans:
        if start <= at < end:
            round_the_clock = end >= horizon_end and end - at > timedelta(days=horizon_days - 1)
            return OpenState(True, None if round_the_clock else end, None)
        if start > at:
            return OpenState(False, None, start)
    return OpenState(False, None, None)
