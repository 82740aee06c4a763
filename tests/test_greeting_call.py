"""The whole path on real parts: sipp calls 1177 through the real Asterisk 22, the Stasis app
answers, plays a Swedish greeting (from a file, or over HTTP as a production Asterisk gets
it), hangs up, and the call record shows it; and a caller is not stranded while the app is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from calls import service as calls
from ivr.calls import IvrHandler
from ivr.model import Menu, Prompt
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.prompts import duration_seconds
from telephony.runtime import Telephony
from telephony.sipp import place_call
from vardlinje.app import create_app
from vardlinje.db import Database
from vardlinje.migrate import upgrade
from vardlinje.procs import free_port
from vardlinje.settings import load_settings

from .ivr.test_ivr_call import Directory

pytestmark = pytest.mark.asterisk


GREETING = Prompt(text={"sv": "Välkommen till Vårdlinjen, sjukvårdsrådgivning dygnet runt."})
MENU = Menu.model_validate({"start": "hello", "nodes": {
    "hello": {"type": "play", "prompt": GREETING.model_dump(), "next": "bye"},
    "bye": {"type": "hangup"},
}})


def now() -> datetime:
    return datetime.now(UTC)


async def _no_sms(call_id: str, to: str, body: str) -> bool:
    return False


def greeting_directory() -> Directory:
    return Directory(menus={"01": MENU})


@pytest.fixture
async def app_db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path}/calls.db"
    upgrade(url)
    return Database.from_url(url)


async def _wait_ended(db: Database, timeout: float = 10) -> list:  # type: ignore[type-arg]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        done = await db.run(lambda s: [c for c in s.exec(calls.select(calls.Call)) if c.ended_at is not None])
        if done:
            return done
        await asyncio.sleep(0.1)
    raise AssertionError("no call record was closed")


@asynccontextmanager
async def prompt_server(asterisk: PrivateAsterisk, redis_url: str, app_db: Database) -> AsyncIterator[str]:
    """The app's own HTTP server, serving the rendered prompts as it does for an external Asterisk."""
    redis = Redis.from_url(redis_url)
    app = create_app(load_settings(), app_db, redis, prompt_dir=asterisk.sounds_dir)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/prompts"
    await runner.cleanup()
    await redis.aclose()


@pytest.mark.parametrize("media", ["file", "http"])
async def test_sipp_call_is_answered_greeted_and_ended(
    asterisk: PrivateAsterisk, redis_url: str, app_db: Database, media: str
) -> None:
    """A SIP call to 1177 lands in the Stasis app, is answered, hears the greeting to the end
    and is hung up by the app; sipp sees a clean call and the record has every step. With
    `http` the greeting is fetched from the app over HTTP by Asterisk's media cache, the way a
    production Asterisk outside our root plays our prompts."""
    async with AsyncExitStack() as stack:
        if media == "file":
            prefix = str(asterisk.config.sounds)
        else:
            prefix = await stack.enter_async_context(prompt_server(asterisk, redis_url, app_db))
        await _call_and_check(asterisk, redis_url, app_db, prefix)


async def _call_and_check(asterisk: PrivateAsterisk, redis_url: str, app_db: Database, prefix: str) -> None:
    prompts = PromptStore(asterisk.sounds_dir, prefix)
    uri = await asyncio.to_thread(prompts.uri_for, GREETING, "sv")
    assert uri.startswith(f"sound:{prefix}")
    greeting_len = duration_seconds(await asyncio.to_thread(prompts.render_text, GREETING, "sv"))
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                        asterisk.config.app_name)
        redis = Redis.from_url(redis_url)
        lease = LeaderLease(redis, f"test:leader:{asterisk.config.app_name}", "pytest", 10)
        handler = IvrHandler(ari, app_db, prompts, greeting_directory(), _no_sms, now)
        telephony = Telephony(ari, handler, lease)
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop))
        try:
            await asyncio.wait_for(ari.connected.wait(), 10)
            result = await asyncio.to_thread(
                place_call, asterisk.config.bind_address, asterisk.config.sip_port, "1177", hold_seconds=30
            )
            assert result.ok, f"sipp failed ({result.returncode}):\n{result.output}\n{result.errors}\n{asterisk.tail_log()}"
            ended = await _wait_ended(app_db)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await redis.aclose()
    call = ended[0]
    assert call.dialled_number == "1177"
    assert call.caller_number == "+46701234567"
    assert call.end_reason == "ended"
    evs = await app_db.run(lambda s: calls.events(s, call.id))
    kinds = [e.kind for e in evs]
    assert kinds == ["call.started", "stasis.started", "call.answered", "ivr.region", "ivr.outcome",
                     "call.ended"], kinds
    outcome = next(e for e in evs if e.kind == "ivr.outcome")
    assert outcome.data["kind"] == "hangup" and outcome.data["path"] == ["hello", "bye"]
    # sipp waited for the app's BYE, which came after the whole greeting was played.
    assert result.seconds > greeting_len, (result.seconds, greeting_len)
    if prefix.startswith("http"):
        assert uri.removeprefix("sound:") in asterisk.cli("media cache show all"), "Asterisk did not fetch it over HTTP"


async def test_caller_is_not_stranded_when_the_app_is_down(asterisk: PrivateAsterisk) -> None:
    """With no app connected, the dialplan retries Stasis, then plays the technical-problem
    messages and hangs up cleanly: the caller is never left in silence."""
    result = await asyncio.to_thread(
        place_call, asterisk.config.bind_address, asterisk.config.sip_port, "1177", hold_seconds=60
    )
    assert result.ok, f"sipp failed ({result.returncode}):\n{result.output}\n{result.errors}"
    prompts = PromptStore(asterisk.sounds_dir, str(asterisk.config.sounds))
    spoken = duration_seconds(prompts.file("fallback-retry")) + duration_seconds(prompts.file("fallback-final"))
    # Retries (about one second each) plus both messages: far longer than an immediate hang-up.
    assert result.seconds > asterisk.config.stasis_retries + spoken - 1, (result.seconds, spoken)
    log = asterisk.log_file.read_text(errors="replace")
    assert "Vardlinje app unavailable" in log
