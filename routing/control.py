"""Call control for the nurse on a connected call: the transfer targets she may choose and the transfer
itself. Gathers the facts (routing's store, the offer driver, the router, the region configuration), lets
the pure `routing.transfer` decide, and has `routing.asterisk.OfferDriver` do the telephony.

Only the instance that holds the call (the leader, whose driver bridged it) can transfer it; elsewhere the
answer is a refusal `transfer_unavailable` (docs/routing.md, "Transfer and hold").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from config.schema import NationalConfig

from . import transfer
from .asterisk import OfferDriver, TransferFailed
from .handler import RoutedCallHandler
from .model import NurseState
from .store import RoutingStore
from .transfer import CallOnHand, QueueTarget, Refusal, ToExternal, ToNurse, ToQueue

log = logging.getLogger("vardlinje.routing.control")


@dataclass(frozen=True)
class Targets:
    me: NurseState
    call: CallOnHand
    queues: tuple[QueueTarget, ...]
    ready: tuple[NurseState, ...]  # every ready nurse; `transfer.nurse_targets` picks her colleagues


@dataclass(frozen=True)
class Transferred:
    call_id: str
    kind: str
    target: str  # the queue node, the nurse's endpoint, or the number in E.164


class CallControl:
    def __init__(self, handler: RoutedCallHandler) -> None:
        self.handler = handler

    @property
    def driver(self) -> OfferDriver:
        return self.handler.driver

    @property
    def store(self) -> RoutingStore:
        return self.driver.engine.store

    def _names(self) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """Queue and skill names in Swedish from national.yaml (a test's directory may have none)."""
        national = getattr(self.handler.ivr.directory, "national", None)
        if not isinstance(national, NationalConfig):
            return {}, {}
        return ({k: q.name for k, q in national.queues.items()}, {k: s.name for k, s in national.skills.items()})

    def queue_targets(self, region: str) -> tuple[QueueTarget, ...]:
        """The queues of the call's menu, as the configuration stands now (a transfer is a new routing
        decision; the menu version the call started with does not bind it)."""
        if not region:
            return ()
        return transfer.queue_targets(self.handler.ivr.directory.menu(region), *self._names())

    def call_on_hand(self, me: NurseState | None) -> CallOnHand | None:
        if me is None or me.call_id is None:
            return None
        offer = self.driver.offers.get(me.call_id)
        if offer is None or offer.nurse_id != me.nurse_id:
            return None
        router = self.driver.router
        request = router.request_for(me.call_id)
        entered = router.entered_at(me.call_id) or self.driver.clock()
        if request is None:  # adopted after a fail-over: no IVR flow, no request (not transferable)
            return CallOnHand(me.call_id, "", {}, 5, "sv", "advice", entered, offer.state == "bridged", adopted=True)
        return CallOnHand(me.call_id, request.region, dict(request.skills), request.priority, request.language,
                          request.queue, entered, offer.state == "bridged", adopted=offer.adopted)

    async def targets(self, nurse_id: str) -> Targets | Refusal:
        me = await self.store.get_nurse(nurse_id)
        call = self.call_on_hand(me)
        refused = transfer.check_call(me, call)
        if refused is not None:
            return refused
        assert me is not None and call is not None
        ready = (await self.store.snapshot(ready_only=True)).nurses
        return Targets(me, call, self.queue_targets(call.region), ready)

    async def transfer(self, nurse_id: str, kind: str, target: str) -> Transferred | Refusal:
        me = await self.store.get_nurse(nurse_id)
        call = self.call_on_hand(me)
        queues = self.queue_targets(call.region) if call is not None and kind == "queue" else ()
        target_nurse = await self.store.get_nurse(target) if kind == "nurse" and target else None
        plan = transfer.plan_transfer(kind, target, me=me, call=call, queues=queues, target_nurse=target_nurse)
        if isinstance(plan, Refusal):
            return plan
        assert me is not None and call is not None
        driver = self.driver
        offer = driver.bridged_offer(call.call_id)
        request = driver.router.request_for(call.call_id)
        if offer is None:
            return transfer.check_call(me, None) or transfer.not_on_call()
        try:
            if isinstance(plan, ToExternal):
                await driver.transfer_out(offer, plan.number, {"kind": "external", "number": plan.number})
                return Transferred(call.call_id, kind, plan.number)
            if request is None:
                return transfer.check_call(me, None) or transfer.not_on_call()
            waiting = transfer.requeued_call(call, plan, me.nurse_id)
            if isinstance(plan, ToQueue):
                updated = request.model_copy(update={"skills": dict(plan.skills), "priority": plan.priority,
                                                     "queue": plan.target.queue})
                await driver.transfer_to_routing(offer, updated, waiting, None, {
                    "kind": "queue", "queue": plan.target.id, "skills": dict(plan.skills),
                    "priority": plan.priority})
                return Transferred(call.call_id, kind, plan.target.id)
            assert isinstance(plan, ToNurse)
            named = transfer.named_offer(waiting, plan.nurse, driver.clock())
            if not await driver.transfer_to_routing(offer, request, waiting, named,
                                                    {"kind": "nurse", "to": plan.nurse.nurse_id}):
                # She was ready a moment ago; now she is not. The caller is with the transferring nurse again.
                return Refusal(409, "nurse_not_ready", f"{target} är inte längre redo att ta samtal; samtalet är "
                                                       "kvar hos dig / the nurse is no longer ready")
            return Transferred(call.call_id, kind, plan.nurse.nurse_id)
        except TransferFailed as exc:
            log.warning("call=%s transfer by nurse=%s to %s %s failed: %s", call.call_id, nurse_id, kind, target,
                        exc.refusal.error)
            return exc.refusal
