"""journal.fhir: signed notes as a FHIR R4B Bundle, re-parsed with the library's models and checked field by field."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.clinicalimpression import ClinicalImpression
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.servicerequest import ServiceRequest
from personnummer import personnummer

from journal.fhir import (
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    full_url,
    note_bundle,
)
from journal.records import CallerRelation, NoteContent, NoteRecord, NoteStatus, PatientIdKind

BASE = "https://vardlinje.region.example.se"
PNR = "194107086995"  # Tolvan-style test personnummer (valid check digit)
SAMNR = "199007721237"  # samordningsnummer: day 12 + 60
RESERVE = "RES-01-000123"
STOCKHOLM_WINTER = timezone(timedelta(hours=1))


def make_note(note_id: str = "5f0c2a1e9b7d4c3aa1e2b3c4d5e6f701", **content: Any) -> NoteRecord:
    fields: dict[str, Any] = dict(
        caller_relation=CallerRelation.PARENT, caller_name="Anna Lindqvist",
        patient_id_kind=PatientIdKind.PERSONNUMMER, patient_id=PNR, patient_name="Elsa Lindqvist",
        consent=True, contact_reason="feber-barn", document_id="feber-barn", urgency="timmar",
        advice="Sök vård i kväll på närakuten; ge febernedsättande enligt förpackningen.",
        referral="narakut", referral_text="Närakuten Solna, öppen till 22",
        text="Feber 39,4 sedan i går.\nDricker lite, kissar.\nInga utslag.",
    )
    fields.update(content)
    return NoteRecord(
        id=note_id, call_id="c-20240301-0001", status=NoteStatus.SIGNED, revision=3, amends_note_id=None,
        care_provider_id=7, care_provider_name="Sjukvårdsrådgivningen Stockholm",
        care_provider_org_number="2321000016", region_id="01", author_username="sara.nilsson",
        author_name="Sara Nilsson", created_at=datetime(2024, 3, 1, 18, 2, tzinfo=UTC),
        updated_at=datetime(2024, 3, 1, 18, 20, tzinfo=UTC), signed_at=datetime(2024, 3, 1, 18, 21, tzinfo=UTC),
        call_started_at=datetime(2024, 3, 1, 18, 0, 12, tzinfo=UTC),
        call_ended_at=datetime(2024, 3, 1, 18, 14, 40, tzinfo=UTC),
        content=NoteContent(**fields),
    )


def amendment_of(original: NoteRecord, note_id: str = "9a8b7c6d5e4f40312233445566778899") -> NoteRecord:
    return replace(original, id=note_id, amends_note_id=original.id, author_username="karin.ek",
                   author_name="Karin Ek", signed_at=datetime(2024, 3, 2, 8, 5, tzinfo=UTC),
                   content=original.content.model_copy(update={
                       "advice": "", "referral": "", "referral_text": "",
                       "text": "Tillägg: mamman ringde tillbaka, febern har gått ner."}))


def parse(out: dict[str, Any]) -> Bundle:
    return Bundle.model_validate(out)


def all_resources(bundle: Bundle) -> list[Any]:
    return [e.resource for e in bundle.entry or []]


def kinds(bundle: Bundle) -> list[str]:
    return [r.get_resource_type() for r in all_resources(bundle)]


def resources(bundle: Bundle, kind: type[Any]) -> list[Any]:
    return [r for r in all_resources(bundle) if isinstance(r, kind)]


def the(bundle: Bundle, kind: type[Any]) -> Any:
    found = resources(bundle, kind)
    assert len(found) == 1, f"{kind.__name__}: {len(found)}"
    return found[0]


def references(node: Any) -> list[str]:
    """Every Reference.reference in a JSON tree."""
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def test_fixture_identities_are_valid() -> None:
    """The test data is realistic: the personnummer and samordningsnummer pass the Luhn check."""
    assert personnummer.valid(PNR)
    assert personnummer.valid(SAMNR)
    assert personnummer.Personnummer(SAMNR).is_coordination_number()


def test_bundle_reparses_as_r4b_collection_in_order() -> None:
    """The export is a valid R4B collection Bundle with the note's four resources in a fixed order."""
    out = note_bundle([make_note()], base_url=BASE)
    json.dumps(out)  # plain JSON types only
    bundle = parse(out)
    assert out["resourceType"] == "Bundle"
    assert bundle.type == "collection"
    assert kinds(bundle) == [
        "Encounter", "Condition", "ClinicalImpression", "ServiceRequest"]


def test_patient_identified_by_personnummer_everywhere() -> None:
    """Every resource's subject is a logical Patient reference with the personnummer system and value."""
    bundle = parse(note_bundle([make_note()], base_url=BASE))
    for resource in all_resources(bundle):
        subject = resource.subject
        assert subject.type == "Patient"
        assert subject.identifier.system == PERSONNUMMER_SYSTEM == "http://electronichealth.se/identifier/personnummer"
        assert subject.identifier.value == PNR
        assert subject.identifier.use == "official"
        assert subject.display == "Elsa Lindqvist"
        assert subject.reference is None


@pytest.mark.parametrize(("kind", "value", "system", "use"), [
    (PatientIdKind.SAMORDNINGSNUMMER, SAMNR, SAMORDNINGSNUMMER_SYSTEM, "official"),
    (PatientIdKind.RESERVE, RESERVE, f"{BASE}/identifier/reservnummer", "temp"),
])
def test_samordningsnummer_and_reserve_number_systems(kind: PatientIdKind, value: str, system: str,
                                                      use: str) -> None:
    """A samordningsnummer gets the national system, a reserve number the deployment's own system."""
    bundle = parse(note_bundle([make_note(patient_id_kind=kind, patient_id=value)], base_url=BASE + "/"))
    identifier = the(bundle, Encounter).subject.identifier
    assert (identifier.system, identifier.value, identifier.use) == (system, value, use)


def test_note_without_patient_identity_is_refused() -> None:
    """A signed note lacking the patient's identity is an error, not a resource with an empty subject."""
    with pytest.raises(ValueError, match="no patient identity"):
        note_bundle([make_note(patient_id_kind=None, patient_id="")], base_url=BASE)


def test_encounter_is_a_finished_virtual_contact_with_the_call_period() -> None:
    """Encounter: status finished, class v3-ActCode VR, period = the call in UTC, provider's org number."""
    enc = the(parse(note_bundle([make_note()], base_url=BASE)), Encounter)
    assert enc.status == "finished"
    assert (enc.class_fhir.system, enc.class_fhir.code) == ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "VR")
    assert enc.period.start == datetime(2024, 3, 1, 18, 0, 12, tzinfo=UTC)
    assert enc.period.end == datetime(2024, 3, 1, 18, 14, 40, tzinfo=UTC)
    assert [(i.system, i.value) for i in enc.identifier] == [(f"{BASE}/identifier/call", "c-20240301-0001")]
    assert enc.serviceProvider.display == "Sjukvårdsrådgivningen Stockholm"
    assert (enc.serviceProvider.identifier.system, enc.serviceProvider.identifier.value) == \
        ("urn:oid:2.5.4.97", "2321000016")
    [participant] = enc.participant
    assert participant.individual.display == "Sara Nilsson"
    assert participant.type[0].coding[0].code == "PPRF"


def test_call_still_going_is_in_progress_and_times_are_utc() -> None:
    """A call without an end is in-progress with an open period; local and naive times come out in UTC."""
    note = replace(make_note(), call_ended_at=None,
                   call_started_at=datetime(2024, 3, 1, 19, 0, 12, tzinfo=STOCKHOLM_WINTER),
                   signed_at=datetime(2024, 3, 1, 18, 21))  # naive: taken as UTC
    out = note_bundle([note], base_url=BASE)
    enc = out["entry"][0]["resource"]
    assert enc["status"] == "in-progress"
    assert enc["period"] == {"start": "2024-03-01T18:00:12Z"}
    assert the(parse(out), ClinicalImpression).date == datetime(2024, 3, 1, 18, 21, tzinfo=UTC)


def test_contact_reason_condition_with_swedish_title() -> None:
    """The contact reason is a Condition coded in our code system with the title from contact-reasons.tsv,
    and both the Encounter and the ClinicalImpression point at it."""
    bundle = parse(note_bundle([make_note()], base_url=BASE))
    condition = the(bundle, Condition)
    assert condition.code.text == "Feber hos barn"
    [coding] = condition.code.coding
    assert (coding.system, coding.code, coding.display) == (
        f"{BASE}/fhir/CodeSystem/contact-reason", "feber-barn", "Feber hos barn")
    assert condition.verificationStatus.coding[0].code == "unconfirmed"
    assert condition.category[0].coding[0].code == "encounter-diagnosis"
    condition_url = full_url(make_note().id, "Condition")
    assert [e.fullUrl for e in bundle.entry or [] if e.resource is condition] == [condition_url]
    assert the(bundle, ClinicalImpression).finding[0].itemReference.reference == condition_url
    assert the(bundle, Encounter).reasonReference[0].reference == condition_url


def test_clinical_impression_carries_urgency_advice_and_text() -> None:
    """ClinicalImpression: completed, summary = advice, urgency code + Swedish name, the free text, the
    decision-support document as protocol, the author as assessor."""
    impression = the(parse(note_bundle([make_note()], base_url=BASE)), ClinicalImpression)
    assert impression.status == "completed"
    assert impression.summary.startswith("Sök vård i kväll")
    [urgency] = impression.prognosisCodeableConcept
    assert (urgency.coding[0].system, urgency.coding[0].code, urgency.coding[0].display) == (
        f"{BASE}/fhir/CodeSystem/urgency", "timmar", "Inom några timmar")
    assert impression.note[0].text == "Feber 39,4 sedan i går.\nDricker lite, kissar.\nInga utslag."
    assert impression.protocol == [f"{BASE}/api/v1/advice/documents/feber-barn"]
    assert impression.assessor.identifier.value == "sara.nilsson"
    assert [(i.system, i.value) for i in impression.identifier] == [
        (f"{BASE}/identifier/journal-note", make_note().id)]
    assert "förälder (Anna Lindqvist)" in impression.description
    assert impression.previous is None


@pytest.mark.parametrize(("urgency", "priority"), [
    ("112", "stat"), ("akut", "stat"), ("timmar", "urgent"), ("dagar", "routine"), ("egenvard", "routine")])
def test_referral_priority_follows_urgency(urgency: str, priority: str) -> None:
    """ServiceRequest.priority: 112/akut → stat, timmar → urgent, the rest routine."""
    request = the(parse(note_bundle([make_note(urgency=urgency)], base_url=BASE)), ServiceRequest)
    assert request.priority == priority


def test_referral_to_care_unit_type() -> None:
    """A care-unit type referral is an active order coded with the type and its Swedish name; referral_text
    is its note."""
    request = the(parse(note_bundle([make_note()], base_url=BASE)), ServiceRequest)
    assert (request.status, request.intent) == ("active", "order")
    [coding] = request.code.coding
    assert (coding.system, coding.code, coding.display) == (f"{BASE}/fhir/CodeSystem/care-unit-type", "narakut",
                                                            "Närakut")
    assert request.note[0].text == "Närakuten Solna, öppen till 22"
    assert request.encounter.reference == full_url(make_note().id, "Encounter")


def test_referral_outside_the_vocabulary_is_text_only() -> None:
    """A catalog id that is no care-unit type is exported as text, with no invented coding."""
    request = the(parse(note_bundle([make_note(referral="kat-0042-solna-vc")], base_url=BASE)), ServiceRequest)
    assert request.code.text == "kat-0042-solna-vc"
    assert request.code.coding is None


def test_no_referral_and_no_contact_reason_means_fewer_resources() -> None:
    """Without a referral there is no ServiceRequest; without a contact reason no Condition and no finding."""
    bundle = parse(note_bundle([make_note(referral="", referral_text="", contact_reason="")], base_url=BASE))
    assert kinds(bundle) == ["Encounter", "ClinicalImpression"]
    assert the(bundle, ClinicalImpression).finding is None
    assert the(bundle, Encounter).reasonReference is None


def test_draft_is_refused_by_name() -> None:
    """Only signed notes are exported: a draft raises ValueError naming it (the caller filters)."""
    draft = replace(make_note("d1d2d3d4e5f6"), status=NoteStatus.DRAFT, signed_at=None)
    with pytest.raises(ValueError, match="d1d2d3d4e5f6"):
        note_bundle([make_note(), draft], base_url=BASE)


def test_amendment_links_to_the_corrected_note_in_the_bundle() -> None:
    """An amendment's ClinicalImpression.previous resolves to the corrected note's ClinicalImpression by URN
    and by identifier; its Encounter names no performer."""
    original = make_note()
    amendment = amendment_of(original)
    bundle = parse(note_bundle([original, amendment], base_url=BASE))
    impressions = {i.identifier[0].value: i for i in resources(bundle, ClinicalImpression)}
    previous = impressions[amendment.id].previous
    assert previous.reference == full_url(original.id, "ClinicalImpression")
    assert [e.resource for e in bundle.entry or [] if e.fullUrl == previous.reference] == [impressions[original.id]]
    assert (previous.identifier.system, previous.identifier.value) == (f"{BASE}/identifier/journal-note", original.id)
    assert f"tillägg till journalanteckning {original.id}" in impressions[amendment.id].description
    assert impressions[amendment.id].assessor.display == "Karin Ek"
    encounters = resources(bundle, Encounter)
    assert len(encounters) == 2
    assert encounters[1].participant is None
    assert encounters[1].identifier[0].value == encounters[0].identifier[0].value == original.call_id


def test_amendment_exported_alone_keeps_a_logical_link() -> None:
    """Without the corrected note in the bundle the link is by identifier only, never a dangling URN."""
    amendment = amendment_of(make_note())
    previous = the(parse(note_bundle([amendment], base_url=BASE)), ClinicalImpression).previous
    assert previous.reference is None
    assert previous.identifier.value == make_note().id


def test_full_urls_are_deterministic_unique_and_resolve() -> None:
    """Same notes → same bundle; a note's URLs do not depend on its neighbours or on base_url; every URN
    reference points at an entry of the bundle."""
    original = make_note()
    other = make_note("0123456789abcdef0123456789abcdef", patient_id=SAMNR,
                      patient_id_kind=PatientIdKind.SAMORDNINGSNUMMER)
    notes = [original, amendment_of(original), other]
    out = note_bundle(notes, base_url=BASE)
    assert out == note_bundle(notes, base_url=BASE)
    urls = [e["fullUrl"] for e in out["entry"]]
    assert len(urls) == len(set(urls)) == 4 + 3 + 4  # the amendment has no referral
    assert all(u.startswith("urn:uuid:") for u in urls)
    alone = note_bundle([original], base_url="https://annan.example.se")
    assert [e["fullUrl"] for e in alone["entry"]] == urls[:4]
    assert urls[0] == full_url(original.id, "Encounter")
    assert set(references(out)) <= set(urls)
    assert len(set(references(out))) > 4


def test_full_url_is_pinned() -> None:
    """The URN scheme never changes silently: receivers match re-exports by it."""
    assert full_url("5f0c2a1e9b7d4c3aa1e2b3c4d5e6f701", "Encounter") == \
        "urn:uuid:7b8e55f4-5986-52fb-af74-fa967b4df3cb"


def test_same_note_twice_and_bad_base_url_are_refused() -> None:
    """A note given twice would give duplicate fullUrls; a relative base_url would give bad systems."""
    with pytest.raises(ValueError, match="twice"):
        note_bundle([make_note(), make_note()], base_url=BASE)
    with pytest.raises(ValueError, match="base_url"):
        note_bundle([make_note()], base_url="vardlinje.example.se")


def test_empty_selection_is_an_empty_collection() -> None:
    """No notes: a valid Bundle with no entries."""
    out = note_bundle([], base_url=BASE)
    assert out == {"resourceType": "Bundle", "type": "collection"}
    assert parse(out).entry is None
