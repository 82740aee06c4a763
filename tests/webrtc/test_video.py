"""The video room (webrtc/video.py, webrtc/room.py, the caller's video page): the pure core's message checks and
decisions, then the two WebSockets on a real database (SQLite and PostgreSQL) and the real test Redis — who may
enter, hello, relaying, presence, ending, the contact's close, the record's events, refusals, replacement, two
app instances — and the caller's page. The browsers' end-to-end tests live in tests/desktop_browser."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError, web
from aiohttp.client_ws import ClientWebSocketResponse
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlmodel import Session

from calls import service as calls
from vardlinje.appkeys import SETTINGS
from vardlinje.db import Database
from vardlinje.settings import IceServer, SoftphoneSettings
from webrtc import video
from webrtc.links import STATE_TEXT, LinkState
from webrtc.models import MediaLink
from webrtc.pages import VIDEO_PERMISSIONS, video_csp
from webrtc.room import IP_KEY, VIDEO, VideoState

from ..identity.conftest import T0, FakeClock, clock, login, redis  # noqa: F401
from ..journal.conftest import World, build_world
from .test_http import Client, _clients, last_token, make_app, request_link

ORIGIN = "http://127.0.0.1:8080"  # the origin of the default http.public_url
WATCH = 0.2  # seconds between an open socket's checks of its link and contact
TURN_SECRET = "coturn-static-auth-secret"
WAIT = 5.0
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\n"
CANDIDATE = {"candidate": "candidate:842163049 1 udp 1677729535 192.0.2.7 46154 typ srflx raddr 10.0.0.2 "
                          "rport 46154 generation 0 ufrag sXJ3 network-cost 999",
             "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "sXJ3"}
WS = ClientWebSocketResponse


# --- the pure core ---------------------------------------------------------------------------------------------


def test_messages_are_checked_per_role_and_size() -> None:
    """The nurse offers and the caller answers (the other way round is wrong_role); a null candidate (the end
    of candidates) is valid; extra fields, an oversized SDP or candidate, unknown types, bad states, binary
    frames and non-JSON are bad_message."""
    offer = json.dumps({"type": "offer", "sdp": SDP})
    answer = json.dumps({"type": "answer", "sdp": SDP})
    parsed = video.parse(offer, "nurse")
    assert isinstance(parsed, tuple) and isinstance(parsed[0], video.Offer) and parsed[1] == json.loads(offer)
    refusal = video.parse(offer, "caller")
    assert isinstance(refusal, video.Refusal) and refusal.code == "wrong_role"
    assert isinstance(video.parse(answer, "caller"), tuple)
    refusal = video.parse(answer, "nurse")
    assert isinstance(refusal, video.Refusal) and refusal.code == "wrong_role"
    for role in video.ROLES:
        for body in ({"type": "candidate", "candidate": None}, {"type": "candidate", "candidate": CANDIDATE},
                     {"type": "candidate", "candidate": {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}},
                     {"type": "state", "state": "connected"}, {"type": "state", "state": "failed", "reason": "ice"},
                     {"type": "end"}, {"type": "ping"}):
            result = video.parse(json.dumps(body), role)
            assert isinstance(result, tuple) and result[1] == body, (role, body)
    bad: list[str | bytes] = [
        json.dumps({"type": "offer", "sdp": SDP, "extra": 1}),
        json.dumps({"type": "offer", "sdp": "x" * (video.MAX_SDP + 1)}),
        json.dumps({"type": "offer", "sdp": ""}),
        json.dumps({"type": "candidate", "candidate": {**CANDIDATE, "foo": "bar"}}),
        json.dumps({"type": "candidate", "candidate": {**CANDIDATE, "candidate": "c" * (video.MAX_CANDIDATE + 1)}}),
        json.dumps({"type": "candidate", "candidate": {**CANDIDATE, "sdpMLineIndex": "0"}}),
        json.dumps({"type": "candidate"}),
        json.dumps({"type": "state", "state": "exploded"}),
        json.dumps({"type": "state", "state": "failed", "reason": "r" * (video.MAX_REASON + 1)}),
        json.dumps({"type": "hello"}),
        json.dumps({"type": "end", "by": "nurse"}),
        json.dumps(["offer"]),
        "{not json",
        b"\x00\x01",
        json.dumps({"type": "ping", "pad": "x" * video.MAX_MESSAGE_BYTES}),
    ]
    for raw in bad:
        result = video.parse(raw, "nurse")
        assert isinstance(result, video.Refusal) and result.code == "bad_message", raw[:80]
        assert result.to_json()["type"] == "error" and len(result.message) <= 300


def test_the_rooms_decisions() -> None:
    """Signalling is relayed unchanged, ping gets pong, end ends the room by its sender; connected is recorded
    once per side, failed at most MAX_FAILED_EVENTS per link, disconnected not at all; who may enter; when an
    open room is over and who ended it."""
    msg, data = video.parse(json.dumps({"type": "candidate", "candidate": CANDIDATE}), "caller")  # type: ignore[misc]
    assert video.decide("caller", msg, data, 7) == [video.Relay(data)]
    msg, data = video.parse('{"type":"ping"}', "nurse")  # type: ignore[misc]
    assert video.decide("nurse", msg, data, 7) == [video.Reply({"type": "pong"})]
    msg, data = video.parse('{"type":"end"}', "caller")  # type: ignore[misc]
    assert video.decide("caller", msg, data, 7) == [video.EndRoom("caller")]
    msg, data = video.parse('{"type":"state","state":"connected"}', "nurse")  # type: ignore[misc]
    assert video.decide("nurse", msg, data, 7) == [
        video.Record("media.video_connected", {"link": 7, "by": "nurse"}, guard="connected:nurse")]
    msg, data = video.parse('{"type":"state","state":"failed","reason":"ice"}', "caller")  # type: ignore[misc]
    assert video.decide("caller", msg, data, 7) == [
        video.Record("media.video_failed", {"link": 7, "by": "caller", "reason": "ice"}, guard="failed",
                     limit=video.MAX_FAILED_EVENTS)]
    msg, data = video.parse('{"type":"state","state":"failed","reason":"Ring mig på 070-1234567"}',
                            "caller")  # type: ignore[misc]
    [record] = video.decide("caller", msg, data, 7)
    assert isinstance(record, video.Record) and record.data["reason"] == ""  # no free text of a stranger's
    msg, data = video.parse('{"type":"state","state":"failed","reason":"setRemoteDescription: bad sdp"}',
                            "nurse")  # type: ignore[misc]
    [record] = video.decide("nurse", msg, data, 7)
    assert isinstance(record, video.Record) and record.data["reason"] == "setRemoteDescription: bad sdp"
    msg, data = video.parse('{"type":"state","state":"disconnected"}', "caller")  # type: ignore[misc]
    assert video.decide("caller", msg, data, 7) == []
    assert video.ended_record(7, "nurse") == video.Record("media.video_ended", {"link": 7, "by": "nurse"}, "ended")

    assert video.admit_nurse("video", 1, 1, LinkState.OK) is None
    assert video.admit_nurse("video", 1, 1, LinkState.EXPIRED) is None  # the room outlives the link's time
    assert video.admit_nurse("video", 1, 1, LinkState.USED_UP) is None
    assert video.admit_nurse("video", 1, 1, LinkState.REVOKED) is video.Refused.VIDEO_OVER
    assert video.admit_nurse("video", 1, 2, LinkState.OK) is video.Refused.NOT_YOUR_LINK
    assert video.admit_nurse("image", 1, 1, LinkState.OK) is video.Refused.UNKNOWN_LINK
    assert video.admit_nurse(None, None, 1, LinkState.UNKNOWN) is video.Refused.UNKNOWN_LINK
    assert video.admit_caller("video", LinkState.OK) is LinkState.OK
    assert video.admit_caller("image", LinkState.OK) is LinkState.UNKNOWN
    for state in (LinkState.EXPIRED, LinkState.USED_UP, LinkState.REVOKED, LinkState.UNKNOWN):
        assert video.admit_caller("video", state) is state
    # A caller who joined comes back after the link's time, within its uses; never after the contact closed.
    assert video.admit_caller("video", LinkState.EXPIRED, uses=1, max_uses=5) is LinkState.OK
    assert video.admit_caller("video", LinkState.EXPIRED, uses=5, max_uses=5) is LinkState.EXPIRED
    assert video.admit_caller("image", LinkState.EXPIRED, uses=1, max_uses=5) is LinkState.EXPIRED
    assert video.admit_caller("video", LinkState.REVOKED, uses=1, max_uses=5) is LinkState.REVOKED
    assert video.over(LinkState.REVOKED) and video.over(LinkState.UNKNOWN)
    assert not video.over(LinkState.EXPIRED) and not video.over(LinkState.USED_UP) and not video.over(LinkState.OK)
    assert video.ended_by("video_ended", "caller") == "caller"
    assert video.ended_by("video_ended", None) == "contact_closed"
    assert video.ended_by("closed_by_nurse", "nurse") == "contact_closed"
    assert not video.too_many_bad(video.MAX_BAD_MESSAGES - 1) and video.too_many_bad(video.MAX_BAD_MESSAGES)
    assert video.peer("nurse") == "caller" and video.peer("caller") == "nurse"

    # A socket's pace: `most` messages in a sliding window, then refused until the window moves on.
    pace = video.Pace(window=10.0, most=3)
    assert [pace.allow(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert pace.allow(10.5) and not pace.allow(10.6) and pace.allow(11.5)


# --- the sockets -----------------------------------------------------------------------------------------------


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


async def _clean(redis: Redis) -> None:  # noqa: F811
    """Each test's database starts its link ids at 1: the rooms' keys of the test before must go."""
    for pattern in ("vardlinje:video:*", IP_KEY.format(ip="*"), "vardlinje:media:ip:*"):
        async for key in redis.scan_iter(match=pattern):
            await redis.delete(key)


def video_app(database: Database, redis: Redis, clock: FakeClock, tmp_path: Path,  # noqa: F811
              *, turn: bool = False, **media: Any) -> web.Application:
    app = make_app(database, redis, clock, tmp_path, **media)
    app[VIDEO] = VideoState(watch_seconds=WATCH)
    if turn:
        app[SETTINGS] = app[SETTINGS].model_copy(update={"softphone": SoftphoneSettings(ice_servers=[
            IceServer(urls=["stun:stun.example.se:3478"]),
            IceServer(urls=["turn:turn.example.se:3478?transport=udp", "turns:turn.example.se:5349"],
                      secret=SecretStr(TURN_SECRET)),
            IceServer(urls=["turn:fixed.example.se:3478"], username="vardlinje", credential=SecretStr("fixed-pw"))])})
    return app


@dataclass
class Room:
    app: web.Application
    anna: Client
    bertil: Client
    phone: Client
    csrf: str


@pytest.fixture
async def room(database: Database, redis: Redis, clock: FakeClock, world: World,  # noqa: F811
               tmp_path: Path) -> AsyncIterator[Room]:
    """Anna (logged in), Bertil and the caller's phone on one app with a short watch interval."""
    await _clean(redis)
    app = video_app(database, redis, clock, tmp_path)
    anna, bertil, phone = await _clients(app, 3)
    csrf = await login(anna, "anna")
    yield Room(app, anna, bertil, phone, csrf)
    for c in (anna, bertil, phone):
        await c.close()
    await _clean(redis)


async def video_link(client: Client, csrf: str, database: Database, call_id: str) -> tuple[int, str]:
    """A video link sent by the client's nurse: its id and the token from the SMS."""
    status, body = await request_link(client, csrf, call_id, kind="video")
    assert status == 201 and body["kind"] == "video", body
    return int(body["link_id"]), last_token(database)


async def nurse_socket(client: Client, link_id: int, origin: str = ORIGIN) -> WS:
    return await client.ws_connect(f"/api/v1/media/video/{link_id}/ws", headers={"Origin": origin})


async def caller_socket(client: Client, token: str, origin: str = ORIGIN) -> WS:
    return await client.ws_connect(f"/m/{token}/ws", headers={"Origin": origin})


async def refused(connecting: Any) -> int:
    with pytest.raises(WSServerHandshakeError) as info:
        await connecting
    return info.value.status


async def receive(ws: WS) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), WAIT)
    assert msg.type is WSMsgType.TEXT, (msg.type, msg.data, ws.close_code)
    data = json.loads(msg.data)
    assert isinstance(data, dict)
    return data


async def closed_with(ws: WS) -> int:
    """Wait for the server's close frame; its close code."""
    msg = await asyncio.wait_for(ws.receive(), WAIT)
    assert msg.type is WSMsgType.CLOSE, (msg.type, msg.data, ws.close_code)
    return int(msg.data)


async def send(ws: WS, body: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(body))


async def joined(nurse_client: Client, phone: Client, link_id: int, token: str) -> tuple[WS, WS]:
    """The nurse in the room, then the caller; both hellos and the nurse's peer notice read."""
    nurse = await nurse_socket(nurse_client, link_id)
    assert (await receive(nurse))["type"] == "hello"
    caller = await caller_socket(phone, token)
    assert (await receive(caller))["peer_present"] is True
    assert await receive(nurse) == {"type": "peer", "present": True}
    return nurse, caller


def events(database: Database, call_id: str, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in database.run_sync(lambda s: calls.events(s, call_id)) if e.kind == kind]


def get_link(database: Database, link_id: int) -> MediaLink:
    def work(s: Session) -> MediaLink:
        link = s.get(MediaLink, link_id)
        assert link is not None
        s.expunge(link)
        return link

    return database.run_sync(work)


async def no_room_tasks() -> None:
    """Every socket's background tasks are gone (after the handlers' close handshakes)."""
    for _ in range(50):
        left = [t for t in asyncio.all_tasks() if t.get_name().startswith("video-") and not t.done()]
        if not left:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"room tasks left: {[t.get_name() for t in left]}")


async def test_the_nurses_socket_refuses_strangers(room: Room, database: Database, world: World) -> None:
    """No session: 401; a foreign Origin: 403 bad_origin; Bertil on Anna's link: 403 not_your_link; an image
    link or an unknown id: 404 unknown_link."""
    link_id, _ = await video_link(room.anna, room.csrf, database, world.call_anna)
    assert await refused(nurse_socket(room.phone, link_id)) == 401
    assert await refused(nurse_socket(room.anna, link_id, origin="https://evil.example")) == 403
    resp = await room.anna.get(f"/api/v1/media/video/{link_id}/ws", headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and (await resp.json())["error"] == "bad_origin"
    await login(room.bertil, "bertil")
    resp = await room.bertil.get(f"/api/v1/media/video/{link_id}/ws", headers={"Origin": ORIGIN})
    assert resp.status == 403 and (await resp.json())["error"] == "not_your_link"
    assert await refused(nurse_socket(room.bertil, link_id)) == 403
    status, body = await request_link(room.anna, room.csrf, world.call_anna)  # an image link
    assert status == 201
    resp = await room.anna.get(f"/api/v1/media/video/{body['link_id']}/ws", headers={"Origin": ORIGIN})
    assert resp.status == 404 and (await resp.json())["error"] == "unknown_link"
    assert await refused(nurse_socket(room.anna, 999999)) == 404
    resp = await room.anna.get(f"/api/v1/media/video/{link_id}/ws", headers={"Origin": ORIGIN})
    assert resp.status == 400 and (await resp.json())["error"] == "not_websocket"


async def test_the_callers_socket_refuses_bad_links(
        database: Database, redis: Redis, clock: FakeClock, world: World, tmp_path: Path) -> None:  # noqa: F811
    """A foreign Origin: 403 plain text; a forged token or an image link's: 404; each join uses one use, so
    past `video_joins_per_link` joins: 410 (and the page says so for video); an expired link: 410; a link the
    nurse closed: 410 — each with the link's sentence. `media.video_joined` per join."""
    await _clean(redis)
    app = video_app(database, redis, clock, tmp_path, video_joins_per_link=2)
    anna, phone = await _clients(app, 2)
    try:
        csrf = await login(anna, "anna")
        link_id, token = await video_link(anna, csrf, database, world.call_anna)
        assert get_link(database, link_id).max_uses == 2
        resp = await phone.get(f"/m/{token}/ws", headers={"Origin": "https://evil.example"})
        assert resp.status == 403 and resp.content_type == "text/plain"
        assert await refused(caller_socket(phone, token, origin="null")) == 403
        forged = "A" * 43
        resp = await phone.get(f"/m/{forged}/ws", headers={"Origin": ORIGIN, "Connection": "Upgrade",
                                                            "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert resp.status == 404
        body = await resp.json()
        assert body["error"] == "unknown" and STATE_TEXT[LinkState.UNKNOWN][0] in body["detail"]
        _, image = await request_link(anna, csrf, world.call_anna)
        image_token = last_token(database)
        assert await refused(caller_socket(phone, image_token)) == 404

        for _ in range(2):
            ws = await caller_socket(phone, token)
            assert (await receive(ws))["type"] == "hello"
            await ws.close()
        assert get_link(database, link_id).uses == 2
        assert events(database, world.call_anna, "media.video_joined") == [{"link": link_id}] * 2
        assert await refused(caller_socket(phone, token)) == 410
        page = await phone.get(f"/m/{token}")
        assert page.status == 410 and "Videolänken har använts så många gånger den tillåter" in await page.text()

        _, expiring = await video_link(anna, csrf, database, world.call_anna)
        _, joined = await video_link(anna, csrf, database, world.call_anna)
        ws = await caller_socket(phone, joined)
        assert (await receive(ws))["type"] == "hello"
        await ws.close()
        clock.advance(minutes=15, seconds=1)
        assert await refused(caller_socket(phone, expiring)) == 410
        # The caller who joined comes back after the link's time (a dropped connection, a reload).
        assert (await phone.get(f"/m/{joined}")).status == 200
        ws = await caller_socket(phone, joined)
        assert (await receive(ws))["type"] == "hello"
        await ws.close()
        _, closing = await video_link(anna, csrf, database, world.call_anna)
        resp = await anna.delete(f"/api/v1/calls/{world.call_anna}/media-links", headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
        assert await refused(caller_socket(phone, closing)) == 410
        await no_room_tasks()
    finally:
        await anna.close()
        await phone.close()
        await _clean(redis)


async def test_caller_attempts_per_address_are_limited(
        database: Database, redis: Redis, clock: FakeClock, world: World, tmp_path: Path) -> None:  # noqa: F811
    """Past `video_joins_per_ip_per_hour` socket attempts from one address (refused ones count too), 429 with
    Retry-After; the uploads' own counter is not touched."""
    await _clean(redis)
    app = video_app(database, redis, clock, tmp_path, video_joins_per_ip_per_hour=2)
    anna, phone = await _clients(app, 2)
    try:
        csrf = await login(anna, "anna")
        _, token = await video_link(anna, csrf, database, world.call_anna)
        assert await refused(caller_socket(phone, "B" * 43)) == 404
        ws = await caller_socket(phone, token)
        await receive(ws)
        await ws.close()
        upgrade = {"Origin": ORIGIN, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        resp = await phone.get(f"/m/{token}/ws", headers=upgrade)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"] == "rate_limited"
        assert [k async for k in redis.scan_iter(match="vardlinje:media:ip:*")] == []
    finally:
        await anna.close()
        await phone.close()
        await _clean(redis)


async def test_hello_carries_the_ice_servers_with_turn_credentials(
        database: Database, redis: Redis, clock: FakeClock, world: World, tmp_path: Path) -> None:  # noqa: F811
    """With a coturn secret set, each side's hello has the STUN server as is and TURN credentials minted for
    it (the nurse's endpoint, `video-<link>` for the caller), valid for turn_ttl_seconds — for the caller an
    hour at most, and a fixed TURN account is never handed to the caller."""
    await _clean(redis)
    app = video_app(database, redis, clock, tmp_path, turn=True)
    anna, phone = await _clients(app, 2)
    try:
        csrf = await login(anna, "anna")
        link_id, token = await video_link(anna, csrf, database, world.call_anna)
        nurse = await nurse_socket(anna, link_id)
        hello = await receive(nurse)
        assert {k: hello[k] for k in ("type", "role", "link_id", "peer_present")} == {
            "type": "hello", "role": "nurse", "link_id": link_id, "peer_present": False}
        stun, turn, fixed = hello["ice_servers"]
        assert stun == {"urls": ["stun:stun.example.se:3478"]}
        assert fixed == {"urls": ["turn:fixed.example.se:3478"], "username": "vardlinje", "credential": "fixed-pw"}
        assert turn["urls"] == ["turn:turn.example.se:3478?transport=udp", "turns:turn.example.se:5349"]
        expiry, user = turn["username"].split(":", 1)
        assert int(expiry) == int(T0.timestamp()) + 12 * 3600 and re.fullmatch(r"nurse-\S+", user), user
        assert turn["credential"] and TURN_SECRET not in json.dumps(hello)
        caller = await caller_socket(phone, token)
        hello = await receive(caller)
        assert hello["role"] == "caller" and hello["link_id"] == link_id and hello["peer_present"] is True
        # The caller, a stranger with a link: minted credentials for an hour, never the fixed account.
        assert [e["urls"][0] for e in hello["ice_servers"]] == ["stun:stun.example.se:3478",
                                                                 "turn:turn.example.se:3478?transport=udp"]
        expiry, user = hello["ice_servers"][1]["username"].split(":", 1)
        assert user == f"video-{link_id}" and int(expiry) == int(T0.timestamp()) + 3600
        assert "fixed-pw" not in json.dumps(hello)
        await nurse.close()
        await caller.close()
    finally:
        await anna.close()
        await phone.close()
        await _clean(redis)


async def test_signalling_is_relayed_both_ways(room: Room, database: Database, world: World) -> None:
    """The nurse's offer reaches the caller, the caller's answer the nurse, candidates (and the null end of
    candidates) both ways, each unchanged; ping gets pong."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    offer = {"type": "offer", "sdp": SDP}
    await send(nurse, offer)
    assert await receive(caller) == offer
    answer = {"type": "answer", "sdp": SDP.replace("AB:CD", "EF:01")}
    await send(caller, answer)
    assert await receive(nurse) == answer
    for ws, other in ((nurse, caller), (caller, nurse)):
        for body in ({"type": "candidate", "candidate": CANDIDATE}, {"type": "candidate", "candidate": None}):
            await send(ws, body)
            assert await receive(other) == body
    await send(caller, {"type": "ping"})
    assert await receive(caller) == {"type": "pong"}
    await nurse.close()
    await caller.close()
    await no_room_tasks()


async def test_presence_caller_first_and_nurse_first(room: Room, database: Database, world: World) -> None:
    """Caller first: her hello says the nurse is absent, the nurse's says present and the caller is told the
    nurse came. Nurse first: the other way round. A socket that closes without `end` makes the other side see
    `peer present=false`; the video goes on (the caller rejoins)."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    caller = await caller_socket(room.phone, token)
    assert (await receive(caller))["peer_present"] is False
    nurse = await nurse_socket(room.anna, link_id)
    assert (await receive(nurse))["peer_present"] is True
    assert await receive(caller) == {"type": "peer", "present": True}
    await caller.close()
    assert await receive(nurse) == {"type": "peer", "present": False}

    caller = await caller_socket(room.phone, token)  # the nurse is there first now
    assert (await receive(caller))["peer_present"] is True
    assert await receive(nurse) == {"type": "peer", "present": True}
    await nurse.close()
    assert await receive(caller) == {"type": "peer", "present": False}
    nurse = await nurse_socket(room.anna, link_id)
    assert (await receive(nurse))["peer_present"] is True
    assert await receive(caller) == {"type": "peer", "present": True}
    assert get_link(database, link_id).revoked_at is None
    await nurse.close()
    await caller.close()
    await no_room_tasks()


async def test_end_from_the_caller_ends_the_room_for_both(room: Room, database: Database, world: World) -> None:
    """`end` from the caller: both get `ended by caller` and close 1000; `media.video_ended` is recorded once;
    the link is revoked ("video_ended"), so the caller's rejoin and the page are 410 and the nurse's socket is
    410 video_over; no task is left behind."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    await send(caller, {"type": "end"})
    assert await receive(caller) == {"type": "ended", "by": "caller"}
    assert await receive(nurse) == {"type": "ended", "by": "caller"}
    assert await closed_with(caller) == 1000
    assert await closed_with(nurse) == 1000
    await asyncio.sleep(WATCH * 3)  # a watch round must not record it again
    assert events(database, world.call_anna, "media.video_ended") == [{"link": link_id, "by": "caller"}]
    link = get_link(database, link_id)
    assert link.revoked_at is not None and link.revoked_reason == "video_ended"
    assert await refused(caller_socket(room.phone, token)) == 410
    assert (await room.phone.get(f"/m/{token}")).status == 410
    resp = await room.anna.get(f"/api/v1/media/video/{link_id}/ws", headers={"Origin": ORIGIN})
    assert resp.status == 410 and (await resp.json())["error"] == "video_over"
    await no_room_tasks()


async def test_the_contacts_close_ends_the_room(
        room: Room, database: Database, world: World, clock: FakeClock) -> None:  # noqa: F811
    """The nurse's DELETE of the contact's links: both sockets get `ended by contact_closed` within a few watch
    rounds and close 1000, recorded once. A call that ended and whose wrap-up passed does the same."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    resp = await room.anna.delete(f"/api/v1/calls/{world.call_anna}/media-links",
                                  headers={"X-CSRF-Token": room.csrf})
    assert resp.status == 200
    started = asyncio.get_running_loop().time()
    for ws in (nurse, caller):
        assert await receive(ws) == {"type": "ended", "by": "contact_closed"}
        assert await closed_with(ws) == 1000
    assert asyncio.get_running_loop().time() - started < WATCH * 10
    assert events(database, world.call_anna, "media.video_ended") == [{"link": link_id, "by": "contact_closed"}]
    assert get_link(database, link_id).revoked_reason == "closed_by_nurse"

    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    database.run_sync(lambda s: calls.close_call(s, world.call_anna, clock(), "hangup"))
    await asyncio.sleep(WATCH * 2)
    assert nurse.closed is False  # wrap-up is still going: the room stays
    clock.advance(seconds=61)
    for ws in (nurse, caller):
        assert await receive(ws) == {"type": "ended", "by": "contact_closed"}
        assert await closed_with(ws) == 1000
    await no_room_tasks()


async def test_connection_states_are_recorded(room: Room, database: Database, world: World) -> None:
    """`connected` is recorded the first time each side reports it; `failed` with its reason, at most
    MAX_FAILED_EVENTS times per link; `disconnected` is not recorded."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    for ws in (nurse, caller, nurse, caller):
        await send(ws, {"type": "state", "state": "connected"})
    for _ in range(5):
        await send(caller, {"type": "state", "state": "failed", "reason": "ice"})
    await send(nurse, {"type": "state", "state": "disconnected"})
    for ws in (nurse, caller):  # a ping answered after them: they were handled
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
    connected = events(database, world.call_anna, "media.video_connected")
    assert sorted(e["by"] for e in connected) == ["caller", "nurse"] and all(e["link"] == link_id for e in connected)
    assert events(database, world.call_anna, "media.video_failed") == [
        {"link": link_id, "by": "caller", "reason": "ice"}] * video.MAX_FAILED_EVENTS
    kinds = [e.kind for e in database.run_sync(lambda s: calls.events(s, world.call_anna))]
    assert "media.video_offered" in kinds and "media.video_joined" in kinds and "media.video_ended" not in kinds
    await nurse.close()
    await caller.close()


async def test_wrong_and_malformed_messages_get_errors(room: Room, database: Database, world: World) -> None:
    """An answer from the nurse and an offer from the caller: wrong_role; nonsense: bad_message — nothing is
    relayed and the socket stays open; after MAX_BAD_MESSAGES the socket is closed with 1008."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    await send(nurse, {"type": "answer", "sdp": SDP})
    error = await receive(nurse)
    assert error["type"] == "error" and error["code"] == "wrong_role" and error["message"]
    await send(caller, {"type": "offer", "sdp": SDP})
    assert (await receive(caller))["code"] == "wrong_role"
    await caller.send_str("{nope")
    assert (await receive(caller))["code"] == "bad_message"
    await caller.send_bytes(b"\x00")
    assert (await receive(caller))["code"] == "bad_message"
    await send(caller, {"type": "candidate", "candidate": CANDIDATE, "to": "someone"})
    assert (await receive(caller))["code"] == "bad_message"
    await send(caller, {"type": "ping"})
    assert await receive(caller) == {"type": "pong"}
    await send(caller, {"type": "candidate", "candidate": None})
    assert await receive(nurse) == {"type": "candidate", "candidate": None}  # nothing of the above came through
    for _ in range(video.MAX_BAD_MESSAGES - 1):  # the nurse's wrong answer was her first
        await send(nurse, {"type": "bogus"})
    for _ in range(video.MAX_BAD_MESSAGES - 1):
        assert (await receive(nurse))["code"] == "bad_message"
    assert await closed_with(nurse) == 1008
    assert await receive(caller) == {"type": "peer", "present": False}
    await caller.close()
    await no_room_tasks()


async def test_a_flood_of_messages_closes_the_socket(room: Room, database: Database, world: World) -> None:
    """More than PACE_MOST valid messages inside the window: the sender's socket is closed with 1008, the other
    side is told it left."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    for _ in range(video.PACE_MOST + 1):
        await send(caller, {"type": "ping"})
    pongs = 0
    while (msg := await asyncio.wait_for(caller.receive(), WAIT)).type is WSMsgType.TEXT:
        assert json.loads(msg.data) == {"type": "pong"}
        pongs += 1
    assert msg.type is WSMsgType.CLOSE and msg.data == 1008 and pongs == video.PACE_MOST
    assert await receive(nurse) == {"type": "peer", "present": False}
    await nurse.close()
    await no_room_tasks()


async def test_a_newer_socket_replaces_the_older(room: Room, database: Database, world: World) -> None:
    """A reload: the caller's newer socket makes the older one get `replaced` and close 4409, the nurse is
    told the caller is (again) present and not that she left; the same for the nurse's side."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, old = await joined(room.anna, room.phone, link_id, token)
    new = await caller_socket(room.phone, token)
    assert (await receive(new))["peer_present"] is True
    assert await receive(old) == {"type": "replaced"}
    assert await closed_with(old) == video.CLOSE_REPLACED
    assert await receive(nurse) == {"type": "peer", "present": True}
    await asyncio.sleep(0.3)  # the old socket's handler has finished
    await send(new, {"type": "candidate", "candidate": None})
    assert await receive(nurse) == {"type": "candidate", "candidate": None}  # no `present: false` in between
    await send(nurse, {"type": "offer", "sdp": SDP})
    assert await receive(new) == {"type": "offer", "sdp": SDP}

    newer_nurse = await nurse_socket(room.anna, link_id)
    assert (await receive(newer_nurse))["peer_present"] is True
    assert await receive(nurse) == {"type": "replaced"}
    assert await closed_with(nurse) == video.CLOSE_REPLACED
    assert await receive(new) == {"type": "peer", "present": True}
    await asyncio.sleep(0.3)
    await send(newer_nurse, {"type": "candidate", "candidate": None})
    assert await receive(new) == {"type": "candidate", "candidate": None}
    await newer_nurse.close()
    await new.close()
    await no_room_tasks()


async def test_the_nurses_socket_closes_when_her_session_ends(room: Room, database: Database,
                                                              world: World) -> None:
    """She logs out: her room socket closes (4401) within a watch round; the caller is told she left."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    nurse, caller = await joined(room.anna, room.phone, link_id, token)
    assert (await room.anna.post("/logout", headers={"X-CSRF-Token": room.csrf})).status in (200, 303)
    assert await closed_with(nurse) == 4401
    assert await receive(caller) == {"type": "peer", "present": False}
    await caller.close()


async def test_two_app_instances_relay_between_them(
        database: Database, redis: Redis, clock: FakeClock, world: World, tmp_path: Path) -> None:  # noqa: F811
    """The nurse on one instance and the caller on another (same database and Redis): presence in hello,
    offer and answer relayed, and the nurse's end ends the caller's socket on the other instance."""
    await _clean(redis)
    first = video_app(database, redis, clock, tmp_path)
    second = video_app(database, redis, clock, tmp_path)
    [anna] = await _clients(first, 1)
    [phone] = await _clients(second, 1)
    try:
        csrf = await login(anna, "anna")
        link_id, token = await video_link(anna, csrf, database, world.call_anna)
        caller = await caller_socket(phone, token)
        assert (await receive(caller))["peer_present"] is False
        nurse = await nurse_socket(anna, link_id)
        assert (await receive(nurse))["peer_present"] is True
        assert await receive(caller) == {"type": "peer", "present": True}
        await send(nurse, {"type": "offer", "sdp": SDP})
        assert await receive(caller) == {"type": "offer", "sdp": SDP}
        await send(caller, {"type": "answer", "sdp": SDP})
        assert await receive(nurse) == {"type": "answer", "sdp": SDP}
        await send(nurse, {"type": "end"})
        assert await receive(nurse) == {"type": "ended", "by": "nurse"}
        assert await receive(caller) == {"type": "ended", "by": "nurse"}
        assert await closed_with(caller) == 1000
        assert events(database, world.call_anna, "media.video_ended") == [{"link": link_id, "by": "nurse"}]
        await no_room_tasks()
    finally:
        await anna.close()
        await phone.close()
        await _clean(redis)


async def test_redis_failure_closes_the_socket_not_the_app(
        room: Room, database: Database, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """When Redis fails as the room starts, the nurse's socket closes with 1011 and the app goes on serving."""
    link_id, token = await video_link(room.anna, room.csrf, database, world.call_anna)

    async def broken(self: PubSub, *args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(PubSub, "subscribe", broken)
    nurse = await nurse_socket(room.anna, link_id)
    assert await closed_with(nurse) == 1011
    monkeypatch.undo()
    assert (await room.phone.get(f"/m/{token}")).status == 200
    nurse = await nurse_socket(room.anna, link_id)
    assert (await receive(nurse))["type"] == "hello"
    await nurse.close()
    await no_room_tasks()


# --- the caller's page -----------------------------------------------------------------------------------------


async def test_the_video_page_has_its_policy_script_and_controls(
        room: Room, database: Database, world: World) -> None:
    """The video link's page: the video CSP (our script, our WebSocket origin), Permissions-Policy for camera
    and microphone, no-referrer, no-store, no cookie; the title, the voice sentence, the buttons, the videos,
    the status line, the texts as JSON (no inline script) and the script; English with ?lang=en; the script
    and style sheet are served."""
    _, token = await video_link(room.anna, room.csrf, database, world.call_anna)
    resp = await room.phone.get(f"/m/{token}")
    page = await resp.text()
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert csp == video_csp("http://127.0.0.1:8080") == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self' blob: "
        "mediastream:; connect-src 'self' ws://127.0.0.1:8080; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")
    assert video_csp("https://vardlinje.example.se/").endswith(
        "connect-src 'self' wss://vardlinje.example.se; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    assert resp.headers["Permissions-Policy"] == VIDEO_PERMISSIONS == "camera=(self), microphone=(self)"
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in resp.headers
    assert "<h1>Videosamtal med sjuksköterskan</h1>" in page and "Fortsätt prata i telefonen" in page
    assert '<body data-state="idle">' in page
    assert '<script type="module" src="/static/video-caller.js"></script>' in page
    for element in ('<button id="start" type="button">Starta video</button>',
                    '<button id="switch" type="button" hidden>Byt kamera</button>',
                    '<button id="mute" type="button" aria-pressed="true" hidden>Sätt på mikrofonen</button>',
                    '<button id="end" type="button" class="danger" hidden>Avsluta video</button>',
                    '<video id="remote" autoplay playsinline', '<video id="local" autoplay playsinline muted',
                    '<p id="status" class="status" role="status" aria-live="polite" data-state="idle">',
                    f'data-ws-path="/m/{token}/ws"'):
        assert element in page, element
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert [attrs for attrs, _ in scripts] == [' type="application/json" id="texts"',
                                               ' type="module" src="/static/video-caller.js"']
    texts = json.loads(scripts[0][1])
    assert texts["ended"] == "Videosamtalet är avslutat." and texts["mic_off"] == "Stäng av mikrofonen"
    assert set(texts) >= {"idle", "waiting", "connecting", "connected", "ended", "failed", "closed",
                          "ended_nurse", "ended_caller", "ended_contact_closed", "replaced", "mic_on", "mic_off"}
    assert "http://" not in page and "https://" not in page

    english = await room.phone.get(f"/m/{token}?lang=en")
    text = await english.text()
    assert english.status == 200 and '<html lang="en">' in text
    assert "<h1>Video call with the nurse</h1>" in text and ">Start video</button>" in text
    assert ">Switch camera</button>" in text and ">End video</button>" in text
    assert json.loads(re.findall(r'id="texts">(.*?)</script>', text, re.S)[0])["ended"] == "The video call has ended."

    script = await room.phone.get("/static/video-caller.js")
    body = await script.text()
    assert script.status == 200 and "javascript" in script.headers["Content-Type"]
    assert "window.videoPeer" in body and "replaceTrack" in body and "dataset.wsPath" in body
    css = await (await room.phone.get("/static/caller.css")).text()
    assert "#local" in css and "[hidden]" in css

    status, _ = await request_link(room.anna, room.csrf, world.call_anna)
    assert status == 201
    image_token = last_token(database)
    image_page = await room.phone.get(f"/m/{image_token}")
    assert image_page.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'self'")
    assert "Permissions-Policy" not in image_page.headers and "<script" not in await image_page.text()
    # The page of a link that no longer works keeps the no-script policy.
    resp = await room.anna.delete(f"/api/v1/calls/{world.call_anna}/media-links", headers={"X-CSRF-Token": room.csrf})
    assert resp.status == 200
    closed = await room.phone.get(f"/m/{token}")
    assert closed.status == 410 and "<script" not in await closed.text()
    assert closed.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'self'")
