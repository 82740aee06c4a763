"""Decision-support documents: the model and the loader (docs/advice.md, "The document format").

A document is Markdown with YAML front matter in `advice/content/<id>.md`. `load_directory` reads them all
and raises `DocumentError` listing every problem as `file: field: message`, so a region editing its content
sees everything wrong at once. `python -m advice.documents [DIR]` checks a folder.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .urgency import CARE_UNIT_TYPES, Urgency, fitting_units

CONTENT = Path(__file__).resolve().parent / "content"
Audience = Literal["vuxen", "barn", "alla"]


class DocumentError(ValueError):
    """One or more documents are invalid; `issues` holds `file: field: message` lines."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    urgency: Urgency
    signs: list[str] = Field(min_length=1, description="any of these → this level")
    questions: list[str] = Field(default_factory=list, description="what the nurse asks to find the signs")
    care_units: list[str] = Field(default_factory=list, description="a subset of the types serving this level")

    @model_validator(mode="after")
    def _units_fit(self) -> Level:
        for code in self.care_units:
            unit = CARE_UNIT_TYPES.get(code)
            if unit is None:
                raise ValueError(f"care_units: {code!r} is not a care-unit type ({', '.join(CARE_UNIT_TYPES)})")
            if self.urgency not in unit.fits:
                raise ValueError(f"care_units: {code!r} does not serve urgency {self.urgency.value!r}")
        return self

    @property
    def units(self) -> list[str]:
        """The care-unit types for this level: the document's choice, else every type that serves it."""
        return list(self.care_units) or [u.code for u in fitting_units(self.urgency)]


def _lower_texts(values: list[str]) -> list[str]:
    for value in values:
        if not value.strip():
            raise ValueError("empty entry")
        if value != value.lower():
            raise ValueError(f"{value!r} must be lower case (the search compares lower-case text)")
    return values


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str = Field(min_length=1)
    contact_reason: str
    audience: Audience
    terms: list[str] = Field(min_length=1, description="symptoms, body parts, events, diagnoses")
    synonyms: list[str] = Field(min_length=1, description="the caller's own words")
    version: int = Field(ge=1)
    reviewed_by: str = Field(min_length=1)
    review_date: date
    demo: bool = False
    levels: list[Level] = Field(min_length=2)
    self_care: list[str] = Field(default_factory=list)
    body: str = ""

    _terms = field_validator("terms", "synonyms")(_lower_texts)

    @model_validator(mode="after")
    def _consistent(self) -> Document:
        if self.contact_reason != self.id:
            raise ValueError(f"contact_reason {self.contact_reason!r} must equal id {self.id!r}")
        ranks = [level.urgency.rank for level in self.levels]
        if ranks != sorted(set(ranks)):
            raise ValueError("levels must go from the most to the least urgent, each urgency once")
        if self.levels[0].urgency not in (Urgency.CALL_112, Urgency.EMERGENCY_NOW):
            raise ValueError("the first level holds the red flags: its urgency must be 112 or akut")
        has_self_care = self.levels[-1].urgency is Urgency.SELF_CARE
        if has_self_care and not self.self_care:
            raise ValueError("self_care advice is required with an egenvard level")
        if self.self_care and not has_self_care:
            raise ValueError("self_care advice needs an egenvard level")
        return self

    @property
    def highest(self) -> Urgency:
        return self.levels[0].urgency


def _split(text: str) -> tuple[str, str]:
    """Front matter and body of a Markdown file that starts with `---`."""
    if not text.startswith("---"):
        raise ValueError("the file must start with YAML front matter between --- lines")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise ValueError("the front matter is not closed by a --- line")
    front = parts[0].removeprefix("---")
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return front, body.strip()


def _where(loc: Iterable[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "(document)"


def parse(path: Path) -> Document:
    """One document; DocumentError naming the file and each bad field."""
    try:
        front, body = _split(path.read_text(encoding="utf-8"))
        data = yaml.safe_load(front)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise DocumentError([f"{path}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise DocumentError([f"{path}: the front matter must be a mapping of fields"])
    try:
        doc = Document.model_validate({**data, "body": body})
    except ValidationError as exc:
        raise DocumentError([f"{path}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]) from exc
    if doc.id != path.stem:
        raise DocumentError([f"{path}: id: {doc.id!r} must equal the file name {path.stem!r}"])
    return doc


def load_directory(directory: Path = CONTENT) -> dict[str, Document]:
    """Every `*.md` document of the folder by id; DocumentError listing every problem in every file."""
    issues: list[str] = []
    found: dict[str, Document] = {}
    files = sorted(directory.glob("*.md"))
    if not files:
        raise DocumentError([f"{directory}: no documents (*.md)"])
    for path in files:
        try:
            doc = parse(path)
        except DocumentError as exc:
            issues.extend(exc.issues)
            continue
        found[doc.id] = doc
    if issues:
        raise DocumentError(issues)
    return found


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else CONTENT
    try:
        docs = load_directory(directory)
    except DocumentError as exc:
        print(f"{len(exc.issues)} problem(s):\n{exc}")
        return 1
    print(f"{len(docs)} documents OK in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
