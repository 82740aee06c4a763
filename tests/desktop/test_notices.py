"""Notices for a nurse's desktops across instances (desktop/notices.py) on the real test Redis: what one
instance publishes reaches the hubs of all, anything else on the channel is dropped without stopping the relay,
and without Redis the notice still reaches her desktops on the publishing instance."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from desktop import notices
from desktop.http import DESKTOP, DesktopConfig, DesktopState, notify_nurse
from vardlinje.appkeys import REDIS


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, nurse: str, message: dict[str, Any]) -> None:
        self.got.append((nurse, message))
        self.arrived.set()

    async def next(self) -> tuple[str, dict[str, Any]]:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.got[-1]


def test_notices_are_checked_both_ways() -> None:
    """A notice names a nurse and carries a message with a type; anything else is not a notice."""
    raw = notices.encode("nurse-anna", {"type": "media_image", "call_id": "c1"})
    decoded = notices.decode(raw)
    assert decoded is not None and decoded.nurse == "nurse-anna" and decoded.message["call_id"] == "c1"
    for bad in ("", "not json", "[]", json.dumps({"nurse": "", "message": {"type": "x"}}),
                json.dumps({"nurse": "a", "message": {"no": "type"}}), json.dumps({"nurse": "a"}),
                json.dumps({"nurse": "a", "message": {"type": 3}}),
                json.dumps({"nurse": "a", "message": {"type": "x"}, "extra": 1}),
                json.dumps({"nurse": "a", "message": {"type": "x", "pad": "y" * notices.MAX_BYTES}})):
        assert notices.decode(bad) is None, bad
    with pytest.raises(ValueError):
        notices.encode("nurse-anna", {"call_id": "c1"})


async def test_a_notice_reaches_every_instance_and_junk_is_dropped(redis: Redis) -> None:
    """Two instances' relays both deliver a published notice; a foreign message on the channel is logged and
    dropped, and the next notice still arrives."""
    a, b = Recorder(), Recorder()
    relays = [notices.relay(redis, a), notices.relay(redis, b)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:
        for r in relays:
            await asyncio.wait_for(r.subscribed.wait(), 5)
        assert await notices.publish(redis, "nurse-anna", {"type": "media_image", "call_id": "c1"})
        assert await a.next() == ("nurse-anna", {"type": "media_image", "call_id": "c1"})
        assert await b.next() == ("nurse-anna", {"type": "media_image", "call_id": "c1"})
        await redis.publish(notices.CHANNEL, "junk")
        assert await notices.publish(redis, "nurse-bo", {"type": "media_image", "call_id": "c2"})
        assert await a.next() == ("nurse-bo", {"type": "media_image", "call_id": "c2"})
        assert len(a.got) == 2
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_without_redis_the_notice_reaches_this_instances_desktops() -> None:
    """Redis refusing the publish: notify_nurse hands the notice to this instance's hub instead of losing it."""

    class Hub:
        def __init__(self) -> None:
            self.got: list[tuple[str, dict[str, Any]]] = []

        async def notify(self, nurse: str, message: dict[str, Any]) -> None:
            self.got.append((nurse, message))

    app = web.Application()
    app[REDIS] = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens on port 1
    hub = Hub()
    app[DESKTOP] = DesktopState(DesktopConfig(), hub=hub)  # type: ignore[arg-type]
    await notify_nurse(app, "nurse-anna", {"type": "media_image", "call_id": "c1"})
    assert hub.got == [("nurse-anna", {"type": "media_image", "call_id": "c1"})]
    await app[REDIS].aclose()


async def test_after_losing_redis_the_relay_resubscribes_and_says_so(redis: Redis) -> None:
    """Redis drops the relay's subscription (CLIENT KILL): it subscribes again, calls `resumed` each time (the
    desktops then reload what a lost notice would have said), and the next notice arrives."""
    got = Recorder()
    resumed: list[float] = []

    async def on_resumed() -> None:
        resumed.append(asyncio.get_running_loop().time())

    follower = notices.relay(redis, got, on_resumed)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    try:
        await asyncio.wait_for(follower.subscribed.wait(), 5)
        for _ in range(50):
            if resumed:
                break
            await asyncio.sleep(0.05)
        assert len(resumed) == 1
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for _ in range(100):
            if len(resumed) == 2 and follower.subscribed.is_set():
                break
            await asyncio.sleep(0.05)
        assert len(resumed) == 2
        assert await notices.publish(redis, "nurse-anna", {"type": "media_image", "call_id": "c3"})
        assert await got.next() == ("nurse-anna", {"type": "media_image", "call_id": "c3"})
    finally:
        stop.set()
        await task
