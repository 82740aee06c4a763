"""The journal through its HTTP API on a real database: a note's life (draft, autosave, sign, amend), two tabs
saving at once, who may read (care provider, emergency access), every read logged, the audit report, the
citizen's own notes and the region's follow-up export."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any
from urllib.parse import quote

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import text
from sqlmodel import Session, select

from agents.models import Nurse
from calls import service as calls
from identity import service as identity
from journal.models import JournalAccess
from vardlinje.db import Database

from ..identity.conftest import T0, FakeClock, get_user
from .conftest import OTHER_PATIENT, PATIENT, Client, World, citizen_token, login

FILLED = {"caller_relation": "förälder", "caller_name": "Eva Svensson", "patient_id_kind": "personnummer",
          "patient_id": "19121212-1212", "patient_name": "Tolvan Tolvansson", "consent": True,
          "contact_reason": "feber-barn", "urgency": "dagar", "advice": "Febernedsättande, vätska, ny kontakt vid "
          "försämring.", "referral": "vardcentral", "referral_text": "Vårdcentralen Hjorthagen i morgon",
          "text": "Feber 39 sedan två dagar, dricker bra."}


async def _as(client: Client, who: str) -> dict[str, str]:
    return {"X-CSRF-Token": await login(client, who)}


async def _open(client: Client, h: dict[str, str], call_id: str) -> dict[str, Any]:
    resp = await client.post("/api/v1/journal/notes", json={"call_id": call_id}, headers=h)
    assert resp.status in (200, 201), await resp.text()
    return dict(await resp.json())


async def _save(client: Client, h: dict[str, str], note: dict[str, Any], changes: dict[str, Any],
                base: int | None = None) -> tuple[int, dict[str, Any]]:
    resp = await client.patch(f"/api/v1/journal/notes/{note['id']}", headers=h,
                              json={"base_revision": base or note["revision"], "changes": changes})
    return resp.status, dict(await resp.json())


async def _signed_note(client: Client, h: dict[str, str], call_id: str, **extra: Any) -> dict[str, Any]:
    note = await _open(client, h, call_id)
    status, note = await _save(client, h, note, {**FILLED, **extra})
    assert status == 200, note
    resp = await client.post(f"/api/v1/journal/notes/{note['id']}/sign", json={"revision": note["revision"]},
                             headers=h)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def _accesses(database: Database) -> list[JournalAccess]:
    return database.run_sync(lambda s: list(s.exec(select(JournalAccess).order_by(JournalAccess.id))))


async def test_a_note_is_drafted_prefilled_autosaved_signed_and_then_immutable(client: Client, world: World,
                                                                              database: Database) -> None:
    """Her draft starts with her decision-support assessment; saves bump the revision and keep every version;
    once signed no API changes it (save, sign again) and the database itself refuses an UPDATE."""
    database.run_sync(lambda s: calls.append(s, world.call_anna, "advice.assessed", T0, data={
        "document": "feber-barn", "contact_reason": "feber-barn", "urgency": "timmar"}))
    h = await _as(client, "anna")
    note = await _open(client, h, world.call_anna)
    assert note["status"] == "draft" and note["revision"] == 1
    assert note["content"]["urgency"] == "timmar" and note["content"]["contact_reason"] == "feber-barn"
    assert "patient_id" in note["missing_to_sign"]
    again = await _open(client, h, world.call_anna)
    assert again["id"] == note["id"], "a second open returns her draft, not a new note"

    early = await client.post(f"/api/v1/journal/notes/{note['id']}/sign", json={"revision": 1}, headers=h)
    incomplete = await early.json()
    assert early.status == 422 and incomplete["error"] == "incomplete"
    assert incomplete["missing"] == ["advice", "caller_relation", "patient_id", "patient_id_kind"], incomplete
    status, saved = await _save(client, h, note, FILLED)
    assert status == 200 and saved["revision"] == 2 and saved["content"]["patient_id"] == PATIENT
    signed = await client.post(f"/api/v1/journal/notes/{note['id']}/sign", json={"revision": 2}, headers=h)
    body = await signed.json()
    assert signed.status == 200 and body["status"] == "signed" and body["signed_at"], body

    status, refused = await _save(client, h, body, {"text": "ändrad i efterhand"})
    assert status == 409 and refused["error"] == "note_signed"
    twice = await client.post(f"/api/v1/journal/notes/{note['id']}/sign", json={"revision": 3}, headers=h)
    assert twice.status == 409
    with pytest.raises(Exception, match="immutable"):
        database.run_sync(lambda s: s.execute(text("UPDATE journal_note SET content = '{}' WHERE id = :i"),
                                              {"i": note["id"]}))
    versions = await (await client.get(f"/api/v1/journal/notes/{note['id']}/versions", headers=h)).json()
    assert [(v["revision"], v["status"], v["saved_by"]) for v in versions["versions"]] == [
        (1, "draft", "anna"), (2, "draft", "anna"), (3, "signed", "anna")]
    current = await (await client.get(f"/api/v1/journal/notes/{note['id']}", headers=h)).json()
    assert current["content"]["text"] == FILLED["text"]
    kinds = [e.kind for e in database.run_sync(lambda s: calls.events(s, world.call_anna))]
    assert "journal.opened" in kinds and "journal.signed" in kinds


async def test_an_amendment_is_its_own_signed_note_linked_to_the_original(client: Client, second: Client,
                                                                          world: World) -> None:
    """A correction is a new note that points at the signed original (which stays as it was); a colleague of the
    same care provider may amend; the original is read with its signed amendments."""
    h = await _as(client, "anna")
    original = await _signed_note(client, h, world.call_anna)
    draft_amend = await client.post(f"/api/v1/journal/notes/{original['id']}/amendments", headers=h)
    assert draft_amend.status == 201
    amendment = await draft_amend.json()
    assert amendment["amends_note_id"] == original["id"] and amendment["content"]["patient_id"] == PATIENT
    again = await client.post(f"/api/v1/journal/notes/{original['id']}/amendments", headers=h)
    assert again.status == 200 and (await again.json())["id"] == amendment["id"], "her begun amendment, not a new one"
    status, amendment = await _save(client, h, amendment, {"text": "Rättelse: temperaturen var 38,5."})
    assert status == 200
    resp = await client.post(f"/api/v1/journal/notes/{amendment['id']}/sign",
                             json={"revision": amendment["revision"]}, headers=h)
    assert resp.status == 200
    view = await (await client.get(f"/api/v1/journal/notes/{original['id']}", headers=h)).json()
    assert view["content"]["text"] == FILLED["text"], "the original is unchanged"
    assert [a["content"]["text"] for a in view["amendments"]] == ["Rättelse: temperaturen var 38,5."]
    bh = await _as(second, "bertil")
    by_colleague = await second.post(f"/api/v1/journal/notes/{original['id']}/amendments", headers=bh)
    assert by_colleague.status == 201 and (await by_colleague.json())["amends_note_id"] == original["id"]
    of_draft = await client.post(f"/api/v1/journal/notes/{amendment['id']}x/amendments", headers=h)
    assert of_draft.status == 404


async def test_two_tabs_saving_at_once_lose_nothing(client: Client, second: Client, world: World) -> None:
    """Two tabs save different fields on the same revision at the same time: both texts are kept. The same
    field changed in both: the later save is refused with the current note, and goes through when re-sent."""
    h1 = await _as(client, "anna")
    h2 = await _as(second, "anna")
    note = await _open(client, h1, world.call_anna)
    (s1, r1), (s2, r2) = await asyncio.gather(_save(client, h1, note, {"advice": "Vila och vätska."}),
                                              _save(second, h2, note, {"text": "Hosta i tre dagar."}))
    assert s1 == 200 and s2 == 200, (r1, r2)
    latest = await (await client.get(f"/api/v1/journal/notes/{note['id']}", headers=h1)).json()
    assert latest["content"]["advice"] == "Vila och vätska." and latest["content"]["text"] == "Hosta i tre dagar."
    assert latest["revision"] == 3

    status, first = await _save(client, h1, latest, {"text": "Hosta i fyra dagar."})
    assert status == 200
    status, conflict = await _save(second, h2, latest, {"text": "Hosta, feber 38."})
    assert status == 409 and conflict["error"] == "edit_conflict"
    assert conflict["current"]["content"]["text"] == "Hosta i fyra dagar."
    status, resent = await _save(second, h2, conflict["current"], {"text": "Hosta, feber 38."})
    assert status == 200 and resent["content"]["text"] == "Hosta, feber 38."
    late = await client.post(f"/api/v1/journal/notes/{note['id']}/sign", json={"revision": first["revision"]},
                             headers=h1)
    body = await late.json()
    assert late.status == 409 and body["error"] == "edit_conflict"
    assert body["current"]["content"]["text"] == "Hosta, feber 38.", "signing what she saw, not what is there"
    stale = await _save(client, h1, latest, {"advice": "Vila."}, base=99)
    assert stale[0] == 400 and stale[1]["error"] == "bad_revision"


@pytest.mark.parametrize(("kind", "raw", "says"), [
    ("personnummer", "19121212-1213", "kontrollsiffr"),
    ("personnummer", "19900230-1234", "datum"),
    ("personnummer", "19121212-12A2", "A"),
    ("personnummer", "1212", "siffror"),
    ("samordningsnummer", "19121212-1212", "personnummer"),
])
async def test_invalid_patient_identities_are_refused_clearly(client: Client, world: World, kind: str, raw: str,
                                                              says: str) -> None:
    """Wrong checksum, impossible date, letters, wrong length, kind mix-up: 400 bad_patient_id naming the
    fault in Swedish (and English); nothing is saved."""
    h = await _as(client, "anna")
    note = await _open(client, h, world.call_anna)
    status, body = await _save(client, h, note, {"patient_id_kind": kind, "patient_id": raw})
    assert status == 400 and body["error"] == "bad_patient_id", body
    assert says.lower() in body["detail"].lower() and " / " in body["detail"], body["detail"]
    after = await (await client.get(f"/api/v1/journal/notes/{note['id']}", headers=h)).json()
    assert after["revision"] == 1 and after["content"]["patient_id"] == ""


async def test_only_the_answering_nurse_writes_and_only_the_author_edits(client: Client, second: Client,
                                                                        world: World) -> None:
    """Another nurse cannot open a note on a call she did not take, nor edit (or even see) someone's draft."""
    h = await _as(client, "anna")
    note = await _open(client, h, world.call_anna)
    bh = await _as(second, "bertil")
    refused = await second.post("/api/v1/journal/notes", json={"call_id": world.call_anna}, headers=bh)
    assert refused.status == 403 and (await refused.json())["error"] == "not_your_call"
    status, body = await _save(second, bh, note, {"text": "inte min"})
    assert status == 403 and body["error"] == "not_your_note"
    hidden = await second.get(f"/api/v1/journal/notes/{note['id']}", headers=bh)
    assert hidden.status == 404
    unknown = await client.post("/api/v1/journal/notes", json={"call_id": "nope"}, headers=h)
    assert unknown.status == 404 and (await unknown.json())["error"] == "unknown_call"
    bad = await client.patch(f"/api/v1/journal/notes/{note['id']}", json={"base_revision": 1,
                             "changes": {"diagnosis": "x"}}, headers=h)
    assert bad.status == 400 and "diagnosis" in (await bad.json())["detail"]


async def test_care_provider_scoping_and_logged_emergency_access(client: Client, second: Client, third: Client,
                                                                 world: World, database: Database) -> None:
    """A nurse of another care provider is refused; with a stated reason she gets emergency access, which is
    logged with the reason and shows in the audit report; the patient list leaves other providers' notes out
    unless emergency access is asked for."""
    h = await _as(client, "anna")
    note = await _signed_note(client, h, world.call_anna)
    ch = await _as(second, "cecilia")
    refused = await second.get(f"/api/v1/journal/notes/{note['id']}", headers=ch)
    assert refused.status == 403 and (await refused.json())["error"] == "other_care_provider"
    short = await second.get(f"/api/v1/journal/notes/{note['id']}", headers={**ch, "X-Emergency-Reason": "akut"})
    assert short.status == 400 and (await short.json())["error"] == "bad_reason"
    reason = "Medvetslös patient på akuten, behöver tidigare bedömning"
    granted = await second.get(f"/api/v1/journal/notes/{note['id']}",
                               headers={**ch, "X-Emergency-Reason": quote(reason)})
    assert granted.status == 200 and (await granted.json())["access"] == "emergency"
    listing = await (await second.get(f"/api/v1/journal/patients/{PATIENT}/notes", headers=ch)).json()
    assert listing["notes"] == []
    own = await (await client.get("/api/v1/journal/patients/19121212-1212/notes", headers=h)).json()
    assert [n["id"] for n in own["notes"]] == [note["id"]] and own["notes"][0]["access"] == "care"

    emergency = [a for a in _accesses(database) if a.purpose == "emergency"]
    assert len(emergency) == 1 and emergency[0].reason == reason and emergency[0].user_id == world.cecilia
    admin = await _as(third, "admin")
    report = await (await third.get("/api/v1/journal/audit", params={"purpose": "emergency"}, headers=admin)).json()
    assert [(a["user"], a["note_id"], a["reason"]) for a in report["accesses"]] == [("cecilia", note["id"], reason)]
    per_patient = await (await third.get("/api/v1/journal/audit", params={"patient": "191212121212"},
                                         headers=admin)).json()
    assert {a["user"] for a in per_patient["accesses"]} == {"anna", "cecilia"}
    per_user = await (await third.get("/api/v1/journal/audit", params={"user": "anna"}, headers=admin)).json()
    assert per_user["accesses"] and all(a["user"] == "anna" for a in per_user["accesses"])
    nurse_denied = await second.get("/api/v1/journal/audit", headers=ch)
    assert nurse_denied.status == 403


async def test_every_read_path_is_logged(client: Client, world: World, database: Database,
                                         clock: FakeClock) -> None:
    """Reopening her note, reading it, its versions, the patient's list, the citizen's view and the follow-up
    export each leave an access row (who, when, which note, purpose, route)."""
    h = await _as(client, "anna")
    note = await _signed_note(client, h, world.call_anna)
    before = len(_accesses(database))
    token = database.run_sync(lambda s: identity.create_api_token(s, get_user(s, world.admin), "uppföljning",
                                                                  ["journal:followup"], at=T0)[1])
    reads = [
        ("GET", f"/api/v1/journal/notes/{note['id']}", h, "care"),
        ("GET", f"/api/v1/journal/notes/{note['id']}/versions", h, "care"),
        ("GET", f"/api/v1/journal/patients/{PATIENT}/notes", h, "care"),
        ("GET", "/api/v1/citizen/notes", {"Authorization": f"Bearer {citizen_token(world, clock, PATIENT)}"},
         "citizen"),
        ("GET", "/api/v1/journal/followup", {"Authorization": f"Bearer {token}"}, "followup"),
        ("POST", "/api/v1/journal/notes", h, "care"),
    ]
    for method, path, headers, purpose in reads:
        if method == "POST":
            resp = await client.post(path, json={"call_id": world.call_anna}, headers=headers)
        else:
            resp = await client.get(path, headers=headers)
        assert resp.status in (200, 201), (path, await resp.text())
        rows = _accesses(database)[before:]
        assert len(rows) == 1, (path, rows)
        assert rows[0].purpose == purpose and rows[0].note_id == note["id"] and rows[0].path == path
        before += 1


async def test_the_citizen_gets_only_their_own_signed_notes(client: Client, second: Client, world: World,
                                                           clock: FakeClock, database: Database) -> None:
    """With a valid token from the identity provider a citizen fetches their signed notes (with amendments);
    another citizen's token never returns them; drafts are never shown; a forged or expired token is 401."""
    h = await _as(client, "anna")
    mine = await _signed_note(client, h, world.call_anna)
    ch = await _as(second, "cecilia")
    other = await _signed_note(second, ch, world.call_cecilia, patient_id=OTHER_PATIENT)

    async def fetch(token: str) -> tuple[int, dict[str, Any]]:
        resp = await second.get("/api/v1/citizen/notes", headers={"Authorization": f"Bearer {token}"})
        return resp.status, dict(await resp.json())

    status, body = await fetch(citizen_token(world, clock, "19121212-1212"))
    assert status == 200 and [n["id"] for n in body["notes"]] == [mine["id"]]
    assert body["notes"][0]["advice"] == FILLED["advice"] and "patient_id" not in body["notes"][0]
    status, body = await fetch(citizen_token(world, clock, OTHER_PATIENT))
    assert status == 200 and [n["id"] for n in body["notes"]] == [other["id"]]
    status, body = await fetch(citizen_token(world, clock, "198112189876"))
    assert status == 200 and body["notes"] == []
    expired = citizen_token(world, clock, PATIENT, exp=int(clock().timestamp()) - 3600,
                            iat=int(clock().timestamp()) - 4000)
    assert (await fetch(expired))[0] == 401
    assert (await fetch(citizen_token(world, clock, PATIENT, iss="https://evil.example")))[0] == 401
    staff_token = database.run_sync(lambda s: identity.create_api_token(s, get_user(s, world.anna), "x",
                                                                        ["advice:read"], at=T0)[1])
    assert (await fetch(staff_token))[0] == 401, "a staff API token is not a citizen's login"
    none = await second.get("/api/v1/citizen/notes")
    assert none.status == 401
    posted = await second.post("/api/v1/citizen/notes", headers={
        "Authorization": f"Bearer {citizen_token(world, clock, PATIENT)}"})
    assert posted.status == 401, "only GET of that one route takes the identity provider's token"


async def test_followup_is_scoped_paged_filtered_and_exports_fhir_and_csv(client: Client, second: Client,
                                                                         world: World, database: Database,
                                                                         clock: FakeClock) -> None:
    """A follow-up token sees its own care provider's signed notes only (narrowed to its regions when it says
    so), pages with a cursor, filters by urgency, and exports a FHIR R4 Bundle that fhir.resources accepts and
    a CSV with one row per note."""
    h = await _as(client, "anna")
    first = await _signed_note(client, h, world.call_anna)

    def second_call(s: Session) -> str:
        call = calls.open_call(s, channel_id="ch-anna-2", linkedid="ch-anna-2", at=T0)
        calls.set_region(s, call.id, "03", T0, "caller")
        nurse = s.exec(select(Nurse).where(Nurse.user_id == world.anna)).one()
        calls.append(s, call.id, "offer.answered", T0, data={"nurse": nurse.endpoint})
        return call.id

    call2 = database.run_sync(second_call)
    clock.advance(minutes=5)
    second_note = await _signed_note(client, h, call2, urgency="akut", patient_id=OTHER_PATIENT)
    ch = await _as(second, "cecilia")
    await _signed_note(second, ch, world.call_cecilia)

    def tokens(s: Session) -> tuple[str, str, str]:
        admin = get_user(s, world.admin)
        return (identity.create_api_token(s, admin, "all", ["journal:followup"], at=T0)[1],
                identity.create_api_token(s, admin, "uppsala", ["journal:followup", "region:03"], at=T0)[1],
                identity.create_api_token(s, admin, "wrong", ["advice:read"], at=T0)[1])

    everything, uppsala, wrong = database.run_sync(tokens)

    async def get(token: str, **params: str) -> Any:
        return await client.get("/api/v1/journal/followup", params=params,
                                headers={"Authorization": f"Bearer {token}"})

    page1 = await get(everything, limit="1")
    body1 = await page1.json()
    assert [n["id"] for n in body1["notes"]] == [first["id"]] and body1["next_cursor"]
    assert 'rel="next"' in page1.headers["Link"]
    body2 = await (await get(everything, limit="1", cursor=body1["next_cursor"])).json()
    assert [n["id"] for n in body2["notes"]] == [second_note["id"]]
    body3 = await (await get(everything, limit="1", cursor=body2["next_cursor"])).json()
    assert body3["notes"] == [] and body3["next_cursor"] is None, "the other care provider's note never shows"
    narrowed = await (await get(uppsala)).json()
    assert [n["id"] for n in narrowed["notes"]] == [second_note["id"]]
    assert (await get(uppsala, region="01")).status == 403
    urgent = await (await get(everything, urgency="akut")).json()
    assert [n["id"] for n in urgent["notes"]] == [second_note["id"]]
    assert (await get(wrong)).status == 403
    assert (await get(everything, limit="0")).status == 400
    assert (await get(everything, cursor="!!")).status == 400
    assert (await get(everything, **{"from": "26-11-2026"})).status == 400

    fhir_resp = await get(everything, format="fhir")
    assert fhir_resp.status == 200 and fhir_resp.content_type == "application/fhir+json"
    bundle = Bundle.model_validate(await fhir_resp.json())
    kinds = sorted({e.resource.get_resource_type() for e in bundle.entry or []})
    assert {"Encounter", "Condition", "ClinicalImpression", "ServiceRequest"} <= set(kinds), kinds
    csv_resp = await get(everything, format="csv")
    rows = list(csv.reader(io.StringIO((await csv_resp.text()).lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 3 and {first["id"], second_note["id"]} <= {r[0] for r in rows[1:]}


async def test_phases_are_timestamped_and_the_contact_view_tells_the_whole_call(client: Client, second: Client,
                                                                               world: World) -> None:
    """The answering nurse steps through the region's phases (each start timestamped on the call record); an
    unknown phase or another nurse is refused; the contact view shows offers, the phases, the plan and notes."""
    h = await _as(client, "anna")
    for phase in ("inledning", "kartlaggning", "bedomning"):
        resp = await client.post(f"/api/v1/calls/{world.call_anna}/phases", json={"phase": phase}, headers=h)
        assert resp.status == 201, await resp.text()
    bad = await client.post(f"/api/v1/calls/{world.call_anna}/phases", json={"phase": "diagnos"}, headers=h)
    assert bad.status == 400 and (await bad.json())["error"] == "unknown_phase"
    bh = await _as(second, "bertil")
    other = await second.post(f"/api/v1/calls/{world.call_anna}/phases", json={"phase": "avslut"}, headers=bh)
    assert other.status == 403
    await _open(client, h, world.call_anna)
    view = await (await client.get(f"/api/v1/calls/{world.call_anna}", headers=h)).json()
    assert [p["phase"] for p in view["phases"]] == ["inledning", "kartlaggning", "bedomning"]
    assert all(p["at"].endswith("+00:00") and p["by"] == "anna" for p in view["phases"]), "UTC, on SQLite too"
    assert [p["id"] for p in view["phase_plan"]][0] == "inledning" and len(view["phase_plan"]) == 5
    assert view["offers"][0]["outcome"] == "answered" and view["region"] == "01"
    assert view["caller_number"] == "+46701234567" and len(view["notes"]) == 1
    assert (await second.get(f"/api/v1/calls/{world.call_anna}", headers=bh)).status == 403
    assert (await client.get("/api/v1/calls/nope", headers=h)).status == 404
    page = await client.get(f"/calls/{world.call_anna}", headers={"Accept": "text/html"})
    html = await page.text()
    assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "070-123 45 67" in html and "Region Stockholm" in html and "Kartläggning" in html and "besvarat" in html
    assert (await second.get(f"/calls/{world.call_anna}", headers={"Accept": "text/html"})).status == 403


async def test_two_tabs_opening_the_call_at_once_share_one_draft(client: Client, second: Client,
                                                                 world: World) -> None:
    """Both tabs ask for the note of the call at the same moment: one draft, never two halves of a note."""
    h1, h2 = await _as(client, "anna"), await _as(second, "anna")
    one, two = await asyncio.gather(_open(client, h1, world.call_anna), _open(second, h2, world.call_anna))
    assert one["id"] == two["id"]


async def test_the_same_identity_typed_another_way_is_no_change(client: Client, second: Client,
                                                                world: World) -> None:
    """One tab saved 19121212-1212, the other types 191212121212 on the old revision: no conflict, no new
    revision (it is compared normalised)."""
    h1, h2 = await _as(client, "anna"), await _as(second, "anna")
    note = await _open(client, h1, world.call_anna)
    status, saved = await _save(client, h1, note, {"patient_id_kind": "personnummer", "patient_id": "19121212-1212"})
    assert status == 200 and saved["revision"] == 2
    status, same = await _save(second, h2, note, {"patient_id_kind": "personnummer", "patient_id": "191212121212"})
    assert status == 200 and same["revision"] == 2 and same["changed"] == [], same


async def test_an_amendment_stays_with_the_notes_patient(client: Client, world: World, clock: FakeClock) -> None:
    """An amendment cannot be moved to another patient (the citizen would lose it, another would get it);
    signed, it files under the original's patient."""
    h = await _as(client, "anna")
    original = await _signed_note(client, h, world.call_anna)
    amendment = await (await client.post(f"/api/v1/journal/notes/{original['id']}/amendments", headers=h)).json()
    status, body = await _save(client, h, amendment, {"patient_id": OTHER_PATIENT, "text": "Rättelse"})
    assert status == 400 and body["error"] == "amendment_patient", body
    status, amendment = await _save(client, h, amendment, {"text": "Rättelse: feber 38,5."})
    assert status == 200
    assert (await client.post(f"/api/v1/journal/notes/{amendment['id']}/sign",
                              json={"revision": amendment["revision"]}, headers=h)).status == 200
    resp = await client.get("/api/v1/citizen/notes",
                            headers={"Authorization": f"Bearer {citizen_token(world, clock, PATIENT)}"})
    notes = (await resp.json())["notes"]
    assert [a["text"] for a in notes[0]["amendments"]] == ["Rättelse: feber 38,5."]


async def test_periods_are_swedish_days_on_every_database(client: Client, world: World, database: Database,
                                                          clock: FakeClock) -> None:
    """A note signed 00:30 Stockholm time on 26 November (23:30 UTC the day before) belongs to the 26th in the
    follow-up and the audit, on SQLite as on PostgreSQL; bad audit input is a 400, not a 500."""
    clock.advance(minutes=90)  # T0 is 22:00 UTC = 23:00 in Stockholm; now 00:30 on the 26th there
    h = await _as(client, "anna")
    note = await _signed_note(client, h, world.call_anna)
    token = database.run_sync(lambda s: identity.create_api_token(s, get_user(s, world.admin), "f",
                                                                  ["journal:followup", "journal:audit"], at=T0)[1])
    bearer = {"Authorization": f"Bearer {token}"}

    async def followup(**params: str) -> list[str]:
        resp = await client.get("/api/v1/journal/followup", params=params, headers=bearer)
        return [n["id"] for n in (await resp.json())["notes"]]

    assert await followup(**{"from": "2026-11-26"}) == [note["id"]]
    assert await followup(to="2026-11-25") == []
    assert await followup(**{"from": "2026-11-26T00:00:00+01:00"}) == [note["id"]]
    audit = await (await client.get("/api/v1/journal/audit", params={"from": "2026-11-26"}, headers=bearer)).json()
    assert audit["accesses"] and audit["truncated"] is False
    assert (await client.get("/api/v1/journal/audit", params={"to": "2026-11-25"}, headers=bearer)).status == 200
    for bad in ({"patient": "1234"}, {"patient": "19121212-1213"}, {"limit": "0"}, {"purpose": "nyfikenhet"}):
        resp = await client.get("/api/v1/journal/audit", params=bad, headers=bearer)
        assert resp.status == 400, (bad, await resp.text())
    nurse_token = database.run_sync(lambda s: identity.create_api_token(s, get_user(s, world.anna), "n",
                                                                        ["journal:audit"], at=T0)[1])
    refused = await client.get("/api/v1/journal/audit", headers={"Authorization": f"Bearer {nurse_token}"})
    assert refused.status == 403, "a token acts for its user: a nurse's token is no log reviewer"
