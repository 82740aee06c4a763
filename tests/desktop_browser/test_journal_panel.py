"""The call's phases and the journal note in the nurse desktop, in headless Chromium, without Asterisk.

A real app (identity, desktop with routing on the test Redis, advice, journal) on a migrated SQLite database.
Nora has a SIP desk phone (`udp`), so the page starts no softphone; routing offers her a call and records
that she answered it (what `routing/asterisk.py` does when her phone picks up) — the desktop gets `on_call`
over its WebSocket exactly as in the running system and opens the phases bar and her note by itself.
Answering in the browser over WebRTC is covered by test_desktop_e2e.py (Asterisk)."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from sqlmodel import Session, col, select

from advice.http import setup_advice
from agents import service as agents
from agents.models import Nurse
from agents.presence import Event
from calls import service as calls
from config.schema import RegionRouting
from desktop.http import setup_desktop
from identity.http import setup_identity
from journal.http import setup_journal
from journal.models import JournalNote
from routing.live import LiveRouting
from routing.model import RoutingRules, WaitingCall
from routing.redis_store import RedisStore
from sms.config import SmsSettings
from sms.http import setup_sms
from sms.outbox import OutboxProvider
from sms.ratelimit import RedisSmsLimiter
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import AuthSettings, HttpSettings, MediaSettings, Settings
from webrtc.http import setup_media

from ..desktop import PASSWORD, Clock, Template, free_port, make_template

CALLER = "+46701234567"


@dataclass
class Rig:
    origin: str
    database: Database
    live: LiveRouting
    clock: Clock
    endpoint: str  # nora's

    def new_call(self) -> str:
        """A call record from Stockholm, as the IVR leaves it when the caller reaches the queue."""

        def work(s: Session) -> str:
            call = calls.open_call(s, channel_id=f"ch-{uuid.uuid4().hex[:8]}", linkedid=uuid.uuid4().hex,
                                   at=self.clock(), caller_number=CALLER, dialled_number="1177")
            calls.set_region(s, call.id, "01", self.clock(), "caller")
            return call.id

        return self.database.run_sync(work)

    async def offer(self, call_id: str) -> None:
        """The call enters the queue; routing offers it to Nora (the only ready nurse of 01)."""
        await self.live.engine.call_arrived(WaitingCall(call_id, "01", {"triage": 1}, 5, self.clock()), self.clock())

    async def answer(self, call_id: str) -> None:
        """Her desk phone picks up: routing records the answer (she is on_call), then the call record gets
        `offer.answered` — in this order, as routing/asterisk.py does it, so the page must wait for the record."""
        at = self.clock()
        await self.live.engine.answered(call_id, at)
        await asyncio.sleep(0.3)

        def work(s: Session) -> None:
            calls.append(s, call_id, "offer.started", at - timedelta(seconds=5), data={"nurse": self.endpoint})
            calls.append(s, call_id, "offer.answered", at, data={"nurse": self.endpoint})
            calls.mark_answered(s, call_id, at)

        self.database.run_sync(work)

    async def presence(self, event: Event) -> None:
        await self.live.change_presence(self.endpoint, event, by="test")

    def notes(self, call_id: str) -> list[JournalNote]:
        return self.database.run_sync(lambda s: list(s.exec(
            select(JournalNote).where(JournalNote.call_id == call_id).order_by(col(JournalNote.created_at)))))

    def events(self, call_id: str, kind: str) -> list[dict[str, Any]]:
        return self.database.run_sync(lambda s: [e.data for e in calls.events(s, call_id) if e.kind == kind])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("journal-panel"))


@asynccontextmanager
async def build(database: Database, redis_url: str, endpoint: str, *, media_dir: Path | None = None,
                **media: Any) -> AsyncIterator[Rig]:
    """The app as vardlinje.app assembles the parts the desktop uses (identity, desktop + routing, advice,
    journal; with `media_dir` also SMS through the outbox and the caller's photos and video, `media` their
    settings), on a fresh Redis key prefix; the desktop's timings short."""
    redis = Redis.from_url(redis_url)
    clock = Clock()
    prefix = f"test:{uuid.uuid4().hex[:12]}"
    live = LiveRouting(database, RedisStore(redis, f"{prefix}:routing"), RoutingRules(), lambda _r: RegionRouting(),
                       clock)
    origin = f"http://127.0.0.1:{free_port()}"
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", auth=AuthSettings(cookie_secure=False),
                             http=HttpSettings(public_url=origin + "/"),
                             media=MediaSettings(image_dir=media_dir, **media))
    app[DB] = database
    app[REDIS] = redis
    app[ROUTING] = live
    await live.load_nurses()
    setup_identity(app)
    setup_desktop(app, poll_seconds=0.05, queue_seconds=0.2, sweep_seconds=3600.0,
                  heartbeat_key=f"{prefix}:heartbeat-{secrets.token_hex(3)}")
    setup_advice(app)
    setup_journal(app, base_url=origin, citizen=None)
    if media_dir is not None:
        limiter = RedisSmsLimiter(redis, limit=20, window_seconds=3600, prefix=f"{prefix}:sms")
        setup_sms(app, OutboxProvider(), sms=SmsSettings(), limiter=limiter, clock=clock)
        setup_media(app)
    server = TestServer(app, port=int(origin.rsplit(":", 1)[1]))
    await server.start_server()
    try:
        yield Rig(origin, database, live, clock, endpoint)
    finally:
        await server.close()
        await redis.aclose()
        database.dispose()


@asynccontextmanager
async def desk_phone_rig(template: Template, tmp_path: Path, redis_url: str, **build_kw: Any) -> AsyncIterator[Rig]:
    """The app on a copy of the template, Nora with a SIP desk phone (the page starts no softphone)."""
    database = template.copy(tmp_path)
    endpoint = template.endpoints["nora"]

    def desk_phone(s: Session) -> None:
        nurse = s.exec(select(Nurse).where(Nurse.endpoint == endpoint)).one()
        assert nurse.id is not None
        agents.set_phone(s, nurse.id, "udp", at=Clock()())

    database.run_sync(desk_phone)
    async with build(database, redis_url, endpoint, **build_kw) as built:
        yield built


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with desk_phone_rig(template, tmp_path, redis_url) as built:
        yield built


# --- the page ----------------------------------------------------------------------------------------------


def watch(page: Any, problems: list[str]) -> None:
    """Script errors and Content-Security-Policy refusals fail the test (a refused 4xx fetch is expected)."""
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and "Refused" in m.text and problems.append(m.text))


async def until(page: Any, expression: str, what: str, arg: Any = None, timeout: float = 10.0) -> None:
    """Wait for a function (never a bare expression: playwright would evaluate that as a string, which the
    page's Content-Security-Policy refuses) to return true."""
    try:
        await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000, polling=100)
    except Exception as exc:
        shown = await page.evaluate("""() => ({state: document.getElementById('state').dataset.state,
            status: document.getElementById('journal-status').textContent,
            notice: document.getElementById('journal-notice').textContent,
            problems: document.getElementById('journal-problems').textContent,
            errors: document.getElementById('errors').textContent})""")
        raise AssertionError(f"timed out waiting for {what}; the page shows {shown}") from exc


async def text_is(page: Any, selector: str, pattern: str, timeout: float = 10.0) -> str:
    """Wait until the element's text matches the regular expression; returns the text."""
    await until(page, "([sel, re]) => { const el = document.querySelector(sel);"
                      " return Boolean(el) && !el.hidden && new RegExp(re).test(el.textContent); }",
                f"{selector} to match {pattern!r}", arg=[selector, pattern], timeout=timeout)
    return str(await page.text_content(selector))


async def value_is(page: Any, selector: str, value: str) -> None:
    await until(page, "([sel, v]) => document.querySelector(sel)?.value === v", f"{selector} = {value!r}",
                arg=[selector, value])


async def open_desktop(context: Any, rig: Rig, problems: list[str], *, log_in: bool) -> Any:
    page = await context.new_page()
    watch(page, problems)
    await page.goto(f"{rig.origin}/desktop")
    if log_in:
        assert "/login" in page.url
        await page.fill("#username", "nora")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{rig.origin}/desktop")
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load")
    return page


async def drop_journal_notices(context: Any) -> None:
    """Notices are at most once: with this the desktop sockets of the context's tabs never deliver
    `journal_note`, so each tab learns of another's save only on its own next save (the merge and conflict
    paths). Everything else passes both ways."""

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if '"journal_note"' in str(message) else ws.send(message))

    await context.route_web_socket("**/api/v1/desktop/ws", route)


async def presence_is(page: Any, state: str) -> None:
    await until(page, "s => document.getElementById('state').dataset.state === s", f"state {state}", arg=state)


async def server_note(page: Any, note_id: str, ok: Callable[[dict[str, Any]], bool],
                      timeout: float = 10.0) -> dict[str, Any]:
    """The note as the server has it (GET with her session, as another part of the desktop would read it),
    polled until `ok`."""
    note: dict[str, Any] = {}
    for _ in range(int(timeout / 0.2)):
        resp = await page.request.get(f"/api/v1/journal/notes/{note_id}")
        assert resp.ok, await resp.text()
        note = await resp.json()
        if ok(note):
            return note
        await asyncio.sleep(0.2)
    raise AssertionError(f"the server's note never got there: {note.get('content')}")


# --- the test ----------------------------------------------------------------------------------------------


async def test_phases_and_the_journal_note_through_a_call(chromium: Any, rig: Rig) -> None:
    """Nora answers a call: the phases bar starts Inledning, her note opens; what she types is saved as she
    types and is there after a reload, also when the network failed meanwhile; a wrong personnummer is
    refused under its field while the rest is saved; the advice panel's level fills urgency and referral
    choices; two tabs writing different fields both keep their text, the same field ends with a notice;
    signing names what is missing, then makes the note read-only; an amendment is written and signed."""
    problems: list[str] = []
    context = await chromium.new_context(base_url=rig.origin)
    await drop_journal_notices(context)  # the tabs below merge on save; test_another_tabs_save… covers the push
    page = await open_desktop(context, rig, problems, log_in=True)
    await page.click("#presence-actions [data-event=login]")
    await presence_is(page, "paused")
    await page.click("#presence-actions [data-event=ready]")
    await presence_is(page, "ready")
    assert await page.is_hidden("#journal")

    call_id = rig.new_call()
    await rig.offer(call_id)
    await presence_is(page, "offered")
    assert await page.is_hidden("#phases")  # not before she answers
    await rig.answer(call_id)
    await presence_is(page, "on_call")

    # The phases: the region's plan in order; Inledning started by itself, with its time and hint.
    await page.wait_for_selector("#phases button[data-phase=inledning][aria-pressed=true] time", timeout=15_000)
    names = await page.eval_on_selector_all("#phase-list button", "bs => bs.map(b => b.dataset.phase)")
    assert names == ["inledning", "kartlaggning", "bedomning", "rad", "avslut"]
    assert await page.get_attribute("#phases [data-phase=inledning]", "title") == "Vem ringer, för vem, samtycke"
    assert [d["phase"] for d in rig.events(call_id, "phase.started")] == ["inledning"]
    await page.click("#phases [data-phase=kartlaggning]")
    await page.wait_for_selector("#phases [data-phase=kartlaggning][aria-pressed=true] time")
    assert await page.get_attribute("#phases [data-phase=inledning]", "aria-pressed") == "false"
    assert re.fullmatch(r"Kartläggning \d\d:\d\d", (await page.text_content("#phases [data-phase=kartlaggning]")) or "")

    # Her note: opened by itself, the draft the server made.
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$")
    [note] = rig.notes(call_id)
    note_id = note.id

    await page.select_option("#j-caller_relation", "förälder")
    await page.fill("#j-caller_name", "Eva Svensson")
    await page.check("#j-consent")
    await page.select_option("#j-patient_id_kind", "personnummer")
    await page.fill("#j-patient_name", "Tolvan Tolvansson")
    await page.fill("#j-advice", "Drick mycket, ta febernedsättande, ring igen om det blir värre.")
    saved = await server_note(page, note_id, lambda n: n["content"]["advice"].startswith("Drick mycket"))
    assert saved["content"]["caller_relation"] == "förälder" and saved["content"]["consent"] is True
    assert saved["content"]["caller_name"] == "Eva Svensson" and saved["content"]["patient_name"] == "Tolvan Tolvansson"
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$")

    # A wrong check digit: the server's words under the field; the rest is still saved.
    await page.fill("#j-patient_id", "19121212-1213")
    error = await text_is(page, "#j-patient_id-error", "Kontrollsiffran")
    assert "stämmer inte" in error and " / " not in error  # her language only
    assert await page.get_attribute("#j-patient_id", "aria-invalid") == "true"
    assert "j-patient_id-error" in (await page.get_attribute("#j-patient_id", "aria-describedby") or "")
    await page.fill("#j-referral_text", "Vårdcentralen i morgon bitti")
    await server_note(page, note_id, lambda n: n["content"]["referral_text"] == "Vårdcentralen i morgon bitti")
    await text_is(page, "#journal-status", "utom patientens identitet")
    assert (await server_note(page, note_id, lambda n: True))["content"]["patient_id"] == ""
    await page.fill("#j-patient_id", "19121212-1212")
    await server_note(page, note_id, lambda n: n["content"]["patient_id"] == "191212121212")
    await value_is(page, "#j-patient_id", "191212121212")  # normalised, as stored
    assert await page.is_hidden("#j-patient_id-error")
    assert await page.get_attribute("#j-patient_id", "aria-invalid") is None

    # Signing now: the urgency is missing (it comes from the advice panel).
    await page.click("#journal-sign")
    missing = await text_is(page, "#journal-problems", "Fyll i före signering")
    assert "Brådskandegrad" in missing and "Uppringaren" not in missing

    # The advice panel: choosing a level puts contact reason and urgency in the note, and narrows the referral.
    await page.fill("#advice-q", "ont i magen")
    await page.click("#advice-hits button[data-doc=buksmarta]")
    await page.click(".level[data-urgency=timmar] button.choose")
    await text_is(page, "#j-urgency", "^Inom några timmar$")
    await text_is(page, "#j-contact_reason", "Buksmärta")
    await server_note(page, note_id, lambda n: n["content"]["urgency"] == "timmar"
                      and n["content"]["contact_reason"] == "buksmarta" and n["content"]["document_id"] == "buksmarta")
    units = await page.eval_on_selector_all("#j-referral option", "os => os.map(o => o.value)")
    assert units == ["", "narakut", "jourcentral", "vardcentral"]
    await page.select_option("#j-referral", "vardcentral")
    await server_note(page, note_id, lambda n: n["content"]["referral"] == "vardcentral")

    # A reload during the call: the same draft, her text, the phases, the level's care units.
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load again")
    await value_is(page, "#j-advice", "Drick mycket, ta febernedsättande, ring igen om det blir värre.")
    await value_is(page, "#j-caller_name", "Eva Svensson")
    await value_is(page, "#j-patient_id", "191212121212")
    assert await page.is_checked("#j-consent")
    await page.wait_for_selector("#phases [data-phase=kartlaggning][aria-pressed=true]")
    await until(page, "() => document.querySelectorAll('#j-referral option').length === 4", "the level's units")
    assert await page.input_value("#j-referral") == "vardcentral"
    assert [d["phase"] for d in rig.events(call_id, "phase.started")] == ["inledning", "kartlaggning"]

    # The network fails while she types: she is told, the text is kept in the tab and comes back on a reload.
    def refuse(route: Any) -> Any:
        return route.abort() if route.request.method == "PATCH" else route.continue_()

    await page.route("**/api/v1/journal/notes/*", refuse)
    await page.fill("#j-text", "Buksmärta sedan i går kväll, ingen feber.")
    await text_is(page, "#journal-status", "^Inte sparat – försöker igen$")
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load offline")
    await value_is(page, "#j-text", "Buksmärta sedan i går kväll, ingen feber.")
    await text_is(page, "#journal-notice", "återställda")
    assert (await server_note(page, note_id, lambda n: True))["content"]["text"] == ""
    await page.unroute("**/api/v1/journal/notes/*", refuse)
    await server_note(page, note_id, lambda n: n["content"]["text"] == "Buksmärta sedan i går kväll, ingen feber.")

    # A second tab: both write at once, different fields; both texts are kept.
    other = await open_desktop(context, rig, problems, log_in=False)
    await value_is(other, "#j-text", "Buksmärta sedan i går kväll, ingen feber.")
    await asyncio.gather(page.fill("#j-caller_name", "Eva Svensson (mamma)"),
                         other.fill("#j-patient_name", "Tolvan Tolvansson Ek"))
    await server_note(page, note_id, lambda n: n["content"]["caller_name"] == "Eva Svensson (mamma)"
                      and n["content"]["patient_name"] == "Tolvan Tolvansson Ek")
    # The same field in both: the later tab is told, and its text is what the note keeps.
    await page.fill("#j-text", "Från första fliken.")
    await server_note(page, note_id, lambda n: n["content"]["text"] == "Från första fliken.")
    await other.fill("#j-text", "Från andra fliken.")
    await text_is(other, "#journal-notice", "^Anteckningen ändrades i en annan flik – dina ändringar är sparade ovanpå$")
    await server_note(page, note_id, lambda n: n["content"]["text"] == "Från andra fliken.")
    await other.close()

    # Signing from the first tab, which has not seen the second tab's last save: review, then sign.
    await page.click("#journal-sign")
    await text_is(page, "#journal-problems", "signera igen")
    await value_is(page, "#j-text", "Från andra fliken.")
    await page.click("#journal-sign")
    signed_line = await text_is(page, "#journal-signed", r"^Signerad \d\d:\d\d av Nora$")
    assert signed_line
    assert await page.get_attribute("#j-advice", "readonly") is not None
    assert await page.is_disabled("#j-caller_relation") and await page.is_disabled("#j-consent")
    assert await page.is_hidden("#journal-sign")
    [note] = rig.notes(call_id)
    assert note.status == "signed" and note.patient_id == "191212121212" and note.content["text"] == "Från andra fliken."

    # An amendment: its own text, autosaved, signed; shown under the note, also after a reload.
    await page.click("#journal-amend")
    await page.wait_for_selector("#amendment-form:not([hidden])")
    await page.fill("#a-text", "Mamman ringde tillbaka: smärtan har gått över.")
    await until(page, "() => /^Sparat/.test(document.getElementById('amendment-status').textContent)",
                "the amendment to be saved")
    amendment = rig.notes(call_id)[1]
    await server_note(page, amendment.id, lambda n: n["content"]["text"].startswith("Mamman ringde tillbaka"))
    await page.click("#amendment-sign")
    await text_is(page, "#journal-amendments", "Tillägg signerat .*Mamman ringde tillbaka")
    assert await page.is_hidden("#amendment-form") and await page.is_visible("#journal-amend")
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load after signing")
    await text_is(page, "#journal-signed", "^Signerad")
    await text_is(page, "#journal-amendments", "Mamman ringde tillbaka")

    # Wrap-up: the card and the phases stay for that call; once she is ready again the bar goes, the note stays.
    await rig.presence(Event.HANGUP)
    await presence_is(page, "wrap_up")
    await page.wait_for_selector("#phases:not([hidden]) [data-phase=kartlaggning]")
    await text_is(page, "#call-phase", "efterarbete")
    assert await page.is_hidden("#call-actions")
    await page.click("#phases [data-phase=avslut]")
    await page.wait_for_selector("#phases [data-phase=avslut][aria-pressed=true] time")
    await rig.presence(Event.READY)
    await presence_is(page, "ready")
    await page.wait_for_selector("#phases", state="hidden")
    assert await page.is_visible("#journal")
    assert [d["phase"] for d in rig.events(call_id, "phase.started")] == ["inledning", "kartlaggning", "avslut"]

    # In English: the panel's own texts follow the toggle.
    await page.click("#lang")
    await text_is(page, "#journal-signed", r"^Signed \d\d:\d\d by Nora$")
    assert await page.text_content("#h-journal") == "Journal note"
    assert await page.text_content("#j-urgency") == "Within hours"
    assert problems == [], problems
    await context.close()


async def on_a_call(page: Any, rig: Rig) -> str:
    """Nora ready, a call offered and answered: her note opens by itself."""
    await page.click("#presence-actions [data-event=login]")
    await presence_is(page, "paused")
    await page.click("#presence-actions [data-event=ready]")
    await presence_is(page, "ready")
    call_id = rig.new_call()
    await rig.offer(call_id)
    await presence_is(page, "offered")
    await rig.answer(call_id)
    await presence_is(page, "on_call")
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$", timeout=15)
    return call_id


async def two_tabs_on_a_call(context: Any, rig: Rig, problems: list[str]) -> tuple[Any, Any, JournalNote]:
    """Nora on a call in one tab, a second tab of hers open on the same note."""
    page = await open_desktop(context, rig, problems, log_in=True)
    call_id = await on_a_call(page, rig)
    [note] = rig.notes(call_id)
    other = await open_desktop(context, rig, problems, log_in=False)
    await text_is(other, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$", timeout=15)
    return page, other, note


async def test_another_tabs_save_appears_without_typing(chromium: Any, rig: Rig) -> None:
    """Two tabs of Nora's on the same note: what one saves appears in the other without the other saving
    (the desktop socket's `journal_note` notice), while the other's own unsent typing in another field stays
    and is saved on top."""
    problems: list[str] = []
    context = await chromium.new_context(base_url=rig.origin)
    page, other, note = await two_tabs_on_a_call(context, rig, problems)

    # The first tab saves; the second shows it without a keystroke of its own.
    await page.fill("#j-advice", "Vila och drick mycket.")
    await server_note(page, note.id, lambda n: n["content"]["advice"] == "Vila och drick mycket.")
    await value_is(other, "#j-advice", "Vila och drick mycket.")

    # The second tab is typing (not yet sent) when the first saves another field: both stay, both are saved.
    await other.evaluate("() => { const f = document.getElementById('j-text'); f.value = 'Feber sedan i går.';"
                         " f.dispatchEvent(new Event('input', {bubbles: true})); }")
    await page.fill("#j-caller_name", "Eva Svensson")
    await page.click("#j-patient_name")  # leaving the field saves at once
    await value_is(other, "#j-caller_name", "Eva Svensson")
    assert await other.input_value("#j-text") == "Feber sedan i går."
    await server_note(page, note.id, lambda n: n["content"]["text"] == "Feber sedan i går."
                      and n["content"]["caller_name"] == "Eva Svensson")
    await value_is(page, "#j-text", "Feber sedan i går.")
    assert problems == []
    await context.close()


async def test_a_late_read_never_takes_back_a_newer_save(chromium: Any, rig: Rig) -> None:
    """Tab B reads the note after tab A's notice, but the answer reaches it late; meanwhile B saves her own
    text (a newer revision). The late, older note must not take her text back out of the field."""
    problems: list[str] = []
    context = await chromium.new_context(base_url=rig.origin)
    page, other, note = await two_tabs_on_a_call(context, rig, problems)

    read = asyncio.Event()
    delivered = asyncio.Event()

    async def late_read(route: Any) -> None:
        if route.request.method != "GET":
            await route.continue_()
            return
        response = await route.fetch()  # the server answers now …
        read.set()
        await asyncio.sleep(2.5)  # … and the answer reaches the tab late
        await route.fulfill(response=response)
        delivered.set()

    await other.route(f"**/api/v1/journal/notes/{note.id}", late_read)
    await page.fill("#j-advice", "Vila.")
    await page.click("#j-caller_name")  # saved at once: tab B hears of it and reads the note
    await asyncio.wait_for(read.wait(), 10)
    await other.fill("#j-text", "Mitt viktiga.")
    await other.click("#j-patient_name")  # tab B's own save overtakes its read
    await server_note(page, note.id, lambda n: n["content"]["text"] == "Mitt viktiga.")
    await asyncio.wait_for(delivered.wait(), 10)
    await other.wait_for_timeout(300)
    assert await other.input_value("#j-text") == "Mitt viktiga."
    await text_is(other, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$")
    assert problems == []
    await context.close()
