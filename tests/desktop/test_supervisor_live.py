"""The supervisors' live page and WebSocket: the page needs a session with a supervisor role and sends a strict
Content-Security-Policy; the socket checks Origin, session, role and region like the JSON API, pushes the region
view on connect and on every change (a nurse's own, routing's, another supervisor's) and nothing otherwise, gives
each viewer her own `may_change`, and closes when the session ends or the region is taken from her."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from agents.presence import Event
from identity.models import User, UserRegion

from . import Client, Rig, Template, build_rig, make_template

WS = "/api/v1/supervisor/ws"
PAGE = "/supervisor"
HTML = {"Accept": "text/html"}
Message = dict[str, Any]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("desktop-supervisor"))


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template, session_check_seconds=0.1) as built:
        for name in ("nora", "ella", "jon", "sara"):
            await built.presence(name, Event.LOGIN)  # paused (administration)
        yield built


async def until(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[Message], bool], timeout: float = 3.0) -> Message:
    """The first message from the server that `wanted` accepts."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            data: Message = msg.json()
            if wanted(data):
                return data


def nurse(view: Message, endpoint: str) -> Message:
    found: Message = next(n for n in view["nurses"] if n["endpoint"] == endpoint)
    return found


def state_of(endpoint: str, state: str, reason: str | None = None) -> Callable[[Message], bool]:
    def check(m: Message) -> bool:
        if m["type"] != "region":
            return False
        p = nurse(m, endpoint)["presence"]
        return bool(p["state"] == state and (reason is None or p["reason"] == reason))

    return check


async def watch(rig: Rig, username: str, region: str) -> tuple[Client, dict[str, str], aiohttp.ClientWebSocketResponse]:
    client, csrf = await rig.login(username)
    ws = await client.ws_connect(f"{WS}?region={region}", headers={"Origin": rig.origin})
    return client, csrf, ws


async def ws_status(client: Client, url: str, headers: dict[str, str]) -> int:
    try:
        ws = await client.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_the_page_needs_a_login_and_a_supervisor_role_and_sends_a_strict_csp(rig: Rig) -> None:
    """Anonymous browsers go to the login page and back; a nurse gets the no-access page; a supervisor gets the
    page with her regions only, scripts and styles from this site only (no inline code), and the WebSocket of the
    public origin allowed; a national admin picks among every region and the national queue."""
    anonymous = await rig.client()
    resp = await anonymous.get(PAGE, headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/supervisor"

    nora, _ = await rig.login("nora")
    resp = await nora.get(PAGE, headers=HTML)
    assert resp.status == 403 and "Ingen behörighet" in await resp.text()

    sven, _ = await rig.login("sven")
    resp = await sven.get(PAGE, headers=HTML)
    html = await resp.text()
    assert resp.status == 200, html
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert f"connect-src 'self' ws://127.0.0.1:{rig.server.port}" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert re.findall(r'<option value="([^"]+)"', html) == ["01"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and "onclick=" not in html
    assert re.search(r'<script type="module" src="/static/supervisor\.js\?v=[0-9a-f]{12}">', html)
    assert 'aria-live="polite"' in html and 'role="alert"' in html and '<th scope="col"' in html
    script = await sven.get("/static/supervisor.js")
    assert script.status == 200 and script.content_type in ("text/javascript", "application/javascript")
    assert (await sven.get("/static/supervisor.css")).status == 200

    nils, _ = await rig.login("nils")
    html = await (await nils.get(f"{PAGE}?region=05", headers=HTML)).text()
    assert re.findall(r'<option value="([^"]+)"', html) == ["01", "05", "06", "national"]
    assert '<option value="05" selected>' in html


async def test_the_websocket_checks_origin_session_role_and_region(rig: Rig) -> None:
    """Like the JSON API: anonymous 401; a foreign or missing Origin, an API token, a nurse, a supervisor of 01
    asking for 05 and a region admin of 05 asking for 01 or the national queue are 403; no region is 400; an
    unknown region is 404 for a national admin; her own region opens."""
    own = {"Origin": rig.origin}
    anonymous = await rig.client()
    assert await ws_status(anonymous, f"{WS}?region=01", own) == 401
    token = {**own, "Authorization": f"Bearer {rig.tokens['sven_write']}"}
    assert await ws_status(anonymous, f"{WS}?region=01", token) == 403
    sven, _ = await rig.login("sven")
    assert await ws_status(sven, f"{WS}?region=01", {"Origin": "https://evil.example"}) == 403
    assert await ws_status(sven, f"{WS}?region=01", {}) == 403
    assert await ws_status(sven, f"{WS}?region=05", own) == 403
    assert await ws_status(sven, WS, own) == 400
    assert await ws_status(sven, f"{WS}?region=01", own) == 101
    rita, _ = await rig.login("rita")
    assert await ws_status(rita, f"{WS}?region=01", own) == 403
    assert await ws_status(rita, f"{WS}?region=national", own) == 403
    assert await ws_status(rita, f"{WS}?region=05", own) == 101
    nora, _ = await rig.login("nora")
    assert await ws_status(nora, f"{WS}?region=01", own) == 403
    nils, _ = await rig.login("nils")
    assert await ws_status(nils, f"{WS}?region=99", own) == 404
    assert await ws_status(nils, f"{WS}?region=national", own) == 101


async def test_connect_pushes_the_region_view_and_nothing_while_nothing_changes(rig: Rig) -> None:
    """The first message is the JSON of GET /api/v1/supervisor/regions/01 (a waiting call with its route step,
    Nora paused) plus the server's time; with nothing changing no further view is sent; a ping is answered."""
    await rig.call("c1", "01")
    rig.clock.advance(12)
    sven, _csrf, ws = await watch(rig, "sven", "01")
    first = await until(ws, lambda m: m["type"] == "region")
    assert first.pop("at") == rig.clock().isoformat()
    del first["type"]
    assert first == await (await sven.get("/api/v1/supervisor/regions/01")).json()
    assert [(c["call_id"], c["step"], c["wait_seconds"]) for c in first["waiting"]] == [("c1", "own", 12)]
    assert nurse(first, rig.endpoints["nora"])["presence"]["state"] == "paused"

    await asyncio.sleep(0.5)  # ten polls of the store
    await ws.send_json({"type": "ping"})
    after = await until(ws, lambda m: True)
    assert after["type"] == "pong", after  # no second region view came before the pong
    await ws.close()


async def test_a_nurse_s_own_change_and_routing_s_offer_reach_the_supervisor(rig: Rig) -> None:
    """Nora makes herself ready through her desktop API: Sven's socket shows her ready within two seconds; a call
    then arriving in 01 rings her, and his view shows it among the calls ringing at a nurse, step `own`."""
    _sven, _csrf, ws = await watch(rig, "sven", "01")
    await until(ws, state_of(rig.endpoints["nora"], "paused"))
    nora, csrf = await rig.login("nora")
    resp = await nora.post("/api/v1/desktop/presence", json={"event": "ready"}, headers=csrf)
    assert resp.status == 200
    await until(ws, state_of(rig.endpoints["nora"], "ready"), timeout=2.0)
    await rig.call("c1", "01")
    view = await until(ws, state_of(rig.endpoints["nora"], "offered"), timeout=2.0)
    assert [(o["call_id"], o["nurse"], o["step"]) for o in view["offered"]] == [("c1", rig.endpoints["nora"], "own")]
    assert view["waiting"] == []
    await ws.close()


async def test_one_supervisor_s_change_shows_on_another_s_socket(rig: Rig) -> None:
    """Sven (01) pauses Nora for a meeting through the POST: Nils's socket on 01 shows it; both may change her."""
    _nils, _, nils_ws = await watch(rig, "nils", "01")
    sven, csrf, sven_ws = await watch(rig, "sven", "01")
    for ws in (nils_ws, sven_ws):
        first = await until(ws, lambda m: m["type"] == "region")
        assert nurse(first, rig.endpoints["nora"])["may_change"] is True
    path = f"/api/v1/supervisor/nurses/{rig.endpoints['nora']}/presence"
    assert (await sven.post(path, json={"event": "ready"}, headers=csrf)).status == 200
    await until(nils_ws, state_of(rig.endpoints["nora"], "ready"))
    resp = await sven.post(path, json={"event": "pause", "reason": "meeting"}, headers=csrf)
    assert resp.status == 200, await resp.text()
    view = await until(nils_ws, state_of(rig.endpoints["nora"], "paused", "meeting"), timeout=2.0)
    assert nurse(view, rig.endpoints["nora"])["presence"]["reason_sv"] == "möte"
    await until(sven_ws, state_of(rig.endpoints["nora"], "paused", "meeting"), timeout=2.0)
    for ws in (nils_ws, sven_ws):
        await ws.close()


async def test_viewers_of_one_region_each_get_their_own_may_change(rig: Rig) -> None:
    """Rita (region admin of 05, care provider Öst) and Nils (national admin) watch 05 from one shared
    computation: Nils may change Sara (care provider Syd), Rita may not; both may change Ella."""
    _rita, _, rita_ws = await watch(rig, "rita", "05")
    _nils, _, nils_ws = await watch(rig, "nils", "05")
    rita_view = await until(rita_ws, lambda m: m["type"] == "region")
    nils_view = await until(nils_ws, lambda m: m["type"] == "region")
    assert {n["username"]: n["may_change"] for n in rita_view["nurses"]} == {"ella": True, "sara": False}
    assert {n["username"]: n["may_change"] for n in nils_view["nurses"]} == {"ella": True, "sara": True}
    for ws in (rita_ws, nils_ws):
        await ws.close()


async def test_an_ended_session_closes_the_socket_with_4401(rig: Rig) -> None:
    """Sven logs out everywhere while watching 01: his socket gets `session_ended` and is closed with 4401."""
    sven, csrf, ws = await watch(rig, "sven", "01")
    await until(ws, lambda m: m["type"] == "region")
    assert (await sven.post("/logout/all", headers=csrf)).status == 200
    ended = await until(ws, lambda m: m["type"] == "session_ended")
    assert ended["detail"].startswith("Sessionen har upphört")
    msg = await ws.receive(timeout=3)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 4401


async def test_a_region_taken_from_her_closes_the_socket_with_4403(rig: Rig) -> None:
    """Sven's region 01 is removed from him while he watches it: the next session check closes the socket (4403)
    instead of showing him a region he may no longer see."""
    _sven, _csrf, ws = await watch(rig, "sven", "01")
    await until(ws, lambda m: m["type"] == "region")

    def withdraw(s: Any) -> None:
        user = s.exec(select(User).where(User.username == "sven")).one()
        s.delete(s.exec(select(UserRegion).where(UserRegion.user_id == user.id)).one())
        s.commit()

    rig.database.run_sync(withdraw)
    await until(ws, lambda m: m["type"] == "forbidden")
    msg = await ws.receive(timeout=3)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 4403


async def test_without_routing_the_websocket_answers_503(template: Template, tmp_path: Path, redis_url: str) -> None:
    """An app without telephony serves the page but its WebSocket answers 503 (nothing live to show)."""
    async with build_rig(template.copy(tmp_path), redis_url, routing=False, seeded=template) as bare:
        sven, _ = await bare.login("sven")
        assert (await sven.get(PAGE, headers=HTML)).status == 200
        assert await ws_status(sven, f"{WS}?region=01", {"Origin": bare.origin}) == 503
