"""Compiling national.yaml into RoutingRules: every agreement becomes a rule of its kind, language
skills come from the `sprak_xx` vocabulary, the national queue gets equal weights unless given."""

from __future__ import annotations

from pathlib import Path

from config.loader import load_valid_config
from routing.model import RoutingRules, Step
from routing.rules import rules_from_config


def test_shipped_agreements_compile(rules: RoutingRules) -> None:
    """Five geographic agreements; night, around-the-clock and cover windows with their steps."""
    assert {g.name for g in rules.geographic} == {"syd_geografisk", "vast_geografisk", "mitt_geografisk",
                                                  "sydost_geografisk", "norr_geografisk"}
    kinds = {w.name: w.step for w in rules.windows}
    assert kinds["natt_norr"] is Step.NIGHT and kinds["gotland_dygnet_runt"] is Step.AROUND_THE_CLOCK
    assert kinds["halland_motestackning"] is Step.COVER
    dalarna = next(w for w in rules.windows if w.name == "natt_dalarna")
    assert dalarna.hours is not None and set(dalarna.hours.weekly) == {"saturday", "sunday"}


def test_languages_and_weights(rules: RoutingRules) -> None:
    """sprak_en … sprak_fa map the callers' languages; weights come from national.yaml and can be given."""
    assert rules.language_skills == {"en": "sprak_en", "ar": "sprak_ar", "fi": "sprak_fi", "so": "sprak_so",
                                     "fa": "sprak_fa"}
    assert rules.national.weights == {"01": 2.0, "12": 1.0, "14": 2.0}
    national = load_valid_config().national
    assert national is not None
    given = rules_from_config(national, national_weights={"01": 3, "12": 1, "14": 1}, national_pool_after={"20": 600})
    assert given.national.weights["01"] == 3 and given.national_pool_after == {"20": 600}


def test_waiting_call_from_the_ivr_request() -> None:
    """The IVR's route request becomes a waiting call; its entered-at is kept as a UTC instant."""
    from ivr.handover import RouteRequest
    from routing.model import WaitingCall

    from .conftest import sthlm

    request = RouteRequest(call_id="c9", channel_id="ch", region="13", skills={"triage": 3, "barn": 2},
                           priority=4, language="en", queue="barn", menu_path=["main", "main=2"])
    entered = sthlm(2026, 10, 25, 1, 0)
    got = WaitingCall.from_request(request, entered)
    assert (got.call_id, got.region, dict(got.skills), got.priority, got.language, got.queue) == (
        "c9", "13", {"triage": 3, "barn": 2}, 4, "en", "barn")
    assert got.entered_at == entered and got.entered_at.utcoffset() is not None and got.entered_at.tzname() == "UTC"


def test_shipped_national_weights_and_pool_are_used() -> None:
    """national.yaml's weights and pool-after settings reach the compiled rules."""
    from config.loader import load_valid_config
    from routing.rules import rules_from_config

    national = load_valid_config().national
    assert national is not None
    rules = rules_from_config(national)
    assert rules.national.weights == {"01": 2.0, "12": 1.0, "14": 2.0}
    assert rules.national_pool_after == {"09": 600, "23": 600}


def test_weights_must_be_positive_and_name_serving_regions(tmp_path: Path) -> None:
    """A zero weight is refused by the schema; a weight for a region that does not serve the
    national queue is reported by config check with its path."""
    import shutil

    import pytest
    from pydantic import ValidationError

    import config
    from config.check import check
    from config.loader import load_config
    from config.schema import NationalQueue

    with pytest.raises(ValidationError, match="positive"):
        NationalQueue(name="x", served_by=["01"], weights={"01": 0})
    shutil.copytree(Path(config.__file__).parent / "regions", tmp_path / "regions")
    text = (Path(config.__file__).parent / "national.yaml").read_text()
    (tmp_path / "national.yaml").write_text(text.replace('weights: {"01": 2, "12": 1, "14": 2}',
                                                         'weights: {"01": 2, "12": 1, "25": 2}'))
    issues = check(load_config(tmp_path))
    assert any(i.path == "national_queue.weights.25" and "does not serve" in i.message for i in issues), issues
