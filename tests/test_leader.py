"""One owner per Stasis application: the Redis leader lease, standby take-over, and stepping
down on ApplicationReplaced — with the real Asterisk, Redis and sipp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlmodel import select

from calls.models import Call
from ivr.calls import IvrHandler
from telephony.ari.client import ApplicationReplacedError, AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from .test_greeting_call import _no_sms, greeting_directory


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


async def test_lease_is_exclusive_and_only_the_holder_renews_or_releases(redis: Redis) -> None:
    """A second holder cannot take a held lease, nor renew or release it; after expiry it can."""
    a = LeaderLease(redis, "lease:x", "a", ttl_seconds=0.3)
    b = LeaderLease(redis, "lease:x", "b", ttl_seconds=0.3)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert not await b.renew() and not await b.release()
    assert await a.renew() and await a.holder_now() == "a"
    await asyncio.sleep(0.4)
    assert await b.try_acquire()
    assert not await a.renew(), "an expired holder must not extend the new holder's lease"
    assert await b.release() and await b.holder_now() is None


class Instance:
    def __init__(self, name: str, ast: PrivateAsterisk, http: aiohttp.ClientSession, redis: Redis, tmp: Path,
                 app: str) -> None:
        url = f"sqlite:///{tmp}/{name}.db"
        upgrade(url)
        self.db = Database.from_url(url)
        self.ari = AriClient(http, ast.ari_url, ast.config.ari_user, ast.config.ari_password, app,
                             backoff_base=0.1, backoff_cap=0.5)
        self.lease = LeaderLease(redis, f"test:leader:{app}", name, ttl_seconds=1.5)
        prompts = PromptStore(ast.sounds_dir, str(ast.config.sounds))
        handler = IvrHandler(self.ari, self.db, prompts, greeting_directory(), _no_sms, now)
        self.telephony = Telephony(self.ari, handler, self.lease, renew_every=0.3)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.telephony.run(self.stop))

    async def calls(self) -> int:
        return await self.db.run(lambda s: len(list(s.exec(select(Call)))))


@pytest.mark.asterisk
async def test_standby_takes_over_when_the_leader_dies(asterisk: PrivateAsterisk, redis: Redis, tmp_path: Path) -> None:
    """Of two instances only the lease holder connects and answers calls; when it dies without
    releasing the lease, the standby takes over after the lease expires and answers the next call."""
    # The dialplan sends calls to the run's app name; this test owns it for its duration.
    app = asterisk.config.app_name
    async with aiohttp.ClientSession() as http:
        a = Instance("a", asterisk, http, redis, tmp_path, app)
        await asyncio.wait_for(a.ari.connected.wait(), 10)
        b = Instance("b", asterisk, http, redis, tmp_path, app)
        await asyncio.sleep(1.0)
        assert a.telephony.is_leader.is_set() and not b.telephony.is_leader.is_set()
        assert not b.ari.connected.is_set(), "a standby must not connect"

        first = await asyncio.to_thread(place_call, "127.0.0.1", asterisk.config.sip_port, "1177", hold_seconds=30)
        assert first.ok, first.errors
        assert (await a.calls(), await b.calls()) == (1, 0)

        # A dies: no release, no clean close of its lease.
        a.lease.release = _never  # type: ignore[method-assign]
        a.task.cancel()
        await asyncio.gather(a.task, return_exceptions=True)
        await asyncio.wait_for(b.ari.connected.wait(), 10)
        assert await b.lease.holder_now() == "b"

        second = await asyncio.to_thread(place_call, "127.0.0.1", asterisk.config.sip_port, "1177", hold_seconds=30)
        assert second.ok, second.errors
        assert (await a.calls(), await b.calls()) == (1, 1)
        b.stop.set()
        await asyncio.wait_for(b.task, 10)
    assert await redis.get(f"test:leader:{app}") is None, "a clean stop releases the lease"


async def _never() -> bool:
    return False


@pytest.mark.asterisk
async def test_application_replaced_by_another_connection(asterisk: PrivateAsterisk) -> None:
    """Asterisk gives the app to the newest connection and tells the older one, which steps
    down (ApplicationReplacedError) instead of reconnecting and stealing it back."""
    async with aiohttp.ClientSession() as http:
        def client() -> AriClient:
            return AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                             "replaced-test", backoff_base=0.05)

        older, newer = client(), client()
        stop = asyncio.Event()
        first = asyncio.create_task(older.run_events(lambda e: None, _noop, stop))
        await asyncio.wait_for(older.connected.wait(), 10)
        second = asyncio.create_task(newer.run_events(lambda e: None, _noop, stop))
        with pytest.raises(ApplicationReplacedError):
            await asyncio.wait_for(first, 10)
        assert newer.connected.is_set() or await asyncio.wait_for(newer.connected.wait(), 5) is None
        stop.set()
        await asyncio.wait_for(second, 5)
    assert older.connects == 1


async def _noop() -> None:
    return None
