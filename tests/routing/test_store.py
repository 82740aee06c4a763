"""The store contract, on the in-memory store and on the real Redis: queueing, compare-and-reserve
(only a ready nurse and a waiting call; never twice), release keeps the call's place, missed offers
pause the nurse, answered and abandoned calls leave the queue, and presence changes go through the
state machine. The Redis store keeps its state across a new client (an app restart)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis

from agents.presence import Event, InvalidTransition, PauseReason, State
from routing.model import Offer, Step
from routing.redis_store import RedisStore
from routing.store import RoutingStore, UnknownNurse

from .conftest import T0, call, fresh_prefix, nurse

LATER = T0 + timedelta(seconds=30)


def offer(call_id: str = "c1", nurse_id: str = "n1", at: datetime = LATER) -> Offer:
    return Offer(call_id=call_id, nurse_id=nurse_id, step=Step.OWN, at=at, via_region="12")


async def test_add_and_snapshot(store: RoutingStore) -> None:
    """A queued call and a nurse come back equal; adding the same call twice is refused."""
    c, n = call(), nurse(skills={"triage": 3, "barn": 2}, regions=frozenset({"13"}))
    assert await store.add_call(c)
    assert not await store.add_call(c)
    await store.upsert_nurse(n)
    snap = await store.snapshot()
    assert snap.calls == (c,) and snap.nurses == (n,)
    assert await store.get_call("c1") == c and await store.get_nurse("n1") == n


async def test_reserve_marks_nurse_offered_and_hides_the_call(store: RoutingStore) -> None:
    """A successful reservation: nurse OFFERED with the call since the offer, the call no longer waiting."""
    await store.add_call(call())
    await store.upsert_nurse(nurse())
    assert await store.reserve(offer())
    n = await store.get_nurse("n1")
    assert n is not None and (n.state, n.call_id, n.since) == (State.OFFERED, "c1", LATER)
    assert (await store.snapshot()).calls == ()
    assert await store.get_offer("c1") == offer() and await store.offers() == [offer()]


async def test_reserve_refuses_a_nurse_who_is_not_ready(store: RoutingStore) -> None:
    """Paused (or any state but ready) — no reservation, nothing changes."""
    await store.add_call(call())
    await store.upsert_nurse(nurse(state=State.PAUSED))
    assert not await store.reserve(offer())
    assert await store.get_offer("c1") is None
    n = await store.get_nurse("n1")
    assert n is not None and n.state is State.PAUSED


async def test_reserve_refuses_an_offer_older_than_her_state(store: RoutingStore) -> None:
    """A decision made before the nurse's latest change (offer time < her since) is stale: refused."""
    await store.add_call(call())
    await store.upsert_nurse(nurse(since=LATER + timedelta(seconds=1)))
    assert not await store.reserve(offer())


async def test_reserve_twice_one_wins(store: RoutingStore) -> None:
    """One call to two nurses, or one nurse for two calls: only the first reservation holds."""
    await store.add_call(call("c1"))
    await store.add_call(call("c2"))
    await store.upsert_nurse(nurse("n1"))
    await store.upsert_nurse(nurse("n2"))
    assert await store.reserve(offer("c1", "n1"))
    assert not await store.reserve(offer("c1", "n2"))
    assert not await store.reserve(offer("c2", "n1"))
    assert await store.reserve(offer("c2", "n2"))


async def test_reserve_refuses_a_gone_call_or_nurse(store: RoutingStore) -> None:
    """The caller hung up, or the nurse is not known: no reservation."""
    await store.upsert_nurse(nurse())
    assert not await store.reserve(offer("nope", "n1"))
    await store.add_call(call())
    assert not await store.reserve(offer("c1", "ghost"))


async def test_release_keeps_the_place_and_cancel_frees_the_nurse(store: RoutingStore) -> None:
    """A cancelled offer: the call waits again with its original entered_at (its place) and the offer in its
    history; the nurse is ready again."""
    await store.add_call(call())
    await store.upsert_nurse(nurse())
    await store.reserve(offer())
    out = await store.release("c1", LATER + timedelta(seconds=5), missed=False)
    assert out is not None and out.offer == offer()
    (again,) = (await store.snapshot()).calls
    assert again.entered_at == T0 and again.history == ("cancelled:n1:own",)
    n = await store.get_nurse("n1")
    assert n is not None and n.state is State.READY and n.call_id is None
    assert await store.release("c1", LATER, missed=False) is None  # nothing offered any more


async def test_missed_offer_pauses_the_nurse(store: RoutingStore) -> None:
    """Ring-no-answer: the nurse is paused with reason missed offer, the call waits again."""
    await store.add_call(call())
    await store.upsert_nurse(nurse())
    await store.reserve(offer())
    await store.release("c1", LATER + timedelta(seconds=20), missed=True)
    n = await store.get_nurse("n1")
    assert n is not None and (n.state, n.reason) == (State.PAUSED, PauseReason.MISSED_OFFER)
    (again,) = (await store.snapshot()).calls
    assert again.history == ("missed:n1:own",)


async def test_answered_takes_the_call_out(store: RoutingStore) -> None:
    """Answered: the nurse is on the call, the call is no longer routing's."""
    await store.add_call(call())
    await store.upsert_nurse(nurse())
    await store.reserve(offer())
    out = await store.answered("c1", LATER + timedelta(seconds=3))
    assert out is not None and out.call.call_id == "c1"
    n = await store.get_nurse("n1")
    assert n is not None and (n.state, n.call_id) == (State.ON_CALL, "c1")
    assert await store.get_call("c1") is None and await store.offers() == []
    assert await store.answered("c1", LATER) is None


async def test_caller_leaves_while_it_rings(store: RoutingStore) -> None:
    """remove_call on an offered call cancels the nurse's offer (ready again) and drops the call."""
    await store.add_call(call())
    await store.upsert_nurse(nurse())
    await store.reserve(offer())
    out = await store.remove_call("c1", LATER + timedelta(seconds=2))
    assert out is not None and out.offer == offer()
    n = await store.get_nurse("n1")
    assert n is not None and n.state is State.READY
    assert await store.get_call("c1") is None and await store.remove_call("c1", LATER) is None


async def test_transition_goes_through_the_state_machine(store: RoutingStore) -> None:
    """Pause then ready works; an offer cannot be made through transition; an impossible event raises."""
    await store.upsert_nurse(nurse())
    paused = await store.transition("n1", Event.PAUSE, LATER, reason=PauseReason.BREAK)
    assert (paused.state, paused.reason) == (State.PAUSED, PauseReason.BREAK)
    assert await store.get_nurse("n1") == paused
    with pytest.raises(ValueError, match="belongs to an offer"):
        await store.transition("n1", Event.OFFER, LATER)
    with pytest.raises(InvalidTransition):
        await store.transition("n1", Event.HANGUP, LATER)
    with pytest.raises(UnknownNurse):
        await store.transition("ghost", Event.READY, LATER)


async def test_redis_state_survives_a_restart(redis_url: str) -> None:
    """A new client (an app restart) on the same prefix sees the waiting calls, nurses and offers."""
    prefix = fresh_prefix()
    first = Redis.from_url(redis_url)
    store = RedisStore(first, prefix)
    await store.add_call(call("c1"))
    await store.add_call(call("c2"))
    await store.upsert_nurse(nurse())
    await store.reserve(offer())
    await first.aclose()
    second = Redis.from_url(redis_url, decode_responses=True)
    again = RedisStore(second, prefix)
    assert await again.offers() == [offer()]
    snap = await again.snapshot()
    assert [c.call_id for c in snap.calls] == ["c2"] and snap.nurses[0].state is State.OFFERED
    await second.aclose()


async def test_the_ready_index_follows_every_presence_change(store: RoutingStore) -> None:
    """`any_ready` and `snapshot(ready_only=True)` agree with the nurses' states through an offer, a
    miss, a pause, a ready again and a removal — the engine skips deciding on it."""
    await store.upsert_nurse(nurse("n1", since=T0))
    await store.upsert_nurse(nurse("n2", since=T0, state=State.PAUSED))
    assert await store.any_ready()
    assert [n.nurse_id for n in (await store.snapshot(ready_only=True)).nurses] == ["n1"]
    await store.add_call(call("c1", at=T0))
    assert await store.reserve(Offer("c1", "n1", Step.OWN, T0 + timedelta(seconds=1), "12"))
    assert not await store.any_ready() and not (await store.snapshot(ready_only=True)).nurses
    await store.release("c1", T0 + timedelta(seconds=20), missed=True)
    assert not await store.any_ready()
    await store.transition("n1", Event.READY, T0 + timedelta(seconds=30))
    assert [n.nurse_id for n in (await store.snapshot(ready_only=True)).nurses] == ["n1"]
    await store.transition("n1", Event.PAUSE, T0 + timedelta(seconds=31), reason=PauseReason.BREAK)
    assert not await store.any_ready()
    await store.transition("n2", Event.READY, T0 + timedelta(seconds=32))
    await store.remove_nurse("n2")
    assert not await store.any_ready()
    assert {n.nurse_id for n in (await store.snapshot()).nurses} == {"n1"}


async def test_restore_never_overwrites_a_change_made_since_it_was_read(store: RoutingStore) -> None:
    """Loading the registry is compare-and-set: a presence read before an offer cannot overwrite the
    offer; the profile alone can always be updated, and her presence stays."""
    await store.upsert_nurse(nurse("n1", since=T0))
    read = await store.get_nurse("n1")
    assert read is not None
    await store.add_call(call("c1", at=T0))
    assert await store.reserve(Offer("c1", "n1", Step.OWN, T0 + timedelta(seconds=1), "12"))
    older = nurse("n1", since=T0 + timedelta(seconds=2), state=State.PAUSED)
    assert not await store.restore(older, read)
    current = await store.get_nurse("n1")
    assert current is not None and current.state is State.OFFERED and current.call_id == "c1"
    assert await store.restore(older, current)
    assert (await store.get_nurse("n1")).state is State.PAUSED  # type: ignore[union-attr]
    assert not await store.restore(nurse("n2", since=T0), read)  # n2 is absent, not as read
    assert await store.restore(nurse("n2", since=T0), None)
    assert await store.update_profile(nurse("n2", since=T0 + timedelta(hours=1), skills={"triage": 4},
                                            state=State.PAUSED))
    n2 = await store.get_nurse("n2")
    assert n2 is not None and n2.skills == {"triage": 4} and n2.state is State.READY and n2.since == T0
    assert not await store.update_profile(nurse("n3"))
    assert await store.reindex() == 1 and await store.any_ready()
