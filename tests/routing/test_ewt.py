"""The wait estimate and queue position (routing.ewt): pure, so every case is a hand-built snapshot.

What they guard: the fallbacks (no observations → the priors; nobody staffed → no estimate), that the
estimate moves the right way (more nurses → shorter, more calls ahead → longer, nurses about to finish →
shorter), the policy's order for positions (priority before arrival, only calls competing for the same
nurses), the stages of a call that overflows after a wait, and the decaying statistics."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from agents.presence import PauseReason, State
from routing.ewt import (
    PRIOR_HANDLE_SECONDS,
    PRIOR_RING_SECONDS,
    PRIOR_WRAP_SECONDS,
    RESIDUAL_FLOOR,
    WaitStats,
    WaitView,
    estimate,
    position,
    queue_estimates,
    wait_thresholds,
)
from routing.model import (
    NATIONAL,
    GeographicRule,
    NationalRule,
    NurseState,
    RoutingRules,
    Snapshot,
    WaitingCall,
)

from .conftest import T0, call, nurse

CYCLE = PRIOR_RING_SECONDS + PRIOR_HANDLE_SECONDS + PRIOR_WRAP_SECONDS

#: Two regions with a partner agreement after 180 s, a national queue served by "01".
RULES = RoutingRules(
    geographic=(GeographicRule("syd", frozenset({"12", "10"}), after_wait_seconds=180, queue_length=None),),
    national=NationalRule(served_by=("01",), weights={"01": 1.0}, skills={"triage": 3}),
    national_pool_after={"10": 600},
)


def busy(nurse_id: str, region: str = "12", *, since_seconds: float = 0.0, skills: dict[str, int] | None = None,
         state: State = State.ON_CALL) -> NurseState:
    return nurse(nurse_id, region, since=T0 - timedelta(seconds=since_seconds), state=state, skills=skills)


def test_no_observations_fall_back_to_the_priors() -> None:
    """Before the first observed call the estimate still exists: one nurse who has just answered a call
    is free after a prior handle + wrap-up time, and the caller waits that plus the ring time."""
    stats = WaitStats()
    assert stats.handle_seconds("12") == PRIOR_HANDLE_SECONDS
    assert stats.wrap_seconds("12") == PRIOR_WRAP_SECONDS
    assert stats.answered_wait("12") is None
    snap = Snapshot(calls=(call("c1", at=T0),), nurses=(busy("n1"),))
    got = estimate("c1", snap, T0, RULES, stats)
    assert got == pytest.approx(PRIOR_HANDLE_SECONDS + PRIOR_WRAP_SECONDS + PRIOR_RING_SECONDS)


def test_nobody_staffed_gives_no_estimate() -> None:
    """Only paused or logged-out nurses, or nurses of other regions: None, so the announcement gives no
    time rather than a made-up one; a call no longer waiting has none either."""
    nurses = (busy("n1", state=State.PAUSED), busy("n2", state=State.LOGGED_OUT), busy("n3", region="14"))
    snap = Snapshot(calls=(call("c1", at=T0),), nurses=nurses)
    assert estimate("c1", snap, T0, RULES) is None
    assert estimate("gone", snap, T0, RULES) is None


def test_a_free_nurse_means_only_the_ring_time() -> None:
    """A ready nurse who can take the call: the wait is the ring time."""
    snap = Snapshot(calls=(call("c1", at=T0),), nurses=(nurse("n1", since=T0),))
    assert estimate("c1", snap, T0, RULES) == pytest.approx(PRIOR_RING_SECONDS)


def test_more_nurses_shorter_estimate_more_calls_longer() -> None:
    """Ten calls ahead: the estimate falls as nurses are added, and rises with the calls ahead."""
    calls = tuple(call(f"c{i:02d}", at=T0 - timedelta(seconds=100 - i)) for i in range(11))
    last = calls[-1].call_id

    def with_nurses(count: int, queue: tuple[WaitingCall, ...] = calls) -> float:
        nurses = tuple(busy(f"n{i}", since_seconds=30 * i) for i in range(count))
        value = estimate(last, Snapshot(queue, nurses), T0, RULES)
        assert value is not None
        return value

    values = [with_nurses(n) for n in (1, 2, 4, 8, 16)]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)
    assert with_nurses(4, calls[5:]) < with_nurses(4)


def test_nurses_near_the_end_of_their_call_are_free_sooner() -> None:
    """The elapsed time counts: a nurse 400 s into a call is free before one who just answered; one far
    beyond the mean still needs the residual floor, not zero."""
    def one(since: float, state: State = State.ON_CALL) -> float:
        snap = Snapshot((call("c1", at=T0),), (busy("n1", since_seconds=since, state=state),))
        value = estimate("c1", snap, T0, RULES)
        assert value is not None
        return value

    assert one(400) < one(0)
    floor = RESIDUAL_FLOOR * PRIOR_HANDLE_SECONDS + PRIOR_WRAP_SECONDS + PRIOR_RING_SECONDS
    assert one(5000) == pytest.approx(floor)
    assert one(0, State.WRAP_UP) == pytest.approx(PRIOR_WRAP_SECONDS + PRIOR_RING_SECONDS)


def test_position_follows_the_policy_order() -> None:
    """Priority first (a later urgent call is ahead), then arrival; calls of a region whose nurses the
    call cannot reach are not counted; the snapshot's order changes nothing (any instance agrees)."""
    early = call("a-early", at=T0 - timedelta(seconds=60))
    urgent_late = call("b-urgent", at=T0 - timedelta(seconds=10), priority=2)
    me = call("me", at=T0 - timedelta(seconds=30))
    later = call("z-later", at=T0 - timedelta(seconds=5))
    elsewhere = call("other", region="14", at=T0 - timedelta(seconds=90))
    calls = [early, urgent_late, me, later, elsewhere]
    nurses = (busy("n1"),)
    assert position(me, Snapshot(tuple(calls), nurses), RULES, T0) == 3
    assert position(urgent_late, Snapshot(tuple(calls), nurses), RULES, T0) == 1
    random.Random(3).shuffle(calls)
    assert position(me, Snapshot(tuple(calls), nurses), RULES, T0) == 3
    # Same priority and time: the id decides, as in the policy.
    twin = replace(me, call_id="ma")
    assert position(me, Snapshot((twin, me), nurses), RULES, T0) == 2


def test_a_partner_call_past_its_threshold_competes() -> None:
    """A Blekinge call that has waited past the 180 s partner threshold may take Skåne's nurses: it is
    ahead of a newer Skåne call; a Blekinge call below the threshold is not."""
    me = call("me", region="12", at=T0 - timedelta(seconds=10))
    over = call("b-over", region="10", at=T0 - timedelta(seconds=200))
    under = call("b-under", region="10", at=T0 - timedelta(seconds=100))
    snap = Snapshot((me, over, under), (busy("n1", "12"),))
    assert position(me, snap, RULES, T0) == 2


def test_weighted_competition_counts_only_the_shared_nurses() -> None:
    """A partner call that may also go to its own region's nurses takes only its share of ours: the
    estimate lies between ignoring it and counting it in full."""
    me = call("me", region="12", at=T0 - timedelta(seconds=10))
    over = call("b-over", region="10", at=T0 - timedelta(seconds=200))
    ours = tuple(busy(f"s{i}", "12", since_seconds=60 * i) for i in range(3))
    theirs = tuple(busy(f"b{i}", "10") for i in range(3))  # just started: no help soon when we overflow
    alone = estimate("me", Snapshot((me,), ours + theirs), T0, RULES)
    shared = estimate("me", Snapshot((me, over), ours + theirs), T0, RULES)
    full = estimate("me", Snapshot((me, over), ours), T0, RULES)
    assert alone is not None and shared is not None and full is not None
    assert alone < shared < full


def test_overflow_stage_caps_the_estimate() -> None:
    """Blekinge has nobody; Skåne's nurses may take its calls after 180 s: the estimate is at least the
    threshold (plus ring) — and without Skåne's nurses there is none until the national pool at 600 s."""
    me = call("me", region="10", at=T0)
    skane = Snapshot((me,), (nurse("s1", "12", since=T0),))
    value = estimate("me", skane, T0, RULES)
    assert value == pytest.approx(180 + PRIOR_RING_SECONDS)
    assert wait_thresholds("10", RULES) == (180.0, 600.0)
    national = Snapshot((me,), (nurse("x1", "01", since=T0),))
    assert estimate("me", national, T0, RULES) == pytest.approx(600 + PRIOR_RING_SECONDS)
    assert estimate("me", Snapshot((me,), ()), T0, RULES) is None


def test_national_calls_need_the_national_skills() -> None:
    """A national call's pool is the serving regions' nurses with the national queue's skills."""
    me = call("me", region=NATIONAL, at=T0)
    junior = nurse("j1", "01", since=T0, skills={"triage": 2})
    senior = busy("s1", "01", skills={"triage": 3})
    assert estimate("me", Snapshot((me,), (junior,)), T0, RULES) is None
    value = estimate("me", Snapshot((me,), (junior, senior)), T0, RULES)
    assert value == pytest.approx(CYCLE)


def test_estimate_for_an_arriving_call_not_yet_in_the_snapshot() -> None:
    """The view answers for a call not in the snapshot (the moment of arrival) as if it were queued last."""
    queued = tuple(call(f"c{i}", at=T0 - timedelta(seconds=10 * (5 - i))) for i in range(5))
    nurses = tuple(busy(f"n{i}", since_seconds=40 * i) for i in range(3))
    view = WaitView(Snapshot(queued, nurses), T0, RULES)
    newcomer = call("new", at=T0)
    assert view.position(newcomer) == 6
    inside = estimate("new", Snapshot((*queued, newcomer), nurses), T0, RULES)
    assert view.estimate(newcomer) == pytest.approx(inside)


def test_queue_estimates_per_region() -> None:
    """Supervisors' figure: every region with staff or calls, and the national queue."""
    snap = Snapshot((call("c1", region="14", at=T0),), (busy("n1", "12"), nurse("n2", "01", since=T0)))
    figures = queue_estimates(snap, T0, RULES)
    assert set(figures) == {"01", "12", "14", NATIONAL}
    assert figures["14"] is None  # nobody there
    assert figures["01"] == pytest.approx(PRIOR_RING_SECONDS)
    assert figures["12"] == pytest.approx(CYCLE)


def test_statistics_decay_and_shrink() -> None:
    """Recent observations dominate after a few half-lives; a region with one observation is pulled
    towards the overall mean; an observation reported late counts as old as it is."""
    stats = WaitStats(half_life_seconds=600)
    for i in range(20):
        stats.observe_handled("12", 300, T0 + timedelta(seconds=i), wrap_seconds=30)
    for i in range(20):
        stats.observe_handled("12", 900, T0 + timedelta(hours=2, seconds=i), wrap_seconds=30)
    assert stats.handle_seconds("12") == pytest.approx(900, abs=15)
    assert stats.wrap_seconds("12") == pytest.approx(30, abs=1)
    stats.observe_handled("25", 100, T0 + timedelta(hours=2))
    assert 100 < stats.handle_seconds("25") < 700  # one call: not yet the region's own pace
    stats.observe_answered("12", 40, T0 + timedelta(hours=2), ring_seconds=4)
    stats.observe_answered("12", 400, T0 - timedelta(hours=5))  # late and old: hardly counts
    answered = stats.answered_wait("12")
    assert answered is not None and answered < 45
    assert stats.ring_seconds() < PRIOR_RING_SECONDS


def test_observed_handle_times_change_the_estimate() -> None:
    """The statistics feed the estimate: observed short calls shorten it."""
    snap = Snapshot((call("c1", at=T0),), (busy("n1"),))
    slow = estimate("c1", snap, T0, RULES, WaitStats())
    fast_stats = WaitStats()
    for i in range(30):
        fast_stats.observe_handled("12", 120, T0 - timedelta(seconds=i), wrap_seconds=10)
    fast = estimate("c1", snap, T0, RULES, fast_stats)
    assert slow is not None and fast is not None and fast < slow / 2


def test_paused_missed_offer_nurse_is_not_counted() -> None:
    """A nurse paused after a missed offer (or at a meeting) is not part of the pool until she is back."""
    away = nurse("n1", since=T0, state=State.PAUSED)
    away = replace(away, reason=PauseReason.MISSED_OFFER)
    assert estimate("c1", Snapshot((call("c1", at=T0),), (away,)), T0, RULES) is None
