"""The video room's I/O: two WebSockets per video link — the nurse's desktop and the caller's phone — that
carry WebRTC signalling between them, across app instances through Redis (docs/escalation.md, "Video").

- Nurse: `GET /api/v1/media/video/{link_id}/ws` (her session and our Origin; the link she sent).
- Caller: `GET /m/{token}/ws` (no cookies; our Origin; a usable video link — each join uses one use).

What each message means and what follows is decided in `video.py` (pure); here are the sockets, Redis and
the database. Per link and side there is a pub/sub channel (`vardlinje:video:{link}:to:{role}`) that the side's
socket listens on, wherever it runs, and a presence key refreshed while the socket is open. Media never passes
here: the browsers send it to each other, or through TURN.

Log lines name the link by its id, never the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlmodel import Session, select

from agents.models import Nurse
from desktop.http import ws_principal
from desktop.live import close_sockets
from desktop.softphone import guest_ice_servers, ice_servers
from identity import service as identity
from identity.http import IDENTITY, SESSION_COOKIE, forbidden, json_error
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS

from . import pages, service, video
from .http import STATE_STATUS, _link_state, count_attempt
from .links import LinkState
from .models import MediaLink
from .video import Role

log = logging.getLogger("vardlinje.webrtc.video")

NURSE_WS = "/api/v1/media/video/{link_id:[0-9]{1,12}}/ws"
CALLER_WS = "/m/{token}/ws"

HEARTBEAT_SECONDS = 15.0  # protocol pings: a phone that vanished (tunnel, dead battery) is noticed in ~20 s
CLOSE_TIMEOUT = 2.0  # a vanished browser never answers the close handshake
WATCH_SECONDS = 5.0
PRESENCE_MIN_TTL = 30  # seconds; refreshed every watch round, so a crashed instance's sockets fade out
ROOM_TTL = 24 * 3600  # the one-time guards outlive any call
GUEST_TURN_TTL = 3600  # seconds: the caller's TURN credentials outlive the room's first hour at most
IP_KEY = "vardlinje:media:video-ip:{ip}"  # apart from the uploads' counter: a video join is not a photo
SESSION_ENDED_CLOSE = 4401  # as the desktop socket: her session ended (logged out, expired)

# Presence belongs to the newest socket of a side: set or refreshed only by it, removed only by it, so an older
# socket closing after a reload does not make the newer one look absent.
_CLAIM = """local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] or tonumber(v) < tonumber(ARGV[1]) then
  redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0"""
# Removing the presence and telling the peer in one step: a "left" published after the side's newer socket
# announced itself would make the peer give up on a side that is there.
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  if ARGV[2] ~= '' then redis.call('publish', ARGV[3], ARGV[2]) end
  return 1 end
return 0"""


def channel(link_id: int, role: Role) -> str:
    return f"vardlinje:video:{link_id}:to:{role}"


def present_key(link_id: int, role: Role) -> str:
    return f"vardlinje:video:{link_id}:present:{role}"


def guard_key(link_id: int, guard: str) -> str:
    return f"vardlinje:video:{link_id}:once:{guard}"


def _sequence_key(link_id: int, role: Role) -> str:
    return f"vardlinje:video:{link_id}:seq:{role}"


@dataclass
class VideoState:
    """The app's open room sockets (closed at shutdown: the browsers reconnect, to another instance)."""

    watch_seconds: float = WATCH_SECONDS
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    cleanups: set[asyncio.Task[None]] = field(default_factory=set)  # closing sockets' (kept: asyncio holds weakly)


VIDEO = web.AppKey("video", VideoState)


@dataclass(eq=False)
class Side:
    """One open socket of the room."""

    ws: web.WebSocketResponse
    role: Role
    link_id: int
    seq: int  # orders the sockets of this side across instances: the newest wins
    redis: Redis
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closer: asyncio.Task[Any] | None = None  # the task closing the socket, left to finish its handshake
    replaced: bool = False
    ended: bool = False

    @property
    def closing(self) -> bool:
        return self.closer is not None or self.ws.closed

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            if self.ws.closed:
                return
            with suppress(ConnectionError, RuntimeError):  # the browser went away mid-send: the read loop ends
                await self.ws.send_json(message)

    async def close(self, code: int, why: bytes = b"") -> None:
        if self.closer is None:
            self.closer = asyncio.current_task()
        await self.ws.close(code=code, message=why)

    async def publish(self, role: Role, message: dict[str, Any]) -> None:
        await self.redis.publish(channel(self.link_id, role), json.dumps(message))


# --- the handlers --------------------------------------------------------------------------------------------


def _same_origin(request: web.Request) -> bool:
    parts = urlsplit(request.config_dict[SETTINGS].http.public_url)
    expected = f"{parts.scheme}://{parts.netloc}".lower()
    return request.headers.get("Origin", "").rstrip("/").lower() == expected


def _not_websocket() -> web.Response:
    return json_error(400, "not_websocket", "Öppna som WebSocket / open as a WebSocket")


def _ice(request: web.Request, user: str, *, guest: bool = False) -> list[dict[str, Any]]:
    """The RTCIceServers for one side. The caller is a stranger holding a link: never a fixed TURN account, and
    minted credentials that die with the room (an hour at most), not the nurse's working day."""
    softphone = request.config_dict[SETTINGS].softphone
    now = request.config_dict[IDENTITY].clock()
    if guest:
        return guest_ice_servers(softphone.ice_servers, user, now, min(softphone.turn_ttl_seconds, GUEST_TURN_TTL))
    return ice_servers(softphone.ice_servers, user, now, softphone.turn_ttl_seconds)


async def nurse_ws(request: web.Request) -> web.StreamResponse:
    """The nurse's side: her browser session (not an API token) from our Origin, and a video link she sent
    whose video and contact are not over."""
    principal = ws_principal(request, "Videons")
    if isinstance(principal, web.Response):
        return principal
    link_id = int(request.match_info["link_id"])
    live = request.config_dict.get(ROUTING)
    now = request.config_dict[IDENTITY].clock()

    def work(s: Session) -> tuple[video.Refused | None, str]:
        link = s.get(MediaLink, link_id)
        current, _ = _link_state(s, live, link, now)
        refused = video.admit_nurse(link.kind if link else None, link.created_by_user_id if link else None,
                                    principal.user_id, current)
        endpoint = s.exec(select(Nurse.endpoint).where(Nurse.user_id == principal.user_id)).first()
        return refused, endpoint or principal.username

    refused, ice_user = await request.config_dict[DB].run(work)
    if refused is not None:
        status, text = video.REFUSED_STATUS[refused], video.REFUSED_TEXT[refused]
        if status == 403:
            return forbidden(request, refused.value, text)
        return json_error(status, refused.value, text)
    if not web.WebSocketResponse().can_prepare(request).ok:
        return _not_websocket()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    identity_state = request.config_dict[IDENTITY]
    db = request.config_dict[DB]

    async def session_alive() -> bool:
        at = identity_state.clock()
        return await db.run(lambda s: identity.get_session(s, cookie, at=at)) is not None

    log.info("video link %s: the nurse %s joins", link_id, principal.username)
    return await _serve(request, "nurse", link_id, ice_user, session_alive)


async def caller_ws(request: web.Request) -> web.StreamResponse:
    """The caller's side: no cookies; the Origin must be ours (another site cannot join with a leaked link from
    its own page); a video link usable now. Each join uses one of the link's uses (rejoins after a drop or a
    reload); attempts per address are limited."""
    if not _same_origin(request):
        return web.Response(status=403, text="WebSocket från fel ursprung / cross-site WebSocket refused")
    if not web.WebSocketResponse().can_prepare(request).ok:
        return _not_websocket()
    try:
        wait = await _over_ip_limit(request)
    except (RedisError, OSError) as exc:
        # The room needs Redis anyway: refuse before a use of the link is spent on a socket that cannot work.
        log.warning("video caller refused: Redis unavailable: %s", exc)
        return json_error(503, "video_unavailable", "Videon fungerar inte just nu / video is unavailable now")
    if wait:
        log.warning("video caller refused: too many attempts from one address in the hour")
        return json_error(429, "rate_limited", "För många försök; vänta en stund / too many attempts, wait a while",
                          headers={"Retry-After": str(wait)})
    token = request.match_info["token"]
    live = request.config_dict.get(ROUTING)
    now = request.config_dict[IDENTITY].clock()

    def work(s: Session) -> tuple[int | None, LinkState, str]:
        link = service.find_link(s, token)
        current, _ = _link_state(s, live, link, now)
        verdict = video.admit_caller(link.kind if link else None, current, uses=link.uses if link else 0,
                                     max_uses=link.max_uses if link else 1)
        if link is None or link.id is None or verdict is not LinkState.OK:
            return (link.id if link else None), verdict, (link.kind if link else "")
        if not service.join_video(s, link, now):  # another join took the last use meanwhile
            return link.id, LinkState.USED_UP, link.kind
        return link.id, verdict, link.kind

    link_id, verdict, kind = await request.config_dict[DB].run(work)
    if verdict is not LinkState.OK or link_id is None:
        log.info("video link %s: caller refused (%s)", link_id, verdict.value)
        sv, en = pages.state_text(verdict, kind)
        return json_error(STATE_STATUS[verdict], verdict.value, f"{sv} / {en}")
    log.info("video link %s: the caller joins", link_id)
    return await _serve(request, "caller", link_id, f"video-{link_id}", None, guest=True)


async def _over_ip_limit(request: web.Request) -> int:
    """0 when this address may try now (the attempt is counted), else seconds to wait. RedisError passes."""
    redis = request.config_dict[REDIS]
    limit = request.config_dict[SETTINGS].media.video_joins_per_ip_per_hour
    return await count_attempt(redis, IP_KEY.format(ip=request.remote or "unknown"), limit)


# --- one socket ----------------------------------------------------------------------------------------------


SessionAlive = Callable[[], Awaitable[bool]]


async def _serve(request: web.Request, role: Role, link_id: int, ice_user: str,
                 session_alive: SessionAlive | None, *, guest: bool = False) -> web.WebSocketResponse:
    state = request.config_dict[VIDEO]
    redis = request.config_dict[REDIS]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=video.MAX_MESSAGE_BYTES,
                               timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    state.sockets.add(ws)
    side: Side | None = None
    pubsub: PubSub | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        try:
            seq = int(await redis.incr(_sequence_key(link_id, role)))
            await redis.expire(_sequence_key(link_id, role), ROOM_TTL)
            side = Side(ws, role, link_id, seq, redis)
            # Listening before anything is announced: what the peer sends in answer is not lost.
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(channel(link_id, role))
            await _claim(side, state.watch_seconds)
            peer_present = bool(await redis.exists(present_key(link_id, video.peer(role))))
            await side.send(video.hello(role, link_id, peer_present, _ice(request, ice_user, guest=guest)))
            await side.publish(role, {"type": "_replace", "seq": seq})  # an older socket of this side steps aside
            await side.publish(video.peer(role), video.presence(True))
        except (RedisError, OSError) as exc:
            log.warning("video link %s %s: Redis failed, socket closed: %s", link_id, role, exc)
            await ws.close(code=video.CLOSE_SERVER_ERROR, message=b"signalling unavailable")
            return ws
        tasks = [asyncio.create_task(_listen(side, pubsub), name=f"video-{link_id}-{role}-listen"),
                 asyncio.create_task(_watch(request, side, state.watch_seconds, session_alive),
                                     name=f"video-{link_id}-{role}-watch")]
        try:
            await _read(request, side)
        except (RedisError, OSError) as exc:
            log.warning("video link %s %s: Redis failed, socket closed: %s", link_id, role, exc)
            await side.close(video.CLOSE_SERVER_ERROR, b"signalling unavailable")
        except Exception:
            log.exception("video link %s %s: socket failed", link_id, role)
            await side.close(video.CLOSE_SERVER_ERROR, b"server error")
    finally:
        # In a task of its own: a handler cancelled because the browser went away (aiohttp's
        # handler_cancellation) must still clear the side's presence and stop its tasks.
        cleanup = asyncio.create_task(_cleanup(state, ws, side, pubsub, tasks), name=f"video-{link_id}-{role}-close")
        state.cleanups.add(cleanup)
        cleanup.add_done_callback(state.cleanups.discard)
        await asyncio.shield(cleanup)
    return ws


async def _cleanup(state: VideoState, ws: web.WebSocketResponse, side: Side | None, pubsub: PubSub | None,
                   tasks: list[asyncio.Task[None]]) -> None:
    await _stop(tasks, side)
    if side is not None:
        await _leave(side)
    if pubsub is not None:
        with suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
    state.sockets.discard(ws)
    if not ws.closed:
        with suppress(Exception):
            await ws.close()


async def _stop(tasks: list[asyncio.Task[None]], side: Side | None) -> None:
    """Cancel the socket's background tasks; one that is closing the socket gets the close handshake's time."""
    if not tasks:
        return
    for task in tasks:
        if side is None or task is not side.closer:
            task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT + 1)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _claim(side: Side, watch_seconds: float) -> bool:
    ttl = max(PRESENCE_MIN_TTL, int(watch_seconds * 3) + 1)
    return bool(await side.redis.eval(_CLAIM, 1, present_key(side.link_id, side.role), str(side.seq), str(ttl)))


async def _leave(side: Side) -> None:
    """The side is gone unless a newer socket of it took over; the peer is told (not after the room ended)."""
    try:
        notice = "" if side.ended or side.replaced else json.dumps(video.presence(False))
        await side.redis.eval(_RELEASE, 1, present_key(side.link_id, side.role), str(side.seq), notice,
                              channel(side.link_id, video.peer(side.role)))
    except (RedisError, OSError) as exc:
        log.warning("video link %s %s: presence not cleared (Redis): %s", side.link_id, side.role, exc)


async def _read(request: web.Request, side: Side) -> None:
    bad = 0
    pace = video.Pace()
    loop = asyncio.get_running_loop()
    async for msg in side.ws:
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            parsed = video.parse(msg.data, side.role)
        else:
            continue
        if not pace.allow(loop.time()):
            log.warning("video link %s %s: more than %d messages in %.0f s, socket closed", side.link_id, side.role,
                        pace.most, pace.window)
            await side.close(video.CLOSE_POLICY, b"too many messages")
            return
        if isinstance(parsed, video.Refusal):
            bad += 1
            await side.send(parsed.to_json())
            if video.too_many_bad(bad):
                log.warning("video link %s %s: %d bad messages, socket closed", side.link_id, side.role, bad)
                await side.close(video.CLOSE_POLICY, b"too many bad messages")
                return
            continue
        message, data = parsed
        for action in video.decide(side.role, message, data, side.link_id):
            await _act(request, side, action)
        if side.closing:
            return


async def _act(request: web.Request, side: Side, action: video.Action) -> None:
    if isinstance(action, video.Relay):
        await side.publish(video.peer(side.role), action.message)
    elif isinstance(action, video.Reply):
        await side.send(action.message)
    elif isinstance(action, video.Record):
        await _record(request, side.redis, side.link_id, action)
    else:
        await _end(request, side, action.by)


async def _guard(redis: Redis, link_id: int, guard: str, limit: int, value: str = "1") -> bool:
    """Whether the guard lets one more through, counted across every app instance."""
    key = guard_key(link_id, guard)
    if limit == 1:
        return bool(await redis.set(key, value, nx=True, ex=ROOM_TTL))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, ROOM_TTL)
        count, _ = await pipe.execute()
    return int(count) <= limit


async def _release(redis: Redis, link_id: int, guard: str, limit: int) -> None:
    """Give back what a guard let through when the record could not be written: a later try may write it."""
    key = guard_key(link_id, guard)
    with suppress(RedisError, OSError):
        await (redis.delete(key) if limit == 1 else redis.decr(key))


async def _record(request: web.Request, redis: Redis, link_id: int, record: video.Record) -> None:
    """Best effort: the record follows the room, it never ends it — a database hiccup is logged and the
    signalling (and the picture flowing between the browsers) goes on."""
    if not await _guard(redis, link_id, record.guard, record.limit):
        return
    now = request.config_dict[IDENTITY].clock()
    try:
        await request.config_dict[DB].run(lambda s: service.record_video(s, link_id, record.kind, now, record.data))
    except Exception:
        log.exception("video link %s: %s not recorded", link_id, record.kind)
        await _release(redis, link_id, record.guard, record.limit)
        return
    log.info("video link %s: %s %s", link_id, record.kind, record.data.get("by", ""))


async def _end(request: web.Request, side: Side, by: video.EndedBy) -> None:
    """`end` from a side: recorded and the link closed once (whichever instance comes first), then both sides
    are told and closed."""
    if await _guard(side.redis, side.link_id, "ended", 1, value=by):
        if not await _record_end(request, side.link_id, by, video.REVOKED_REASON):
            await _release(side.redis, side.link_id, "ended", 1)
    else:
        recorded = await side.redis.get(guard_key(side.link_id, "ended"))
        by = video.ended_by(video.REVOKED_REASON, recorded.decode() if isinstance(recorded, bytes) else recorded)
    message = video.ended(by)
    side.ended = True
    for role in video.ROLES:
        await side.publish(role, message)
    await side.send(message)
    await side.close(video.CLOSE_NORMAL)


async def _record_end(request: web.Request, link_id: int, by: video.EndedBy, revoke: str | None) -> bool:
    """`media.video_ended` and the link closed; False when the database failed (logged): the sides are told
    and closed all the same (the link stays open then, so the video can simply be started again)."""
    now = request.config_dict[IDENTITY].clock()
    try:
        await request.config_dict[DB].run(lambda s: service.end_video(s, link_id, by, now, revoke=revoke))
    except Exception:
        log.exception("video link %s: the end (%s) not recorded", link_id, by)
        return False
    log.info("video link %s: ended (%s)", link_id, by)
    return True


async def _listen(side: Side, pubsub: PubSub) -> None:
    """What the peer (or the room) sent this side, from any instance, to the browser."""
    try:
        async for item in pubsub.listen():
            if item.get("type") != "message" or side.closing:
                continue
            try:
                message = json.loads(item["data"])
            except (ValueError, TypeError):
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "_replace":
                if int(message.get("seq", 0)) > side.seq:
                    log.info("video link %s %s: replaced by a newer socket", side.link_id, side.role)
                    side.replaced = True
                    await side.send(video.REPLACED)
                    await side.close(video.CLOSE_REPLACED, b"replaced")
                    return
                continue
            if kind == "ended":
                side.ended = True
                await side.send(message)
                await side.close(video.CLOSE_NORMAL)
                return
            await side.send(message)
    except (RedisError, OSError) as exc:
        log.warning("video link %s %s: Redis failed, socket closed: %s", side.link_id, side.role, exc)
        await side.close(video.CLOSE_SERVER_ERROR, b"signalling unavailable")


async def _watch(request: web.Request, side: Side, every: float, session_alive: SessionAlive | None) -> None:
    """Every `every` seconds: keep the side present, and close the room once its link is closed or the contact
    is over (the nurse's DELETE of the links, the call's end plus wrap-up) — no message may announce that."""
    live = request.config_dict.get(ROUTING)
    identity_clock = request.config_dict[IDENTITY].clock
    db = request.config_dict[DB]

    def check(s: Session) -> tuple[bool, str]:
        link = s.get(MediaLink, side.link_id)
        current, _ = _link_state(s, live, link, identity_clock())
        return video.over(current), link.revoked_reason if link is not None else ""

    while not side.closing:
        await asyncio.sleep(every)
        try:
            if not await _claim(side, every):
                # A newer socket of this side holds the room (its notice did not reach us): step aside.
                side.replaced = True
                await side.send(video.REPLACED)
                await side.close(video.CLOSE_REPLACED, b"replaced")
                return
            try:
                over, reason = await db.run(check)
                alive = session_alive is None or await session_alive()
            except Exception:
                log.exception("video link %s %s: room check failed; trying again", side.link_id, side.role)
                continue
            if not alive:
                log.info("video link %s %s: the session ended, socket closed", side.link_id, side.role)
                await side.close(SESSION_ENDED_CLOSE, b"session ended")
                return
            if not over:
                continue
            recorded = await side.redis.get(guard_key(side.link_id, "ended"))
            by = video.ended_by(reason, recorded.decode() if isinstance(recorded, bytes) else recorded)
            if by == "contact_closed" and await _guard(side.redis, side.link_id, "ended", 1, value=by) \
                    and not await _record_end(request, side.link_id, by, None):
                await _release(side.redis, side.link_id, "ended", 1)
            side.ended = True
            await side.send(video.ended(by))
            await side.close(video.CLOSE_NORMAL)
            return
        except (RedisError, OSError) as exc:
            log.warning("video link %s %s: Redis failed, socket closed: %s", side.link_id, side.role, exc)
            await side.close(video.CLOSE_SERVER_ERROR, b"signalling unavailable")
            return


# --- assembly ------------------------------------------------------------------------------------------------


async def _close_all(app: web.Application) -> None:
    await close_sockets(list(app[VIDEO].sockets))


def setup_video(app: web.Application, *, watch_seconds: float = WATCH_SECONDS) -> None:
    """The two room sockets. `watch_seconds`: how often an open socket checks its link and contact (tests
    make it short)."""
    app[VIDEO] = VideoState(watch_seconds=watch_seconds)
    app.router.add_get(NURSE_WS, nurse_ws)
    app.router.add_get(CALLER_WS, caller_ws)
    app.on_shutdown.append(_close_all)
