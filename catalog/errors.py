"""The one error of a catalog import: every problem found, each naming where it is, and nothing imported."""

from __future__ import annotations

from typing import Any

from .model import TAG, UNIT_ID

#: How many problems `str()` lists; `problems` always holds them all.
SHOWN = 20


#: What a pattern of the model means, for the person fixing the file.
PATTERN_HINTS = {
    UNIT_ID: "an id is lower-case letters, digits and -, 2–64 characters, e.g. 01-vc-hjorthagen",
    TAG.pattern: "a tag is lower-case letters, digits, _ and -, e.g. provtagning",
    r"^[0-9]{2}$": "a county code is two digits, e.g. 01",
    r"^$|^[0-9]{3} ?[0-9]{2}$": "a postcode is five digits, e.g. 114 28",
}


class CatalogImportError(ValueError):
    """An import that found problems. `where` names the input ("CSV", "FHIR Bundle", a file name…);
    `problems` lists them all, each a line naming the row/entry and the column/field."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = list(problems)
        super().__init__(self.summary())

    def summary(self) -> str:
        n = len(self.problems)
        head = f"{self.where}: {n} problem{'' if n == 1 else 's'}, nothing imported"
        lines = [head, *(f"  {p}" for p in self.problems[:SHOWN])]
        if n > SHOWN:
            lines.append(f"  … and {n - SHOWN} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def describe(error: Any) -> str:
    """A pydantic error (an item of `ValidationError.errors()`) in words for the person fixing the file,
    without pydantic's "Input should be" phrasing where a shorter one says more."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    msg = str(error.get("msg", ""))
    shown = value if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        return f"{shown}: {msg}" if scalar and str(value) not in msg else msg
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a known field"
    if kind == "less_than_equal":
        return f"{shown} is above {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"{shown} is below {ctx.get('ge')}"
    if kind == "less_than":
        return f"{shown} is not below {ctx.get('lt')}"
    if kind == "greater_than":
        return f"{shown} is not above {ctx.get('gt')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return f"{shown}: {PATTERN_HINTS.get(pattern, f'does not match {pattern}')}"
    if kind == "string_too_short":
        return f"{shown} is shorter than {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"{shown} is longer than {ctx.get('max_length')} characters"
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return f"{shown}: {msg}"
    return msg
