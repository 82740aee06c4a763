"""The patient's identity in a journal note: check what the nurse typed and normalise it. Pure; no I/O.

Personnummer and samordningsnummer are stored as 12 digits, YYYYMMDDNNNN. The 10-digit forms leave the
century to be worked out from the day they are read and from the separator, which turns from '-' to '+' in
the year of the 100th birthday: a stored 10-digit number would change meaning with time, and the same person
could be filed under two spellings. The 12 digits never change, sort by date of birth and are what the
national e-services (and so the citizen's token, see `citizen`) use.

The personnummer package checks the Luhn digit and the date. It works the century out from the wall clock,
so for the 10-digit forms we do that ourselves from `today` and hand it the 12 digits.

A samordningsnummer is a personnummer whose day is raised by 60 (61–91). The two are kept apart because the
nurse chose the kind: a mix-up is more often a typo than a choice, so we ask her to choose again.

Reserve numbers (`PatientIdKind.RESERVE`) are issued by the care provider when the identity is unknown, and
each provider has its own format. We accept any of them that can never be mistaken for a personnummer:
2–20 characters of A–Z, 0–9 and single hyphens, starting with a letter, stored in upper case. The ones we
issue ourselves (`new_reserve_id`) are ``R`` + date of birth YYYYMMDD (``00000000`` when unknown) + ``-`` +
6 characters from an alphabet without 0/O and 1/I, as they are read aloud over the phone:
``R19800101-7K3Q9X``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import date
from typing import Literal

from personnummer import personnummer  # no stubs: pyproject's ignore_missing_imports makes it Any

from .records import PatientIdKind

PatientIdErrorCode = Literal["empty", "letters", "characters", "length", "format", "checksum", "date", "future",
                             "too_old", "not_samordningsnummer", "is_samordningsnummer", "reserve_format"]

#: Older than this is taken as a typo in the century (the check digit does not cover the century).
MAX_AGE_YEARS = 130
RESERVE_MAX_LENGTH = 20  # NoteContent.patient_id's max_length
RESERVE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, no 1/I
RESERVE_SUFFIX_LENGTH = 6  # 32**6 ≈ 10**9 per date of birth

_DIGITS = "0123456789"
_SEPARATORS = "-+"
_RESERVE = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")
_NOUN = {PatientIdKind.PERSONNUMMER: ("personnumret", "personnummer"),
         PatientIdKind.SAMORDNINGSNUMMER: ("samordningsnumret", "samordningsnummer (coordination number)")}


class PatientIdError(ValueError):
    """A patient identity that cannot be accepted. `str()` is "Svenska / English"; `code` is stable."""

    def __init__(self, code: PatientIdErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: PatientIdErrorCode = code
        self.message = message


def check_patient_id(kind: PatientIdKind, raw: str, *, today: date) -> str:
    """The identity normalised (12 digits, or the reserve number in upper case), or PatientIdError."""
    text = raw.strip()
    if kind == PatientIdKind.RESERVE:
        return _check_reserve(text.upper())
    return _check_number(PatientIdKind(kind), text, today)


def _random_suffix(n: int) -> str:
    return "".join(secrets.choice(RESERVE_ALPHABET) for _ in range(n))


def new_reserve_id(*, birth_date: date | None, rand: Callable[[int], str] = _random_suffix) -> str:
    """A new reserve number ``R<YYYYMMDD|00000000>-<6 characters>``. `rand(n)` gives n characters from
    RESERVE_ALPHABET (default: from `secrets`); uniqueness within the care provider is the caller's to check."""
    born = "00000000" if birth_date is None else f"{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}"
    suffix = rand(RESERVE_SUFFIX_LENGTH)
    if len(suffix) != RESERVE_SUFFIX_LENGTH or any(c not in RESERVE_ALPHABET for c in suffix):
        raise ValueError(f"rand gave {suffix!r}: want {RESERVE_SUFFIX_LENGTH} characters of {RESERVE_ALPHABET}")
    return f"R{born}-{suffix}"


def _check_number(kind: PatientIdKind, text: str, today: date) -> str:
    sv, en = _NOUN[kind]
    if not text:
        raise PatientIdError("empty", f"Ange {sv} / Enter the {en}")
    letters = [c for c in text if c.isalpha()]
    if letters:
        raise PatientIdError("letters", f"{sv.capitalize()} innehåller bokstäver ({_shown(letters)}); bara siffror "
                                        f"och - eller + / The {en} contains letters ({_shown(letters)}); only "
                                        "digits and - or +")
    others = [c for c in text if c not in _DIGITS and c not in _SEPARATORS]
    if others:
        raise PatientIdError("characters", f"{sv.capitalize()} innehåller otillåtna tecken ({_shown(others)}); "
                                           f"bara siffror och - eller + / The {en} contains characters not allowed "
                                           f"({_shown(others)}); only digits and - or +")
    digits = "".join(c for c in text if c in _DIGITS)
    if len(digits) not in (10, 12):
        raise PatientIdError("length", f"{sv.capitalize()} ska ha 10 eller 12 siffror, inte {len(digits)} / The "
                                       f"{en} must have 10 or 12 digits, not {len(digits)}")
    separators = [i for i, c in enumerate(text) if c in _SEPARATORS]
    if len(separators) > 1 or (separators and separators[0] != len(text) - 5):
        raise PatientIdError("format", "Skiljetecknet (- eller +) ska stå en gång, före de fyra sista siffrorna / "
                                       "The separator (- or +) goes once, before the last four digits")
    hundred_plus = bool(separators) and text[separators[0]] == "+"
    if hundred_plus and len(digits) == 12:
        raise PatientIdError("format", "+ används bara i den tiosiffriga formen (ÅÅMMDD+NNNN) / + is only used in "
                                       "the 10-digit form (YYMMDD+NNNN)")
    full = digits if len(digits) == 12 else _with_century(digits, hundred_plus=hundred_plus, today=today)

    try:
        number = personnummer.parse(full)
    except personnummer.PersonnummerException:
        raise _why_invalid(full, sv, en) from None
    coordination = bool(number.is_coordination_number())
    if kind == PatientIdKind.PERSONNUMMER and coordination:
        raise PatientIdError("is_samordningsnummer", f"Dagen är {full[6:8]} (61–91): det är ett samordningsnummer. "
                                                     f"Välj samordningsnummer / The day is {full[6:8]} (61–91): "
                                                     "this is a samordningsnummer. Choose samordningsnummer")
    if kind == PatientIdKind.SAMORDNINGSNUMMER and not coordination:
        raise PatientIdError("not_samordningsnummer", f"Dagen är {full[6:8]}: det är ett personnummer (i ett "
                                                      "samordningsnummer är dagen 61–91). Välj personnummer / "
                                                      f"The day is {full[6:8]}: this is a personnummer (in a "
                                                      "samordningsnummer the day is 61–91). Choose personnummer")
    born: date = number.get_date()
    if born > today:
        raise PatientIdError("future", f"Födelsedatumet {born.isoformat()} ligger i framtiden / The date of birth "
                                       f"{born.isoformat()} is in the future")
    if today.year - born.year > MAX_AGE_YEARS:
        raise PatientIdError("too_old", f"Födelseåret {born.year} ger en ålder över {MAX_AGE_YEARS} år; kontrollera "
                                        f"århundradet / The year of birth {born.year} means an age over "
                                        f"{MAX_AGE_YEARS}; check the century")
    normalised: str = number.format(long_format=True)
    return normalised


def _with_century(short: str, *, hundred_plus: bool, today: date) -> str:
    """YYMMDDNNNN → YYYYMMDDNNNN: the latest date of birth not after `today` ('-'), or 100 years before ('+')."""
    yy, month, day = int(short[0:2]), int(short[2:4]), int(short[4:6])
    if day > 60:
        day -= 60
    year = today.year - (today.year - yy) % 100
    if (month, day) > (today.month, today.day) and year == today.year:
        year -= 100
    if hundred_plus:
        year -= 100
    return f"{year:04d}{short[2:]}"


def _why_invalid(full: str, sv: str, en: str) -> PatientIdError:
    """The package says only "invalid": find out which part is wrong."""
    if full[8:11] == "000":
        return PatientIdError("format", f"Födelsenumret 000 finns inte i {sv} / Serial number 000 does not exist "
                                        f"in the {en}")
    year, month, day = int(full[0:4]), int(full[4:6]), int(full[6:8])
    try:
        date(year, month, day - 60 if day > 60 else day)
    except ValueError:
        return PatientIdError("date", f"{full[0:4]}-{full[4:6]}-{full[6:8]} är inget giltigt datum i {sv} / "
                                      f"{full[0:4]}-{full[4:6]}-{full[6:8]} is not a valid date in the {en}")
    return PatientIdError("checksum", f"Kontrollsiffran i {sv} stämmer inte; kontrollera siffrorna / The check "
                                      f"digit of the {en} does not match; check the digits")


def _check_reserve(text: str) -> str:
    fault = ""
    if not text:
        fault = "Ange reservnumret / Enter the reserve number"
    elif len(text) > RESERVE_MAX_LENGTH:
        fault = (f"Reservnumret har {len(text)} tecken, högst {RESERVE_MAX_LENGTH} / The reserve number has "
                 f"{len(text)} characters, at most {RESERVE_MAX_LENGTH}")
    elif not ("A" <= text[0] <= "Z"):
        fault = ("Reservnumret ska börja med en bokstav A–Z (så att det aldrig kan tas för ett personnummer) / "
                 "The reserve number must start with a letter A–Z (so that it is never taken for a personnummer)")
    elif len(text) < 2 or not _RESERVE.fullmatch(text):
        bad = [c for c in text if c not in _DIGITS and c not in "-" and not ("A" <= c <= "Z")]
        what = f" ({_shown(bad)})" if bad else ""
        fault = (f"Reservnumret får bara innehålla A–Z, 0–9 och enstaka bindestreck mellan dem{what} / The reserve "
                 f"number may only hold A–Z, 0–9 and single hyphens between them{what}")
    if fault:
        raise PatientIdError("reserve_format", fault)
    return text


def _shown(chars: Iterable[str]) -> str:
    """The characters once each, in order, quoted; a space is named."""
    unique = dict.fromkeys(chars)
    return ", ".join("mellanslag/space" if c == " " else f'"{c}"' for c in unique)
