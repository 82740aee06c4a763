"""The catalog's API on a real database: search with every parameter, edits by the region's admin only,
import all-or-nothing with named problems, export, and the index following edits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from catalog import csv_io, store
from catalog.http import setup_catalog
from catalog.model import CareUnit, unit_data
from identity import service
from identity.models import Role
from vardlinje.db import Database

from ..identity.conftest import PASSWORD, T0, FakeClock, build_app, clock, login, redis  # noqa: F401
from .test_search import ALWAYS, FAR, NEAR, OFFICE, STOCKHOLM, unit

Client = TestClient[web.Request, web.Application]
UNITS = [
    unit("01-akut", "akutmottagning", NEAR, ALWAYS, name="Akuten Nära"),
    unit("01-vc", "vardcentral", NEAR, OFFICE, services=["provtagning"]),
    unit("03-vc", "vardcentral", FAR, OFFICE, region="03", municipality="Uppsala"),
]


@pytest.fixture
async def client(database: Database, redis: Redis, clock: FakeClock) -> AsyncIterator[Client]:  # noqa: F811
    def seed(s: Any) -> None:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        service.create_user(s, "anna", PASSWORD, [Role.NURSE], provider.id, ["01"], at=T0)
        service.create_user(s, "karin", PASSWORD, [Role.REGION_ADMIN], provider.id, ["01"], at=T0)
        store.import_units(s, UNITS, by="test", at=T0)

    database.run_sync(seed)
    app = build_app(database, redis, clock)
    setup_catalog(app)
    c: Client = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


async def _search(client: Client, **params: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/api/v1/catalog/units", params=params)
    return resp.status, dict(await resp.json())


async def test_search_by_urgency_open_time_and_place(client: Client) -> None:
    """A nurse asks: urgency timmar, opening within 14 h of Thursday 19:00, near Stockholm — the vårdcentraler,
    nearest first, with when they open; 'akut' gives the emergency department, open, with its distance."""
    await login(client, "anna")
    status, body = await _search(client, urgency="timmar", open_at="2026-11-26T19:00", within_hours="14",
                                 near=f"{STOCKHOLM[0]},{STOCKHOLM[1]}")
    assert status == 200, body
    assert [h["unit"]["id"] for h in body["hits"]] == ["01-vc", "03-vc"]
    assert body["hits"][0]["opens_at"] == "2026-11-27T08:00:00+01:00" and body["hits"][0]["open"] is False
    assert body["hits"][0]["unit"]["hours"]["weekly"]["monday"] == ["08:00-17:00"]
    status, body = await _search(client, urgency="akut", open_at="now", municipality="Stockholm")
    assert [h["unit"]["id"] for h in body["hits"]] == ["01-akut"] and body["hits"][0]["distance_km"] < 5
    status, body = await _search(client, region="03", type="vardcentral")
    assert [h["unit"]["id"] for h in body["hits"]] == ["03-vc"]
    status, body = await _search(client, service="provtagning")
    assert [h["unit"]["id"] for h in body["hits"]] == ["01-vc"]


@pytest.mark.parametrize("params", [{"urgency": "snart"}, {"type": "sjukhus"}, {"near": "59.3"},
                                    {"municipality": "Atlantis"}, {"open_at": "igår"}, {"age": "-1"},
                                    {"limit": "0"}, {"max_km": "5"}, {"near": "59,18", "municipality": "Umeå"}])
async def test_bad_searches_are_400_naming_the_parameter(client: Client, params: dict[str, str]) -> None:
    """Each bad parameter: 400 naming it, never a 500."""
    await login(client, "anna")
    status, body = await _search(client, **params)
    assert status == 400 and body["error"] == "bad_request", body


async def test_the_region_admin_edits_her_regions_units_and_the_search_follows(client: Client) -> None:
    """Karin (admin of 01) adds and changes a unit of 01 — the next search finds it — and may not touch 03's;
    a nurse may not edit; a bad unit is 400 with the field named."""
    await login(client, "karin")
    me = await (await client.get("/api/v1/me")).json()
    h = {"X-CSRF-Token": me["csrf_token"]}
    new = unit_data(unit("01-jour", "jourcentral", NEAR, ALWAYS, name="Jouren"))
    resp = await client.put("/api/v1/catalog/units/01-jour", json=new, headers=h)
    assert resp.status == 201, await resp.text()
    status, body = await _search(client, type="jourcentral")
    assert [hit["unit"]["name"] for hit in body["hits"]] == ["Jouren"]
    resp = await client.put("/api/v1/catalog/units/01-jour", json={**new, "name": "Jouren City"}, headers=h)
    assert resp.status == 200
    status, body = await _search(client, type="jourcentral")
    assert [hit["unit"]["name"] for hit in body["hits"]] == ["Jouren City"]
    other = unit_data(UNITS[2])
    assert (await client.put("/api/v1/catalog/units/03-vc", json=other, headers=h)).status == 403
    bad = await client.put("/api/v1/catalog/units/01-jour", json={**new, "lat": 95.1}, headers=h)
    body = await bad.json()
    assert bad.status == 400 and body["issues"][0]["field"] == "lat", body
    assert (await client.delete("/api/v1/catalog/units/01-jour", headers=h)).status == 204
    assert (await client.get("/api/v1/catalog/units/01-jour")).status == 404


async def test_import_is_all_or_nothing_and_export_round_trips(client: Client, database: Database) -> None:
    """A CSV with one bad row imports nothing and names row and column; a good one imports; the export reads
    back to the same units; units of another region in the file are refused."""
    await login(client, "karin")
    me = await (await client.get("/api/v1/me")).json()
    h = {"X-CSRF-Token": me["csrf_token"], "Content-Type": "text/csv"}
    good = [unit("01-bvc", "barnavardscentral", NEAR, OFFICE, age_min=0, age_max=6),
            unit("01-apotek", "apotek", NEAR, OFFICE)]
    text = csv_io.units_csv(good)
    broken = text.replace(";apotek;", ";apoteket;", 1)
    resp = await client.post("/api/v1/catalog/import", data=broken.encode(), headers=h)
    body = await resp.json()
    assert resp.status == 400 and any("row 3" in p and "type" in p for p in body["problems"]), body
    assert database.run_sync(lambda s: store.unit(s, "01-bvc")) is None, "nothing half-imported"
    resp = await client.post("/api/v1/catalog/import", data=text.encode(), headers=h)
    assert resp.status == 200 and (await resp.json())["created"] == 2
    exported = await (await client.get("/api/v1/catalog/export", params={"format": "csv", "region": "01"})).text()
    back = {u.id: u for u in csv_io.units_from_csv(exported)}
    assert back["01-bvc"] == good[0] and len(back) == 4
    fhir = await client.get("/api/v1/catalog/export", params={"region": "03"})
    assert fhir.content_type == "application/fhir+json"
    bundle = await fhir.json()
    resp = await client.post("/api/v1/catalog/import", json=bundle, headers={"X-CSRF-Token": me["csrf_token"]})
    assert resp.status == 403, "region 03 is not hers"


async def test_who_may_use_the_catalog(client: Client) -> None:
    """Anonymous: 401; nurses search but do not edit or import."""
    assert (await client.get("/api/v1/catalog/units", headers={"Accept": "application/json"})).status == 401
    await login(client, "anna")
    me = await (await client.get("/api/v1/me")).json()
    h = {"X-CSRF-Token": me["csrf_token"]}
    assert (await client.put("/api/v1/catalog/units/01-vc", json=unit_data(UNITS[1]), headers=h)).status == 403
    assert (await client.post("/api/v1/catalog/import", data=b"", headers=h)).status == 403
    municipalities = await (await client.get("/api/v1/catalog/municipalities", params={"region": "03"})).json()
    assert "Uppsala" in [m["name"] for m in municipalities["municipalities"]]


def test_unit_data_round_trips() -> None:
    """The API's form of a unit (readable hours) reads back to the same unit."""
    for u in UNITS:
        assert CareUnit.model_validate(unit_data(u)) == u
