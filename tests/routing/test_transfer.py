"""Transfers by a nurse, the pure part and the store: the targets a region's menu offers, which nurses may be
named, E.164 validation, the plan for each kind with its refusals, the requeued call keeping its first queue
entry, and `add_reserved` — a call queued straight to one nurse with compare-and-reserve semantics — on the
in-memory store and on the real Redis (including two instances racing for the same nurse)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis

from agents.presence import State
from config.loader import load_valid_config
from routing.engine import RoutingEngine
from routing.model import NurseState, Offer, RoutingEvent, RoutingRules, Step
from routing.redis_store import RedisStore
from routing.store import RoutingStore
from routing.transfer import (
    CallOnHand,
    QueueTarget,
    Refusal,
    ToExternal,
    ToNurse,
    ToQueue,
    external_number,
    named_offer,
    nurse_targets,
    plan_transfer,
    queue_targets,
    requeued_call,
)

from .conftest import T0, call, fresh_prefix, nurse

LATER = T0 + timedelta(seconds=30)


def on_call(nurse_id: str = "n1", call_id: str = "c1", region: str = "12") -> NurseState:
    return NurseState(nurse_id=nurse_id, home_region=region, skills={"triage": 2}, state=State.ON_CALL, since=T0,
                      call_id=call_id)


def hand(call_id: str = "c1", *, priority: int = 5, bridged: bool = True, adopted: bool = False) -> CallOnHand:
    return CallOnHand(call_id, "12", {"triage": 2}, priority, "sv", "advice", T0 - timedelta(minutes=4), bridged,
                      adopted)


# --- targets ----------------------------------------------------------------------------------------


def test_queue_targets_are_the_menu_queue_nodes_with_swedish_names() -> None:
    """Stockholm's menu: every queue node, in menu order, with the queue's Swedish name and the skills'
    Swedish names in the label; two nodes of one queue (barn) stay apart by their skills."""
    cs = load_valid_config()
    assert cs.national is not None
    names = {k: q.name for k, q in cs.national.queues.items()}
    skills = {k: s.name for k, s in cs.national.skills.items()}
    targets = queue_targets(cs.regions["01"].menu, names, skills)
    by_id = {t.id: t for t in targets}
    assert {"q_adult", "q_child", "q_infant", "q_psych", "q_pharmacist"} <= set(by_id)
    child = by_id["q_child"]
    assert (child.queue, child.name, dict(child.skills), child.priority) == ("barn", "Barn och ungdom",
                                                                             {"triage": 2, "barn": 2}, 4)
    assert child.label.startswith("Barn och ungdom (") and skills["barn"] in child.label
    assert by_id["q_infant"].skills != child.skills


def test_nurse_targets_are_ready_colleagues_of_her_regions() -> None:
    """Ready nurses who share a region with her, herself excluded; paused nurses and other regions' nurses
    are not offered; sorted by display name."""
    me = on_call("me", region="12")
    nurses = [me, nurse("b", "12"), nurse("a", "13", regions=frozenset({"12"})), nurse("p", "12", state=State.PAUSED),
              nurse("x", "14")]
    found = nurse_targets(me, nurses, {"a": "Anna", "b": "Berit"})
    assert [(t.endpoint, t.display_name) for t in found] == [("a", "Anna"), ("b", "Berit")]


@pytest.mark.parametrize(("raw", "expected"), [
    ("+46771117700", "+46771117700"),
    (" +46 8 123 456 7 ", "+4681234567"),
    ("+46701234567", "+46701234567"),
])
def test_external_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    """Valid international numbers, with spaces, come out in E.164 for the dialplan."""
    assert external_number(raw) == expected


@pytest.mark.parametrize(("raw", "error"), [
    ("0771117700", "bad_number"),  # national form: the trunk needs E.164
    ("112", "bad_number"),
    ("+4670123", "bad_number"),  # too short to be valid
    ("+46abc", "bad_number"),
    ("+46900123456", "premium_number"),  # the caller would pay
    ("+4721234567", "foreign_number"),  # a valid Norwegian number: the trunk would pay abroad
    ("+881612345678", "foreign_number"),  # satellite
    ("+" + "4" * 30, "bad_number"),
])
def test_bad_external_numbers_are_refused(raw: str, error: str) -> None:
    """National form, short codes, invalid, foreign and premium-rate numbers: a 400 with the reason, never
    dialled."""
    refused = external_number(raw)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (400, error), refused


# --- the plan ---------------------------------------------------------------------------------------


def _targets() -> tuple[QueueTarget, ...]:
    cs = load_valid_config()
    return queue_targets(cs.regions["12"].menu, {}, {})


def test_queue_plan_takes_the_node_skills_and_never_lowers_urgency() -> None:
    """A transfer to a queue takes the node's skills; the priority is the more urgent of the call's and the
    queue's, so a transfer never makes a caller wait behind less urgent calls than before."""
    queues = _targets()
    lenient = max(queues, key=lambda q: q.priority)
    plan = plan_transfer("queue", lenient.id, me=on_call(), call=hand(priority=2), queues=queues, target_nurse=None)
    assert isinstance(plan, ToQueue) and plan.skills == lenient.skills and plan.priority == 2
    urgent = min(queues, key=lambda q: q.priority)
    plan = plan_transfer("queue", urgent.id, me=on_call(), call=hand(priority=9), queues=queues, target_nurse=None)
    assert isinstance(plan, ToQueue) and plan.priority == urgent.priority


@pytest.mark.parametrize(("kind", "target", "status", "error"), [
    ("queue", "q_nonexistent", 400, "unknown_queue"),
    ("nurse", "n1", 400, "self_transfer"),
    ("nurse", "ghost", 404, "unknown_nurse"),
    ("external", "+46900123456", 400, "premium_number"),
    ("fax", "x", 400, "bad_request"),
])
def test_bad_targets_are_refused(kind: str, target: str, status: int, error: str) -> None:
    """Unknown queue, herself, an unknown nurse, a premium number, an unknown kind: refusals with a status."""
    plan = plan_transfer(kind, target, me=on_call(), call=hand(), queues=_targets(), target_nurse=None)
    assert isinstance(plan, Refusal) and (plan.status, plan.error) == (status, error), plan
    assert plan.detail.split(" / ")[0]  # Swedish first


def test_nurse_plan_needs_a_ready_colleague_of_her_regions() -> None:
    """A ready colleague of her region: a plan; paused: 409 naming her state in Swedish; another region: 404."""
    colleague = nurse("n2", "12")
    assert isinstance(plan_transfer("nurse", "n2", me=on_call(), call=hand(), queues=(), target_nurse=colleague),
                      ToNurse)
    paused = nurse("n2", "12", state=State.PAUSED)
    refused = plan_transfer("nurse", "n2", me=on_call(), call=hand(), queues=(), target_nurse=paused)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (409, "nurse_not_ready")
    assert "paus" in refused.detail and refused.detail.index("paus") < refused.detail.index(" / ")
    elsewhere = nurse("n2", "14")
    refused = plan_transfer("nurse", "n2", me=on_call(), call=hand(), queues=(), target_nurse=elsewhere)
    assert isinstance(refused, Refusal) and refused.status == 404


def test_not_on_a_call_or_not_here_is_refused_before_anything_else() -> None:
    """Ready (no call): 409 not_on_call; on a call this instance does not hold (a standby) or that is not
    bridged: 503; a call adopted after a fail-over (no IVR flow follows the caller): 409 for every kind."""
    ready = nurse("n1", "12")
    refused = plan_transfer("external", "+46771117700", me=ready, call=None, queues=(), target_nurse=None)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (409, "not_on_call")
    refused = plan_transfer("external", "+46771117700", me=on_call(), call=None, queues=(), target_nurse=None)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (503, "transfer_unavailable")
    refused = plan_transfer("external", "+46771117700", me=on_call(), call=hand(bridged=False), queues=(),
                            target_nurse=None)
    assert isinstance(refused, Refusal) and refused.status == 503
    for kind, target in (("queue", "q_adult"), ("external", "+46771117700")):
        refused = plan_transfer(kind, target, me=on_call(), call=hand(adopted=True), queues=_targets(),
                                target_nurse=None)
        assert isinstance(refused, Refusal) and (refused.status, refused.error) == (409, "transfer_unavailable")
    assert isinstance(plan_transfer("external", "+46771117700", me=on_call(), call=hand(), queues=(),
                                    target_nurse=None), ToExternal)


def test_requeued_call_keeps_its_first_queue_entry() -> None:
    """The transferred caller waits from the first queue entry (not from the transfer), with the new skills
    for a queue and the old ones for a named nurse, and the transfer in its history."""
    held = hand(priority=5)
    queues = _targets()
    plan = plan_transfer("queue", queues[0].id, me=on_call(), call=held, queues=queues, target_nurse=None)
    assert isinstance(plan, ToQueue)
    requeued = requeued_call(held, plan, "n1")
    assert requeued.entered_at == held.entered_at and dict(requeued.skills) == dict(plan.skills)
    assert requeued.history == ("transferred:n1",)
    named = requeued_call(held, ToNurse(nurse("n2", "12")), "n1")
    assert dict(named.skills) == dict(held.skills) and named.priority == held.priority


def test_named_offer_goes_through_the_call_region_when_she_serves_it() -> None:
    """Step `own` through the call's region if she serves it, else `partner` through her home region; the
    agreement says it was a transfer."""
    waiting = call("c1", "12")
    own = named_offer(waiting, nurse("n2", "13", regions=frozenset({"12"})), LATER)
    assert (own.step, own.via_region, own.agreement) == (Step.OWN, "12", "transfer")
    other = named_offer(waiting, nurse("n2", "13"), LATER)
    assert (other.step, other.via_region) == (Step.PARTNER, "13")


# --- the store --------------------------------------------------------------------------------------


def _offer(call_id: str = "c1", nurse_id: str = "n1", at: datetime = LATER) -> Offer:
    return Offer(call_id=call_id, nurse_id=nurse_id, step=Step.OWN, at=at, via_region="12", agreement="transfer")


async def test_add_reserved_queues_the_call_offered_to_her(store: RoutingStore) -> None:
    """Success: the call is queued and offered (never visible as waiting), she is OFFERED with it since the
    offer; `answered` then works as for any offer."""
    await store.upsert_nurse(nurse())
    c = call()
    assert await store.add_reserved(c, _offer())
    n = await store.get_nurse("n1")
    assert n is not None and (n.state, n.call_id, n.since) == (State.OFFERED, "c1", LATER)
    assert await store.get_call("c1") == c and (await store.snapshot()).calls == ()
    assert await store.get_offer("c1") == _offer() and not await store.any_ready()
    outcome = await store.answered("c1", LATER + timedelta(seconds=3))
    assert outcome is not None and await store.get_call("c1") is None


@pytest.mark.parametrize("why", ["paused", "stale", "queued", "unknown"])
async def test_add_reserved_refuses_and_changes_nothing(store: RoutingStore, why: str) -> None:
    """Not ready, a decision older than her state, a call already queued, an unknown nurse: refused, and
    neither the call nor the nurse changed."""
    n = nurse(state=State.PAUSED) if why == "paused" else nurse(since=LATER + timedelta(seconds=1)) \
        if why == "stale" else nurse()
    if why != "unknown":
        await store.upsert_nurse(n)
    existing = call("c1", priority=1)
    if why == "queued":
        await store.add_call(existing)
    assert not await store.add_reserved(call(), _offer())
    assert await store.get_offer("c1") is None
    assert await store.get_call("c1") == (existing if why == "queued" else None)
    if why != "unknown":
        assert await store.get_nurse("n1") == n


async def test_add_reserved_race_between_two_instances(redis_url: str) -> None:
    """Two app instances (own Redis connections) name the same nurse for two calls at once, 50 times: exactly
    one wins each time, and the loser's call is not queued."""
    prefix = fresh_prefix()
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        stores = [RedisStore(c, prefix) for c in clients]
        for i in range(50):
            await stores[0].upsert_nurse(nurse(since=T0))
            a, b = call(f"a{i}"), call(f"b{i}")
            won = await asyncio.gather(stores[0].add_reserved(a, _offer(a.call_id)),
                                       stores[1].add_reserved(b, _offer(b.call_id)))
            assert sorted(won) == [False, True]
            loser = b if won[0] else a
            assert await stores[0].get_call(loser.call_id) is None
            await stores[0].answered((a if won[0] else b).call_id, LATER)
    finally:
        for c in clients:
            await c.aclose()


async def test_engine_call_reserved_emits_queued_and_offered(store: RoutingStore) -> None:
    """The engine's step for a named transfer: `queued` then `offered` to her (the offer driver rings on
    that), or nothing at all when she is not ready."""
    engine = RoutingEngine(store, RoutingRules())
    seen: list[tuple[str, str | None]] = []

    async def listener(event: RoutingEvent) -> None:
        seen.append((event.kind, event.nurse_id))

    engine.listeners.append(listener)
    await store.upsert_nurse(nurse("n1", state=State.PAUSED))
    assert await engine.call_reserved(call(), _offer(), LATER) == [] and seen == []
    await store.upsert_nurse(nurse("n2"))
    events = await engine.call_reserved(call(), _offer(nurse_id="n2"), LATER)
    assert [(e.kind, e.nurse_id) for e in events] == seen == [("queued", None), ("offered", "n2")]
    assert events[1].agreement == "transfer"
