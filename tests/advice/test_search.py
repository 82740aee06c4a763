"""The advice search: stemming, compounds, lay synonyms, typos and the audience, on the shipped documents;
and the dev set's accuracy, printed, with a floor that only rises."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advice.documents import load_directory
from advice.search import SearchIndex, audience_factor, evaluate_queries, split_compound

DEV = Path(__file__).resolve().parents[2] / "advice" / "queries-dev.tsv"
#: Written without looking at the search's results and never tuned on: a check of unseen phrasings.
CHECK = Path(__file__).resolve().parents[2] / "advice" / "queries-check.tsv"
TOP1_FLOOR = 90.0  # percent; raise it as the search improves, never lower it
TOP3_FLOOR = 97.5


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex.build(load_directory().values())


def first(index: SearchIndex, text: str, **kw: str) -> str:
    hits = index.search(text, **kw)  # type: ignore[arg-type]
    assert hits, f"no hit for {text!r}"
    return hits[0].id


@pytest.mark.parametrize(("query", "expected"), [
    ("magen gör så ont", "buksmarta"),  # inflected: magen → mag
    ("bröstsmärtor", "brostsmarta"),  # plural of a term
    ("stukade foten", "skada-arm-ben"),
])
def test_inflected_words_find_their_document(index: SearchIndex, query: str, expected: str) -> None:
    """Snowball's Swedish stems: the caller's inflection need not be the document's."""
    assert first(index, query) == expected


def test_compounds_are_split_both_ways(index: SearchIndex) -> None:
    """A compound the documents lack is read as its parts, and a document's compound meets its parts."""
    assert split_compound("bröstkorgsvärk", index.vocabulary) == ["bröstkorg", "värk"]  # linking -s-
    assert first(index, "bröstkorgsvärk") == "brostsmarta"
    assert first(index, "öronsmärta") == "oronvark"


def test_verb_forms_the_stemmer_leaves_alone(index: SearchIndex) -> None:
    """Deponent and past forms ("har kräkts", "kliar") reach the verb's other forms in the documents."""
    stems, _ = index.query_stems("har kräkts och det kliar")
    assert "kräk" in stems and "klia" in stems, stems


@pytest.mark.parametrize(("query", "expected"), [
    ("huvdvärk", "huvudvark"),  # a letter missing
    ("näsbold", "nasblod"),  # a letter too many
    ("tandävrk", "tandvark"),  # two letters swapped
])
def test_typos_are_forgiven(index: SearchIndex, query: str, expected: str) -> None:
    """One edit away (missing, extra, changed or swapped letter) still finds the document."""
    assert first(index, query) == expected


def test_the_audience_filter_and_the_childs_words(index: SearchIndex) -> None:
    """A child in the query lifts the children's document; the filter removes the other group's documents."""
    assert first(index, "feber") == "feber-vuxen"
    assert first(index, "min dotter har feber") == "feber-barn"
    assert first(index, "feber 2 år") == "feber-barn"
    assert first(index, "feber", audience="barn") == "feber-barn"
    assert all(h.audience != "vuxen" for h in index.search("kräkningar", audience="barn"))
    assert all(h.audience != "barn" for h in index.search("kräkningar", audience="vuxen"))
    assert audience_factor("barn", True) > audience_factor("alla", True) > audience_factor("vuxen", True)


def test_matched_phrases_are_returned_for_highlighting(index: SearchIndex) -> None:
    """The hit names the document's own phrases the query met, best first, each once."""
    hit = index.search("ont i bröstet")[0]
    assert hit.id == "brostsmarta" and hit.matched[0] == "ont i bröstet", hit
    assert len({m.lower() for m in hit.matched}) == len(hit.matched)
    assert index.search("") == [] and index.search("och i på") == []


@pytest.mark.parametrize("path", [DEV, CHECK], ids=["dev", "check"])
def test_query_set_accuracy(index: SearchIndex, path: Path) -> None:
    """The dev set's 80 lay queries and the check set's unseen phrasings: accuracy printed (pytest -s or the
    report), floors asserted."""
    with path.open(encoding="utf-8") as f:
        cases = [(r["query"], r["expected_id"]) for r in csv.DictReader(f, delimiter="\t")]
    result = evaluate_queries(index, cases)
    print(f"\nadvice {path.name}: {result.total} queries, top-1 {result.top1_percent:.1f} %, "
          f"top-3 {result.top3_percent:.1f} %; misses: {result.misses}")
    top1_floor = TOP1_FLOOR if path == DEV else 80.0
    assert result.top1_percent >= top1_floor and result.top3_percent >= TOP3_FLOOR, result
