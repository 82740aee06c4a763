"""The caller's photo and the video room in the nurse desktop, in headless Chromium: the nurse's page and the
caller's phone are two browser contexts of a real app (identity, desktop + routing on the test Redis, journal,
SMS through the outbox, webrtc) on a migrated SQLite database. The caller's pages are opened from the link in
the SMS outbox, as a phone would open it. Nora has a SIP desk phone, so the call is offered and answered through
routing (test_journal_panel.py's rig); the phone call itself is covered by test_desktop_e2e.py (Asterisk)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from calls import service as calls
from sms.models import SmsMessage
from webrtc.models import MediaAccess, MediaImage

from ..desktop import Template
from ..webrtc.test_http import gps_photo
from .test_journal_panel import (  # noqa: F401
    Rig,
    desk_phone_rig,
    on_a_call,
    open_desktop,
    presence_is,
    server_note,
    template,
    text_is,
    until,
)

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/m/[A-Za-z0-9_-]+)$")


@pytest.fixture
async def media_rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:  # noqa: F811
    async with desk_phone_rig(template, tmp_path, redis_url, media_dir=tmp_path / "images") as built:
        yield built


def outbox_link(rig: Rig) -> str:
    """The link in the newest SMS of the outbox."""
    bodies = rig.database.run_sync(lambda s: [m.body for m in s.exec(
        select(SmsMessage).order_by(col(SmsMessage.created_at), col(SmsMessage.id)))])
    assert bodies, "no SMS was sent"
    match = LINK.search(bodies[-1])
    assert match is not None, bodies[-1]
    return match.group(1)


async def test_a_photo_arrives_live_sanitized_and_is_attached_to_the_note(chromium: Any, media_rig: Rig,
                                                                           tmp_path: Path) -> None:
    """During a call Nora asks for a photo: the caller's phone opens the SMS link and sends a photo with GPS in
    its EXIF; it appears in her desktop without a reload (the desktop socket), stripped of the GPS in the
    stored bytes and in what her browser gets; she views it (logged) and attaches it, and the note's panel
    and the database both have it attached to her draft."""
    rig = media_rig
    problems: list[str] = []
    nurse = await chromium.new_context(base_url=rig.origin)
    page = await open_desktop(nurse, rig, problems, log_in=True)
    assert await page.is_hidden("#media")
    call_id = await on_a_call(page, rig)
    await until(page, "() => !document.getElementById('media').hidden", "the photo panel")
    assert (await page.text_content("#media-none")) == "Inga bilder än."

    # A landline typed in is refused under the field, nothing is sent.
    await page.fill("#media-to", "08-600 10 00")
    await page.click("#media-image")
    await text_is(page, "#media-error", "inget svenskt mobilnummer")
    assert rig.database.run_sync(lambda s: s.exec(select(SmsMessage)).all()) == []
    await page.fill("#media-to", "")
    await page.click("#media-image")
    await text_is(page, "#media-status", r"^Bildlänk skickad till 070-123 45 67, gäller till \d\d:\d\d$")
    assert await page.is_hidden("#media-error")
    link = outbox_link(rig)

    # The caller's phone: no session, the page from the SMS.
    phone = await chromium.new_context()
    caller = await phone.new_page()
    await caller.goto(link)
    assert await caller.text_content("h1") == "Skicka en bild till sjuksköterskan"
    await text_is(page, "#media-status", r"^Uppringaren har öppnat bildlänken \d\d:\d\d$")
    await caller.reload()  # opened again: not a second event
    await caller.set_input_files("#image", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                                   "buffer": gps_photo()}])
    await caller.click("button[type=submit]")
    await caller.wait_for_selector("text=Tack! Bilden är skickad till sjuksköterskan.")

    # Live in her desktop: the thumbnail loads, and the list says when it came.
    await page.wait_for_selector("#media-images li[data-image] img", timeout=10_000)
    await until(page, "() => document.querySelector('#media-images li img').naturalWidth > 0", "the thumbnail")
    assert await page.is_hidden("#media-none")
    [image] = rig.database.run_sync(lambda s: list(s.exec(select(MediaImage).where(MediaImage.call_id == call_id))))
    assert await page.get_attribute("#media-images li", "data-image") == image.id
    stored = (tmp_path / "images").rglob(f"{image.id}.jpg")
    data = next(stored).read_bytes()
    assert data[:2] == b"\xff\xd8" and b"Exif" not in data and b"Phonemaker" not in data
    served = await page.evaluate("async (u) => { const r = await fetch(u); const b = new Uint8Array(await "
                                 "r.arrayBuffer()); return [r.status, Array.from(b.slice(0, 4096))]; }",
                                 f"/api/v1/media/images/{image.id}")
    assert served[0] == 200 and b"Exif" not in bytes(served[1])

    # She views it full size: a dialog, and the view is in the access log.
    await page.click("#media-images li button.thumb")
    await until(page, "() => document.getElementById('media-viewer').open && "
                      "document.getElementById('media-viewer-img').naturalWidth > 0", "the full-size photo")
    await page.click("#media-viewer button[type=submit]")
    seen = rig.database.run_sync(lambda s: [a.what for a in s.exec(select(MediaAccess).where(
        MediaAccess.image_id == image.id))])
    assert "image" in seen and "thumbnail" in seen

    # Attached to her draft note: marked in the list, shown in the note's panel, kept in the database.
    assert await page.is_hidden("#journal-attachments")
    await page.click("#media-images li button.attach")
    await text_is(page, "#media-images li .attached", "^Bifogad till anteckningen$")
    await until(page, "() => document.querySelectorAll('#journal-attachment-list li img').length === 1",
                "the note's attachment")
    [note] = rig.notes(call_id)
    attached = rig.database.run_sync(lambda s: s.get(MediaImage, image.id))
    assert attached is not None and attached.attached_note_id == note.id
    assert [e["image"] for e in rig.events(call_id, "media.image_attached")] == [image.id]
    assert [e["image"] for e in rig.events(call_id, "media.image_received")] == [image.id]

    # Her typing autosaves the note and re-renders the card: no thumbnail is fetched (and logged) again.
    def thumbnail_views() -> int:
        return len(rig.database.run_sync(lambda s: s.exec(select(MediaAccess).where(
            MediaAccess.image_id == image.id, MediaAccess.what == "thumbnail")).all()))

    views = thumbnail_views()
    await page.fill("#j-advice", "Tvätta såret och håll det rent.")
    await page.click("#j-caller_name")  # leaving the field saves at once
    await text_is(page, "#journal-status", r"^Sparat \d\d:\d\d:\d\d$")
    await server_note(page, note.id, lambda n: n["content"]["advice"].startswith("Tvätta"))
    assert thumbnail_views() == views

    # The contact's record tells it: the link, the photo, its attachment (API and the contact's page).
    resp = await page.request.get(f"/api/v1/calls/{call_id}")
    assert [m["kind"] for m in (await resp.json())["media"]] == ["image_offered", "link_opened", "image_received",
                                                                 "image_attached"]
    contact = await nurse.new_page()
    await contact.goto(f"/calls/{call_id}")
    assert "bild bifogad" in (await contact.text_content("main") or "")
    await contact.close()

    # After a reload the list comes from the server, still attached.
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load again")
    await text_is(page, "#media-images li .attached", "^Bifogad till anteckningen$", timeout=15)
    assert problems == []
    await phone.close()
    await nurse.close()


FRAMES = """async () => {
  const pc = window.videoPeer;
  if (!pc) return {state: "none", frames: 0};
  let frames = 0;
  (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0; });
  return {state: pc.connectionState, frames};
}"""


async def frames_decoded(page: Any, what: str, timeout: float = 30.0) -> int:
    """Wait until the page's peer connection is connected and has decoded video frames; returns how many."""
    seen: dict[str, Any] = {}
    for _ in range(int(timeout / 0.25)):
        seen = await page.evaluate(FRAMES)
        if seen["state"] == "connected" and seen["frames"] > 0:
            return int(seen["frames"])
        await page.wait_for_timeout(250)
    raise AssertionError(f"{what}: no video decoded within {timeout} s; last seen {seen}")


async def test_a_two_way_video_from_the_sms_link_and_the_nurse_ends_it(chromium: Any, media_rig: Rig) -> None:
    """During a call Nora offers video: the caller's phone opens the SMS link, starts its camera (Chromium's
    fake camera), both sides reach `connected` and decode the other's frames; the microphones start off (the
    voice stays on the phone); she reloads her desktop and is back in the room; she ends the video and both pages
    say so; the call record has offered, joined, connected and ended, and the link no longer opens a room."""
    rig = media_rig
    problems: list[str] = []
    nurse = await chromium.new_context(base_url=rig.origin)
    page = await open_desktop(nurse, rig, problems, log_in=True)
    call_id = await on_a_call(page, rig)

    await page.click("#media-video")
    await text_is(page, "#media-status", r"^Videolänk skickad till 070-123 45 67")
    await until(page, "() => document.getElementById('video-status').dataset.state === 'waiting'", "waiting")
    assert await page.is_disabled("#media-video")  # one room at a time
    link = outbox_link(rig)
    assert "videosamtal" in rig.database.run_sync(lambda s: s.exec(
        select(SmsMessage).order_by(col(SmsMessage.id).desc())).first()).body

    phone = await chromium.new_context()
    caller = await phone.new_page()
    caller_problems: list[str] = []
    caller.on("pageerror", lambda e: caller_problems.append(f"page error: {e}"))
    caller.on("console", lambda m: m.type == "error" and "Refused" in m.text and caller_problems.append(m.text))
    await caller.goto(link)
    assert await caller.text_content("h1") == "Videosamtal med sjuksköterskan"
    await caller.click("#start")

    assert await frames_decoded(page, "the nurse's desktop") > 0
    assert await frames_decoded(caller, "the caller's phone") > 0
    await until(page, "() => document.getElementById('video-status').dataset.state === 'connected'", "connected")
    await caller.wait_for_function("() => document.body.dataset.state === 'connected'", timeout=10_000)

    # She reloads her desktop mid-video: the tab takes her back into the room, a fresh offer, frames again.
    await page.reload()
    await until(page, "() => document.body.dataset.ready === 'true'", "the desktop to load again")
    await until(page, "() => document.getElementById('video-status').dataset.state === 'connected'",
                "connected again", timeout=30)
    assert await frames_decoded(page, "the nurse's desktop after her reload") > 0
    assert await frames_decoded(caller, "the caller's phone after her reload") > 0
    # The room's microphones start off on both sides: the voice goes over the phone call.
    assert await page.evaluate("() => window.vardlinje.video.local.getAudioTracks().every((t) => !t.enabled)")
    assert await page.get_attribute("#video-mute", "aria-pressed") == "true"
    await page.click("#video-mute")
    assert await page.evaluate("() => window.vardlinje.video.local.getAudioTracks().every((t) => t.enabled)")

    await page.click("#video-end")
    await until(page, "() => document.getElementById('video-status').dataset.state === 'ended'", "ended")
    await caller.wait_for_function("() => document.body.dataset.state === 'ended'", timeout=10_000)
    assert "av dig" in (await page.text_content("#video-status") or "")
    assert await caller.evaluate("() => window.videoPeer === null || window.videoPeer.connectionState === 'closed'")

    kinds = [e.kind for e in rig.database.run_sync(lambda s: calls.events(s, call_id))
             if e.kind.startswith("media.video")]
    for kind in ("media.video_offered", "media.video_joined", "media.video_connected", "media.video_ended"):
        assert kind in kinds, kinds
    assert kinds.count("media.video_ended") == 1
    assert [e["by"] for e in rig.events(call_id, "media.video_ended")] == ["nurse"]

    # The link is spent: opening it again does not start a room.
    again = await phone.new_page()
    response = await again.goto(link)
    assert response is not None and response.status == 410
    assert problems == [] and caller_problems == []
    await phone.close()
    await nurse.close()
