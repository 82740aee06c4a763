"""The SMS routes: Twilio's status webhook (valid, forged, missing and misplaced signatures,
unknown MessageSid, an end-to-end delivery report) and the outbox API's guards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from calls.service import events
from identity import service as identity
from identity.http import SESSION_COOKIE
from identity.models import Role
from sms.config import SmsSettings
from sms.models import SmsMessage
from sms.outbox import OutboxProvider
from sms.ratelimit import RedisSmsLimiter
from sms.runtime import SMS
from sms.service import send_sms
from sms.twilio_provider import TwilioHttpClient, TwilioProvider
from vardlinje.db import Database

from .conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLBACK_URL,
    FROM,
    MOBILE,
    T0,
    ClientFactory,
    FakeTwilio,
    make_call,
    twilio_settings,
)

PATH = "/webhooks/twilio/sms-status"


def status_form(sid: str, status: str, **extra: str) -> dict[str, str]:
    """The fields Twilio posts to a StatusCallback."""
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status, "AccountSid": ACCOUNT_SID,
            "From": FROM, "To": MOBILE, "ApiVersion": "2010-04-01", **extra}


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


async def twilio_app(make_client: ClientFactory, fake: FakeTwilio) -> TestClient[web.Request, web.Application]:
    provider = TwilioProvider.from_settings(twilio_settings(), status_callback_url=CALLBACK_URL,
                                            http_client=TwilioHttpClient(base_url=fake.url))
    return await make_client(provider, twilio_settings())


async def test_delivery_report_end_to_end(database: Database, make_client: ClientFactory, fake_twilio: FakeTwilio,
                                          limiter: RedisSmsLimiter) -> None:
    """Send through Twilio, then Twilio's signed `delivered` callback (to the URL it was given, with
    ?ref=) moves the row to delivered and writes `sms.status` after `sms.sent` on the call."""
    client = await twilio_app(make_client, fake_twilio)
    ctx = client.app[SMS]
    call_id = make_call(database)
    message = await send_sms(database, ctx.provider, limiter, call_id=call_id, to=MOBILE, body="Hej", at=T0)
    callback = fake_twilio.requests[0]["form"]["StatusCallback"]
    assert callback == f"{CALLBACK_URL}?ref={message.id}"
    form = status_form(message.provider_id or "", "delivered")
    resp = await client.post(f"{PATH}?ref={message.id}", data=form, headers={"X-Twilio-Signature": sign(callback, form)})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"ok": True, "known": True, "status": "delivered", "applied": True}
    row = database.run_sync(lambda s: s.get(SmsMessage, message.id))
    assert row is not None and row.status == "delivered"
    kinds = database.run_sync(lambda s: [e.kind for e in events(s, call_id)])
    assert kinds[-2:] == ["sms.sent", "sms.status"]


async def test_failed_delivery_keeps_twilios_error_code(database: Database, make_client: ClientFactory,
                                                        fake_twilio: FakeTwilio) -> None:
    """An `undelivered` callback with ErrorCode 30003 stores the code and a readable description."""
    client = await twilio_app(make_client, fake_twilio)
    message = await send_sms(database, client.app[SMS].provider, None, call_id=None, to=MOBILE, body="Hej", at=T0)
    form = status_form(message.provider_id or "", "undelivered", ErrorCode="30003")
    url = f"{CALLBACK_URL}?ref={message.id}"
    resp = await client.post(f"{PATH}?ref={message.id}", data=form, headers={"X-Twilio-Signature": sign(url, form)})
    assert resp.status == 200
    row = database.run_sync(lambda s: s.get(SmsMessage, message.id))
    assert row is not None and row.status == "undelivered" and row.error_code == "30003"
    assert row.error == "Twilio error 30003: unreachable destination handset"


async def test_missing_signature_is_403(make_client: ClientFactory, fake_twilio: FakeTwilio) -> None:
    """A callback without X-Twilio-Signature is refused with 403 and a JSON error naming the header."""
    client = await twilio_app(make_client, fake_twilio)
    resp = await client.post(PATH, data=status_form("SM" + "0" * 32, "delivered"))
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "missing_signature" and "X-Twilio-Signature" in body["detail"]


async def test_forged_signature_is_403(database: Database, make_client: ClientFactory,
                                       fake_twilio: FakeTwilio) -> None:
    """A signature made with another token, or over changed fields, is refused and changes nothing."""
    client = await twilio_app(make_client, fake_twilio)
    message = await send_sms(database, client.app[SMS].provider, None, call_id=None, to=MOBILE, body="Hej", at=T0)
    form = status_form(message.provider_id or "", "failed", ErrorCode="30008")
    url = f"{CALLBACK_URL}?ref={message.id}"
    for signature in (sign(url, form, token="0" * 32),
                      sign(url, {**form, "MessageStatus": "delivered"}),
                      "not-base64-at-all"):
        resp = await client.post(f"{PATH}?ref={message.id}", data=form, headers={"X-Twilio-Signature": signature})
        assert resp.status == 403
        assert (await resp.json())["error"] == "invalid_signature"
    row = database.run_sync(lambda s: s.get(SmsMessage, message.id))
    assert row is not None and row.status == "queued"


async def test_signature_is_checked_against_the_public_url(make_client: ClientFactory,
                                                           fake_twilio: FakeTwilio) -> None:
    """Signed over the URL the app itself sees (behind a proxy: the internal one) is refused; the
    error tells which URL was used."""
    client = await twilio_app(make_client, fake_twilio)
    form = status_form("SM" + "1" * 32, "sent")
    internal = str(client.make_url(PATH))
    resp = await client.post(PATH, data=form, headers={"X-Twilio-Signature": sign(internal, form)})
    assert resp.status == 403
    assert CALLBACK_URL in (await resp.json())["detail"]


async def test_unknown_message_sid_is_200_and_logged(make_client: ClientFactory, fake_twilio: FakeTwilio,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A correctly signed report for a sid we never sent is answered 200 (so Twilio stops) and logged."""
    client = await twilio_app(make_client, fake_twilio)
    sid = "SM" + "2" * 32
    form = status_form(sid, "delivered")
    resp = await client.post(PATH, data=form, headers={"X-Twilio-Signature": sign(CALLBACK_URL, form)})
    assert resp.status == 200 and await resp.json() == {"ok": True, "known": False}
    assert any(sid in r.getMessage() and "unknown" in r.getMessage() for r in caplog.records)


async def test_webhook_refuses_everything_without_a_token(make_client: ClientFactory) -> None:
    """With the outbox (no Twilio token set) even a "signed" callback is 403: an empty key verifies anything."""
    client = await make_client(OutboxProvider(), SmsSettings())
    form = status_form("SM" + "3" * 32, "delivered")
    resp = await client.post(PATH, data=form, headers={"X-Twilio-Signature": sign(CALLBACK_URL, form, token="")})
    assert resp.status == 403 and (await resp.json())["error"] == "webhook_not_configured"


async def test_signed_callback_without_sid_is_400(make_client: ClientFactory, fake_twilio: FakeTwilio) -> None:
    """A signed request missing MessageSid/MessageStatus is a clear 400, not a crash."""
    client = await twilio_app(make_client, fake_twilio)
    form = {"AccountSid": ACCOUNT_SID}
    resp = await client.post(PATH, data=form, headers={"X-Twilio-Signature": sign(CALLBACK_URL, form)})
    assert resp.status == 400 and "MessageSid" in (await resp.json())["detail"]


# --- the outbox API ---------------------------------------------------------------------------------


def seed_people(database: Database) -> dict[str, str]:
    """Regions 01 and 03; a nurse and a supervisor of 01, a national admin; session cookies and tokens."""

    def work(s: Session) -> dict[str, str]:
        identity.create_region(s, "01", "Region Stockholm")
        identity.create_region(s, "03", "Region Uppsala")
        provider = identity.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        out: dict[str, str] = {}
        for name, role, regions in (("anna", Role.NURSE, ["01"]), ("sven", Role.SUPERVISOR, ["01"]),
                                    ("nora", Role.NATIONAL_ADMIN, [])):
            user = identity.create_user(s, name, "korrekt-häst-batteri", [role], provider.id, regions, at=T0)
            out[name] = identity.create_session(s, user, at=T0, lifetime=timedelta(hours=12))[1]
            if name == "anna":
                out["token_read"] = identity.create_api_token(s, user, "report", ["sms:read"], at=T0)[1]
                out["token_other"] = identity.create_api_token(s, user, "wfm", ["wfm:read"], at=T0)[1]
        return out

    return database.run_sync(work)


async def test_outbox_api_guards_and_region_scope(database: Database, make_client: ClientFactory,
                                                  limiter: RedisSmsLimiter) -> None:
    """Anonymous 401, nurse 403, token without sms:read 403; a supervisor sees her regions' calls'
    messages, a national admin and an sms:read token see all, newest first."""
    creds = seed_people(database)
    client = await make_client(OutboxProvider(), SmsSettings(), limiter)
    ctx = client.app[SMS]
    first = await ctx.send(database, call_id=make_call(database, region_id="01"), to="0701234567", body="Chatt 01", at=T0)
    second = await ctx.send(database, call_id=make_call(database, region_id="03"), to="0731234567", body="Chatt 03",
                            at=T0 + timedelta(minutes=1))

    async def get(path: str, *, cookie: str | None = None, token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "application/json"}
        if cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        resp = await client.get(path, headers=headers)
        return resp.status, await resp.json()

    assert (await get("/api/v1/sms/outbox"))[0] == 401
    assert (await get("/api/v1/sms/outbox", cookie=creds["anna"]))[0] == 403
    assert (await get("/api/v1/sms/outbox", token=creds["token_other"]))[0] == 403

    status, body = await get("/api/v1/sms/outbox", cookie=creds["sven"])
    assert status == 200 and [m["id"] for m in body["messages"]] == [first.id]
    for who in ({"cookie": creds["nora"]}, {"token": creds["token_read"]}):
        status, body = await get("/api/v1/sms/outbox", **who)
        assert status == 200 and [m["id"] for m in body["messages"]] == [second.id, first.id]
    message = body["messages"][1]
    assert message["to"] == MOBILE and message["body"] == "Chatt 01" and message["status"] == "delivered"
    assert message["created_at"] == T0.isoformat()

    status, body = await get("/api/v1/sms/outbox?to=073-123 45 67", cookie=creds["nora"])
    assert status == 200 and [m["body"] for m in body["messages"]] == ["Chatt 03"]
    status, body = await get("/api/v1/sms/outbox?limit=1", cookie=creds["nora"])
    assert body["count"] == 1 and body["messages"][0]["id"] == second.id
    assert (await get("/api/v1/sms/outbox?limit=0", cookie=creds["nora"]))[0] == 400
    status, body = await get("/api/v1/sms/outbox?to=abc", cookie=creds["nora"])
    assert status == 400 and body["error"] == "invalid_number"
    stored = database.run_sync(lambda s: len(list(s.exec(select(SmsMessage)))))
    assert stored == 2
