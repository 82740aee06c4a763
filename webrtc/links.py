"""One-time links for the caller's phone (image upload, video): the decisions, pure.

A link is bound to the contact (the call record's id, not one phone leg, so a transfer keeps it valid), has a
short life, allows a few uses, and dies with the contact: when the nurse closes it or the call has ended and
wrap-up is over. Only a hash of the token is stored: a database leak gives no working links. The token is 32
random bytes (256 bits), so guessing is hopeless and rate limits only guard the server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_BYTES = 32


class LinkKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class LinkState(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"  # no such token (forged, mistyped)
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"  # the nurse closed it, or the contact is over


#: What the caller's page says for each state, Swedish then English: never a stack trace.
STATE_TEXT = {
    LinkState.UNKNOWN: ("Länken fungerar inte. Kontrollera att du öppnat hela länken från sms:et.",
                        "This link does not work. Check that you opened the whole link from the text message."),
    LinkState.EXPIRED: ("Länken har gått ut. Be sjuksköterskan skicka en ny.",
                        "The link has expired. Ask the nurse to send a new one."),
    LinkState.USED_UP: ("Du har redan skickat så många bilder som länken tillåter.",
                        "You have already sent as many pictures as this link allows."),
    LinkState.REVOKED: ("Samtalet är avslutat och länken stängd.", "The call has ended and the link is closed."),
}


def new_token() -> tuple[str, str]:
    """(the token for the link, the hash to store)."""
    clear = secrets.token_urlsafe(TOKEN_BYTES)
    return clear, token_hash(clear)


def token_hash(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def same_token(clear: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(clear), stored_hash)


@dataclass(frozen=True)
class Link:
    call_id: str
    kind: LinkKind
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int = 0
    revoked_at: datetime | None = None


def issue(call_id: str, kind: LinkKind, now: datetime, *, lifetime: timedelta, max_uses: int) -> Link:
    if lifetime <= timedelta(0) or max_uses < 1:
        raise ValueError("a link needs a positive lifetime and at least one use")
    return Link(call_id, kind, now, now + lifetime, max_uses)


def state(link: Link | None, now: datetime, *, contact_over_at: datetime | None = None) -> LinkState:
    """Whether the link may be used now. `contact_over_at`: when the call ended and wrap-up was over (None:
    still going) — a link never outlives its contact."""
    if link is None:
        return LinkState.UNKNOWN
    if link.revoked_at is not None or (contact_over_at is not None and contact_over_at <= now):
        return LinkState.REVOKED
    if now >= link.expires_at:
        return LinkState.EXPIRED
    if link.uses >= link.max_uses:
        return LinkState.USED_UP
    return LinkState.OK


def used(link: Link) -> Link:
    """The link after one more use (the caller checks `state` first)."""
    return Link(link.call_id, link.kind, link.created_at, link.expires_at, link.max_uses, link.uses + 1,
                link.revoked_at)
