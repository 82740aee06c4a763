"""Estimated wait time (EWT) and queue position for waiting calls: pure, no I/O, no clock.

The same code gives the wait announcements ("you are number 3, the estimated wait is 4 minutes"),
the supervisors' per-queue figure and the simulator's measured estimate, so the figure the simulator
checks is the figure callers hear. `docs/simulator.md` ("Estimated wait") gives the method and its
reasons; in short:

- The calls *ahead* of a call are the waiting calls before it in the policy's order (priority, then
  entered_at, then id) that compete for the same nurses. A call that may also go to nurses the call
  cannot reach counts only with the share of its nurses the two have in common.
- The call's *pool* is the staffed nurses (ready, ringing, on a call or in wrap-up) of the regions
  allowed to take it who have its skills. Each becomes free after her remaining work (from her state,
  how long she has been in it and the recent mean handle and wrap-up times), then again every cycle
  (ring + handle + wrap-up).
- The estimate is the moment the (ahead + 1)-th nurse becomes free, plus the ring time. A call whose
  allowed regions widen as it waits (partners after a wait, the national pool) gets the shortest of
  the estimates of each stage, a stage's estimate starting no earlier than its threshold.
- `WaitStats` holds the recent means (exponentially decaying, so a change of pace shows within about
  a half-life), shrunk towards the overall mean and a prior while there are few observations.

One estimate costs O(waiting calls + nurses) to set up (`WaitView`) and then O(groups + pool size);
use one `WaitView` for many calls of the same snapshot.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agents.presence import State

from .model import NATIONAL, NurseState, RoutingRules, Snapshot, WaitingCall, utc
from .policy import call_order, eligible_regions, qualifies, queue_lengths, required_skills

#: What a call centre of this kind sees when nothing has been observed yet (a 1177 call takes about
#: eight minutes, wrap-up one, a nurse answers a ringing phone in a few seconds).
PRIOR_HANDLE_SECONDS = 480.0
PRIOR_WRAP_SECONDS = 60.0
PRIOR_RING_SECONDS = 6.0
#: A nurse whose call already lasts longer than the mean is assumed to need at least this share of a
#: mean call more: long calls tend to go on (the residual time of a long-tailed handle time does not
#: shrink to zero), and 0 would promise the next caller a nurse "any second now".
RESIDUAL_FLOOR = 0.25
#: States in which a nurse will take calls without anyone changing her presence by hand.
STAFFED = frozenset({State.READY, State.OFFERED, State.ON_CALL, State.WRAP_UP})

Profile = tuple[tuple[str, int], ...]  # required skills, sorted: groups calls that need the same nurses


@dataclass
class _DecayingMean:
    """A mean whose observations lose half their weight every half-life (bounded memory: two numbers)."""

    weight: float = 0.0
    mean: float = 0.0
    at: datetime | None = None

    def add(self, value: float, at: datetime, half_life: float) -> None:
        at = utc(at)
        new_weight = 1.0
        if self.at is None:
            self.at = at
        else:
            age = (at - self.at).total_seconds()
            if age >= 0:
                self.weight *= 0.5 ** (age / half_life)
                self.at = at
            else:  # reported late: it counts as old as it is
                new_weight = 0.5 ** (-age / half_life)
        total = self.weight + new_weight
        self.mean = (self.mean * self.weight + value * new_weight) / total
        self.weight = total


def _shrunk(local: _DecayingMean | None, towards: float, strength: float) -> float:
    """The local mean pulled towards `towards` as if that had `strength` observations: a region with
    two observed calls does not yet set its own pace."""
    if local is None or local.weight <= 0:
        return towards
    return (local.mean * local.weight + towards * strength) / (local.weight + strength)


@dataclass
class WaitStats:
    """Recent handle, wrap-up, ring and answered-wait times, per region (the nurse's home region for
    handle and wrap-up, the call's region for waits). Fed by the caller with the times things happened;
    never reads a clock."""

    half_life_seconds: float = 1800.0
    prior_handle_seconds: float = PRIOR_HANDLE_SECONDS
    prior_wrap_seconds: float = PRIOR_WRAP_SECONDS
    prior_ring_seconds: float = PRIOR_RING_SECONDS
    prior_weight: float = 3.0  # how many observations the prior (and a region's pull to the mean) is worth
    _handle: dict[str, _DecayingMean] = field(default_factory=dict)
    _wrap: dict[str, _DecayingMean] = field(default_factory=dict)
    _waits: dict[str, _DecayingMean] = field(default_factory=dict)
    _all_handle: _DecayingMean = field(default_factory=_DecayingMean)
    _all_wrap: _DecayingMean = field(default_factory=_DecayingMean)
    _ring: _DecayingMean = field(default_factory=_DecayingMean)

    def observe_handled(self, region: str, handle_seconds: float, at: datetime, *,
                        wrap_seconds: float | None = None) -> None:
        """A nurse of `region` finished a call that lasted `handle_seconds` (answer → hang-up), and,
        when known, her wrap-up (hang-up → ready)."""
        hl = self.half_life_seconds
        self._handle.setdefault(region, _DecayingMean()).add(handle_seconds, at, hl)
        self._all_handle.add(handle_seconds, at, hl)
        if wrap_seconds is not None:
            self._wrap.setdefault(region, _DecayingMean()).add(wrap_seconds, at, hl)
            self._all_wrap.add(wrap_seconds, at, hl)

    def observe_answered(self, region: str, wait_seconds: float, at: datetime, *,
                         ring_seconds: float | None = None) -> None:
        """A call of `region` was answered after `wait_seconds` in the queue; `ring_seconds` is the time
        from the offer to the answer."""
        hl = self.half_life_seconds
        self._waits.setdefault(region, _DecayingMean()).add(wait_seconds, at, hl)
        if ring_seconds is not None:
            self._ring.add(ring_seconds, at, hl)

    def handle_seconds(self, region: str) -> float:
        overall = _shrunk(self._all_handle, self.prior_handle_seconds, self.prior_weight)
        return _shrunk(self._handle.get(region), overall, self.prior_weight)

    def wrap_seconds(self, region: str) -> float:
        overall = _shrunk(self._all_wrap, self.prior_wrap_seconds, self.prior_weight)
        return _shrunk(self._wrap.get(region), overall, self.prior_weight)

    def ring_seconds(self) -> float:
        return _shrunk(self._ring, self.prior_ring_seconds, self.prior_weight)

    def answered_wait(self, region: str) -> float | None:
        """The recent mean wait of the region's answered calls; None before the first."""
        mean = self._waits.get(region)
        return mean.mean if mean is not None and mean.weight > 0 else None


def wait_thresholds(region: str, rules: RoutingRules) -> tuple[float, ...]:
    """The waits (seconds) at which a call of `region` may reach more nurses: geographic agreements'
    `after_wait_seconds` and the national pool. Ascending, without duplicates. (Validity dates are not
    looked at: a threshold of an agreement not valid today only splits a group in two.)"""
    if region == NATIONAL:
        return ()
    found = {float(g.after_wait_seconds) for g in rules.geographic
             if region in g.regions and g.after_wait_seconds is not None}
    pool = rules.national_pool_after.get(region)
    if pool is not None:
        found.add(float(pool))
    return tuple(sorted(found))


def profile_of(call: WaitingCall, rules: RoutingRules) -> Profile:
    return tuple(sorted(required_skills(call, rules).items()))


@dataclass
class _Group:
    """Waiting calls of one region, one wait band (between two thresholds) and one skill profile:
    the same nurses may take each of them."""

    sample: WaitingCall
    keys: list[tuple[int, datetime, str]] = field(default_factory=list)  # call_order keys, sorted
    regions: frozenset[str] | None = None  # allowed regions, computed when first needed


@dataclass(frozen=True)
class _Nurse:
    nurse_id: str
    skills: Mapping[str, int]
    free_in: float  # seconds until she can take a call
    cycle: float  # seconds a call then occupies her: ring + handle + wrap-up


class WaitView:
    """One snapshot prepared for estimates: waiting calls grouped, nurses' remaining work computed.
    Build it once per snapshot and ask it for as many calls as needed."""

    def __init__(self, snapshot: Snapshot, now: datetime, rules: RoutingRules,
                 stats: WaitStats | None = None) -> None:
        self.now = utc(now)
        self.rules = rules
        self.stats = stats if stats is not None else WaitStats()
        self.lengths = queue_lengths(snapshot.calls)
        self.waiting = {c.call_id for c in snapshot.calls}
        self._thresholds: dict[str, tuple[float, ...]] = {}
        self._groups: dict[tuple[str, int, Profile], _Group] = {}
        for call in snapshot.calls:
            key = self._group_key(call)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(call)
            group.keys.append(call_order(call))
        for group in self._groups.values():
            group.keys.sort()
        # Nurses indexed by region only; their remaining work is computed when a pool needs the region.
        self._staffed: dict[str, list[NurseState]] = {}
        for nurse in snapshot.nurses:
            if nurse.state in STAFFED:
                self._staffed.setdefault(nurse.home_region, []).append(nurse)
                for region in nurse.regions:
                    self._staffed.setdefault(region, []).append(nurse)
        self._ring = self.stats.ring_seconds()
        self._means: dict[str, tuple[float, float]] = {}  # region → (handle, wrap)
        self._records: dict[str, list[_Nurse]] = {}
        self._counts: dict[tuple[Profile, str], int] = {}

    # --- building blocks --------------------------------------------------------------------------

    def _thresholds_of(self, region: str) -> tuple[float, ...]:
        thresholds = self._thresholds.get(region)
        if thresholds is None:
            thresholds = self._thresholds[region] = wait_thresholds(region, self.rules)
        return thresholds

    def _band(self, call: WaitingCall) -> int:
        """How many of its region's thresholds the call has crossed: calls of one region and band are
        allowed the same regions (eligibility depends on the call only through these)."""
        return bisect_right(self._thresholds_of(call.region), (self.now - call.entered_at).total_seconds())

    def _group_key(self, call: WaitingCall) -> tuple[str, int, Profile]:
        return (call.region, self._band(call), profile_of(call, self.rules))

    def _region_records(self, region: str) -> list[_Nurse]:
        records = self._records.get(region)
        if records is None:
            records = self._records[region] = [self._nurse(n) for n in self._staffed.get(region, ())]
        return records

    def _nurse(self, nurse: NurseState) -> _Nurse:
        means = self._means.get(nurse.home_region)
        if means is None:
            means = self._means[nurse.home_region] = (self.stats.handle_seconds(nurse.home_region),
                                                      self.stats.wrap_seconds(nurse.home_region))
        handle, wrap = means
        ring = self._ring
        elapsed = max(0.0, (self.now - nurse.since).total_seconds())
        if nurse.state is State.READY:
            free_in = 0.0
        elif nurse.state is State.OFFERED:
            free_in = max(ring - elapsed, 0.0) + handle + wrap
        elif nurse.state is State.ON_CALL:
            free_in = max(handle - elapsed, RESIDUAL_FLOOR * handle) + wrap
        else:  # wrap-up
            free_in = max(wrap - elapsed, 0.0)
        return _Nurse(nurse.nurse_id, nurse.skills, free_in, ring + handle + wrap)

    def _allowed(self, call: WaitingCall, at: datetime, lengths: Mapping[str, int]) -> frozenset[str]:
        return frozenset(eligible_regions(call, at, self.rules, lengths))

    def _group_regions(self, group: _Group) -> frozenset[str]:
        if group.regions is None:
            group.regions = self._allowed(group.sample, self.now, self.lengths)
        return group.regions

    def _qualified(self, profile: Profile, region: str) -> int:
        """Staffed nurses of `region` with the profile's skills (a nurse of several regions counts in each)."""
        key = (profile, region)
        count = self._counts.get(key)
        if count is None:
            required = dict(profile)
            count = self._counts[key] = sum(1 for n in self._staffed.get(region, ()) if qualifies(n.skills, required))
        return count

    def _ahead(self, call: WaitingCall, regions: frozenset[str], *, weighted: bool) -> float:
        """The waiting calls before `call` that compete for nurses of `regions`; `weighted`: each counted
        with the share of its own nurses that are in `regions`."""
        key = call_order(call)
        terms: list[float] = []  # summed exactly: the result must not depend on the snapshot's order
        for (_, _, profile), group in self._groups.items():
            before = bisect_left(group.keys, key)
            if before == 0:
                continue
            theirs = self._group_regions(group)
            common = theirs & regions
            if not common:
                continue
            if not weighted:
                terms.append(before)
                continue
            own = sum(self._qualified(profile, r) for r in theirs)
            if own:
                terms.append(before * sum(self._qualified(profile, r) for r in common) / own)
        return math.fsum(terms)

    def _pool(self, regions: Iterable[str], required: Mapping[str, int]) -> tuple[list[float], float]:
        """Free-in times (ascending) of the qualified staffed nurses of `regions`, and their mean cycle."""
        seen: set[str] = set()
        free: list[float] = []
        cycles: list[float] = []
        for region in regions:
            for nurse in self._region_records(region):
                if nurse.nurse_id in seen or not qualifies(nurse.skills, required):
                    continue
                seen.add(nurse.nurse_id)
                free.append(nurse.free_in)
                cycles.append(nurse.cycle)
        free.sort()
        return free, (math.fsum(cycles) / len(cycles) if cycles else 0.0)

    @staticmethod
    def _slot(free: list[float], cycle: float, position: float) -> float:
        """When the `position`-th nurse turn comes (1 = the first nurse to become free): every nurse
        takes a call when she is free, then one per cycle. Fractional positions are interpolated."""

        def turn(n: int) -> float:
            rounds, index = divmod(n - 1, len(free))
            return free[index] + rounds * cycle

        low = max(1, math.floor(position))
        fraction = position - low
        value = turn(low)
        return value + fraction * (turn(low + 1) - value) if fraction > 0 else value

    # --- answers ----------------------------------------------------------------------------------

    def _lengths_for(self, call: WaitingCall) -> Mapping[str, int]:
        """A call not in the snapshot (estimate at arrival) is counted in its region's queue length,
        as the policy counts a waiting call itself."""
        if call.call_id in self.waiting:
            return self.lengths
        lengths = dict(self.lengths)
        lengths[call.region] = lengths.get(call.region, 0) + 1
        return lengths

    def position(self, call: WaitingCall) -> int:
        """1 + the waiting calls ahead of `call` (policy order) that may take one of its nurses."""
        lengths = self._lengths_for(call)
        return 1 + int(self._ahead(call, self._allowed(call, self.now, lengths), weighted=False))

    def estimate(self, call: WaitingCall) -> float | None:
        """Seconds from now until a nurse answers `call`; None when no staffed nurse can ever take it
        under the current staffing (the announcement then gives no time)."""
        lengths = self._lengths_for(call)
        required = required_skills(call, self.rules)
        waited = call.wait_seconds(self.now)
        ring = self._ring
        stages = [0.0] + [t - waited for t in self._thresholds_of(call.region) if t > waited]
        best: float | None = None
        for offset in stages:
            if best is not None and offset >= best:
                break  # a later stage cannot beat an estimate that ends before it starts
            later = self.now + timedelta(seconds=offset)
            # Eligibility at the stage's moment: the wait has grown by `offset` (and a window may be open).
            regions = self._allowed(call, later, lengths)
            free, cycle = self._pool(regions, required)
            if not free:
                continue
            slot = self._slot(free, cycle, self._ahead(call, regions, weighted=True) + 1)
            value = max(offset, slot) + ring
            best = value if best is None else min(best, value)
        return best

    def queue_estimate(self, region: str, *, priority: int = 5) -> float | None:
        """The region's figure for supervisors: the estimate for a call of `priority` with no special
        skills arriving in the region now."""
        probe = WaitingCall(call_id="\uffff", region=region, skills={}, priority=priority, entered_at=self.now)
        return self.estimate(probe)


# --- one-shot helpers (the live system) ------------------------------------------------------------


def estimate(call_id: str, snapshot: Snapshot, now: datetime, rules: RoutingRules,
             stats: WaitStats | None = None) -> float | None:
    """The estimated wait (seconds from `now`) of a waiting call; None if the call is not waiting (offered,
    answered, gone) or no staffed nurse can take it."""
    for call in snapshot.calls:
        if call.call_id == call_id:
            return WaitView(snapshot, now, rules, stats).estimate(call)
    return None


def position(call: WaitingCall, snapshot: Snapshot, rules: RoutingRules, now: datetime) -> int:
    """The call's place (1 = next) among the waiting calls that compete for the same nurses, in the
    policy's order: priority, then entered_at, then id. Computed from the shared snapshot, so every
    app instance gives the same answer."""
    return WaitView(snapshot, now, rules).position(call)


def queue_estimates(snapshot: Snapshot, now: datetime, rules: RoutingRules, stats: WaitStats | None = None,
                    *, priority: int = 5) -> dict[str, float | None]:
    """Region (and "national") → the estimate for a new call of `priority` there, for every region that
    has staffed nurses or waiting calls."""
    view = WaitView(snapshot, now, rules, stats)
    regions = {c.region for c in snapshot.calls}
    regions.update(r for n in snapshot.nurses if n.state in STAFFED for r in n.all_regions)
    if rules.national.served_by:
        regions.add(NATIONAL)
    return {region: view.queue_estimate(region, priority=priority) for region in sorted(regions)}

