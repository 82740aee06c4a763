"""The crisis switch's table: `crisis_change`, the append-only log of every switch change.

Kept apart from `routing.crisis` (Redis, pub/sub) so `vardlinje.models` can register the table
without importing the live machinery.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class CrisisChange(SQLModel, table=True):
    """One change of the crisis switch. The database refuses UPDATE and DELETE (triggers, migration 0005)."""

    __tablename__ = "crisis_change"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False),
                               description='county codes, or ["*"] for every region')
    active: bool = Field(description="True: redirected to the national queue from `at`; False: back")
    by: str = Field(max_length=100, description="the username")
    reason: str = Field(max_length=500)
