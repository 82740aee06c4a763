"""`vardlinje journal audit`: the access log of journal notes for log review — per patient, per user, emergency
accesses — as a table or CSV. Reads the configured database (docs/journal.md)."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
from sqlmodel import Session, col, select

from identity.models import User
from identity.service import aware
from vardlinje.cliutil import run_in_db
from vardlinje.db import utcnow

from . import service
from .patient import PatientIdError
from .policy import Purpose

SWEDEN = ZoneInfo("Europe/Stockholm")
COLUMNS = ("at", "note_id", "patient_id", "actor", "user", "citizen_id", "token_id", "purpose", "reason", "path")


@click.group("journal")
def journal_group() -> None:
    """Journal notes: the access log (who read which note, and why)."""


def _day(value: date | None, *, end: bool = False) -> datetime | None:
    if value is None:
        return None
    # In UTC: SQLite compares the stored UTC text (see journal.http._parse_when).
    return datetime.combine(value + timedelta(days=1 if end else 0), time(), SWEDEN).astimezone(UTC)


@journal_group.command("audit")
@click.option("--patient", help="personnummer, samordningsnummer or reserve number")
@click.option("--user", "username", help="a staff username")
@click.option("--purpose", type=click.Choice([p.value for p in Purpose]), help="e.g. emergency (nödåtkomst)")
@click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), help="first day (Swedish time)")
@click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), help="last day, inclusive")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="CSV (;-separated) on stdout instead of a table")
def audit(patient: str | None, username: str | None, purpose: str | None, since: datetime | None,
          until: datetime | None, limit: int, as_csv: bool) -> None:
    """List accesses to journal notes, newest first."""
    from .http import parse_patient_id  # the same reading of identities as the API

    try:
        patient_id = parse_patient_id(patient, utcnow().astimezone(SWEDEN).date()) if patient else None
    except PatientIdError as exc:
        raise click.BadParameter(str(exc), param_hint="--patient") from exc

    def work(s: Session) -> list[dict[str, str]]:
        user_id = None
        if username:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise click.ClickException(f"no user {username!r}")
            user_id = user.id
        rows = service.audit(s, patient_id=patient_id, user_id=user_id, purpose=purpose,
                             since=_day(since.date() if since else None),
                             until=_day(until.date() if until else None, end=True), limit=limit)
        ids = {r.user_id for r in rows if r.user_id is not None}
        names = {u.id: u.username for u in s.exec(select(User).where(col(User.id).in_(ids)))}
        return [{"at": aware(r.at).astimezone(SWEDEN).isoformat(timespec="seconds"), "note_id": r.note_id,
                 "patient_id": r.patient_id, "actor": r.actor,
                 "user": names.get(r.user_id, "") if r.user_id is not None else "", "citizen_id": r.citizen_id,
                 "token_id": str(r.token_id or ""), "purpose": r.purpose, "reason": r.reason, "path": r.path}
                for r in rows]

    rows = run_in_db(work, clear_errors=(click.ClickException,))
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        click.echo("inga åtkomster / no accesses")
        return
    for r in rows:
        who = r["user"] or (f"invånare {r['citizen_id']}" if r["citizen_id"] else f"token {r['token_id']}")
        reason = f"  skäl: {r['reason']}" if r["reason"] else ""
        click.echo(f"{r['at']}  {r['purpose']:<9} {who:<20} patient {r['patient_id']:<14} anteckning "
                   f"{r['note_id']}{reason}")
    click.echo(f"{len(rows)} åtkomster / accesses")
