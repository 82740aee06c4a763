"""The IVR on the real Asterisk: sipp callers press keys (SIP INFO) and reach the queue with
the expected skills, the SMS option, the daytime branch at night, a keyed-in region, the
fallback after wrong keys, and hang up mid-menu without an error."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlmodel import select

from calls import service as calls
from calls.models import Call
from ivr.calls import IvrHandler
from ivr.flow import FlowEnv
from ivr.model import Menu, Prompt
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from .test_flow import MENU, Env

pytestmark = pytest.mark.asterisk


@dataclass
class Directory:
    pharmacy_open: bool = True
    menus: dict[str, Menu] = field(default_factory=lambda: {"01": Menu.model_validate(MENU)})

    def resolve(self, dialled: str, caller: str) -> str | None:
        # Callers from Gothenburg's area code are "unknown" here, to exercise keying in a region.
        return None if caller.startswith("+4631") else "01"

    def region_for_code(self, digits: str) -> str | None:
        return digits if digits in {"01", "12", "14"} else None

    def menu(self, region: str) -> Menu:
        return self.menus["01"]

    def env(self, region: str) -> FlowEnv:
        return Env(self.pharmacy_open)

    def version(self, region: str) -> int | None:
        return 7

    def region_prompt(self) -> tuple[Prompt, Prompt | None, float, int]:
        return Prompt(text={"sv": "Knappa in länskoden"}), None, 4.0, 2


@dataclass
class Rig:
    asterisk: PrivateAsterisk
    db: Database
    directory: Directory
    sms: list[tuple[str, str]]

    async def call(self, caller: str, keys: list[tuple[float, str]], *, hang_up_after: float | None = None,
                   hold_seconds: float = 60) -> Call:
        result = await asyncio.to_thread(
            place_call, "127.0.0.1", self.asterisk.config.sip_port, "1177", caller=caller, keys=keys,
            hang_up_after=hang_up_after, hold_seconds=hold_seconds)
        assert result.ok, f"sipp: {result.errors or result.output}\n{self.asterisk.tail_log(20)}"
        for _ in range(100):
            done = await self.db.run(lambda s: [c for c in s.exec(select(Call)) if c.ended_at is not None])
            if done:
                return sorted(done, key=lambda c: c.started_at)[-1]
            await asyncio.sleep(0.1)
        raise AssertionError("the call record was not closed")

    async def events(self, call: Call) -> dict[str, list[dict[str, object]]]:
        evs = await self.db.run(lambda s: calls.events(s, call.id))
        out: dict[str, list[dict[str, object]]] = {}
        for e in evs:
            out.setdefault(e.kind, []).append(e.data)
        return out


@pytest.fixture
async def rig(asterisk: PrivateAsterisk, redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path}/ivr.db"
    upgrade(url)
    db = Database.from_url(url)
    directory = Directory()
    sent: list[tuple[str, str]] = []

    async def send_sms(call_id: str, to: str, body: str) -> bool:
        sent.append((to, body))
        return True

    # Region 01's recordings: a 16 kHz file as a studio would deliver it, converted on first use.
    recordings = tmp_path / "config" / "recordings" / "01"
    recordings.mkdir(parents=True)
    await asyncio.to_thread(subprocess.run, ["espeak-ng", "-v", "sv", "-w", str(recordings / "hej.wav"), "--stdin"],
                            input=b"Hej hej", check=True, capture_output=True)
    prompts = PromptStore(asterisk.sounds_dir, str(asterisk.config.sounds), config_dir=tmp_path / "config")
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                        asterisk.config.app_name)
        redis = Redis.from_url(redis_url)
        handler = IvrHandler(ari, db, prompts, directory, send_sms, lambda: datetime.now(UTC))
        telephony = Telephony(ari, handler, LeaderLease(redis, f"ivr-test:{tmp_path.name}", "t", 10))
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop))
        await asyncio.wait_for(ari.connected.wait(), 10)
        yield Rig(asterisk, db, directory, sent)
        stop.set()
        await asyncio.wait_for(task, 15)
        await redis.aclose()
    db.dispose()


async def test_child_option_reaches_the_queue_with_child_skills(rig: Rig) -> None:
    """Keys 1 (svenska) and 2 (barn) reach the child queue with its skills; the caller waits
    with announcements and hangs up; the record has the region, the path and the request."""
    call = await rig.call("+46812345678", [(1.5, "1"), (1.5, "2")], hang_up_after=4)
    ev = await rig.events(call)
    assert call.region_id == "01"
    request = ev["queue.entered"][0]
    assert request["skills"] == {"triage": 1, "barn": 2} and request["priority"] == 4
    assert request["queue"] == "barn" and request["language"] == "sv" and request["config_version"] == 7
    assert ev["ivr.outcome"][0]["kind"] == "queue"
    assert [d["digit"] for d in ev["dtmf"]] == ["1", "2"]
    assert ev["call.ended"][0]["reason"] == "ended"


async def test_sms_option_sends_the_chat_link_and_hangs_up(rig: Rig) -> None:
    """Key 9 sends the chat link to the caller's mobile, confirms by voice and hangs up."""
    call = await rig.call("+46701234567", [(1.5, "1"), (1.5, "9")])
    assert rig.sms == [("+46701234567", "chat:chat:sv")]
    ev = await rig.events(call)
    assert ev["ivr.outcome"][0]["kind"] == "hangup"
    assert "sms:chat:sent" in ev["ivr.outcome"][0]["path"]  # type: ignore[operator]


async def test_daytime_option_is_not_offered_at_night(rig: Rig) -> None:
    """With the pharmacy closed, key 3 is not an option at night: it is refused, and the
    caller's next choice (1) reaches the adult queue."""
    rig.directory.pharmacy_open = False
    call = await rig.call("+46812345678", [(1.5, "1"), (1.5, "3"), (1.5, "1")], hang_up_after=3)
    ev = await rig.events(call)
    assert ev["queue.entered"][0]["queue"] == "advice"
    path = ev["queue.entered"][0]["menu_path"]
    assert "main_day" not in path and path[-3:] == ["main_night=invalid", "main_night=1", "adult"], path


async def test_unknown_caller_keys_in_the_region(rig: Rig) -> None:
    """A caller from an unknown number is asked for the county code and keys in 1 4 #."""
    call = await rig.call("+4631999999", [(1.5, "1"), (0.3, "4"), (0.3, "#"), (1.5, "1"), (1.5, "1")],
                          hang_up_after=3)
    assert call.region_id == "14"
    ev = await rig.events(call)
    assert ev["ivr.region"][0] == {"region": "14", "how": "keyed"}


async def test_wrong_keys_retry_then_fallback(rig: Rig) -> None:
    """A wrong key and then silence use up the retries; the call falls back to the adult queue."""
    call = await rig.call("+46812345678", [(1.5, "1"), (1.5, "7")], hang_up_after=16)
    ev = await rig.events(call)
    path = ev["queue.entered"][0]["menu_path"]
    assert path[-3:] == ["main_day=invalid", "main_day=timeout", "adult"], path


async def test_caller_hangs_up_mid_menu(rig: Rig) -> None:
    """Hanging up during the menu is no error: the record says where and is closed."""
    call = await rig.call("+46812345678", [], hang_up_after=2)
    ev = await rig.events(call)
    assert "ivr.caller_left" in ev and "app.failed" not in ev
    assert call.end_reason == "ended"


async def test_failed_transfer_goes_to_a_nurse(rig: Rig) -> None:
    """With no trunk the pharmacist transfer cannot be made: the caller hears so and is
    queued for a nurse of the region instead of being cut off."""
    call = await rig.call("+46812345678", [(1.5, "1"), (1.5, "3")], hang_up_after=14)
    ev = await rig.events(call)
    assert ev["ivr.outcome"][0]["kind"] == "transfer" and ev["ivr.outcome"][0]["number"] == "+46771467010"
    path = ev["queue.entered"][0]["menu_path"]
    assert path[0] == "hello" and path[-2:] == ["pharmacist", "transfer-failed"], path
    assert ev["queue.entered"][0]["region"] == "01" and ev["queue.entered"][0]["language"] == "sv"
    # One contact, one record, closed once, when the caller finally hung up in the queue.
    assert ev["stasis.ended"][0] == {"to": "transfer"} and len(ev["call.ended"]) == 1
    kinds = [k for k in ev]
    assert kinds.index("queue.entered") < kinds.index("call.ended")


async def test_a_failing_menu_sends_the_caller_to_the_safe_path(rig: Rig) -> None:
    """A menu that cannot run (a bug) sends the caller to the dialplan's safe path: the
    technical-problem message, one more try (which fails again), the final advice, hang-up.
    The record shows both failures and is closed once, as `fallback`."""
    def broken(region: str) -> Menu:
        raise RuntimeError("menu bug")

    rig.directory.menu = broken  # type: ignore[method-assign]
    call = await rig.call("+46812345678", [], hold_seconds=60)
    ev = await rig.events(call)
    assert [f["to"] for f in ev["app.failed"]] == ["vardlinje-fallback,s", "vardlinje-fallback,final"]
    assert call.end_reason == "fallback" and len(ev["call.ended"]) == 1
    log = rig.asterisk.log_file.read_text(errors="replace")
    assert "fallback-final" in log


async def test_a_region_recording_is_played(rig: Rig) -> None:
    """A prompt given as a recording plays the region's own file (converted for Asterisk)."""
    rig.directory.menus["01"] = Menu.model_validate({"start": "hello", "nodes": {
        "hello": {"type": "play", "prompt": {"recording": "hej.wav"}, "next": "bye"},
        "bye": {"type": "hangup"}}})
    call = await rig.call("+46812345678", [])
    ev = await rig.events(call)
    assert ev["ivr.outcome"][0]["path"] == ["hello", "bye"]
    assert "sounds/rec/01/hej" in rig.asterisk.log_file.read_text(errors="replace")
