"""The Twilio provider against a local server that speaks Twilio's Messages API: what Twilio
receives (path, Basic credentials, form fields, StatusCallback with our reference), the answer
read back, and Twilio's error JSON mapped to our errors with its code and message."""

from __future__ import annotations

import pytest

from sms.config import SmsSettings
from sms.provider import InvalidNumber, Rejected, Unavailable, Unsubscribed
from sms.runtime import make_provider
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
    FakeTwilio,
    make_call,
    twilio_settings,
)

SERVICE_SID = "MG" + "fedcba9876543210" * 2


def provider_for(fake: FakeTwilio, sms: SmsSettings | None = None) -> TwilioProvider:
    return TwilioProvider.from_settings(sms or twilio_settings(), status_callback_url=CALLBACK_URL,
                                        http_client=TwilioHttpClient(base_url=fake.url, timeout=5))


async def test_send_posts_twilio_wire_format(fake_twilio: FakeTwilio) -> None:
    """One form POST to /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, To, From, Body and
    StatusCallback carrying our reference; the answer's sid and status come back."""
    provider = provider_for(fake_twilio)
    try:
        sent = await provider.send(MOBILE, "Hej från 1177 – åäö", reference="abc123")
    finally:
        await provider.aclose()
    [req] = fake_twilio.requests
    assert req["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert req["content_type"] == "application/x-www-form-urlencoded"
    assert req["form"] == {"To": MOBILE, "From": FROM, "Body": "Hej från 1177 – åäö",
                           "StatusCallback": f"{CALLBACK_URL}?ref=abc123"}
    assert sent.provider_id.startswith("SM") and len(sent.provider_id) == 34 and sent.status == "queued"


async def test_messaging_service_instead_of_from(fake_twilio: FakeTwilio) -> None:
    """With only a messaging service configured, MessagingServiceSid is sent and From is not."""
    fake_twilio.status = "accepted"
    provider = provider_for(fake_twilio, twilio_settings(twilio_from="", twilio_messaging_service_sid=SERVICE_SID))
    try:
        sent = await provider.send(MOBILE, "Hej", reference="r1")
    finally:
        await provider.aclose()
    form = fake_twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == SERVICE_SID and "From" not in form and sent.status == "accepted"


@pytest.mark.parametrize(("http_status", "code", "message", "error", "text"), [
    (400, 21211, "Invalid 'To' Phone Number: +4670123", InvalidNumber, "Invalid 'To' Phone Number"),
    (400, 21614, "'To' number is not a valid mobile number", InvalidNumber, "not a valid mobile number"),
    (400, 21610, "Attempt to send to unsubscribed recipient", Unsubscribed, "has unsubscribed"),
    (400, 21408, "Permission to send an SMS has not been enabled for the region", Rejected, "21408"),
    (429, 20429, "Too Many Requests", Unavailable, "Twilio is unavailable"),
    (503, 20500, "Service Unavailable", Unavailable, "20500"),
])
async def test_twilio_errors_map_to_ours(fake_twilio: FakeTwilio, http_status: int, code: int, message: str,
                                         error: type[Exception], text: str) -> None:
    """Twilio's error JSON (code, message, more_info, status) becomes our SmsError with its code kept."""
    fake_twilio.fail_next.append((http_status, code, message))
    provider = provider_for(fake_twilio)
    try:
        with pytest.raises(error, match=text) as info:
            await provider.send(MOBILE, "Hej", reference="r1")
    finally:
        await provider.aclose()
    assert getattr(info.value, "provider_code", None) == code
    if code == 21610:
        assert isinstance(info.value, Rejected), "unsubscribed is a kind of rejection"


async def test_wrong_credentials_say_which_settings(fake_twilio: FakeTwilio) -> None:
    """A 20003 (authentication) names the settings to check."""
    provider = provider_for(fake_twilio, twilio_settings(twilio_auth_token="wrong"))
    try:
        with pytest.raises(Rejected, match="sms.twilio_auth_token") as info:
            await provider.send(MOBILE, "Hej", reference="r1")
    finally:
        await provider.aclose()
    assert info.value.provider_code == 20003


async def test_unreachable_twilio_is_unavailable() -> None:
    """Nothing listening at the API's address: Unavailable, not a raw aiohttp error."""
    provider = TwilioProvider.from_settings(twilio_settings(), status_callback_url=CALLBACK_URL,
                                            http_client=TwilioHttpClient(base_url="http://127.0.0.1:9", timeout=2))
    try:
        with pytest.raises(Unavailable, match="could not be reached"):
            await provider.send(MOBILE, "Hej", reference="r1")
    finally:
        await provider.aclose()


async def test_send_sms_through_twilio_records_the_sid(fake_twilio: FakeTwilio, database: Database) -> None:
    """Through the service: the row carries Twilio's sid and status, and the error of a refusal."""
    call_id = make_call(database)
    provider = provider_for(fake_twilio)
    try:
        message = await send_sms(database, provider, None, call_id=call_id, to="0701234567", body="Hej", at=T0)
        fake_twilio.fail_next.append((400, 21610, "Attempt to send to unsubscribed recipient"))
        with pytest.raises(Unsubscribed):
            await send_sms(database, provider, None, call_id=call_id, to="0701234567", body="Hej", at=T0)
    finally:
        await provider.aclose()
    assert message.provider == "twilio" and message.status == "queued" and message.provider_id
    assert fake_twilio.requests[0]["form"]["StatusCallback"] == f"{CALLBACK_URL}?ref={message.id}"


def test_settings_pick_the_provider_and_refuse_incomplete_twilio() -> None:
    """provider=outbox gives the outbox; provider=twilio without sid/token/sender is a settings error."""
    assert make_provider(SmsSettings(), public_url="http://x").name == "outbox"
    assert make_provider(twilio_settings(), public_url="http://x").name == "twilio"
    with pytest.raises(ValueError, match="twilio_account_sid.*twilio_auth_token.*twilio_from"):
        SmsSettings(provider="twilio")
    assert AUTH_TOKEN not in repr(twilio_settings()), "the token never shows in logs"
