"""`vardlinje catalog …`: import, export and search the referral catalog from the command line
(docs/catalog.md). Reads and writes the configured database."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session
from tqdm import tqdm

from advice.urgency import CARE_UNIT_TYPES, Urgency
from config.hours import STOCKHOLM
from vardlinje.cliutil import run_in_db
from vardlinje.db import utcnow
from vardlinje.settings import load_settings

from . import store
from .errors import CatalogImportError
from .io import read_units, write_units
from .model import ACCESS_SV
from .municipalities import load as load_municipalities
from .search import CatalogIndex, Hit, Query


@click.group("catalog")
def catalog_group() -> None:
    """The referral catalog (hänvisningsstöd): care units per region."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="the regions in the file keep only the file's units")
def import_(file: Path, replace: bool) -> None:
    """Import care units from FILE: a FHIR R4 Bundle (.json) or CSV (.csv). All or nothing: a problem in any
    unit imports none, and every problem is listed with its row/resource and field."""
    try:
        units = read_units(file)
    except CatalogImportError as exc:
        raise click.ClickException(str(exc)) from exc
    at = utcnow()
    with tqdm(total=len(units), desc="importerar", unit="enhet", file=sys.stderr, leave=False,
              disable=len(units) < 200) as bar:
        result = run_in_db(lambda s: store.import_units(s, units, by=f"import:{file.name}", at=at, replace=replace,
                                                       progress=bar))
    click.echo(f"{len(units)} units from {file}: {result.created} new, {result.updated} updated"
               + (f", {result.removed} removed" if replace else "") + f"; regions {', '.join(result.regions)}")


@catalog_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["fhir", "csv"]), default="fhir", show_default=True)
@click.option("--region", "regions", multiple=True, help="only these regions (repeatable)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file (default: stdout)")
def export(fmt: str, regions: tuple[str, ...], output: Path | None) -> None:
    """Export the catalog as a FHIR R4 Bundle (HealthcareService + Location + Organization) or CSV."""
    units = run_in_db(lambda s: store.units(s, regions or None))
    text = write_units(units, fmt, base_url=load_settings().http.public_url)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(units)} units written to {output}", err=True)


@catalog_group.command("demo")
@click.option("--replace", is_flag=True, help="drop the demo regions' other units")
def demo(replace: bool) -> None:
    """Load the generated demo catalog (fictional units in all 21 regions)."""
    from .demo import demo_units

    units = demo_units()
    at = utcnow()
    with tqdm(total=len(units), desc="demokatalog", unit="enhet", file=sys.stderr, leave=False) as bar:
        result = run_in_db(lambda s: store.import_units(s, units, by="demo", at=at, replace=replace, progress=bar))
    click.echo(f"demo catalog: {len(units)} units in {len(result.regions)} regions ({result.created} new)")


def _point(near: str | None, municipality: str | None) -> tuple[float, float] | None:
    if near and municipality:
        raise click.UsageError("give --near or --municipality, not both")
    if municipality:
        found = load_municipalities().by_name(municipality)
        if found is None:
            raise click.BadParameter(f"okänd kommun / unknown municipality {municipality!r}",
                                     param_hint="--municipality")
        return found.lat, found.lon
    if near:
        try:
            lat, lon = (float(p) for p in near.split(","))
        except ValueError:
            raise click.BadParameter("LAT,LON, e.g. 59.33,18.06", param_hint="--near") from None
        return lat, lon
    return None


def _when(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%a %d %b %H:%M") if value else ""


def hit_json(h: Hit) -> dict[str, Any]:
    s = h.state
    return {"id": h.unit.id, "name": h.unit.name, "type": h.unit.type, "region": h.unit.region,
            "municipality": h.unit.municipality, "phone": h.unit.phone, "address": h.unit.address,
            "distance_km": round(h.distance_km, 2) if h.distance_km is not None else None,
            "open": s.open if s else None, "opens_at": s.opens_at.isoformat() if s and s.opens_at else None,
            "closes_at": s.closes_at.isoformat() if s and s.closes_at else None, "fit": h.fit}


@catalog_group.command("search")
@click.option("--region", "regions", multiple=True, help="county code, repeatable")
@click.option("--type", "types", multiple=True, type=click.Choice(list(CARE_UNIT_TYPES)), help="repeatable")
@click.option("--service", "services", multiple=True, help="required service tag, repeatable")
@click.option("--urgency", type=click.Choice([u.value for u in Urgency]))
@click.option("--open-at", "open_at", help="ISO time, e.g. 2026-11-27T20:00 (Swedish time if no offset); "
                                           "'now' for now")
@click.option("--within", "within_hours", type=click.FloatRange(0, 24 * 7), help="or opening within this many hours")
@click.option("--near", help="LAT,LON")
@click.option("--municipality", help="a kommun, e.g. Umeå")
@click.option("--max-km", type=click.FloatRange(0), help="only units within this distance")
@click.option("--age", type=click.IntRange(0, 130))
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search_command(regions: tuple[str, ...], types: tuple[str, ...], services: tuple[str, ...], urgency: str | None,
                   open_at: str | None, within_hours: float | None, near: str | None, municipality: str | None,
                   max_km: float | None, age: int | None, limit: int, as_json: bool) -> None:
    """Which units fit: by fit, open state and distance."""
    at = None
    if open_at:
        try:
            at = utcnow() if open_at == "now" else datetime.fromisoformat(open_at)
        except ValueError:
            raise click.BadParameter("an ISO time, e.g. 2026-11-27T20:00", param_hint="--open-at") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=STOCKHOLM)
    if within_hours is not None and at is None:
        at = utcnow()
    try:
        q = Query(regions=frozenset(regions) or None, types=frozenset(types) or None, services=frozenset(services),
                  urgency=Urgency(urgency) if urgency else None, at=at,
                  within=timedelta(hours=within_hours) if within_hours is not None else None,
                  near=_point(near, municipality), max_km=max_km, age=age, limit=limit)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    def work(s: Session) -> list[Hit]:
        return CatalogIndex.build(store.units(s, regions or None)).search(q)

    hits = run_in_db(work)
    if as_json:
        click.echo(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("Inga enheter passar / no units fit")
    for n, h in enumerate(hits, 1):
        u, s = h.unit, h.state
        where = f"{h.distance_km:.1f} km" if h.distance_km is not None else u.municipality
        state = ""
        if s is not None:
            state = ("öppet" + (f" till {_when(s.closes_at)}" if s.closes_at else " dygnet runt")) if s.open else \
                (f"öppnar {_when(s.opens_at)}" if s.opens_at else "stängt")
        click.echo(f"{n:>2}. {u.name} [{CARE_UNIT_TYPES[u.type].name_sv}, {ACCESS_SV[u.access]}] {where}  {state}"
                   f"  {u.phone}")
