"""The video room's decisions, pure (docs/escalation.md, "Video"): who may enter, which signalling messages each
side may send, what the server does with each one, and which call record events follow. No I/O: the sockets,
Redis and the database are in `room.py`.

The room only carries signalling (offer, answer, ICE candidates) between the nurse's desktop and the caller's
phone; the media flows browser to browser (or through TURN) and never through this server. The nurse offers,
the caller answers. The voice stays on the phone call, so the room's microphones start off.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .links import LinkKind, LinkState

Role = Literal["nurse", "caller"]
ROLES: tuple[Role, Role] = ("nurse", "caller")
#: Who ended the room, as `{"type":"ended","by":…}` says.
EndedBy = Literal["nurse", "caller", "contact_closed"]

MAX_MESSAGE_BYTES = 64 * 1024  # the sockets' max_msg_size: an SDP with many codecs is ~10 KiB
MAX_SDP = 60 * 1024
MAX_CANDIDATE = 1024  # an a=candidate line is ~100–250 characters
MAX_MID = 64
MAX_UFRAG = 256
MAX_REASON = 200
MAX_BAD_MESSAGES = 20  # then the socket is closed (1008): a peer that keeps sending nonsense is broken or hostile
MAX_FAILED_EVENTS = 3  # media.video_failed per link: enough to see a pattern, not a flood in the record

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_SERVER_ERROR = 1011
CLOSE_REPLACED = 4409  # a newer socket of the same side took over (a reload, another tab)

REVOKED_REASON = "video_ended"  # media_link.revoked_reason once the room is over


# --- the messages a browser sends ----------------------------------------------------------------------------


class _Message(BaseModel):
    # Extra fields are refused: the peer gets exactly what the protocol describes, nothing smuggled along.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Offer(_Message):
    type: Literal["offer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class Answer(_Message):
    type: Literal["answer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class CandidateInit(_Message):
    """RTCIceCandidateInit as `RTCIceCandidate.toJSON()` gives it."""

    candidate: str = Field(max_length=MAX_CANDIDATE)
    sdpMid: str | None = Field(None, max_length=MAX_MID)  # noqa: N815 — the browser's own field names
    sdpMLineIndex: int | None = Field(None, ge=0, le=255)  # noqa: N815
    usernameFragment: str | None = Field(None, max_length=MAX_UFRAG)  # noqa: N815


class Candidate(_Message):
    type: Literal["candidate"]
    candidate: CandidateInit | None  # null: the end of the candidates


class StateReport(_Message):
    type: Literal["state"]
    state: Literal["connected", "disconnected", "failed"]
    reason: str | None = Field(None, max_length=MAX_REASON)


class End(_Message):
    type: Literal["end"]


class Ping(_Message):
    type: Literal["ping"]


Incoming = Offer | Answer | Candidate | StateReport | End | Ping
_INCOMING: TypeAdapter[Incoming] = TypeAdapter(
    Annotated[Incoming, Field(discriminator="type")])

#: Signalling that only one side may send: the nurse's desktop offers, the caller's phone answers.
ONLY: dict[str, Role] = {"offer": "nurse", "answer": "caller"}


@dataclass(frozen=True)
class Refusal:
    """Why a message was not accepted: `{"type":"error","code":…,"message":…}` goes back, the socket stays."""

    code: Literal["bad_message", "wrong_role"]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "message": self.message}


def parse(raw: str | bytes, role: Role) -> tuple[Incoming, dict[str, Any]] | Refusal:
    """The message and its JSON as sent (what is relayed), or why it is refused."""
    if isinstance(raw, bytes) or len(raw.encode()) > MAX_MESSAGE_BYTES:
        return Refusal("bad_message", "Skicka JSON som text, högst 64 KiB / send JSON text frames of at most 64 KiB")
    try:
        data = json.loads(raw)
    except ValueError:
        return Refusal("bad_message", "Inte JSON / not JSON")
    if not isinstance(data, dict):
        return Refusal("bad_message", "Ett JSON-objekt med type / a JSON object with a type")
    kind = data.get("type")
    try:
        message = _INCOMING.validate_python(data)
    except ValidationError as exc:
        # The first problem only: short, and it never echoes a long SDP back.
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return Refusal("bad_message", f"Felaktigt meddelande / bad message ({where}: {first.get('msg', '')})"[:300])
    owner = ONLY.get(str(kind))
    if owner is not None and owner != role:
        return Refusal("wrong_role", f"Bara {'sjuksköterskan' if owner == 'nurse' else 'uppringaren'} skickar "
                                     f"{kind} / only the {owner} sends {kind}")
    return message, data


# --- what the server does with a message ---------------------------------------------------------------------


@dataclass(frozen=True)
class Relay:
    """Pass the message, unchanged, to the other side (lost if it is not there: it starts afresh on joining)."""

    message: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    message: dict[str, Any]


@dataclass(frozen=True)
class Record:
    """A call record event, written when the guard `guard` (shared by every app instance) has let fewer than
    `limit` of them through for this link."""

    kind: str
    data: dict[str, Any]
    guard: str
    limit: int = 1


@dataclass(frozen=True)
class EndRoom:
    by: EndedBy


Action = Relay | Reply | Record | EndRoom


def decide(role: Role, message: Incoming, data: dict[str, Any], link_id: int) -> list[Action]:
    """What one accepted message from `role` leads to."""
    if isinstance(message, Offer | Answer | Candidate):
        return [Relay(data)]
    if isinstance(message, Ping):
        return [Reply({"type": "pong"})]
    if isinstance(message, End):
        return [EndRoom(role)]
    if message.state == "connected":
        return [Record("media.video_connected", {"link": link_id, "by": role}, guard=f"connected:{role}")]
    if message.state == "failed":
        return [Record("media.video_failed", {"link": link_id, "by": role, "reason": failure_reason(role, message.reason)},
                       guard="failed", limit=MAX_FAILED_EVENTS)]
    return []  # disconnected: ICE may recover by itself; the side reports connected or failed next


def failure_reason(role: Role, reason: str | None) -> str:
    """What goes into the call record of a side's failure. The caller is a stranger holding a link: only a
    short code (`ice`, `camera`, `answer`) — never free text of theirs in a medical record."""
    reason = reason or ""
    if role == "caller" and not REASON_CODE.fullmatch(reason):
        return ""
    return reason


def ended_record(link_id: int, by: EndedBy) -> Record:
    return Record("media.video_ended", {"link": link_id, "by": by}, guard="ended")


def too_many_bad(count: int) -> bool:
    return count >= MAX_BAD_MESSAGES


REASON_CODE = re.compile(r"[a-z_]{1,32}")
PACE_WINDOW = 10.0  # seconds
PACE_MOST = 200  # messages in a window: a negotiation is an offer or answer and a few dozen candidates


@dataclass
class Pace:
    """Messages one socket may send: a sliding window. A browser negotiating sends tens; a flood is not one."""

    window: float = PACE_WINDOW
    most: int = PACE_MOST
    stamps: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.most:
            return False
        self.stamps.append(now)
        return True


# --- who may enter -------------------------------------------------------------------------------------------


class Refused(StrEnum):
    UNKNOWN_LINK = "unknown_link"  # 404: no such link, or not a video link
    NOT_YOUR_LINK = "not_your_link"  # 403: another nurse's link
    VIDEO_OVER = "video_over"  # 410: the video was ended, the link closed, or the contact is over


REFUSED_STATUS = {Refused.UNKNOWN_LINK: 404, Refused.NOT_YOUR_LINK: 403, Refused.VIDEO_OVER: 410}
REFUSED_TEXT = {
    Refused.UNKNOWN_LINK: "Ingen sådan videolänk / no such video link",
    Refused.NOT_YOUR_LINK: "Videolänken skickades av en annan sjuksköterska / another nurse sent this video link",
    Refused.VIDEO_OVER: "Videosamtalet är avslutat eller kontakten stängd / the video or the contact is over",
}


def admit_nurse(kind: str | None, created_by: int | None, user_id: int, state: LinkState) -> Refused | None:
    """The nurse who sent a video link enters its room until the video or the contact is over. The link's
    time and uses limit the caller's joins, not her: the room lives until it is ended."""
    if kind != LinkKind.VIDEO.value or state is LinkState.UNKNOWN:
        return Refused.UNKNOWN_LINK
    if created_by != user_id:
        return Refused.NOT_YOUR_LINK
    if state is LinkState.REVOKED:
        return Refused.VIDEO_OVER
    return None


def admit_caller(kind: str | None, state: LinkState, *, uses: int = 0, max_uses: int = 1) -> LinkState:
    """The caller enters with a video link that is usable now (each join uses one of its uses); anything but
    OK is the state the refusal names. An image link's token is no way into a room. The link's time limits the
    first join only: a caller who joined comes back after a dropped connection or a reload while the room
    lives (until it is ended or the contact is over), within the link's uses."""
    if state is LinkState.OK and kind != LinkKind.VIDEO.value:
        return LinkState.UNKNOWN
    if state is LinkState.EXPIRED and kind == LinkKind.VIDEO.value and 0 < uses < max_uses:
        return LinkState.OK
    return state


def over(state: LinkState) -> bool:
    """Whether an open socket's room is over: the link closed (the video ended, the nurse closed the contact's
    links) or the contact over — or the link is gone. Expired and used up only stop new joins."""
    return state is LinkState.REVOKED or state is LinkState.UNKNOWN


def ended_by(revoked_reason: str, recorded: str | None) -> EndedBy:
    """Who ended a room found closed by polling: the side that sent `end` when it was a video end (its pub/sub
    notice may have been missed), else the contact's close."""
    if revoked_reason == REVOKED_REASON and recorded in ("nurse", "caller"):
        return "nurse" if recorded == "nurse" else "caller"
    return "contact_closed"


# --- the server's messages -----------------------------------------------------------------------------------


def peer(role: Role) -> Role:
    return "caller" if role == "nurse" else "nurse"


def hello(role: Role, link_id: int, peer_present: bool, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "hello", "role": role, "link_id": link_id, "peer_present": peer_present,
            "ice_servers": ice_servers}


def presence(present: bool) -> dict[str, Any]:
    return {"type": "peer", "present": present}


def ended(by: EndedBy) -> dict[str, Any]:
    return {"type": "ended", "by": by}


REPLACED: dict[str, Any] = {"type": "replaced"}
