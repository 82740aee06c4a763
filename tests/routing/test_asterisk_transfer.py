"""Transfer and hold on the real Asterisk 22: a sipp caller keys into the queue, nurse A's sipp phone answers
and is bridged with the caller, then A transfers the call — to a skill queue, to a named nurse B, to an
external number (no trunk here: the caller hears that the transfer failed and is queued again). B's sipp
phone rings and answers; A's leg is hung up and she is in wrap-up. A's phone putting the caller on hold
(re-INVITE with a=sendonly, as JsSIP does) is recorded from ARI's ChannelHold/ChannelUnhold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
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
from ivr.waiting import Play
from routing.asterisk import OfferDriver
from routing.control import CallControl, Transferred
from routing.engine import RoutingEngine
from routing.handler import RoutedCallHandler
from routing.memory import MemoryStore
from routing.model import NurseState, RoutingRules
from routing.router import EngineRouter
from routing.transfer import Refusal
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import _REPLY_HEADERS, PHONE_ANSWERS, PHONE_NEVER_ANSWERS, SippResult, place_call
from vardlinje.db import Database
from vardlinje.migrate import upgrade

from .test_asterisk_offer import PHONE_IP, Directory, NursePhone, _free_port

pytestmark = pytest.mark.asterisk

MENU = yaml.safe_load("""
start: main
nodes:
  main:
    type: menu
    prompt: {sv: "Tryck 1"}
    options: {1: {next: adult}, 2: {next: child}}
    fallback: adult
  adult: {type: queue, skills: {triage: 1}, priority: 5}
  child: {type: queue, queue: barn, skills: {barn: 2}, priority: 3}
""")

# Nurse A answers, talks, puts the caller on hold and takes them back (re-INVITEs a=sendonly, then sendrecv, as
# JsSIP's hold does), then waits for the BYE. The re-INVITEs go in the dialog Asterisk opened: From is the
# INVITE's To with our tag, To is its From (with Asterisk's tag), the request URI is Asterisk's Contact.
_REINVITE = """  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      INVITE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to];tag=[pid]SIPpTag01[call_number]
      To: [$from]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=nurse 1 {version} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a={direction}

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to];tag=[pid]SIPpTag01[call_number]
      To: [$from]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

PHONE_HOLDS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Vardlinje nurse phone: answers, holds, resumes, waits for the BYE">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^.*$" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp="^[^;]*" search_in="hdr" header="To:" assign_to="to"/>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
{_REPLY_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
{_REPLY_HEADERS}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=nurse 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
{_REINVITE.format(pause=9000, cseq=1, version=2, direction="sendonly")}
{_REINVITE.format(pause=3000, cseq=2, version=3, direction="sendrecv")}
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


class Phone(NursePhone):
    """A nurse phone with its own sipp control port (two phones run at once here)."""

    def _cmd(self, script: Path, *extra: str) -> list[str]:
        return super()._cmd(script, "-cp", str(_free_port(PHONE_IP)), *extra)


@dataclass
class Rig:
    asterisk: PrivateAsterisk
    ari: AriClient
    db: Database
    store: MemoryStore
    driver: OfferDriver
    control: CallControl
    a: Phone
    b: Phone

    async def ready(self, phone: Phone, skills: dict[str, int], state: State = State.READY) -> None:
        await self.store.upsert_nurse(NurseState(nurse_id=phone.nurse.endpoint, home_region="01", skills=skills,
                                                 state=state, since=datetime.now(UTC),
                                                 reason=PauseReason.BREAK if state is State.PAUSED else None))

    async def state(self, phone: Phone) -> State:
        nurse = await self.store.get_nurse(phone.nurse.endpoint)
        assert nurse is not None
        return nurse.state

    async def the_call(self) -> Call:
        found = await self.db.run(lambda s: list(s.exec(select(Call))))
        assert len(found) == 1, found
        return found[0]

    async def events(self) -> dict[str, list[dict[str, Any]]]:
        call = await self.the_call()
        evs = await self.db.run(lambda s: calls.events(s, call.id))
        out: dict[str, list[dict[str, Any]]] = {}
        for e in evs:
            out.setdefault(e.kind, []).append(e.data)
        return out

    def call_in(self, keys: str = "1", hang_up_after: float = 24) -> asyncio.Task[SippResult]:
        return asyncio.create_task(asyncio.to_thread(
            place_call, "127.0.0.1", self.asterisk.config.sip_port, "1177", caller="+46812345678",
            keys=[(1.5, keys)], hang_up_after=hang_up_after))

    async def bridged_with(self, phone: Phone, seconds: float = 15) -> dict[str, Any]:
        """Wait until the call's bridge holds the caller and `phone`'s leg; the bridge."""
        endpoint = phone.nurse.endpoint
        for _ in range(int(seconds * 10)):
            offer = next((o for o in self.driver.offers.values() if o.nurse_id == endpoint and o.state == "bridged"),
                         None)
            if offer is not None:
                bridges = [b for b in await self.ari.request("GET", "/bridges") if b["id"] == offer.bridge_id]
                if bridges and set(bridges[0]["channels"]) == {offer.caller_channel, offer.nurse_channel}:
                    return dict(bridges[0])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no bridge with {endpoint}\n{self.asterisk.tail_log(30)}")


async def until(check: Callable[[], Any], seconds: float = 10) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def rig(asterisk: PrivateAsterisk, redis_url: str, sipp: str, tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path}/transfer.db"
    upgrade(url)
    db = Database.from_url(url)
    prompts = PromptStore(asterisk.sounds_dir, str(asterisk.config.sounds))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Phone(sipp, asterisk.config.sip_port, tmp_path / "a")
    b = Phone(sipp, asterisk.config.sip_port, tmp_path / "b")

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
            routers.append(EngineRouter(engine, db, clock, player_for))
            return routers[0]

        handler = IvrHandler(ari, db, prompts, Directory(MENU), send_sms, clock, router=make_router)
        driver = OfferDriver(ari, engine, routers[0], db, clock, lambda nurse_id: nurse_id, ring_seconds=4)
        routed = RoutedCallHandler(handler, driver)
        for phone in (a, b):
            await provision.push(ari, phone.nurse, "udp")
            await asyncio.to_thread(phone.register)
        redis = Redis.from_url(redis_url)
        telephony = Telephony(ari, routed, LeaderLease(redis, f"transfer-test:{tmp_path.name}", "t", 10))
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop))
        await asyncio.wait_for(ari.connected.wait(), 10)
        yield Rig(asterisk, ari, db, store, driver, CallControl(routed), a, b)
        stop.set()
        await asyncio.wait_for(task, 15)
        await redis.aclose()
        for phone in (a, b):
            if phone.proc is not None and phone.proc.poll() is None:
                phone.proc.kill()
                phone.proc.wait()
            await provision.remove(ari, phone.nurse.endpoint)
    db.dispose()


async def _finish(rig: Rig, caller: asyncio.Task[SippResult], *phones: Phone) -> None:
    result = await caller
    assert result.ok, f"sipp caller: {result.errors or result.output}"
    for phone in phones:
        assert await asyncio.to_thread(phone.wait, 20) == 0, f"nurse phone: {phone.errors()}"


async def test_transfer_to_a_skill_queue_rings_the_nurse_with_the_skills(rig: Rig) -> None:
    """A transfers the call to the child queue (barn 2): the caller leaves her bridge and is routed again with
    the queue's skills; B (the only nurse with barn 2) rings, answers and is bridged with the caller; A's leg
    is hung up and she is in wrap-up; the record says call.transferred with the queue; the caller's first
    queue entry is kept."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_ANSWERS)
    rig.b.listen(PHONE_ANSWERS)
    caller = rig.call_in()
    await rig.bridged_with(rig.a)
    await rig.ready(rig.b, {"triage": 2, "barn": 2})
    call = await rig.the_call()
    entered = rig.driver.router.entered_at(call.id)

    targets = await rig.control.targets(rig.a.nurse.endpoint)
    assert not isinstance(targets, Refusal), targets
    assert [q.id for q in targets.queues] == ["adult", "child"]
    done = await rig.control.transfer(rig.a.nurse.endpoint, "queue", "child")
    assert isinstance(done, Transferred), done
    assert await rig.state(rig.a) is State.WRAP_UP

    bridge = await rig.bridged_with(rig.b)
    assert call.channel_id in bridge["channels"]
    assert await rig.state(rig.b) is State.ON_CALL
    assert rig.driver.router.entered_at(call.id) == entered
    request = rig.driver.router.request_for(call.id)
    assert request is not None and request.skills == {"barn": 2} and request.priority == 3
    await _finish(rig, caller, rig.a, rig.b)
    ev = await rig.events()
    assert ev["call.transferred"] == [{"nurse": rig.a.nurse.endpoint, "kind": "queue", "queue": "child",
                                       "skills": {"barn": 2}, "priority": 3}]
    assert [e["nurse"] for e in ev["offer.answered"]] == [rig.a.nurse.endpoint, rig.b.nurse.endpoint]
    assert ev["call.hung_up"][-1] == {"nurse": rig.b.nurse.endpoint, "by": "caller"}


async def test_transfer_to_a_named_nurse(rig: Rig) -> None:
    """A names B: B's phone rings at once (no other ready nurse is asked) and is bridged with the caller; the
    offer was through the transfer; A is in wrap-up."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_ANSWERS)
    rig.b.listen(PHONE_ANSWERS)
    caller = rig.call_in()
    await rig.bridged_with(rig.a)
    await rig.ready(rig.b, {"triage": 1})  # fewer skills than the call asked: she is chosen by name
    targets = await rig.control.targets(rig.a.nurse.endpoint)
    assert not isinstance(targets, Refusal)
    assert [n.nurse_id for n in targets.ready] == [rig.b.nurse.endpoint]

    done = await rig.control.transfer(rig.a.nurse.endpoint, "nurse", rig.b.nurse.endpoint)
    assert isinstance(done, Transferred), done
    assert await rig.state(rig.a) is State.WRAP_UP
    await rig.bridged_with(rig.b)
    await _finish(rig, caller, rig.a, rig.b)
    ev = await rig.events()
    assert ev["call.transferred"][0]["to"] == rig.b.nurse.endpoint
    assert [e["nurse"] for e in ev["offer.started"]] == [rig.a.nurse.endpoint, rig.b.nurse.endpoint]


async def test_named_nurse_not_ready_leaves_the_call_with_her(rig: Rig) -> None:
    """B is paused: the transfer is refused with 409 and a Swedish message; nothing changes — the caller and
    A stay in the same bridge, A stays on the call, B's phone never rings."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_ANSWERS)
    caller = rig.call_in(hang_up_after=14)
    before = await rig.bridged_with(rig.a)
    await rig.ready(rig.b, {"triage": 2}, State.PAUSED)
    refused = await rig.control.transfer(rig.a.nurse.endpoint, "nurse", rig.b.nurse.endpoint)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (409, "nurse_not_ready"), refused
    assert refused.detail.startswith(f"{rig.b.nurse.endpoint} är inte redo")
    after = await rig.bridged_with(rig.a, 1)
    assert after["id"] == before["id"] and set(after["channels"]) == set(before["channels"])
    assert await rig.state(rig.a) is State.ON_CALL and await rig.state(rig.b) is State.PAUSED
    await _finish(rig, caller, rig.a)
    ev = await rig.events()
    assert "call.transferred" not in ev and len(ev["offer.started"]) == 1


async def test_named_nurse_who_does_not_answer_sends_the_call_back_to_the_queue(rig: Rig) -> None:
    """B is named but her phone rings out: the offer is missed (noted as a transfer's), and the call waits
    in the queue again with its original skills — not back to A, who is in wrap-up — until the caller gives up."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_ANSWERS)
    rig.b.listen(PHONE_NEVER_ANSWERS)
    caller = rig.call_in(hang_up_after=20)
    await rig.bridged_with(rig.a)
    await rig.ready(rig.b, {"triage": 2})
    call = await rig.the_call()
    done = await rig.control.transfer(rig.a.nurse.endpoint, "nurse", rig.b.nurse.endpoint)
    assert isinstance(done, Transferred), done

    async def missed() -> bool:
        return (await rig.store.get_call(call.id)) is not None and await rig.store.get_offer(call.id) is None

    await until(missed, 8)
    waiting = await rig.store.get_call(call.id)
    assert waiting is not None and dict(waiting.skills) == {"triage": 1}
    assert await rig.state(rig.a) is State.WRAP_UP and await rig.state(rig.b) is State.PAUSED
    await _finish(rig, caller, rig.a, rig.b)
    ev = await rig.events()
    assert ev["offer.missed"] == [{"nurse": rig.b.nurse.endpoint, "why": "User alerting, no answer",
                                   "transferred_by": rig.a.nurse.endpoint}]


async def test_external_transfer_without_a_trunk_comes_back_to_the_queue(rig: Rig) -> None:
    """A sends the caller to +46771117700. This Asterisk has no trunk: the dialplan tells the caller the
    transfer failed and returns them to the app (`transfer-failed`), which queues them for a nurse of the
    region — B answers. A's leg is hung up at the transfer and she is in wrap-up."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_ANSWERS)
    rig.b.listen(PHONE_ANSWERS)
    caller = rig.call_in(hang_up_after=30)
    await rig.bridged_with(rig.a)
    refused = await rig.control.transfer(rig.a.nurse.endpoint, "external", "0771117700")
    assert isinstance(refused, Refusal) and refused.error == "bad_number"
    await rig.ready(rig.b, {"triage": 2})
    done = await rig.control.transfer(rig.a.nurse.endpoint, "external", "+46 771 11 77 00")
    assert isinstance(done, Transferred) and done.target == "+46771117700", done
    assert await rig.state(rig.a) is State.WRAP_UP
    await rig.bridged_with(rig.b, 15)
    await _finish(rig, caller, rig.a, rig.b)
    ev = await rig.events()
    assert ev["call.transferred"] == [{"nurse": rig.a.nurse.endpoint, "kind": "external", "number": "+46771117700"}]
    assert ev["stasis.ended"][0] == {"to": "transfer"}
    assert [e["args"] for e in ev["stasis.started"]][-1] == ["transfer-failed"]
    assert len(ev["queue.entered"]) == 2 and ev["queue.entered"][-1]["menu_path"][-1] == "transfer-failed"
    assert ev["offer.answered"][-1]["nurse"] == rig.b.nurse.endpoint


async def test_nurse_hold_is_recorded_and_the_caller_stays_bridged(rig: Rig) -> None:
    """A's phone puts the caller on hold (re-INVITE a=sendonly) and takes them back (sendrecv): the record
    gets call.held then call.unheld from ARI's ChannelHold/ChannelUnhold of her leg; the bridge stays."""
    await rig.ready(rig.a, {"triage": 2})
    rig.a.listen(PHONE_HOLDS)
    caller = rig.call_in(hang_up_after=22)
    before = await rig.bridged_with(rig.a)

    async def held_and_back() -> bool:
        ev = await rig.events()
        return "call.held" in ev and "call.unheld" in ev

    await until(held_and_back, 20)
    # chan_pjsip turned her hold into a hold indication on the caller's side of the bridge: Asterisk starts
    # music on hold there by itself (or, without a music-on-hold class configured, says it was asked to).
    log_lines = rig.asterisk.tail_log(400).lower()
    assert "music on hold" in log_lines or "music class default requested" in log_lines
    after = await rig.bridged_with(rig.a, 1)
    assert set(after["channels"]) == set(before["channels"])
    await _finish(rig, caller, rig.a)
    ev = await rig.events()
    assert ev["call.held"][0]["by"] == "nurse" and ev["call.held"][0]["nurse"] == rig.a.nurse.endpoint
    kinds = [k for k in ev if k in ("call.held", "call.unheld")]
    assert kinds == ["call.held", "call.unheld"]
