"""The supervisor page in headless Chromium: log in through /login, see the region live, watch a nurse's row
change when routing changes her, change her state with the page's buttons, and get the view back after the
server drops the socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agents.presence import Event
from desktop.supervisor import SUPERVISOR

from ..desktop import PASSWORD, Rig, Template, build_rig, make_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("supervisor-page"))


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template) as built:
        await built.presence("nora", Event.LOGIN)  # paused (administration)
        yield built


async def _row_state(page: Any, endpoint: str, text: str, timeout: float = 5.0) -> None:
    selector = f'tr[data-endpoint="{endpoint}"] .state'
    try:
        await page.wait_for_function(
            "([sel, text]) => document.querySelector(sel)?.textContent === text", arg=[selector, text],
            timeout=timeout * 1000, polling=100)
    except Exception as exc:
        shown = await page.evaluate("sel => document.querySelector(sel)?.textContent", selector)
        raise AssertionError(f"nurse row never showed {text!r}; it shows {shown!r}") from exc


async def test_a_supervisor_logs_in_and_sees_a_nurse_change_live(chromium: Any, rig: Rig) -> None:
    """Sven opens /supervisor, logs in on the login page and lands on region 01 live with Nora paused; routing
    makes her ready and the row follows without a reload (announced politely); his Paus button with reason möte
    pauses her; a call ringing at her disables the buttons; a dropped socket shows "Frånkopplad – försöker igen"
until the page has reconnected; the English toggle relabels the page."""
    page = await chromium.new_page()
    errors: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":  # e.g. a Content-Security-Policy violation
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{rig.origin}/supervisor")
    assert "/login" in page.url
    await page.fill("#username", "sven")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{rig.origin}/supervisor")
    nora = rig.endpoints["nora"]
    await _row_state(page, nora, "paus (administration)")
    assert await page.text_content("#status") == "Live – uppdateras när något ändras"

    await rig.presence("nora", Event.READY)
    await _row_state(page, nora, "redo")
    await page.wait_for_function("() => document.getElementById('announce').textContent.includes('redo')",
                                 timeout=3000, polling=100)

    await page.select_option(f'tr[data-endpoint="{nora}"] select', "meeting")
    await page.click(f'tr[data-endpoint="{nora}"] button[data-action="pause"]')
    await _row_state(page, nora, "paus (möte)")
    stored = await rig.live.store.get_nurse(nora)
    assert stored is not None and stored.reason is not None and stored.reason.value == "meeting"

    await rig.presence("nora", Event.READY)
    await rig.call("c1", "01")
    await _row_state(page, nora, "erbjuden ett samtal")
    assert await page.is_disabled(f'tr[data-endpoint="{nora}"] button[data-action="logout"]')
    await page.wait_for_selector('#offered tr[data-call="c1"]')

    hub = rig.app[SUPERVISOR].hub
    assert hub is not None
    await hub.close_all()  # as at a server restart
    await page.wait_for_function("() => document.getElementById('status').textContent === 'Frånkopplad – försöker igen'",
                                 timeout=3000, polling=50)
    await page.wait_for_function("() => document.getElementById('status').dataset.state === 'live'", timeout=5000,
                                 polling=100)

    await page.click("#lang")
    await _row_state(page, nora, "offered a call")
    assert await page.text_content("#nurses-h") == "Nurses"
    assert await page.get_attribute("html", "lang") == "en"
    assert errors == [], errors
