"""The desktop WebSocket and liveness: her presence and offers pushed as they happen, the queues of her regions,
ping/pong heartbeats; a ready nurse whose desktop went silent is paused and not offered the next call, while a
nurse on a call is never touched; a session that ends closes the socket but not her call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agents.presence import Event, PauseReason, State
from desktop.http import DESKTOP
from desktop.live import Liveness, judge
from routing.presence import by_endpoint

from . import Client, Rig, Template, build_rig, make_template

WS = "/api/v1/desktop/ws"
Message = dict[str, Any]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("desktop-liveness"))


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template, session_check_seconds=0.1) as built:
        yield built


def liveness(rig: Rig) -> Liveness:
    found = rig.app[DESKTOP].liveness
    assert found is not None
    return found


async def until(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[Message], bool],
                seen: list[Message] | None = None, timeout: float = 3.0) -> Message:
    """The first message from the server that `wanted` accepts (others are kept in `seen`)."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            data: Message = msg.json()
            if wanted(data):
                return data
            if seen is not None:
                seen.append(data)


async def open_desktop(rig: Rig, username: str) -> tuple[Client, dict[str, str], aiohttp.ClientWebSocketResponse]:
    client, csrf = await rig.login(username)
    ws = await client.ws_connect(WS, headers={"Origin": rig.origin})
    return client, csrf, ws


def test_judge_decides_who_is_stale() -> None:
    """Pure decision: only heartbeats older than the grace period count; of those, ready and wrap-up nurses are
    paused, offered and on-call nurses are left alone (and kept), paused/logged-out/unknown ones forgotten."""
    beats = {"fresh": 100.0, "edge": 70.0, "ready": 69.0, "wrap": 10.0, "ringing": 0.0, "talking": 0.0,
             "paused": 0.0, "out": 0.0, "gone": 0.0}
    states = {"fresh": State.READY, "edge": State.READY, "ready": State.READY, "wrap": State.WRAP_UP,
              "ringing": State.OFFERED, "talking": State.ON_CALL, "paused": State.PAUSED, "out": State.LOGGED_OUT}
    verdict = judge(beats, states, now=100.0, grace=30.0)
    assert verdict.pause == ("ready", "wrap")
    assert verdict.forget == ("gone", "out", "paused")


async def test_the_websocket_pushes_presence_offers_queues_and_answers_pings(rig: Rig) -> None:
    """Nora opens her desktop: she gets her presence and her region's queue. A call arriving in 01 while she is
    ready is pushed as `offered` (call, region, step) with her presence `offered`; her own pause through the API
    later arrives as a presence message too. A ping is answered with pong and recorded as her heartbeat."""
    await rig.presence("nora", Event.LOGIN)
    await rig.presence("nora", Event.READY)
    nora, csrf, ws = await open_desktop(rig, "nora")
    first = await until(ws, lambda m: m["type"] == "presence")
    assert first["presence"]["state"] == "ready"
    queues = await until(ws, lambda m: m["type"] == "queues")
    assert [q["region"] for q in queues["queues"]] == ["01"] and queues["queues"][0]["ready"] == 1

    rig.clock.advance(5)
    await rig.call("c1", "01")
    seen: list[Message] = []
    offered = await until(ws, lambda m: m["type"] == "offered", seen)
    assert offered["call"]["call_id"] == "c1" and offered["call"]["region"] == "01"
    assert offered["call"]["step"] == "own" and offered["call"]["via_region"] == "01"
    assert any(m["type"] == "presence" and m["presence"]["state"] == "offered" for m in seen), seen

    rig.clock.advance(10)
    await rig.live.engine.offer_ended("c1", rig.clock(), missed=True)  # she did not answer: paused (missed)
    missed = await until(ws, lambda m: m["type"] == "presence" and m["presence"]["state"] == "paused")
    assert missed["presence"]["reason"] == "missed_offer"
    rig.clock.advance(10)
    resp = await nora.post("/api/v1/desktop/presence", json={"event": "pause", "reason": "training"}, headers=csrf)
    assert resp.status == 200
    changed = await until(ws, lambda m: m["type"] == "presence" and m["presence"]["reason"] == "training")
    assert changed["presence"]["state"] == "paused"

    rig.clock.advance(7)
    await ws.send_json({"type": "ping"})
    pong = await until(ws, lambda m: m["type"] == "pong")
    assert pong["at"] == rig.clock().isoformat()
    beats = await liveness(rig).beats()
    assert float(beats[rig.endpoints["nora"]]) == rig.clock().timestamp()
    await ws.send_str("hello")
    error = await until(ws, lambda m: m["type"] == "error")
    assert error["error"] == "bad_message"
    await ws.close()


async def test_a_silent_ready_nurse_is_paused_and_not_offered_but_a_nurse_on_a_call_is_left_alone(rig: Rig) -> None:
    """Nora (01) and Ella (05) open their desktops and are ready; Ella takes a call; both browsers vanish.
    Jon (06) is ready from the CLI and never had a desktop. At exactly the grace period nothing happens; past
    it, Nora is paused (administration, by liveness) and the next 01 call waits instead of ringing her; Ella,
    on her call, is untouched until her call ends and her wrap-up finds her desktop still silent; Jon is never
    touched. Sara, whose desktop keeps pinging, stays ready."""
    for name in ("nora", "ella", "jon", "sara"):
        await rig.presence(name, Event.LOGIN)
        await rig.presence(name, Event.READY)
    sockets = {name: (await open_desktop(rig, name))[2] for name in ("nora", "ella", "sara")}
    await rig.call("c05", "05")
    offered = await rig.live.store.get_offer("c05")
    assert offered is not None
    talking = next(n for n, e in rig.endpoints.items() if e == offered.nurse_id)
    assert talking in ("ella", "sara")
    other = "sara" if talking == "ella" else "ella"
    rig.clock.advance(2)
    await rig.live.engine.answered("c05", rig.clock())
    await sockets["nora"].close()
    await sockets[talking].close()
    sweep = liveness(rig).sweep

    rig.clock.advance(28)  # the last heartbeats were 30 s ago
    assert await sweep(rig.clock()) == []
    await sockets[other].send_json({"type": "ping"})
    await until(sockets[other], lambda m: m["type"] == "pong")
    rig.clock.advance(1)
    assert await sweep(rig.clock()) == [rig.endpoints["nora"]]
    nora = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert nora is not None and nora.state is State.PAUSED and nora.reason is PauseReason.ADMINISTRATION
    row = rig.database.run_sync(lambda s: by_endpoint(s, rig.endpoints["nora"]))
    assert row is not None and row.presence_state == "paused"
    for name in ("jon", other):
        kept = await rig.live.store.get_nurse(rig.endpoints[name])
        assert kept is not None and kept.state is State.READY, name
    busy = await rig.live.store.get_nurse(rig.endpoints[talking])
    assert busy is not None and busy.state is State.ON_CALL

    events = await rig.call("c01", "01")
    assert [e.kind for e in events] == ["queued"]  # nobody left to ring in 01
    assert [c.call_id for c in (await rig.live.store.snapshot()).calls if c.region == "01"] == ["c01"]

    rig.clock.advance(120)
    await sockets[other].send_json({"type": "ping"})
    await until(sockets[other], lambda m: m["type"] == "pong")
    assert await sweep(rig.clock()) == []  # on a call, however long: never
    await rig.live.change_presence(rig.endpoints[talking], Event.HANGUP, by="routing")
    assert await sweep(rig.clock()) == [rig.endpoints[talking]]
    after = await rig.live.store.get_nurse(rig.endpoints[talking])
    assert after is not None and after.state is State.PAUSED
    assert set(await liveness(rig).beats()) == {rig.endpoints[other]}  # the paused ones are forgotten
    nora_client, _ = await rig.login("nora")
    today = await (await nora_client.get("/api/v1/desktop/presence/today")).json()
    assert today["changes"][-1]["by"] == "liveness" and today["changes"][-1]["reason"] == "administration"
    await sockets[other].close()


async def test_an_ended_session_closes_the_websocket_but_not_her_call(rig: Rig) -> None:
    """Nora is on a call with her desktop open when she is logged out everywhere (a lost laptop): the socket
    gets `session_ended` and is closed with 4401; her call goes on (still on_call in the store)."""
    await rig.presence("nora", Event.LOGIN)
    await rig.presence("nora", Event.READY)
    nora, csrf, ws = await open_desktop(rig, "nora")
    await rig.call("c1", "01")
    await rig.live.engine.answered("c1", rig.clock())
    await until(ws, lambda m: m["type"] == "presence" and m["presence"]["state"] == "on_call")
    resp = await nora.post("/logout/all", headers=csrf)
    assert resp.status == 200
    ended = await until(ws, lambda m: m["type"] == "session_ended")
    assert ended["detail"].startswith("Sessionen har upphört")
    msg = await ws.receive(timeout=3)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 4401
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.ON_CALL and stored.call_id == "c1"


async def test_an_open_desktop_keeps_her_alive_without_page_pings(template: Template, tmp_path: Path,
                                                                 redis_url: str) -> None:
    """A desktop in a background tab: the browser throttles the page's own pings, but its socket is open and
    answers the server's protocol pings, so her heartbeat is renewed and she is not paused; once the socket
    is gone she is."""
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template, beat_seconds=0.05) as rig:
        await rig.presence("nora", Event.LOGIN)
        await rig.presence("nora", Event.READY)
        _client, _csrf, ws = await open_desktop(rig, "nora")  # never sends {"type": "ping"}
        rig.clock.advance(31)
        await asyncio.sleep(0.5)  # a few server beats at the advanced time
        assert await liveness(rig).sweep(rig.clock()) == []
        await ws.close()
        rig.clock.advance(31)
        assert await liveness(rig).sweep(rig.clock()) == [rig.endpoints["nora"]]
