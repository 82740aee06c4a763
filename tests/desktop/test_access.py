"""Who may use which desktop and supervisor endpoint for which region: a table of role × endpoint × region with
every cell asserted (SQLite and PostgreSQL, real Redis), API token scopes, CSRF, the WebSocket's Origin check,
and the answers of an app without routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agents.presence import Event
from vardlinje.db import Database

from . import Client, Rig, Template, build_rig, make_template

ACTORS = ("nora", "sven", "rita", "nils", None)  # nurse of 01, supervisor of 01, region admin of 05, national
PAUSE = {"event": "pause", "reason": "break"}

# (what, method, path, body) → the status each actor gets, in ACTORS' order.
# Nurses: nora 01 (Öst), ella 05 (Öst), jon 06 (Öst), sara 05 (care provider Syd).
TABLE: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, ...]]] = [
    ("desktop me", "GET", "/api/v1/desktop/me", None, (200, 403, 403, 403, 401)),
    ("desktop presence", "POST", "/api/v1/desktop/presence", PAUSE, (200, 403, 403, 403, 401)),
    ("desktop today", "GET", "/api/v1/desktop/presence/today", None, (200, 403, 403, 403, 401)),
    ("desktop queues", "GET", "/api/v1/desktop/queues", None, (200, 403, 403, 403, 401)),
    ("region 01", "GET", "/api/v1/supervisor/regions/01", None, (403, 200, 403, 200, 401)),
    ("region 05", "GET", "/api/v1/supervisor/regions/05", None, (403, 403, 200, 200, 401)),
    ("region 06", "GET", "/api/v1/supervisor/regions/06", None, (403, 403, 403, 200, 401)),
    ("region national", "GET", "/api/v1/supervisor/regions/national", None, (403, 403, 403, 200, 401)),
    ("nurse of 01", "POST", "/api/v1/supervisor/nurses/{nora}/presence", PAUSE, (403, 200, 403, 200, 401)),
    ("nurse of 05", "POST", "/api/v1/supervisor/nurses/{ella}/presence", PAUSE, (403, 403, 200, 200, 401)),
    ("nurse of 06", "POST", "/api/v1/supervisor/nurses/{jon}/presence", PAUSE, (403, 403, 403, 200, 401)),
    ("nurse of 05, other care provider", "POST", "/api/v1/supervisor/nurses/{sara}/presence", PAUSE,
     (403, 403, 403, 200, 401)),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("desktop-access"))


async def _logged_in(built: Rig) -> Rig:
    for name in ("nora", "ella", "jon", "sara"):
        await built.presence(name, Event.LOGIN)  # paused (administration): a pause is always possible
    return built


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    """On a copy of the seeded SQLite template (the table test runs on PostgreSQL too)."""
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template) as built:
        yield await _logged_in(built)


@pytest.fixture
async def fresh_rig(database: Database, redis_url: str) -> AsyncIterator[Rig]:
    """Seeded from scratch on SQLite and on PostgreSQL."""
    async with build_rig(database, redis_url) as built:
        yield await _logged_in(built)


async def _ws_status(client: Client, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else {}
    try:
        ws = await client.ws_connect("/api/v1/desktop/ws", headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_role_endpoint_region_table(fresh_rig: Rig) -> None:
    """Every cell of the table: a nurse uses only her own desktop; a supervisor of 01 sees and changes only 01;
    a region admin of 05 sees 05 and changes only the nurses of 05 employed by her care provider (not 06, not
    Syd's nurse); a national admin sees every region and the national queue and changes any nurse but has no
    desktop; anonymous callers get 401 everywhere. The desktop WebSocket follows the same roles."""
    rig = fresh_rig
    browsers: dict[str | None, tuple[Client, dict[str, str]]] = {}
    for actor in ACTORS:
        browsers[actor] = await rig.login(actor) if actor else (await rig.client(), {})
    got: list[tuple[str, str | None, int, int]] = []
    for what, method, path, body, expected in TABLE:
        url = path.format(**rig.endpoints)
        for actor, want in zip(ACTORS, expected, strict=True):
            client, csrf = browsers[actor]
            resp = await client.request(method, url, json=body, headers=csrf)
            got.append((what, actor, want, resp.status))
            if resp.status in (401, 403):
                error = (await resp.json())["error"]
                assert error in ("unauthenticated", "forbidden"), (what, actor, error)
    for actor, want in zip(ACTORS, (101, 403, 403, 403, 401), strict=True):
        got.append(("desktop ws", actor, want, await _ws_status(browsers[actor][0], rig.origin)))
    wrong = [cell for cell in got if cell[2] != cell[3]]
    assert not wrong, "(endpoint, actor, expected, got): " + repr(wrong)
    assert len(got) == (len(TABLE) + 1) * len(ACTORS)


async def test_a_nurse_sees_only_the_queues_of_her_regions(rig: Rig) -> None:
    """Calls wait in 01, 05 and 06 (nobody ready): Nora (01) sees the 01 queue alone, with its count and
    longest wait; Rita's view of 05 shows the 05 calls only, in order, with their route step."""
    await rig.call("c01", "01")
    rig.clock.advance(40)
    await rig.call("c05a", "05")
    rig.clock.advance(5)
    await rig.call("c05b", "05", priority=2)
    await rig.call("c06", "06")
    rig.clock.advance(15)
    nora, _ = await rig.login("nora")
    body = await (await nora.get("/api/v1/desktop/queues")).json()
    assert [q["region"] for q in body["queues"]] == ["01"]
    assert body["queues"][0]["waiting"] == 1 and body["queues"][0]["longest_wait_seconds"] == 60

    rita, _ = await rig.login("rita")
    view = await (await rita.get("/api/v1/supervisor/regions/05")).json()
    assert [c["call_id"] for c in view["waiting"]] == ["c05b", "c05a"]  # priority 2 before 5
    assert [c["step"] for c in view["waiting"]] == ["own", "own"]
    assert view["waiting"][1]["wait_seconds"] == 20 and view["waiting"][1]["regions"] == {"05": "own"}
    assert view["queue"]["waiting"] == 2
    assert sorted(n["username"] for n in view["nurses"]) == ["ella", "sara"]
    assert {n["username"]: n["may_change"] for n in view["nurses"]} == {"ella": True, "sara": False}
    assert all(n["presence"]["state"] == "paused" for n in view["nurses"])


async def test_api_tokens_need_the_desktop_and_supervisor_scopes(rig: Rig) -> None:
    """A token acts with its user's roles, narrowed by scope: desktop:read reads Nora's desktop but cannot
    change her presence, desktop:write does both; supervisor:read reads 01 but changes nobody,
    supervisor:write changes Nora (01) but not Ella (05); a national admin's crisis token reads no region.
    Bearer requests need no CSRF token."""
    client = await rig.client()

    async def status(token: str, method: str, path: str, body: object = None) -> int:
        resp = await client.request(method, path.format(**rig.endpoints), json=body,
                                    headers={"Authorization": f"Bearer {rig.tokens[token]}"})
        return resp.status

    cells = {
        ("nora_read", "GET", "/api/v1/desktop/me"): 200,
        ("nora_read", "POST", "/api/v1/desktop/presence"): 403,
        ("nora_write", "GET", "/api/v1/desktop/me"): 200,
        ("nora_write", "POST", "/api/v1/desktop/presence"): 200,
        ("sven_read", "GET", "/api/v1/supervisor/regions/01"): 200,
        ("sven_read", "POST", "/api/v1/supervisor/nurses/{nora}/presence"): 403,
        ("sven_write", "GET", "/api/v1/supervisor/regions/01"): 200,
        ("sven_write", "POST", "/api/v1/supervisor/nurses/{nora}/presence"): 200,
        ("sven_write", "POST", "/api/v1/supervisor/nurses/{ella}/presence"): 403,
        ("nils_crisis", "GET", "/api/v1/supervisor/regions/01"): 403,
        ("nora_write", "GET", "/api/v1/supervisor/regions/01"): 403,
    }
    got = {cell: await status(*cell, PAUSE if cell[1] == "POST" else None) for cell in cells}
    assert got == cells
    resp = await client.post("/api/v1/desktop/presence", json=PAUSE,
                             headers={"Authorization": f"Bearer {rig.tokens['nora_read']}"})
    assert (await resp.json())["error"] == "insufficient_scope"


async def test_session_posts_need_csrf_and_the_websocket_its_own_origin(rig: Rig) -> None:
    """A cookie session without the CSRF header cannot change presence (her own or as supervisor); the
    WebSocket refuses a foreign Origin and a missing one (cross-site WebSocket hijacking) and API tokens."""
    nora, _ = await rig.login("nora")
    resp = await nora.post("/api/v1/desktop/presence", json=PAUSE)
    assert resp.status == 403 and (await resp.json())["error"] == "csrf_failed"
    sven, _ = await rig.login("sven")
    resp = await sven.post(f"/api/v1/supervisor/nurses/{rig.endpoints['nora']}/presence", json=PAUSE,
                           headers={"X-CSRF-Token": "wrong"})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf_failed"
    assert await _ws_status(nora, "https://evil.example") == 403
    assert await _ws_status(nora, None) == 403
    assert await _ws_status(nora, rig.origin) == 101
    anonymous = await rig.client()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anonymous.ws_connect("/api/v1/desktop/ws", headers={
            "Origin": rig.origin, "Authorization": f"Bearer {rig.tokens['nora_write']}"})
    assert refused.value.status == 403


async def test_unknown_region_and_nurse_are_404_after_the_access_check(rig: Rig) -> None:
    """A national admin asking for region 99 or nurse-999 gets 404; a supervisor asking for 99 gets 403 (she
    learns nothing about regions not hers)."""
    nils, csrf = await rig.login("nils")
    resp = await nils.get("/api/v1/supervisor/regions/99")
    assert resp.status == 404 and (await resp.json())["error"] == "unknown_region"
    resp = await nils.post("/api/v1/supervisor/nurses/nurse-999/presence", json=PAUSE, headers=csrf)
    assert resp.status == 404 and (await resp.json())["error"] == "unknown_nurse"
    sven, _ = await rig.login("sven")
    assert (await sven.get("/api/v1/supervisor/regions/99")).status == 403


async def test_without_routing_the_live_endpoints_answer_503(template: Template, tmp_path: Path,
                                                              redis_url: str) -> None:
    """An app without telephony: the nurse still reads her profile and presence (from the registry), but
    changing presence, queues, the region view and the WebSocket answer 503 with a Swedish message."""
    async with build_rig(template.copy(tmp_path), redis_url, routing=False, seeded=template) as bare:
        nora, csrf = await bare.login("nora")
        me = await nora.get("/api/v1/desktop/me")
        assert me.status == 200 and (await me.json())["presence"]["state"] == "logged_out"
        resp = await nora.post("/api/v1/desktop/presence", json={"event": "login"}, headers=csrf)
        assert resp.status == 503
        body = await resp.json()
        assert body["error"] == "routing_unavailable" and body["detail"].startswith("Samtalsdirigeringen är inte")
        assert (await nora.get("/api/v1/desktop/queues")).status == 503
        assert await _ws_status(nora, bare.origin) == 503
        sven, _ = await bare.login("sven")
        assert (await sven.get("/api/v1/supervisor/regions/01")).status == 503
