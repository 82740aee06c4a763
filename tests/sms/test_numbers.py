"""Phone numbers: E.164 normalisation, the mobile gate for outgoing SMS, and the caller-id
classification the IVR uses to decide whether to ask for a number."""

from __future__ import annotations

import pytest

from sms.numbers import NumberKind, classify, is_mobile, normalise, normalise_mobile, sms_number
from sms.provider import InvalidNumber


@pytest.mark.parametrize("raw", ["0701234567", "070-123 45 67", "+46701234567", "0046701234567", " +46 70 123 45 67 "])
def test_swedish_mobile_forms_normalise_to_e164(raw: str) -> None:
    """Every way a Swedish mobile is written (national, spaced, 00-prefixed) becomes +46701234567."""
    assert normalise(raw) == "+46701234567"
    assert normalise_mobile(raw) == "+46701234567"
    assert is_mobile(raw)


def test_landline_is_a_number_but_not_a_mobile() -> None:
    """A Stockholm landline normalises, is not a mobile, and is refused for SMS with a clear reason."""
    assert normalise("08-123 456 78") == "+46812345678"
    assert not is_mobile("08-123 456 78")
    with pytest.raises(InvalidNumber, match="inget mobilnummer / is not a mobile number"):
        normalise_mobile("08-123 456 78")


@pytest.mark.parametrize("raw", ["", "12", "070123", "hello", "+4670123456789012"])
def test_garbage_is_an_invalid_number(raw: str) -> None:
    """Unreadable input raises InvalidNumber naming the input, never a phonenumbers exception."""
    with pytest.raises(InvalidNumber, match="not a valid phone number"):
        normalise(raw)
    with pytest.raises(InvalidNumber):
        normalise_mobile(raw)


def test_foreign_mobile_only_when_its_country_is_allowed() -> None:
    """A Norwegian mobile is refused by default (SMS pumping guard) and accepted when NO is allowed."""
    with pytest.raises(InvalidNumber, match="NO"):
        normalise_mobile("+4741234567")
    assert normalise_mobile("+4741234567", allowed_regions=("SE", "NO")) == "+4741234567"


@pytest.mark.parametrize(("raw", "kind", "e164"), [
    ("0701234567", NumberKind.MOBILE, "+46701234567"),
    ("+46731234567", NumberKind.MOBILE, "+46731234567"),
    ("0812345678", NumberKind.LANDLINE, "+46812345678"),
    ("+4741234567", NumberKind.FOREIGN, "+4741234567"),
    ("+358401234567", NumberKind.FOREIGN, "+358401234567"),
    ("", NumberKind.HIDDEN, None),
    (None, NumberKind.HIDDEN, None),
    ("anonymous", NumberKind.HIDDEN, None),
    ("Restricted", NumberKind.HIDDEN, None),
    ("12345", NumberKind.INVALID, None),
])
def test_caller_classification(raw: str | None, kind: NumberKind, e164: str | None) -> None:
    """Only a Swedish mobile caller id can take the SMS directly; every other kind makes the IVR ask."""
    found = classify(raw)
    assert found.kind is kind and found.e164 == e164
    assert found.can_receive_sms is (kind is NumberKind.MOBILE)


def test_sms_number_for_the_ivr() -> None:
    """The IVR's mobile check: E.164 for a Swedish mobile (caller id or keyed in), None for anything else."""
    assert sms_number("0701234567") == "+46701234567"
    assert sms_number("+46701234567") == "+46701234567"
    assert [sms_number(raw) for raw in ("", None, "anonymous", "0812345678", "+4741234567", "0701")] == [None] * 6
