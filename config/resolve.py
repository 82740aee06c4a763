"""Region resolution, in one place: which region (or the national queue) a call belongs to.

Order:
1. the dialled number: a relay-service number → ``national``; a region's own number → that region;
2. the caller's number: outside Sweden (not +46) → ``national``; a known caller prefix → its region
   (the longest matching prefix wins);
3. otherwise ``None``: the IVR asks the caller to key in a county code (`NationalConfig.region_choice`).

Numbers are normalised with `phonenumbers` (default country SE): "08-123 456 00", "0046812345600"
and "+46 8 123 456 00" are the same number. Short numbers ("1177") stay as their digits. A hidden
caller number (empty, "anonymous", …) resolves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import phonenumbers

NATIONAL = "national"
_HIDDEN = {"anonymous", "unknown", "restricted", "private", "unavailable", "withheld"}

Reason = Literal["relay_number", "region_number", "foreign_caller", "caller_prefix", "unresolved"]


def normalise_number(number: str | None) -> str | None:
    """E.164 ("+46812345600") for a phone number, the digits for a short number ("1177"), None for a
    hidden or unreadable one. Accepts "sip:"/"tel:" URIs, spaces, dashes, parentheses and 00 for +."""
    if not number:
        return None
    text = number.strip()
    if text.lower().startswith(("sip:", "sips:", "tel:")):
        text = text.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    if text.lower() in _HIDDEN:
        return None
    cleaned = re.sub(r"[\s\-().]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not re.fullmatch(r"\+?[0-9]{1,17}", cleaned):
        return None
    if not cleaned.startswith(("+", "0")) and len(cleaned) <= 6:
        return cleaned  # a short number: 1177, 112, 11414
    try:
        parsed = phonenumbers.parse(cleaned, "SE")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class RegionNumbers(Protocol):
    """What `RegionResolver.from_config` reads from a region (`RegionConfig` fits)."""

    @property
    def numbers(self) -> list[str]: ...

    @property
    def caller_prefixes(self) -> list[str]: ...


@dataclass(frozen=True)
class Resolution:
    """The outcome: `region` is a county code, ``"national"`` or None (ask the caller)."""

    region: str | None
    reason: Reason
    matched: str = ""  # the number or prefix that decided it


class RegionResolver:
    """Built once from the configuration (see `from_config`); `resolve` is a pure lookup."""

    def __init__(
        self,
        region_numbers: Mapping[str, str],
        relay_numbers: Iterable[str],
        caller_prefixes: Mapping[str, str],
    ) -> None:
        self._numbers: dict[str, str] = {}
        for number, region in region_numbers.items():
            key = normalise_number(number)
            if key is not None:
                self._numbers[key] = region
        self._relay = {key for key in (normalise_number(n) for n in relay_numbers) if key is not None}
        # Longest prefix first, so the first match is the longest.
        self._prefixes = sorted(caller_prefixes.items(), key=lambda item: len(item[0]), reverse=True)

    @classmethod
    def from_config(cls, regions: Mapping[str, RegionNumbers], relay_numbers: Iterable[str]) -> RegionResolver:
        """From `ConfigSet.regions` and the relay numbers (`ConfigSet.relay_numbers()`)."""
        numbers: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        for region_id, region in regions.items():
            for number in region.numbers:
                numbers[number] = region_id
            for prefix in region.caller_prefixes:
                prefixes[prefix] = region_id
        return cls(numbers, relay_numbers, prefixes)

    def resolve(self, dialled: str | None, caller: str | None) -> Resolution:
        """Dialled number first, then the caller's number; None when neither decides."""
        to = normalise_number(dialled)
        if to is not None:
            if to in self._relay:
                return Resolution(NATIONAL, "relay_number", to)
            region = self._numbers.get(to)
            if region is not None:
                return Resolution(region, "region_number", to)
        source = normalise_number(caller)
        if source is not None and source.startswith("+"):
            if not source.startswith("+46"):
                return Resolution(NATIONAL, "foreign_caller", source)
            for prefix, region in self._prefixes:
                if source.startswith(prefix):
                    return Resolution(region, "caller_prefix", prefix)
        return Resolution(None, "unresolved")


def resolve_region(dialled: str | None, caller: str | None, resolver: RegionResolver) -> str | None:
    """Shorthand: the region id, ``"national"`` or None."""
    return resolver.resolve(dialled, caller).region
