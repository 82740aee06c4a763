"""From a caller entering the queue to the free nurse's phone ringing: Vårdlinje vs Asterisk's app_queue.

One private Asterisk 22, one nurse phone (a sipp UAS registered to her pushed UDP endpoint), one
caller scenario (a sipp UAC that sends audio after the answer), alternating call by call between:

- Vårdlinje (dials 1177): dialplan → Stasis → the IVR answers over ARI → a menu whose first node is
  the queue → call record `queue.entered` → routing engine on Redis → ARI originate to
  PJSIP/<nurse> → INVITE at the nurse's phone (`offer.started` is recorded once the originate returns).
- app_queue (dials 1188): dialplan `Answer(,i)` (answers at once, without waiting for the caller's
  first audio, as ARI's answer does) → `Queue(bench)` with the same endpoint as a static member
  (leastrecent = longest idle, ringinuse=no, autofill=yes, wrapuptime=0, timeout=20 like the
  driver's ring time, retry=1) → INVITE at the nurse's phone.

Both answer the caller before queueing (the IVR must, to talk to the caller) and play hold music
(our announcement and music; app_queue's MOH playing the same music file). The caller hangs up
after HOLD seconds, the ringing phone gets a CANCEL, and the next call starts after a short gap:
one call at a time, so the nurse is always free when a call enters the queue. Calls alternate
between the two paths, so both see the same background load: `--load` callers per second sitting
in another region's voice menu (sending audio, hanging up after a few seconds).

Measured points, all on this machine's clock: the caller's INVITE sent and the nurse's INVITE
received (sipp message traces, µs), the call record's `queue.entered` and `offer.started` (app
clock), and for app_queue a dialplan timestamp logged just before `Queue()` (STRFTIME, µs).

Run: .venv/bin/python bench/bench_queue_vs_app_queue.py [--calls N] [--load CALLS_PER_S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import _rig
import aiohttp
import yaml
from redis.asyncio import Redis
from sqlmodel import select
from tqdm import tqdm

from agents import provision
from agents.presence import State
from calls.models import Call, CallEvent
from ivr.calls import IvrHandler
from ivr.flow import FlowEnv
from ivr.model import Condition, Menu, Prompt
from ivr.waiting import Play
from routing.asterisk import OfferDriver
from routing.engine import RoutingEngine
from routing.model import NurseState, RoutingRules
from routing.redis_store import RedisStore
from routing.router import EngineRouter
from telephony.ari.client import AriClient
from telephony.asterisk.private import AsteriskSetupError, PrivateAsterisk
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony
from telephony.sipp import PHONE_REGISTER
from vardlinje import procs
from vardlinje.db import Database
from vardlinje.migrate import upgrade

PHONE_IP = "127.0.0.2"  # the nurse's phone: not 127.0.0.1, which the callers' endpoint identifies by address
OURS = "1177"  # → region 01, whose menu queues at once
APP_QUEUE = "1188"  # → the app_queue context (an exact extension wins over the app's pattern)
LOAD = "1166"  # → region 03, a voice menu the background callers sit in
PCAP = "/usr/share/sip-tester/g711a.pcap"  # PCMA, ≈ 7 s of audio
WARMUP = 2  # calls per path not counted (first prompt renderings, first MOH start)

QUEUE_MENU = yaml.safe_load("""
start: adult
nodes:
  adult: {type: queue, skills: {triage: 1}, priority: 5}
""")
LOAD_MENU = yaml.safe_load("""
start: main
nodes:
  main:
    type: menu
    prompt: {sv: "Välkommen till sjukvårdsrådgivningen. Gäller det ett barn, tryck 1. Gäller det en vuxen, tryck 2."}
    options: {1: {next: bye}, 2: {next: bye}}
    timeout_seconds: 10
    retries: 2
    fallback: bye
  bye: {type: hangup}
""")

# --- sipp scenarios ------------------------------------------------------------------------------

_CALLER_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field1]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field1]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field1]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field1]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field1]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:[field1]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <pause milliseconds="{gap_ms}"/>
</scenario>
"""


def caller_scenario(name: str, hold: float, gap: float) -> str:
    return _CALLER_HEAD.format(name=name, pcap=PCAP, hold_ms=int(hold * 1000), gap_ms=int(gap * 1000))


_REPLY = """      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""

# The nurse's phone: rings until the caller gives up (Asterisk sends CANCEL), for every call.
NURSE_PHONE = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench nurse phone">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
{_REPLY}
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
{_REPLY}
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


# --- the Asterisk peer: app_queue ----------------------------------------------------------------


def app_queue_extras(endpoint: str, sounds: str) -> _rig.AsteriskExtras:
    queues = f"""[general]
persistentmembers = no
shared_lastcall = yes

[bench]
; Equivalent to the engine with one free nurse: longest idle first, no second call to a busy
; phone, several waiting calls offered at once, no wrap-up pause, the same ring time as the
; offer driver (20 s), no announcements.
strategy = leastrecent
ringinuse = no
autofill = yes
wrapuptime = 0
timeout = 20
retry = 1
joinempty = yes
leavewhenempty = no
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
member => PJSIP/{endpoint},0,bench nurse
"""
    dialplan = f"""[from-callers]
; bench: the same caller into Asterisk's own queue. Answer(,i) answers without waiting for the
; caller's first audio (as ARI's answer); the timestamp marks the moment the call enters the queue.
exten => {APP_QUEUE},1,Answer(,i)
 same => n,Log(NOTICE,benchq ${{CALLERID(num)}} ${{STRFTIME(,UTC,%Y-%m-%dT%H:%M:%S.%6q)}})
 same => n,Queue(bench)
 same => n,Hangup()
"""
    moh = f"""[general]

[default]
; app_queue's hold music: the same file the wait-announcement player plays.
mode = playlist
entry = {sounds}/music
"""
    return _rig.AsteriskExtras(modules=("app_queue.so",), files={"queues.conf": queues, "musiconhold.conf": moh},
                               append={"extensions.conf": dialplan})


# --- the app side ----------------------------------------------------------------------------------


class Env:
    """The flow environment of the bench regions (nothing in the menus asks it anything)."""

    def condition_holds(self, condition: Condition, at: datetime) -> bool:
        return False

    def region_for_code(self, digits: str) -> str | None:
        return None

    def mobile_number(self, number: str) -> str | None:
        return None

    def sms_body(self, template: str, link: Literal["chat", "form"], language: str) -> str:
        return ""


@dataclass
class Directory:
    """1177 → region 01 (queue at once); anything else → region 03 (a voice menu)."""

    def resolve(self, dialled: str, caller: str) -> str | None:
        return "01" if dialled == OURS else "03"

    def region_for_code(self, digits: str) -> str | None:
        return None

    def menu(self, region: str) -> Menu:
        return Menu.model_validate(QUEUE_MENU if region == "01" else LOAD_MENU)

    def env(self, region: str) -> FlowEnv:
        return Env()

    def version(self, region: str) -> int | None:
        return 1

    def region_prompt(self) -> tuple[Prompt, Prompt | None, float, int]:
        return Prompt(text={"sv": "Knappa in länskoden"}), None, 4.0, 0


@dataclass
class Nurse:
    endpoint: str
    sip_secret: str
    active: bool = True
    phone: str = "udp"


def free_udp(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@dataclass
class Sipp:
    """sipp processes of this run, each with its own ports; all ended by `close`."""

    binary: str
    target: str
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cmd(self, name: str, scenario: str, ip: str, *extra: str, port: int | None = None) -> list[str]:
        script = self.workdir / f"{name}.xml"
        script.write_text(scenario)
        return [self.binary, self.target, "-sf", str(script), "-i", ip, "-p", str(port or free_udp(ip)),
                "-cp", str(free_udp(ip)), "-mp", str(free_udp(ip)), "-nostdin", "-trace_err",
                "-error_file", str(self.workdir / f"{name}-errors.log"), *extra]

    def run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=self.workdir,
                              preexec_fn=procs.die_with_parent())

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        out = open(self.workdir / f"{name}.out", "wb")
        proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=procs.die_with_parent())
        out.close()
        self.procs.append(proc)
        return proc

    def errors(self, name: str) -> str:
        path = self.workdir / f"{name}-errors.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def close(self) -> None:
        for proc in self.procs:
            _rig.kill(proc)


@dataclass
class App:
    """The Vårdlinje side, wired as the offer test wires it: IVR + EngineRouter + OfferDriver on
    the real ARI, the engine on Redis, the call record in SQLite."""

    ari: AriClient
    db: Database
    store: RedisStore
    driver: OfferDriver


@contextlib.asynccontextmanager
async def vardlinje_app(ast: PrivateAsterisk, redis_url: str, db: Database) -> AsyncIterator[App]:
    prompts = PromptStore(ast.sounds_dir, str(ast.config.sounds))

    async def send_sms(call_id: str, to: str, body: str) -> bool:
        return False

    def clock() -> datetime:
        return datetime.now(UTC)

    redis = Redis.from_url(redis_url)
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, ast.ari_url, ast.config.ari_user, ast.config.ari_password, ast.config.app_name)
        store = RedisStore(redis, f"bench:{secrets.token_hex(4)}:routing")
        engine = RoutingEngine(store, RoutingRules())
        routers: list[EngineRouter] = []

        def make_router(player_for: Callable[[str], Play | None]) -> EngineRouter:
            router = EngineRouter(engine, db, clock, player_for)
            routers.append(router)
            return router

        handler = IvrHandler(ari, db, prompts, Directory(), send_sms, clock, router=make_router)
        driver = OfferDriver(ari, engine, routers[0], db, clock, lambda nurse_id: nurse_id)
        handler.foreign_events = driver.on_ari_event
        telephony = Telephony(ari, handler, LeaderLease(redis, "bench:leader", "bench", 10))
        stop = asyncio.Event()
        task = asyncio.create_task(telephony.run(stop), name="telephony")
        try:
            await asyncio.wait_for(ari.connected.wait(), 10)
            yield App(ari, db, store, driver)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
            await redis.aclose()


# --- the traces ----------------------------------------------------------------------------------

_TRACE_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$", re.M)


@dataclass
class SipMessage:
    at: float  # epoch seconds
    direction: Literal["sent", "received"]
    first_line: str
    call_id: str
    from_user: str


def read_trace(path: Path) -> list[SipMessage]:
    """sipp's -trace_msg file: a dashed line with the local time (µs), then the message."""
    text = path.read_text(errors="replace") if path.exists() else ""
    heads = list(_TRACE_HEAD.finditer(text))
    out = []
    for i, head in enumerate(heads):
        body = text[head.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        lines = body.strip("\n").splitlines()
        if len(lines) < 3:
            continue
        direction: Literal["sent", "received"] = "sent" if "sent" in lines[0] else "received"
        first = next((ln for ln in lines[1:] if ln.strip()), "")
        call_id = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("call-id:")), "")
        from_line = next((ln for ln in lines if ln.lower().startswith("from:")), "")
        user = re.search(r"sip:([^@>;]+)@", from_line)
        at = datetime.strptime(head.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()  # local time, like sipp
        out.append(SipMessage(at, direction, first.strip(), call_id, user.group(1) if user else ""))
    return out


@dataclass
class CallTiming:
    path: Literal["vardlinje", "app_queue"]
    caller: str
    invite: float
    bye: float | None
    rung: float | None = None  # the nurse's INVITE received
    queued: float | None = None  # entered the queue (call record / dialplan timestamp)
    offered: float | None = None  # Vårdlinje: offer.started (recorded when the originate request returned)


def match_calls(caller_trace: list[SipMessage], nurse_trace: list[SipMessage]) -> list[CallTiming]:
    """Each caller INVITE (first transmission) with the first nurse INVITE between it and its BYE."""
    calls: dict[str, CallTiming] = {}
    for m in caller_trace:
        if m.direction != "sent":
            continue
        if m.first_line.startswith("INVITE ") and m.call_id not in calls:
            number = m.first_line.split("sip:", 1)[1].split("@", 1)[0]
            path: Literal["vardlinje", "app_queue"] = "vardlinje" if number == OURS else "app_queue"
            calls[m.call_id] = CallTiming(path, m.from_user, m.at, None)
        elif m.first_line.startswith("BYE ") and m.call_id in calls and calls[m.call_id].bye is None:
            calls[m.call_id].bye = m.at
    seen: set[str] = set()
    rings: list[SipMessage] = []
    for m in nurse_trace:
        if m.direction == "received" and m.first_line.startswith("INVITE ") and m.call_id not in seen:
            seen.add(m.call_id)
            rings.append(m)
    ordered = sorted(calls.values(), key=lambda c: c.invite)
    for c in ordered:
        end = c.bye if c.bye is not None else c.invite + 30
        # app_queue passes the caller's number on to the member; the app's originate does not.
        c.rung = next((r.at for r in rings if c.invite <= r.at <= end
                       and (r.from_user == c.caller) == (c.path == "app_queue")), None)
    return ordered


def app_queue_entries(log: Path) -> dict[str, float]:
    """caller number → when it entered app_queue (the dialplan's STRFTIME in UTC just before Queue())."""
    out: dict[str, float] = {}
    text = log.read_text(errors="replace") if log.exists() else ""
    for m in re.finditer(r"benchq (\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)", text):
        at = datetime.strptime(m.group(2), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
        out.setdefault(m.group(1), at.timestamp())
    return out


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


async def vardlinje_points(db: Database) -> dict[str, tuple[float | None, float | None]]:
    """caller number → (queue.entered, offer.started) from the call record."""
    def read(session: Any) -> dict[str, tuple[float | None, float | None]]:
        out: dict[str, tuple[float | None, float | None]] = {}
        for call in session.exec(select(Call)):
            events = list(session.exec(select(CallEvent).where(CallEvent.call_id == call.id)))
            first: dict[str, float] = {}
            for e in sorted(events, key=lambda e: e.id or 0):
                first.setdefault(e.kind, _epoch(e.at))
            out[call.caller_number] = (first.get("queue.entered"), first.get("offer.started"))
        return out
    return await db.run(read)


# --- the run -------------------------------------------------------------------------------------


def injection(path: Path, per_path: int) -> Path:
    """The callers' numbers and destinations, alternating Vårdlinje / app_queue, one per call."""
    lines = ["SEQUENTIAL"]
    for i in range(per_path):
        lines.append(f"{OURS};+4670100{i:04d}")
        lines.append(f"{APP_QUEUE};+4670200{i:04d}")
    path.write_text("\n".join(lines) + "\n")
    return path


def load_injection(path: Path, count: int = 100) -> Path:
    lines = ["SEQUENTIAL", *(f"{LOAD};+4670900{i:04d}" for i in range(count))]
    path.write_text("\n".join(lines) + "\n")
    return path


def load_stats(path: Path) -> tuple[int, int]:
    """(successful, failed) background calls so far, from sipp's periodic statistics file."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        header, last = lines[0].split(";"), lines[-1].split(";")
        return int(last[header.index("SuccessfulCall(C)")]), int(last[header.index("FailedCall(C)")])
    except (OSError, IndexError, ValueError):
        return (-1, -1)


def count_invites(path: Path) -> int:
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if line.startswith("INVITE sip:"))
    except OSError:
        return 0


async def member_ready(ast: PrivateAsterisk, endpoint: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = await asyncio.to_thread(ast.cli, "queue show bench")
        if endpoint in shown and "Not in use" in shown:
            return shown
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the app_queue member is not free:\n{shown}")


@dataclass
class Settings:
    calls: int
    load: float
    load_hold: float
    hold: float
    gap: float


async def bench(settings: Settings, workdir: Path, redis_url: str) -> tuple[list[CallTiming], dict[str, Any]]:
    sipp_bin = shutil.which("sipp")
    if sipp_bin is None:
        raise SystemExit("sipp is missing: apt-get install sip-tester")
    nurse = Nurse(f"nurse-bench{secrets.token_hex(3)}", secrets.token_urlsafe(24))
    ast = PrivateAsterisk.create(run_name="bench")
    ast = _rig.with_extras(ast, app_queue_extras(nurse.endpoint, str(ast.config.sounds)))
    sipp = Sipp(sipp_bin, f"127.0.0.1:{ast.config.sip_port}", workdir)
    info: dict[str, Any] = {"machine": _rig.machine()}
    try:
        _rig.progress("rendering prompts and starting Asterisk 22")
        await asyncio.to_thread(PromptStore(ast.sounds_dir, str(ast.config.sounds)).render)
        await asyncio.to_thread(ast.start)
        info["asterisk"] = (await asyncio.to_thread(ast.cli, "core show version")).strip()
        url = f"sqlite:///{workdir}/bench.db"
        await asyncio.to_thread(upgrade, url)
        db = Database.from_url(url)
        try:
            async with vardlinje_app(ast, redis_url, db) as app:
                return await _measure(settings, ast, app, sipp, nurse, workdir, info), info
        finally:
            db.dispose()
    finally:
        sipp.close()
        await asyncio.to_thread(ast.stop)


async def _measure(settings: Settings, ast: PrivateAsterisk, app: App, sipp: Sipp, nurse: Nurse, workdir: Path,
                   info: dict[str, Any]) -> list[CallTiming]:
    _rig.progress(f"pushing {nurse.endpoint} and registering its phone")
    await provision.push(app.ari, nurse, "udp", media_address=ast.config.bind_address)
    phone_port = free_udp(PHONE_IP)
    done = await asyncio.to_thread(sipp.run, sipp.cmd("register", PHONE_REGISTER.format(
        user=nurse.endpoint, password=nurse.sip_secret), PHONE_IP, "-m", "1", "-timeout", "20s", "-timeout_error",
        port=phone_port), 60)
    if done.returncode != 0:
        raise RuntimeError(f"REGISTER failed: {sipp.errors('register')}")
    nurse_trace = workdir / "nurse-messages.log"
    phone = sipp.start("nurse", sipp.cmd("nurse", NURSE_PHONE, PHONE_IP, "-trace_msg", "-message_file",
                                         str(nurse_trace), port=phone_port))
    await app.store.upsert_nurse(NurseState(nurse_id=nurse.endpoint, home_region="01", skills={"triage": 2},
                                            state=State.READY, since=datetime.now(UTC)))
    await member_ready(ast, nurse.endpoint)

    if settings.load > 0:
        _rig.progress(f"background load: {settings.load:g} calls/s in a voice menu, {settings.load_hold:g} s each")
        count = int(settings.load * 600) + 10
        sipp.start("load", sipp.cmd("load", caller_scenario("bench load", settings.load_hold, 0), "127.0.0.1",
                                    "-inf", str(load_injection(workdir / "load.csv", count)),
                                    "-r", f"{settings.load:g}", "-l", "500", "-m", str(count),
                                    "-trace_stat", "-stf", str(workdir / "load-stats.csv"), "-fd", "1"))
        await asyncio.sleep(settings.load_hold + 1)  # up to the steady number of calls in the menu
        info["load_channels"] = (await asyncio.to_thread(ast.cli, "core show channels count")).strip().splitlines()

    per_path = settings.calls + WARMUP
    total = 2 * per_path
    caller_trace = workdir / "caller-messages.log"
    caller = sipp.start("caller", sipp.cmd(
        "caller", caller_scenario("bench caller", settings.hold, settings.gap), "127.0.0.1",
        "-inf", str(injection(workdir / "calls.csv", per_path)), "-m", str(total), "-l", "1", "-r", "50",
        "-trace_msg", "-message_file", str(caller_trace), "-timeout", f"{int(total * (settings.hold + 3)) + 30}s"))
    started = time.monotonic()
    with tqdm(total=total, desc="calls (alternating)", unit="call", file=sys.stderr, leave=False) as bar:
        while caller.poll() is None:
            await asyncio.sleep(0.5)
            bar.update(min(total, count_invites(caller_trace)) - bar.n)
            if phone.poll() is not None:
                raise RuntimeError(f"the nurse's phone (sipp) stopped: {sipp.errors('nurse')}")
            if time.monotonic() - started > total * (settings.hold + 3) + 60:
                raise RuntimeError("the callers did not finish in time")
    info["caller_rc"] = caller.returncode
    info["caller_errors"] = sipp.errors("caller")
    if settings.load > 0:
        await asyncio.sleep(1.1)  # one more statistics line
        info["load_calls"] = load_stats(workdir / "load-stats.csv")
    await asyncio.sleep(0.5)  # the last CANCEL/487 and call record writes

    timings = match_calls(read_trace(caller_trace), read_trace(nurse_trace))
    ours = await vardlinje_points(app.db)
    theirs = app_queue_entries(ast.log_file)
    for t in timings:
        if t.path == "vardlinje":
            t.queued, t.offered = ours.get(t.caller, (None, None))
        else:
            t.queued = theirs.get(t.caller)
    # Warm-up calls (the first of each path) are not counted.
    counted: list[CallTiming] = []
    for path in ("vardlinje", "app_queue"):
        counted += [t for t in timings if t.path == path][WARMUP:]
    return counted


# --- the report ----------------------------------------------------------------------------------


def spans(timings: list[CallTiming], path: str, start: str, end: str) -> list[float]:
    out = []
    for t in timings:
        a, b = getattr(t, start), getattr(t, end)
        if t.path == path and a is not None and b is not None:
            out.append(b - a)
    return out


def report(settings: Settings, timings: list[CallTiming], info: dict[str, Any]) -> None:
    ours = [t for t in timings if t.path == "vardlinje"]
    theirs = [t for t in timings if t.path == "app_queue"]
    print(f"{info.get('asterisk', 'Asterisk')}; {len(ours)} + {len(theirs)} calls, one at a time, alternating "
          f"Vårdlinje / app_queue (+{WARMUP} warm-up calls each, not counted)")
    ok, failed = info.get("load_calls", (-1, -1))
    load = (f"{settings.load:g} calls/s sitting {settings.load_hold:g} s in a voice menu "
            f"({' '.join(info.get('load_channels', [])[:1])} when the measured calls began; "
            f"{ok} background calls completed, {failed} failed)" if settings.load > 0 else "none")
    print(f"background load: {load}; caller sends audio, hangs up {settings.hold:g} s after the answer")
    print(f"machine: {info.get('machine', '?')}")
    print(f"rung: Vårdlinje {sum(t.rung is not None for t in ours)}/{len(ours)}, "
          f"app_queue {sum(t.rung is not None for t in theirs)}/{len(theirs)}\n")

    def cells(values: list[float]) -> list[str]:
        return [_rig.ms(_rig.pct(values, q)) for q in (50, 90, 99)]

    rows = []
    figures = [
        ("caller INVITE → nurse INVITE (raw)", "invite", "rung"),
        ("caller INVITE → enters the queue", "invite", "queued"),
        ("enters the queue → nurse INVITE", "queued", "rung"),
    ]
    results: dict[str, tuple[list[float], list[float]]] = {}
    for name, a, b in figures:
        v, q = spans(timings, "vardlinje", a, b), spans(timings, "app_queue", a, b)
        results[name] = (v, q)
        rows.append([name, *cells(v), *cells(q), _rig.ratio(_rig.pct(v, 50), _rig.pct(q, 50)),
                     _rig.ratio(_rig.pct(v, 90), _rig.pct(q, 90))])
    rows.append(["  of which: queued → originate returned", *cells(spans(timings, "vardlinje", "queued", "offered")),
                 "", "", "", "", ""])
    rows.append(["  (originate returned → nurse INVITE)", *cells(spans(timings, "vardlinje", "offered", "rung")),
                 "", "", "", "", ""])
    header = ["figure (ms)", "Vårdlinje p50", "p90", "p99", "app_queue p50", "p90", "p99", "ratio p50", "ratio p90"]
    print(_rig.table(header, rows))
    raw_v, raw_q = results[figures[0][0]]
    enter_v, enter_q = results[figures[2][0]]
    print(f"\nratio Vårdlinje / app_queue (p50): caller INVITE → nurse INVITE "
          f"{_rig.ratio(_rig.pct(raw_v, 50), _rig.pct(raw_q, 50))}; "
          f"enters the queue → nurse INVITE {_rig.ratio(_rig.pct(enter_v, 50), _rig.pct(enter_q, 50))}")
    print("Vårdlinje 'enters the queue' = call record queue.entered (app clock); app_queue = dialplan STRFTIME (UTC) "
          "just before Queue(). Raw INVITE → INVITE includes, for Vårdlinje, Stasis, the ARI answer, the call record "
          "and the menu; for app_queue, Answer(,i).")
    if info.get("caller_rc") not in (0, None):
        print(f"note: the caller sipp exited with {info['caller_rc']}: {info.get('caller_errors', '')[-300:]}")


async def amain(settings: Settings) -> None:
    for tool, hint in (("sipp", "apt-get install sip-tester"), ("redis-server", "apt-get install redis-server"),
                       ("unshare", "apt-get install util-linux")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: {hint}")
    workdir = Path(tempfile.mkdtemp(prefix="vardlinje-bench-queue-"))
    try:
        with _rig.private_redis() as redis_url:
            timings, info = await bench(settings, workdir, redis_url)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            _rig.progress(f"traces kept in {workdir}")
    report(settings, timings, info)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C, so every `finally` (Asterisk, sipp, Redis) runs."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=30, help="counted calls per path (default 30)")
    parser.add_argument("--load", type=float, default=5.0,
                        help="background callers per second sitting in a voice menu (default 5; 0: none)")
    parser.add_argument("--load-hold", type=float, default=8.0, help="seconds each background caller stays")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds a measured caller waits before hanging up")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between measured calls")
    args = parser.parse_args()
    settings = Settings(args.calls, args.load, args.load_hold, args.hold, args.gap)
    with sigterm_as_interrupt():
        try:
            asyncio.run(amain(settings))
        except KeyboardInterrupt:
            print("interrupted; Asterisk, sipp and Redis were stopped", file=sys.stderr)
            sys.exit(130)
        except AsteriskSetupError as exc:
            raise SystemExit(f"Asterisk could not start: {exc}") from exc


if __name__ == "__main__":
    main()
