"""The configuration shipped in config/ is complete and passes every check."""

from __future__ import annotations

from config.check import check, edges
from config.loader import load_config, load_valid_config
from config.regions import REGIONS
from ivr.model import BranchNode, LanguageNode, QueueNode, SmsNode, TransferNode, successors


def test_shipped_files_have_no_errors_or_warnings() -> None:
    """All 21 region files and the national file load and pass `config check` with 0 errors and 0 warnings."""
    cs = load_config()
    issues = cs.issues + check(cs)
    assert [str(i) for i in issues] == []
    assert sorted(cs.regions) == sorted(REGIONS)
    assert cs.national is not None
    assert load_valid_config().regions.keys() == cs.regions.keys()


def test_edges_agree_with_ivr_model_successors() -> None:
    """check.edges (which keeps paths for messages) and ivr.model.successors give the same targets."""
    cs = load_config()
    for _, owner in cs.owners():
        for node in owner.menu.nodes.values():
            assert [t for _, t in edges(node)] == successors(node)


def test_rich_regions_have_the_required_options() -> None:
    """Stockholm, Skåne and Västra Götaland: language choice, child skill, SMS chat and form, a daytime-only
    pharmacist (branch on an opening-hours set), psychiatry, an interpreter/language queue and a transfer."""
    cs = load_config()
    for region_id in ("01", "12", "14"):
        region = cs.regions[region_id]
        nodes = list(region.menu.nodes.values())
        assert any(isinstance(n, LanguageNode) and "en" in n.choices.values() for n in nodes)
        queues = [n for n in nodes if isinstance(n, QueueNode)]
        assert any("barn" in q.skills for q in queues)
        assert any("psykiatri" in q.skills for q in queues)
        assert any("farmaceut" in q.skills for q in queues)
        assert any("tolk" in q.skills for q in queues)
        assert any(any(s.startswith("sprak_") for s in q.skills) for q in queues)
        assert {n.link for n in nodes if isinstance(n, SmsNode)} == {"chat", "form"}
        assert any(isinstance(n, TransferNode) for n in nodes)
        assert any(isinstance(n, BranchNode) and any(r.when.open == "pharmacy" for r in n.rules) for n in nodes)
        assert region.languages[:2] == ["sv", "en"]
        assert region.sms is not None and region.sms.chat_url and region.sms.form_url
        assert region.sms.chat_url.startswith("https://") and ".example/" in region.sms.chat_url


def test_national_file_content() -> None:
    """The national file: language choice first in its menu, relay numbers, served national queue, agreements of
    every kind."""
    national = load_config().national
    assert national is not None
    first = national.menu.nodes[national.menu.start]
    assert first.type == "play" and isinstance(national.menu.nodes["language"], LanguageNode)
    assert {r.kind for r in national.relay_numbers.values()} == {"text", "video"}
    assert national.national_queue.served_by
    assert {a.kind for a in national.agreements.values()} == {"geographic", "night", "around_the_clock",
                                                                "meeting_cover"}
    assert all(1 <= len(s.levels) <= 5 for s in national.skills.values())
