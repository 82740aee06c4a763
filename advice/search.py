"""Search over the decision-support documents: the nurse types what the caller says ("ont i magen", "slog i
huvudet", "getingstick") and gets the right document first (docs/advice.md, "Search").

Pure and in memory: `SearchIndex.build(documents)` once, then `index.search(text)` per keystroke.

How a query is understood:

1. **Words.** Lower case, split on anything that is not a letter or digit, Swedish stop words dropped
   ("jag", "har", "i", "och" …), each word reduced by the Snowball Swedish stemmer ("magen" → "mag").
2. **Compounds.** A word the index does not know is split where both halves are known words (with the
   Swedish linking -s- allowed): "magsmärta" → "mag" + "smärt", "knäskada" → "knä" + "skad". Documents'
   own compounds are split the same way, so "ont i magen" also meets "magsmärta".
3. **Typos.** A word still unknown is matched to known stems one edit away (two for long words): "huvdvärk",
   "feberr". Such a match counts less than an exact one.
4. **Scoring.** Each document's vocabulary is phrases (title, terms, synonyms: the caller's own words).
   A phrase whose every word is in the query scores by its length and its words' rarity (a longer
   matched phrase is more specific: "ont i bröstet" beats "ont"); words matched outside whole phrases add
   a little; the signs of the levels add less. IDF over the documents keeps common words ("ont") weak.
5. **Audience.** `audience="barn"` or `"vuxen"` filters; without it, a query that speaks of a child
   ("barnet", "min son", "bebisen", "3 år") lifts the children's documents and lowers the adults' ones,
   and one that does not slightly prefers the adults' documents.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import snowballstemmer

from .documents import Document

Audience = Literal["barn", "vuxen"]

STOP_WORDS = frozenset("""
jag du han hon vi ni de den det denna detta dessa man en ett och eller men att som är var varit vara blir blev
har hade haft hos i på av till från med utan om för över under efter sedan sen igår idag nu då när så också
inte ej mycket lite väldigt jätte jättemycket ganska mer mest min mitt mina din ditt dina hans hennes vår
vårt våra er ert era sin sitt sina mig dig sig oss honom henne dem vad vem hur var vart varför kan kunde ska
skulle vill måste får fått känns känner tycker verkar lite bara än ju väl nog alltså dag dagar timme timmar
gång gånger någon något några ingen inget
""".split())

#: Words that say the caller speaks of a child.
CHILD_WORDS = frozenset("""
barn barnet barnen son sonen dotter dottern bebis bebisen bäbis bäbisen baby babyn spädbarn spädbarnet
ungen ungarna pojke pojken flicka flickan tjej tjejen kille killen lillen lillan bebisar småbarn
barnets sonens dotterns tonåring tonåringen grabben
""".split())
ADULT_WORDS = frozenset("vuxen vuxna mamma pappa maken frun sambo mannen kvinnan pensionär".split())
_AGE = re.compile(r"\b(\d{1,2})\s*(år|mån|månad|månader|veckor|v)\b")
_WORD = re.compile(r"[0-9a-zåäöéü]+")

PHRASE_WEIGHT = {"title": 3.0, "term": 2.0, "synonym": 2.0}
SIGN_WEIGHT = 0.25  # words of the levels' signs: context, not the reason itself
LOOSE_WEIGHT = 0.5  # a document word matched outside any whole phrase
FUZZY_FACTOR = 0.7  # a typo-matched word counts less
COMMON_SHARE = 0.3  # a word in more than this share of the documents scores only inside whole phrases
# (unless the query has nothing else: the first word typed, "ont", still lists documents)
LINKS = ("s", "e", "a", "o", "u")
#: Verb endings tried, longest first, when the stemmer's form is unknown (deponent -s verbs, past tense,
#: supine, present): kräk|ts, kräk|tes, blö|dde, svullna|de, kli|ar.
VERB_ENDINGS = ("ades", "tes", "des", "dde", "tts", "ts", "ds", "ade", "de", "te", "ar", "er", "at", "t", "s")  # Swedish compound linking letters: olycks|fall, pojk|e|namn …


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("swedish")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def _deletes(token: str) -> set[str]:
    return {token[:i] + token[i + 1:] for i in range(len(token))}


@dataclass
class PhraseGroup:
    """One phrase's words, shared by every document that lists it (titles, terms and synonyms repeat across
    documents: matched once per query, not once per document)."""

    words: tuple[tuple[str, frozenset[str]], ...]  # each word's stem and, for a compound, its parts
    stems: frozenset[str]  # every stem and part (the postings)
    members: list[tuple[int, str, str]] = field(default_factory=list)  # (document, kind, the text as written)

    def match(self, query: Mapping[str, float]) -> frozenset[str] | None:
        """The query stems that complete this phrase (each word by its stem or by all its parts), or None."""
        used: set[str] = set()
        for whole, parts in self.words:
            if whole in query:
                used.add(whole)
            elif parts and parts <= query.keys():
                used |= parts
            else:
                return None
        return frozenset(used)


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    audience: str
    score: float
    matched: tuple[str, ...]  # the document's phrases the query matched, best first (for highlighting)


@dataclass
class SearchIndex:
    docs: list[Document]
    groups: list[PhraseGroup]
    by_stem: dict[str, list[int]]  # stem → phrase group indexes
    doc_by_stem: dict[str, list[int]]  # stem → documents whose phrases contain it
    sign_docs: dict[str, list[int]]  # stem → documents whose signs use it
    idf: dict[str, float]
    vocabulary: frozenset[str]
    deletes: dict[str, set[str]] = field(default_factory=dict)  # one-deletion variant → stems

    @classmethod
    def build(cls, documents: Iterable[Document]) -> SearchIndex:
        docs = list(documents)
        raw: list[tuple[int, str, str, list[str]]] = []
        for i, doc in enumerate(docs):
            raw.append((i, "title", doc.title, [stem(w) for w in words(doc.title) if w not in STOP_WORDS]))
            for kind, texts in (("term", doc.terms), ("synonym", doc.synonyms)):
                for text in texts:
                    raw.append((i, kind, text, [stem(w) for w in words(text) if w not in STOP_WORDS]))
        # First the documents' own words, then their compounds split against that vocabulary.
        known = {s for *_, stems in raw for s in stems}
        groups: dict[tuple[tuple[str, frozenset[str]], ...], PhraseGroup] = {}
        for i, kind, text, stems in raw:
            if not stems:
                continue
            split = tuple((s, frozenset(split_compound(s, known))) for s in stems)
            group = groups.get(split)
            if group is None:
                parts = {s for s, _ in split} | {part for _, ps in split for part in ps}
                group = groups[split] = PhraseGroup(split, frozenset(parts))
            group.members.append((i, kind, text))
        ordered = list(groups.values())
        vocabulary = frozenset({s for g in ordered for s in g.stems})
        by_stem: dict[str, list[int]] = defaultdict(list)
        doc_sets: dict[str, set[int]] = defaultdict(set)
        for n, group in enumerate(ordered):
            for s in group.stems:
                by_stem[s].append(n)
                doc_sets[s].update(doc for doc, _, _ in group.members)
        total = max(1, len(docs))
        idf = {s: math.log(1 + total / len(members)) for s, members in doc_sets.items()}
        doc_by_stem = {s: sorted(members) for s, members in doc_sets.items()}
        sign_docs: dict[str, list[int]] = defaultdict(list)
        for i, document in enumerate(docs):
            for s in sorted({stem(w) for level in document.levels for sign in level.signs for w in words(sign)
                             if w not in STOP_WORDS}):
                sign_docs[s].append(i)
        deletes: dict[str, set[str]] = defaultdict(set)
        for s in vocabulary:
            if len(s) >= 4:
                for d in _deletes(s):
                    deletes[d].add(s)
        return cls(docs, ordered, dict(by_stem), doc_by_stem, dict(sign_docs), idf, vocabulary, dict(deletes))

    # -- understanding the query -----------------------------------------------------------------------

    def query_stems(self, text: str) -> tuple[dict[str, float], bool | None]:
        """Stem → weight (1 exact or split, FUZZY_FACTOR for a typo), and whether a child is meant
        (True), an adult (False) or neither said (None)."""
        tokens = words(text)
        child: bool | None = None
        if any(t in CHILD_WORDS for t in tokens) or self._age_says_child(normalise(text)):
            child = True
        elif any(t in ADULT_WORDS for t in tokens):
            child = False
        found: dict[str, float] = {}
        for token in tokens:
            if token in STOP_WORDS or token in CHILD_WORDS:
                continue
            s = stem(token)
            base = self._inflected(token)
            if base is not None:
                found[base] = 1.0  # "kräkts" is also "kräk", "kliar" also "kli"
            if s in self.vocabulary or token in self.vocabulary:
                known = s if s in self.vocabulary else token
                found[known] = 1.0
                for part in split_compound(known, self.vocabulary):
                    found.setdefault(part, 1.0)  # "magsmärta" also meets "ont i magen"
                continue
            if base is not None:
                continue
            parts = split_compound(s, self.vocabulary) or split_compound(token, self.vocabulary)
            if parts:
                for part in parts:
                    found.setdefault(part, 1.0)
                continue
            for near in self._near(s):
                found[near] = max(found.get(near, 0.0), FUZZY_FACTOR)
        return found, child

    def _inflected(self, token: str) -> str | None:
        """A verb form the stemmer leaves alone (the s-forms and past forms of everyday verbs: "kräkts",
        "kräktes", "svullnade", "blödde") reduced to a known stem other than the word's own."""
        for ending in VERB_ENDINGS:
            if token.endswith(ending) and len(token) - len(ending) >= 3:
                base = token[:-len(ending)]
                for candidate in (base, stem(base), base + "a", stem(base + "a")):  # kli|ar → klia
                    if candidate in self.vocabulary and candidate != stem(token):
                        return candidate
        return None

    @staticmethod
    def _age_says_child(text: str) -> bool:
        for number, unit in _AGE.findall(text):
            if unit.startswith(("mån", "v")) or int(number) < 16:
                return True
        return False

    def _near(self, s: str) -> set[str]:
        """Known stems within one edit (deletion neighbourhoods: insert, delete, substitute, transpose)."""
        if len(s) < 4:
            return set()
        out = set(self.deletes.get(s, ()))  # the query lacks a letter
        for d in _deletes(s):
            if d in self.vocabulary:
                out.add(d)  # the query has a letter too many
            out |= self.deletes.get(d, set())  # a letter differs, or two are swapped
        return {o for o in out if abs(len(o) - len(s)) <= 1}

    # -- ranking ---------------------------------------------------------------------------------------

    def search(self, text: str, *, audience: Audience | None = None, limit: int = 10) -> list[Hit]:
        stems, child = self.query_stems(text)
        if not stems:
            return []
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, list[tuple[float, str]]] = defaultdict(list)
        covered: dict[int, set[str]] = defaultdict(set)
        per_set: dict[int, dict[frozenset[str], float]] = defaultdict(dict)  # doc → matched stem set → score
        seen: set[int] = set()
        for s in stems:
            for n in self.by_stem.get(s, ()):
                if n in seen:
                    continue
                seen.add(n)
                group = self.groups[n]
                used = group.match(stems)
                if used is None:
                    continue
                base = sum(self.idf.get(t, 1.0) * stems[t] for t in used)
                base *= 1.0 + 0.25 * (len(group.words) - 1)  # a longer whole phrase is more specific
                for member, kind, text in group.members:
                    value = PHRASE_WEIGHT[kind] * base
                    # Variants of one phrase ("kliar", "kliar mycket") count once: a document does not win
                    # by listing the same words many times.
                    if value > per_set[member].get(used, 0.0):
                        per_set[member][used] = value
                    matched[member].append((value, text))
                    covered[member] |= used
        for i, sets in per_set.items():
            scores[i] += sum(sets.values())
        common = COMMON_SHARE * len(self.docs)
        skipped = [s for s in stems if len(self.doc_by_stem.get(s, ())) > common]
        for s, weight in stems.items():
            idf = self.idf.get(s, 1.0) * weight
            if s in skipped and (scores or len(skipped) < len(stems)):
                continue  # a word in most documents ("ont") tells them apart only inside whole phrases
            for i in self.doc_by_stem.get(s, ()):
                if s not in covered.get(i, ()):
                    scores[i] += LOOSE_WEIGHT * idf  # in the document, outside a whole matched phrase
            for i in self.sign_docs.get(s, ()):
                scores[i] += SIGN_WEIGHT * idf
        child_meant = child if audience is None else audience == "barn"
        ranked: list[tuple[float, str, int]] = []
        for i, score in scores.items():
            doc = self.docs[i]
            if audience == "barn" and doc.audience == "vuxen" or audience == "vuxen" and doc.audience == "barn":
                continue
            ranked.append((score * audience_factor(doc.audience, child_meant), doc.id, i))
        hits = []
        for score, _, i in heapq.nsmallest(limit, ranked, key=lambda r: (-r[0], r[1])):
            if score <= 0:
                continue
            doc = self.docs[i]
            best: dict[str, tuple[float, str]] = {}
            for value, text in matched[i]:
                key = text.lower()
                if value > best.get(key, (0.0, ""))[0]:
                    best[key] = (value, text)
            ordered = [t for _, t in sorted(best.values(), key=lambda m: -m[0])]
            hits.append(Hit(doc.id, doc.title, doc.audience, round(score, 4), tuple(ordered)))
        return hits


def audience_factor(doc_audience: str, child: bool | None) -> float:
    """Pure: how a document's audience weighs given what the query says about the patient."""
    if child is True:
        return {"barn": 1.5, "alla": 1.0, "vuxen": 0.6}[doc_audience]
    if child is False:
        return {"barn": 0.5, "alla": 1.0, "vuxen": 1.2}[doc_audience]
    return {"barn": 0.85, "alla": 1.0, "vuxen": 1.0}[doc_audience]


def split_compound(token: str, known: Iterable[str] | Mapping[str, object], depth: int = 0) -> list[str]:
    """`token` as known parts (each ≥ 3 letters; a linking letter between them allowed), longest first part
    first; [] when it does not split. "magsmärt" → ["mag", "smärt"]; "olycksfall" → ["olyck", "fall"]."""
    vocab = known if isinstance(known, (set, frozenset, dict)) else set(known)
    if depth > 2 or len(token) < 6:
        return []
    for cut in range(len(token) - 3, 2, -1):
        left, right = token[:cut], token[cut:]
        heads = [left] + ([left[:-1]] if left.endswith(LINKS) and len(left) > 3 else [])
        head = next((h for h in heads if h in vocab or stem(h) in vocab), None)
        if head is None:
            continue
        head = head if head in vocab else stem(head)
        tail = right if right in vocab else stem(right)
        if tail in vocab:
            return [head, tail]
        rest = split_compound(right, vocab, depth + 1)
        if rest:
            return [head, *rest]
    return []


def top_ids(hits: Sequence[Hit], n: int) -> list[str]:
    return [h.id for h in hits[:n]]


@dataclass(frozen=True)
class Evaluation:
    total: int
    top1: int
    top3: int
    misses: list[tuple[str, str, list[str]]]  # query, expected id, the top three found

    @property
    def top1_percent(self) -> float:
        return 100.0 * self.top1 / self.total if self.total else 0.0

    @property
    def top3_percent(self) -> float:
        return 100.0 * self.top3 / self.total if self.total else 0.0


def evaluate_queries(index: SearchIndex, cases: Sequence[tuple[str, str]]) -> Evaluation:
    """Top-1 and top-3 accuracy of `index` over (query, expected id) pairs; the top-3 misses listed."""
    top1 = top3 = 0
    misses: list[tuple[str, str, list[str]]] = []
    for query, expected in cases:
        found = top_ids(index.search(query, limit=3), 3)
        top1 += found[:1] == [expected]
        if expected in found:
            top3 += 1
        else:
            misses.append((query, expected, found))
    return Evaluation(len(cases), top1, top3, misses)
