"""The ARI client against a local server that speaks ARI's wire format and misbehaves on cue,
and against the real Asterisk restarted under it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from telephony.ari.backoff import backoff_delay
from telephony.ari.client import ApplicationReplacedError, AriClient
from telephony.ari.dispatch import OrderedDispatcher
from telephony.ari.errors import AriConflict, AriNotFound, AriUnavailable
from telephony.ari.models import ChannelDestroyed, Event, StasisStart, parse_event
from telephony.asterisk.private import PrivateAsterisk


def stasis_start(channel_id: str, app: str = "test") -> dict[str, Any]:
    return {
        "type": "StasisStart", "application": app, "args": ["1177"],
        "timestamp": "2026-11-25T22:00:00.000+0000",
        "channel": {"id": channel_id, "name": f"PJSIP/callers-{channel_id}", "state": "Ring",
                    "caller": {"name": "", "number": "+46701234567"}, "connected": {"name": "", "number": ""},
                    "dialplan": {"context": "from-callers", "exten": "1177", "priority": 3,
                                 "app_name": "Stasis", "app_data": "test,1177"},
                    "creationtime": "2026-11-25T22:00:00.000+0000", "language": "sv"},
    }


class FakeAri:
    """Scripted ARI: each WebSocket connection sends the next batch of events, then closes
    (a drop) or stays open."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.connections = 0
        self.channel_requests = 0
        self.keep_open = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/ari/events", self.events)
        self.app.router.add_get("/ari/channels", self.channels)
        self.app.router.add_get("/ari/bridges", self.bridges)
        self.app.router.add_post("/ari/channels/{id}/answer", self.answer)
        self.app.router.add_get("/ari/asterisk/info", self.info)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        assert request.headers["Authorization"] == aiohttp.encode_basic_auth("u", "p")
        assert request.query["app"] == "test"
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        batch = self.batches.pop(0) if self.batches else []
        for item in batch:
            await ws.send_str(item if isinstance(item, str) else json.dumps(item))
        if not self.batches and batch != ["hold"]:
            await self.keep_open.wait()
        await ws.close()
        return ws

    async def bridges(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def channels(self, request: web.Request) -> web.Response:
        self.channel_requests += 1
        return web.json_response([stasis_start("resynced")["channel"]])

    async def answer(self, request: web.Request) -> web.Response:
        if request.match_info["id"] == "gone":
            return web.json_response({"message": "Channel not found"}, status=404)
        if request.match_info["id"] == "busy":
            return web.json_response({"message": "Channel not in Stasis application"}, status=409)
        return web.Response(status=204)

    async def info(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAri, str]]:
    fake = FakeAri()
    server = TestServer(fake.app)
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    fake.keep_open.set()
    await server.close()


async def _collect(client: AriClient, stop: asyncio.Event, events: list[Event], resyncs: list[int]) -> None:
    async def on_connected() -> None:
        resyncs.append(len(await client.channels()))

    await client.run_events(events.append, on_connected, stop)


async def test_reconnects_after_drop_and_resyncs_each_time(fake: tuple[FakeAri, str]) -> None:
    """A dropped event socket is reopened with backoff, and every connect is followed by a
    resync (GET /channels), since events were lost while it was down."""
    server, url = fake
    server.batches = [[stasis_start("c1")], [stasis_start("c2")], [stasis_start("c3")]]
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, url, "u", "p", "test", backoff_base=0.05, backoff_cap=0.2)
        stop = asyncio.Event()
        events: list[Event] = []
        resyncs: list[int] = []
        task = asyncio.create_task(_collect(client, stop, events, resyncs))
        for _ in range(100):
            if len(events) == 3:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [e.channel_id() for e in events] == ["c1", "c2", "c3"]
    assert all(isinstance(e, StasisStart) for e in events)
    assert server.connections == 3 and client.connects == 3
    assert resyncs == [1, 1, 1]


async def test_unreadable_events_are_skipped_not_fatal(fake: tuple[FakeAri, str]) -> None:
    """Garbage, an event without a type and a known event missing its fields are logged and
    skipped; the next good event still arrives on the same connection."""
    server, url = fake
    server.batches = [["not json", json.dumps({"no": "type"}), json.dumps({"type": "StasisStart"}),
                       json.dumps({"type": "SomethingNew", "channel": {"id": "x"}}), stasis_start("ok")]]
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, url, "u", "p", "test")
        stop = asyncio.Event()
        events: list[Event] = []
        task = asyncio.create_task(client.run_events(events.append, _noop, stop))
        for _ in range(100):
            if len(events) == 2:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [e.type for e in events] == ["SomethingNew", "StasisStart"]
    assert events[0].channel_id() == "x"
    assert server.connections == 1


async def test_application_replaced_steps_down(fake: tuple[FakeAri, str]) -> None:
    """ApplicationReplaced ends the loop with ApplicationReplacedError instead of reconnecting."""
    server, url = fake
    server.batches = [[{"type": "ApplicationReplaced", "application": "test"}], []]
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, url, "u", "p", "test", backoff_base=0.01)
        with pytest.raises(ApplicationReplacedError):
            await asyncio.wait_for(client.run_events(lambda e: None, _noop, asyncio.Event()), 5)
    assert server.connections == 1


async def test_rest_errors_name_what_failed(fake: tuple[FakeAri, str]) -> None:
    """REST failures carry method, path, status and Asterisk's message; 404 and 409 have their
    own types; an unreachable Asterisk is AriUnavailable with status 0."""
    _, url = fake
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, url, "u", "p", "test")
        with pytest.raises(AriNotFound) as nf:
            await client.answer("gone")
        assert nf.value.status == 404 and nf.value.path == "/channels/gone/answer"
        assert "POST /channels/gone/answer failed with 404: Channel not found" in str(nf.value)
        with pytest.raises(AriConflict):
            await client.answer("busy")
        with pytest.raises(AriUnavailable) as boom:
            await client.asterisk_info()
        assert boom.value.status == 500 and "boom" in str(boom.value)
        await client.answer("fine")
        dead = AriClient(http, "http://127.0.0.1:9", "u", "p", "test", request_timeout=2)
        with pytest.raises(AriUnavailable) as down:
            await dead.channels()
        assert down.value.status == 0


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    """Delays double per attempt, stay within [step/2, step], and never exceed the cap."""
    lows = [backoff_delay(n, base=0.5, cap=30, rand=lambda: 0.0) for n in range(10)]
    highs = [backoff_delay(n, base=0.5, cap=30, rand=lambda: 1.0) for n in range(10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert highs[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(highs) == 30.0 and backoff_delay(1000, cap=30, rand=lambda: 1.0) == 30.0
    with pytest.raises(ValueError):
        backoff_delay(-1)


async def test_dispatch_keeps_order_per_channel_and_survives_a_failing_handler() -> None:
    """Events of one channel are handled in order even when handling is slow; one handler
    failure does not stop the channel's later events or other channels."""
    seen: list[str] = []

    async def handler(event: Event) -> None:
        cid = event.channel_id()
        if cid == "a":
            await asyncio.sleep(0.01)
        if getattr(event, "args", None) == ["boom"]:
            raise RuntimeError("handler bug")
        seen.append(f"{cid}:{event.type}")

    d = OrderedDispatcher(handler)
    boom = stasis_start("a")
    boom["args"] = ["boom"]
    for raw in (boom, stasis_start("b"), {"type": "ChannelDestroyed", "channel": stasis_start("a")["channel"]},
                {"type": "ChannelDestroyed", "channel": stasis_start("b")["channel"]}):
        d.submit(parse_event(raw))
    for _ in range(100):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.01)
    await d.close()
    assert seen.index("b:StasisStart") < seen.index("b:ChannelDestroyed")
    assert "a:ChannelDestroyed" in seen and "a:StasisStart" not in seen
    assert isinstance(parse_event({"type": "ChannelDestroyed", "channel": {"id": "z"}}), ChannelDestroyed)


async def _noop() -> None:
    return None


@pytest.mark.asterisk
async def test_client_survives_a_real_asterisk_restart() -> None:
    """Asterisk is killed and started again on the same ports: the client reconnects by
    itself and resyncs, and REST calls work again."""
    ast = PrivateAsterisk.create(run_name="pytest-restart", app_name="restart-test")
    ast.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = AriClient(http, ast.ari_url, ast.config.ari_user, ast.config.ari_password,
                               "restart-test", backoff_base=0.1, backoff_cap=0.5)
            stop = asyncio.Event()
            resyncs: list[int] = []

            async def on_connected() -> None:
                resyncs.append(len(await client.channels()))

            task = asyncio.create_task(client.run_events(lambda e: None, on_connected, stop))
            await asyncio.wait_for(client.connected.wait(), 10)
            await asyncio.to_thread(ast.kill)
            for _ in range(100):
                if not client.connected.is_set():
                    break
                await asyncio.sleep(0.05)
            assert not client.connected.is_set(), "the client did not notice Asterisk dying"
            with pytest.raises(AriUnavailable):
                await client.asterisk_info()
            await asyncio.to_thread(ast.start)
            await asyncio.wait_for(client.connected.wait(), 15)
            info = await client.asterisk_info()
            stop.set()
            await asyncio.wait_for(task, 5)
        assert info.system.version.startswith("22.")
        assert client.connects == 2 and resyncs == [0, 0]
    finally:
        ast.stop()
