"""Phone numbers: normalising to E.164 and telling what kind of number a caller has.

The IVR uses `classify` to decide whether the SMS option can use the caller's own number or
must ask for one (hidden, foreign, landline or unreadable caller ids); `normalise_mobile` is the
gate every outgoing SMS passes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from .provider import InvalidNumber

DEFAULT_REGION = "SE"

# What trunks and Asterisk put in the caller id when the number is withheld.
_HIDDEN = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class NumberKind(StrEnum):
    HIDDEN = "hidden"
    INVALID = "invalid"
    FOREIGN = "foreign"
    LANDLINE = "landline"
    MOBILE = "mobile"


@dataclass(frozen=True)
class CallerNumber:
    raw: str
    kind: NumberKind
    e164: str | None = None

    @property
    def can_receive_sms(self) -> bool:
        """The SMS option may use this number without asking the caller for another."""
        return self.kind is NumberKind.MOBILE


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    text = raw.strip()
    # "00" is the international prefix in Sweden and most of Europe; phonenumbers reads it only
    # for the default region, so say it plainly.
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """Any valid number in E.164 (`0701234567` → `+46701234567`); InvalidNumber otherwise."""
    number = _parse(raw, region)
    if number is None:
        raise InvalidNumber(f"{raw!r} är inget giltigt telefonnummer / is not a valid phone number")
    return _e164(number)


def is_mobile(raw: str, region: str = DEFAULT_REGION) -> bool:
    number = _parse(raw, region)
    return number is not None and phonenumbers.number_type(number) in _MOBILE_TYPES


def classify(raw: str | None, home_region: str = DEFAULT_REGION) -> CallerNumber:
    """What the caller id is: hidden, unreadable, foreign, a landline, or a mobile of home_region."""
    text = (raw or "").strip()
    if text.lower() in _HIDDEN:
        return CallerNumber(text, NumberKind.HIDDEN)
    number = _parse(text, home_region)
    if number is None:
        return CallerNumber(text, NumberKind.INVALID)
    e164 = _e164(number)
    if phonenumbers.region_code_for_number(number) != home_region:
        return CallerNumber(text, NumberKind.FOREIGN, e164)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return CallerNumber(text, NumberKind.LANDLINE, e164)
    return CallerNumber(text, NumberKind.MOBILE, e164)


def normalise_mobile(raw: str, *, region: str = DEFAULT_REGION,
                     allowed_regions: Collection[str] = (DEFAULT_REGION,)) -> str:
    """The E.164 form of a mobile number in an allowed country, or InvalidNumber saying why not."""
    number = _parse(raw, region)
    if number is None:
        raise InvalidNumber(f"{raw!r} är inget giltigt telefonnummer / is not a valid phone number")
    country = phonenumbers.region_code_for_number(number)
    if country not in allowed_regions:
        raise InvalidNumber(f"{_e164(number)}: SMS skickas inte till {country} / SMS are not sent to "
                            f"numbers in {country} (allowed: {', '.join(sorted(allowed_regions))})")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidNumber(f"{_e164(number)} är inget mobilnummer / is not a mobile number")
    return _e164(number)


def sms_number(raw: str | None, home_region: str = DEFAULT_REGION) -> str | None:
    """E.164 when `raw` is a mobile of home_region an SMS can go to straight away, else None
    (the IVR's `mobile_number`: None means ask the caller for a number)."""
    found = classify(raw, home_region)
    return found.e164 if found.can_receive_sms else None
