"""Reading and writing catalog files by format: FHIR R4 Bundles (.json) and CSV (.csv)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from . import csv_io, fhir
from .errors import CatalogImportError
from .model import CareUnit


def read_units(path: Path) -> list[CareUnit]:
    """The units of a catalog file; CatalogImportError naming every problem (nothing is returned otherwise)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogImportError(str(path), [f"cannot read the file: {exc}"]) from exc
    if path.suffix.lower() == ".csv":
        return _named(path, lambda: csv_io.units_from_csv(text))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogImportError(str(path), [f"not JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]) \
            from exc
    return _named(path, lambda: fhir.units_from_bundle(data))


def _named(path: Path, read: Callable[[], list[CareUnit]]) -> list[CareUnit]:
    """The problems name the file too."""
    try:
        return read()
    except CatalogImportError as exc:
        raise CatalogImportError(str(path), exc.problems) from exc


def write_units(units: Sequence[CareUnit], fmt: str, *, base_url: str) -> str:
    if fmt == "csv":
        return csv_io.units_csv(units)
    return json.dumps(fhir.units_bundle(units, base_url=base_url), ensure_ascii=False, indent=1) + "\n"
