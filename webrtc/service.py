"""The escalation's records in SQL: issuing and using one-time links, keeping the callers' images (sanitized,
with thumbnails, in an ImageStore), attaching them to the journal note, and deleting what was not attached
after the retention. Decisions come from `links` (pure); images are sanitized by `images` before they get here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import update
from sqlmodel import Session, col, select

from agents.models import Nurse
from calls import service as calls
from calls.models import Call
from identity.service import aware
from journal.models import JournalNote

from .images import CleanImage
from .links import Link, LinkKind, LinkState, new_token, state, token_hash
from .models import MediaAccess, MediaImage, MediaLink
from .store import ImageStore


class MediaError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def mobile_number(raw: str) -> str:
    """A Swedish mobile number in E.164, or MediaError: a link by SMS needs a phone that receives SMS."""
    try:
        number = phonenumbers.parse(raw, "SE")
    except phonenumbers.NumberParseException:
        raise MediaError("bad_number", f"{raw!r} är inget telefonnummer / is not a phone number") from None
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_valid_number(number) or number.country_code != 46 or kind not in (
            phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise MediaError("no_mobile", f"{raw!r} är inget svenskt mobilnummer; sms kan inte skickas dit / not a "
                                      "Swedish mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def create_link(s: Session, call_id: str, kind: LinkKind, to_number: str, user_id: int, now: datetime, *,
                lifetime: timedelta, max_uses: int) -> tuple[MediaLink, str]:
    """A new link for the contact (the call record), and its token — shown once, only its hash is kept."""
    call = s.get(Call, call_id)
    if call is None:
        raise MediaError("unknown_call", "Inget sådant samtal / no such call")
    number = mobile_number(to_number)
    clear, hashed = new_token()
    link = MediaLink(token_hash=hashed, call_id=call_id, kind=kind.value, to_number=number, created_by_user_id=user_id,
                     created_at=now, expires_at=now + lifetime, max_uses=max_uses)
    s.add(link)
    s.flush()
    calls.append(s, call_id, f"media.{kind.value}_offered", now, data={"link": link.id, "to": number})
    return link, clear


def find_link(s: Session, clear: str) -> MediaLink | None:
    if not clear or len(clear) > 100:
        return None
    return s.exec(select(MediaLink).where(MediaLink.token_hash == token_hash(clear))).first()


def _contact_over_at(s: Session, call_id: str, wrap_up: timedelta) -> datetime | None:
    call = s.get(Call, call_id)
    if call is None or call.ended_at is None:
        return None
    return aware(call.ended_at) + wrap_up


def link_state(s: Session, link: MediaLink | None, now: datetime, *, wrap_up: timedelta) -> LinkState:
    if link is None:
        return LinkState.UNKNOWN
    pure = Link(link.call_id, LinkKind(link.kind), aware(link.created_at), aware(link.expires_at),
                link.max_uses, link.uses, aware(link.revoked_at) if link.revoked_at else None)
    return state(pure, now, contact_over_at=_contact_over_at(s, link.call_id, wrap_up))


def revoke_links(s: Session, call_id: str, now: datetime, reason: str) -> int:
    """The nurse closes the contact's links (or the contact ended): they stop working at once."""
    n = 0
    for link in s.exec(select(MediaLink).where(MediaLink.call_id == call_id, col(MediaLink.revoked_at).is_(None))):
        link.revoked_at, link.revoked_reason = now, reason
        s.add(link)
        n += 1
    return n


def link_opened(s: Session, link_id: int, now: datetime) -> tuple[MediaLink, str | None] | None:
    """The caller opened the link for the first time: `media.link_opened` on the record; the link and the
    endpoint of the nurse who sent it (her desktop hears it), or None for a link gone meanwhile."""
    link = s.get(MediaLink, link_id)
    if link is None:
        return None
    calls.append(s, link.call_id, "media.link_opened", now, data={"link": link.id, "kind": link.kind})
    return link, s.exec(select(Nurse.endpoint).where(Nurse.user_id == link.created_by_user_id)).first()


@dataclass(frozen=True)
class Received:
    image: MediaImage
    remaining: int  # uploads left on the link


def receive_image(s: Session, store: ImageStore, link: MediaLink, clean: CleanImage, now: datetime, *,
                  wrap_up: timedelta) -> Received:
    """Keep one sanitized upload: the link must be usable now (checked again inside this transaction)."""
    current = link_state(s, link, now, wrap_up=wrap_up)
    if current is not LinkState.OK:
        raise MediaError(current.value, current.value)
    image = MediaImage(id=uuid.uuid4().hex, call_id=link.call_id, link_id=link.id or 0, sha256=clean.sha256,
                       width=clean.width, height=clean.height, source_format=clean.source_format,
                       size_bytes=len(clean.data), received_at=now)
    store.put(f"{image.id}.jpg", clean.data)
    store.put(f"{image.id}.thumb.jpg", clean.thumbnail)
    link.uses += 1
    s.add(link)
    s.add(image)
    s.flush()
    calls.append(s, link.call_id, "media.image_received", now,
                 data={"image": image.id, "link": link.id, "width": clean.width, "height": clean.height})
    return Received(image, link.max_uses - link.uses)


def images_for_call(s: Session, call_id: str) -> list[MediaImage]:
    return list(s.exec(select(MediaImage).where(MediaImage.call_id == call_id, col(MediaImage.deleted_at).is_(None))
                       .order_by(col(MediaImage.received_at))))


def read_image(s: Session, store: ImageStore, image_id: str, user_id: int, now: datetime, *,
               thumbnail: bool = False) -> bytes | None:
    """The image's bytes for staff (the caller checks she may see the call's images); the view is logged."""
    image = s.get(MediaImage, image_id)
    if image is None or image.deleted_at is not None:
        return None
    data = store.get(f"{image.id}.thumb.jpg" if thumbnail else f"{image.id}.jpg")
    if data is not None:
        s.add(MediaAccess(at=now, image_id=image.id, user_id=user_id, what="thumbnail" if thumbnail else "image"))
    return data


def attach(s: Session, image_id: str, note_id: str, user_id: int, now: datetime) -> MediaImage:
    """Attach the image to the journal note of the same call: kept with the record, never purged."""
    image = s.get(MediaImage, image_id)
    note = s.get(JournalNote, note_id)
    if image is None or image.deleted_at is not None:
        raise MediaError("unknown_image", "Ingen sådan bild / no such image")
    if note is None or note.call_id != image.call_id:
        raise MediaError("other_call", "Bilden hör till ett annat samtal än anteckningen / the image belongs to "
                                       "another call than the note")
    if note.status == "signed":
        raise MediaError("note_signed", "Anteckningen är signerad; bifoga bilden till ett tillägg / the note is "
                                        "signed; attach the image to an amendment")
    if note.author_user_id != user_id:
        raise MediaError("not_your_note", "Bara den som skriver anteckningen bifogar bilder / only the note's "
                                          "author attaches images")
    image.attached_note_id, image.attached_by_user_id = note_id, user_id
    s.add(image)
    calls.append(s, image.call_id, "media.image_attached", now, data={"image": image.id, "note": note_id})
    return image


def purge(s: Session, store: ImageStore, now: datetime, retention: timedelta) -> int:
    """Delete the files of images never attached to a note once `retention` has passed; the row stays (with
    deleted_at) so the record still says an image came and went."""
    cutoff = now - retention
    n = 0
    for image in s.exec(select(MediaImage).where(col(MediaImage.attached_note_id).is_(None),
                                                 col(MediaImage.deleted_at).is_(None),
                                                 col(MediaImage.received_at) < cutoff)):
        store.delete(f"{image.id}.jpg")
        store.delete(f"{image.id}.thumb.jpg")
        image.deleted_at = now
        s.add(image)
        n += 1
    return n


# --- the video room (webrtc/room.py; its decisions in webrtc/video.py) -----------------------------------------


def join_video(s: Session, link: MediaLink, now: datetime) -> bool:
    """The caller entered the room: one of the link's uses, and `media.video_joined` on the record (the caller
    checks the link is a video link that may be joined first, in the same transaction). The use is counted in
    the database in one statement, so two joins at once cannot both take the last one: False then."""
    taken = s.execute(update(MediaLink).where(col(MediaLink.id) == link.id, col(MediaLink.uses) < link.max_uses)
                      .values(uses=MediaLink.uses + 1))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    s.refresh(link)
    calls.append(s, link.call_id, "media.video_joined", now, data={"link": link.id})
    return True


def record_video(s: Session, link_id: int, kind: str, now: datetime, data: dict[str, object]) -> bool:
    """One event of the room on the contact's record (the room decides which, and that only once)."""
    link = s.get(MediaLink, link_id)
    if link is None:
        return False
    calls.append(s, link.call_id, kind, now, data=dict(data))
    return True


def end_video(s: Session, link_id: int, by: str, now: datetime, *, revoke: str | None) -> bool:
    """The video is over: `media.video_ended` on the record and, when a side ended it, the link closed with the
    reason `revoke` so no one joins again (when the contact's close ended it, the link is closed already or
    dies with the contact, and keeps that reason). False when the room was ended before."""
    link = s.get(MediaLink, link_id)
    if link is None or (revoke is not None and link.revoked_reason == revoke):
        return False
    if revoke is not None and link.revoked_at is None:
        link.revoked_at, link.revoked_reason = now, revoke
        s.add(link)
    calls.append(s, link.call_id, "media.video_ended", now, data={"link": link.id, "by": by})
    return True
