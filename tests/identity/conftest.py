"""Shared pieces of the identity tests: a settable clock, seed data, a real Redis client, and a
small aiohttp app with setup_identity plus protected API and page routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session

from identity import service
from identity.http import get_principal, require_login, require_role, require_scope, setup_identity
from identity.models import Role, User
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import AuthSettings, Settings

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
PASSWORD = "korrekt-häst-batteri"
SESSION_HOURS = 12.0
LOGIN_ATTEMPTS = 3
WINDOW_SECONDS = 60


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Seed:
    provider_id: int
    nurse_id: int
    supervisor_id: int


def get_user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    assert user is not None
    return user


def seed(database: Database) -> Seed:
    """Regions 01 and 03, one care provider running both, a nurse (01) and a supervisor (01, 03)."""

    def work(s: Session) -> Seed:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        nurse = service.create_user(s, "anna", PASSWORD, [Role.NURSE], provider.id, ["01"], "Anna Andersson", at=T0)
        sup = service.create_user(s, "sven", PASSWORD, [Role.SUPERVISOR], provider.id, ["01", "03"], at=T0)
        assert provider.id is not None and nurse.id is not None and sup.id is not None
        return Seed(provider.id, nurse.id, sup.id)

    return database.run_sync(work)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the real test Redis, with login counters left by earlier tests removed."""
    client = Redis.from_url(redis_url)
    for pattern in ("vardlinje:login-fail:*", "t:throttle*"):
        async for key in client.scan_iter(match=pattern):
            await client.delete(key)
    yield client
    await client.aclose()


def build_app(database: Database, redis: Redis, clock: FakeClock, *, cookie_secure: bool = False) -> web.Application:
    settings = Settings(database_url="sqlite://", auth=AuthSettings(
        session_hours=SESSION_HOURS, cookie_secure=cookie_secure, login_attempts=LOGIN_ATTEMPTS,
        login_window_seconds=WINDOW_SECONDS))
    app = web.Application()
    app[SETTINGS] = settings
    app[DB] = database
    app[REDIS] = redis
    setup_identity(app, clock=clock)

    @require_role(Role.SUPERVISOR, Role.NATIONAL_ADMIN)
    async def stats(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    @require_login
    async def note(request: web.Request) -> web.StreamResponse:
        principal = get_principal(request)
        assert principal is not None
        return web.json_response({"ok": True, "by": principal.username})

    @require_scope("wfm:read")
    async def wfm(request: web.Request) -> web.StreamResponse:
        return web.json_response({"agents": []})

    @require_login
    async def desktop(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<h1>Skrivbord</h1>", content_type="text/html")

    app.router.add_get("/api/v1/stats", stats)
    app.router.add_post("/api/v1/notes", note)
    app.router.add_get("/api/v1/wfm/agents", wfm)
    app.router.add_get("/desktop", desktop)
    return app


ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_client(database: Database, redis: Redis, clock: FakeClock) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(*, cookie_secure: bool = False) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(build_app(database, redis, clock, cookie_secure=cookie_secure)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login_form_token(client: TestClient[web.Request, web.Application]) -> str:
    """GET /login and return the double-submit token from the form (the cookie stays in the jar)."""
    resp = await client.get("/login")
    assert resp.status == 200
    match = _CSRF_FIELD.search(await resp.text())
    assert match is not None
    return match.group(1)


async def login(client: TestClient[web.Request, web.Application], username: str = "anna",
                password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from /api/v1/me)."""
    token = await login_form_token(client)
    resp = await client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    me = await client.get("/api/v1/me")
    assert me.status == 200
    csrf: str = (await me.json())["csrf_token"]
    return csrf
