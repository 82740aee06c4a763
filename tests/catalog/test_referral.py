"""A referral sent to the caller by SMS (catalog/referral.py) on a real database (SQLite and PostgreSQL) with the
local outbox provider: the text (name, address, phone, today's opening in words, drop-in/booking, link, within
450 characters), the call record (`sms.sent`, `referral.sent_sms`), and every refusal — not logged in, a nurse
who did not answer, an unknown unit or call, a landline or hidden caller, the rate limit, a failing provider."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session, col, select

from agents.models import Nurse
from calls import service as calls
from catalog import store
from catalog.http import setup_catalog
from catalog.model import CareUnit
from catalog.referral import MAX_CHARS, add_routes, opening_words, referral_sms, septets
from sms.config import SmsSettings
from sms.http import setup_sms
from sms.models import SmsMessage
from sms.outbox import OutboxProvider
from sms.provider import SentMessage, Unavailable
from sms.ratelimit import RedisSmsLimiter
from sms.runtime import SMS
from vardlinje.db import Database

from ..identity.conftest import FakeClock, build_app, clock, login, redis  # noqa: F401
from ..journal.conftest import World, build_world
from .test_search import ALWAYS, NEAR, OFFICE, unit

SE = ZoneInfo("Europe/Stockholm")
# Thursday 26 November 2026, 10:00 in Stockholm: the vårdcentral is open 08:00-17:00.
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
MOBILE = "+46701234567"  # the caller of build_world's calls
LANDLINE = "+4686001000"
Client = TestClient[web.Request, web.Application]

VC = unit("01-vc-hjorthagen", "vardcentral", NEAR, OFFICE, name="Vårdcentralen Hjorthagen", phone="08-123 456 78",
          address="Hjorthagsgatan 1", postcode="115 25", city="Stockholm", access="both",
          url="https://www.1177.se/hitta-vard/hjorthagen")
AKUT = unit("01-akut-city", "akutmottagning", NEAR, ALWAYS, name="Akuten City", phone="+46812345600",
            address="Sjukhusvägen 3", postcode="171 76", city="Solna", access="drop_in")


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def answered_call(database: Database, world: World, caller: str) -> str:
    """Another call Anna answered, from `caller`."""

    def work(s: Session) -> str:
        endpoint = s.exec(select(Nurse.endpoint).where(Nurse.user_id == world.anna)).one()
        call = calls.open_call(s, channel_id=f"ch-{secrets.token_hex(4)}", linkedid="", at=NOW,
                               caller_number=caller, dialled_number="1177")
        calls.set_region(s, call.id, "01", NOW, "caller")
        calls.append(s, call.id, "offer.answered", NOW, data={"nurse": endpoint})
        return call.id

    return database.run_sync(work)


@pytest.fixture
async def app(database: Database, redis: Redis, clock: FakeClock, world: World) -> web.Application:  # noqa: F811
    clock.now = NOW
    database.run_sync(lambda s: store.import_units(s, [VC, AKUT], by="test", at=NOW))
    app = build_app(database, redis, clock)
    setup_catalog(app)
    add_routes(app)
    # A limiter of its own (3 an hour) on a fresh key prefix: tests never share counters.
    limiter = RedisSmsLimiter(redis, limit=3, window_seconds=3600, prefix=f"t:sms:{secrets.token_hex(6)}")
    setup_sms(app, OutboxProvider(), sms=SmsSettings(), limiter=limiter, clock=clock)
    return app


@pytest.fixture
async def browsers(app: web.Application) -> AsyncIterator[list[Client]]:
    """Three browsers (each its own cookie jar) on the one app."""
    clients: list[Client] = []
    for _ in range(3):
        c: Client = TestClient(TestServer(app))
        await c.start_server()
        clients.append(c)
    yield clients
    for c in clients:
        await c.close()


async def send(client: Client, csrf: str | None, unit_id: str, call_id: str) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    resp = await client.post(f"/api/v1/catalog/units/{unit_id}/sms", json={"call_id": call_id}, headers=headers)
    return resp.status, dict(await resp.json())


def messages(database: Database) -> list[SmsMessage]:
    return database.run_sync(lambda s: list(s.exec(select(SmsMessage).order_by(col(SmsMessage.created_at)))))


def events(database: Database, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    return database.run_sync(lambda s: [(e.kind, e.data) for e in calls.events(s, call_id)])


# --- the API ---------------------------------------------------------------------------------------------------


async def test_the_nurse_who_answered_sends_the_unit_to_the_callers_mobile(
        browsers: list[Client], database: Database, world: World) -> None:
    """Anna sends the vårdcentral to the caller: 201 with the number in national form; the outbox has the text
    (name, address, phone, today's hours, drop-in/booking, link; ≤ 450 characters); the call record has
    `sms.sent` and then `referral.sent_sms` naming the unit and her."""
    csrf = await login(browsers[0], "anna")
    status, body = await send(browsers[0], csrf, VC.id, world.call_anna)
    assert status == 201, body
    assert body["to"] == MOBILE and body["to_display"] == "070-123 45 67" and body["unit"] == VC.id
    [message] = messages(database)
    assert message.id == body["message_id"] and message.call_id == world.call_anna and message.to_number == MOBILE
    assert message.provider == "outbox" and message.status == "delivered"
    text = message.body
    assert text == body["body"]
    assert text.splitlines() == ["Din hänvisning från sjuksköterskan:", "Vårdcentralen Hjorthagen",
                                 "Hjorthagsgatan 1, 115 25 Stockholm", "Tel 08-123 456 78", "Öppet i dag 08:00-17:00",
                                 "Drop-in och tidsbokning", "https://www.1177.se/hitta-vard/hjorthagen"]
    assert len(text) <= MAX_CHARS
    kinds = [(k, d) for k, d in events(database, world.call_anna) if k in ("sms.sent", "sms.failed", "referral.sent_sms")]
    assert [k for k, _ in kinds] == ["sms.sent", "referral.sent_sms"]
    assert kinds[1][1] == {"unit": VC.id, "name": "Vårdcentralen Hjorthagen", "by": "anna",
                           "message_id": message.id}

    # The emergency department, open round the clock, drop-in.
    status, body = await send(browsers[0], csrf, AKUT.id, world.call_anna)
    assert status == 201, body
    assert "Akuten City" in body["body"] and "Tel 08-123 456 00" in body["body"]
    assert "Öppet dygnet runt" in body["body"] and "Drop-in, ingen tidsbokning" in body["body"]


async def test_refusals_send_nothing(browsers: list[Client], database: Database, world: World) -> None:
    """Not logged in: 401. Bertil (a nurse who did not answer) and the region admin: 403 not_your_call. An
    unknown unit or call: 404. A landline, a hidden number, no number: 422 no_mobile. A bad body: 400. None of
    them sends anything or records a referral."""
    anna, bertil, admin = browsers
    status, body = await send(anna, None, VC.id, world.call_anna)
    assert status == 401 and body["error"] == "unauthenticated", body

    csrf_b = await login(bertil, "bertil")
    status, body = await send(bertil, csrf_b, VC.id, world.call_anna)
    assert status == 403 and body["error"] == "not_your_call", body
    csrf_admin = await login(admin, "admin")
    status, body = await send(admin, csrf_admin, VC.id, world.call_anna)
    assert status == 403 and body["error"] == "not_your_call", body

    csrf = await login(anna, "anna")
    status, body = await send(anna, csrf, "01-finns-inte", world.call_anna)
    assert status == 404 and body["error"] == "unknown_unit", body
    status, body = await send(anna, csrf, VC.id, "0" * 32)
    assert status == 404 and body["error"] == "unknown_call", body
    # Cecilia's call: Anna did not answer it.
    status, body = await send(anna, csrf, VC.id, world.call_cecilia)
    assert status == 403 and body["error"] == "not_your_call", body

    for caller in (LANDLINE, "anonymous", ""):
        call_id = answered_call(database, world, caller)
        status, body = await send(anna, csrf, VC.id, call_id)
        assert status == 422 and body["error"] == "no_mobile", (caller, body)
        words = {LANDLINE: "fast telefon (08-600 10 00)", "anonymous": "dolt nummer", "": "dolt nummer"}[caller]
        assert words in body["detail"], body

    resp = await anna.post(f"/api/v1/catalog/units/{VC.id}/sms", json={"call": world.call_anna},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 400 and (await resp.json())["error"] == "bad_request"
    # Without the CSRF token the session may not post.
    resp = await anna.post(f"/api/v1/catalog/units/{VC.id}/sms", json={"call_id": world.call_anna})
    assert resp.status == 403

    assert messages(database) == []
    assert not [k for k, _ in events(database, world.call_anna) if k.startswith(("sms.", "referral."))]


class FailingProvider:
    name = "failing"

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        raise Unavailable("Operatören svarar inte / the operator does not answer")

    async def aclose(self) -> None:
        return None


async def test_a_failing_provider_is_502_with_its_reason_and_no_referral(
        app: web.Application, browsers: list[Client], database: Database, world: World) -> None:
    """The provider fails: 502 sms_failed with its reason and words; the message is stored as failed and the
    call record has `sms.failed`, not `referral.sent_sms`."""
    app[SMS].provider = FailingProvider()
    csrf = await login(browsers[0], "anna")
    status, body = await send(browsers[0], csrf, VC.id, world.call_anna)
    assert status == 502 and body["error"] == "sms_failed" and body["reason"] == "unavailable", body
    assert "Operatören svarar inte" in body["detail"]
    [message] = messages(database)
    assert message.status == "failed"
    kinds = [k for k, _ in events(database, world.call_anna)]
    assert "sms.failed" in kinds and "referral.sent_sms" not in kinds


async def test_the_rate_limit_is_429(browsers: list[Client], database: Database, world: World) -> None:
    """Three messages to the number within the hour; the fourth is refused with when the next may go."""
    csrf = await login(browsers[0], "anna")
    for _ in range(3):
        status, body = await send(browsers[0], csrf, VC.id, world.call_anna)
        assert status == 201, body
    status, body = await send(browsers[0], csrf, VC.id, world.call_anna)
    assert status == 429 and body["error"] == "rate_limited" and body["retry_after"] > 0, body
    referrals = [d for k, d in events(database, world.call_anna) if k == "referral.sent_sms"]
    assert len(referrals) == 3


# --- the text --------------------------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SE)


def test_opening_in_words_in_swedish_time() -> None:
    """Open today, closed now with the next opening, closed today, round the clock, a night window."""
    assert opening_words(VC, at(26, 10)) == "Öppet i dag 08:00-17:00"  # Thursday
    assert opening_words(VC, at(26, 7)) == "Öppet i dag 08:00-17:00"
    assert opening_words(VC, at(26, 19)) == "Öppet i dag 08:00-17:00 (stängt nu, öppnar i morgon 08:00)"
    assert opening_words(VC, at(27, 19)) == "Öppet i dag 08:00-17:00 (stängt nu, öppnar mån 08:00)"  # Friday
    assert opening_words(VC, at(28, 12)) == "Stängt i dag, öppnar mån 08:00"  # Saturday
    assert opening_words(AKUT, at(28, 3)) == "Öppet dygnet runt"
    night = unit("01-jour", "jourcentral", hours={"weekly": {"friday": ["18:00-02:00+1"]}})
    assert opening_words(night, at(27, 19)) == "Öppet i dag 18:00-02:00"
    assert opening_words(night, at(28, 1)) == "Öppet nu till 02:00, sedan stängt i dag"
    # Times are Swedish: 15:30 UTC is 16:30 in Stockholm (open), 16:30 UTC is 17:30 (closed).
    assert opening_words(VC, datetime(2026, 11, 26, 15, 30, tzinfo=UTC)) == "Öppet i dag 08:00-17:00"
    assert opening_words(VC, datetime(2026, 11, 26, 16, 30, tzinfo=UTC)).startswith("Öppet i dag 08:00-17:00 (stängt")


def test_a_long_unit_is_trimmed_address_first_and_typography_made_plain() -> None:
    """Within 450 characters: the street address goes first, then the link (never cut), then the end of the
    name; phone and opening always stay. Dashes and curly quotes become GSM characters."""
    long = unit("01-lang", "vardcentral", NEAR, OFFICE, name="Vårdcentralen " + "Norra " * 30, phone="0701740635",
                address="Storgatan 1 – ingång B, " + "trappa " * 25, postcode="114 28", city="Stockholm",
                url="https://www.1177.se/" + "a" * 250)
    text = referral_sms(long, at(26, 10))
    assert septets(text) <= MAX_CHARS and len(text) <= MAX_CHARS
    assert "Tel 070-174 06 35" in text and "Öppet i dag 08:00-17:00" in text and "114 28 Stockholm" in text
    assert "https://" not in text and "trappa" not in text
    assert text.splitlines()[1].startswith("Vårdcentralen Norra")
    assert all(c not in text for c in "–’“”…")

    fits = unit("01-kort", "vardcentral", NEAR, OFFICE, name="Mottagning “Solen”", address="Ågatan 2 – 4",
                url="https://example.se/" + "b" * 200, postcode="11428", city="Stockholm")
    text = referral_sms(fits, at(26, 10))
    assert 'Mottagning "Solen"' in text and "Ågatan 2 - 4, 11428 Stockholm" in text
    assert "https://example.se/" + "b" * 200 in text and septets(text) <= MAX_CHARS


def test_a_minimal_unit() -> None:
    """No address, phone or link: name, hours and access only."""
    bare = CareUnit.model_validate({"id": "01-bar", "region": "01", "name": "Apoteket", "type": "apotek",
                                    "hours": ALWAYS, "municipality": "Stockholm", "lat": NEAR[0], "lon": NEAR[1],
                                    "access": "drop_in"})
    assert referral_sms(bare, at(26, 10)).splitlines() == ["Din hänvisning från sjuksköterskan:", "Apoteket",
                                                            "Öppet dygnet runt", "Drop-in, ingen tidsbokning"]
