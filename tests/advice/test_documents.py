"""Decision-support documents: the loader refuses broken documents naming the file and the field, and the
shipped content covers exactly the 40 contact reasons, each starting with its red flags."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advice.documents import CONTENT, DocumentError, load_directory, parse
from advice.urgency import CARE_UNIT_TYPES, ORDER, Urgency, fitting_units

REASONS = Path(__file__).resolve().parents[2] / "advice" / "contact-reasons.tsv"

GOOD = """---
id: buksmarta
title: Buksmärta
contact_reason: buksmarta
audience: vuxen
terms: [buksmärta, magsmärta]
synonyms: [ont i magen, magont]
version: 1
reviewed_by: Demonstrationsinnehåll – ej medicinskt granskat
review_date: 2026-11-26
demo: true
levels:
  - urgency: "112"
    signs: [Svår smärta med kallsvett]
  - urgency: akut
    signs: [Ihållande svår smärta]
    care_units: [akutmottagning]
  - urgency: egenvard
    signs: [Lindrig smärta]
self_care: [Drick lite i taget.]
---
Om kontaktorsaken.
"""


def write(tmp_path: Path, text: str, name: str = "buksmarta") -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_document_loads_with_its_levels_and_units(tmp_path: Path) -> None:
    """The example of docs/advice.md: levels in order, units narrowed or defaulted, the body kept."""
    doc = parse(write(tmp_path, GOOD))
    assert [level.urgency for level in doc.levels] == [Urgency.CALL_112, Urgency.EMERGENCY_NOW, Urgency.SELF_CARE]
    assert doc.levels[1].units == ["akutmottagning"]
    assert doc.levels[0].units == ["ambulans"]
    assert doc.body == "Om kontaktorsaken." and doc.highest is Urgency.CALL_112


@pytest.mark.parametrize(("change", "field", "words"), [
    (("audience: vuxen", "audience: äldre"), "audience", "vuxen"),
    (('- urgency: akut', '- urgency: snart'), "levels.1.urgency", "112"),
    (("terms: [buksmärta, magsmärta]", "terms: [Buksmärta]"), "terms", "lower case"),
    (("care_units: [akutmottagning]", "care_units: [apotek]"), "levels.1", "does not serve"),
    (("care_units: [akutmottagning]", "care_units: [sjukstuga]"), "levels.1", "not a care-unit type"),
    (("self_care: [Drick lite i taget.]\n", ""), "(document)", "self_care advice is required"),
    (("contact_reason: buksmarta", "contact_reason: magont"), "(document)", "must equal id"),
    (("version: 1", "version: 0"), "version", "greater than or equal to 1"),
    (("demo: true", "demo: true\nauthor: x"), "author", "Extra inputs"),
])
def test_a_broken_document_names_the_file_and_the_field(tmp_path: Path, change: tuple[str, str], field: str,
                                                        words: str) -> None:
    """Each kind of mistake a region's editor can make is refused with the file, the field and why."""
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(DocumentError) as caught:
        parse(path)
    message = str(caught.value)
    assert f"{path}: {field}" in message and words in message, message


def test_levels_must_start_with_red_flags_and_go_down(tmp_path: Path) -> None:
    """Red flags lead to the highest fitting urgency: the first level is 112 or akut, and urgency only falls."""
    no_red_flags = GOOD.replace('  - urgency: "112"\n    signs: [Svår smärta med kallsvett]\n', "").replace(
        "- urgency: akut", "- urgency: timmar").replace("    care_units: [akutmottagning]\n", "")
    with pytest.raises(DocumentError, match="must be 112 or akut"):
        parse(write(tmp_path, no_red_flags))
    upside_down = GOOD.replace('urgency: "112"', "urgency: akut_tmp").replace("urgency: akut\n", 'urgency: "112"\n') \
        .replace("akut_tmp", "akut").replace("care_units: [akutmottagning]", "care_units: [ambulans]")
    with pytest.raises(DocumentError, match="most to the least urgent"):
        parse(write(tmp_path, upside_down))


def test_file_level_mistakes_and_every_problem_at_once(tmp_path: Path) -> None:
    """No front matter, bad YAML and a file named for another id are all reported, together."""
    write(tmp_path, "# Bara text\n", "a")
    write(tmp_path, "---\nid: [unclosed\n---\n", "b")
    write(tmp_path, GOOD, "magont")
    with pytest.raises(DocumentError) as caught:
        load_directory(tmp_path)
    issues = caught.value.issues
    assert len(issues) == 3, issues
    assert any("a.md" in i and "front matter" in i for i in issues)
    assert any("b.md" in i for i in issues)
    assert any("magont.md: id:" in i and "file name" in i for i in issues)


def test_every_urgency_has_care_unit_types() -> None:
    """The vocabulary the referral catalog imports: stable codes, every level served by at least one type."""
    assert [u.value for u in ORDER] == ["112", "akut", "timmar", "dagar", "egenvard"]
    for urgency in ORDER:
        assert fitting_units(urgency), urgency
    assert all(code == unit.code and code.isascii() for code, unit in CARE_UNIT_TYPES.items())


def test_the_content_covers_exactly_the_contact_reasons() -> None:
    """All 40 documents exist with the fixed ids and titles, validate, and are marked as demonstration content."""
    with REASONS.open(encoding="utf-8") as f:
        reasons = {row["id"]: row for row in csv.DictReader(f, delimiter="\t")}
    docs = load_directory(CONTENT)
    assert set(docs) == set(reasons), (sorted(set(reasons) - set(docs)), sorted(set(docs) - set(reasons)))
    for doc_id, doc in docs.items():
        assert doc.title == reasons[doc_id]["title_sv"], doc_id
        assert doc.audience == reasons[doc_id]["audience"], doc_id
        assert doc.demo and "Demonstrationsinnehåll" in doc.body, doc_id


def test_cli_check_reports_problems_and_counts_good_documents(tmp_path: Path) -> None:
    """`vardlinje advice check DIR`: exit 1 with the problems, or the number of valid documents."""
    from click.testing import CliRunner

    from advice.cli import advice_group

    write(tmp_path, GOOD)
    ok = CliRunner().invoke(advice_group, ["check", str(tmp_path)])
    assert ok.exit_code == 0 and "1 documents OK" in ok.output and "3 urgency levels" in ok.output, ok.output
    write(tmp_path, GOOD.replace("audience: vuxen", "audience: alla människor"), "hosta")
    bad = CliRunner().invoke(advice_group, ["check", str(tmp_path)])
    assert bad.exit_code == 1 and "hosta.md: audience" in bad.output, bad.output
