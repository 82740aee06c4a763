"""The routing simulator: the real `RoutingEngine` (on `MemoryStore` or `RedisStore`) driven by a virtual
clock, with simulated nurses and callers from a scenario (`routing.scenario`).

A heap of timed actions is the clock: an action runs at its virtual time, calls the engine like the
telephony side would (`call_arrived`, `nurse_event`, `answered`, `offer_ended`, `caller_left`, `tick`),
and the engine's events — through an ordinary engine listener — schedule what follows: a ringing
phone is answered after a few seconds or rings out, a call lasts its handle time, wrap-up follows,
a caller whose patience runs out hangs up. Nurses log in at their shift start, take pauses (a meeting),
and log out at their shift end once their call and wrap-up are done.

The engine decides whenever an offer could result: a call arrives, a nurse becomes ready (`nurse_event`
with ready or wrap-up done), an offer ends, time passes. Presence changes that can only take a nurse
away (login, which leaves her paused; pause; hang-up into wrap-up; logout) go to the store's
`transition` directly: a decision after them could offer nothing the previous one did not, and a
decision over 500 nurses is the simulation's main cost.

`tick` runs on every whole minute of the clock (every `tick_seconds`, 60 by default) while calls
wait, and exactly when a waiting call crosses one of its region's wait thresholds. That is exact, not
an approximation: time changes eligibility only at a wait threshold (ticked per call), when a window
opens (windows and validity dates are whole minutes of Stockholm time, and Stockholm's offset is whole
hours, so a window opens on a whole minute) and when the crisis switch flips (ticked then). Every offer
in the output is the engine's.

Everything random after the plan is drawn from a generator seeded by (seed, call, nurse, offer), not
from one shared stream, so the outcome does not depend on the store and both stores give the same
events (tested).

The estimated wait (`routing.ewt`) is computed for every call that has to queue, from the store's
snapshot just after it was queued and the recent handle times, as the live announcement does, and
compared with the call's real wait when it is answered.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from agents.presence import Event, PauseReason, State
from config.hours import STOCKHOLM

from .engine import RoutingEngine
from .ewt import WaitStats, WaitView, wait_thresholds
from .model import NurseState, RoutingEvent, WaitingCall
from .scenario import CallPlan, NursePlan, Plan
from .store import RoutingStore

Action = Callable[[], Awaitable[None]]
Emit = Callable[[dict[str, Any]], None]

#: Within this wait an answered call counts towards the service level.
SERVICE_LEVEL_SECONDS = 60.0


@dataclass
class RegionSummary:
    """One region's figures (the call's region; "national" for the national queue)."""

    offered: int = 0  # calls that entered the queue (a contact centre's "offered")
    answered: int = 0
    abandoned: int = 0
    waiting: int = 0  # still waiting or ringing when the scenario ended
    within_sl: int = 0
    wait_total: float = 0.0
    longest: float = 0.0  # of answered and abandoned calls
    missed_offers: int = 0
    ewt_count: int = 0
    ewt_abs: float = 0.0
    ewt_signed: float = 0.0
    ewt_queued_count: int = 0  # calls that were not offered at once: the ones who hear the estimate
    ewt_queued_abs: float = 0.0
    steps: Counter[str] = field(default_factory=Counter)  # answered calls by route step

    def add(self, other: RegionSummary) -> None:
        for name in ("offered", "answered", "abandoned", "waiting", "within_sl", "wait_total", "missed_offers",
                     "ewt_count", "ewt_abs", "ewt_signed", "ewt_queued_count", "ewt_queued_abs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.longest = max(self.longest, other.longest)
        self.steps.update(other.steps)

    def as_dict(self) -> dict[str, Any]:
        ended = self.answered + self.abandoned

        def ratio(a: float, b: int, digits: int = 1) -> float | None:
            return round(a / b, digits) if b else None

        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "waiting_at_end": self.waiting,
            "service_level": ratio(self.within_sl, ended, 3),
            "asa": ratio(self.wait_total, self.answered),
            "longest_wait": round(self.longest, 1),
            "missed_offers": self.missed_offers,
            "ewt_mae": ratio(self.ewt_abs, self.ewt_count),
            "ewt_bias": ratio(self.ewt_signed, self.ewt_count),
            "ewt_mae_queued": ratio(self.ewt_queued_abs, self.ewt_queued_count),
            "answered_by_step": dict(sorted(self.steps.items())),
        }


@dataclass
class Result:
    plan: Plan
    regions: dict[str, RegionSummary]
    wall_seconds: float
    events: list[dict[str, Any]]  # kept only when asked (`keep_events`)
    event_count: int

    @property
    def total(self) -> RegionSummary:
        total = RegionSummary()
        for summary in self.regions.values():
            total.add(summary)
        return total

    def summary(self) -> dict[str, Any]:
        return {
            "kind": "summary",
            "scenario": self.plan.name,
            "calls": len(self.plan.calls),
            "nurses": len(self.plan.nurses),
            "events": self.event_count,
            "wall_seconds": round(self.wall_seconds, 3),
            "regions": {region: s.as_dict() for region, s in sorted(self.regions.items())},
            "all": self.total.as_dict(),
        }


def _event_json(event: RoutingEvent, t: float) -> dict[str, Any]:
    out: dict[str, Any] = {"t": round(t, 3), "at": event.at.astimezone(STOCKHOLM).isoformat(timespec="seconds"),
                           "kind": event.kind, "call": event.call_id}
    if event.nurse_id is not None:
        out["nurse"] = event.nurse_id
    if event.region is not None:
        out["region"] = event.region
    if event.via_region is not None:
        out["via"] = event.via_region
    if event.step is not None:
        out["step"] = event.step.value
    if event.agreement is not None:
        out["agreement"] = event.agreement
    if event.wait_seconds is not None:
        out["wait"] = round(event.wait_seconds, 3)
    return out


class Simulation:
    def __init__(self, plan: Plan, store: RoutingStore, *, emit: Emit | None = None, keep_events: bool = False,
                 progress: Callable[[float], None] | None = None, ewt: bool = True) -> None:
        self.plan = plan
        self.store = store
        self.engine = RoutingEngine(store, plan.rules, listeners=[self._on_event])
        self.stats = WaitStats()
        self.emit = emit
        self.keep_events = keep_events
        self.events: list[dict[str, Any]] = []
        self.event_count = 0
        self.progress = progress
        self.with_ewt = ewt
        self.t = 0.0
        self.now = plan.start
        self._heap: list[tuple[float, int, Action]] = []
        self._seq = 0
        self.nurses = {n.nurse_id: n for n in plan.nurses}
        self.calls = {c.call_id: c for c in plan.calls}
        self.regions: dict[str, RegionSummary] = {r: RegionSummary() for r in plan.regions}
        self.open: set[str] = set()  # queued, not yet answered or abandoned
        self.waiting: set[str] = set()  # queued and not ringing
        self.ringing: dict[str, tuple[str, int]] = {}  # call → (nurse, offer number)
        self.offered_at: dict[str, float] = {}
        self.estimates: dict[str, float | None] = {}
        self._queued_lines: dict[str, dict[str, Any]] = {}
        self._lines: list[dict[str, Any]] = []  # written after each action, once complete
        self.offered_at_once: set[str] = set()
        self.leaving: set[str] = set()  # shift over: logs out after her call
        self.pending_pause: dict[str, tuple[float, PauseReason]] = {}  # nurse → (until, reason) after her call
        self._offers = 0
        self._thresholds: dict[str, tuple[float, ...]] = {}
        self._next_progress = 0.0
        self._failure: Exception | None = None

    # --- the clock -------------------------------------------------------------------------------

    def at(self, t: float, action: Action) -> None:
        if t <= self.plan.duration:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, action))

    async def run(self) -> Result:
        started = time.perf_counter()
        for nurse in self.plan.nurses:
            await self.store.upsert_nurse(NurseState(
                nurse_id=nurse.nurse_id, home_region=nurse.region, skills=dict(nurse.skills),
                state=State.LOGGED_OUT, since=self.plan.start, regions=nurse.regions))
            self.at(nurse.start, self._shift_start(nurse))
            if nurse.end < self.plan.duration:
                self.at(nurse.end, self._shift_end(nurse))
            for begin, until, reason in nurse.pauses:
                self.at(begin, self._pause_start(nurse, until, PauseReason(reason)))
                self.at(until, self._pause_end(nurse, PauseReason(reason)))
        for call in self.plan.calls:
            self.at(call.at, self._arrive(call))
        for switch in self.plan.crisis:
            self.at(switch.at, self._crisis(switch.regions, switch.on))
        # Aligned to the clock (with 60 s: every whole minute), see the module docstring.
        self.at(-self.plan.start.timestamp() % self.plan.tick_seconds, self._tick)
        while self._heap:
            t, _, action = heapq.heappop(self._heap)
            self.t = t
            self.now = self.plan.at(t)
            await action()
            if self._failure is not None:
                raise self._failure
            self._flush()
        for call_id in self.open:
            self.regions[self.calls[call_id].region].waiting += 1
        if self.progress is not None:
            self.progress(self.plan.duration)
        return Result(self.plan, self.regions, time.perf_counter() - started, self.events, self.event_count)

    async def _tick(self) -> None:
        # Only waiting calls can be affected by time passing (windows, thresholds): an idle tick would
        # be a full decision for nothing.
        if self.waiting:
            await self.engine.tick(self.now)
        if self.progress is not None and self.t >= self._next_progress:
            self.progress(self.t)
            self._next_progress = self.t + self.plan.duration / 200
        self.at(self.t + self.plan.tick_seconds, self._tick)

    def _threshold_tick(self, call_id: str) -> Action:
        async def action() -> None:
            if call_id in self.waiting:
                await self.engine.tick(self.now)
        return action

    def _crisis(self, regions: frozenset[str], on: bool) -> Action:
        async def action() -> None:
            current: frozenset[str] = getattr(self.engine.rules, "crisis", frozenset())
            changed = current | regions if on else current - regions
            self.engine.rules = replace(self.engine.rules, crisis=changed)
            self._record({"t": round(self.t, 3), "at": self._local(), "kind": "crisis",
                          "regions": sorted(changed)})
            if self.waiting:
                await self.engine.tick(self.now)
        return action

    # --- callers ---------------------------------------------------------------------------------

    def _arrive(self, spec: CallPlan) -> Action:
        async def action() -> None:
            call = WaitingCall(call_id=spec.call_id, region=spec.region, skills=dict(spec.skills),
                               priority=spec.priority, entered_at=self.now, language=spec.language)
            await self.engine.call_arrived(call, self.now)
            line = self._queued_lines.pop(spec.call_id, None)
            if line is not None:
                if spec.caller is not None:
                    line["caller"] = spec.caller
                if self.with_ewt:
                    await self._estimate(call, line)
            if spec.patience is not None:
                self.at(self.t + spec.patience, self._give_up(spec.call_id))
            thresholds = self._thresholds.get(spec.region)
            if thresholds is None:
                thresholds = self._thresholds[spec.region] = wait_thresholds(spec.region, self.engine.rules)
            for threshold in thresholds:
                self.at(self.t + threshold, self._threshold_tick(spec.call_id))
        return action

    async def _estimate(self, call: WaitingCall, line: dict[str, Any]) -> None:
        """The estimate a caller who has to wait hears, from the store's snapshot just after queueing
        (the live system announces on `queued`). A call offered at once hears none; it is counted with
        the mean ring time, the estimator's answer when a free nurse can take the call."""
        if call.call_id in self.waiting:
            view = WaitView(await self.store.snapshot(), self.now, self.engine.rules, self.stats)
            estimate = view.estimate(call)
            line["position"] = view.position(call)
        else:
            self.offered_at_once.add(call.call_id)
            estimate = self.stats.ring_seconds()
            line["position"] = 1
        self.estimates[call.call_id] = estimate
        line["ewt"] = round(estimate, 1) if estimate is not None else None

    def _give_up(self, call_id: str) -> Action:
        async def action() -> None:
            if call_id in self.open:
                await self.engine.caller_left(call_id, self.now)
        return action

    # --- nurses ----------------------------------------------------------------------------------

    def _in_pause(self, nurse: NursePlan) -> PauseReason | None:
        for begin, until, reason in nurse.pauses:
            if begin <= self.t < until:
                return PauseReason(reason)
        return None

    async def _state(self, nurse_id: str) -> NurseState:
        state = await self.store.get_nurse(nurse_id)
        assert state is not None
        return state

    async def _become_available(self, nurse: NursePlan) -> None:
        """After a call, a missed offer or a pause: log out if the shift is over, go to a meeting that
        started meanwhile, or be ready."""
        if nurse.nurse_id in self.leaving:
            await self.store.transition(nurse.nurse_id, Event.LOGOUT, self.now)
            return
        pending = self.pending_pause.pop(nurse.nurse_id, None)
        reason = pending[1] if pending is not None and pending[0] > self.t else self._in_pause(nurse)
        if reason is not None:
            await self.store.transition(nurse.nurse_id, Event.PAUSE, self.now, reason=reason)
        else:
            await self.engine.nurse_event(nurse.nurse_id, Event.READY, self.now)

    def _shift_start(self, nurse: NursePlan) -> Action:
        async def action() -> None:
            await self.store.transition(nurse.nurse_id, Event.LOGIN, self.now)
            await self._become_available(nurse)
        return action

    def _shift_end(self, nurse: NursePlan) -> Action:
        async def action() -> None:
            self.leaving.add(nurse.nurse_id)
            state = (await self._state(nurse.nurse_id)).state
            if state in (State.READY, State.PAUSED):
                await self.store.transition(nurse.nurse_id, Event.LOGOUT, self.now)
            # Ringing, on a call or in wrap-up: she logs out when done (`_become_available`).
        return action

    def _pause_start(self, nurse: NursePlan, until: float, reason: PauseReason) -> Action:
        async def action() -> None:
            if nurse.nurse_id in self.leaving:
                return
            state = (await self._state(nurse.nurse_id)).state
            if state in (State.READY, State.PAUSED):
                await self.store.transition(nurse.nurse_id, Event.PAUSE, self.now, reason=reason)
            elif state is not State.LOGGED_OUT:
                self.pending_pause[nurse.nurse_id] = (until, reason)  # she joins after her call
        return action

    def _pause_end(self, nurse: NursePlan, reason: PauseReason) -> Action:
        async def action() -> None:
            self.pending_pause.pop(nurse.nurse_id, None)
            current = await self._state(nurse.nurse_id)
            if current.state is State.PAUSED and current.reason is reason:
                await self._become_available(nurse)
        return action

    def _missed_over(self, nurse: NursePlan) -> Action:
        async def action() -> None:
            current = await self._state(nurse.nurse_id)
            if current.state is State.PAUSED and current.reason is PauseReason.MISSED_OFFER:
                await self._become_available(nurse)
        return action

    def _respond(self, call_id: str, nurse_id: str, number: int, answer: bool) -> Action:
        async def action() -> None:
            if self.ringing.get(call_id) != (nurse_id, number):
                return  # the caller hung up meanwhile
            if answer:
                await self.engine.answered(call_id, self.now)
            else:
                await self.engine.offer_ended(call_id, self.now, missed=True)
        return action

    def _hangup(self, nurse_id: str) -> Action:
        async def action() -> None:
            await self.store.transition(nurse_id, Event.HANGUP, self.now)
        return action

    def _wrap_done(self, nurse: NursePlan, handle: float, wrap: float) -> Action:
        async def action() -> None:
            self.stats.observe_handled(nurse.region, handle, self.now, wrap_seconds=wrap)
            if nurse.nurse_id in self.leaving or nurse.nurse_id in self.pending_pause:
                await self._become_available(nurse)
            else:
                await self.engine.nurse_event(nurse.nurse_id, Event.WRAP_DONE, self.now)
        return action

    # --- the engine's events ---------------------------------------------------------------------

    def _local(self) -> str:
        return self.now.astimezone(STOCKHOLM).isoformat(timespec="seconds")

    def _record(self, line: dict[str, Any]) -> None:
        self._lines.append(line)

    def _flush(self) -> None:
        self.event_count += len(self._lines)
        if self.keep_events:
            self.events.extend(self._lines)
        if self.emit is not None:
            for line in self._lines:
                self.emit(line)
        self._lines.clear()

    async def _on_event(self, event: RoutingEvent) -> None:
        # The engine logs and swallows a listener's exception (one failing listener must not silence
        # the others); a simulation with a broken bookkeeping must stop instead, so it is kept and
        # raised by the clock.
        try:
            self._handle(event)
        except Exception as exc:  # re-raised by `run`
            self._failure = self._failure or exc

    def _handle(self, event: RoutingEvent) -> None:
        line = _event_json(event, self.t)
        call_id = event.call_id
        plan = self.calls[call_id]
        summary = self.regions[plan.region]
        if event.kind == "queued":
            self._queued_lines[call_id] = line  # completed by `_arrive` before it is written
            summary.offered += 1
            self.open.add(call_id)
            self.waiting.add(call_id)
        elif event.kind == "offered":
            assert event.nurse_id is not None
            self._offer(call_id, self.nurses[event.nurse_id])
        elif event.kind == "answered":
            assert event.nurse_id is not None
            self._answered(event, self.nurses[event.nurse_id], summary, line)
        elif event.kind == "missed":
            assert event.nurse_id is not None
            summary.missed_offers += 1
            self.ringing.pop(call_id, None)
            self.waiting.add(call_id)
            self.at(self.t + self.plan.missed_pause_seconds, self._missed_over(self.nurses[event.nurse_id]))
        elif event.kind == "abandoned":
            summary.abandoned += 1
            summary.longest = max(summary.longest, event.wait_seconds or 0.0)
            self.ringing.pop(call_id, None)
            self.waiting.discard(call_id)
            self.open.discard(call_id)
        self._record(line)

    def _offer(self, call_id: str, nurse: NursePlan) -> None:
        self._offers += 1
        number = self._offers
        self.ringing[call_id] = (nurse.nurse_id, number)
        self.waiting.discard(call_id)
        self.offered_at[call_id] = self.t
        rng = random.Random(f"{self.plan.seed}:{call_id}:{nurse.nurse_id}:{number}:ring")
        delay = self.plan.ring.draw(rng)
        if rng.random() < nurse.no_answer or delay >= nurse.ring_out_seconds:
            self.at(self.t + nurse.ring_out_seconds, self._respond(call_id, nurse.nurse_id, number, False))
        else:
            self.at(self.t + delay, self._respond(call_id, nurse.nurse_id, number, True))

    def _answered(self, event: RoutingEvent, nurse: NursePlan, summary: RegionSummary, line: dict[str, Any]) -> None:
        call_id = event.call_id
        wait = event.wait_seconds or 0.0
        self.ringing.pop(call_id, None)
        self.open.discard(call_id)
        summary.answered += 1
        summary.wait_total += wait
        summary.longest = max(summary.longest, wait)
        summary.within_sl += wait <= SERVICE_LEVEL_SECONDS
        if event.step is not None:
            summary.steps[event.step.value] += 1
        estimate = self.estimates.pop(call_id, None)
        if estimate is not None:
            error = estimate - wait
            line["ewt_error"] = round(error, 1)
            summary.ewt_count += 1
            summary.ewt_abs += abs(error)
            summary.ewt_signed += error
            if call_id not in self.offered_at_once:
                summary.ewt_queued_count += 1
                summary.ewt_queued_abs += abs(error)
        self.stats.observe_answered(self.calls[call_id].region, wait, self.now,
                                    ring_seconds=self.t - self.offered_at.get(call_id, self.t))
        rng = random.Random(f"{self.plan.seed}:{call_id}:{nurse.nurse_id}:talk")
        handle = nurse.handle.draw(rng)
        wrap = nurse.wrap.draw(rng)
        self.at(self.t + handle, self._hangup(nurse.nurse_id))
        self.at(self.t + handle + wrap, self._wrap_done(nurse, handle, wrap))


async def simulate(plan: Plan, store: RoutingStore, *, emit: Emit | None = None, keep_events: bool = False,
                   progress: Callable[[float], None] | None = None, ewt: bool = True) -> Result:
    """Run `plan` on `store` (which should be empty: a fresh MemoryStore, or a RedisStore under a new
    prefix)."""
    return await Simulation(plan, store, emit=emit, keep_events=keep_events, progress=progress, ewt=ewt).run()

