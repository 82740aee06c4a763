"""HTTP API of the advice support (docs/advice.md, "API"): search as you type and the document view.

- `GET /api/v1/advice/search?q=…&audience=barn|vuxen&limit=N` — ranked documents with the phrases the
  query matched (for highlighting);
- `GET /api/v1/advice/documents/{id}` — one document with its levels, dispositions and care-unit types.

For staff (nurse, supervisor, region admin, national admin); API tokens need the scope `advice:read`.
The index is built once when the routes are added (the documents ship with the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from identity.http import forbidden, get_principal, json_error, unauthenticated
from identity.models import Role

from .documents import CONTENT, Document, load_directory
from .search import SearchIndex
from .urgency import CARE_UNIT_TYPES

SEARCH_PATH = "/api/v1/advice/search"
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


def setup_advice(app: web.Application, documents: dict[str, Document] | None = None) -> None:
    """Load the documents (default: the shipped content; DocumentError if they are invalid), build the index
    and add the routes. Identity must be set up."""
    docs = documents if documents is not None else load_directory(CONTENT)
    app[ADVICE] = Advice(docs, SearchIndex.build(docs.values()))
    app.router.add_get(SEARCH_PATH, search)
    app.router.add_get(DOCUMENT_PATH, document)
