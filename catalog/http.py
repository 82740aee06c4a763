"""HTTP API of the referral catalog (docs/catalog.md, docs/openapi.yaml).

- `GET    /api/v1/catalog/units` — search: region, type, service, urgency, open_at / within_hours, near or
  municipality, max_km, age, limit; staff sessions, tokens with `catalog:read`;
- `GET    /api/v1/catalog/units/{id}` — one unit;
- `PUT    /api/v1/catalog/units/{id}` — create or replace a unit (region admins: their regions' units;
  national admins: any); `DELETE` removes it;
- `GET    /api/v1/catalog/export?format=fhir|csv&region=` and `POST /api/v1/catalog/import?replace=` (admins;
  a FHIR Bundle or CSV body, all or nothing, every problem named);
- `GET    /api/v1/catalog/municipalities` — the municipality names and points (for pickers).

The search runs on an in-memory index, rebuilt when the catalog's stamp (row count and newest change) moves —
so every app instance sees every other's edits at its next search.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, select

from advice.urgency import CARE_UNIT_TYPES, Urgency
from config.hours import STOCKHOLM
from identity.http import IDENTITY, Principal, forbidden, get_principal, json_error, unauthenticated
from identity.models import Role
from vardlinje.appkeys import DB, SETTINGS

from . import csv_io, fhir, store
from .errors import CatalogImportError
from .model import ACCESS_SV, CareUnit, unit_data
from .municipalities import load as municipalities
from .search import CatalogIndex, Hit, Query

log = logging.getLogger("vardlinje.catalog")

UNITS_PATH = "/api/v1/catalog/units"
UNIT_PATH = "/api/v1/catalog/units/{unit_id}"
EXPORT_PATH = "/api/v1/catalog/export"
IMPORT_PATH = "/api/v1/catalog/import"
MUNICIPALITIES_PATH = "/api/v1/catalog/municipalities"
CATALOG_READ = "catalog:read"
STAFF = (Role.NURSE, Role.SUPERVISOR, Role.REGION_ADMIN, Role.NATIONAL_ADMIN)
ADMINS = (Role.REGION_ADMIN, Role.NATIONAL_ADMIN)
NO_STORE = {"Cache-Control": "no-store"}
MAX_IMPORT_BYTES = 50 * 1024 * 1024
T = TypeVar("T")


@dataclass
class LiveCatalog:
    """The index of the current catalog and the stamp it was built for."""

    stamp: tuple[int, str] | None = None
    index: CatalogIndex = field(default_factory=CatalogIndex)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


CATALOG = web.AppKey("catalog", LiveCatalog)


def _stamp(s: Session) -> tuple[int, str]:
    count, newest = s.exec(select(func.count(), func.max(store.CareUnitRow.updated_at))).one()
    return int(count), str(newest)


async def current_index(app: web.Application) -> CatalogIndex:
    live = app[CATALOG]
    db = app[DB]
    stamp = await db.run(_stamp)
    if stamp != live.stamp:
        async with live.lock:
            if stamp != live.stamp:
                units = await db.run(lambda s: store.units(s))
                live.index = await asyncio.to_thread(CatalogIndex.build, units)
                live.stamp = stamp
                log.info("catalog index rebuilt: %d units", len(units))
    return live.index


def changed(app: web.Application) -> None:
    """This instance changed the catalog: rebuild at the next search even if the stamp looks the same (two
    edits within the clock's resolution). Other instances see the stamp move."""
    app[CATALOG].stamp = None


def _bad(detail: str, **extra: Any) -> web.Response:
    return web.json_response({"error": "bad_request", "detail": detail, **extra}, status=400)


def _reader(request: web.Request) -> Principal | web.Response:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via == "token":
        if CATALOG_READ not in principal.scopes:
            return forbidden(request, "insufficient_scope", f"Kräver en API-token med behörigheten {CATALOG_READ} / "
                                                            f"requires an API token with scope {CATALOG_READ}")
    elif not principal.has_role(*STAFF):
        return forbidden(request, "forbidden", "Hänvisningsstödet är för personal / the catalog is for staff")
    return principal


def _admin(request: web.Request) -> Principal | web.Response:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session" or not principal.has_role(*ADMINS):
        return forbidden(request, "forbidden", "Katalogen ändras av regionens administratör / the catalog is edited "
                                               "by region admins")
    return principal


def may_edit(principal: Principal, region: str) -> bool:
    return principal.has_role(Role.NATIONAL_ADMIN) or (principal.has_role(Role.REGION_ADMIN)
                                                       and region in principal.region_ids)


def unit_json(u: CareUnit) -> dict[str, Any]:
    data = unit_data(u)
    data["type_sv"] = CARE_UNIT_TYPES[u.type].name_sv
    data["access_sv"] = ACCESS_SV[u.access]
    return data


def hit_json(h: Hit) -> dict[str, Any]:
    s = h.state
    return {"unit": unit_json(h.unit), "fit": h.fit,
            "distance_km": round(h.distance_km, 2) if h.distance_km is not None else None,
            "open": s.open if s else None,
            "opens_at": s.opens_at.isoformat() if s and s.opens_at else None,
            "closes_at": s.closes_at.isoformat() if s and s.closes_at else None}


def parse_query(params: Any, now: datetime) -> Query:
    """The search parameters (a multidict: region, type, service repeatable). ValueError says what is wrong."""
    def number(name: str, kind: Callable[[str], T]) -> T | None:
        raw = params.get(name)
        if raw in (None, ""):
            return None
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a number") from None

    types = params.getall("type", [])
    unknown = [t for t in types if t not in CARE_UNIT_TYPES]
    if unknown:
        raise ValueError(f"type: unknown {', '.join(unknown)} (one of {', '.join(CARE_UNIT_TYPES)})")
    urgency = params.get("urgency")
    if urgency and urgency not in {u.value for u in Urgency}:
        raise ValueError(f"urgency: one of {', '.join(u.value for u in Urgency)}")
    at = None
    if params.get("open_at"):
        raw = params["open_at"]
        if raw == "now":
            at = now
        else:
            try:
                at = datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError("open_at: an ISO time, e.g. 2026-11-27T20:00+01:00, or now") from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=STOCKHOLM)
    within = number("within_hours", float)
    if within is not None:
        if not 0 <= within <= 24 * 7:
            raise ValueError("within_hours: 0–168")
        at = at or now
    near = None
    if params.get("near") and params.get("municipality"):
        raise ValueError("give near or municipality, not both")
    if params.get("near"):
        try:
            lat, lon = (float(p) for p in params["near"].split(","))
        except ValueError:
            raise ValueError("near: LAT,LON, e.g. 59.33,18.06") from None
        near = (lat, lon)
    elif params.get("municipality"):
        found = municipalities().by_name(params["municipality"])
        if found is None:
            raise ValueError(f"municipality: unknown {params['municipality']!r}")
        near = (found.lat, found.lon)
    age = number("age", int)
    if age is not None and not 0 <= age <= 130:
        raise ValueError("age: 0–130")
    limit = number("limit", int)
    limit = 20 if limit is None else limit
    if not 1 <= limit <= 200:
        raise ValueError("limit: 1–200")
    max_km = number("max_km", float)
    if max_km is not None and near is None:
        raise ValueError("max_km needs near or municipality")
    return Query(regions=frozenset(params.getall("region", [])) or None, types=frozenset(types) or None,
                 services=frozenset(params.getall("service", [])), urgency=Urgency(urgency) if urgency else None,
                 at=at, within=timedelta(hours=within) if within is not None else None, near=near, max_km=max_km,
                 age=age, limit=limit)


async def search_units(request: web.Request) -> web.StreamResponse:
    principal = _reader(request)
    if isinstance(principal, web.Response):
        return principal
    try:
        q = parse_query(request.query, request.config_dict[IDENTITY].clock())
    except ValueError as exc:
        return _bad(f"Felaktig sökning / bad search: {exc}")
    hits = (await current_index(request.app)).search(q)
    return web.json_response({"hits": [hit_json(h) for h in hits]}, headers=NO_STORE)


async def get_unit(request: web.Request) -> web.StreamResponse:
    principal = _reader(request)
    if isinstance(principal, web.Response):
        return principal
    unit_id = request.match_info["unit_id"]
    found = await request.config_dict[DB].run(lambda s: store.unit(s, unit_id))
    if found is None:
        return json_error(404, "unknown_unit", f"Ingen enhet {unit_id!r} / no such unit")
    return web.json_response(unit_json(found), headers=NO_STORE)


def _issues(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()]


async def put_unit(request: web.Request) -> web.StreamResponse:
    principal = _admin(request)
    if isinstance(principal, web.Response):
        return principal
    unit_id = request.match_info["unit_id"]
    try:
        body = await request.json()
    except ValueError:
        return _bad("Ogiltig JSON / invalid JSON")
    if not isinstance(body, dict):
        return _bad("Förväntade ett objekt / expected an object")
    body.pop("type_sv", None)
    body.pop("access_sv", None)
    try:
        unit = CareUnit.model_validate({**body, "id": unit_id})
    except ValidationError as exc:
        return _bad("Enheten har fel / the unit has errors", issues=_issues(exc))
    existing = await request.config_dict[DB].run(lambda s: store.unit(s, unit_id))
    for region in {unit.region, *([existing.region] if existing else [])}:
        if not may_edit(principal, region):
            return forbidden(request, "forbidden", f"Du administrerar inte region {region} / not your region")
    at = request.config_dict[IDENTITY].clock()
    created = await request.config_dict[DB].run(lambda s: store.put(s, unit, by=principal.username, at=at))
    changed(request.app)
    log.info("catalog unit %s %s by %s", unit_id, "created" if created else "updated", principal.username)
    return web.json_response(unit_json(unit), status=201 if created else 200, headers=NO_STORE)


async def delete_unit(request: web.Request) -> web.StreamResponse:
    principal = _admin(request)
    if isinstance(principal, web.Response):
        return principal
    unit_id = request.match_info["unit_id"]
    existing = await request.config_dict[DB].run(lambda s: store.unit(s, unit_id))
    if existing is None:
        return json_error(404, "unknown_unit", f"Ingen enhet {unit_id!r} / no such unit")
    if not may_edit(principal, existing.region):
        return forbidden(request, "forbidden", f"Du administrerar inte region {existing.region} / not your region")
    await request.config_dict[DB].run(lambda s: store.delete(s, unit_id))
    changed(request.app)
    log.info("catalog unit %s deleted by %s", unit_id, principal.username)
    return web.Response(status=204)


async def export(request: web.Request) -> web.StreamResponse:
    principal = _reader(request)
    if isinstance(principal, web.Response):
        return principal
    fmt = request.query.get("format", "fhir")
    if fmt not in ("fhir", "csv"):
        return _bad("format är fhir eller csv / format is fhir or csv")
    regions = request.query.getall("region", []) or None
    units = await request.config_dict[DB].run(lambda s: store.units(s, regions))
    if fmt == "csv":
        return web.Response(text=csv_io.units_csv(units), content_type="text/csv", charset="utf-8",
                            headers={**NO_STORE, "Content-Disposition": 'attachment; filename="katalog.csv"'})
    bundle = fhir.units_bundle(units, base_url=request.config_dict[SETTINGS].http.public_url)
    return web.json_response(bundle, content_type="application/fhir+json", headers=NO_STORE)


async def import_(request: web.Request) -> web.StreamResponse:
    """A whole file in the body: CSV (text/csv) or a FHIR Bundle (JSON). All or nothing."""
    principal = _admin(request)
    if isinstance(principal, web.Response):
        return principal
    if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES:
        return json_error(413, "too_large", f"Högst {MAX_IMPORT_BYTES // 2**20} MB / at most "
                                            f"{MAX_IMPORT_BYTES // 2**20} MB")
    raw = await request.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _bad("Filen är inte UTF-8 / the file is not UTF-8")
    try:
        if request.content_type == "text/csv":
            units = csv_io.units_from_csv(text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                return _bad(f"Inte JSON (rad {exc.lineno}, kolumn {exc.colno}) / not JSON: {exc.msg}")
            units = fhir.units_from_bundle(data)
    except CatalogImportError as exc:
        return _bad("Inget importerades; rätta felen / nothing was imported; fix the problems",
                    problems=exc.problems)
    foreign = sorted({u.region for u in units if not may_edit(principal, u.region)})
    if foreign:
        return forbidden(request, "forbidden", f"Filen har enheter i regioner du inte administrerar: "
                                               f"{', '.join(foreign)} / units of regions you do not administer")
    replace = request.query.get("replace") in ("1", "true", "yes")
    at = request.config_dict[IDENTITY].clock()
    result = await request.config_dict[DB].run(
        lambda s: store.import_units(s, units, by=principal.username, at=at, replace=replace))
    changed(request.app)
    log.info("catalog import by %s: %d new, %d updated, %d removed", principal.username, result.created,
             result.updated, result.removed)
    return web.json_response({"units": len(units), "created": result.created, "updated": result.updated,
                              "removed": result.removed, "regions": list(result.regions)}, headers=NO_STORE)


async def list_municipalities(request: web.Request) -> web.StreamResponse:
    principal = _reader(request)
    if isinstance(principal, web.Response):
        return principal
    region = request.query.get("region")
    items = [m for m in municipalities().all() if region is None or m.region == region]
    return web.json_response({"municipalities": [{"code": m.code, "name": m.name, "region": m.region, "lat": m.lat,
                                                  "lon": m.lon} for m in items]},
                             headers={"Cache-Control": "max-age=3600"})


def setup_catalog(app: web.Application) -> None:
    app[CATALOG] = LiveCatalog()
    app.router.add_get(UNITS_PATH, search_units)
    app.router.add_get(UNIT_PATH, get_unit)
    app.router.add_put(UNIT_PATH, put_unit)
    app.router.add_delete(UNIT_PATH, delete_unit)
    app.router.add_get(EXPORT_PATH, export)
    app.router.add_post(IMPORT_PATH, import_)
    app.router.add_get(MUNICIPALITIES_PATH, list_municipalities)
    from .pages import add_routes as add_admin_page  # the page imports this module's paths
    from .referral import add_routes as add_referral_routes

    add_referral_routes(app)
    add_admin_page(app)  # after the desktop's /static route (create_app's order)
