"""A referral sent to the caller by SMS (docs/catalog.md, "Referral from the desktop").

`POST /api/v1/catalog/units/{unit_id}/sms` with `{"call_id"}`: the nurse who answered the call sends the care
unit's details — name, address, phone, today's opening hours in words, drop-in or booking, its link — to the
caller's own number (the call record's `caller_number`), in Swedish. Refusals: not logged in (401), an API
token or someone who did not answer the call (403 `forbidden` / `not_your_call`), an unknown unit or call (404),
a call without a number or from a number that cannot take an SMS — a landline, a hidden or foreign number
(422 `no_mobile`), too many messages to the number lately (429 `rate_limited`) and a provider that failed
(502 `sms_failed`, with the provider's reason). The message and its fate are recorded by `sms/` (the
`sms_message` row, `sms.sent` / `sms.failed` on the call record); a sent referral adds `referral.sent_sms`
{unit, name, by, message_id} to the call record.

The text is kept within three SMS segments (at most 450 GSM characters): typographic characters that would
turn the whole message into UCS-2 (70 characters a segment) are replaced by their plain forms, and a text
that is still too long loses the end of the street address first, then the link, then the end of the name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from calls import service as calls
from calls.models import Call
from config.hours import local, windows_on
from config.schema import MINUTES_PER_DAY, Window
from desktop.context import display_number
from identity.http import IDENTITY, forbidden, get_principal, json_error, unauthenticated
from journal import service as journal
from sms.numbers import NumberKind, classify, normalise_mobile
from sms.provider import InvalidNumber, RateLimited, SmsError
from sms.runtime import SMS
from vardlinje.appkeys import DB

from . import store
from .hours import intervals, open_state
from .model import Access, CareUnit

log = logging.getLogger("vardlinje.catalog")

SMS_PATH = "/api/v1/catalog/units/{unit_id}/sms"
EVENT = "referral.sent_sms"
MAX_CHARS = 450  # three concatenated GSM-7 segments hold 459
HEADER = "Din hänvisning från sjuksköterskan:"
NO_STORE = {"Cache-Control": "no-store"}
WEEKDAYS_SV = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")
ACCESS_WORDS = {Access.DROP_IN: "Drop-in, ingen tidsbokning", Access.BOOKED: "Tidsbokning: ring först",
                Access.BOTH: "Drop-in och tidsbokning"}

# GSM 03.38: the basic set (one septet each) and the extension table (two septets: escape + character).
GSM_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
# Characters people type (or word processors make) that are not in GSM 03.38: one of them would make the
# whole message UCS-2, 70 characters a segment.
_PLAIN = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-", "‐": "-", "‘": "'", "’": "'", "‚": "'", "′": "'",
                        "“": '"', "”": '"', "„": '"', "″": '"', "…": "...", "\u00a0": " ", "\u2009": " ",
                        "\u202f": " ", "\t": " ", "·": "-", "•": "-"})


def plain(text: str) -> str:
    """`text` with typographic characters as their GSM 03.38 forms, on one line."""
    return " ".join(text.translate(_PLAIN).split())


def septets(text: str) -> int:
    """How much of an SMS `text` takes: extension characters (€, [, ~ …) count twice."""
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def _shorten(text: str, by: int, keep: int = 8) -> str:
    """`text` shorter by at least `by` septets, ending in "..."; "" when fewer than `keep` characters would stay."""
    if by <= 0:
        return text
    target = septets(text) - by - 3
    cut = text
    while cut and septets(cut) > target:
        cut = cut[:-1]
    cut = cut.rstrip(" ,.-")
    return f"{cut}..." if len(cut) >= keep else ""


# --- opening hours in words --------------------------------------------------------------------------------


def _hm(minutes: int) -> str:
    if minutes == MINUTES_PER_DAY:
        return "24:00"
    minutes %= MINUTES_PER_DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(w: Window) -> str:
    return f"{_hm(w.start)}-{_hm(w.end)}"


def _when(at: datetime, now: datetime) -> str:
    """A time as the caller reads it: "18:00" today, "i morgon 08:00", else "mån 08:00"."""
    there, today = local(at), local(now).date()
    if there.date() == today:
        return f"{there:%H:%M}"
    if there.date() == today + timedelta(days=1):
        return f"i morgon {there:%H:%M}"
    return f"{WEEKDAYS_SV[there.weekday()]} {there:%H:%M}"


def opening_words(unit: CareUnit, now: datetime) -> str:
    """Today's opening in Swedish words, in Swedish time: "Öppet dygnet runt", "Öppet i dag 08:00-17:00",
    "Öppet i dag 08:00-17:00 (stängt nu, öppnar i morgon 08:00)", "Stängt i dag, öppnar mån 08:00". A hyphen,
    not a dash, between the times: a dash is not a GSM character."""
    state = open_state(unit.hours, now)
    if state.open and state.closes_at is None:
        return "Öppet dygnet runt"
    today = local(now).date()
    windows = windows_on(unit.hours, today)
    later: list[str] = []
    if state.open and state.closes_at is not None:
        # Open on a window of today, or still on yesterday's that runs past midnight.
        if not any(start <= now < end for start, end in intervals(unit.hours, today, today)):
            later.append(f"nu öppet till {_when(state.closes_at, now)}")
    elif state.opens_at is not None and local(state.opens_at).date() != today:
        later.append(f"{'stängt nu, ' if windows else ''}öppnar {_when(state.opens_at, now)}")
    if windows:
        line = "Öppet i dag " + ", ".join(_span(w) for w in windows)
        return f"{line} ({later[0]})" if later else line
    if state.open and state.closes_at is not None:
        return f"Öppet nu till {_when(state.closes_at, now)}, sedan stängt i dag"
    return ", ".join(["Stängt i dag", *later])


# --- the text ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    name: str
    address: str  # the street address: trimmed first
    place: str  # postcode and city
    phone: str
    opening: str
    access: str
    url: str

    def text(self) -> str:
        where = ", ".join(p for p in (self.address, self.place) if p)
        lines = [HEADER, self.name, where, f"Tel {self.phone}" if self.phone else "", self.opening, self.access,
                 self.url]
        return "\n".join(line for line in lines if line)


def referral_sms(unit: CareUnit, now: datetime, limit: int = MAX_CHARS) -> str:
    """The SMS about `unit` at `now`, in Swedish, within `limit` septets."""
    parts = _Parts(name=plain(unit.name), address=plain(unit.address),
                   place=plain(" ".join(p for p in (unit.postcode, unit.city) if p)),
                   phone=display_number(unit.phone) if unit.phone else "", opening=opening_words(unit, now),
                   access=ACCESS_WORDS[unit.access], url=unit.url)
    for trim in ("address", "url", "name", "place"):
        over = septets(parts.text()) - limit
        if over <= 0:
            break
        value = getattr(parts, trim)
        # A link cut short leads nowhere: it goes whole or not at all.
        shorter = "" if trim == "url" else _shorten(value, over)
        parts = replace(parts, **{trim: shorter})
    text = parts.text()
    while septets(text) > limit:
        text = text[:-1]
    return text


# --- the route -----------------------------------------------------------------------------------------------


def no_mobile_words(raw: str, region: str, exc: InvalidNumber) -> str:
    """Why the caller's number cannot take the SMS, for the nurse ("Svenska / English")."""
    found = classify(raw, region)
    shown = display_number(found.e164 or raw)
    if found.kind is NumberKind.HIDDEN:
        return "Uppringaren har dolt nummer – inget att skicka till / the caller's number is hidden"
    if found.kind is NumberKind.LANDLINE:
        return (f"Uppringaren ringer från en fast telefon ({shown}), som inte kan ta emot SMS / the caller is on "
                f"a landline ({shown}), which cannot receive SMS")
    return f"Uppringarens nummer kan inte ta emot SMS här: {exc}"[:600]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    call_id: str = Field(min_length=1, max_length=32)


@dataclass(frozen=True)
class _Found:
    unit: CareUnit | None
    call: Call | None
    answered: bool


async def send_unit_sms(request: web.Request) -> web.StreamResponse:
    """The unit's details to the caller of a call she answered."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session":
        return forbidden(request, "forbidden", "Hänvisningar skickas av sjuksköterskan i skrivbordet, inte med en "
                                               "API-token / referrals are sent by the nurse from the desktop")
    try:
        body = SendRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return json_error(400, "bad_request", f"Felaktig begäran / bad request body: {exc}"[:600])
    ctx = request.config_dict.get(SMS)
    if ctx is None:
        return json_error(503, "sms_unavailable", "SMS är inte igång på den här servern / SMS is not set up here")
    unit_id = request.match_info["unit_id"]
    db = request.config_dict[DB]

    def lookup(s: Session) -> _Found:
        call = s.get(Call, body.call_id)
        answered = call is not None and journal.answered_by(s, call.id, principal.user_id)
        return _Found(store.unit(s, unit_id), call, answered)

    found = await db.run(lookup)
    if found.call is None:
        return json_error(404, "unknown_call", "Inget sådant samtal / no such call")
    if found.unit is None:
        return json_error(404, "unknown_unit", f"Ingen enhet {unit_id!r} / no such unit")
    if not found.answered:
        return forbidden(request, "not_your_call", "Bara sjuksköterskan som tog samtalet skickar hänvisningen / "
                                                   "only the nurse who answered the call sends the referral")
    unit, call = found.unit, found.call
    raw = (call.caller_number or "").strip()
    try:
        number = normalise_mobile(raw, region=ctx.settings.default_region,
                                  allowed_regions=ctx.settings.allowed_regions)
    except InvalidNumber as exc:
        return json_error(422, "no_mobile", no_mobile_words(raw, ctx.settings.default_region, exc))

    now = request.config_dict[IDENTITY].clock()
    text = referral_sms(unit, now)
    try:
        message = await ctx.send(db, call_id=call.id, to=number, body=text)
    except RateLimited as exc:
        return web.json_response({"error": "rate_limited", "detail": str(exc), "retry_after": exc.retry_after},
                                 status=429, headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    except SmsError as exc:
        log.warning("call=%s referral SMS (unit %s) not sent: %s", call.id, unit.id, exc)
        return web.json_response({"error": "sms_failed", "reason": exc.code, "detail": str(exc)}, status=502)

    data: dict[str, Any] = {"unit": unit.id, "name": unit.name, "by": principal.username, "message_id": message.id}
    await db.run(lambda s: calls.append(s, call.id, EVENT, now, data=data))
    log.info("call=%s referral SMS (unit %s) sent by %s", call.id, unit.id, principal.username)
    return web.json_response({"message_id": message.id, "unit": unit.id, "to": number,
                              "to_display": display_number(number), "status": message.status, "body": text},
                             status=201, headers=NO_STORE)


def add_routes(app: web.Application) -> None:
    """`POST /api/v1/catalog/units/{unit_id}/sms`. The app needs identity, `DB` and `sms.runtime.SMS`."""
    app.router.add_post(SMS_PATH, send_unit_sms)
