"""A transfer that works: the IVR's transfer node dials the external number through the
operator's trunk (a sipp UAS here) and the record is closed as transferred when it ends."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlmodel import select

from calls import service as calls
from calls.models import Call
from ivr.calls import IvrHandler
from ivr.model import Menu
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade
from vardlinje.procs import free_port

from .test_ivr_call import Directory

pytestmark = pytest.mark.asterisk

MENU = {"start": "hello", "nodes": {
    "hello": {"type": "play", "prompt": {"sv": "Du kopplas till Giftinformationscentralen."}, "next": "gic"},
    "gic": {"type": "transfer", "number": "+46104566700"},
}}


@pytest.fixture(scope="module")
def trunk_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def asterisk_with_trunk(trunk_port: int) -> Iterator[PrivateAsterisk]:
    ast = PrivateAsterisk.create(run_name="pytest-trunk", outbound_trunk=f"127.0.0.1:{trunk_port}")
    PromptStore(ast.sounds_dir, str(ast.config.sounds)).render()
    ast.start()
    yield ast
    ast.stop()


@pytest.fixture
def uas(trunk_port: int, sipp: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """sipp playing the operator's trunk: answers one call and waits for its BYE."""
    proc = subprocess.Popen([sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(trunk_port), "-m", "1",
                             "-cp", str(free_port()), "-mp", str(free_port()), "-nostdin", "-timeout", "60s",
                             "-timeout_error"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


async def test_transfer_through_the_trunk(asterisk_with_trunk: PrivateAsterisk, uas: subprocess.Popen[bytes],
                                          redis_url: str, tmp_path: Path) -> None:
    """The far end (sipp as the operator's trunk) gets the call and sees it end; the caller's
    record says transfer, and is closed once as `transferred`."""
    ast = asterisk_with_trunk
    url = f"sqlite:///{tmp_path}/t.db"
    upgrade(url)
    db = Database.from_url(url)
    directory = Directory(menus={"01": Menu.model_validate(MENU)})

    async def no_sms(call_id: str, to: str, body: str) -> bool:
        return False

    try:
        async with aiohttp.ClientSession() as http:
            ari = AriClient(http, ast.ari_url, ast.config.ari_user, ast.config.ari_password, ast.config.app_name)
            redis = Redis.from_url(redis_url)
            handler = IvrHandler(ari, db, PromptStore(ast.sounds_dir, str(ast.config.sounds)), directory, no_sms,
                                 lambda: datetime.now(UTC))
            stop = asyncio.Event()
            task = asyncio.create_task(Telephony(ari, handler, LeaderLease(redis, "trunk-test", "t", 10)).run(stop))
            await asyncio.wait_for(ari.connected.wait(), 10)
            result = await asyncio.to_thread(place_call, "127.0.0.1", ast.config.sip_port, "1177",
                                             caller="+46812345678", hang_up_after=8)
            assert result.ok, result.errors
            call = None
            for _ in range(100):
                call = await db.run(lambda s: s.exec(select(Call)).first())
                if call is not None and call.ended_at is not None:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 15)
            await redis.aclose()
        assert await asyncio.to_thread(uas.wait, 20) == 0, uas.stderr.read().decode() if uas.stderr else ""
        assert call is not None and call.end_reason == "transferred"
        kinds = [e.kind for e in await db.run(lambda s: calls.events(s, call.id))]
        assert "queue.entered" not in kinds and kinds.count("call.ended") == 1
        assert "Dial(" in ast.log_file.read_text() and "trunk-out" in ast.log_file.read_text()
    finally:
        db.dispose()
