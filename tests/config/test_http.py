"""The config admin API and page with real logins (SQLite and PostgreSQL, real Redis): who may
change what, CSRF, 422 with file+path issues, rollback, the page with inline errors, and the
instant reload of the instance that took the change."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlmodel import Session

from config import store
from config.http import setup_config_admin
from config.live import LiveConfig
from identity import service
from identity.http import setup_identity
from identity.models import Role
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import Database
from vardlinje.settings import AuthSettings, Settings

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PASSWORD = "korrekt-häst-batteri"
OLD_WELCOME = "Välkommen till 1177 på telefon i Region Stockholm."
NEW_WELCOME = "Välkommen till 1177 i Region Stockholm, vi svarar dygnet runt."

Client = TestClient[web.Request, web.Application]
Rig = tuple[Callable[[], Awaitable[Client]], LiveConfig]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    async for key in client.scan_iter(match="vardlinje:login-fail:*"):
        await client.delete(key)
    yield client
    await client.aclose()


def seed_users(database: Database) -> None:
    """Regions 01 and 03; Rita region admin of 01, Nils national admin, Sven supervisor of 01."""

    def work(s: Session) -> None:
        service.create_region(s, "01", "Region Stockholm")
        service.create_region(s, "03", "Region Uppsala")
        provider = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        service.create_user(s, "rita", PASSWORD, [Role.REGION_ADMIN], provider.id, ["01"], "Rita Admin", at=T0)
        service.create_user(s, "nils", PASSWORD, [Role.NATIONAL_ADMIN], provider.id, [], "Nils Nationell", at=T0)
        service.create_user(s, "sven", PASSWORD, [Role.SUPERVISOR], provider.id, ["01"], "Sven Chef", at=T0)

    database.run_sync(work)


@pytest.fixture
async def rig(database: Database, redis: Redis, cfg: Path) -> AsyncIterator[Rig]:
    """An app with identity and the config admin over the seeded configuration; its LiveConfig
    listens on a channel of its own."""
    seed_users(database)
    live = LiveConfig(database, redis, recordings=cfg, channel=f"t:config:{secrets.token_hex(4)}", poll_seconds=3600)
    await live.seed_and_load(cfg)
    app = web.Application()
    app[SETTINGS] = Settings(database_url="sqlite://", auth=AuthSettings(cookie_secure=False))
    app[DB] = database
    app[REDIS] = redis
    setup_identity(app)
    setup_config_admin(app, live)
    server = TestServer(app)
    clients: list[Client] = []

    async def make() -> Client:
        """Another browser (its own cookie jar) on the one server."""
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield make, live
    for client in clients:
        await client.close()


async def login(client: Client, username: str) -> str:
    """JSON login (session cookie in the jar); returns the session's CSRF token."""
    resp = await client.post("/login", json={"username": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["csrf_token"]
    return token


def welcome_changed(text: str) -> str:
    assert OLD_WELCOME in text
    return text.replace(OLD_WELCOME, NEW_WELCOME)


async def current_text(client: Client, owner: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/config/{owner}")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_region_admin_edits_only_her_region(rig: Rig) -> None:
    """Rita (region admin of 01) changes 01 (the instance reloads at once), may read but not change
    the national file, and may neither read nor change 03; a supervisor may read but not change."""
    make, live = rig
    client = await make()
    csrf = await login(client, "rita")
    headers = {"X-CSRF-Token": csrf}
    current = await current_text(client, "01")
    assert current["version"] == 1 and current["created_by"] == "import"
    resp = await client.put("/api/v1/config/01", json={"content": welcome_changed(current["content"]),
                                                        "comment": "ny hälsning", "base_version": 1},
                            headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["version"] == 2 and body["created_by"] == "rita" and body["changed"] is True
    assert live.directory.version("01") == 2

    national = await current_text(client, "national")
    for owner, content in (("national", national["content"]), ("03", "id: '03'\n")):
        resp = await client.put(f"/api/v1/config/{owner}", data=content.encode(),
                                headers={**headers, "Content-Type": "application/yaml"})
        assert resp.status == 403, owner
        assert (await resp.json())["error"] == "forbidden"
    assert (await client.get("/api/v1/config/03")).status == 403
    assert (await client.get("/api/v1/config/99")).status == 404

    other = await make()
    sven_csrf = await login(other, "sven")
    assert (await other.get("/api/v1/config/01")).status == 200
    resp = await other.put("/api/v1/config/01", json={"content": current["content"]},
                           headers={"X-CSRF-Token": sven_csrf})
    assert resp.status == 403
    anonymous = await make()
    assert (await anonymous.get("/api/v1/config/01")).status == 401


async def test_cookie_put_needs_csrf(rig: Rig,
                                     database: Database) -> None:
    """A PUT with the session cookie but without X-CSRF-Token (or with a wrong one) is refused."""
    make, _live = rig
    client = await make()
    await login(client, "nils")
    text = welcome_changed((await current_text(client, "01"))["content"])
    for headers in ({}, {"X-CSRF-Token": "wrong" * 5}):
        resp = await client.put("/api/v1/config/01", json={"content": text}, headers=headers)
        assert resp.status == 403
        assert (await resp.json())["error"] == "csrf_failed"
    assert [r.version for r in database.run_sync(lambda s: store.history(s, "01"))] == [1]


async def test_invalid_put_is_422_with_issues(rig: Rig,
                                              database: Database) -> None:
    """YAML that breaks the menu: 422 listing each issue with file, path, message, severity and
    line; nothing is stored; an outdated base_version is 409."""
    make, _live = rig
    client = await make()
    headers = {"X-CSRF-Token": await login(client, "nils")}
    text = (await current_text(client, "01"))["content"]
    broken = text.replace("      next: peak\n", "      next: nowhere\n", 1)
    resp = await client.put("/api/v1/config/01?comment=trasig", data=broken.encode(),
                            headers={**headers, "Content-Type": "text/plain; charset=utf-8"})
    assert resp.status == 422
    body = await resp.json()
    assert body["error"] == "invalid_config" and body["detail"]
    issue = next(i for i in body["issues"] if i["path"] == "menu.nodes.welcome.next")
    assert issue["file"] == "regions/01.yaml" and issue["severity"] == "error"
    assert "unknown node 'nowhere'" in issue["message"] and isinstance(issue["line"], int)
    assert [r.version for r in database.run_sync(lambda s: store.history(s, "01"))] == [1]

    resp = await client.put("/api/v1/config/01", json={"content": welcome_changed(text), "base_version": 7},
                            headers=headers)
    assert resp.status == 409
    resp = await client.put("/api/v1/config/01", data=b"x", headers={**headers, "Content-Type": "image/png"})
    assert resp.status == 415


async def test_versions_and_rollback(rig: Rig) -> None:
    """The national admin changes 01 twice, lists the versions, rolls back to 1 (a new version 4
    with version 1's text, picked up by the instance); an unknown version is 404."""
    make, live = rig
    client = await make()
    headers = {"X-CSRF-Token": await login(client, "nils")}
    original = (await current_text(client, "01"))["content"]
    for content in (welcome_changed(original), welcome_changed(original).replace("dygnet runt", "alltid")):
        resp = await client.put("/api/v1/config/01", json={"content": content}, headers=headers)
        assert resp.status == 200, await resp.text()
    resp = await client.get("/api/v1/config/01/versions")
    listing = await resp.json()
    assert listing["current"] == 3 and [v["version"] for v in listing["versions"]] == [3, 2, 1]
    assert "content" not in listing["versions"][0] and listing["versions"][0]["created_by"] == "nils"

    resp = await client.post("/api/v1/config/01/rollback", json={"version": 1}, headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["version"] == 4
    now = await current_text(client, "01")
    assert now["version"] == 4 and now["content"] == original
    assert live.directory.version("01") == 4
    yaml_resp = await client.get("/api/v1/config/01", headers={"Accept": "application/yaml"})
    assert await yaml_resp.text() == original and yaml_resp.headers["X-Config-Version"] == "4"
    resp = await client.post("/api/v1/config/01/rollback", json={"version": 40}, headers=headers)
    assert resp.status == 404 and (await resp.json())["error"] == "unknown_version"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def test_page_renders_and_shows_errors(rig: Rig) -> None:
    """The region admin's page: Swedish, the YAML in a labelled textarea, the version list; a
    broken save shows the errors inline (role=alert, the text kept) and stores nothing; a good
    save redirects and becomes the next version; the rollback button works; the national page is
    refused to her."""
    make, live = rig
    client = await make()
    await login(client, "rita")
    resp = await client.get("/admin/config/01", headers={"Accept": "text/html"})
    assert resp.status == 200
    page = await resp.text()
    assert '<html lang="sv">' in page and '<label for="content">' in page and 'id="content"' in page
    assert "Region Stockholm" in page and OLD_WELCOME in page and "Versioner" in page
    match = _CSRF.search(page)
    assert match is not None
    csrf = match.group(1)
    original = (await current_text(client, "01"))["content"]

    broken = original.replace("      next: peak\n", "      next: nowhere\n", 1)
    resp = await client.post("/admin/config/01", data={"csrf_token": csrf, "content": broken, "comment": "test",
                                                       "base_version": "1"})
    assert resp.status == 422
    page = await resp.text()
    assert 'role="alert"' in page and "Ändringen sparades inte" in page
    assert "menu.nodes.welcome.next" in page and "unknown node &#x27;nowhere&#x27;" in page
    assert 'aria-invalid="true"' in page and "next: nowhere" in page

    resp = await client.post("/admin/config/01", data={"csrf_token": csrf, "content": welcome_changed(original),
                                                       "comment": "ny hälsning", "base_version": "1"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/config/01?saved=2"
    page = await (await client.get("/admin/config/01?saved=2", headers={"Accept": "text/html"})).text()
    assert "Sparad som version 2" in page and "Återställ version 1" in page and "ny hälsning" in page
    assert live.directory.version("01") == 2

    resp = await client.post("/admin/config/01/rollback", data={"csrf_token": csrf, "version": "1"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/config/01?rolledback=3"
    resp = await client.post("/admin/config/01", data={"content": original, "base_version": "3"})
    assert resp.status == 403  # a form without the CSRF token

    assert (await client.get("/admin/config/national", headers={"Accept": "text/html"})).status == 403
    index = await client.get("/admin/config", headers={"Accept": "text/html"})
    assert index.status == 200 and 'href="/admin/config/01"' in await index.text()
