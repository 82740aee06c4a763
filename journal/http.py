"""HTTP API of the journal and of one contact's record (docs/journal.md, docs/openapi.yaml).

Staff (browser session or API token):
- `GET  /api/v1/calls/{call_id}` — one contact: the call record folded (calls.view) + the region's phases;
- `POST /api/v1/calls/{call_id}/phases` — the answering nurse starts a phase of the call process;
- `POST /api/v1/journal/notes` — her note of a call she answered (draft; the existing one if any);
- `GET  /api/v1/journal/notes/{id}` — one note with its signed amendments (every read logged);
- `PATCH /api/v1/journal/notes/{id}` — autosave: `{"base_revision", "changes": {field: value}}`;
- `POST /api/v1/journal/notes/{id}/sign` — `{"revision"}`: signed notes never change again;
- `POST /api/v1/journal/notes/{id}/amendments` — a draft amendment linked to a signed note;
- `GET  /api/v1/journal/notes/{id}/versions` — every saved version, who and when;
- `GET  /api/v1/journal/patients/{patient_id}/notes` — a patient's notes of her care provider;
  `?emergency_reason=` opens other care providers' notes too (nödåtkomst, logged and reported);
- `GET  /api/v1/journal/audit` — who read which note: per patient, per user, emergency accesses.
Systems: `GET /api/v1/journal/followup` (token scope `journal:followup`; JSON, FHIR R4 or CSV).
Citizens: `GET /api/v1/citizen/notes` with the identity provider's signed token.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from agents.models import Nurse
from calls import service as calls
from calls.models import Call
from calls.view import PHASE_STARTED, contact_view
from config.http import CONFIG_ADMIN
from config.schema import CallPhase, default_phases
from desktop.http import DESKTOP, notify_nurse
from identity.http import IDENTITY, Principal, forbidden, get_principal, json_error, unauthenticated
from identity.models import Role, User
from vardlinje.appkeys import DB

from . import csv_export, fhir, service
from .citizen import CitizenTokenConfig, CitizenTokenError, verify_citizen_token
from .models import JournalAccess, JournalNote
from .pages import PAGE_PATH, contact_page
from .patient import PatientIdError, check_patient_id
from .policy import Purpose, Reader, Refusal, missing_to_sign
from .records import NoteContent, NoteRecord, PatientIdKind

log = logging.getLogger("vardlinje.journal")

CONTACT_PATH = "/api/v1/calls/{call_id}"
PHASES_PATH = "/api/v1/calls/{call_id}/phases"
NOTES_PATH = "/api/v1/journal/notes"
NOTE_PATH = "/api/v1/journal/notes/{note_id}"
PATIENT_NOTES_PATH = "/api/v1/journal/patients/{patient_id}/notes"
AUDIT_PATH = "/api/v1/journal/audit"
FOLLOWUP_PATH = "/api/v1/journal/followup"
CITIZEN_PREFIX = "/api/v1/citizen/"
CITIZEN_NOTES_PATH = CITIZEN_PREFIX + "notes"

OFFERED = ("offer.started", "offer.answered", "offer.missed", "offer.cancelled")
CALLS_READ = "calls:read"
JOURNAL_AUDIT = "journal:audit"
JOURNAL_FOLLOWUP = "journal:followup"
REGION_SCOPE = "region:"
NO_STORE = {"Cache-Control": "no-store"}
SWEDEN = ZoneInfo("Europe/Stockholm")
MAX_PAGE = 500
AUDIT_MAX = 10_000

STATUS = {"forbidden": 403, "other_care_provider": 403, "not_your_call": 403, "not_your_note": 403,
          "no_care_provider": 403, "edit_conflict": 409, "note_signed": 409, "not_signed": 409,
          "incomplete": 422}


@dataclass(frozen=True)
class JournalConfig:
    base_url: str  # the public URL: FHIR identifiers and links
    citizen: CitizenTokenConfig | None  # None: citizen access not configured


JOURNAL = web.AppKey("journal", JournalConfig)
T = TypeVar("T")


def _now(request: web.Request) -> datetime:
    return request.config_dict[IDENTITY].clock()


def _today(at: datetime) -> date:
    return at.astimezone(SWEDEN).date()


async def _run(request: web.Request, fn: Callable[[Session], T]) -> T:
    return await request.config_dict[DB].run(fn)


async def _run_serialised(request: web.Request, fn: Callable[[Session], T], attempts: int = 5) -> T:
    """A write to one note. Two tabs saving at once both read the same revision; the (note, revision) unique key
    lets only one commit (SQLite has no row locks), and the other is run again on top of it: a merge, not a loss."""
    for attempt in range(attempts):
        try:
            return await _run(request, fn)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _refused(exc: Refusal) -> web.Response:
    return web.json_response({"error": exc.code, "detail": str(exc), **exc.extra}, status=STATUS.get(exc.code, 400))


def _not_found(what: str) -> web.Response:
    words = {"call": "Inget sådant samtal / no such call", "note": "Ingen sådan anteckning / no such note",
             "user": "Ingen sådan användare / no such user"}
    return json_error(404, f"unknown_{what}", words.get(what, what))


async def _guarded(request: web.Request, work: Callable[[], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Refusal and NotFound from the service become clear API errors, never a 500."""
    try:
        return await work()
    except Refusal as exc:
        return _refused(exc)
    except service.NotFound as exc:
        return _not_found(exc.what)
    except PatientIdError as exc:
        return json_error(400, "bad_patient_id", str(exc))


async def _json_body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return json_error(400, "bad_request", f"Felaktig begäran / bad request body: {exc}"[:600])


def _staff(request: web.Request, *, scope: str | None = None) -> Principal | web.Response:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via == "token" and (scope is None or scope not in principal.scopes):
        need = scope or "(ingen / none)"
        return forbidden(request, "insufficient_scope", f"Kräver en API-token med behörigheten {need} / requires "
                                                        f"an API token with scope {need}")
    return principal


def _reader(p: Principal) -> Reader:
    return Reader(p.user_id, p.care_provider_id, p.roles)


def _iso(value: datetime | None) -> str | None:
    """SQLite gives back naive datetimes; every time we store is UTC."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


# --- the contact and its phases -----------------------------------------------------------


def _phase_plan(request: web.Request, region: str | None) -> list[CallPhase]:
    admin = request.app.get(CONFIG_ADMIN)
    if admin is None or admin.live is None or region is None:
        return default_phases()
    try:
        found = admin.live.directory.config.regions.get(region)
    except RuntimeError:  # configuration not loaded yet
        return default_phases()
    return found.call_phases if found is not None else default_phases()


def may_see_contact(s: Session, p: Principal, call: Call) -> bool:
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    if p.has_role(Role.SUPERVISOR, Role.REGION_ADMIN) and call.region_id in p.region_ids:
        return True
    return p.has_role(Role.NURSE) and service.took_part(s, call.id, p.user_id, OFFERED)


async def contact(request: web.Request) -> web.StreamResponse:
    principal = _staff(request, scope=CALLS_READ)
    if isinstance(principal, web.Response):
        return principal
    call_id = request.match_info["call_id"]

    def work(s: Session) -> dict[str, Any] | str | None:
        call = s.get(Call, call_id)
        if call is None:
            return None
        if not may_see_contact(s, principal, call):
            return "forbidden"
        view = contact_view(call, calls.events(s, call_id))
        view["notes"] = [{"id": n.id, "status": n.status, "amends_note_id": n.amends_note_id,
                          "author_user_id": n.author_user_id, "signed_at": _iso(n.signed_at)}
                         for n in service.call_notes(s, call_id)]
        return view

    found = await _run(request, work)
    if found is None:
        return _not_found("call")
    if found == "forbidden":
        return forbidden(request, "forbidden", "Samtalet hör inte till dig eller dina regioner / not your call")
    assert isinstance(found, dict)
    found["phase_plan"] = [p.model_dump() for p in _phase_plan(request, found["region"])]
    return web.json_response(found, headers=NO_STORE)


class PhaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    phase: str = Field(min_length=1, max_length=64)


async def start_phase(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    body = await _json_body(request, PhaseRequest)
    if isinstance(body, web.Response):
        return body
    call_id = request.match_info["call_id"]
    at = _now(request)
    call = await _run(request, lambda s: s.get(Call, call_id))
    if call is None:
        return _not_found("call")
    plan = _phase_plan(request, call.region_id)
    phase = next((p for p in plan if p.id == body.phase), None)
    if phase is None:
        return json_error(400, "unknown_phase", f"Okänd fas {body.phase!r} (finns: {', '.join(p.id for p in plan)}) "
                                                "/ not a phase of this region's call process")

    def work(s: Session) -> bool:
        if not service.answered_by(s, call_id, principal.user_id):
            return False
        calls.append(s, call_id, PHASE_STARTED, at, data={"phase": phase.id, "name": phase.name,
                                                           "by": principal.username})
        return True

    if not await _run(request, work):
        return forbidden(request, "not_your_call", "Bara sjuksköterskan som tog samtalet byter fas / only the nurse "
                                                   "who answered changes the phase")
    log.info("call=%s phase %s by %s", call_id, phase.id, principal.username)
    return web.json_response({"call_id": call_id, "phase": phase.id, "name": phase.name, "at": at.isoformat()},
                             status=201, headers=NO_STORE)


# --- notes ----------------------------------------------------------------------------------


def note_json(record: NoteRecord, *, amendments: list[NoteRecord] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.id, "call_id": record.call_id, "status": record.status.value, "revision": record.revision,
        "amends_note_id": record.amends_note_id,
        "care_provider": {"id": record.care_provider_id, "name": record.care_provider_name},
        "region": record.region_id, "author": {"username": record.author_username, "name": record.author_name},
        "created_at": _iso(record.created_at), "updated_at": _iso(record.updated_at),
        "signed_at": _iso(record.signed_at), "content": record.content.model_dump(mode="json"),
    }
    if record.status.value == "draft":
        data["missing_to_sign"] = missing_to_sign(record.content, amendment=record.amends_note_id is not None)
    if amendments is not None:
        data["amendments"] = [note_json(a) for a in amendments]
    return data


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    call_id: str = Field(min_length=1, max_length=32)


async def open_note(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    body = await _json_body(request, OpenRequest)
    if isinstance(body, web.Response):
        return body
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> tuple[dict[str, Any], bool]:
            note, created = service.open_note(s, body.call_id, principal.user_id, at)
            if not created:
                service.log_read(s, note, service.Actor("staff", principal.user_id, principal.care_provider_id),
                                 Purpose.CARE, at, path=request.path)
            return note_json(service.to_records(s, [note])[0]), created

        data, created = await _run_serialised(request, db)
        return web.json_response(data, status=201 if created else 200, headers=NO_STORE)

    return await _guarded(request, work)


EMERGENCY_HEADER = "X-Emergency-Reason"


def _emergency_reason(request: web.Request) -> str | None:
    """The stated reason for emergency access: a header (percent-encoded UTF-8), never the URL, which ends up
    in proxies' logs and browser history."""
    return unquote(request.headers.get(EMERGENCY_HEADER, "")).strip() or None


async def read_note(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    note_id = request.match_info["note_id"]
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> dict[str, Any]:
            note, purpose = service.read_note(s, note_id, _reader(principal), at,
                                              emergency_reason=_emergency_reason(request), path=request.path)
            extra = service.amendments(s, note.id)
            actor = service.Actor("staff", principal.user_id, principal.care_provider_id)
            reason = (_emergency_reason(request) or "") if purpose == Purpose.EMERGENCY else ""
            for a in extra:  # shown with the note: each one is a read too
                service.log_read(s, a, actor, purpose, at, reason=reason, path=request.path)
            records = service.to_records(s, [note, *extra])
            return {**note_json(records[0], amendments=records[1:]), "access": purpose.value}

        return web.json_response(await _run(request, db), headers=NO_STORE)

    return await _guarded(request, work)


class SaveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_revision: int = Field(ge=1)
    changes: dict[str, Any] = Field(description="the fields changed since base_revision")


async def save_note(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    body = await _json_body(request, SaveRequest)
    if isinstance(body, web.Response):
        return body
    note_id = request.match_info["note_id"]
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> dict[str, Any]:
            note, changed = service.save(s, note_id, principal.user_id, body.base_revision, body.changes, at,
                                         today=_today(at))
            return {**note_json(service.to_records(s, [note])[0]), "changed": list(changed)}

        try:
            data = await _run_serialised(request, db)
        except Refusal as exc:
            if exc.code != "edit_conflict":
                raise
            return await _conflict(request, exc, note_id, principal, at)
        await _tell_her_tabs(request, principal, data)
        return web.json_response(data, headers=NO_STORE)

    return await _guarded(request, work)


TELL_TABS_SECONDS = 1.0


async def _tell_her_tabs(request: web.Request, principal: Principal, note: dict[str, Any]) -> None:
    """Her other desktop tabs (on any instance) hear that the note moved on, so they show it without waiting for
    their own next save (desktop notices: at most once — a tab that misses it merges on its next save as
    before). Only the note's id, revision and status travel; the tab reads the note itself (a logged read)."""
    if request.config_dict.get(DESKTOP) is None:
        return

    def endpoint_of(s: Session) -> str | None:
        return s.exec(select(Nurse.endpoint).where(Nurse.user_id == principal.user_id)).first()

    async def tell() -> None:
        endpoint = await _run(request, endpoint_of)
        if endpoint is not None:
            await notify_nurse(request.app, endpoint, {
                "type": "journal_note", "note_id": note["id"], "revision": note["revision"], "status": note["status"],
                "amends_note_id": note.get("amends_note_id")})

    try:
        # Her save does not wait on a hanging Redis: the note is saved, the notice is a courtesy.
        await asyncio.wait_for(tell(), TELL_TABS_SECONDS)
    except Exception as exc:  # the save stands; a tab that missed the notice catches up on its next save
        log.warning("note %s: other tabs not told: %s", note.get("id"), exc or type(exc).__name__)


async def _conflict(request: web.Request, exc: Refusal, note_id: str, principal: Principal,
                    at: datetime) -> web.Response:
    """409 edit_conflict with the note as saved elsewhere, so the tab can show it beside its own text (a read)."""
    def reread(s: Session) -> dict[str, Any]:
        note = _note(s, note_id)
        service.log_read(s, note, service.Actor("staff", principal.user_id, principal.care_provider_id),
                         Purpose.CARE, at, path=request.path)
        return note_json(service.to_records(s, [note])[0])

    current = await _run(request, reread)
    return web.json_response({"error": exc.code, "detail": str(exc), "current": current}, status=409,
                             headers=NO_STORE)


def _note(s: Session, note_id: str) -> JournalNote:
    note = s.get(JournalNote, note_id)
    if note is None:
        raise service.NotFound("note")
    return note


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    revision: int = Field(ge=1, description="the revision she reviewed")


async def sign_note(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    body = await _json_body(request, SignRequest)
    if isinstance(body, web.Response):
        return body
    note_id = request.match_info["note_id"]
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> dict[str, Any]:
            note = service.sign(s, note_id, principal.user_id, body.revision, at, today=_today(at))
            return note_json(service.to_records(s, [note])[0])

        try:
            data = await _run_serialised(request, db)
        except Refusal as exc:
            if exc.code != "edit_conflict":
                raise
            return await _conflict(request, exc, note_id, principal, at)
        log.info("call=%s note %s signed by %s", data["call_id"], note_id, principal.username)
        await _tell_her_tabs(request, principal, data)
        return web.json_response(data, headers=NO_STORE)

    return await _guarded(request, work)


async def amend_note(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    if not principal.has_role(Role.NURSE, Role.SUPERVISOR):
        return forbidden(request, "forbidden", "Bara vårdpersonal skriver i journalen / only clinical staff write")
    note_id = request.match_info["note_id"]
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> tuple[dict[str, Any], bool]:
            note, created = service.amend(s, note_id, principal.user_id, at)
            # The amendment carries the original's patient identity: that is a read of the original.
            original = _note(s, note_id)
            service.log_read(s, original, service.Actor("staff", principal.user_id, principal.care_provider_id),
                             Purpose.CARE, at, path=request.path)
            return note_json(service.to_records(s, [note])[0]), created

        data, created = await _run(request, db)
        return web.json_response(data, status=201 if created else 200, headers=NO_STORE)

    return await _guarded(request, work)


async def note_versions(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    note_id = request.match_info["note_id"]
    at = _now(request)

    async def work() -> web.StreamResponse:
        def db(s: Session) -> dict[str, Any]:
            note, purpose = service.read_note(s, note_id, _reader(principal), at,
                                              emergency_reason=_emergency_reason(request), path=request.path)
            users: dict[int, str] = {}
            out = []
            for v in service.versions(s, note.id):
                if v.saved_by_user_id not in users:
                    u = s.get(User, v.saved_by_user_id)
                    users[v.saved_by_user_id] = u.username if u else str(v.saved_by_user_id)
                out.append({"revision": v.revision, "status": v.status, "saved_by": users[v.saved_by_user_id],
                            "saved_at": _iso(v.saved_at), "content": v.content})
            return {"note_id": note.id, "access": purpose.value, "versions": out}

        return web.json_response(await _run(request, db), headers=NO_STORE)

    return await _guarded(request, work)


def parse_patient_id(raw: str, today: date) -> str:
    """Any identity form a nurse might type: personnummer, samordningsnummer or a reserve number."""
    text = raw.strip()
    if text[:1].isalpha():
        return check_patient_id(PatientIdKind.RESERVE, text, today=today)
    try:
        return check_patient_id(PatientIdKind.PERSONNUMMER, text, today=today)
    except PatientIdError as exc:
        if exc.code != "is_samordningsnummer":
            raise
        return check_patient_id(PatientIdKind.SAMORDNINGSNUMMER, text, today=today)


async def patient_notes(request: web.Request) -> web.StreamResponse:
    principal = _staff(request)
    if isinstance(principal, web.Response):
        return principal
    at = _now(request)
    try:
        patient_id = parse_patient_id(request.match_info["patient_id"], _today(at))
    except PatientIdError as exc:
        return json_error(400, "bad_patient_id", str(exc))

    async def work() -> web.StreamResponse:
        def db(s: Session) -> dict[str, Any]:
            found = service.patient_notes(s, patient_id, _reader(principal), at,
                                          emergency_reason=_emergency_reason(request), path=request.path)
            records = service.to_records(s, [n for n, _ in found])
            return {"patient_id": patient_id, "notes": [{**note_json(r), "access": p.value}
                                                        for r, (_, p) in zip(records, found, strict=True)]}

        return web.json_response(await _run(request, db), headers=NO_STORE)

    return await _guarded(request, work)


# --- audit ----------------------------------------------------------------------------------


def _parse_when(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    """An ISO date (whole days, Swedish time; `end` takes the day after) or an ISO datetime with offset."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            # In UTC: SQLite compares the stored UTC text, so a Stockholm bound would be off by an hour or two.
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), SWEDEN).astimezone(UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Refusal("bad_request", f"{field}: ange ett datum ÅÅÅÅ-MM-DD eller en tidpunkt i ISO 8601 / give a "
                                     "date YYYY-MM-DD or an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Refusal("bad_request", f"{field}: ange tidszon, t.ex. +01:00 / give a time zone")
    return parsed.astimezone(UTC)


def access_json(a: JournalAccess, usernames: dict[int, str]) -> dict[str, Any]:
    return {"at": _iso(a.at), "note_id": a.note_id, "patient_id": a.patient_id, "actor": a.actor,
            "user": usernames.get(a.user_id) if a.user_id is not None else None, "citizen_id": a.citizen_id or None,
            "token_id": a.token_id, "purpose": a.purpose, "reason": a.reason,
            "note_care_provider_id": a.note_care_provider_id, "actor_care_provider_id": a.actor_care_provider_id,
            "path": a.path}


async def audit(request: web.Request) -> web.StreamResponse:
    """For the care provider's log review (region admins, or a token with journal:audit); national admins
    see every care provider's."""
    principal = _staff(request, scope=JOURNAL_AUDIT)
    if isinstance(principal, web.Response):
        return principal
    if not principal.has_role(Role.REGION_ADMIN, Role.NATIONAL_ADMIN):  # a token acts for its user
        return forbidden(request, "forbidden", "Loggranskning är för administratörer / log review is for admins")
    scope_cp = None if principal.has_role(Role.NATIONAL_ADMIN) else principal.care_provider_id
    if scope_cp is None and not principal.has_role(Role.NATIONAL_ADMIN):
        return _refused(Refusal("no_care_provider", "Ditt konto hör inte till någon vårdgivare / no care provider"))
    q = request.query
    at = _now(request)

    async def work() -> web.StreamResponse:
        patient = parse_patient_id(q["patient"], _today(at)) if q.get("patient") else None
        since, until = _parse_when(q.get("from"), "from"), _parse_when(q.get("to"), "to", end=True)
        purpose = q.get("purpose")
        if purpose and purpose not in {p.value for p in Purpose}:
            raise Refusal("bad_request", f"purpose är en av / is one of {', '.join(p.value for p in Purpose)}")
        limit = _limit(q.get("limit"), default=1000, most=AUDIT_MAX)

        def db(s: Session) -> dict[str, Any]:
            user_id = None
            if q.get("user"):
                user = s.exec(select(User).where(User.username == q["user"])).first()
                if user is None:
                    raise service.NotFound("user")
                user_id = user.id
            rows = service.audit(s, patient_id=patient, user_id=user_id, since=since, until=until, purpose=purpose,
                                 care_provider_id=scope_cp, limit=limit + 1)
            ids = {r.user_id for r in rows if r.user_id is not None}
            names = {u.id: u.username for u in s.exec(select(User).where(col(User.id).in_(ids))) if u.id is not None}
            # More than asked for: say so, so a report is never silently short (narrow the period).
            return {"accesses": [access_json(r, names) for r in rows[:limit]], "truncated": len(rows) > limit}

        return web.json_response(await _run(request, db), headers=NO_STORE)

    return await _guarded(request, work)


# --- follow-up for the region ---------------------------------------------------------------


def _limit(value: str | None, *, default: int, most: int) -> int:
    try:
        limit = int(value) if value is not None else default
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise Refusal("bad_request", f"limit är ett heltal 1–{most} / limit is an integer 1–{most}")
    return limit


def _cursor(note: JournalNote) -> str:
    assert note.signed_at is not None
    return base64.urlsafe_b64encode(f"{_iso(note.signed_at)}|{note.id}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, note_id = text.split("|", 1)
        parsed = datetime.fromisoformat(when)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), note_id
    except (ValueError, UnicodeDecodeError):
        raise Refusal("bad_request", "cursor: använd next_cursor från förra sidan / use next_cursor as given") from None


async def followup(request: web.Request) -> web.StreamResponse:
    """Signed notes of the token's care provider for the region's follow-up, paged and filtered."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "token" or JOURNAL_FOLLOWUP not in principal.scopes:
        return forbidden(request, "insufficient_scope", f"Kräver en API-token med behörigheten {JOURNAL_FOLLOWUP} / "
                                                        f"requires an API token with scope {JOURNAL_FOLLOWUP}")
    if principal.care_provider_id is None:
        return _refused(Refusal("no_care_provider", "Tokenens konto hör inte till någon vårdgivare / the token's "
                                                    "account belongs to no care provider"))
    q = request.query
    at = _now(request)
    fmt = q.get("format", "json")

    async def work() -> web.StreamResponse:
        if fmt not in ("json", "fhir", "csv"):
            raise Refusal("bad_request", "format är json, fhir eller csv / format is json, fhir or csv")
        limit = _limit(q.get("limit"), default=100, most=MAX_PAGE)
        narrowed = sorted(sc[len(REGION_SCOPE):] for sc in principal.scopes if sc.startswith(REGION_SCOPE))
        regions: tuple[str, ...] | None = tuple(narrowed) if narrowed else None
        if q.get("region"):
            if regions is not None and q["region"] not in regions:
                raise Refusal("forbidden", f"Tokenen gäller inte region {q['region']} / not for this region")
            regions = (q["region"],)
        filt = service.FollowupFilter(
            care_provider_id=principal.care_provider_id or 0, regions=regions,
            since=_parse_when(q.get("from"), "from"), until=_parse_when(q.get("to"), "to", end=True),
            contact_reason=q.get("contact_reason") or None, urgency=q.get("urgency") or None,
            after=_after(q.get("cursor")))

        def db(s: Session) -> tuple[list[NoteRecord], str | None]:
            f = filt
            if q.get("nurse"):
                user = s.exec(select(User).where(User.username == q["nurse"])).first()
                if user is None:
                    return [], None
                f = dataclasses.replace(f, author_user_id=user.id)
            actor = service.Actor("token", principal.user_id, principal.care_provider_id, token_id=principal.token_id)
            notes = service.followup(s, f, limit, actor, at, request.path)
            return service.to_records(s, notes), (_cursor(notes[-1]) if len(notes) == limit else None)

        records, next_cursor = await _run(request, db)
        headers = dict(NO_STORE)
        if next_cursor:
            headers["Link"] = f'<{request.rel_url.update_query(cursor=next_cursor)}>; rel="next"'
        if fmt == "csv":
            return web.Response(text="".join(csv_export.notes_csv(records)), content_type="text/csv",
                                charset="utf-8", headers={**headers, "Content-Disposition":
                                                          'attachment; filename="journal.csv"'})
        if fmt == "fhir":
            bundle = fhir.note_bundle(records, base_url=request.config_dict[JOURNAL].base_url)
            return web.json_response(bundle, content_type="application/fhir+json", headers=headers)
        return web.json_response({"notes": [note_json(r) for r in records], "next_cursor": next_cursor},
                                 headers=headers)

    return await _guarded(request, work)


# --- citizens -------------------------------------------------------------------------------


def citizen_json(r: NoteRecord, amendments: list[NoteRecord]) -> dict[str, Any]:
    """What the citizen sees: their note as written, without staff-internal fields."""
    c: NoteContent = r.content
    return {"id": r.id, "signed_at": _iso(r.signed_at), "call_started_at": _iso(r.call_started_at),
            "care_provider": r.care_provider_name, "author": r.author_name,
            "contact_reason": c.contact_reason, "urgency": c.urgency, "advice": c.advice,
            "referral": c.referral, "referral_text": c.referral_text, "text": c.text,
            "amendments": [{"id": a.id, "signed_at": _iso(a.signed_at), "author": a.author_name,
                            "text": a.content.text} for a in amendments]}


async def citizen_notes(request: web.Request) -> web.StreamResponse:
    config = request.config_dict[JOURNAL].citizen
    if config is None:
        return json_error(503, "citizen_access_off", "E-tjänsten för invånare är inte konfigurerad / citizen access "
                                                     "is not configured")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return json_error(401, "unauthenticated", "Logga in via e-tjänsten / log in through the e-service",
                          headers={"WWW-Authenticate": 'Bearer realm="vardlinje-citizen"'})
    at = _now(request)
    try:
        citizen_id = verify_citizen_token(token.strip(), config, now=at)
    except CitizenTokenError as exc:
        if exc.code == "config":  # our fault, not the citizen's: say so
            log.error("citizen access misconfigured: %s", exc)
            return json_error(503, "citizen_access_misconfigured", "E-tjänsten är felkonfigurerad; försök senare / "
                                                                   "citizen access is misconfigured")
        log.warning("citizen token refused: %s", exc.code)
        return json_error(401, "invalid_token", str(exc),
                          headers={"WWW-Authenticate": 'Bearer realm="vardlinje-citizen", error="invalid_token"'})

    def db(s: Session) -> list[dict[str, Any]]:
        notes = service.citizen_notes(s, citizen_id, service.Actor("citizen", citizen_id=citizen_id), at, request.path)
        originals = [n for n in notes if n.amends_note_id is None]
        records = {r.id: r for r in service.to_records(s, notes)}
        return [citizen_json(records[n.id], [records[a.id] for a in notes if a.amends_note_id == n.id])
                for n in originals]

    return web.json_response({"notes": await _run(request, db)}, headers=NO_STORE)


def setup_journal(app: web.Application, *, base_url: str, citizen: CitizenTokenConfig | None) -> None:
    """Add the journal's routes. Identity must be set up; the app's SETTINGS give base_url and citizen."""
    app[JOURNAL] = JournalConfig(base_url.rstrip("/"), citizen)
    app.router.add_get(CONTACT_PATH, contact)
    app.router.add_get(PAGE_PATH, contact_page)
    app.router.add_post(PHASES_PATH, start_phase)
    app.router.add_post(NOTES_PATH, open_note)
    app.router.add_get(NOTE_PATH, read_note)
    app.router.add_patch(NOTE_PATH, save_note)
    app.router.add_post(NOTE_PATH + "/sign", sign_note)
    app.router.add_post(NOTE_PATH + "/amendments", amend_note)
    app.router.add_get(NOTE_PATH + "/versions", note_versions)
    app.router.add_get(PATIENT_NOTES_PATH, patient_notes)
    app.router.add_get(AUDIT_PATH, audit)
    app.router.add_get(FOLLOWUP_PATH, followup)
    app.router.add_get(CITIZEN_NOTES_PATH, citizen_notes)
