"""Compiling national.yaml into RoutingRules: every agreement becomes a rule of its kind, language
skills come from the `sprak_xx` vocabulary, the national queue gets equal weights unless given."""

from __future__ import annotations

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
    """sprak_en … sprak_fa map the callers' languages; weights default to 1 per serving region and can be given."""
    assert rules.language_skills == {"en": "sprak_en", "ar": "sprak_ar", "fi": "sprak_fi", "so": "sprak_so",
                                     "fa": "sprak_fa"}
    assert rules.national.weights == {"01": 1.0, "12": 1.0, "14": 1.0}
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
