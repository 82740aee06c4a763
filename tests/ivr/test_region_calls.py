"""The shipped region configuration on the real Asterisk: a Stockholm caller walks region
01's menu to the child queue, and on another choice gets the chat link by SMS (the local
outbox holds it for the caller's number). This is the IVR issue's "done when" call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlmodel import select

from calls import service as calls
from calls.models import Call
from config.loader import load_valid_config
from ivr.calls import IvrHandler
from ivr.directory import ConfigDirectory
from sms.config import SmsSettings
from sms.outbox import OutboxProvider, list_messages
from sms.runtime import SmsContext
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def running(asterisk: PrivateAsterisk, redis_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path}/region.db"
    upgrade(url)
    db = Database.from_url(url)
    sms = SmsContext(provider=OutboxProvider(), limiter=None, settings=SmsSettings(), callback_url="")

    async def send_sms(call_id: str, to: str, body: str) -> bool:
        return await sms.try_send(db, call_id=call_id, to=to, body=body)

    directory = ConfigDirectory(load_valid_config())
    prompts = PromptStore(asterisk.sounds_dir, str(asterisk.config.sounds))
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                        asterisk.config.app_name)
        redis = Redis.from_url(redis_url)
        handler = IvrHandler(ari, db, prompts, directory, send_sms, lambda: datetime.now(UTC))
        telephony = Telephony(ari, handler, LeaderLease(redis, f"region-test:{tmp_path.name}", "t", 10))
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop))
        await asyncio.wait_for(ari.connected.wait(), 10)
        yield db
        stop.set()
        await asyncio.wait_for(task, 15)
        await redis.aclose()
    db.dispose()


async def _ended_call(db: Database) -> Call:
    for _ in range(150):
        done = await db.run(lambda s: [c for c in s.exec(select(Call)) if c.ended_at is not None])
        if done:
            return done[-1]
        await asyncio.sleep(0.1)
    raise AssertionError("no call record was closed")


async def test_stockholm_caller_reaches_the_child_queue(asterisk: PrivateAsterisk, running: Database) -> None:
    """+468… resolves to region 01; keys 1 (svenska), 2 (barn), 2 (1–17 år) reach the child
    queue with the skills region 01 configures."""
    result = await asyncio.to_thread(place_call, "127.0.0.1", asterisk.config.sip_port, "1177",
                                     caller="+46812345678", keys=[(2.5, "1"), (2.5, "2"), (2.5, "2")],
                                     hang_up_after=35)  # + the weekday 08–10 peak message (≈ 12 s)
    assert result.ok, result.errors
    call = await _ended_call(running)
    assert call.region_id == "01"
    evs = {e.kind: e.data for e in await running.run(lambda s: calls.events(s, call.id))}
    request = evs["queue.entered"]
    assert request["queue"] == "barn" and request["region"] == "01"
    assert request["skills"] == {"triage": 2, "barn": 2}, request


async def test_sms_choice_puts_the_chat_link_in_the_outbox(asterisk: PrivateAsterisk, running: Database) -> None:
    """A mobile number tells no region: the caller keys in 01#, then 1, 5 (sms) and 1 (chat);
    region 01's chat link goes to the caller's mobile, the outbox holds it and the call
    record has `sms.sent`."""
    keys = [(2.5, "0"), (0.3, "1"), (0.3, "#"), (2.5, "1"), (2.5, "5"), (2.5, "1")]
    result = await asyncio.to_thread(place_call, "127.0.0.1", asterisk.config.sip_port, "1177",
                                     caller="+46701234567", keys=keys, hang_up_after=12)
    assert result.ok, result.errors
    messages = await running.run(lambda s: list_messages(s, to="+46701234567"))
    call = await _ended_call(running)
    evs = await running.run(lambda s: [(e.kind, e.data) for e in calls.events(s, call.id)])
    assert len(messages) == 1, evs
    assert "https://chatt.regionstockholm.example/1177" in messages[0].body
    assert call.region_id == "01"
    kinds = [kind for kind, _ in evs]
    assert "sms.sent" in kinds
