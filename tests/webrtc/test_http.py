"""The escalation's HTTP (webrtc/http.py) on a real database (SQLite and PostgreSQL), the real test Redis and the
outbox SMS provider: the nurse sends an image link, the caller's page (no cookies, strict CSP, a form that
works without JavaScript), the upload (sanitized, stored without EXIF), the nurse's list and download (logged),
every refusal the caller can meet (not an image, too large, forged, used up, closed, expired, rate limited),
attaching to the note, and the staff refusals (another nurse, a landline, CSRF)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from PIL import ExifTags, Image
from redis.asyncio import Redis
from sqlmodel import Session, col, select

from agents.models import Nurse
from calls import service as calls
from desktop.pages import STATIC
from journal import service as journal
from sms.config import SmsSettings
from sms.http import setup_sms
from sms.models import SmsMessage
from sms.outbox import OutboxProvider
from sms.ratelimit import RedisSmsLimiter
from vardlinje.appkeys import SETTINGS
from vardlinje.db import Database
from vardlinje.settings import MediaSettings
from webrtc.http import IP_KEY, setup_media
from webrtc.links import STATE_TEXT, LinkState
from webrtc.models import MediaAccess, MediaImage
from webrtc.pages import CSP

from ..identity.conftest import T0, FakeClock, build_app, clock, login, redis  # noqa: F401
from ..journal.conftest import World, build_world

Client = TestClient[web.Request, web.Application]
LANDLINE = "+4686001000"
MAX_MB = 0.25  # small, so the oversized upload is cheap
USES = 3
_LINK = re.compile(r"http://127\.0\.0\.1:8080/m/([A-Za-z0-9_-]+)$")


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


async def _clear_ip_counters(redis: Redis) -> None:  # noqa: F811
    async for key in redis.scan_iter(match=IP_KEY.format(ip="*")):
        await redis.delete(key)


def make_app(database: Database, redis: Redis, clock: FakeClock, tmp_path: Path,  # noqa: F811
             **media: Any) -> web.Application:
    app = build_app(database, redis, clock)
    app[SETTINGS] = app[SETTINGS].model_copy(update={"media": MediaSettings(
        image_dir=tmp_path / "images", max_upload_mb=MAX_MB, uploads_per_link=USES, **media)})
    limiter = RedisSmsLimiter(redis, limit=10, window_seconds=3600, prefix=f"t:sms:{secrets.token_hex(6)}")
    setup_sms(app, OutboxProvider(), sms=SmsSettings(), limiter=limiter, clock=clock)
    setup_media(app)
    if "static" not in app.router.named_resources():
        app.router.add_static("/static", STATIC, name="static")
    return app


@pytest.fixture
async def app(database: Database, redis: Redis, clock: FakeClock, world: World,  # noqa: F811
              tmp_path: Path) -> web.Application:
    await _clear_ip_counters(redis)
    return make_app(database, redis, clock, tmp_path)


async def _clients(app: web.Application, n: int) -> list[Client]:
    clients: list[Client] = []
    for _ in range(n):
        c: Client = TestClient(TestServer(app))
        await c.start_server()
        clients.append(c)
    return clients


@pytest.fixture
async def browsers(app: web.Application) -> AsyncIterator[list[Client]]:
    """Anna's and Bertil's browsers, and the caller's phone (never logged in)."""
    clients = await _clients(app, 3)
    yield clients
    for c in clients:
        await c.close()


def gps_photo() -> bytes:
    """A phone photo with the camera and the GPS position in its EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Phonemaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (59.0, 19.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (18.0, 4.0, 7.0)
    buf = BytesIO()
    Image.new("RGB", (320, 240), (190, 60, 50)).save(buf, format="JPEG", exif=exif)
    raw = buf.getvalue()
    assert b"Exif" in raw and b"Phonemaker" in raw
    return raw


def form(data: bytes, filename: str = "IMG_0001.jpg", content_type: str = "image/jpeg") -> FormData:
    f = FormData()
    f.add_field("image", data, filename=filename, content_type=content_type)
    return f


async def request_link(client: Client, csrf: str | None, call_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    resp = await client.post(f"/api/v1/calls/{call_id}/media-links", json={"kind": "image", **body},
                             headers=headers)
    return resp.status, dict(await resp.json())


def last_token(database: Database) -> str:
    """The token in the newest SMS of the outbox."""
    bodies = database.run_sync(lambda s: [m.body for m in s.exec(select(SmsMessage)
                                                                 .order_by(col(SmsMessage.created_at)))])
    match = _LINK.search(bodies[-1])
    assert match is not None, bodies[-1]
    return match.group(1)


async def new_link(client: Client, csrf: str, database: Database, call_id: str) -> str:
    status, body = await request_link(client, csrf, call_id)
    assert status == 201, body
    return last_token(database)


async def upload(phone: Client, token: str, data: bytes, **kwargs: Any) -> tuple[int, str]:
    resp = await phone.post(f"/m/{token}/images", data=form(data, **kwargs))
    return resp.status, await resp.text()


def answered_call(database: Database, world: World, caller: str) -> str:
    """Another call Anna answered, from `caller`."""

    def work(s: Session) -> str:
        endpoint = s.exec(select(Nurse.endpoint).where(Nurse.user_id == world.anna)).one()
        call = calls.open_call(s, channel_id=f"ch-{secrets.token_hex(4)}", linkedid="", at=T0,
                               caller_number=caller, dialled_number="1177")
        calls.set_region(s, call.id, "01", T0, "caller")
        calls.append(s, call.id, "offer.answered", T0, data={"nurse": endpoint})
        return call.id

    return database.run_sync(work)


# --- the whole way ---------------------------------------------------------------------------------------------


async def test_a_photo_from_the_callers_phone_reaches_the_nurse_clean(
        browsers: list[Client], database: Database, world: World, tmp_path: Path) -> None:
    """Anna sends the link (SMS with /m/<token>, 201 with the number in national form); the caller's page has
    the strict headers, no cookie and the form; the photo with GPS in its EXIF is accepted and stored without
    EXIF; Anna lists and downloads it (each view logged); Bertil gets 403."""
    anna, bertil, phone = browsers
    csrf = await login(anna, "anna")
    status, body = await request_link(anna, csrf, world.call_anna)
    assert status == 201, body
    assert body["kind"] == "image" and body["to_display"] == "070-123 45 67" and isinstance(body["link_id"], int)
    assert body["expires_at"].startswith((T0 + timedelta(minutes=15)).isoformat()[:16])
    [message] = database.run_sync(lambda s: s.exec(select(SmsMessage)).all())
    assert message.to_number == "+46701234567" and message.call_id == world.call_anna
    assert message.body.startswith("Sjuksköterskan på 1177 ber dig skicka en bild. Öppna länken inom 15 minuter: ")
    token = last_token(database)

    resp = await phone.get(f"/m/{token}")
    page = await resp.text()
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in resp.headers
    assert '<meta name="viewport"' in page and 'href="/static/caller.css"' in page and "<script" not in page
    assert f'<form method="post" action="/m/{token}/images" enctype="multipart/form-data">' in page
    assert '<input id="image" type="file" name="image" accept="image/*" capture="environment" required>' in page
    assert "Skicka bilden" in page and "http://" not in page and "https://" not in page
    css = await phone.get("/static/caller.css")
    assert css.status == 200 and "min-height" in await css.text()
    english = await (await phone.get(f"/m/{token}?lang=en")).text()
    assert '<html lang="en">' in english and "Send the picture" in english

    status, page = await upload(phone, token, gps_photo())
    assert status == 200, page
    assert "Tack! Bilden är skickad till sjuksköterskan." in page and "Skicka en bild till" in page
    files = sorted((tmp_path / "images").rglob("*.jpg"))
    assert len(files) == 2  # the image and its thumbnail
    for f in files:
        data = f.read_bytes()
        assert data.startswith(b"\xff\xd8") and b"Exif" not in data and b"Phonemaker" not in data

    resp = await anna.get(f"/api/v1/calls/{world.call_anna}/images")
    assert resp.status == 200
    [image] = (await resp.json())["images"]
    assert image["width"] == 320 and image["height"] == 240 and image["attached_note_id"] is None
    assert image["url"] == f"/api/v1/media/images/{image['id']}" and image["thumb_url"] == image["url"] + "/thumbnail"
    for url in (image["url"], image["thumb_url"]):
        resp = await anna.get(url)
        data = await resp.read()
        assert resp.status == 200 and data.startswith(b"\xff\xd8") and b"Exif" not in data
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["Cache-Control"] == "no-store, private"
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Content-Disposition"] == "inline"
    views = database.run_sync(lambda s: [(v.image_id, v.what, v.user_id) for v in s.exec(select(MediaAccess))])
    assert views == [(image["id"], "image", world.anna), (image["id"], "thumbnail", world.anna)]

    await login(bertil, "bertil")
    assert (await bertil.get(f"/api/v1/calls/{world.call_anna}/images")).status == 403
    assert (await bertil.get(image["url"])).status == 403
    assert (await phone.get(image["url"])).status == 401
    assert len(database.run_sync(lambda s: s.exec(select(MediaAccess)).all())) == 2
    kinds = [e.kind for e in database.run_sync(lambda s: calls.events(s, world.call_anna))]
    assert "media.image_offered" in kinds and "media.image_received" in kinds


async def test_the_caller_is_told_what_went_wrong_and_may_try_again(
        browsers: list[Client], database: Database, world: World) -> None:
    """A text file: 400 with the Swedish message and the form again; too large: 413; a forged token: 404;
    after the link's uploads are used: 410. None of them stores anything."""
    anna, _, phone = browsers
    csrf = await login(anna, "anna")
    token = await new_link(anna, csrf, database, world.call_anna)

    status, page = await upload(phone, token, "hej, detta är ingen bild\n".encode(), filename="bild.jpg")
    assert status == 400
    assert "Filen är ingen bild vi kan läsa." in page and f'action="/m/{token}/images"' in page
    status, page = await upload(phone, token, b"\xff\xd8" + b"x" * int(MAX_MB * 1024 * 1024 + 10))
    assert status == 413 and "Bilden är för stor." in page and 'name="image"' in page
    status, page = await upload(phone, token, b"not png", filename="a.png", content_type="image/png")
    assert status == 400
    assert database.run_sync(lambda s: s.exec(select(MediaImage)).all()) == []

    forged = secrets.token_urlsafe(32)
    for resp in (await phone.get(f"/m/{forged}"), await phone.post(f"/m/{forged}/images", data=form(gps_photo()))):
        assert resp.status == 404
        page = await resp.text()
        assert STATE_TEXT[LinkState.UNKNOWN][0] in page and "Traceback" not in page and "<form" not in page

    for n in range(USES):
        status, page = await upload(phone, token, gps_photo())
        assert status == 200, page
        assert ("Skicka en bild till" in page) is (n < USES - 1)
    for resp in (await phone.get(f"/m/{token}"), await phone.post(f"/m/{token}/images", data=form(gps_photo()))):
        assert resp.status == 410 and STATE_TEXT[LinkState.USED_UP][0] in await resp.text()
    assert len(database.run_sync(lambda s: s.exec(select(MediaImage)).all())) == USES


async def test_the_nurse_closes_the_links_and_links_expire(
        browsers: list[Client], database: Database, world: World, clock: FakeClock) -> None:  # noqa: F811
    """DELETE media-links closes every link of the contact (410 for the caller); a link older than
    `link_minutes` is expired (410); Bertil may not close Anna's call's links."""
    anna, bertil, phone = browsers
    csrf = await login(anna, "anna")
    first = await new_link(anna, csrf, database, world.call_anna)
    second = await new_link(anna, csrf, database, world.call_anna)
    csrf_b = await login(bertil, "bertil")
    resp = await bertil.delete(f"/api/v1/calls/{world.call_anna}/media-links", headers={"X-CSRF-Token": csrf_b})
    assert resp.status == 403 and (await resp.json())["error"] == "not_your_call"
    resp = await anna.delete(f"/api/v1/calls/{world.call_anna}/media-links", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and await resp.json() == {"revoked": 2}
    for token in (first, second):
        resp = await phone.get(f"/m/{token}")
        assert resp.status == 410 and STATE_TEXT[LinkState.REVOKED][0] in await resp.text()
    status, page = await upload(phone, first, gps_photo())
    assert status == 410

    token = await new_link(anna, csrf, database, world.call_anna)
    assert (await phone.get(f"/m/{token}")).status == 200
    clock.advance(minutes=15, seconds=1)
    resp = await phone.get(f"/m/{token}?lang=en")
    assert resp.status == 410 and STATE_TEXT[LinkState.EXPIRED][1] in await resp.text()
    status, page = await upload(phone, token, gps_photo())
    assert status == 410 and STATE_TEXT[LinkState.EXPIRED][0] in page
    assert database.run_sync(lambda s: s.exec(select(MediaImage)).all()) == []


async def test_the_image_is_attached_to_annas_note_only_by_her(
        browsers: list[Client], database: Database, world: World) -> None:
    """Anna attaches the image to her note of the call (the list then shows it); Bertil cannot (403); an
    unknown image is 404."""
    anna, bertil, phone = browsers
    csrf = await login(anna, "anna")
    token = await new_link(anna, csrf, database, world.call_anna)
    assert (await upload(phone, token, gps_photo()))[0] == 200
    image_id = database.run_sync(lambda s: s.exec(select(MediaImage.id)).one())
    note_id = database.run_sync(lambda s: journal.open_note(s, world.call_anna, world.anna, T0)[0].id)

    csrf_b = await login(bertil, "bertil")
    resp = await bertil.post(f"/api/v1/media/images/{image_id}/attach", json={"note_id": note_id},
                             headers={"X-CSRF-Token": csrf_b})
    assert resp.status == 403 and (await resp.json())["error"] == "not_your_note"
    resp = await anna.post(f"/api/v1/media/images/{'0' * 32}/attach", json={"note_id": note_id},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 404 and (await resp.json())["error"] == "unknown_image"
    resp = await anna.post(f"/api/v1/media/images/{image_id}/attach", json={"note_id": note_id},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["attached_note_id"] == note_id
    [listed] = (await (await anna.get(f"/api/v1/calls/{world.call_anna}/images")).json())["images"]
    assert listed["attached_note_id"] == note_id


async def test_staff_refusals(browsers: list[Client], database: Database, world: World) -> None:
    """Not logged in: 401; Bertil: 403 not_your_call; an unknown call: 404; a landline caller: 422 no_mobile;
    nonsense in `to`: 422 bad_number; a bad kind: 400; no CSRF header: 403. Nothing is sent. A video link is
    allowed and its page is the video room's (tests/webrtc/test_video.py)."""
    anna, bertil, phone = browsers
    assert (await request_link(anna, None, world.call_anna))[0] == 401
    csrf_b = await login(bertil, "bertil")
    status, body = await request_link(bertil, csrf_b, world.call_anna)
    assert status == 403 and body["error"] == "not_your_call", body
    csrf = await login(anna, "anna")
    status, body = await request_link(anna, csrf, "0" * 32)
    assert status == 404 and body["error"] == "unknown_call", body
    status, body = await request_link(anna, csrf, answered_call(database, world, LANDLINE))
    assert status == 422 and body["error"] == "no_mobile", body
    status, body = await request_link(anna, csrf, world.call_anna, to="hej")
    assert status == 422 and body["error"] == "bad_number", body
    resp = await anna.post(f"/api/v1/calls/{world.call_anna}/media-links", json={"kind": "audio"},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 400 and (await resp.json())["error"] == "bad_request"
    resp = await anna.post(f"/api/v1/calls/{world.call_anna}/media-links", json={"kind": "image"})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf_failed"
    assert database.run_sync(lambda s: s.exec(select(SmsMessage)).all()) == []

    status, body = await request_link(anna, csrf, world.call_anna, kind="video", to="0709876543")
    assert status == 201 and body["kind"] == "video" and body["to_display"] == "070-987 65 43", body
    [message] = database.run_sync(lambda s: s.exec(select(SmsMessage)).all())
    assert message.body.startswith("Sjuksköterskan på 1177 vill ha ett videosamtal med dig. Öppna länken: ")
    resp = await phone.get(f"/m/{last_token(database)}")
    assert resp.status == 200 and "Videosamtal med sjuksköterskan" in await resp.text()


async def test_uploads_per_address_are_rate_limited(
        database: Database, redis: Redis, clock: FakeClock, world: World, tmp_path: Path) -> None:  # noqa: F811
    """Past `uploads_per_ip_per_hour` attempts from one address, the caller gets the 429 page."""
    await _clear_ip_counters(redis)
    app = make_app(database, redis, clock, tmp_path, uploads_per_ip_per_hour=2)
    anna, phone = await _clients(app, 2)
    try:
        csrf = await login(anna, "anna")
        token = await new_link(anna, csrf, database, world.call_anna)
        assert (await upload(phone, token, gps_photo()))[0] == 200
        assert (await upload(phone, token, b"nope"))[0] == 400
        resp = await phone.post(f"/m/{token}/images", data=form(gps_photo()))
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        assert "För många försök" in await resp.text()
        assert len(database.run_sync(lambda s: s.exec(select(MediaImage)).all())) == 1
    finally:
        await anna.close()
        await phone.close()
        await _clear_ip_counters(redis)


async def test_images_never_attached_are_purged_while_the_app_runs(
        browsers: list[Client], app: web.Application, database: Database, world: World, clock: FakeClock,  # noqa: F811
        tmp_path: Path) -> None:
    """The app's purge round deletes the files of an image not attached to a note once the retention is over
    (here: the clock moved 25 h; the round runs as an app starts)."""
    anna, _, phone = browsers
    csrf = await login(anna, "anna")
    token = await new_link(anna, csrf, database, world.call_anna)
    status, _ = await upload(phone, token, gps_photo())
    assert status == 200 and len(list((tmp_path / "images").rglob("*.jpg"))) == 2
    clock.advance(hours=25)
    [late] = await _clients(app, 1)  # another start of the app: its purge round runs at once
    try:
        for _ in range(50):
            if not list((tmp_path / "images").rglob("*.jpg")):
                break
            await asyncio.sleep(0.1)
        assert list((tmp_path / "images").rglob("*.jpg")) == []
        rows = database.run_sync(lambda s: s.exec(select(MediaImage)).all())
        assert len(rows) == 1 and rows[0].deleted_at is not None
    finally:
        await late.close()


async def test_photos_are_sanitized_a_few_at_a_time(browsers: list[Client], database: Database, world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Three uploads at once with `media.sanitize_at_once` = 2 (the default): at most two photos are decoded at
    the same time (each takes 150–450 MiB), the third waits its turn and is kept all the same."""
    import threading
    import time

    import webrtc.http as media_http

    real = media_http.sanitize
    lock = threading.Lock()
    running = [0]
    most = [0]

    def slow_sanitize(raw: bytes, limits: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)
            return real(raw, limits)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(media_http, "sanitize", slow_sanitize)
    anna, _bertil, phone = browsers
    csrf = await login(anna, "anna")
    token = await new_link(anna, csrf, database, world.call_anna)
    results = await asyncio.gather(*(upload(phone, token, gps_photo()) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    assert most[0] == 2
