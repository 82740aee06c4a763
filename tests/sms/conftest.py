"""Shared pieces of the SMS tests: a settable clock, a call row to hang events on, a real Redis
client, the local server that plays Twilio's Messages API, and the app with identity + SMS."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session

from calls.service import open_call
from identity.http import setup_identity
from sms.config import SmsSettings
from sms.http import setup_sms
from sms.provider import SmsProvider
from sms.ratelimit import RedisSmsLimiter
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import HttpSettings, Settings

T0 = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
FROM = "+46766861177"
PUBLIC_URL = "https://vardlinje.example.se"
CALLBACK_URL = f"{PUBLIC_URL}/webhooks/twilio/sms-status"
MOBILE = "+46701234567"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_call(database: Database, *, region_id: str | None = "01", at: datetime = T0) -> str:
    """A call row (through the call record's own service), as the IVR would have opened it."""

    def work(s: Session) -> str:
        call = open_call(s, channel_id=f"chan-{secrets.token_hex(4)}", linkedid="", at=at, dialled_number="1177",
                         caller_number="0701234567")
        call.region_id = region_id
        s.add(call)
        return call.id

    return database.run_sync(work)


def twilio_settings(**overrides: Any) -> SmsSettings:
    values: dict[str, Any] = {"provider": "twilio", "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
                              "twilio_from": FROM, "status_callback_url": CALLBACK_URL}
    values.update(overrides)
    return SmsSettings(**values)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def limiter(redis: Redis) -> RedisSmsLimiter:
    """A limiter of 3 per hour on its own key prefix, so tests never share counters."""
    return RedisSmsLimiter(redis, limit=3, window_seconds=3600, prefix=f"t:sms:{secrets.token_hex(6)}")


# --- the local Twilio ---------------------------------------------------------------------------


@dataclass
class FakeTwilio:
    """Answers POST /2010-04-01/Accounts/{sid}/Messages.json as Twilio does, and keeps what it got.

    `fail_next` makes the next request answer with Twilio's error JSON (code, message, more_info,
    status) and the given HTTP status.
    """

    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, int, str]] = field(default_factory=list)
    status: str = "queued"
    url: str = ""

    async def messages(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append({"path": request.path, "account": request.match_info["sid"],
                              "authorization": request.headers.get("Authorization", ""),
                              "content_type": request.content_type, "form": {k: str(v) for k, v in form.items()}})
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _twilio_error(401, 20003, "Authenticate")
        if self.fail_next:
            http_status, code, message = self.fail_next.pop(0)
            return _twilio_error(http_status, code, message)
        sid = "SM" + secrets.token_hex(16)
        now = "Thu, 26 Nov 2026 09:30:00 +0000"
        account = request.match_info["sid"]
        return web.json_response(status=201, data={
            "account_sid": account, "api_version": "2010-04-01", "body": form.get("Body"),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": self.status,
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": form.get("To"), "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        })


def _twilio_error(http_status: int, code: int, message: str) -> web.Response:
    return web.json_response(status=http_status, data={
        "code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status})


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", fake.messages)
    server = TestServer(app)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


# --- the app --------------------------------------------------------------------------------------

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def build_app(database: Database, redis: Redis, provider: SmsProvider, sms: SmsSettings, clock: FakeClock,
              limiter: RedisSmsLimiter | None = None) -> web.Application:
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", http=HttpSettings(public_url=PUBLIC_URL))
    app[DB] = database
    app[REDIS] = redis
    setup_identity(app, clock=clock)
    setup_sms(app, provider, sms=sms, limiter=limiter, clock=clock)
    return app


@pytest.fixture
async def make_client(database: Database, redis: Redis, clock: FakeClock) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(provider: SmsProvider, sms: SmsSettings,
                   limiter: RedisSmsLimiter | None = None) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(build_app(database, redis, provider, sms, clock, limiter)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
