"""Skill fit and the choice rules: a nurse qualifies with every required skill at its minimum level;
the best fit is the least over-qualification, then the longest idle; the own region before partners;
a free nurse takes the highest priority, then the longest wait; `decide` pairs greedily; the caller's
language is a required skill; national calls follow the configured weights."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from agents.presence import State
from routing.model import NATIONAL, RoutingRules, Step, WaitingCall
from routing.policy import (
    best_call_for,
    best_nurse_for,
    decide,
    national_order,
    overqualification,
    qualifies,
    required_skills,
)

from .conftest import T0, call, nurse


def test_qualifies_at_exactly_the_minimum() -> None:
    """Level equal to the minimum qualifies; one below, or a missing skill, does not."""
    assert qualifies({"triage": 3, "barn": 2}, {"triage": 3, "barn": 2})
    assert not qualifies({"triage": 3, "barn": 1}, {"triage": 3, "barn": 2})
    assert not qualifies({"triage": 3}, {"triage": 3, "barn": 1})
    assert qualifies({"triage": 1}, {})


def test_overqualification_counts_every_surplus_level() -> None:
    """Surplus levels on required skills plus every level of skills the call does not need."""
    assert overqualification({"triage": 3}, {"triage": 3}) == 0
    assert overqualification({"triage": 5}, {"triage": 3}) == 2
    assert overqualification({"triage": 3, "psykiatri": 3}, {"triage": 3}) == 3


def test_best_fit_keeps_the_specialist_free(rules: RoutingRules) -> None:
    """The generalist gets the plain call although the psychiatric nurse has been idle longer."""
    specialist = nurse("spec", since=T0 - timedelta(hours=1), skills={"triage": 2, "psykiatri": 3})
    generalist = nurse("gen", since=T0, skills={"triage": 2})
    offer = best_nurse_for(call(), T0, [specialist, generalist], rules)
    assert offer is not None and offer.nurse_id == "gen" and offer.step is Step.OWN


def test_equal_fit_goes_to_the_longest_idle(rules: RoutingRules) -> None:
    """Same skills: the one ready the longest; same moment too: the smaller id (a total order)."""
    a = nurse("a", since=T0 - timedelta(seconds=10))
    b = nurse("b", since=T0 - timedelta(seconds=11))
    c = nurse("c", since=T0 - timedelta(seconds=11))
    offer = best_nurse_for(call(), T0, [a, c, b], rules)
    assert offer is not None and offer.nurse_id == "b"


def test_unqualified_or_busy_nurses_are_never_chosen(rules: RoutingRules) -> None:
    """A nurse below the minimum, or not ready, gets nothing even if she is the only one."""
    low = nurse("low", skills={"triage": 1})
    busy = nurse("busy", state=State.ON_CALL)
    paused = nurse("paused", state=State.PAUSED)
    assert best_nurse_for(call(), T0, [low, busy, paused], rules) is None


def test_own_region_before_a_partner(rules: RoutingRules) -> None:
    """After 180 s Blekinge may take Skåne's call, but a free Skåne nurse comes first even with a worse fit."""
    c = call(region="12", at=T0 - timedelta(seconds=300))
    partner = nurse("blekinge", region="10", since=T0 - timedelta(hours=2))
    own = nurse("skane", region="12", skills={"triage": 5})
    offer = best_nurse_for(c, T0, [partner, own], rules)
    assert offer is not None and offer.nurse_id == "skane"
    offer = best_nurse_for(c, T0, [partner], rules)
    assert offer is not None and (offer.step, offer.via_region, offer.agreement) == (
        Step.PARTNER, "10", "syd_geografisk")


def test_nurse_of_several_regions_is_eligible_by_any(rules: RoutingRules) -> None:
    """A nurse whose care provider serves Halland too takes a fresh Halland call as her own region's."""
    n = nurse("n", region="14", regions=frozenset({"13"}))
    offer = best_nurse_for(call(region="13"), T0, [n], rules)
    assert offer is not None and (offer.step, offer.via_region) == (Step.OWN, "13")


def test_free_nurse_takes_highest_priority_then_longest_wait(rules: RoutingRules) -> None:
    """Priority 2 beats a longer-waiting priority 5; between equal priorities the longer wait wins."""
    calls = [
        call("old5", at=T0 - timedelta(seconds=100), priority=5),
        call("new2", at=T0 - timedelta(seconds=5), priority=2),
        call("old2", at=T0 - timedelta(seconds=50), priority=2),
    ]
    offer = best_call_for(nurse(), T0, calls, rules)
    assert offer is not None and offer.call_id == "old2"


def test_free_nurse_skips_calls_she_may_not_take(rules: RoutingRules) -> None:
    """An urgent call needing children's skills, or of another region, passes over her to the next call."""
    calls = [
        call("child", priority=0, skills={"triage": 2, "barn": 3}),
        call("other", region="01", priority=0),
        call("mine", priority=9),
    ]
    offer = best_call_for(nurse(), T0, calls, rules)
    assert offer is not None and offer.call_id == "mine"


def test_decide_pairs_greedily_in_priority_order(rules: RoutingRules) -> None:
    """Two nurses, three calls: the two most urgent get the best-fitting nurses; no nurse twice."""
    calls = [call("c1", priority=5), call("c2", priority=1, skills={"triage": 2, "barn": 2}), call("c3", priority=3)]
    nurses = [nurse("kid", skills={"triage": 2, "barn": 3}), nurse("plain", since=T0 - timedelta(seconds=1))]
    offers = decide(T0, calls, nurses, rules)
    assert [(o.call_id, o.nurse_id) for o in offers] == [("c2", "kid"), ("c3", "plain")]


def test_decide_with_nobody_ready_offers_nothing(rules: RoutingRules) -> None:
    """Everyone busy: no offers, the calls keep waiting."""
    assert decide(T0, [call()], [nurse(state=State.WRAP_UP)], rules) == []


def test_language_needs_the_language_skill(rules: RoutingRules) -> None:
    """An English-speaking caller needs sprak_en at level 2 ("professionally fluent"); Swedish needs none."""
    assert required_skills(call(language="en"), rules) == {"triage": 2, "sprak_en": 2}
    assert required_skills(call(language="sv"), rules) == {"triage": 2}
    english = nurse("en", skills={"triage": 2, "sprak_en": 2})
    basic = nurse("basic", skills={"triage": 2, "sprak_en": 1}, since=T0 - timedelta(hours=1))
    offer = best_nurse_for(call(language="en"), T0, [basic, english], rules)
    assert offer is not None and offer.nurse_id == "en"


def test_national_calls_need_the_national_skills(rules: RoutingRules) -> None:
    """The national queue asks triage 3 of every call, whatever the request said."""
    assert required_skills(call(region=NATIONAL, skills={"triage": 1}), rules)["triage"] == 3


def test_national_weights_share_the_calls(rules: RoutingRules) -> None:
    """With weights 01:2, 12:1, 14:1 and a free nurse in each region, 01 gets about half the national calls,
    the others a quarter each; the same call always goes the same way."""
    weighted = replace(rules, national=replace(rules.national, weights={"01": 2, "12": 1, "14": 1}))
    nurses = [nurse(f"n{r}", region=r, skills={"triage": 3}) for r in ("01", "12", "14")]
    won: Counter[str] = Counter()
    for i in range(4000):
        offer = best_nurse_for(call(f"x{i}", region=NATIONAL), T0, nurses, weighted)
        assert offer is not None and offer.step is Step.NATIONAL
        won[offer.via_region] += 1
    assert 0.46 < won["01"] / 4000 < 0.54
    assert 0.21 < won["12"] / 4000 < 0.29 and 0.21 < won["14"] / 4000 < 0.29
    assert national_order("x1", {"01": 2, "12": 1, "14": 1}, ["01", "12", "14"]) == national_order(
        "x1", {"01": 2, "12": 1, "14": 1}, ["14", "12", "01"])


def test_national_call_falls_to_the_next_region_when_the_first_has_nobody(rules: RoutingRules) -> None:
    """The weighted order is a preference: with only one region's nurse free, she takes it."""
    only = nurse("n14", region="14", skills={"triage": 3})
    for i in range(20):
        offer = best_nurse_for(call(f"y{i}", region=NATIONAL), T0, [only], rules)
        assert offer is not None and offer.nurse_id == "n14"


def test_decide_skipping_hopeless_calls_changes_no_offer(rules: RoutingRules) -> None:
    """`decide` skips calls no free nurse can reach or qualify for; on 300 random situations (shipped
    agreements, waits up to 15 min, a crisis region, national calls) it makes exactly the offers of the
    plain greedy rule: each call in order takes `best_nurse_for` among the nurses still free."""
    import random

    from routing.policy import call_order, queue_lengths

    rnd = random.Random(11)
    regions = ["01", "03", "09", "10", "12", "13", "14", "25", "national"]
    skill_sets = [{"triage": 2}, {"triage": 2, "barn": 2}, {"triage": 3, "psykiatri": 2}, {"triage": 2, "sprak_ar": 2}]
    for round_ in range(300):
        now = T0 + timedelta(hours=rnd.randint(0, 47), minutes=rnd.randint(0, 59))
        the_rules = replace(rules, crisis=frozenset({"25"})) if round_ % 3 == 0 else rules
        calls = [WaitingCall(f"c{i}", rnd.choice(regions), rnd.choice(skill_sets), rnd.randint(2, 6),
                             now - timedelta(seconds=rnd.randint(0, 900)), language=rnd.choice(["sv", "sv", "en"]))
                 for i in range(rnd.randint(1, 40))]
        nurses = [nurse(f"n{i}", rnd.choice(regions[:-1]), since=now - timedelta(seconds=rnd.randint(0, 600)),
                        skills={"triage": rnd.randint(1, 3), rnd.choice(["barn", "psykiatri", "sprak_en"]): 2})
                  for i in range(rnd.randint(0, 6))]
        lengths = queue_lengths(calls)
        expected, taken = [], set()
        for c in sorted(calls, key=call_order):
            offer = best_nurse_for(c, now, [n for n in nurses if n.nurse_id not in taken], the_rules, lengths)
            if offer is not None:
                taken.add(offer.nurse_id)
                expected.append(offer)
        assert decide(now, calls, nurses, the_rules) == expected, f"round {round_}"
