"""HTTP API of the advice support (docs/advice.md, "API"): search as you type and the document view.

- `GET /api/v1/advice/search?q=…&audience=barn|vuxen&limit=N` — ranked documents with the phrases the
  query matched (for highlighting);
- `GET /api/v1/advice/documents/{id}` — one document with its levels, dispositions and care-unit types;
- `POST /api/v1/advice/assessments` — the nurse who answered a call records her assessment on its call record
  (`{"call_id", "document_id", "urgency"}` → event `advice.assessed`).

For staff (nurse, supervisor, region admin, national admin); API tokens need the scope `advice:read`.
The index is built once when the routes are added (the documents ship with the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from agents.models import Nurse
from calls import service as calls
from calls.models import Call
from identity.http import forbidden, get_principal, json_error, unauthenticated
from identity.models import Role
from vardlinje.appkeys import DB
from vardlinje.db import utcnow

from .documents import CONTENT, Document, load_directory
from .search import SearchIndex
from .urgency import CARE_UNIT_TYPES

SEARCH_PATH = "/api/v1/advice/search"
ASSESSMENT_PATH = "/api/v1/advice/assessments"
DOCUMENT_PATH = "/api/v1/advice/documents/{id}"
ADVICE_READ = "advice:read"
MAX_QUERY = 200
STAFF = (Role.NURSE, Role.SUPERVISOR, Role.REGION_ADMIN, Role.NATIONAL_ADMIN)
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Advice:
    documents: dict[str, Document]
    index: SearchIndex


ADVICE = web.AppKey("advice", Advice)


def _guard(request: web.Request) -> web.Response | None:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if not principal.has_role(*STAFF):
        return forbidden(request, "forbidden", "Beslutsstödet är för vårdpersonal / advice support is for staff")
    if principal.via == "token" and ADVICE_READ not in principal.scopes:
        return forbidden(request, "insufficient_scope", f"Kräver en API-token med behörigheten {ADVICE_READ} / "
                                                        f"requires an API token with scope {ADVICE_READ}")
    return None


async def search(request: web.Request) -> web.StreamResponse:
    refused = _guard(request)
    if refused is not None:
        return refused
    query = request.query.get("q", "").strip()
    audience = request.query.get("audience") or None
    if not query or len(query) > MAX_QUERY:
        return json_error(400, "bad_request", f"Ange en sökning med 1–{MAX_QUERY} tecken i q / give q with "
                                              f"1–{MAX_QUERY} characters")
    if audience not in (None, "barn", "vuxen"):
        return json_error(400, "bad_request", "audience är barn eller vuxen / audience is barn or vuxen")
    try:
        limit = int(request.query.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 50:
        return json_error(400, "bad_request", "limit är ett heltal 1–50 / limit is an integer 1–50")
    hits = request.app[ADVICE].index.search(query, audience=audience, limit=limit)  # type: ignore[arg-type]
    return web.json_response({"query": query, "audience": audience, "hits": [
        {"id": h.id, "title": h.title, "audience": h.audience, "score": h.score, "matched": list(h.matched)}
        for h in hits]}, headers=NO_STORE)


def document_json(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id, "title": doc.title, "contact_reason": doc.contact_reason, "audience": doc.audience,
        "version": doc.version, "reviewed_by": doc.reviewed_by, "review_date": doc.review_date.isoformat(),
        "demo": doc.demo, "terms": doc.terms, "synonyms": doc.synonyms, "self_care": doc.self_care,
        "body": doc.body,
        "levels": [{"urgency": level.urgency.value, "urgency_sv": level.urgency.name_sv,
                    "disposition_sv": level.urgency.disposition_sv, "signs": level.signs,
                    "questions": level.questions,
                    "care_units": [{"code": code, "name_sv": CARE_UNIT_TYPES[code].name_sv} for code in level.units]}
                   for level in doc.levels],
    }


async def document(request: web.Request) -> web.StreamResponse:
    refused = _guard(request)
    if refused is not None:
        return refused
    doc_id = request.match_info["id"]
    doc = request.app[ADVICE].documents.get(doc_id)
    if doc is None:
        return json_error(404, "unknown_document", f"Inget beslutsunderlag {doc_id!r} / no such document")
    return web.json_response(document_json(doc), headers=NO_STORE)


class AssessmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    call_id: str = Field(min_length=1, max_length=32)
    document_id: str = Field(min_length=1, max_length=64)
    urgency: str = Field(description="one of the document's levels: 112, akut, timmar, dagar, egenvard")


def _answered_by(s: Session, call_id: str, endpoint: str) -> bool | None:
    """None: no such call. Else whether this nurse answered it (the record's offer.answered events)."""
    if s.get(Call, call_id) is None:
        return None
    return any(e.kind == "offer.answered" and e.data.get("nurse") == endpoint for e in calls.events(s, call_id))


async def assess(request: web.Request) -> web.StreamResponse:
    """Her assessment of the call she answered: the contact reason (the document) and the urgency level she
    chose, on the call record, with the document's version (what she saw)."""
    refused = _guard(request)
    if refused is not None:
        return refused
    principal = get_principal(request)
    assert principal is not None
    if not principal.has_role(Role.NURSE):
        return forbidden(request, "forbidden", "Bara sjuksköterskan som tog samtalet bedömer det / only the nurse "
                                               "who took the call assesses it")
    try:
        body = AssessmentRequest.model_validate(await request.json())
    except ValueError as exc:  # bad JSON or a body that does not fit (ValidationError is a ValueError)
        return json_error(400, "bad_request", f'Förväntade {{"call_id", "document_id", "urgency"}} / {exc}'[:400])
    doc = request.app[ADVICE].documents.get(body.document_id)
    if doc is None:
        return json_error(404, "unknown_document", f"Inget beslutsunderlag {body.document_id!r} / no such document")
    level = next((lv for lv in doc.levels if lv.urgency.value == body.urgency), None)
    if level is None:
        return json_error(400, "bad_urgency", f"{doc.title} har inte nivån {body.urgency!r} (har: "
                                              f"{', '.join(lv.urgency.value for lv in doc.levels)}) / not a level "
                                              "of this document")
    db = request.config_dict[DB]
    user_id = principal.user_id
    nurse = await db.run(lambda s: s.exec(select(Nurse).where(Nurse.user_id == user_id)).first())
    if nurse is None:
        return forbidden(request, "not_a_nurse", "Du är inte registrerad som sjuksköterska / not a registered nurse")
    endpoint = nurse.endpoint
    answered = await db.run(lambda s: _answered_by(s, body.call_id, endpoint))
    if answered is None:
        return json_error(404, "unknown_call", f"Inget samtal {body.call_id!r} / no such call")
    if not answered:
        return forbidden(request, "not_your_call", "Du har inte tagit det här samtalet / you did not answer this call")
    data = {"document": doc.id, "contact_reason": doc.contact_reason, "title": doc.title,
            "urgency": level.urgency.value, "urgency_sv": level.urgency.name_sv, "version": doc.version,
            "nurse": endpoint, "by": principal.username}
    at = utcnow()
    await db.run(lambda s: calls.append(s, body.call_id, "advice.assessed", at, data=data))
    return web.json_response({"call_id": body.call_id, **data, "at": at.isoformat()}, status=201, headers=NO_STORE)


def setup_advice(app: web.Application, documents: dict[str, Document] | None = None) -> None:
    """Load the documents (default: the shipped content; DocumentError if they are invalid), build the index
    and add the routes. Identity must be set up."""
    docs = documents if documents is not None else load_directory(CONTENT)
    app[ADVICE] = Advice(docs, SearchIndex.build(docs.values()))
    app.router.add_get(SEARCH_PATH, search)
    app.router.add_get(DOCUMENT_PATH, document)
    app.router.add_post(ASSESSMENT_PATH, assess)
