"""The crisis switch's API with real logins and tokens (SQLite and PostgreSQL, real Redis): who may switch
which regions, CSRF, scopes, clear 400/409 errors in Swedish, and the state and log it shows."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session

from identity import service
from identity.http import setup_identity
from identity.models import Role
from routing import crisis
from routing.crisis import CrisisSwitch
from routing.http import CRISIS_PATH, setup_crisis_admin
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import AuthSettings, Settings

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PASSWORD = "korrekt-häst-batteri"

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[], Awaitable[Client]]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    async for key in client.scan_iter(match="vardlinje:login-fail:*"):
        await client.delete(key)
    yield client
    await client.aclose()


def seed(database: Database) -> dict[str, str]:
    """Regions 01 and 03; Nils national admin, Rita region admin of 01, Sven supervisor of 01, Nora nurse
    of 01. Returns API tokens: Rita's with crisis:write, Nils's with crisis:read, Nils's with config:read."""

    def work(s: Session) -> dict[str, str]:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        nils = service.create_user(s, "nils", PASSWORD, [Role.NATIONAL_ADMIN], provider.id, [], "Nils", at=T0)
        rita = service.create_user(s, "rita", PASSWORD, [Role.REGION_ADMIN], provider.id, ["01"], "Rita", at=T0)
        service.create_user(s, "sven", PASSWORD, [Role.SUPERVISOR], provider.id, ["01"], "Sven", at=T0)
        service.create_user(s, "nora", PASSWORD, [Role.NURSE], provider.id, ["01"], "Nora", at=T0)
        return {"rita_write": service.create_api_token(s, rita, "krisverktyg", ["crisis:write"], at=T0)[1],
                "nils_read": service.create_api_token(s, nils, "tavla", ["crisis:read"], at=T0)[1],
                "nils_config": service.create_api_token(s, nils, "config", ["config:read"], at=T0)[1]}

    return database.run_sync(work)


@pytest.fixture
async def rig(database: Database, redis: Redis) -> AsyncIterator[tuple[MakeClient, dict[str, str]]]:
    """An app with identity and the crisis API (its switch on a key and channel of its own, listening)."""
    tokens = seed(database)
    tag = secrets.token_hex(4)
    switch = CrisisSwitch(database, redis, key=f"test:{tag}:crisis", channel=f"test:{tag}:crisis", poll_seconds=3600)
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", auth=AuthSettings(cookie_secure=False))
    app[DB] = database
    app[REDIS] = redis
    setup_identity(app)
    setup_crisis_admin(app, switch, clock=lambda: T0)
    server = TestServer(app)
    clients: list[Client] = []

    async def make() -> Client:
        """Another browser (its own cookie jar) on the one server."""
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield make, tokens
    for client in clients:
        await client.close()


async def login(client: Client, username: str) -> dict[str, str]:
    """JSON login; returns the CSRF header of the session."""
    resp = await client.post("/login", json={"username": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"X-CSRF-Token": (await resp.json())["csrf_token"]}


async def post(client: Client, body: object, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    resp = await client.post(CRISIS_PATH, json=body, headers=headers)
    return resp.status, await resp.json()


def logged(database: Database) -> int:
    return len(database.run_sync(crisis.read_log))


async def test_national_admin_switches_all_regions_and_any_region(rig: tuple[MakeClient, dict[str, str]]) -> None:
    """Nils (national admin) switches every region on, then 03 on its own, then all off: each answer has the
    logged change with his name and the clock's time, and GET shows the state and the log newest first."""
    make, _tokens = rig
    client = await make()
    csrf = await login(client, "nils")
    status, body = await post(client, {"all": True, "active": True, "reason": "Nationellt IT-haveri"}, csrf)
    assert status == 200, body
    assert body["change"] == {"id": body["change"]["id"], "at": T0.isoformat(), "regions": ["*"], "active": True,
                              "by": "nils", "reason": "Nationellt IT-haveri"}
    assert body["state"]["all_regions"] is True and body["state"]["regions"] == ["*"]
    assert body["state"]["redirects"][0]["name"] == "alla regioner"
    status, body = await post(client, {"regions": ["03"], "active": True, "reason": "Uppsala"}, csrf)
    assert status == 200 and body["state"]["regions"] == ["*", "03"]
    status, body = await post(client, {"all": True, "active": False, "reason": "Över"}, csrf)
    assert status == 200 and body["state"]["regions"] == ["03"] and body["state"]["all_regions"] is False

    resp = await client.get(CRISIS_PATH)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    shown = await resp.json()
    assert shown["state"]["redirects"] == [{"region": "03", "name": "03 Region Uppsala", "since": T0.isoformat(),
                                            "by": "nils", "reason": "Uppsala"}]
    assert [(c["regions"], c["active"]) for c in shown["log"]] == [(["*"], False), (["03"], True), (["*"], True)]
    limited = await (await client.get(CRISIS_PATH, params={"limit": "1"})).json()
    assert len(limited["log"]) == 1 and limited["log"][0]["active"] is False


async def test_region_admin_and_supervisor_switch_only_their_own_region(
        rig: tuple[MakeClient, dict[str, str]], database: Database) -> None:
    """Rita (region admin of 01) switches 01 on but neither 03, 01+03 nor all regions; Sven (supervisor of
    01) switches 01 off; Nora (nurse) may neither read nor switch; anonymous gets 401. Refusals log nothing."""
    make, _tokens = rig
    rita = await make()
    csrf = await login(rita, "rita")
    status, body = await post(rita, {"regions": ["01"], "active": True, "reason": "Stockholm nere"}, csrf)
    assert status == 200 and body["change"]["by"] == "rita"
    for target in ({"regions": ["03"]}, {"regions": ["01", "03"]}, {"all": True}):
        status, body = await post(rita, {**target, "active": True, "reason": "x"}, csrf)
        assert status == 403 and body["error"] == "forbidden", target
        assert "bara egna regioner" in body["detail"]
    assert "03 Region Uppsala" in body["detail"] or "alla regioner" in body["detail"]
    assert (await rita.get(CRISIS_PATH)).status == 200

    sven = await make()
    sven_csrf = await login(sven, "sven")
    status, body = await post(sven, {"regions": ["01"], "active": False, "reason": "Vi svarar igen"}, sven_csrf)
    assert status == 200 and body["state"]["regions"] == [] and body["change"]["by"] == "sven"

    nora = await make()
    nora_csrf = await login(nora, "nora")
    assert (await nora.get(CRISIS_PATH)).status == 403
    status, body = await post(nora, {"regions": ["01"], "active": True, "reason": "x"}, nora_csrf)
    assert status == 403
    anonymous = await make()
    assert (await anonymous.get(CRISIS_PATH)).status == 401
    assert (await anonymous.post(CRISIS_PATH, json={"regions": ["01"], "active": True, "reason": "x"})).status == 401
    assert logged(database) == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"regions": ["99"], "active": True, "reason": "x"}, "Okänd region 99: länskoderna är 01, 03"),
        ({"regions": [], "active": True, "reason": "x"}, "at least one county code"),
        ({"active": True, "reason": "x"}, "at least one county code"),
        ({"regions": ["01"], "all": True, "active": True, "reason": "x"}, '"all": true, not both'),
        ({"regions": ["01"], "active": True}, "{'field': 'reason', 'message': 'Field required'}"),
        ({"regions": ["01"], "active": "yes", "reason": "x"}, "{'field': 'active', 'message': 'Input should be a "
                                                              "valid boolean'}"),
        ({"regions": ["01"], "active": True, "reason": "x", "note": "y"}, "{'field': 'note', 'message': 'Extra "
                                                                          "inputs are not permitted'}"),
        ({"regions": "01", "active": True, "reason": "x"}, "{'field': 'regions', 'message': 'Input should be a "
                                                           "valid list'}"),
        ({"regions": ["01"], "active": True, "reason": "   "}, "En anledning måste anges / a reason is required"),
        (["01"], "{'field': '(body)'"),
    ],
)
async def test_bad_requests_get_a_clear_400(rig: tuple[MakeClient, dict[str, str]], database: Database,
                                            body: object, fragment: str) -> None:
    """Unknown regions, no target, both targets, no reason, wrong types, unknown fields, a blank reason, a
    body that is no object: 400 with a Swedish-first detail and the field at fault; nothing logged."""
    make, _tokens = rig
    client = await make()
    csrf = await login(client, "nils")
    status, answer = await post(client, body, csrf)
    assert status == 400, answer
    assert answer["error"] == "bad_request" and answer["detail"][0].isupper()
    assert fragment in answer["detail"] + str(answer.get("issues", "")), answer
    assert logged(database) == 0


async def test_other_400s_and_409(rig: tuple[MakeClient, dict[str, str]]) -> None:
    """Invalid JSON and a bad ?limit= are 400; switching off a region that is not redirected is 409 with
    the reason in Swedish."""
    make, _tokens = rig
    client = await make()
    csrf = await login(client, "nils")
    resp = await client.post(CRISIS_PATH, data=b"{not json", headers={**csrf, "Content-Type": "application/json"})
    assert resp.status == 400 and "Ogiltig JSON" in (await resp.json())["detail"]
    for limit in ("0", "201", "x", "-1"):
        assert (await client.get(CRISIS_PATH, params={"limit": limit})).status == 400, limit
    status, body = await post(client, {"regions": ["03"], "active": False, "reason": "x"}, csrf)
    assert status == 409 and body["error"] == "not_redirected"
    assert body["detail"].startswith("03 Region Uppsala är inte omdirigerad")


async def test_session_post_needs_the_csrf_token(rig: tuple[MakeClient, dict[str, str]],
                                                 database: Database) -> None:
    """With the session cookie but without (or with a wrong) X-CSRF-Token the switch is refused."""
    make, _tokens = rig
    client = await make()
    await login(client, "nils")
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        status, body = await post(client, {"all": True, "active": True, "reason": "x"}, headers)
        assert status == 403 and body["error"] == "csrf_failed"
    assert logged(database) == 0


async def test_api_tokens_need_the_crisis_scopes(rig: tuple[MakeClient, dict[str, str]],
                                                 database: Database) -> None:
    """Rita's crisis:write token switches her region (no CSRF for bearer tokens) but not 03; Nils's
    crisis:read token reads but cannot switch, though he is a national admin; a config:read token reads
    nothing here."""
    make, tokens = rig
    client = await make()

    def bearer(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    status, body = await post(client, {"regions": ["01"], "active": True, "reason": "larm"}, bearer("rita_write"))
    assert status == 200 and body["change"]["by"] == "rita"
    status, _ = await post(client, {"regions": ["03"], "active": True, "reason": "larm"}, bearer("rita_write"))
    assert status == 403
    assert (await client.get(CRISIS_PATH, headers=bearer("rita_write"))).status == 200
    assert (await client.get(CRISIS_PATH, headers=bearer("nils_read"))).status == 200
    status, body = await post(client, {"all": True, "active": True, "reason": "x"}, bearer("nils_read"))
    assert status == 403 and body["error"] == "forbidden"
    assert (await client.get(CRISIS_PATH, headers=bearer("nils_config"))).status == 403
    assert logged(database) == 1
