"""The catalog's admin page in headless Chromium (Debian's, driven by playwright; conftest.py): a region admin
of 01 logs in, sees her region's units, creates a unit through the form (a wrong latitude is shown under the
field and fixed), edits its opening hours, imports a CSV with a bad row (refused, the row named) and a good one
(the table grows), and deletes the unit; the picker offers her region only; a nurse gets 403.

The app is real: identity, the catalog's API and the page on a migrated database (SQLite here; the API's tests
run on PostgreSQL too), served by aiohttp's TestServer on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from catalog import csv_io, store
from catalog.http import setup_catalog
from catalog.pages import PAGE_PATH, add_routes
from identity import service
from identity.models import Role
from vardlinje.db import Database

from ..catalog.test_search import ALWAYS, FAR, NEAR, OFFICE, unit
from ..identity.conftest import PASSWORD, T0, FakeClock, build_app, clock, redis  # noqa: F401

UNITS = [
    unit("01-akut", "akutmottagning", NEAR, ALWAYS, name="Akuten Nära"),
    unit("01-vc", "vardcentral", NEAR, OFFICE, name="Vårdcentralen Öster", services=["provtagning"]),
    unit("03-vc", "vardcentral", FAR, OFFICE, region="03", municipality="Uppsala", name="Uppsala VC"),
]
NEW_ID = "01-jour-city"


@pytest.fixture
async def origin(database: Database, redis: Redis, clock: FakeClock) -> AsyncIterator[str]:  # noqa: F811
    def seed(s: Any) -> None:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        service.create_user(s, "anna", PASSWORD, [Role.NURSE], provider.id, ["01"], at=T0)
        service.create_user(s, "karin", PASSWORD, [Role.REGION_ADMIN], provider.id, ["01"], "Karin Berg", at=T0)
        store.import_units(s, UNITS, by="test", at=T0)

    database.run_sync(seed)
    app = build_app(database, redis, clock)
    setup_catalog(app)
    add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _login(page: Any, origin: str, username: str) -> Any:
    await page.goto(f"{origin}{PAGE_PATH}")
    assert "/login" in page.url
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    return page


async def _rows(page: Any) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all("#units tbody tr", "rows => rows.map(r => r.dataset.unit)")
    return ids


async def _rows_become(page: Any, expected: list[str], timeout: float = 10.0) -> None:
    """The table reloads after the status line changes (a second request): wait for it, do not race it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (rows := await _rows(page)) != expected:
        assert asyncio.get_running_loop().time() < deadline, rows
        await asyncio.sleep(0.1)


async def _api(page: Any, path: str) -> Any:
    """GET with the browser's session (its cookie)."""
    return await page.evaluate("async (path) => { const r = await fetch(path); return [r.status, await r.json()]; }",
                               path)


async def _text(page: Any, selector: str, contains: str, timeout: float = 5.0) -> None:
    try:
        await page.wait_for_function(
            "([sel, text]) => { const n = document.querySelector(sel); return n && !n.hidden && n.offsetParent !== null"
            " && n.textContent.includes(text); }", arg=[selector, contains], timeout=timeout * 1000, polling=50)
    except Exception as exc:
        shown = await page.evaluate("sel => document.querySelector(sel)?.textContent", selector)
        raise AssertionError(f"{selector} never showed {contains!r}; it shows {shown!r}") from exc


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_region_admin_keeps_her_catalog(chromium: Any, origin: str, tmp_path: Path) -> None:
    context = await chromium.new_context()
    page = await context.new_page()
    errors: list[str] = []

    def console(message: Any) -> None:
        # e.g. a Content-Security-Policy violation; not the 404 and 400s the test provokes on purpose
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded "
                                                                     "with a status of 40"):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _login(page, origin, "karin")
    assert page.url == f"{origin}{PAGE_PATH}"

    # Her region's units, and her region only in the picker.
    assert await _rows(page) == ["01-akut", "01-vc"]
    assert await page.eval_on_selector_all("#region option", "os => os.map(o => o.value)") == ["01"]
    assert "Karin Berg" in (await page.text_content(".who") or "")
    # The municipalities of the region fill the datalist.
    await page.wait_for_function("() => document.querySelectorAll('#municipalities option').length > 20",
                                 timeout=5000, polling=50)
    assert await page.locator('#municipalities option[value="Solna"]').count() == 1
    assert await page.locator('#municipalities option[value="Uppsala"]').count() == 0

    # The filter box narrows the table as she types.
    await page.fill("#filter", "vårdcentral")
    assert await page.is_hidden('tr[data-unit="01-akut"]') and await page.is_visible('tr[data-unit="01-vc"]')
    assert await page.text_content("#count-shown") == "1"
    await page.fill("#filter", "")
    assert await page.is_visible('tr[data-unit="01-akut"]')

    # A new unit: a latitude of 95 is refused and shown under the field; what she typed stays.
    await page.click("#new")
    assert await page.evaluate("() => document.activeElement.id") == "editor-h"
    assert await page.input_value("#f-id") == "01-"
    await page.fill("#f-id", NEW_ID)
    await page.fill("#f-name", "Jourcentralen City")
    await page.select_option("#f-type", "jourcentral")
    await page.select_option("#f-access", "drop_in")
    await page.fill("#f-phone", "08-123 456 78")
    await page.fill("#f-services", "provtagning, sarvard")
    await page.fill("#f-municipality", "solna")
    await page.click("#point")  # the municipality's point, and its name as the list spells it
    assert await page.input_value("#f-municipality") == "Solna"
    assert 59 < float(await page.input_value("#f-lat")) < 60
    await page.fill("#f-lat", "95")
    await page.fill("#f-friday", "17:00-22:00")
    await page.click("#save")
    await _text(page, "#f-lat-error", "69.2")
    assert await page.get_attribute("#f-lat", "aria-invalid") == "true"
    described = (await page.get_attribute("#f-lat", "aria-describedby") or "").split()
    assert "f-lat-error" in described and "f-lat-hint" in described
    assert await page.evaluate("() => document.activeElement.id") == "f-lat"
    assert await page.is_visible("#form-errors")
    assert await page.input_value("#f-name") == "Jourcentralen City"
    assert await page.input_value("#f-friday") == "17:00-22:00"
    assert await page.get_attribute("#f-name", "aria-invalid") is None
    status, _ = await _api(page, f"/api/v1/catalog/units/{NEW_ID}")
    assert status == 404

    await page.fill("#f-lat", "59,3601")  # a decimal comma is fine
    await page.click("#save")
    await page.wait_for_selector(f'tr[data-unit="{NEW_ID}"]', timeout=5000)
    await _text(page, "#status", "Ny enhet sparad: Jourcentralen City.")
    assert await page.is_hidden("#editor")
    await _rows_become(page, ["01-akut", NEW_ID, "01-vc"])
    row = page.locator(f'tr[data-unit="{NEW_ID}"]')
    assert "Jourcentral" in (await row.text_content() or "") and "Solna" in (await row.text_content() or "")
    status, saved = await _api(page, f"/api/v1/catalog/units/{NEW_ID}")
    assert status == 200 and saved["lat"] == 59.3601 and saved["phone"] == "+46812345678"
    assert saved["services"] == ["provtagning", "sarvard"] and saved["access"] == "drop_in"
    assert saved["hours"]["weekly"] == {"friday": ["17:00-22:00"]} and saved["hours"]["holidays"] == "sunday"

    # Its opening hours: Monday in two windows, closed on Christmas Eve, own hours on holidays.
    await page.click(f'tr[data-unit="{NEW_ID}"] button.edit')
    await page.wait_for_selector("#f-monday")
    assert await page.input_value("#f-friday") == "17:00-22:00"
    assert await page.locator("#f-id").count() == 0  # the id is fixed once the unit exists
    await page.fill("#f-monday", "08:00-12:00, 13:00-17:00")
    await page.select_option("#f-holidays", "own")
    await page.fill("#f-holidays-windows", "10:00-14:00")
    await page.fill("#f-exceptions", "2026-12-24 stängt\n2026-12-31 08:00-12:00")
    await page.click("#save")
    await _text(page, "#status", "Sparad: Jourcentralen City.")
    status, saved = await _api(page, f"/api/v1/catalog/units/{NEW_ID}")
    assert saved["hours"]["weekly"]["monday"] == ["08:00-12:00", "13:00-17:00"]
    assert saved["hours"]["holidays"] == ["10:00-14:00"]
    assert saved["hours"]["exceptions"] == {"2026-12-24": "closed", "2026-12-31": ["08:00-12:00"]}
    # A wrong window is named under its day.
    await page.click(f'tr[data-unit="{NEW_ID}"] button.edit')
    await page.wait_for_selector("#f-tuesday")
    assert await page.input_value("#f-monday") == "08:00-12:00, 13:00-17:00"
    await page.fill("#f-tuesday", "8-17")
    await page.click("#save")
    await _text(page, "#f-tuesday-error", "is not a window")
    await page.click("#cancel")
    assert await page.is_hidden("#editor")

    # A CSV with one bad row: nothing imported, the row named.
    good = [unit("01-bvc", "barnavardscentral", NEAR, OFFICE, name="BVC Årsta", age_min=0, age_max=6),
            unit("01-apotek", "apotek", NEAR, OFFICE, name="Apoteket Kronan")]
    text = csv_io.units_csv(good)
    bad_file, good_file = tmp_path / "trasig.csv", tmp_path / "katalog.csv"
    bad_file.write_text(text.replace(";apotek;", ";apoteket;", 1), encoding="utf-8")
    good_file.write_text(text, encoding="utf-8")
    await page.set_input_files("#import-file", str(bad_file))
    await page.click("#import-button")
    await _text(page, "#import-problems", "row 3")
    assert "apoteket" in (await page.text_content("#import-problems ul") or "")
    await _rows_become(page, ["01-akut", NEW_ID, "01-vc"])

    # A good one: the table grows.
    await page.set_input_files("#import-file", str(good_file))
    await page.click("#import-button")
    await _text(page, "#status", "Importerade 2 enheter: 2 nya, 0 ändrade.")
    assert await page.is_hidden("#import-problems")
    await _rows_become(page, ["01-akut", "01-apotek", "01-bvc", NEW_ID, "01-vc"])
    assert await page.text_content("#count-all") == "5"

    # Deleted after a confirm.
    dialogs: list[str] = []

    def confirm(dialog: Any) -> None:
        dialogs.append(dialog.message)
        asyncio.ensure_future(dialog.accept())

    page.once("dialog", confirm)
    await page.click(f'tr[data-unit="{NEW_ID}"] button.edit')
    await page.click("#delete")
    await _text(page, "#status", "Borttagen: Jourcentralen City.")
    assert dialogs == ["Ta bort Jourcentralen City? Det går inte att ångra."]
    await _rows_become(page, ["01-akut", "01-apotek", "01-bvc", "01-vc"])
    status, _ = await _api(page, f"/api/v1/catalog/units/{NEW_ID}")
    assert status == 404

    # The English toggle relabels the page, the table's words included.
    await page.click("#lang")
    assert await page.text_content("#units-h") == "Units"
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.text_content('tr[data-unit="01-apotek"] td[data-i18n="type.apotek"]') == "Pharmacy"
    assert errors == [], errors
    await context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_nurse_gets_403(chromium: Any, origin: str) -> None:
    context = await chromium.new_context()
    page = await context.new_page()
    await _login(page, origin, "anna")
    response = await page.goto(f"{origin}{PAGE_PATH}")
    assert response is not None and response.status == 403
    assert "Ingen behörighet" in (await page.text_content("h1") or "")
    await context.close()
