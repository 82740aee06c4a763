"""Offer and answer on the real Asterisk 22: a sipp caller walks a tiny menu to the queue, the
routing engine offers the call to a READY nurse, her phone (a sipp UAS registered to her pushed UDP
endpoint) rings and answers, caller and nurse share a mixing bridge; hang-ups end both legs.
A phone that never answers is the ring-no-answer path."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from redis.asyncio import Redis
from sqlmodel import select

from agents import provision
from agents.presence import PauseReason, State
from calls import service as calls
from calls.models import Call
from ivr.calls import IvrHandler
from ivr.flow import FlowEnv
from ivr.model import Menu, Prompt
from ivr.waiting import Play
from routing.asterisk import OfferDriver
from routing.engine import RoutingEngine
from routing.handler import RoutedCallHandler
from routing.memory import MemoryStore
from routing.model import NurseState, RoutingRules
from routing.router import EngineRouter
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import PHONE_ANSWERS, PHONE_NEVER_ANSWERS, PHONE_REGISTER, place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from ..agents.test_provision import FakeNurse
from ..ivr.test_flow import Env

pytestmark = pytest.mark.asterisk

PHONE_IP = "127.0.0.2"  # see tests/agents/test_provision.py

MENU = yaml.safe_load("""
start: main
nodes:
  main:
    type: menu
    prompt: {sv: "Tryck 1"}
    options: {1: {next: adult}}
    fallback: adult
  adult: {type: queue, skills: {triage: 1}, priority: 5}
""")



@dataclass
class Directory:
    """Every call is Stockholm's and walks `menu_data` (the transfer tests pass a menu with more queues)."""

    menu_data: dict[str, Any] = field(default_factory=lambda: MENU)

    def resolve(self, dialled: str, caller: str) -> str | None:
        return "01"

    def region_for_code(self, digits: str) -> str | None:
        return None

    def menu(self, region: str) -> Menu:
        return Menu.model_validate(self.menu_data)

    def env(self, region: str) -> FlowEnv:
        return Env(True)

    def version(self, region: str) -> int | None:
        return 1

    def region_prompt(self) -> tuple[Prompt, Prompt | None, float, int]:
        return Prompt(text={"sv": "Knappa in länskoden"}), None, 4.0, 0




def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


class NursePhone:
    """A sipp process playing the nurse's phone: registered first, then a UAS on the same address."""

    def __init__(self, sipp: str, sip_port: int, tmp: Path, nurse: FakeNurse | None = None) -> None:
        self.sipp, self.sip_port, self.tmp = sipp, sip_port, tmp
        self.nurse = nurse or FakeNurse(f"nurse-o{secrets.token_hex(4)}", secrets.token_urlsafe(24))
        self.port = _free_port(PHONE_IP)
        self.proc: subprocess.Popen[str] | None = None

    def _cmd(self, script: Path, *extra: str) -> list[str]:
        return [self.sipp, f"127.0.0.1:{self.sip_port}", "-sf", str(script), "-m", "1", "-l", "1",
                "-i", PHONE_IP, "-p", str(self.port), "-mp", str(_free_port(PHONE_IP)), "-nostdin",
                "-trace_err", "-error_file", str(self.tmp / f"{script.stem}-errors.log"), *extra]

    def register(self) -> None:
        script = self.tmp / "register.xml"
        script.write_text(PHONE_REGISTER.format(user=self.nurse.endpoint, password=self.nurse.sip_secret))
        done = subprocess.run(self._cmd(script, "-timeout", "20s", "-timeout_error"), capture_output=True,
                              text=True, timeout=60, cwd=self.tmp)
        assert done.returncode == 0, f"REGISTER failed:\n{done.stdout[-2000:]}\n{done.stderr}"

    def listen(self, scenario: str) -> None:
        script = self.tmp / "phone.xml"
        script.write_text(scenario)
        self.proc = subprocess.Popen(self._cmd(script, "-timeout", "90s", "-timeout_error"), cwd=self.tmp,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -1

    def errors(self) -> str:
        path = self.tmp / "phone-errors.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@dataclass
class Rig:
    asterisk: PrivateAsterisk
    ari: AriClient
    db: Database
    store: MemoryStore
    driver: OfferDriver
    phone: NursePhone
    calls: RoutedCallHandler

    async def ready_nurse(self) -> None:
        now = datetime.now(UTC)
        await self.store.upsert_nurse(NurseState(nurse_id=self.phone.nurse.endpoint, home_region="01",
                                                 skills={"triage": 2}, state=State.READY, since=now))

    async def events(self, call: Call) -> dict[str, list[dict[str, Any]]]:
        evs = await self.db.run(lambda s: calls.events(s, call.id))
        out: dict[str, list[dict[str, Any]]] = {}
        for e in evs:
            out.setdefault(e.kind, []).append(e.data)
        return out

    async def closed_call(self) -> Call:
        for _ in range(100):
            done = await self.db.run(lambda s: [c for c in s.exec(select(Call)) if c.ended_at is not None])
            if done:
                return sorted(done, key=lambda c: c.started_at)[-1]
            await asyncio.sleep(0.1)
        raise AssertionError("the call record was not closed")


@pytest.fixture
async def rig(asterisk: PrivateAsterisk, redis_url: str, sipp: str, tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path}/offer.db"
    upgrade(url)
    db = Database.from_url(url)
    prompts = PromptStore(asterisk.sounds_dir, str(asterisk.config.sounds))
    phone = NursePhone(sipp, asterisk.config.sip_port, tmp_path)

    async def send_sms(call_id: str, to: str, body: str) -> bool:
        return True

    def clock() -> datetime:
        return datetime.now(UTC)

    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password,
                        asterisk.config.app_name)
        store = MemoryStore()
        engine = RoutingEngine(store, RoutingRules())
        routers: list[EngineRouter] = []

        def make_router(player_for: Callable[[str], Play | None]) -> EngineRouter:
            router = EngineRouter(engine, db, clock, player_for)
            routers.append(router)
            return router

        def endpoint_for(nurse_id: str) -> str | None:
            return nurse_id  # in this rig the nurse id is her endpoint name

        handler = IvrHandler(ari, db, prompts, Directory(), send_sms, clock, router=make_router)
        driver = OfferDriver(ari, engine, routers[0], db, clock, endpoint_for, ring_seconds=4)
        routed = RoutedCallHandler(handler, driver)
        await provision.push(ari, phone.nurse, "udp")
        await asyncio.to_thread(phone.register)
        redis = Redis.from_url(redis_url)
        telephony = Telephony(ari, routed, LeaderLease(redis, f"offer-test:{tmp_path.name}", "t", 10))
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop))
        await asyncio.wait_for(ari.connected.wait(), 10)
        yield Rig(asterisk, ari, db, store, driver, phone, routed)
        stop.set()
        await asyncio.wait_for(task, 15)
        await redis.aclose()
        if phone.proc is not None and phone.proc.poll() is None:
            phone.proc.kill()
            phone.proc.wait()
        await provision.remove(ari, phone.nurse.endpoint)
    db.dispose()


async def _bridges_with(ari: AriClient, channels: int, seconds: float) -> list[dict[str, Any]]:
    for _ in range(int(seconds * 10)):
        bridges = [b for b in await ari.request("GET", "/bridges") if len(b["channels"]) == channels]
        if bridges:
            return bridges
        await asyncio.sleep(0.1)
    return []


async def test_ready_nurse_answers_and_is_bridged_with_the_caller(rig: Rig) -> None:
    """The caller keys 1 into the queue; the READY nurse's phone rings and answers; one mixing
    bridge holds the caller and the nurse; the caller hangs up after a while and both legs end."""
    await rig.ready_nurse()
    rig.phone.listen(PHONE_ANSWERS)
    caller = asyncio.create_task(asyncio.to_thread(
        place_call, "127.0.0.1", rig.asterisk.config.sip_port, "1177", caller="+46812345678",
        keys=[(1.5, "1")], hang_up_after=20))  # room for the prompts on a busy CI machine
    bridges = await _bridges_with(rig.ari, 2, 20)
    assert bridges, f"no bridge with two channels\n{rig.asterisk.tail_log(30)}"
    assert bridges[0]["bridge_type"] == "mixing"
    result = await caller
    assert result.ok, f"sipp caller: {result.errors or result.output}"
    assert await asyncio.to_thread(rig.phone.wait, 20) == 0, f"nurse phone: {rig.phone.errors()}"
    call = await rig.closed_call()
    ev = await rig.events(call)
    assert ev["offer.started"][0]["nurse"] == rig.phone.nurse.endpoint
    assert "offer.answered" in ev and "call.bridged" in ev and "offer.missed" not in ev
    nurse_channel = ev["call.bridged"][0]["nurse_channel"]
    assert set(bridges[0]["channels"]) == {call.channel_id, nurse_channel}
    channels = [c["id"] for c in await rig.ari.request("GET", "/channels")]
    assert call.channel_id not in channels and nurse_channel not in channels
    nurse = await rig.store.get_nurse(rig.phone.nurse.endpoint)
    assert nurse is not None and nurse.state is State.WRAP_UP


async def test_phone_that_never_answers_is_a_missed_offer(rig: Rig) -> None:
    """The nurse's phone rings past the ring-no-answer time: the offer is missed, the nurse is
    paused with "missed offer", the caller stays queued (no bridge) until hanging up."""
    await rig.ready_nurse()
    rig.phone.listen(PHONE_NEVER_ANSWERS)
    result = await asyncio.to_thread(
        place_call, "127.0.0.1", rig.asterisk.config.sip_port, "1177", caller="+46812345678",
        keys=[(1.5, "1")], hang_up_after=10)
    assert result.ok, f"sipp caller: {result.errors or result.output}"
    assert await asyncio.to_thread(rig.phone.wait, 20) == 0, f"nurse phone: {rig.phone.errors()}"
    call = await rig.closed_call()
    ev = await rig.events(call)
    assert "offer.started" in ev and "offer.missed" in ev and "call.bridged" not in ev, ev.keys()
    assert ev["offer.missed"][0]["why"] == "User alerting, no answer"  # the originate timeout (cause 19)
    nurse = await rig.store.get_nurse(rig.phone.nurse.endpoint)
    assert nurse is not None and nurse.state is State.PAUSED and nurse.reason is PauseReason.MISSED_OFFER
    assert await rig.store.get_call(call.id) is None  # the caller left: out of the queue


async def test_caller_hanging_up_while_the_nurse_rings_cancels_the_offer(rig: Rig) -> None:
    """The caller gives up while the nurse's phone rings: her leg is cancelled (the phone gets a
    CANCEL), the offer is no miss, and she is READY again for the next call."""
    rig.driver.ring_seconds = lambda _nurse: 30
    await rig.ready_nurse()
    rig.phone.listen(PHONE_NEVER_ANSWERS)
    result = await asyncio.to_thread(
        place_call, "127.0.0.1", rig.asterisk.config.sip_port, "1177", caller="+46812345678",
        keys=[(1.5, "1")], hang_up_after=5)
    assert result.ok, f"sipp caller: {result.errors or result.output}"
    assert await asyncio.to_thread(rig.phone.wait, 20) == 0, f"nurse phone: {rig.phone.errors()}"
    call = await rig.closed_call()
    ev = await rig.events(call)
    assert "offer.started" in ev and ev["offer.cancelled"][0]["why"] == "caller left", ev.keys()
    assert "offer.missed" not in ev and "call.bridged" not in ev
    nurse = await rig.store.get_nurse(rig.phone.nurse.endpoint)
    assert nurse is not None and nurse.state is State.READY
    assert await rig.store.get_call(call.id) is None


async def test_a_bridged_call_survives_a_change_of_leader(rig: Rig) -> None:
    """Leadership moves while caller and nurse talk: the call handler stands down (no channel is
    touched), the next leader's resync adopts the bridge instead of taking the caller back into the
    menu, and when the caller hangs up the nurse's leg is ended, the record closed and her wrap-up starts."""
    await rig.ready_nurse()
    rig.phone.listen(PHONE_ANSWERS)
    caller = asyncio.create_task(asyncio.to_thread(
        place_call, "127.0.0.1", rig.asterisk.config.sip_port, "1177", caller="+46812345678",
        keys=[(1.5, "1")], hang_up_after=12))
    bridges = await _bridges_with(rig.ari, 2, 12)
    assert bridges, f"no bridge with two channels\n{rig.asterisk.tail_log(30)}"

    await rig.calls.stand_down()
    assert (await _bridges_with(rig.ari, 2, 1)), "standing down must leave the bridged call alone"
    await rig.calls.resync(await rig.ari.channels())
    assert len(rig.driver.by_caller_channel) == 1, "the bridged caller is adopted by routing"
    assert not rig.calls.ivr.calls, "the IVR must not take a talking caller back into the menu"

    result = await caller
    assert result.ok, f"sipp caller: {result.errors or result.output}"
    assert await asyncio.to_thread(rig.phone.wait, 20) == 0, f"nurse phone: {rig.phone.errors()}"
    call = await rig.closed_call()
    ev = await rig.events(call)
    assert ev["call.hung_up"][-1]["by"] == "caller"
    assert len(ev["stasis.started"]) == 1, "the menu was not started again"
    nurse = await rig.store.get_nurse(rig.phone.nurse.endpoint)
    assert nurse is not None and nurse.state is State.WRAP_UP
