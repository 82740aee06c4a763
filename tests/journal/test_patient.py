"""journal.patient: checking and normalising the patient's identity (pure, no I/O)."""

from __future__ import annotations

from datetime import date

import pytest
from personnummer import personnummer

from journal.patient import RESERVE_ALPHABET, PatientIdError, check_patient_id, new_reserve_id
from journal.records import PatientIdKind

PNR = PatientIdKind.PERSONNUMMER
SAM = PatientIdKind.SAMORDNINGSNUMMER
RES = PatientIdKind.RESERVE
TODAY = date(2025, 6, 1)


def refused(kind: PatientIdKind, raw: str, *, today: date = TODAY) -> PatientIdError:
    with pytest.raises(PatientIdError) as info:
        check_patient_id(kind, raw, today=today)
    return info.value


def test_test_numbers_are_valid_for_the_package() -> None:
    """The numbers these tests accept are valid per the personnummer package (Skatteverket's test numbers)."""
    for number in ("19121212-1212", "701063-2391", "19900101-1239", "250701-1233", "250501-1235"):
        assert personnummer.valid(number), number
    assert not personnummer.valid("19121212-1213")


@pytest.mark.parametrize("raw", ["19121212-1212", "191212121212", " 191212121212 ", "121212+1212",
                                 "\t19121212-1212\n"])
def test_personnummer_every_format_normalises_to_12_digits(raw: str) -> None:
    """Each accepted spelling of the same personnummer gives the same 12 digits."""
    assert check_patient_id(PNR, raw, today=TODAY) == "191212121212"


def test_short_forms_resolve_the_century_from_today() -> None:
    """'-' means under 100 (latest date not after today), '+' means 100 or older; `today` decides, not the clock."""
    assert check_patient_id(PNR, "121212-1212", today=TODAY) == "201212121212"
    assert check_patient_id(PNR, "1212121212", today=TODAY) == "201212121212"
    assert check_patient_id(PNR, "121212+1212", today=TODAY) == "191212121212"
    assert check_patient_id(PNR, "900101-1239", today=TODAY) == "199001011239"
    # Born later in the year than today: last century, not this year.
    assert check_patient_id(PNR, "250701-1233", today=TODAY) == "192507011233"
    assert check_patient_id(PNR, "250501-1235", today=TODAY) == "202505011235"
    # Another `today` moves the century: before 2012-12-12, 121212-1212 was born in 1912.
    assert check_patient_id(PNR, "121212-1212", today=date(2012, 12, 11)) == "191212121212"


@pytest.mark.parametrize("raw", ["701063-2391", "197010632391", "19701063-2391", "7010632391"])
def test_samordningsnummer_normalises_to_12_digits(raw: str) -> None:
    """A samordningsnummer (day + 60) is accepted in every format and kept with its day 61–91."""
    assert check_patient_id(SAM, raw, today=TODAY) == "197010632391"


def test_wrong_checksum_is_refused() -> None:
    """A wrong Luhn check digit is refused as 'checksum', bilingually."""
    error = refused(PNR, "19121212-1213")
    assert error.code == "checksum"
    assert "Kontrollsiffran" in str(error) and "check digit" in str(error)


def test_impossible_date_is_refused() -> None:
    """February 30 (with a correct check digit) is refused as a bad date, not as a checksum error."""
    error = refused(PNR, "19900230-1233")
    assert error.code == "date"
    assert "1990-02-30" in str(error)


def test_letters_are_refused_and_named() -> None:
    """Letters in a personnummer are refused and the message names them."""
    error = refused(PNR, "19900101-12A4")
    assert error.code == "letters"
    assert '"A"' in str(error) and "bokstäver" in str(error) and "letters" in str(error)


def test_other_characters_are_refused_and_named() -> None:
    """A space or a dot inside the number is refused and named."""
    error = refused(PNR, "19121212 1212")
    assert error.code == "characters" and "space" in str(error)
    assert '"."' in str(refused(PNR, "19121212.1212"))


@pytest.mark.parametrize("raw", ["1912121212121", "912121212", "19121212-12123", "1212-12"])
def test_wrong_length_is_refused(raw: str) -> None:
    """Anything but 10 or 12 digits is refused as 'length' and says how many digits were given."""
    error = refused(PNR, raw)
    assert error.code == "length"
    digits = sum(c.isdigit() for c in raw)
    assert f"inte {digits}" in str(error) and f"not {digits}" in str(error)


@pytest.mark.parametrize("raw", ["1212-121212", "19121212--1212", "19121212+1212"])
def test_misplaced_or_extra_separator_is_refused(raw: str) -> None:
    """The separator goes once, before the last four digits; '+' only in the 10-digit form."""
    assert refused(PNR, raw).code == "format"


def test_empty_is_refused() -> None:
    """Blank input is refused as 'empty'."""
    assert refused(PNR, "   ").code == "empty"


def test_future_birth_date_is_refused() -> None:
    """A date of birth after `today` is refused, even with a valid check digit."""
    assert personnummer.valid("20301212-1236")
    error = refused(PNR, "20301212-1236")
    assert error.code == "future"
    assert "2030-12-12" in str(error)
    assert check_patient_id(PNR, "20301212-1236", today=date(2031, 1, 1)) == "203012121236"


def test_implausible_century_is_refused() -> None:
    """The check digit ignores the century, so 1812 for 1912 would pass it: over 130 years is refused."""
    assert refused(PNR, "18121212-1212").code == "too_old"


def test_samordningsnummer_given_as_personnummer_is_refused() -> None:
    """A samordningsnummer chosen as personnummer tells the nurse to choose samordningsnummer."""
    error = refused(PNR, "701063-2391")
    assert error.code == "is_samordningsnummer"
    assert "Välj samordningsnummer" in str(error) and "Choose samordningsnummer" in str(error)


def test_personnummer_given_as_samordningsnummer_is_refused() -> None:
    """A personnummer chosen as samordningsnummer tells the nurse to choose personnummer."""
    error = refused(SAM, "19121212-1212")
    assert error.code == "not_samordningsnummer"
    assert "Välj personnummer" in str(error) and "Choose personnummer" in str(error)


def test_samordningsnummer_checks_checksum_and_date() -> None:
    """A samordningsnummer gets the same checksum and date checks (day 91 - 60 = 31 February is no date)."""
    assert refused(SAM, "701063-2392").code == "checksum"
    assert refused(SAM, "19900291-1234").code == "date"


def test_error_is_a_value_error() -> None:
    """PatientIdError is a ValueError, so callers validating input may catch either."""
    with pytest.raises(ValueError):
        check_patient_id(PNR, "x", today=TODAY)


def test_reserve_id_round_trip() -> None:
    """An issued reserve id is accepted unchanged; the date of birth (or 00000000) is in it."""
    issued = new_reserve_id(birth_date=date(1980, 1, 1), rand=lambda n: "7K3Q9X"[:n])
    assert issued == "R19800101-7K3Q9X"
    assert check_patient_id(RES, issued, today=TODAY) == issued
    unknown = new_reserve_id(birth_date=None)
    assert unknown.startswith("R00000000-") and len(unknown) == 16
    assert all(c in RESERVE_ALPHABET for c in unknown[10:])
    assert check_patient_id(RES, unknown, today=TODAY) == unknown


def test_reserve_ids_differ() -> None:
    """The default randomness gives different ids for the same date of birth."""
    assert len({new_reserve_id(birth_date=None) for _ in range(50)}) == 50


def test_reserve_rand_must_keep_to_the_alphabet() -> None:
    """A `rand` giving characters outside the alphabet (e.g. lower-case hex) is refused, not issued."""
    with pytest.raises(ValueError):
        new_reserve_id(birth_date=None, rand=lambda n: "ab01cd"[:n])


def test_reserve_is_normalised_to_upper_case() -> None:
    """Another provider's reserve number is accepted, trimmed and upper-cased."""
    assert check_patient_id(RES, "  sll-99x123 ", today=TODAY) == "SLL-99X123"


@pytest.mark.parametrize("raw", ["", "19121212-1212", "1R", "R", "R--1", "R-", "R 1", "RÅ1", "R" + "1" * 20])
def test_reserve_bad_formats_are_refused(raw: str) -> None:
    """A reserve number must start with a letter (never a personnummer), hold A–Z/0–9/single hyphens, ≤ 20."""
    assert refused(RES, raw).code == "reserve_format"
