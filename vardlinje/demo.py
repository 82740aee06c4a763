"""Demo data for `vardlinje run`: the 21 regions, one care provider and three staff accounts.

Passwords are random per installation and kept in DATA_DIR/demo-credentials.json (mode 0600)
so `make run` can print them every time; nothing secret is in the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from config.regions import REGIONS
from identity import service as ids
from identity.models import Region

CARE_PROVIDER = "Vårdlinjen Demo Öst AB"
ACCOUNTS: tuple[tuple[str, str, list[str], list[str]], ...] = (
    ("anna.nilsson", "Anna Nilsson", ["nurse"], ["01"]),
    ("erik.johansson", "Erik Johansson", ["nurse"], ["01", "03"]),
    ("lena.berg", "Lena Berg", ["supervisor"], ["01", "03"]),
    ("karin.lund", "Karin Lund", ["region_admin"], ["01"]),
    ("nils.ek", "Nils Ek", ["national_admin"], []),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    roles: list[str]
    password: str


def seed(session: Session, credentials_file: Path, at: datetime) -> list[DemoAccount]:
    """Create what is missing; return the demo accounts with their passwords."""
    for region_id, name in REGIONS.items():
        if session.get(Region, region_id) is None:
            ids.create_region(session, region_id, name)
    session.flush()
    provider = ids.care_provider_by_name(session, CARE_PROVIDER)
    if provider is None:
        provider = ids.create_care_provider(session, CARE_PROVIDER, ["01", "03"], org_number="559999-0001")
    known = _read(credentials_file)
    accounts = []
    for username, display, roles, regions in ACCOUNTS:
        password = known.get(username) or secrets.token_urlsafe(12)
        user = ids.user_by_username(session, username)
        if user is None:
            ids.create_user(session, username, password, roles, provider.id, regions, display, at=at)
        elif username not in known:
            ids.set_password(session, user, password)  # the file was lost: issue a new one
        known[username] = password
        accounts.append(DemoAccount(username, display, roles, password))
    _write(credentials_file, known)
    return accounts


#: The demo nurses in the registry: home region, skills (national vocabulary), further regions.
DEMO_NURSES = {
    "anna.nilsson": ("01", {"triage": 2, "barn": 2}, []),
    "erik.johansson": ("01", {"triage": 3, "sprak_en": 3}, ["03"]),
}


def register_nurses(session: Session, vocabulary: Mapping[str, int], at: datetime) -> None:
    """The demo nurses in the registry (once; skills the vocabulary lacks are left out)."""
    from agents.models import Nurse
    from agents.service import create_nurse

    for username, (home, skills, served) in DEMO_NURSES.items():
        user = ids.user_by_username(session, username)
        if user is None or session.exec(select(Nurse).where(Nurse.user_id == user.id)).first() is not None:
            continue
        known = {k: min(v, vocabulary[k]) for k, v in skills.items() if k in vocabulary}
        create_nurse(session, user, home, known, served, vocabulary=vocabulary, at=at)


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)


def seed_catalog(session: Session, at: datetime) -> int:
    """The generated demo referral catalog (all 21 regions), when the catalog is empty; returns the units
    added."""
    from catalog import store
    from catalog.demo import demo_units

    if store.count_by_region(session):
        return 0
    units = demo_units()
    store.import_units(session, units, by="demo", at=at)
    return len(units)
