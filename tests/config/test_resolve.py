"""Region resolution: dialled number (relay → national, region number → region), then the caller's number
(abroad → national, longest known prefix → region), else None (the caller keys in a region)."""

from __future__ import annotations

import pytest

from config.loader import load_config
from config.resolve import NATIONAL, RegionResolver, normalise_number, resolve_region


@pytest.fixture(scope="module")
def resolver() -> RegionResolver:
    return load_config().resolver()


@pytest.mark.parametrize(("given", "expected"), [
    ("+46846500400", "+46846500400"),
    ("08-465 004 00", "+46846500400"),
    ("0046 8 465 004 00", "+46846500400"),
    ("sip:+46846500400@trunk.example;user=phone", "+46846500400"),
    ("0701740605", "+46701740605"),
    ("1177", "1177"),
    ("anonymous", None),
    ("", None),
    (None, None),
    ("abc", None),
])
def test_normalise_number(given: str | None, expected: str | None) -> None:
    """Numbers in the forms trunks and people write them become E.164; short numbers stay digits."""
    assert normalise_number(given) == expected


def test_relay_number_goes_national_whatever_the_caller(resolver: RegionResolver) -> None:
    """A relay-service number wins over a caller prefix."""
    result = resolver.resolve("020-000 11 77", "+46812345678")
    assert (result.region, result.reason) == (NATIONAL, "relay_number")


def test_region_number_wins_over_the_caller(resolver: RegionResolver) -> None:
    """Dialling Skåne's own number from a Stockholm landline gives Skåne."""
    result = resolver.resolve("040-628 04 00", "+46812345678")
    assert (result.region, result.reason) == ("12", "region_number")


def test_caller_abroad_goes_national(resolver: RegionResolver) -> None:
    """1177 dialled from a number outside +46 goes to the national queue."""
    assert resolver.resolve("1177", "+4755512345").region == NATIONAL
    assert resolver.resolve("1177", "004755512345").reason == "foreign_caller"


def test_caller_prefix(resolver: RegionResolver) -> None:
    """A landline's area code resolves its region: 08 → Stockholm, 0980 → Norrbotten, 090 → Västerbotten."""
    assert resolve_region("1177", "08-123 456 78", resolver) == "01"
    assert resolve_region("1177", "0980-123 45", resolver) == "25"
    assert resolve_region("1177", "090-12 34 56", resolver) == "24"
    assert resolve_region("1177", "0910-123 45", resolver) == "24"


def test_longest_prefix_wins() -> None:
    """A longer prefix of another region beats the shorter one."""
    r = RegionResolver({}, [], {"+468": "01", "+46812": "03"})
    assert r.resolve(None, "+46812345678").region == "03"
    assert r.resolve(None, "+46822345678").region == "01"


def test_unresolved_callers(resolver: RegionResolver) -> None:
    """A Swedish mobile, a hidden number or an unknown prefix leaves the region to the caller (None)."""
    assert resolver.resolve("1177", "0701740605").region is None
    assert resolver.resolve("1177", "anonymous").region is None
    assert resolver.resolve("1177", None).reason == "unresolved"
    assert resolver.resolve(None, None).region is None
