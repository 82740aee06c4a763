"""Headless Chromium (Debian's package) driven by playwright, and a local page with the softphone.

Never `playwright install`: the browser is /usr/bin/chromium from apt (scripts/setup.sh).
A missing browser, playwright or JsSIP bundle FAILS the test: `make test` installs all three.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "desktop" / "static"
BUNDLE = STATIC / "vendor" / "jssip.min.js"
CHROMIUM = Path(os.environ.get("VARDLINJE_CHROMIUM", "/usr/bin/chromium"))

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # ICE over 127.0.0.1 only: Chromium leaves the loopback interface out unless told, and the
    # tests' Asterisk binds its RTP to 127.0.0.1, so no media goes through another interface.
    "--allow-loopback-in-peer-connection",
]

# The page the tests drive: JsSIP's bundle, then the softphone module; the test builds the
# phone with page.evaluate, and every event the phone emits is kept in window.events.
PAGE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Softphone test</title><link rel="icon" href="data:,"></head>
<body>
<p id="state">idle</p><p id="warning"></p>
<script src="/static/vendor/jssip.min.js"></script>
<script type="module">
import { Softphone } from "/static/softphone.js";
window.events = [];
window.makePhone = (config) => {
  const phone = new Softphone(config);
  for (const name of ["state", "registered", "unregistered", "disconnected", "registrationfailed", "incoming",
                      "accepted", "confirmed", "ended", "failed", "warning", "muted", "unmuted", "error"]) {
    phone.addEventListener(name, (e) => {
      window.events.push({ name, detail: e.detail || {} });
      if (name === "state") document.getElementById("state").textContent = e.detail.state;
      if (name === "warning") document.getElementById("warning").textContent = e.detail.warning || "";
    });
  }
  window.phone = phone;
  phone.start();
  return true;
};
window.softphoneLoaded = true;
</script>
</body></html>
"""


@pytest.fixture(scope="session")
def softphone_bundle() -> Path:
    if not BUNDLE.is_file():
        pytest.fail(f"{BUNDLE.relative_to(ROOT)} is missing: scripts/setup.sh builds it (npm ci, then "
                    "`npm run build`)", pytrace=False)
    return BUNDLE


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does it)", pytrace=False)
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_path: Path) -> AsyncIterator[Any]:
    """A headless Chromium browser (playwright's async API), fresh for each test."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]' (scripts/setup.sh does it)",
                    pytrace=False)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def softphone_page_url(softphone_bundle: Path) -> AsyncIterator[str]:
    """http://127.0.0.1:<port>/ serving the test page and desktop/static (a page from
    127.0.0.1 may use the microphone without TLS)."""
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/", page)
    app.router.add_static("/static", STATIC)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def ari(asterisk: PrivateAsterisk) -> AsyncIterator[AriClient]:
    async with aiohttp.ClientSession() as http:
        yield AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                        "softphone-test")
