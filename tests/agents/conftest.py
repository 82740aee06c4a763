"""Seed data for the registry tests: regions, a care provider, a nurse user, a supervisor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from identity import service as identity
from identity.models import Role
from vardlinje.db import Database

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Stockholm
PASSWORD = "korrekt-häst-batteri"
VOCABULARY = {"triage": 5, "barn": 3, "sprak_en": 2}


@dataclass
class Seed:
    nurse_user_id: int
    other_nurse_user_id: int
    supervisor_id: int


def seed(database: Database) -> Seed:
    """Regions 01, 03 and 05; a care provider running 01 and 03; nurses anna (01, 03) and
    bertil (03); supervisor sven (01)."""

    def work(s: Session) -> Seed:
        identity.create_region(s, "01", "Region Stockholm")
        identity.create_region(s, "03", "Region Uppsala")
        identity.create_region(s, "05", "Region Östergötland")
        provider = identity.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        anna = identity.create_user(s, "anna", PASSWORD, [Role.NURSE], provider.id, ["01", "03"], at=T0)
        bertil = identity.create_user(s, "bertil", PASSWORD, [Role.NURSE], provider.id, ["03"], at=T0)
        sven = identity.create_user(s, "sven", PASSWORD, [Role.SUPERVISOR], provider.id, ["01"], at=T0)
        assert anna.id is not None and bertil.id is not None and sven.id is not None
        return Seed(anna.id, bertil.id, sven.id)

    return database.run_sync(work)
