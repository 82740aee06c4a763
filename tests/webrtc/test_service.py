"""The escalation's records on a real database: a link for the contact (its hash only), uploads counted
against it, the link dead once the contact is over, images stored sanitized with a thumbnail, every view
logged, attaching to the call's note, and the purge of what was never attached."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text
from sqlmodel import Session, select

from calls import service as calls
from journal import service as journal
from journal.models import JournalNote
from vardlinje.db import Database
from webrtc import service
from webrtc.images import sanitize
from webrtc.links import LinkKind, LinkState
from webrtc.models import MediaAccess, MediaLink
from webrtc.store import FileImageStore

from ..identity.conftest import T0
from ..journal.conftest import World, build_world

WRAP_UP = timedelta(minutes=2)


def _photo() -> bytes:
    buf = BytesIO()
    Image.new("RGB", (400, 300), (180, 40, 40)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def test_a_link_takes_three_photos_and_dies_with_the_contact(database: Database, world: World,
                                                             tmp_path: Path) -> None:
    """Issued for the caller's mobile: only the token's hash is stored; three uploads, then used up; once the
    call has ended and wrap-up is over the link is revoked even before it expires."""
    store = FileImageStore(tmp_path / "images")
    clean = sanitize(_photo())

    def issue(s: Session) -> tuple[int, str]:
        link, clear = service.create_link(s, world.call_anna, LinkKind.IMAGE, "070-123 45 67", world.anna, T0,
                                          lifetime=timedelta(minutes=15), max_uses=3)
        assert link.id is not None and link.to_number == "+46701234567" and clear not in link.token_hash
        return link.id, clear

    link_id, clear = database.run_sync(issue)

    def upload(s: Session) -> int:
        link = service.find_link(s, clear)
        assert link is not None and link.id == link_id
        return service.receive_image(s, store, link, clean, T0 + timedelta(minutes=1), wrap_up=WRAP_UP).remaining

    assert [database.run_sync(upload) for _ in range(3)] == [2, 1, 0]
    with pytest.raises(service.MediaError) as used_up:
        database.run_sync(upload)
    assert used_up.value.code == LinkState.USED_UP.value
    assert database.run_sync(lambda s: service.find_link(s, clear + "x")) is None

    def second_link(s: Session) -> str:
        return service.create_link(s, world.call_anna, LinkKind.VIDEO, "+46701234567", world.anna, T0,
                                   lifetime=timedelta(minutes=15), max_uses=1)[1]

    video = database.run_sync(second_link)
    database.run_sync(lambda s: calls.close_call(s, world.call_anna, T0 + timedelta(minutes=3), "ended"))

    def state_at(minutes: int) -> LinkState:
        return database.run_sync(lambda s: service.link_state(s, service.find_link(s, video),
                                                              T0 + timedelta(minutes=minutes), wrap_up=WRAP_UP))

    assert state_at(4) is LinkState.OK  # wrap-up still running
    assert state_at(6) is LinkState.REVOKED
    kinds = [e.kind for e in database.run_sync(lambda s: calls.events(s, world.call_anna))]
    assert kinds.count("media.image_received") == 3 and "media.video_offered" in kinds


def test_only_swedish_mobiles_get_links(database: Database, world: World) -> None:
    """A landline, a foreign number or nonsense is refused with a clear code; nothing is stored."""
    for number, code in (("08-600 10 00", "no_mobile"), ("+4915112345678", "no_mobile"), ("hej", "bad_number")):
        with pytest.raises(service.MediaError) as refused:
            database.run_sync(lambda s, n=number: service.create_link(
                s, world.call_anna, LinkKind.IMAGE, n, world.anna, T0, lifetime=timedelta(minutes=15), max_uses=1))
        assert refused.value.code == code, number
    assert database.run_sync(lambda s: s.exec(select(MediaLink)).all()) == []


def test_images_are_viewed_logged_attached_and_the_rest_purged(database: Database, world: World,
                                                               tmp_path: Path) -> None:
    """Stored image and thumbnail are the sanitized bytes; each view is logged (and the log cannot be
    rewritten); the image attached to the call's note survives the purge, the other one's files go."""
    store = FileImageStore(tmp_path / "images")
    clean = sanitize(_photo())

    def two_images(s: Session) -> tuple[str, str]:
        link, _ = service.create_link(s, world.call_anna, LinkKind.IMAGE, "0701234567", world.anna, T0,
                                      lifetime=timedelta(minutes=15), max_uses=3)
        a = service.receive_image(s, store, link, clean, T0, wrap_up=WRAP_UP).image.id
        b = service.receive_image(s, store, link, clean, T0, wrap_up=WRAP_UP).image.id
        return a, b

    keep, drop = database.run_sync(two_images)
    assert database.run_sync(lambda s: service.read_image(s, store, keep, world.anna, T0)) == clean.data
    thumb = database.run_sync(lambda s: service.read_image(s, store, keep, world.anna, T0, thumbnail=True))
    assert thumb == clean.thumbnail
    views = database.run_sync(lambda s: s.exec(select(MediaAccess)).all())
    assert [(v.image_id, v.what, v.user_id) for v in views] == [(keep, "image", world.anna),
                                                                (keep, "thumbnail", world.anna)]
    with pytest.raises(Exception, match="append-only"):
        database.run_sync(lambda s: s.execute(text("DELETE FROM media_access")))

    note_id = database.run_sync(lambda s: journal.open_note(s, world.call_anna, world.anna, T0)[0].id)
    database.run_sync(lambda s: service.attach(s, keep, note_id, world.anna, T0))
    with pytest.raises(service.MediaError) as other:
        database.run_sync(lambda s: service.attach(s, drop, note_id, world.bertil, T0))
    assert other.value.code == "not_your_note"

    def sign_it(s: Session) -> None:  # as journal.sign leaves it; the record is then immutable
        note = s.get(JournalNote, note_id)
        assert note is not None
        note.status = "signed"
        s.add(note)

    database.run_sync(sign_it)
    with pytest.raises(service.MediaError) as signed:
        database.run_sync(lambda s: service.attach(s, drop, note_id, world.anna, T0))
    assert signed.value.code == "note_signed"
    purged = database.run_sync(lambda s: service.purge(s, store, T0 + timedelta(hours=25), timedelta(hours=24)))
    assert purged == 1
    assert store.get(f"{drop}.jpg") is None and store.get(f"{keep}.jpg") == clean.data
    assert database.run_sync(lambda s: service.read_image(s, store, drop, world.anna, T0)) is None
    assert [i.id for i in database.run_sync(lambda s: service.images_for_call(s, world.call_anna))] == [keep]


def test_the_file_store_refuses_keys_that_are_not_ours(tmp_path: Path) -> None:
    """No path can escape the store's folder: only our own ids are keys."""
    store = FileImageStore(tmp_path)
    for key in ("../etc/passwd", "a" * 32 + ".png", "x.jpg"):
        with pytest.raises(ValueError):
            store.put(key, b"x")
