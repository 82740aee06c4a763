"""The desktop's live side: what a nurse and a supervisor see of routing (presence, queues, waiting
calls with their route step), the WebSocket hub that pushes it, and the liveness check.

**Hub.** One listener on the routing engine wakes the connections of the nurse an event concerns; each
connection also looks at the shared store once a second (`poll_seconds`), so changes made by another
instance, the CLI or the liveness check reach her too. Messages to the browser:

- `{"type": "presence", "presence": {...}}` whenever her state, since, reason or call changes;
- `{"type": "offered", "call": {...}}` when a call is offered to her (her phone rings);
- `{"type": "queues", "queues": [...]}` every `queue_seconds` for the regions she serves;
- `{"type": "pong", "at": ...}` for each `{"type": "ping"}`;
- `{"type": "session_ended"}` before the socket is closed (code 4401) because her session ended
  (logged out everywhere, expired). The call she may be on is not touched: audio is WebRTC/SIP,
  and liveness never changes a nurse who is offered a call or on one.

**Liveness.** Each ping (and the connect) writes her heartbeat time into a Redis hash shared by all
instances. `Liveness.sweep(now)` pauses (reason `administration`, `by="liveness"`) every nurse whose
last heartbeat is older than the grace period while she is ready or in wrap-up, so she is not offered
calls; a nurse offered a call or on one is left alone (checked again at the next sweep); a nurse
already paused or logged out is just forgotten. Nurses who never opened a desktop (desk phones
driven from the CLI) have no heartbeat and are never touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agents.presence import Event, InvalidTransition, PauseReason, State, allowed
from routing import presence as routing_presence
from routing.ewt import WaitView
from routing.live import LiveRouting
from routing.model import STEP_RANK, NurseState, RoutingEvent, RoutingRules, Snapshot, WaitingCall, utc
from routing.policy import call_order, eligible_regions, queue_lengths
from routing.store import UnknownNurse

from .context import region_name
from .models import NURSE_EVENTS, REASON_SV, STATE_SV

log = logging.getLogger("vardlinje.desktop")

LIVENESS = "liveness"  # `by` of the changes the liveness check makes
HEARTBEAT_KEY = "vardlinje:desktop:heartbeat"
#: States in which a nurse whose browser vanished is paused: she would be offered the next call.
PAUSE_WHEN_STALE = frozenset({State.READY, State.WRAP_UP})
#: States never touched: a call is ringing or in progress.
BUSY = frozenset({State.OFFERED, State.ON_CALL})
SESSION_ENDED_CLOSE = 4401
NOTICE_SEND_SECONDS = 3.0  # a notice's send to one socket; a socket this slow is on its way out
CLOSE_TIMEOUT = 2.0  # seconds a closing socket waits for the browser's close frame
PROTOCOL_PING_SECONDS = 10.0  # WebSocket ping frames; no pong within half of it closes the socket
BEAT_SECONDS = 5.0  # while her socket is open and answering, her heartbeat is written this often
CONTEXT_TIMEOUT = 1.0  # seconds the offer waits for the call record before it goes without


# --- JSON of what the desktop shows ----------------------------------------------------------------------


def presence_json(state: State, since: datetime, reason: PauseReason | None, call_id: str | None,
                  wrap_up_seconds: int | None = None) -> dict[str, Any]:
    """Her presence as the desktop shows it; in wrap-up with the time routing makes her ready again."""
    ends = (utc(since) + timedelta(seconds=wrap_up_seconds)).isoformat() \
        if state is State.WRAP_UP and wrap_up_seconds is not None else None
    return {
        "state": state.value,
        "state_sv": STATE_SV[state],
        "since": utc(since).isoformat(),
        "reason": reason.value if reason else None,
        "reason_sv": REASON_SV[reason] if reason else None,
        "call_id": call_id,
        "allowed": [e.value for e in allowed(state) if e in NURSE_EVENTS],
        "wrap_up_ends_at": ends,
    }


def nurse_presence_json(nurse: NurseState, wrap_up_seconds: int | None = None) -> dict[str, Any]:
    return presence_json(nurse.state, nurse.since, nurse.reason, nurse.call_id, wrap_up_seconds)


def live_presence_json(live: LiveRouting, nurse: NurseState) -> dict[str, Any]:
    """With the wrap-up time of her home region (routing ends wrap-up by it)."""
    return nurse_presence_json(nurse, live.wrap_up_seconds(nurse.home_region))


def _seconds(value: float | None) -> int | None:
    return None if value is None else max(0, round(value))


def route_step(call: WaitingCall, now: datetime, rules: RoutingRules, lengths: Mapping[str, int]) -> dict[str, Any]:
    """Where routing stands with a waiting call: the widest step open now and region → step."""
    allowances = eligible_regions(call, now, rules, lengths)
    widest = max(allowances.values(), key=lambda a: STEP_RANK[a.step], default=None)
    return {"step": widest.step.value if widest else None,
            "agreement": widest.agreement if widest else None,
            "regions": {region: a.step.value for region, a in sorted(allowances.items())}}


def queue_entries(snapshot: Snapshot, view: WaitView, regions: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    """Per region: calls waiting (not yet ringing), the longest wait, the estimate for a new call, and
    the staffed and ready nurses who answer for it."""
    result = []
    for region in regions:
        waiting = [c for c in snapshot.calls if c.region == region]
        longest = max((c.wait_seconds(now) for c in waiting), default=None)
        nurses = [n for n in snapshot.nurses if region in n.all_regions]
        result.append({
            "region": region,
            "name": region_name(region),
            "waiting": len(waiting),
            "longest_wait_seconds": _seconds(longest),
            "estimated_wait_seconds": _seconds(view.queue_estimate(region)),
            "ready": sum(1 for n in nurses if n.state is State.READY),
            "staffed": sum(1 for n in nurses if n.state not in (State.LOGGED_OUT, State.PAUSED)),
        })
    return result


async def queue_overview(live: LiveRouting, regions: Iterable[str]) -> list[dict[str, Any]]:
    now = live.clock()
    snapshot = await live.store.snapshot()
    view = WaitView(snapshot, now, live.engine.rules, live.stats)
    return queue_entries(snapshot, view, regions, now)


async def region_calls(live: LiveRouting, region: str) -> dict[str, Any]:
    """The region's waiting calls (policy order, with route step, position and estimate), the calls
    ringing at a nurse (with the step that made her eligible), and the region's queue figures."""
    now = live.clock()
    snapshot = await live.store.snapshot()
    rules = live.engine.rules
    view = WaitView(snapshot, now, rules, live.stats)
    lengths = queue_lengths(snapshot.calls)
    waiting = sorted((c for c in snapshot.calls if c.region == region), key=call_order)
    waiting_json = [{
        "call_id": c.call_id, "priority": c.priority, "language": c.language, "skills": dict(c.skills),
        "entered_at": c.entered_at.isoformat(), "wait_seconds": _seconds(c.wait_seconds(now)),
        "position": view.position(c), "estimated_wait_seconds": _seconds(view.estimate(c)),
        "missed_offers": len(c.history), **route_step(c, now, rules, lengths),
    } for c in waiting]
    offered_json = []
    for offer in await live.store.offers():
        call = await live.store.get_call(offer.call_id)
        if call is None or call.region != region:
            continue
        offered_json.append({"call_id": call.call_id, "nurse": offer.nurse_id, "step": offer.step.value,
                             "via_region": offer.via_region, "agreement": offer.agreement,
                             "offered_at": offer.at.isoformat(), "wait_seconds": _seconds(call.wait_seconds(now)),
                             "priority": call.priority})
    offered_json.sort(key=lambda o: str(o["offered_at"]))
    (queue,) = queue_entries(snapshot, view, [region], now)
    return {"queue": queue, "waiting": waiting_json, "offered": offered_json}


CallContext = Callable[[str], Awaitable[dict[str, Any]]]


async def offer_json(live: LiveRouting, call_id: str, context: CallContext | None = None) -> dict[str, Any]:
    """What the desktop shows while her phone rings and during the call: routing's view of the call
    (region, priority, language, skills, wait, the step that reached her) and, with `context`, the call
    record's (caller number, menu choices; desktop/context.py)."""
    now = live.clock()
    call = await live.store.get_call(call_id)
    offer = await live.store.get_offer(call_id)
    data: dict[str, Any] = {"call_id": call_id}
    if call is not None:
        data.update(region=call.region, priority=call.priority, language=call.language, skills=dict(call.skills),
                    wait_seconds=_seconds(call.wait_seconds(now)))
    if offer is not None:
        data.update(step=offer.step.value, via_region=offer.via_region, agreement=offer.agreement,
                    offered_at=offer.at.isoformat())
    if context is not None:
        try:
            data.update(await asyncio.wait_for(context(call_id), CONTEXT_TIMEOUT))
        except Exception:
            # The record is a courtesy to the nurse; the offer must reach her without it.
            log.exception("call=%s: the call record could not be read for the desktop", call_id)
    return data


# --- presence changes ---------------------------------------------------------------------------------


async def apply_presence(live: LiveRouting, nurse_id: str, event: Event, *, reason: PauseReason | None, by: str,
                         leader: bool) -> None:
    """A presence change from the desktop. On the leader through `LiveRouting.change_presence` (store,
    registry, then route at once). On a standby only store and registry: a standby must not route — its
    offer driver would find no caller of its own for an offer and remove the leader's waiting call — so the
    leader's tick routes the change (≤ 1 s), as for the CLI."""
    if leader:
        await live.change_presence(nurse_id, event, reason=reason, by=by)
    else:
        await routing_presence.change(live.db, live.store, nurse_id, event, live.clock(), reason=reason, by=by)


# --- liveness -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a sweep does: pause these nurses, forget these heartbeats (nothing left to watch)."""

    pause: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()


def judge(beats: Mapping[str, float], states: Mapping[str, State | None], now: float, grace: float) -> Verdict:
    """Pure: who is stale (last heartbeat more than `grace` seconds before `now`, times as POSIX
    seconds) and what to do about her. `states` holds the store's state (None: not in the store)."""
    pause: list[str] = []
    forget: list[str] = []
    for nurse_id, beat in sorted(beats.items()):
        if now - beat <= grace:
            continue
        state = states.get(nurse_id)
        if state in PAUSE_WHEN_STALE:
            pause.append(nurse_id)
        elif state in BUSY:
            continue  # never while a call rings or is in progress; looked at again next sweep
        else:
            forget.append(nurse_id)  # paused, logged out or gone: nobody to protect callers from
    return Verdict(tuple(pause), tuple(forget))


# Delete a heartbeat only if it still holds the value the sweep read (a fresh ping meanwhile wins,
# and of two instances sweeping at once only one acts).
_CLAIM = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Liveness:
    """The desktop's heartbeats (shared in Redis) and the sweep that pauses nurses whose browser vanished."""

    def __init__(self, live: LiveRouting, redis: Redis, *, key: str = HEARTBEAT_KEY, grace_seconds: float = 30.0,
                 sweep_seconds: float = 5.0, is_leader: Callable[[], bool] = lambda: True) -> None:
        self.live = live
        self.is_leader = is_leader
        self.redis = redis
        self.key = key
        self.grace_seconds = grace_seconds
        self.sweep_seconds = sweep_seconds
        self._claim = redis.register_script(_CLAIM)

    async def beat(self, nurse_id: str, at: datetime) -> None:
        await self.redis.hset(self.key, nurse_id, repr(utc(at).timestamp()))

    async def forget(self, nurse_id: str) -> None:
        await self.redis.hdel(self.key, nurse_id)

    async def beats(self) -> dict[str, str]:
        raw: Mapping[bytes | str, bytes | str] = await self.redis.hgetall(self.key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def sweep(self, now: datetime) -> list[str]:
        """Pause the stale nurses who could be offered a call; returns whom it paused."""
        raw = await self.beats()
        beats: dict[str, float] = {}
        for nurse_id, text in raw.items():
            with suppress(ValueError):
                beats[nurse_id] = float(text)
        stale = [n for n, b in beats.items() if utc(now).timestamp() - b > self.grace_seconds]
        states: dict[str, State | None] = {}
        for nurse_id in stale:
            nurse = await self.live.store.get_nurse(nurse_id)
            states[nurse_id] = nurse.state if nurse is not None else None
        verdict = judge(beats, states, utc(now).timestamp(), self.grace_seconds)
        for nurse_id in verdict.forget:
            await self._claim(keys=[self.key], args=[nurse_id, raw[nurse_id]])
        paused = []
        for nurse_id in verdict.pause:
            if not await self._claim(keys=[self.key], args=[nurse_id, raw[nurse_id]]):
                continue  # she pinged meanwhile, or another instance is on it
            try:
                await apply_presence(self.live, nurse_id, Event.PAUSE, reason=PauseReason.ADMINISTRATION,
                                     by=LIVENESS, leader=self.is_leader())
            except InvalidTransition:
                # Offered a call in the meantime: keep watching her (HSETNX: a fresh ping wins).
                await self.redis.hsetnx(self.key, nurse_id, raw[nurse_id])
                continue
            except (UnknownNurse, LookupError):
                continue
            log.warning("nurse=%s desktop silent for over %.0f s: paused (administration)", nurse_id,
                        self.grace_seconds)
            paused.append(nurse_id)
        return paused

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep(self.live.clock())
            except Exception:
                log.exception("desktop liveness sweep failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sweep_seconds)


# --- the WebSocket hub -----------------------------------------------------------------------------------


async def close_sockets(sockets: Iterable[web.WebSocketResponse]) -> None:
    """Close every socket at once (shutdown: the browsers reconnect, to another instance); a browser that does
    not answer the close handshake is cut after the close timeout."""
    async def close(ws: web.WebSocketResponse) -> None:
        with suppress(Exception):
            await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), CLOSE_TIMEOUT + 1)

    await asyncio.gather(*(close(ws) for ws in sockets))

SessionCheck = Callable[[], Awaitable[bool]]


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    nurse_id: str
    regions: tuple[str, ...]
    session_alive: SessionCheck
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: tuple[object, ...] | None = None
    offered: str | None = None
    queues: list[dict[str, Any]] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            if not self.ws.closed:
                with suppress(ConnectionResetError):  # the browser went away mid-send
                    await self.ws.send_json(message)


class DesktopHub:
    """The desktop WebSockets of this instance, keyed by nurse (endpoint name)."""

    def __init__(self, live: LiveRouting, liveness: Liveness | None = None, *, poll_seconds: float = 1.0,
                 queue_seconds: float = 3.0, session_check_seconds: float = 30.0,
                 context: CallContext | None = None, beat_seconds: float = BEAT_SECONDS) -> None:
        self.live = live
        self.context = context
        self.beat_seconds = beat_seconds
        self.liveness = liveness
        self.poll_seconds = poll_seconds
        self.queue_seconds = queue_seconds
        self.session_check_seconds = session_check_seconds
        self.connections: dict[str, set[Connection]] = {}

    # -- routing's events ------------------------------------------------------------------------------

    def attach(self) -> None:
        self.live.engine.listeners.append(self.on_event)

    def detach(self) -> None:
        with suppress(ValueError):
            self.live.engine.listeners.remove(self.on_event)

    async def on_event(self, event: RoutingEvent) -> None:
        """An engine listener: wake the connections of the nurse the event concerns."""
        if event.nurse_id is not None:
            self.wake(event.nurse_id)

    def wake(self, nurse_id: str) -> None:
        for conn in self.connections.get(nurse_id, ()):
            conn.wake.set()

    async def broadcast(self, message: dict[str, Any]) -> None:
        """A message for every desktop on this instance."""
        await self._send_all([c for group in list(self.connections.values()) for c in group], message)

    async def notify(self, nurse_id: str, message: dict[str, Any]) -> None:
        """A notice for her desktops on this instance (desktop/notices.py brings those from elsewhere)."""
        await self._send_all(list(self.connections.get(nurse_id, ())), message)

    async def _send_all(self, conns: list[Connection], message: dict[str, Any]) -> None:
        """To every socket at once, each given a few seconds: one stuck browser does not hold up the others
        (the relay hands notices over one after the other)."""

        async def one(conn: Connection) -> None:
            try:
                await asyncio.wait_for(conn.send(message), NOTICE_SEND_SECONDS)
            except Exception as exc:  # a closing or stuck socket must not stop the others
                log.warning("nurse=%s notice %s not sent: %s", conn.nurse_id, message.get("type"),
                            exc or type(exc).__name__)

        await asyncio.gather(*(one(c) for c in conns))

    # -- queues ----------------------------------------------------------------------------------------

    async def push_queues(self) -> None:
        """One overview for every region any connected nurse serves, each nurse getting her own."""
        conns = [c for group in self.connections.values() for c in group]
        if not conns:
            return
        regions = sorted({r for c in conns for r in c.regions})
        entries = {e["region"]: e for e in await queue_overview(self.live, regions)}
        for conn in conns:
            conn.queues = [entries[r] for r in conn.regions if r in entries]
            conn.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.push_queues()
            except Exception:
                log.exception("desktop queue overview failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.queue_seconds)

    async def close_all(self) -> None:
        await close_sockets([c.ws for group in self.connections.values() for c in group])

    # -- one connection --------------------------------------------------------------------------------

    async def serve(self, request: web.Request, nurse_id: str, regions: Iterable[str],
                    session_alive: SessionCheck) -> web.WebSocketResponse:
        # Protocol pings: the browser's network stack answers them even when the page's timers are throttled
        # (a desktop in a background tab while she writes in the journal), and a connection that stops
        # answering is closed. A short close timeout: a vanished browser never answers the close handshake.
        ws = web.WebSocketResponse(heartbeat=PROTOCOL_PING_SECONDS, max_msg_size=4096, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        conn = Connection(ws, nurse_id, tuple(regions), session_alive)
        self.connections.setdefault(nurse_id, set()).add(conn)
        await self._beat(nurse_id)
        pusher = asyncio.create_task(self._push(conn), name=f"desktop-ws-{nurse_id}")
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    data = msg.json()
                except ValueError:
                    data = None
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "ping":
                    await self._beat(nurse_id)
                    await conn.send({"type": "pong", "at": utc(self.live.clock()).isoformat()})
                else:
                    await conn.send({"type": "error", "error": "bad_message",
                                     "detail": 'Okänt meddelande; skicka {"type": "ping"} / unknown message'})
        finally:
            pusher.cancel()
            with suppress(asyncio.CancelledError):
                await pusher
            group = self.connections.get(nurse_id)
            if group is not None:
                group.discard(conn)
                if not group:
                    del self.connections[nurse_id]
        return ws

    async def _beat(self, nurse_id: str) -> None:
        if self.liveness is None:
            return
        try:
            await self.liveness.beat(nurse_id, self.live.clock())
        except (RedisError, OSError):
            log.warning("nurse=%s heartbeat not recorded (Redis)", nurse_id)

    async def _push(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        checked = beaten = loop.time()
        while not conn.ws.closed:
            try:
                if loop.time() - beaten >= self.beat_seconds:
                    # Her socket is open and answers the protocol pings: she is there, whether or not her
                    # page's own pings (throttled in a background tab) arrive in time.
                    beaten = loop.time()
                    await self._beat(conn.nurse_id)
                await self._presence(conn)
                if conn.queues is not None:
                    queues, conn.queues = conn.queues, None
                    await conn.send({"type": "queues", "queues": queues})
                if loop.time() - checked >= self.session_check_seconds:
                    checked = loop.time()
                    if not await conn.session_alive():
                        await conn.send({"type": "session_ended",
                                         "detail": "Sessionen har upphört; logga in igen / the session ended"})
                        await conn.ws.close(code=SESSION_ENDED_CLOSE, message=b"session ended")
                        return
            except (RedisError, OSError) as exc:
                log.warning("nurse=%s desktop push failed: %s", conn.nurse_id, exc)
            except Exception:
                log.exception("nurse=%s desktop push failed", conn.nurse_id)
            with suppress(TimeoutError):
                await asyncio.wait_for(conn.wake.wait(), self.poll_seconds)
            conn.wake.clear()

    async def _presence(self, conn: Connection) -> None:
        nurse = await self.live.store.get_nurse(conn.nurse_id)
        if nurse is None:
            return
        key = (nurse.state, nurse.since, nurse.reason, nurse.call_id)
        if key != conn.last:
            conn.last = key
            await conn.send({"type": "presence", "presence": live_presence_json(self.live, nurse)})
        if nurse.state is State.OFFERED and nurse.call_id and nurse.call_id != conn.offered:
            call = await offer_json(self.live, nurse.call_id, self.context)
            await conn.send({"type": "offered", "call": call})
            conn.offered = nurse.call_id  # only once sent: a failed read is tried again at the next wake
        elif nurse.state is not State.OFFERED:
            conn.offered = None

