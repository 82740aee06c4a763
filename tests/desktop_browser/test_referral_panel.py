"""The referral panel of the nurse desktop, in headless Chromium, without Asterisk.

The app of test_journal_panel.py (identity, desktop with routing on the test Redis, advice, journal) plus the
catalog with its referral SMS route and SMS through the local outbox, on a migrated SQLite database with a few
care units seeded in and around the caller's region. Nora (a desk-phone nurse) answers a call from a Stockholm
mobile; after she chooses a level in the advice panel, the referral panel lists the units that fit: the
level's types, the caller's region, open soon enough. "Välj" puts a unit into her note (checked in the
server's note), "Skicka SMS" sends it to the caller (checked in the outbox and on the call record)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from sqlmodel import Session, col, select

from advice.http import setup_advice
from advice.urgency import CARE_UNIT_TYPES, Urgency
from agents import service as agents
from agents.models import Nurse
from catalog import store
from catalog.http import setup_catalog
from catalog.model import CareUnit
from catalog.referral import add_routes
from config.schema import RegionRouting
from desktop.http import setup_desktop
from identity.http import setup_identity
from journal.http import setup_journal
from routing.live import LiveRouting
from routing.model import RoutingRules
from routing.redis_store import RedisStore
from sms.config import SmsSettings
from sms.http import setup_sms
from sms.models import SmsMessage
from sms.outbox import OutboxProvider
from sms.ratelimit import RedisSmsLimiter
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import AuthSettings, HttpSettings, Settings

from ..desktop import Clock, Template, free_port, make_template
from .test_journal_panel import Rig, open_desktop, presence_is, server_note, text_is, until, value_is

ALWAYS = {"weekly": {d: ["00:00-24:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                  "saturday", "sunday")},
          "holidays": "weekly", "eves": "weekly"}
NEVER = {"weekly": {}, "holidays": "closed", "eves": "closed"}
NEAR, FAR_IN_REGION, UPPSALA = (59.3393, 18.0686), (59.3793, 18.0186), (59.8586, 17.6389)


def care_unit(uid: str, type_: str, name: str, point: tuple[float, float], hours: dict[str, Any], *,
              region: str = "01", **extra: Any) -> CareUnit:
    return CareUnit.model_validate({"id": uid, "region": region, "name": name, "type": type_, "hours": hours,
                                    "municipality": "Stockholm" if region == "01" else "Uppsala", "lat": point[0],
                                    "lon": point[1], **extra})


UNITS = [
    care_unit("01-narakut-city", "narakut", "Närakuten City", NEAR, ALWAYS, phone="08-123 456 00",
              address="Sveavägen 10", postcode="111 57", city="Stockholm", access="drop_in",
              url="https://www.1177.se/hitta-vard/narakuten-city"),
    care_unit("01-jour-solna", "jourcentral", "Jourcentralen Solna", FAR_IN_REGION, ALWAYS, phone="+46812345601",
              address="Solnavägen 5", postcode="171 65", city="Solna", access="both"),
    care_unit("01-akuten", "akutmottagning", "Akuten Södersjukhuset", NEAR, ALWAYS),  # not a level "timmar" unit
    care_unit("01-vc-stangd", "vardcentral", "Vårdcentralen Stängd", NEAR, NEVER),  # never open
    care_unit("03-narakut", "narakut", "Närakuten Uppsala", UPPSALA, ALWAYS, region="03"),  # another region
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("referral-panel"))


@asynccontextmanager
async def build(database: Database, redis_url: str, endpoint: str) -> AsyncIterator[Rig]:
    """test_journal_panel's app, plus the catalog (search, municipalities, the referral SMS) and SMS through the
    outbox with a rate limiter on its own key prefix."""
    redis = Redis.from_url(redis_url)
    clock = Clock()
    prefix = f"test:{uuid.uuid4().hex[:12]}"
    live = LiveRouting(database, RedisStore(redis, f"{prefix}:routing"), RoutingRules(), lambda _r: RegionRouting(),
                       clock)
    origin = f"http://127.0.0.1:{free_port()}"
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", auth=AuthSettings(cookie_secure=False),
                             http=HttpSettings(public_url=origin + "/"))
    app[DB] = database
    app[REDIS] = redis
    app[ROUTING] = live
    await live.load_nurses()
    setup_identity(app)
    setup_desktop(app, poll_seconds=0.05, queue_seconds=0.2, sweep_seconds=3600.0,
                  heartbeat_key=f"{prefix}:heartbeat-{secrets.token_hex(3)}")
    setup_advice(app)
    setup_journal(app, base_url=origin, citizen=None)
    setup_catalog(app)
    add_routes(app)
    setup_sms(app, OutboxProvider(), sms=SmsSettings(),
              limiter=RedisSmsLimiter(redis, limit=3, window_seconds=3600, prefix=f"{prefix}:sms"))
    server = TestServer(app, port=int(origin.rsplit(":", 1)[1]))
    await server.start_server()
    try:
        yield Rig(origin, database, live, clock, endpoint)
    finally:
        await server.close()
        await redis.aclose()
        database.dispose()


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    database = template.copy(tmp_path)
    endpoint = template.endpoints["nora"]

    def seed(s: Session) -> None:
        nurse = s.exec(select(Nurse).where(Nurse.endpoint == endpoint)).one()
        assert nurse.id is not None
        agents.set_phone(s, nurse.id, "udp", at=Clock()())
        store.import_units(s, UNITS, by="test", at=datetime.now(UTC))

    database.run_sync(seed)
    async with build(database, redis_url, endpoint) as built:
        yield built


def age_of(born: date) -> int:
    today = date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def hit_ids(page: Any) -> list[str]:
    return list(await page.eval_on_selector_all("#referral-hits > li", "ls => ls.map(l => l.dataset.unit)"))


async def hits_are(page: Any, ids: list[str]) -> None:
    await until(page, "ids => JSON.stringify([...document.querySelectorAll('#referral-hits > li')]"
                      ".map(l => l.dataset.unit)) === JSON.stringify(ids)", f"the hits {ids}", arg=ids)


async def test_the_referral_panel_lists_fitting_units_chooses_one_and_sends_it(chromium: Any, rig: Rig) -> None:
    """Before a level: a hint and no units. After "Inom några timmar": the närakut and the jourcentral of the
    caller's region, open now — not the emergency department (another level), not the unit that never opens,
    not Uppsala's. Type and municipality narrow and order the list; the patient's age comes from her
    personnummer. "Välj" puts the unit and its where-and-when into the note (the server's note), "Skicka SMS"
    sends it to the caller (the outbox, the call record). In English the panel's words follow."""
    problems: list[str] = []
    context = await chromium.new_context(base_url=rig.origin)
    page = await open_desktop(context, rig, problems, log_in=True)
    await page.click("#presence-actions [data-event=login]")
    await presence_is(page, "paused")
    await page.click("#presence-actions [data-event=ready]")
    await presence_is(page, "ready")
    assert await page.is_hidden("#referral")

    call_id = rig.new_call()
    await rig.offer(call_id)
    await presence_is(page, "offered")
    await rig.answer(call_id)
    await presence_is(page, "on_call")
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$", timeout=15)
    [note] = rig.notes(call_id)

    # No level yet: the panel says what it waits for.
    assert await page.is_visible("#referral")
    await text_is(page, "#referral-basis", "^Välj nivå i rådgivningsstödet")
    assert await hit_ids(page) == []

    # The level: the units that fit, with the level, the region and how soon in the basis line.
    await page.fill("#advice-q", "ont i magen")
    await page.click("#advice-hits button[data-doc=buksmarta]")
    await page.click(".level[data-urgency=timmar] button.choose")
    await hits_are(page, ["01-jour-solna", "01-narakut-city"])  # equally fit and open, no place: by name
    basis = await text_is(page, "#referral-basis", "Inom några timmar")
    assert basis == "Inom några timmar · Region Stockholm · öppet nu eller inom 12 timmar"
    await text_is(page, "#referral-status", "^2 enheter$")
    item = "#referral-hits li[data-unit='01-narakut-city']"
    assert await page.text_content(f"{item} h4") == "Närakuten City"
    assert await page.text_content(f"{item} .open") == "dygnet runt"
    assert "Närakut · drop-in" in (await page.text_content(f"{item} .muted") or "")
    assert await page.text_content(f"{item} .contact a") == "08-123 456 00"
    assert await page.get_attribute(f"{item} .contact a", "href") == "tel:+46812345600"
    assert "Sveavägen 10, 111 57 Stockholm" in (await page.text_content(f"{item} .contact") or "")
    # Buttons named for their unit; a list with a heading per unit.
    assert await page.get_by_role("button", name="Välj Närakuten City").count() == 1
    assert await page.get_by_role("button", name="Skicka SMS Jourcentralen Solna").count() == 1
    assert await page.get_by_role("heading", name="Jourcentralen Solna", level=4).count() == 1
    assert await page.get_attribute("#referral-hits", "aria-labelledby") == "h-referral-hits"
    # The type filter offers the level's types only.
    types = await page.eval_on_selector_all("#ref-type option", "os => os.map(o => o.value)")
    assert types == ["", *[c for c, u in CARE_UNIT_TYPES.items() if Urgency.WITHIN_HOURS in u.fits]]
    await page.select_option("#ref-type", "jourcentral")
    await hits_are(page, ["01-jour-solna"])
    await text_is(page, "#referral-status", "^1 enhet$")
    await page.select_option("#ref-type", "")
    await hits_are(page, ["01-jour-solna", "01-narakut-city"])

    # A municipality of the caller's region (the datalist has them): nearest first, with the distance.
    await until(page, "() => [...document.querySelectorAll('#ref-municipalities option')]"
                      ".some(o => o.value === 'Stockholm')", "the region's municipalities")
    assert not await page.eval_on_selector_all("#ref-municipalities option", "os => os.some(o => o.value === 'Uppsala')")
    await page.fill("#ref-municipality", "Stockholm")
    await hits_are(page, ["01-narakut-city", "01-jour-solna"])
    assert re.search(r"· \d+(,\d)? km$", await page.text_content(f"{item} .muted") or "")

    # The patient's personnummer gives the age filter.
    await page.select_option("#j-patient_id_kind", "personnummer")
    await page.fill("#j-patient_id", "19121212-1212")
    await value_is(page, "#ref-age", str(age_of(date(1912, 12, 12))))
    await hits_are(page, ["01-narakut-city", "01-jour-solna"])  # no age limits: both still serve her

    # "Välj": the unit and where/when into the note, saved by the journal's editor.
    await page.click(f"{item} button[data-act=choose]")
    await text_is(page, "#referral-result", "^Vald i anteckningen: Närakuten City$")
    saved = await server_note(page, note.id, lambda n: n["content"]["referral"] == "01-narakut-city")
    assert saved["content"]["referral_text"] == ("Närakuten City, Sveavägen 10, 111 57 Stockholm, tel 08-123 456 00 – "
                                                 "dygnet runt")
    await value_is(page, "#j-referral_text", saved["content"]["referral_text"])
    assert await page.eval_on_selector("#j-referral", "s => s.selectedOptions[0].textContent") == "Närakuten City"
    assert await page.get_attribute(item, "data-chosen") == "true"
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$")

    # "Skicka SMS": to the caller's mobile, in the outbox and on the call record.
    await page.click(f"{item} button[data-act=sms]")
    await text_is(page, "#referral-result", "^SMS skickat till 070-123 45 67 – Närakuten City$")
    [message] = rig.database.run_sync(lambda s: list(s.exec(
        select(SmsMessage).where(SmsMessage.call_id == call_id).order_by(col(SmsMessage.created_at)))))
    assert message.to_number == "+46701234567" and message.provider == "outbox"
    assert "Närakuten City" in message.body and "Tel 08-123 456 00" in message.body
    assert "Öppet dygnet runt" in message.body and len(message.body) <= 450
    [sent] = rig.events(call_id, "referral.sent_sms")
    assert sent["unit"] == "01-narakut-city" and sent["by"] == "nora" and sent["message_id"] == message.id

    # After a reload: the note's unit by its name, the list again with it marked.
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load again")
    await until(page, "() => document.getElementById('j-referral').selectedOptions[0]?.textContent"
                      " === 'Närakuten City'", "the chosen unit's name in the note")
    await hits_are(page, ["01-jour-solna", "01-narakut-city"])
    await page.wait_for_selector(f"{item}[data-chosen=true]")

    # In English: the panel's own words.
    await page.click("#lang")
    assert await page.text_content("#h-referral") == "Referral"
    await text_is(page, f"{item} .open", "^open round the clock$")
    assert await page.get_by_role("button", name="Choose Närakuten City").count() == 1
    await text_is(page, "#referral-basis", "^Within hours · Region Stockholm · open now or within 12 hours$")
    assert problems == [], problems
    await context.close()
