"""Routing in the running app: the engine on the shared store, the registry's nurses loaded into it,
every presence change the engine makes recorded in the registry, wrap-up ended by time, and the tick
that lets waits cross their thresholds and windows open.

Only the leader instance (the one holding Asterisk) ticks: a standby could reserve nurses for calls
it cannot ring. Presence changes made elsewhere (the CLI, another instance's desktop API) reach the
store directly and are routed on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from agents.presence import Event, InvalidTransition, PauseReason, State
from config.schema import RegionRouting
from ivr.handover import QueueStatus
from vardlinje.db import Database

from . import presence
from .crisis import CrisisState, with_crisis
from .engine import RoutingEngine
from .ewt import WaitStats, WaitView
from .model import NurseState, RoutingEvent, RoutingRules
from .store import RoutingStore, UnknownNurse

log = logging.getLogger("vardlinje.routing.live")

#: routing event → the presence event it was for the offered nurse (mirrored into the registry)
_MIRRORED: dict[str, Event] = {"offered": Event.OFFER, "answered": Event.ANSWER, "missed": Event.MISSED,
                               "cancelled": Event.CANCEL, "abandoned": Event.CANCEL}
ROUTING = "routing"  # `by` of the changes routing makes


class LiveRouting:
    def __init__(self, db: Database, store: RoutingStore, rules: RoutingRules,
                 region_routing: Callable[[str], RegionRouting], clock: Callable[[], datetime], *,
                 tick_seconds: float = 1.0, view_seconds: float = 2.0) -> None:
        self.db = db
        self.store = store
        self.engine = RoutingEngine(store, rules, listeners=[self._mirror])
        self.base_rules = rules  # from the configuration; the crisis switch is laid on top
        self.crisis = CrisisState()
        self.region_routing = region_routing  # region id → its ring and wrap-up times
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.leader: asyncio.Event | None = None  # set while this instance leads (None: always routes)
        self._home: dict[str, str] = {}  # nurse id → home region, refreshed from the store
        # Estimated waits: recent handle/wrap-up/ring/wait times (observed by this instance, the
        # leader, which rings and hears every answer) and one view of the store shared by all the
        # announcements of a moment.
        self.stats = WaitStats()
        self.view_seconds = view_seconds
        self._view: tuple[float, WaitView] | None = None
        self._offered_at: dict[str, datetime] = {}  # call id → when its current offer began
        self._handle: dict[str, float] = {}  # nurse id → the length of the call she is wrapping up

    def set_rules(self, rules: RoutingRules) -> None:
        """The configuration changed: the next decision uses the new agreements (and the crisis
        switch as it stands)."""
        self.base_rules = rules
        self.engine.rules = with_crisis(rules, self.crisis)

    async def crisis_changed(self, state: CrisisState, is_leader: asyncio.Event) -> None:
        """The crisis switch flipped (here or on another instance): waiting calls follow it at once."""
        self.crisis = state
        self.engine.rules = with_crisis(self.base_rules, state)
        log.warning("crisis switch: redirected regions now %s", ", ".join(sorted(state.regions)) or "none")
        if is_leader.is_set():
            await self.tick()

    # -- per-region times --------------------------------------------------------------------------

    def ring_seconds(self, nurse_id: str) -> int:
        return self.region_routing(self._home.get(nurse_id, "")).ring_seconds

    def wrap_up_seconds(self, region: str) -> int:
        return self.region_routing(region).wrap_up_seconds

    # -- the registry ------------------------------------------------------------------------------

    async def load_nurses(self, only: str | None = None) -> int:
        """The registry into the store (every nurse, or just `only` after a change announced by the CLI)."""
        if only is None:
            ready = await self.store.reindex()
            log.info("routing: ready index rebuilt (%d ready)", ready)
        count = await presence.load_registry(self.db, self.store, self.clock(), only=only)
        for nurse in (await self.store.snapshot()).nurses:
            self._home[nurse.nurse_id] = nurse.home_region
        log.info("routing: %d active nurse(s) loaded from the registry%s", count, f" ({only})" if only else "")
        return count

    async def change_presence(self, nurse_id: str, event: Event, *, reason: PauseReason | None = None,
                              by: str) -> list[RoutingEvent]:
        """A nurse's own presence change (desktop, CLI, hang-up): store, registry, then route."""
        now = self.clock()
        await self._change(nurse_id, event, now, reason=reason, by=by)
        if self.leader is not None and not self.leader.is_set():
            return []  # a standby holds no caller: the leader's tick routes the change within a second
        return await self.engine.route(now)

    async def _change(self, nurse_id: str, event: Event, now: datetime, *, reason: PauseReason | None = None,
                      by: str) -> NurseState:
        before = await self.store.get_nurse(nurse_id)
        after = await presence.change(self.db, self.store, nurse_id, event, now, reason=reason, by=by)
        self._home[nurse_id] = after.home_region
        if before is not None and before.state is State.ON_CALL and after.state is State.WRAP_UP:
            self._handle[nurse_id] = (now - before.since).total_seconds()
        elif before is not None and before.state is State.WRAP_UP and after.state is not State.WRAP_UP:
            handle = self._handle.pop(nurse_id, None)
            if handle is not None:
                self.stats.observe_handled(after.home_region, handle, now,
                                           wrap_seconds=(now - before.since).total_seconds())
        return after

    # -- estimated wait ----------------------------------------------------------------------------

    async def queue_status(self, call_id: str) -> QueueStatus:
        """The call's place and estimated wait, from the shared store (so every instance says the same)."""
        view = await self._wait_view()
        call = await self.store.get_call(call_id)
        if call is not None and call_id not in view.waiting and await self.store.get_offer(call_id) is None:
            view = await self._wait_view(fresh=True)  # queued after the view was taken
        if call is None or call_id not in view.waiting:
            # Offered (her phone rings) or already answered: next in line, no time to announce.
            return QueueStatus(position=1, estimated_wait_seconds=None, state="offered" if call else "queued")
        estimate = view.estimate(call)
        return QueueStatus(position=view.position(call),
                           estimated_wait_seconds=None if estimate is None else max(0, round(estimate)))

    async def _wait_view(self, *, fresh: bool = False) -> WaitView:
        loop = asyncio.get_running_loop()
        if fresh or self._view is None or loop.time() - self._view[0] > self.view_seconds:
            self._view = (loop.time(), WaitView(await self.store.snapshot(), self.clock(), self.engine.rules,
                                                self.stats))
        return self._view[1]

    def queue_estimates(self) -> dict[str, float | None]:
        """Region → the estimate for a new call there now (supervisors' figure), from the last view."""
        if self._view is None:
            return {}
        view = self._view[1]
        return {region: view.queue_estimate(region) for region in sorted(view.lengths)}

    async def _mirror(self, event: RoutingEvent) -> None:
        kind = _MIRRORED.get(event.kind)
        if kind is None or event.nurse_id is None:
            return
        if event.kind == "offered":
            self._offered_at[event.call_id] = event.at
        elif event.kind == "answered" and event.region is not None and event.wait_seconds is not None:
            offered = self._offered_at.pop(event.call_id, None)
            self.stats.observe_answered(event.region, event.wait_seconds, event.at,
                                        ring_seconds=(event.at - offered).total_seconds() if offered else None)
        else:
            self._offered_at.pop(event.call_id, None)
        nurse = await self.store.get_nurse(event.nurse_id)
        if nurse is None:
            return
        self._home[nurse.nurse_id] = nurse.home_region
        nurse_id, call_id = event.nurse_id, event.call_id
        await self.db.run(lambda s: presence.record(s, nurse_id, kind, event.at, nurse, call_id=call_id, by=ROUTING))

    # -- time --------------------------------------------------------------------------------------

    async def tick(self) -> list[RoutingEvent]:
        """End the wrap-ups that are due, then route (waits may have crossed thresholds)."""
        now = self.clock()
        snapshot = await self.store.snapshot()
        for nurse in snapshot.nurses:
            self._home[nurse.nurse_id] = nurse.home_region
            if nurse.state is not State.WRAP_UP:
                continue
            if nurse.since + timedelta(seconds=self.wrap_up_seconds(nurse.home_region)) > now:
                continue
            try:
                await self._change(nurse.nurse_id, Event.WRAP_DONE, now, by=ROUTING)
            except (InvalidTransition, UnknownNurse):
                pass  # she changed meanwhile (paused from her desktop, logged out): nothing to end
        return await self.engine.tick(now)

    async def run(self, stop: asyncio.Event, is_leader: asyncio.Event) -> None:
        """Tick while this instance leads; a failed tick is logged and the next one tries again."""
        while not stop.is_set():
            if is_leader.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("routing tick failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_seconds)
