"""Shared rig of the desktop tests: a real app (identity + desktop) on a migrated database, the real Redis,
and a LiveRouting on a Redis store under a fresh key prefix, with a clock the tests move.

People (care provider Öst runs 01, 05 and 06; Syd runs 05):

| user | role | regions | care provider | nurse endpoint |
|---|---|---|---|---|
| nils | national_admin | – | Öst | – |
| rita | region_admin | 05 | Öst | – |
| sven | supervisor | 01 | Öst | – |
| nora | nurse | 01 | Öst | yes (home 01) |
| ella | nurse | 05 | Öst | yes (home 05) |
| jon | nurse | 06 | Öst | yes (home 06) |
| sara | nurse | 05 | Syd | yes (home 05) |
"""

from __future__ import annotations

import secrets
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session

from agents import service as agents
from agents.presence import Event
from config.schema import RegionRouting
from desktop.http import setup_desktop
from identity import service
from identity.http import setup_identity
from identity.models import Role
from routing.live import LiveRouting
from routing.model import RoutingRules, WaitingCall
from routing.redis_store import RedisStore
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS
from vardlinje.db import Database
from vardlinje.migrate import upgrade
from vardlinje.settings import AuthSettings, HttpSettings, Settings

PASSWORD = "korrekt-häst-batteri"
VOCABULARY = {"triage": 5}
NURSES = ("nora", "ella", "jon", "sara")

Client = TestClient[web.Request, web.Application]


class Clock:
    """Routing's clock: starts at the real now (sessions use the wall clock), moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    server: TestServer
    live: LiveRouting
    clock: Clock
    database: Database
    redis: Redis
    origin: str
    endpoints: dict[str, str]  # username → endpoint
    tokens: dict[str, str]
    app: web.Application
    clients: list[Client] = field(default_factory=list)

    async def client(self) -> Client:
        """Another browser (its own cookie jar) on the one server."""
        client = TestClient(self.server)
        await client.start_server()
        self.clients.append(client)
        return client

    async def login(self, username: str) -> tuple[Client, dict[str, str]]:
        """A browser logged in as `username` (JSON login) and the CSRF header of its session."""
        client = await self.client()
        resp = await client.post("/login", json={"username": username, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return client, {"X-CSRF-Token": (await resp.json())["csrf_token"]}

    async def presence(self, username: str, event: Event, **kw: Any) -> None:
        """A presence change straight through routing (set-up, not under test)."""
        await self.live.change_presence(self.endpoints[username], event, by="test", **kw)

    async def call(self, call_id: str, region: str, *, priority: int = 5) -> list[Any]:
        """A call arrives in `region` now (routed at once)."""
        return await self.live.engine.call_arrived(
            WaitingCall(call_id, region, {"triage": 1}, priority, self.clock()), self.clock())


def seed(database: Database) -> tuple[dict[str, str], dict[str, str]]:
    """The people of the table above; returns username → endpoint and named API tokens."""
    at = datetime.now(UTC) - timedelta(minutes=1)

    def work(s: Session) -> tuple[dict[str, str], dict[str, str]]:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "05", "Region Östergötland")
        service.create_region(s, "06", "Region Jönköpings län")
        ost = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "05", "06"])
        syd = service.create_care_provider(s, "Vårdlinje Syd AB", ["05"])
        nils = service.create_user(s, "nils", PASSWORD, [Role.NATIONAL_ADMIN], ost.id, [], "Nils", at=at)
        service.create_user(s, "rita", PASSWORD, [Role.REGION_ADMIN], ost.id, ["05"], "Rita", at=at)
        sven = service.create_user(s, "sven", PASSWORD, [Role.SUPERVISOR], ost.id, ["01"], "Sven", at=at)
        people = {"nora": (ost.id, "01"), "ella": (ost.id, "05"), "jon": (ost.id, "06"), "sara": (syd.id, "05")}
        endpoints = {}
        nora = None
        for name, (provider, region) in people.items():
            user = service.create_user(s, name, PASSWORD, [Role.NURSE], provider, [region], name.title(), at=at)
            nurse = agents.create_nurse(s, user, region, {"triage": 3}, vocabulary=VOCABULARY, at=at)
            endpoints[name] = nurse.endpoint
            if name == "nora":
                nora = user
        assert nora is not None
        tokens = {
            "nora_read": service.create_api_token(s, nora, "skrivbord", ["desktop:read"], at=at)[1],
            "nora_write": service.create_api_token(s, nora, "skrivbord", ["desktop:write"], at=at)[1],
            "sven_read": service.create_api_token(s, sven, "tavla", ["supervisor:read"], at=at)[1],
            "sven_write": service.create_api_token(s, sven, "tavla", ["supervisor:write"], at=at)[1],
            "nils_crisis": service.create_api_token(s, nils, "kris", ["crisis:write"], at=at)[1],
        }
        return endpoints, tokens

    return database.run_sync(work)


@dataclass(frozen=True)
class Template:
    """A migrated SQLite database with the people seeded once (argon2 hashing is slow); each test copies it."""

    path: Path
    endpoints: dict[str, str]
    tokens: dict[str, str]

    def copy(self, directory: Path) -> Database:
        target = directory / "desktop.db"
        shutil.copy(self.path, target)
        return Database.from_url(f"sqlite:///{target}")


def make_template(directory: Path) -> Template:
    url = f"sqlite:///{directory}/template.db"
    upgrade(url)
    database = Database.from_url(url)
    try:
        endpoints, tokens = seed(database)
    finally:
        database.dispose()
    return Template(directory / "template.db", endpoints, tokens)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def build_rig(database: Database, redis_url: str, *, routing: bool = True,
                    seeded: Template | None = None, **desktop: Any) -> AsyncIterator[Rig]:
    """The app with identity, the desktop and (unless `routing=False`) a LiveRouting on a fresh Redis prefix;
    the desktop's timings are short (poll 50 ms, queues 200 ms) and the liveness sweep is left to the tests.
    `seeded`: `database` is a copy of that template (else the people are seeded here)."""
    redis = Redis.from_url(redis_url)
    async for key in redis.scan_iter(match="vardlinje:login-fail:*"):
        await redis.delete(key)
    endpoints, tokens = (seeded.endpoints, seeded.tokens) if seeded is not None else seed(database)
    clock = Clock()
    prefix = f"test:{uuid.uuid4().hex[:12]}"
    live = LiveRouting(database, RedisStore(redis, f"{prefix}:routing"), RoutingRules(), lambda _r: RegionRouting(),
                       clock)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", auth=AuthSettings(cookie_secure=False),
                             http=HttpSettings(public_url=origin + "/"))
    app[DB] = database
    app[REDIS] = redis
    if routing:
        app[ROUTING] = live
        await live.load_nurses()
    options: dict[str, Any] = {"poll_seconds": 0.05, "queue_seconds": 0.2, "sweep_seconds": 3600.0,
                               "heartbeat_key": f"{prefix}:heartbeat-{secrets.token_hex(3)}", **desktop}
    setup_identity(app)
    setup_desktop(app, **options)
    server = TestServer(app, port=port)
    await server.start_server()
    rig = Rig(server, live, clock, database, redis, origin, endpoints, tokens, app)
    try:
        yield rig
    finally:
        for client in rig.clients:
            await client.close()
        await server.close()
        await redis.aclose()
        if seeded is not None:
            database.dispose()

