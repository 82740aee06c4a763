"""The catalog in SQL: one row per care unit (the unit as JSON, plus the columns we filter by), written in one
transaction per import or edit so that a broken file leaves nothing half-imported."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, Session, SQLModel, col, select

from .model import CareUnit, unit_data


class CareUnitRow(SQLModel, table=True):
    __tablename__ = "care_unit"

    id: str = Field(primary_key=True, max_length=64)
    region_id: str = Field(max_length=16, index=True)
    type: str = Field(max_length=32, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_by: str = Field(default="", max_length=100, description="username, or import:<file name>")


def to_unit(row: CareUnitRow) -> CareUnit:
    return CareUnit.model_validate(row.data)


def units(s: Session, regions: Iterable[str] | None = None) -> list[CareUnit]:
    stmt = select(CareUnitRow)
    if regions is not None:
        stmt = stmt.where(col(CareUnitRow.region_id).in_(list(regions)))
    return [to_unit(r) for r in s.exec(stmt.order_by(col(CareUnitRow.id)))]


def unit(s: Session, unit_id: str) -> CareUnit | None:
    row = s.get(CareUnitRow, unit_id)
    return to_unit(row) if row is not None else None


def _row_data(u: CareUnit) -> dict[str, Any]:
    return unit_data(u)


def put(s: Session, u: CareUnit, *, by: str, at: datetime) -> bool:
    """Insert or replace one unit; True when it is new."""
    row = s.get(CareUnitRow, u.id)
    created = row is None
    if row is None:
        row = CareUnitRow(id=u.id, region_id=u.region, type=u.type, data=_row_data(u), updated_at=at, updated_by=by)
    else:
        row.region_id, row.type, row.data, row.updated_at, row.updated_by = u.region, u.type, _row_data(u), at, by
    s.add(row)
    return created


def delete(s: Session, unit_id: str) -> bool:
    row = s.get(CareUnitRow, unit_id)
    if row is None:
        return False
    s.delete(row)
    return True


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    removed: int
    regions: tuple[str, ...]


def import_units(s: Session, new: Sequence[CareUnit], *, by: str, at: datetime, replace: bool = False,
                 progress: Any = None) -> ImportResult:
    """Upsert every unit (the caller's transaction: all or nothing). With `replace`, the regions in the file
    keep only the file's units. `progress` (a tqdm bar or None) is advanced per unit."""
    created = updated = removed = 0
    for u in new:
        if put(s, u, by=by, at=at):
            created += 1
        else:
            updated += 1
        if progress is not None:
            progress.update(1)
    regions = tuple(sorted({u.region for u in new}))
    if replace and regions:
        keep = {u.id for u in new}
        for row in s.exec(select(CareUnitRow).where(col(CareUnitRow.region_id).in_(regions))):
            if row.id not in keep:
                s.delete(row)
                removed += 1
    s.flush()
    return ImportResult(created, updated, removed, regions)


def count_by_region(s: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for region in s.exec(select(CareUnitRow.region_id)):
        counts[region] = counts.get(region, 0) + 1
    return counts
