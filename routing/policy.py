"""The routing policy: who may take which call, and which pairs to offer now. Pure: no I/O, no
clock; `now` is always passed in as an aware datetime. `docs/routing.md` gives every rule its reason.

- `eligible_regions`: the regions whose nurses may take a call at `now`, each with the step that
  allows it (own, cover, around the clock, night, partner after a wait or a queue length, national —
  also at once for a region's calls while the crisis switch redirects them, `docs/crisis.md`).
- `qualifies` / `overqualification`: skill fit; the best fit is the least surplus (specialists stay free).
- `best_nurse_for` (a call arrives: best fit, then longest idle) and `best_call_for` (a nurse becomes
  free: highest priority, then longest wait) — the two rules; `decide` applies both greedily at once.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from agents.presence import State
from config.hours import is_open, local

from .model import (
    CRISIS_AGREEMENT,
    CRISIS_ALL,
    NATIONAL,
    STEP_RANK,
    NurseState,
    Offer,
    RoutingRules,
    Step,
    WaitingCall,
    utc,
)


@dataclass(frozen=True)
class Allowance:
    """Why a region's nurses may take a call: the step and the agreement (None for own/national)."""

    step: Step
    agreement: str | None = None


# --- eligibility ------------------------------------------------------------------------------------


def redirected(call: WaitingCall, rules: RoutingRules) -> bool:
    """A regional call whose region the crisis switch redirects to the national queue (its own or every
    region). National calls are national already: the switch does not concern them."""
    if call.region == NATIONAL:
        return False
    return call.region in rules.crisis or CRISIS_ALL in rules.crisis


def eligible_regions(
    call: WaitingCall,
    now: datetime,
    rules: RoutingRules,
    queue_lengths: Mapping[str, int] | None = None,
) -> dict[str, Allowance]:
    """Region → the first (most preferred, by `STEP_RANK`) step that lets its nurses take `call` at `now`.

    `queue_lengths` is the number of calls waiting per region (for geographic agreements with a
    `queue_length`); without it only the wait triggers geographic overflow.

    A call the crisis switch redirects (`redirected`) keeps everything above and, at once, the regions
    serving the national queue (weight > 0) with step `national` and agreement `"crisis"` — unless a
    more specific step already allows them. It is read from the rules at `now`, so calls already
    waiting follow the switch both ways."""
    now = utc(now)
    allowed: dict[str, Allowance] = {}

    def allow(region: str, allowance: Allowance) -> None:
        current = allowed.get(region)
        if current is None or STEP_RANK[allowance.step] < STEP_RANK[current.step]:
            allowed[region] = allowance

    national = rules.national
    if call.region == NATIONAL:
        for region in national.served_by:
            if national.weights.get(region, 1.0) > 0:
                allow(region, Allowance(Step.NATIONAL))
        return allowed

    allow(call.region, Allowance(Step.OWN))
    today = local(now).date()
    wait = call.wait_seconds(now)
    for window in rules.windows:
        if call.region not in window.served or not window.validity.covers(today):
            continue
        if window.hours is None or is_open(window.hours, now):
            allow(window.answering, Allowance(window.step, window.name))
    waiting_here = (queue_lengths or {}).get(call.region, 0)
    for geo in rules.geographic:
        if call.region not in geo.regions or not geo.validity.covers(today):
            continue
        by_wait = geo.after_wait_seconds is not None and wait >= geo.after_wait_seconds
        by_length = geo.queue_length is not None and waiting_here >= geo.queue_length
        if by_wait or by_length:
            for region in geo.regions:
                allow(region, Allowance(Step.PARTNER, geo.name))
    if redirected(call, rules):
        for region in national.served_by:
            if national.weights.get(region, 1.0) > 0:
                allow(region, Allowance(Step.NATIONAL, CRISIS_AGREEMENT))
    pool_after = rules.national_pool_after.get(call.region)
    if pool_after is not None and wait >= pool_after:
        for region in national.served_by:
            allow(region, Allowance(Step.NATIONAL))
    return allowed


# --- skill fit --------------------------------------------------------------------------------------


def required_skills(call: WaitingCall, rules: RoutingRules) -> dict[str, int]:
    """The call's skills, plus the national queue's for national calls, plus the caller's language.

    A call redirected by the crisis switch is not a national call: it keeps its own skills (the national
    queue's skills are for calls without a home region; raising them would shut the region's own nurses
    out of their own calls exactly when help is needed, `docs/crisis.md`)."""
    required = dict(call.skills)

    def need(skill: str, level: int) -> None:
        required[skill] = max(required.get(skill, 0), level)

    if call.region == NATIONAL:
        for skill, level in rules.national.skills.items():
            need(skill, level)
    language_skill = rules.language_skills.get(call.language)
    if language_skill is not None:
        need(language_skill, rules.language_level)
    return required


def qualifies(skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    """Every required skill at least at its minimum level."""
    return all(skills.get(skill, 0) >= level for skill, level in required.items())


def overqualification(skills: Mapping[str, int], required: Mapping[str, int]) -> int:
    """The levels the nurse has beyond what the call needs, over all her skills (a skill the call does
    not need counts in full): the smaller, the better the fit."""
    return sum(level - required.get(skill, 0) for skill, level in skills.items() if level > required.get(skill, 0))


# --- the national queue's weights ---------------------------------------------------------------


def national_order(call_id: str, weights: Mapping[str, float], regions: Iterable[str]) -> dict[str, int]:
    """Region → rank (0 first) for one national call: weighted rendezvous hashing. Each region draws
    an exponential "arrival" -ln(u)/weight from a hash of (call, region); the earliest comes first, so a
    region is first for a share weight/Σweights of the calls — deterministic, with no shared counter."""
    scored: list[tuple[float, str]] = []
    for region in regions:
        weight = weights.get(region, 1.0)
        if weight <= 0:
            continue
        digest = hashlib.blake2b(f"{call_id}\x00{region}".encode(), digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1)
        scored.append((-math.log(u) / weight, region))
    return {region: rank for rank, (_, region) in enumerate(sorted(scored))}


# --- choosing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    nurse: NurseState
    region: str
    allowance: Allowance
    key: tuple[int, int, int, datetime, str]


def _candidate(
    call: WaitingCall,
    nurse: NurseState,
    allowed: Mapping[str, Allowance],
    required: Mapping[str, int],
    order: Mapping[str, int] | None,
) -> _Candidate | None:
    if nurse.state is not State.READY or not qualifies(nurse.skills, required):
        return None
    best: tuple[tuple[int, int], str, Allowance] | None = None
    for region in sorted(nurse.all_regions):
        allowance = allowed.get(region)
        if allowance is None:
            continue
        # The step's rank; among the national step of a national or redirected call, the region's place
        # in this call's weighted order.
        weighted = order.get(region, len(order)) if order is not None and allowance.step is Step.NATIONAL else 0
        rank = (STEP_RANK[allowance.step], weighted)
        if best is None or rank < best[0]:
            best = (rank, region, allowance)
    if best is None:
        return None
    rank, region, allowance = best
    key = (*rank, overqualification(nurse.skills, required), nurse.since, nurse.nurse_id)
    return _Candidate(nurse, region, allowance, key)


def _offer(call: WaitingCall, candidate: _Candidate, now: datetime) -> Offer:
    return Offer(call_id=call.call_id, nurse_id=candidate.nurse.nurse_id, step=candidate.allowance.step, at=now,
                 via_region=candidate.region, agreement=candidate.allowance.agreement)


def queue_lengths(calls: Iterable[WaitingCall]) -> dict[str, int]:
    return dict(Counter(call.region for call in calls))


def call_order(call: WaitingCall) -> tuple[int, datetime, str]:
    """Highest priority (lowest number) first, then the longest wait; the id only makes it total."""
    return (call.priority, call.entered_at, call.call_id)


def best_nurse_for(
    call: WaitingCall,
    now: datetime,
    nurses: Iterable[NurseState],
    rules: RoutingRules,
    lengths: Mapping[str, int] | None = None,
) -> Offer | None:
    """A call and free nurses: the own region before agreements (national calls: the weighted region
    order), then the best skill fit, then the longest idle."""
    return _best(call, now, nurses, rules, eligible_regions(call, now, rules, lengths))


def _best(call: WaitingCall, now: datetime, nurses: Iterable[NurseState], rules: RoutingRules,
          allowed: Mapping[str, Allowance]) -> Offer | None:
    required = required_skills(call, rules)
    order = None
    if call.region == NATIONAL or redirected(call, rules):
        national = [region for region, allowance in allowed.items() if allowance.step is Step.NATIONAL]
        order = national_order(call.call_id, rules.national.weights, national)
    found = [c for n in nurses if (c := _candidate(call, n, allowed, required, order)) is not None]
    if not found:
        return None
    return _offer(call, min(found, key=lambda c: c.key), now)


def best_call_for(
    nurse: NurseState,
    now: datetime,
    calls: Iterable[WaitingCall],
    rules: RoutingRules,
    lengths: Mapping[str, int] | None = None,
) -> Offer | None:
    """A nurse becomes free: of the calls she may take, the highest priority, then the longest wait."""
    for call in sorted(calls, key=call_order):
        offer = best_nurse_for(call, now, [nurse], rules, lengths)
        if offer is not None:
            return offer
    return None


def reach(region: str, rules: RoutingRules) -> frozenset[str]:
    """Every region whose nurses could ever take a call of `region` under `rules`, whatever the time,
    wait or queue: a superset of `eligible_regions`, so `decide` can skip calls no free nurse can
    take without asking for each one."""
    national = frozenset(rules.national.served_by)
    if region == NATIONAL:
        return national
    found = {region}
    for window in rules.windows:
        if region in window.served:
            found.add(window.answering)
    for geo in rules.geographic:
        if region in geo.regions:
            found |= geo.regions
    if region in rules.national_pool_after or region in rules.crisis or CRISIS_ALL in rules.crisis:
        found |= national
    return frozenset(found)


def decide(
    now: datetime,
    calls: Sequence[WaitingCall],
    nurses: Sequence[NurseState],
    rules: RoutingRules,
) -> list[Offer]:
    """As many offers as the rules allow at `now`, greedily: calls in `call_order`, each takes its
    `best_nurse_for` among the ready nurses not yet taken. With one free nurse this is `best_call_for`;
    with one call it is `best_nurse_for`. Greedy is not a maximum matching (a call may take the only
    nurse a later call could have had), but it never lets a lower-priority call pass a higher one."""
    now = utc(now)
    lengths = queue_lengths(calls)
    free: dict[str, list[NurseState]] = {}
    for nurse in nurses:
        if nurse.state is State.READY:
            for region in nurse.all_regions:
                free.setdefault(region, []).append(nurse)
    ready = [n for n in nurses if n.state is State.READY]
    if not ready:
        return []
    # Calls no free nurse could take — none of their reachable regions has one, or nobody free has the
    # skills — are skipped before the (costlier) eligibility of each: with 10,000 calls waiting and one
    # nurse free, most are. Queue lengths above still count every call.
    reachable: dict[str, bool] = {}
    skilled: dict[tuple[tuple[str, int], ...], bool] = {}

    def possible(call: WaitingCall) -> bool:
        if call.region not in reachable:
            reachable[call.region] = not reach(call.region, rules).isdisjoint(free)
        if not reachable[call.region]:
            return False
        required = tuple(sorted(required_skills(call, rules).items()))
        if required not in skilled:
            skilled[required] = any(qualifies(n.skills, dict(required)) for n in ready)
        return skilled[required]

    taken: set[str] = set()
    offers: list[Offer] = []
    for call in sorted(filter(possible, calls), key=call_order):
        if len(taken) == len(ready):
            break  # nobody left to offer to
        allowed = eligible_regions(call, now, rules, lengths)
        # Only nurses of the allowed regions are looked at: the index keeps a decision over thousands
        # of calls and nurses cheap.
        pool = {n.nurse_id: n for region in allowed for n in free.get(region, ()) if n.nurse_id not in taken}
        offer = _best(call, now, pool.values(), rules, allowed)
        if offer is not None:
            taken.add(offer.nurse_id)
            offers.append(offer)
    return offers
