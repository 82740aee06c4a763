"""The advice API: search as you type with the matched phrases, the document view, and who may use them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from advice.http import setup_advice
from identity import service
from vardlinje.db import Database

from ..identity.conftest import T0, FakeClock, Seed, build_app, clock, get_user, login, redis, seed  # noqa: F401

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def people(database: Database) -> Seed:
    return seed(database)


@pytest.fixture
async def client(database: Database, redis: Redis, clock: FakeClock, people: Seed) -> AsyncIterator[Client]:  # noqa: F811
    app = build_app(database, redis, clock)
    setup_advice(app)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_search_ranks_the_right_document_first_with_its_matched_phrases(client: Client) -> None:
    """A nurse types the caller's words; the best document comes first with the phrases that matched."""
    await login(client, "anna")
    resp = await client.get("/api/v1/advice/search", params={"q": "ont i magen"})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    data = await resp.json()
    assert data["hits"][0]["id"] == "buksmarta" and "ont i magen" in data["hits"][0]["matched"], data
    child = await (await client.get("/api/v1/advice/search", params={"q": "feber", "audience": "barn"})).json()
    assert child["hits"][0]["id"] == "feber-barn" and all(h["audience"] != "vuxen" for h in child["hits"])
    few = await (await client.get("/api/v1/advice/search", params={"q": "ont", "limit": "2"})).json()
    assert len(few["hits"]) == 2


@pytest.mark.parametrize("params", [{}, {"q": "  "}, {"q": "x" * 201}, {"q": "feber", "audience": "äldre"},
                                    {"q": "feber", "limit": "0"}, {"q": "feber", "limit": "många"}])
async def test_bad_search_requests_are_400_with_a_swedish_reason(client: Client, params: dict[str, str]) -> None:
    """Empty or overlong text, an unknown audience or a bad limit: a clear 400, never a 500."""
    await login(client, "anna")
    resp = await client.get("/api/v1/advice/search", params=params)
    body = await resp.json()
    assert resp.status == 400 and body["error"] == "bad_request" and " / " in body["detail"], body


async def test_the_document_view_has_levels_dispositions_and_care_units(client: Client) -> None:
    """The document as the desktop shows it: levels most urgent first, with names and care-unit types."""
    await login(client, "sven")
    doc = await (await client.get("/api/v1/advice/documents/brostsmarta")).json()
    assert doc["title"] == "Bröstsmärta" and doc["demo"] is True
    first = doc["levels"][0]
    assert first["urgency"] == "112" and first["urgency_sv"] == "Akut: ring 112"
    assert first["care_units"] == [{"code": "ambulans", "name_sv": "Ambulans (112)"}]
    assert all(level["disposition_sv"] for level in doc["levels"])
    missing = await client.get("/api/v1/advice/documents/okand")
    assert missing.status == 404 and (await missing.json())["error"] == "unknown_document"


async def test_only_staff_and_tokens_with_the_scope(client: Client, database: Database, people: Seed) -> None:
    """Anonymous: 401. A token without advice:read: 403. With it: 200."""
    anonymous = await client.get("/api/v1/advice/search", params={"q": "feber"},
                                 headers={"Accept": "application/json"})
    assert anonymous.status == 401
    nurse_id = people.nurse_id

    def tokens(s):  # type: ignore[no-untyped-def]
        user = get_user(s, nurse_id)
        _, other = service.create_api_token(s, user, "wfm", ["wfm:read"], at=T0)
        _, advice = service.create_api_token(s, user, "journal", ["advice:read"], at=T0)
        return other, advice

    other, advice = database.run_sync(tokens)
    refused = await client.get("/api/v1/advice/search", params={"q": "feber"},
                               headers={"Authorization": f"Bearer {other}"})
    assert refused.status == 403 and (await refused.json())["error"] == "insufficient_scope"
    allowed = await client.get("/api/v1/advice/documents/feber-barn", headers={"Authorization": f"Bearer {advice}"})
    assert allowed.status == 200


async def test_the_nurse_who_answered_records_her_assessment_on_the_call(client: Client, database: Database,
                                                                        people: Seed) -> None:
    """Choosing a level writes `advice.assessed` (contact reason, urgency, the document's version) on the call
    record; a level the document lacks, another nurse's call or an unknown call is refused and writes nothing."""
    from agents.service import create_nurse
    from calls import service as calls

    def setup(s):  # type: ignore[no-untyped-def]
        nurse = create_nurse(s, get_user(s, people.nurse_id), "01", {"triage": 2}, vocabulary={"triage": 3}, at=T0)
        mine = calls.open_call(s, channel_id="c-1", linkedid="c-1", at=T0)
        calls.append(s, mine.id, "offer.answered", T0, data={"nurse": nurse.endpoint})
        other = calls.open_call(s, channel_id="c-2", linkedid="c-2", at=T0)
        calls.append(s, other.id, "offer.answered", T0, data={"nurse": "nurse-999"})
        return mine.id, other.id

    mine, other = database.run_sync(setup)
    csrf = await login(client, "anna")
    headers = {"X-CSRF-Token": csrf}

    async def post(body: dict[str, str]) -> tuple[int, dict[str, str]]:
        resp = await client.post("/api/v1/advice/assessments", json=body, headers=headers)
        return resp.status, await resp.json()

    status, saved = await post({"call_id": mine, "document_id": "brostsmarta", "urgency": "112"})
    assert status == 201 and saved["urgency_sv"] == "Akut: ring 112" and saved["contact_reason"] == "brostsmarta"
    assert (await post({"call_id": mine, "document_id": "brostsmarta", "urgency": "egenvard"}))[1]["error"] == "bad_urgency"
    assert (await post({"call_id": other, "document_id": "hosta", "urgency": "akut"}))[1]["error"] == "not_your_call"
    assert (await post({"call_id": "nope", "document_id": "hosta", "urgency": "akut"}))[1]["error"] == "unknown_call"
    assert (await post({"call_id": mine, "document_id": "hosta"}))[0] == 400
    recorded = database.run_sync(lambda s: [(e.kind, e.data) for e in calls.events(s, mine)])
    assessed = [d for k, d in recorded if k == "advice.assessed"]
    assert len(assessed) == 1 and assessed[0]["urgency"] == "112" and assessed[0]["version"] == 1, recorded
    no_csrf = await client.post("/api/v1/advice/assessments", json={"call_id": mine, "document_id": "hosta",
                                                                  "urgency": "akut"})
    assert no_csrf.status == 403  # no CSRF token: refused before anything else
