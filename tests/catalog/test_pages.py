"""The catalog's admin page over plain HTTP: who gets it (region and national admins; nurses 403, anonymous
browsers to the login page), its headers (CSP, no framing), her regions only in the picker, the table with
today's opening in words, the filter without JavaScript; and the words for holidays, eves, exception days and
windows past midnight."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from catalog import store
from catalog.http import setup_catalog
from catalog.pages import PAGE_PATH, add_routes, fold, today_html
from config.regions import REGIONS
from config.schema import OpeningHours
from desktop.pages import csp
from identity import service
from identity.models import Role
from vardlinje.db import Database

from ..identity.conftest import PASSWORD, T0, FakeClock, build_app, clock, login, redis  # noqa: F401
from .test_search import ALWAYS, FAR, NEAR, OFFICE, unit

Client = TestClient[web.Request, web.Application]
HTML = {"Accept": "text/html,application/xhtml+xml"}
UNITS = [
    unit("01-akut", "akutmottagning", NEAR, ALWAYS, name="Akuten Nära", phone="08-600 10 00"),
    unit("01-vc", "vardcentral", NEAR, OFFICE, name="Vårdcentralen Öster", municipality="Solna"),
    unit("01-bvc", "barnavardscentral", NEAR, OFFICE, name="BVC Årsta", access="booked"),
    unit("03-vc", "vardcentral", FAR, OFFICE, region="03", municipality="Uppsala", name="Uppsala VC"),
]


@pytest.fixture
async def client(database: Database, redis: Redis, clock: FakeClock) -> AsyncIterator[Client]:  # noqa: F811
    def seed(s: Any) -> None:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        service.create_user(s, "anna", PASSWORD, [Role.NURSE], provider.id, ["01"], at=T0)
        service.create_user(s, "karin", PASSWORD, [Role.REGION_ADMIN], provider.id, ["01"], "Karin Berg", at=T0)
        service.create_user(s, "nils", PASSWORD, [Role.NATIONAL_ADMIN], provider.id, [], at=T0)
        store.import_units(s, UNITS, by="test", at=T0)

    database.run_sync(seed)
    app = build_app(database, redis, clock)
    setup_catalog(app)
    add_routes(app)
    c: Client = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-unit="([^"]+)"', html)


def _visible_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-unit="([^"]+)" data-search="[^"]*">', html)


def _options(html: str) -> list[str]:
    picker = html.split('<select id="region" name="region">', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', picker)


async def test_anonymous_browsers_go_to_the_login_page_and_scripts_get_401(client: Client) -> None:
    resp = await client.get(PAGE_PATH + "?region=01", headers=HTML, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=/admin/catalog%3Fregion%3D01"
    assert (await client.get(PAGE_PATH, allow_redirects=False)).status == 401


async def test_a_nurse_gets_the_forbidden_page(client: Client) -> None:
    await login(client, "anna")
    resp = await client.get(PAGE_PATH, headers=HTML)
    assert resp.status == 403
    assert "Ingen behörighet" in await resp.text()
    resp = await client.get(PAGE_PATH)  # a script: JSON
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"


async def test_the_region_admin_sees_her_regions_units_with_todays_opening(client: Client) -> None:
    """Karin (admin of 01): the page with a strict CSP and no framing; only region 01 in the picker, even when she
    asks for 03; 01's units in Swedish alphabetical order (Å after V) with type, access, phone and today's opening
    (T0 is a Wednesday, 23:00 in Sweden); the static files versioned and served; no inline script or style."""
    await login(client, "karin")
    resp = await client.get(PAGE_PATH, headers=HTML)
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == csp("http://127.0.0.1:8080")
    assert "'unsafe-inline'" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    html = await resp.text()
    assert _options(html) == ["01"]
    assert _rows(html) == ["01-akut", "01-bvc", "01-vc"]  # Akuten Nära, BVC Årsta, Vårdcentralen Öster
    assert "Karin Berg" in html and "01 Region Stockholm" in html
    row = html.split('<tr data-unit="01-vc"', 1)[1].split("</tr>", 1)[0]
    assert ">Vårdcentral<" in row and ">Solna<" in row and "drop-in och tidsbokning" in row and "08:00–17:00" in row
    akut = html.split('<tr data-unit="01-akut"', 1)[1].split("</tr>", 1)[0]
    assert "dygnet runt" in akut and 'href="tel:+4686001000"' in akut and ">08-600 10 00<" in akut
    bvc = html.split('<tr data-unit="01-bvc"', 1)[1].split("</tr>", 1)[0]
    assert ">tidsbokning<" in bvc
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html and " style=" not in html
    script = re.search(r'src="(/static/catalog-admin\.js\?v=[0-9a-f]{12})"', html)
    css = re.search(r'href="(/static/catalog-admin\.css\?v=[0-9a-f]{12})"', html)
    assert script and css
    assert (await client.get(script.group(1))).status == 200
    assert (await client.get(css.group(1))).status == 200
    assert 'href="/api/v1/catalog/export?format=csv&amp;region=01"' in html

    other = await (await client.get(PAGE_PATH + "?region=03", headers=HTML)).text()
    assert _options(other) == ["01"] and _rows(other) == ["01-akut", "01-bvc", "01-vc"]


async def test_a_national_admin_picks_any_of_the_21_regions(client: Client) -> None:
    await login(client, "nils")
    html = await (await client.get(PAGE_PATH + "?region=03", headers=HTML)).text()
    assert _options(html) == sorted(REGIONS) and len(_options(html)) == 21
    assert '<option value="03" selected>' in html
    assert _rows(html) == ["03-vc"]
    empty = await (await client.get(PAGE_PATH + "?region=25", headers=HTML)).text()
    assert _rows(empty) == [] and 'id="units-empty" class="empty" data-i18n="units.none">' in empty


async def test_the_filter_works_without_javascript(client: Client) -> None:
    """?q= hides the rows that do not match (they stay in the table for the script); accents do not matter."""
    await login(client, "karin")
    html = await (await client.get(PAGE_PATH, params={"q": "vardcentral"}, headers=HTML)).text()
    assert _rows(html) == ["01-akut", "01-bvc", "01-vc"] and _visible_rows(html) == ["01-vc"]
    html = await (await client.get(PAGE_PATH, params={"q": "arsta bvc"}, headers=HTML)).text()
    assert _visible_rows(html) == ["01-bvc"]
    assert '<span id="count-shown">1</span>' in html
    assert fold("  Årsta  VÅRDCENTRAL ") == "arsta vardcentral"


def _hours(**extra: Any) -> OpeningHours:
    return OpeningHours.model_validate({**OFFICE, **extra})


def test_todays_opening_in_words() -> None:
    """Ordinary days, weekends, public holidays and eves by their rule, exception days, windows past midnight."""
    wednesday, saturday = date(2026, 11, 25), date(2026, 11, 28)
    assert today_html(_hours(), wednesday) == "08:00–17:00"
    assert today_html(_hours(), saturday) == '<span data-i18n="h.closed">stängt</span>'
    christmas = date(2026, 12, 25)  # juldagen, a Friday
    assert today_html(_hours(), christmas) == ('<span data-i18n="h.closed">stängt</span> '
                                               '<span class="muted" data-i18n="h.holiday">(helgdag)</span>')
    assert today_html(_hours(holidays="weekly"), christmas).startswith("08:00–17:00 ")
    eve = date(2026, 12, 24)  # julafton, a Thursday
    assert today_html(_hours(eves=["09:00-12:00"]), eve).startswith("09:00–12:00 <span class=\"muted\" "
                                                                   'data-i18n="h.eve">')
    split = _hours(weekly={"wednesday": ["08:00-12:00", "13:00-17:00", "22:00-02:00+1"]},
                   exceptions={"2026-11-25": ["08:00-12:00", "13:00-17:00", "22:00-02:00+1"]})
    assert today_html(split, wednesday) == ('08:00–12:00, 13:00–17:00, 22:00–02:00 <span data-i18n="h.nextday">'
                                            '(nästa dag)</span> <span class="muted" data-i18n="h.exception">'
                                            "(avvikande dag)</span>")
