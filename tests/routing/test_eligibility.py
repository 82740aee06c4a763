"""Eligibility by region and time on the shipped agreements: own region, geographic partners after a
wait or a queue length, night windows (start inclusive, end exclusive, across midnight, the days they
start on, the DST days 2026-03-29 and 2026-10-25), around the clock, meeting cover, validity dates,
the national queue and the overflow to the national pool."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from routing.model import NATIONAL, RoutingRules, Step
from routing.policy import Allowance, eligible_regions

from .conftest import call, sthlm

US = timedelta(microseconds=1)


def utc_at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def steps(rules: RoutingRules, region: str, now: datetime, *, entered: datetime | None = None,
          lengths: dict[str, int] | None = None) -> dict[str, Step]:
    allowed = eligible_regions(call(region=region, at=entered or now), now, rules, lengths)
    return {r: a.step for r, a in allowed.items()}


def test_own_region_only_at_first(rules: RoutingRules) -> None:
    """A fresh call in Skåne on a weekday afternoon: only Skåne's nurses."""
    assert steps(rules, "12", sthlm(2026, 11, 25, 14, 0)) == {"12": Step.OWN}


def test_geographic_partners_from_exactly_the_threshold(rules: RoutingRules) -> None:
    """syd_geografisk opens after 180 s: not at 180 s minus a microsecond, yes at exactly 180 s."""
    entered = sthlm(2026, 11, 25, 14, 0)
    before = steps(rules, "12", entered + timedelta(seconds=180) - US, entered=entered)
    at = eligible_regions(call(region="12", at=entered), entered + timedelta(seconds=180), rules)
    assert before == {"12": Step.OWN}
    assert at == {"12": Allowance(Step.OWN), "10": Allowance(Step.PARTNER, "syd_geografisk"),
                  "07": Allowance(Step.PARTNER, "syd_geografisk"), "13": Allowance(Step.PARTNER, "syd_geografisk")}


def test_geographic_partners_by_queue_length(rules: RoutingRules) -> None:
    """syd_geografisk also opens when 15 calls wait in the region (14 is not enough), whatever the wait."""
    now = sthlm(2026, 11, 25, 14, 0)
    assert steps(rules, "12", now, lengths={"12": 14}) == {"12": Step.OWN}
    assert set(steps(rules, "12", now, lengths={"12": 15})) == {"12", "10", "07", "13"}
    # vast_geografisk has no queue length: only the wait opens it.
    assert steps(rules, "14", now, lengths={"14": 500}) == {"14": Step.OWN}


def test_wait_counts_real_seconds_across_the_spring_change(rules: RoutingRules) -> None:
    """Entered 01:59 CET on 2026-03-29, now 03:02 CEST: 3 minutes on the clock of the world (not 63),
    so exactly the 180 s threshold — even with both times given in Stockholm's zone."""
    entered = datetime(2026, 3, 29, 1, 59, tzinfo=sthlm(2026, 1, 1).tzinfo)
    now = datetime(2026, 3, 29, 3, 2, tzinfo=entered.tzinfo)
    assert "10" in steps(rules, "12", now, entered=entered)
    assert steps(rules, "12", now - US, entered=entered) == {"12": Step.OWN}


def test_wait_across_the_autumn_change(rules: RoutingRules) -> None:
    """02:58 CEST then 02:01 CET (fold=1) on 2026-10-25 is 3 minutes, though the wall clock went back."""
    zone = sthlm(2026, 1, 1).tzinfo
    entered = datetime(2026, 10, 25, 2, 58, tzinfo=zone)
    now = datetime(2026, 10, 25, 2, 1, tzinfo=zone, fold=1)
    assert "10" in steps(rules, "12", now, entered=entered)


def test_night_window_start_inclusive_end_exclusive(rules: RoutingRules) -> None:
    """natt_norr (22:00-07:00+1): Västerbotten takes Jämtland's calls from 22:00 sharp until 06:59:59.999999."""
    assert steps(rules, "23", sthlm(2026, 11, 25, 22, 0) - US) == {"23": Step.OWN}
    assert steps(rules, "23", sthlm(2026, 11, 25, 22, 0)) == {"23": Step.OWN, "24": Step.NIGHT}
    assert steps(rules, "23", sthlm(2026, 11, 26, 0, 0)) == {"23": Step.OWN, "24": Step.NIGHT}
    assert steps(rules, "23", sthlm(2026, 11, 26, 7, 0) - US) == {"23": Step.OWN, "24": Step.NIGHT}
    assert steps(rules, "23", sthlm(2026, 11, 26, 7, 0)) == {"23": Step.OWN}


def test_night_window_only_on_the_days_it_starts(rules: RoutingRules) -> None:
    """natt_dalarna starts Saturday and Sunday 23:00: Örebro answers Dalarna Saturday night through
    Monday 07:00, not Friday night nor Monday night. 2026-11-28 is a Saturday."""
    assert "18" not in steps(rules, "20", sthlm(2026, 11, 27, 23, 30))  # Friday
    assert "18" not in steps(rules, "20", sthlm(2026, 11, 28, 6, 0))  # Saturday morning: Friday's window
    assert steps(rules, "20", sthlm(2026, 11, 28, 23, 0))["18"] is Step.NIGHT
    assert steps(rules, "20", sthlm(2026, 11, 29, 6, 59))["18"] is Step.NIGHT  # Sunday morning
    assert steps(rules, "20", sthlm(2026, 11, 30, 6, 59))["18"] is Step.NIGHT  # Monday morning
    assert "18" not in steps(rules, "20", sthlm(2026, 11, 30, 23, 30))  # Monday night


def test_night_window_on_the_spring_change(rules: RoutingRules) -> None:
    """2026-03-29: clocks jump 02:00 CET → 03:00 CEST. natt_norr opened Saturday 22:00 CET (21:00 UTC) and
    closes Sunday 07:00 CEST (05:00 UTC): an 8-hour night, every instant of it covered."""
    at = utc_at
    assert "24" not in steps(rules, "23", at(2026, 3, 28, 20, 59, 59))
    assert "24" in steps(rules, "23", at(2026, 3, 28, 21, 0))
    assert "24" in steps(rules, "23", at(2026, 3, 29, 0, 59, 59))  # 01:59:59 CET
    assert "24" in steps(rules, "23", at(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert "24" in steps(rules, "23", at(2026, 3, 29, 4, 59, 59))  # 06:59:59 CEST
    assert "24" not in steps(rules, "23", at(2026, 3, 29, 5, 0))  # 07:00 CEST


def test_night_window_on_the_autumn_change(rules: RoutingRules) -> None:
    """2026-10-25: clocks go back 03:00 CEST → 02:00 CET. natt_norr runs 22:00 CEST Saturday (20:00 UTC) to
    07:00 CET Sunday (06:00 UTC), a 10-hour night; 02:30 happens twice and is covered both times."""
    at = utc_at
    assert "24" not in steps(rules, "23", at(2026, 10, 24, 19, 59, 59))
    assert "24" in steps(rules, "23", at(2026, 10, 24, 20, 0))
    assert "24" in steps(rules, "23", at(2026, 10, 25, 0, 30))  # 02:30 CEST
    assert "24" in steps(rules, "23", at(2026, 10, 25, 1, 30))  # 02:30 CET
    assert "24" in steps(rules, "23", at(2026, 10, 25, 5, 59, 59))  # 06:59:59 CET
    assert "24" not in steps(rules, "23", at(2026, 10, 25, 6, 0))  # 07:00 CET


def test_around_the_clock(rules: RoutingRules) -> None:
    """gotland_dygnet_runt: Stockholm takes Gotland's calls at any hour, at once; not the other way round."""
    for hour in (0, 3, 12, 23):
        assert steps(rules, "09", sthlm(2026, 11, 25, hour, 0)) == {"09": Step.OWN, "01": Step.AROUND_THE_CLOCK}
    assert steps(rules, "01", sthlm(2026, 11, 25, 12, 0)) == {"01": Step.OWN}


def test_meeting_cover_window(rules: RoutingRules) -> None:
    """halland_motestackning: Tuesday 13:00-14:00 Västra Götaland covers Halland (2026-11-24 is a Tuesday)."""
    assert "14" not in steps(rules, "13", sthlm(2026, 11, 24, 13, 0) - US)
    assert steps(rules, "13", sthlm(2026, 11, 24, 13, 0))["14"] is Step.COVER
    assert steps(rules, "13", sthlm(2026, 11, 24, 14, 0) - US)["14"] is Step.COVER
    assert "14" not in steps(rules, "13", sthlm(2026, 11, 24, 14, 0))
    assert "14" not in steps(rules, "13", sthlm(2026, 11, 25, 13, 30))  # a Wednesday


def test_cover_outranks_partner_for_the_same_region(rules: RoutingRules) -> None:
    """During the cover window a long-waiting Halland call is also open to its geographic partners; region 14
    is allowed by cover (the more specific agreement), the others as partners."""
    now = sthlm(2026, 11, 24, 13, 30)
    got = steps(rules, "13", now, entered=now - timedelta(seconds=600))
    assert got["14"] is Step.COVER and got["12"] is Step.PARTNER


def test_validity_dates_are_inclusive(rules: RoutingRules) -> None:
    """vastmanland_utbildning is valid 2026-01-01 … 2026-12-31 (Thursdays 08:00-09:30): on 2026-12-31 yes,
    on the first Thursday of 2027 no."""
    assert steps(rules, "19", sthlm(2026, 12, 31, 8, 0))["03"] is Step.COVER
    assert "03" not in steps(rules, "19", sthlm(2027, 1, 7, 8, 0))
    assert "03" not in steps(rules, "19", sthlm(2025, 12, 25, 8, 0))


def test_national_queue_goes_to_connected_regions(rules: RoutingRules) -> None:
    """A national call is for the regions serving the national queue, at once; a region with weight 0 is out."""
    now = sthlm(2026, 11, 25, 3, 0)
    assert steps(rules, NATIONAL, now) == {"01": Step.NATIONAL, "12": Step.NATIONAL, "14": Step.NATIONAL}
    weighted = replace(rules, national=replace(rules.national, weights={"01": 2, "12": 1, "14": 0}))
    assert set(steps(weighted, NATIONAL, now)) == {"01", "12"}


def test_overflow_to_the_national_pool_after_its_wait(rules: RoutingRules) -> None:
    """With national_pool_after {"20": 600}, Dalarna's calls may go to the national pool's regions from 600 s."""
    pooled = replace(rules, national_pool_after={"20": 600})
    entered = sthlm(2026, 11, 25, 14, 0)
    assert "01" not in steps(pooled, "20", entered + timedelta(seconds=600) - US, entered=entered)
    got = steps(pooled, "20", entered + timedelta(seconds=600), entered=entered)
    assert got["01"] is Step.NATIONAL and got["20"] is Step.OWN and got["18"] is Step.PARTNER
    assert "01" not in steps(rules, "20", entered + timedelta(hours=1), entered=entered)


def test_naive_times_are_refused(rules: RoutingRules) -> None:
    """A naive time would mean whatever the host's zone is: refused."""
    import pytest

    with pytest.raises(ValueError, match="no time zone"):
        eligible_regions(call(), datetime(2026, 11, 25, 12, 0), rules)
