"""Live reload across instances over the real Redis: a change published by one instance is picked
up by another without a restart, a call's directory snapshot keeps its version, and Redis
failures do not stop the listener."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlmodel import Session

from config import store
from config.live import LiveConfig, VersionedDirectory
from ivr.model import PlayNode
from vardlinje.db import Database
from vardlinje.procs import free_port

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
OLD_WELCOME = "Välkommen till 1177 på telefon i Region Stockholm."
NEW_WELCOME = "Välkommen till 1177 i Region Stockholm, vi svarar dygnet runt."


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def welcome(directory: VersionedDirectory) -> str:
    node = directory.menu("01").nodes["welcome"]
    assert isinstance(node, PlayNode) and node.prompt.text is not None
    return node.prompt.text["sv"]


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def change_welcome(database: Database) -> store.Change:
    def work(s: Session) -> store.Change:
        text = store.current(s)["01"].content.replace(OLD_WELCOME, NEW_WELCOME)
        return store.propose(s, "01", text, "rita", "", T0)

    return database.run_sync(work)


async def running(live: LiveConfig) -> Callable[[], Awaitable[None]]:
    """Start the listener; returns a function that stops it."""
    stop = asyncio.Event()
    task = asyncio.create_task(live.listen(stop))

    async def halt() -> None:
        stop.set()
        await asyncio.wait_for(task, 5)

    return halt


async def test_change_reaches_another_instance(database: Database, redis: Redis, cfg: Path) -> None:
    """Two instances on one Redis: after one stores and publishes a change, the other reloads (new
    version and menu, `on_change` called) without a restart and without waiting for its poll."""
    channel = f"t:config:{secrets.token_hex(4)}"
    await LiveConfig(database, redis, recordings=cfg).seed_and_load(cfg)
    seen: list[VersionedDirectory] = []
    a = LiveConfig(database, redis, recordings=cfg, channel=channel, poll_seconds=3600)
    b = LiveConfig(database, redis, recordings=cfg, channel=channel, poll_seconds=3600, on_change=seen.append)
    await a.load()
    await b.load()
    assert b.directory.version("01") == 1 and welcome(b.directory) == OLD_WELCOME
    stop_a, stop_b = await running(a), await running(b)
    try:
        await asyncio.wait_for(b.subscribed.wait(), 5)
        change = change_welcome(database)
        assert await a.reload() and a.directory.version("01") == 2
        assert await a.publish("01", change.version.version)
        await eventually(lambda: b.versions.get("01") == 2)
        assert welcome(b.directory) == NEW_WELCOME and seen and seen[-1] is b.directory
        assert b.directory.version("03") == 1 and b.directory.version("national") == 1
    finally:
        await stop_a()
        await stop_b()


async def test_a_call_keeps_its_version(database: Database, redis: Redis, cfg: Path) -> None:
    """The directory a call took at its start still answers with the old menu and version after a
    reload; new calls get the new one (as IvrHandler does with `handler.directory`)."""
    live = LiveConfig(database, redis, recordings=cfg)

    class Handler:
        directory: VersionedDirectory

    handler = Handler()
    handler.directory = await live.seed_and_load(cfg)
    live.on_change = lambda fresh: setattr(handler, "directory", fresh)
    in_progress = handler.directory
    change_welcome(database)
    assert await live.reload()
    assert not await live.reload()  # nothing new: no rebuild, no callback
    assert in_progress.version("01") == 1 and welcome(in_progress) == OLD_WELCOME
    assert handler.directory.version("01") == 2 and welcome(handler.directory) == NEW_WELCOME
    # A region's calls carry its own version; the national queue's carry the national file's.
    assert handler.directory.version("national") == 1


async def test_poll_finds_a_change_without_a_message(database: Database, redis: Redis, cfg: Path) -> None:
    """A change whose announcement was lost (e.g. Redis was down) is found by the periodic check."""
    live = LiveConfig(database, redis, recordings=cfg, channel=f"t:config:{secrets.token_hex(4)}", poll_seconds=0.2)
    await live.seed_and_load(cfg)
    stop = await running(live)
    try:
        change_welcome(database)
        await eventually(lambda: live.versions.get("01") == 2)
    finally:
        await stop()


async def test_redis_down_does_not_stop_the_listener(database: Database, cfg: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """With no Redis at the URL the listener logs, retries with backoff, keeps the loaded
    configuration, and stops cleanly when asked."""
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        live = LiveConfig(database, dead, recordings=cfg, max_backoff=0.2)
        await live.seed_and_load(cfg)
        caplog.set_level(logging.WARNING, logger="vardlinje.config")
        stop = await running(live)
        await asyncio.sleep(1.0)
        assert not await live.publish("01", 1)
        await stop()
        retries = [r for r in caplog.records if "Redis failed" in r.getMessage()]
        assert len(retries) >= 2 and live.directory.version("01") == 1
    finally:
        await dead.aclose()
