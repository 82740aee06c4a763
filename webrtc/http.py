"""HTTP of the escalation to image upload (docs/escalation.md): the nurse's API and the caller's pages.

Staff (identity sessions; CSRF by the identity middleware):
- `POST /api/v1/calls/{call_id}/media-links` {kind, to?}: the nurse who answered sends the caller a one-time
  link by SMS. 201 {link_id, kind, to_display, expires_at}; 401, 403 forbidden/not_your_call, 404 unknown_call,
  400 bad_request, 422 no_mobile/bad_number, 429 rate_limited, 502 sms_failed, 503 sms_unavailable.
- `DELETE /api/v1/calls/{call_id}/media-links`: she closes all the contact's links. 200 {revoked}.
- `GET /api/v1/calls/{call_id}/images`: the call's images, for the nurses who took part in the call and the
  supervisors and region admins of its region.
- `GET /api/v1/media/images/{image_id}` and `.../thumbnail`: the JPEG, same rule, every view logged.
- `POST /api/v1/media/images/{image_id}/attach` {note_id}: the note's author attaches the image.

The caller (no login, no cookies; the token in the path is the credential):
- `GET /m/{token}`: the upload form (image link), the video room's page (video link; its script and the two
  room WebSockets are in room.py), or why the link does not work (404 unknown, 410 expired/used up/closed).
- `POST /m/{token}/images`: one photo, multipart field `image`, read as a stream with a hard size cap (413),
  per-address rate limit (429), sanitized in a worker thread (400 with the form again), kept (200 thanks).

The token is never logged: log lines name the link by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel import Session, select

from agents.models import Nurse
from calls.models import Call
from desktop.context import display_number
from desktop.http import DESKTOP, notify_nurse
from identity.http import (
    IDENTITY,
    Principal,
    csrf_exempt,
    forbidden,
    get_principal,
    json_error,
    unauthenticated,
)
from identity.models import Role
from journal import service as journal
from journal.http import OFFERED
from routing.live import LiveRouting
from sms.provider import RateLimited, SmsError
from sms.runtime import SMS
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS

from . import pages, service, video
from .images import ImageLimits, ImageRejected, sanitize
from .links import LinkKind, LinkState
from .models import MediaImage, MediaLink
from .store import FileImageStore, ImageStore

log = logging.getLogger("vardlinje.webrtc")

LINKS_PATH = "/api/v1/calls/{call_id}/media-links"
IMAGES_PATH = "/api/v1/calls/{call_id}/images"
IMAGE_PATH = "/api/v1/media/images/{image_id}"
THUMB_PATH = "/api/v1/media/images/{image_id}/thumbnail"
ATTACH_PATH = "/api/v1/media/images/{image_id}/attach"
CALLER_PAGE = "/m/{token}"
CALLER_UPLOAD = "/m/{token}/images"

NO_STORE = {"Cache-Control": "no-store"}
IMAGE_HEADERS = {"Cache-Control": "no-store, private", "X-Content-Type-Options": "nosniff",
                 "Content-Disposition": "inline"}
IP_KEY = "vardlinje:media:ip:{ip}"
OPENED_KEY = "vardlinje:media:opened:{call}:{link}"  # SET NX: the first open is recorded once, on any instance
OPENED_TTL = 24 * 3600
IP_WINDOW_SECONDS = 3600
CHUNK = 64 * 1024
MAX_PARTS = 4  # the form has one field; a few stray parts are skipped, more is not a phone's form
DEFAULT_WRAP_UP = timedelta(seconds=60)  # config.schema RegionRouting.wrap_up_seconds' default
STATUS = {"unknown_image": 404, "other_call": 409, "not_your_note": 403, "note_signed": 409}
STATE_STATUS = {LinkState.UNKNOWN: 404, LinkState.EXPIRED: 410, LinkState.USED_UP: 410, LinkState.REVOKED: 410}


@dataclass
class MediaState:
    store: ImageStore
    #: photos decoded at once on this instance: a 12 MP photo takes ~160 MiB while it is sanitized, a 40 MP
    #: one ~450 MiB (bench/bench_image_sanitize.py); more uploads wait their turn rather than run out of memory
    sanitizing: asyncio.Semaphore


MEDIA = web.AppKey("media", MediaState)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def _now(request: web.Request) -> datetime:
    return request.config_dict[IDENTITY].clock()


def _wrap_up(live: LiveRouting | None, region: str | None) -> timedelta:
    """How long after the call's end its links still work: the region's wrap-up when routing runs here."""
    if live is None or region is None:
        return DEFAULT_WRAP_UP
    try:
        return timedelta(seconds=live.wrap_up_seconds(region))
    except Exception:  # configuration not loaded, unknown region: the default
        return DEFAULT_WRAP_UP


def _link_state(s: Session, live: LiveRouting | None, link: MediaLink | None, now: datetime) -> tuple[LinkState, timedelta]:
    call = s.get(Call, link.call_id) if link is not None else None
    wrap_up = _wrap_up(live, call.region_id if call is not None else None)
    return service.link_state(s, link, now, wrap_up=wrap_up), wrap_up


# --- the nurse's links -------------------------------------------------------------------------------------


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["image", "video"]
    to: str | None = Field(None, max_length=40)


def link_sms(kind: LinkKind, url: str, minutes: int) -> str:
    if kind is LinkKind.VIDEO:
        return f"Sjuksköterskan på 1177 vill ha ett videosamtal med dig. Öppna länken: {url}"
    return f"Sjuksköterskan på 1177 ber dig skicka en bild. Öppna länken inom {minutes} minuter: {url}"


def _session_nurse(request: web.Request) -> Principal | web.Response:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session":
        return forbidden(request, "forbidden", "Länkar skickas av sjuksköterskan i skrivbordet, inte med en "
                                               "API-token / links are sent by the nurse from the desktop")
    return principal


async def _answered(request: web.Request, principal: Principal, call_id: str) -> Call | web.Response:
    def work(s: Session) -> tuple[Call | None, bool]:
        call = s.get(Call, call_id)
        return call, call is not None and journal.answered_by(s, call.id, principal.user_id)

    call, answered = await request.config_dict[DB].run(work)
    if call is None:
        return json_error(404, "unknown_call", "Inget sådant samtal / no such call")
    if not answered:
        return forbidden(request, "not_your_call", "Bara sjuksköterskan som tog samtalet skickar länkar / only the "
                                                   "nurse who answered the call sends links")
    return call


async def create_link(request: web.Request) -> web.StreamResponse:
    principal = _session_nurse(request)
    if isinstance(principal, web.Response):
        return principal
    try:
        body = LinkRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return json_error(400, "bad_request", f"Felaktig begäran / bad request body: {exc}"[:600])
    ctx = request.config_dict.get(SMS)
    if ctx is None:
        return json_error(503, "sms_unavailable", "SMS är inte igång på den här servern / SMS is not set up here")
    call = await _answered(request, principal, request.match_info["call_id"])
    if isinstance(call, web.Response):
        return call
    raw = (body.to if body.to is not None else call.caller_number or "").strip()
    if not raw or raw.lower() in ("anonymous", "unknown", "restricted"):
        return json_error(422, "no_mobile", "Uppringaren har dolt nummer – ange ett mobilnummer / the caller's "
                                            "number is hidden: give a mobile number")
    try:
        number = service.mobile_number(raw)
    except service.MediaError as exc:
        return json_error(422, exc.code, str(exc))

    settings = request.config_dict[SETTINGS]
    media = settings.media
    kind = LinkKind(body.kind)
    now = _now(request)
    db = request.config_dict[DB]
    link, token = await db.run(lambda s: service.create_link(
        s, call.id, kind, number, principal.user_id, now, lifetime=timedelta(minutes=media.link_minutes),
        max_uses=media.uploads_per_link if kind is LinkKind.IMAGE else media.video_joins_per_link))
    url = f"{settings.http.public_url.rstrip('/')}/m/{token}"
    text = link_sms(kind, url, media.link_minutes)

    async def withdraw(reason: str) -> None:
        def work(s: Session) -> None:
            found = service.find_link(s, token)
            if found is not None and found.revoked_at is None:
                found.revoked_at, found.revoked_reason = now, reason
                s.add(found)

        await db.run(work)

    try:
        await ctx.send(db, call_id=call.id, to=number, body=text)
    except RateLimited as exc:
        await withdraw("sms_rate_limited")
        return web.json_response({"error": "rate_limited", "detail": str(exc), "retry_after": exc.retry_after},
                                 status=429, headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    except SmsError as exc:
        await withdraw("sms_failed")
        log.warning("call=%s media link %s: SMS not sent: %s", call.id, link.id, exc)
        return web.json_response({"error": "sms_failed", "reason": exc.code, "detail": str(exc)}, status=502)
    log.info("call=%s media link %s (%s) sent by %s", call.id, link.id, kind.value, principal.username)
    return web.json_response({"link_id": link.id, "kind": kind.value, "to_display": display_number(number),
                              "expires_at": _iso(link.expires_at)}, status=201, headers=NO_STORE)


async def revoke_links(request: web.Request) -> web.StreamResponse:
    principal = _session_nurse(request)
    if isinstance(principal, web.Response):
        return principal
    call = await _answered(request, principal, request.match_info["call_id"])
    if isinstance(call, web.Response):
        return call
    now = _now(request)
    n = await request.config_dict[DB].run(lambda s: service.revoke_links(s, call.id, now, "closed_by_nurse"))
    log.info("call=%s %d media link(s) closed by %s", call.id, n, principal.username)
    return web.json_response({"revoked": n}, headers=NO_STORE)


# --- the caller's pages ------------------------------------------------------------------------------------


def _page(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)
    response.headers["Content-Security-Policy"] = pages.CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@dataclass(frozen=True)
class _Found:
    link_id: int | None
    kind: str
    state: LinkState
    call_id: str = ""


async def _find(request: web.Request, token: str) -> _Found:
    live = request.config_dict.get(ROUTING)
    now = _now(request)

    def work(s: Session) -> _Found:
        link = service.find_link(s, token)
        current, _ = _link_state(s, live, link, now)
        if link is not None and link.kind == LinkKind.VIDEO.value:  # a joined caller may come back (video.py)
            current = video.admit_caller(link.kind, current, uses=link.uses, max_uses=link.max_uses)
        return _Found(link.id if link else None, link.kind if link else "", current, link.call_id if link else "")

    return await request.config_dict[DB].run(work)


async def caller_page(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    lang = pages.lang_of(request.query.get("lang"))
    try:
        found = await _find(request, token)
    except Exception:
        log.exception("media caller page failed")
        return _page(pages.broken_page(token, lang), 500)
    if found.state is not LinkState.OK:
        return _page(pages.state_page(token, lang, found.state, found.kind), STATE_STATUS[found.state])
    await _first_open(request, found)
    if found.kind == LinkKind.VIDEO.value:
        # The one caller page with a script (WebRTC needs one): its own CSP naming our WebSocket origin, and
        # the camera and microphone allowed for this site only.
        response = _page(pages.video_page(token, lang), headers={"Permissions-Policy": pages.VIDEO_PERMISSIONS})
        response.headers["Content-Security-Policy"] = pages.video_csp(request.config_dict[SETTINGS].http.public_url)
        return response
    return _page(pages.upload_page(token, lang))


async def _first_open(request: web.Request, found: _Found) -> None:
    """The first time the caller opens the link it goes on the record and the nurse's desktop says so — she
    knows the SMS arrived and can guide the caller. Best effort: the caller's page never waits on it failing."""
    redis = request.config_dict.get(REDIS)
    if found.link_id is None or redis is None:
        return
    link_id = found.link_id
    try:
        if not await redis.set(OPENED_KEY.format(call=found.call_id, link=link_id), "1", nx=True, ex=OPENED_TTL):
            return
        now = _now(request)
        opened = await request.config_dict[DB].run(lambda s: service.link_opened(s, link_id, now))
        if opened is None:
            return
        link, endpoint = opened
        log.info("media link %s: opened by the caller", link_id)
        if endpoint is not None and request.config_dict.get(DESKTOP) is not None:
            await notify_nurse(request.app, endpoint, {"type": "media_link_opened", "call_id": link.call_id,
                                                       "link_id": link_id, "kind": link.kind})
    except Exception as exc:
        log.warning("media link %s: the first open not recorded: %s", link_id, exc)


async def count_attempt(redis: Redis, key: str, limit: int, window: int = IP_WINDOW_SECONDS) -> int:
    """One more attempt in a fixed window (an hour): 0 while within `limit`, else the seconds until the window
    ends. Redis errors pass to the caller, who decides whether to refuse or let through."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.ttl(key)
        count, ttl = await pipe.execute()
    if ttl is None or int(ttl) < 0:
        await redis.expire(key, window)
        ttl = window
    return max(1, int(ttl)) if int(count) > limit else 0


async def _over_ip_limit(request: web.Request) -> int:
    """0 when this address may upload now (and the attempt is counted), else seconds to wait."""
    redis = request.config_dict.get(REDIS)
    if redis is None:
        return 0
    limit = request.config_dict[SETTINGS].media.uploads_per_ip_per_hour
    key = IP_KEY.format(ip=request.remote or "unknown")
    try:
        return await count_attempt(redis, key, limit)
    except (RedisError, OSError) as exc:
        # The link's own uses still cap what one link takes; a caller is never refused for our Redis.
        log.warning("media upload rate limit not checked (Redis): %s", exc)
        return 0


class _TooLarge(Exception):
    pass


async def _read_image(request: web.Request, max_bytes: int) -> bytes:
    """The `image` part's bytes, read as a stream: `_TooLarge` as soon as more than `max_bytes` arrived."""
    if request.content_type != "multipart/form-data":
        return b""
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise _TooLarge
    reader = await request.multipart()
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            return b""
        if not isinstance(part, BodyPartReader) or part.name != "image":
            if isinstance(part, BodyPartReader):
                await part.release()
            continue
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise _TooLarge
        return bytes(data)
    return b""


@dataclass(frozen=True)
class _Kept:
    image: MediaImage
    link_id: int | None
    call_id: str
    remaining: int
    endpoint: str | None  # the phone of the nurse who sent the link


@csrf_exempt
async def caller_upload(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    lang = pages.lang_of(request.query.get("lang"))
    try:
        return await _upload(request, token, lang)
    except Exception:
        log.exception("media upload failed")
        return _page(pages.broken_page(token, lang), 500)


async def _upload(request: web.Request, token: str, lang: pages.Lang) -> web.StreamResponse:
    wait = await _over_ip_limit(request)
    if wait:
        log.warning("media upload refused: too many from one address in the hour")
        return _page(pages.busy_page(token, lang), 429, headers={"Retry-After": str(wait)})
    found = await _find(request, token)
    if found.state is not LinkState.OK:
        return _page(pages.state_page(token, lang, found.state), STATE_STATUS[found.state])
    if found.kind != LinkKind.IMAGE.value:
        return _page(pages.state_page(token, lang, LinkState.UNKNOWN), 404)

    max_bytes = int(request.config_dict[SETTINGS].media.max_upload_mb * 1024 * 1024)
    limits = ImageLimits(max_bytes=max_bytes)

    def refused(exc: ImageRejected, status: int) -> web.Response:
        log.info("media link %s: upload refused (%s)", found.link_id, exc.code)
        message = exc.message_en if lang == "en" else exc.message_sv
        return _page(pages.upload_page(token, lang, error=message), status)

    try:
        raw = await _read_image(request, max_bytes)
    except _TooLarge:
        return refused(ImageRejected("too_large", limits), 413)
    except ValueError:  # a malformed multipart body
        return refused(ImageRejected("empty", limits), 400)
    try:
        async with request.config_dict[MEDIA].sanitizing:
            clean = await asyncio.to_thread(sanitize, raw, limits)
    except ImageRejected as exc:
        return refused(exc, 413 if exc.code == "too_large" else 400)

    store = request.config_dict[MEDIA].store
    live = request.config_dict.get(ROUTING)
    now = _now(request)

    def keep(s: Session) -> _Kept | LinkState:
        link = service.find_link(s, token)
        current, wrap_up = _link_state(s, live, link, now)
        if link is None or current is not LinkState.OK:
            return current
        received = service.receive_image(s, store, link, clean, now, wrap_up=wrap_up)
        endpoint = s.exec(select(Nurse.endpoint).where(Nurse.user_id == link.created_by_user_id)).first()
        return _Kept(received.image, link.id, link.call_id, received.remaining, endpoint)

    try:
        kept = await request.config_dict[DB].run(keep)
    except service.MediaError as exc:  # the link changed between the check and the transaction
        kept = LinkState(exc.code)
    if isinstance(kept, LinkState):
        return _page(pages.state_page(token, lang, kept), STATE_STATUS[kept])
    log.info("call=%s media link %s: image %s received (%dx%d, %s)", kept.call_id, kept.link_id, kept.image.id,
             kept.image.width, kept.image.height, kept.image.source_format)
    await _notify_desktop(request, kept)
    return _page(pages.thanks_page(token, lang, kept.remaining))


def _image_json(image: MediaImage) -> dict[str, Any]:
    return {"id": image.id, "width": image.width, "height": image.height, "received_at": _iso(image.received_at),
            "attached_note_id": image.attached_note_id, "url": IMAGE_PATH.format(image_id=image.id),
            "thumb_url": THUMB_PATH.format(image_id=image.id)}


async def _notify_desktop(request: web.Request, kept: _Kept) -> None:
    """Tell the nurse's open desktops that a photo came, on whichever instance her socket is (best effort:
    the list route is the truth, and the desktop reloads it whenever its socket reconnects)."""
    if kept.endpoint is None or request.config_dict.get(DESKTOP) is None:
        return
    message = {"type": "media_image", "call_id": kept.call_id, "image": _image_json(kept.image)}
    try:
        await notify_nurse(request.app, kept.endpoint, message)
    except Exception as exc:  # the caller's upload is kept: a notice that fails must not fail it
        log.warning("nurse=%s image notice not sent: %s", kept.endpoint, exc)


# --- staff: the images -------------------------------------------------------------------------------------


def may_see_images(s: Session, p: Principal, call: Call) -> bool:
    """The nurses offered the call, and the supervisors and region admins of its region."""
    if p.has_role(Role.SUPERVISOR, Role.REGION_ADMIN) and call.region_id is not None \
            and call.region_id in p.region_ids:
        return True
    return p.has_role(Role.NURSE) and journal.took_part(s, call.id, p.user_id, OFFERED)


NOT_YOURS = "Samtalets bilder visas för dem som tog del av samtalet / the call's images are for those who took part"


async def list_images(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    call_id = request.match_info["call_id"]

    def work(s: Session) -> list[dict[str, Any]] | str:
        call = s.get(Call, call_id)
        if call is None:
            return "unknown_call"
        if not may_see_images(s, principal, call):
            return "forbidden"
        return [_image_json(i) for i in service.images_for_call(s, call_id)]

    found = await request.config_dict[DB].run(work)
    if found == "unknown_call":
        return json_error(404, "unknown_call", "Inget sådant samtal / no such call")
    if found == "forbidden":
        return forbidden(request, "forbidden", NOT_YOURS)
    return web.json_response({"call_id": call_id, "images": found}, headers=NO_STORE)


async def _image_bytes(request: web.Request, *, thumbnail: bool) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    image_id = request.match_info["image_id"]
    store = request.config_dict[MEDIA].store
    now = _now(request)

    def work(s: Session) -> bytes | str:
        image = s.get(MediaImage, image_id)
        call = s.get(Call, image.call_id) if image is not None else None
        if image is None or call is None:
            return "unknown_image"
        if not may_see_images(s, principal, call):
            return "forbidden"
        data = service.read_image(s, store, image_id, principal.user_id, now, thumbnail=thumbnail)
        return data if data is not None else "unknown_image"

    found = await request.config_dict[DB].run(work)
    if found == "unknown_image":
        return json_error(404, "unknown_image", "Ingen sådan bild (eller raderad) / no such image (or deleted)")
    if found == "forbidden":
        return forbidden(request, "forbidden", NOT_YOURS)
    assert isinstance(found, bytes)
    log.info("image %s%s viewed by %s", image_id, " (thumbnail)" if thumbnail else "", principal.username)
    return web.Response(body=found, content_type="image/jpeg", headers=IMAGE_HEADERS)


async def get_image(request: web.Request) -> web.StreamResponse:
    return await _image_bytes(request, thumbnail=False)


async def get_thumbnail(request: web.Request) -> web.StreamResponse:
    return await _image_bytes(request, thumbnail=True)


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    note_id: str = Field(min_length=1, max_length=32)


async def attach_image(request: web.Request) -> web.StreamResponse:
    principal = _session_nurse(request)
    if isinstance(principal, web.Response):
        return principal
    try:
        body = AttachRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return json_error(400, "bad_request", f"Felaktig begäran / bad request body: {exc}"[:600])
    image_id = request.match_info["image_id"]
    now = _now(request)

    def work(s: Session) -> dict[str, Any]:
        return _image_json(service.attach(s, image_id, body.note_id, principal.user_id, now))

    try:
        found = await request.config_dict[DB].run(work)
    except service.MediaError as exc:
        status = STATUS.get(exc.code, 409)
        if status == 403:
            return forbidden(request, exc.code, str(exc))
        return json_error(status, exc.code, str(exc))
    log.info("image %s attached to note %s by %s", image_id, body.note_id, principal.username)
    return web.json_response(found, headers=NO_STORE)


# --- assembly ----------------------------------------------------------------------------------------------


def setup_media(app: web.Application, *, video_watch_seconds: float = 5.0) -> None:
    """The routes above and the video room's (room.py; `video_watch_seconds`: how often an open room checks
    that its link and contact still hold). The app needs SETTINGS, DB, REDIS and identity; `sms.runtime.SMS`
    to send links; the images are kept under `settings.media.image_dir` (default `data_dir/images`).
    `/static/caller.css` and `/static/video-caller.js` are served by the desktop's static route."""
    # room.py builds on this module's link checks: imported here, so the two modules do not import each other.
    from .room import setup_video

    settings = app[SETTINGS]
    root = settings.media.image_dir if settings.media.image_dir is not None else settings.data_dir / "images"
    app[MEDIA] = MediaState(store=FileImageStore(root), sanitizing=asyncio.Semaphore(settings.media.sanitize_at_once))
    app.router.add_post(LINKS_PATH, create_link)
    app.router.add_delete(LINKS_PATH, revoke_links)
    app.router.add_get(IMAGES_PATH, list_images)
    app.router.add_get(IMAGE_PATH, get_image)
    app.router.add_get(THUMB_PATH, get_thumbnail)
    app.router.add_post(ATTACH_PATH, attach_image)
    app.router.add_get(CALLER_PAGE, caller_page)
    app.router.add_post(CALLER_UPLOAD, caller_upload)
    setup_video(app, watch_seconds=video_watch_seconds)
    app.cleanup_ctx.append(_purging)


PURGE_EVERY = 600.0  # seconds


async def _purging(app: web.Application) -> AsyncIterator[None]:
    """Delete images never attached to a note once their retention is over, every ten minutes while the app
    runs (a failed round is logged and tried again next time; it never stops the app)."""

    retention = timedelta(hours=app[SETTINGS].media.retention_hours)
    store = app[MEDIA].store

    def purge_now(s: Session) -> int:
        return service.purge(s, store, app[IDENTITY].clock(), retention)

    async def loop() -> None:
        while True:
            try:
                purged = await app[DB].run(purge_now)
                if purged:
                    log.info("purged %d images not attached to a note after %s", purged, retention)
            except Exception:
                log.exception("image purge failed; trying again in %.0f s", PURGE_EVERY)
            await asyncio.sleep(PURGE_EVERY)

    task = asyncio.create_task(loop(), name="media-purge")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
