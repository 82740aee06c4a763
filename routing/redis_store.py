"""The Redis routing store: live routing state shared by app instances and kept across restarts.

Keys, under a prefix (default `vardlinje:routing`):

    <p>:calls          hash  call id → the waiting call (JSON; times in integer microseconds since the epoch)
    <p>:offers         hash  call id → its reserved offer (JSON); a call here is offered, not waiting
    <p>:nurses         set   nurse ids
    <p>:nurse:<id>     hash  profile (JSON), state, since (µs), reason, call_id — her live presence
    <p>:ready          set   the ids of the nurses who are ready (an index, written with every presence change)

`reserve` is one Lua script (compare-and-reserve, below), so two instances can never offer one nurse
two calls or one call to two nurses. The other changes read, apply `agents.presence.transition` in
Python and write under WATCH/MULTI (optimistic; retried when a key changed meanwhile), so the state
machine lives in one place and the Lua script mirrors only its ready → offered step. No TTLs: time
comes only from the callers' `at`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from agents.presence import Event, InvalidTransition, PauseReason, State, transition

from .model import NurseState, Offer, Snapshot, Step, WaitingCall
from .store import (
    CallOutcome,
    UnknownNurse,
    check_nurse_only,
    presence_of,
    released_history,
    same_presence,
    with_presence,
)

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# KEYS: nurse hash, calls hash, offers hash, ready set.  ARGV: call id, offer time (µs), offer JSON, nurse id.
# Lua numbers are doubles: microseconds since 1970 (~1.8e15) are exact below 2^53 (~9e15).
RESERVE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return 0 end
local since = tonumber(redis.call('HGET', KEYS[1], 'since'))
if since == nil or tonumber(ARGV[2]) < since then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'offered', 'since', ARGV[2], 'call_id', ARGV[1], 'reason', '')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SREM', KEYS[4], ARGV[4])
return 1
"""

# `reserve` for a call not yet queued (a transfer to a named nurse): the same comparison on the nurse, the
# call id must be free, then the call is queued and offered in the same step.
# KEYS: as RESERVE.  ARGV: as RESERVE, then the call JSON.
ADD_RESERVED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return 0 end
local since = tonumber(redis.call('HGET', KEYS[1], 'since'))
if since == nil or tonumber(ARGV[2]) < since then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
redis.call('HSET', KEYS[1], 'state', 'offered', 'since', ARGV[2], 'call_id', ARGV[1], 'reason', '')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SREM', KEYS[4], ARGV[4])
return 1
"""


def to_us(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone")
    return (at - _EPOCH) // _US


def from_us(value: int | str | bytes) -> datetime:
    return _EPOCH + int(value) * _US


def _flat(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def call_json(call: WaitingCall) -> str:
    return json.dumps({"call_id": call.call_id, "region": call.region, "skills": dict(call.skills),
                       "priority": call.priority, "entered_at": to_us(call.entered_at), "language": call.language,
                       "queue": call.queue, "history": list(call.history)}, sort_keys=True)


def call_from(raw: Any) -> WaitingCall:
    d = json.loads(raw)
    return WaitingCall(call_id=d["call_id"], region=d["region"], skills=d["skills"], priority=d["priority"],
                       entered_at=from_us(d["entered_at"]), language=d["language"], queue=d["queue"],
                       history=tuple(d["history"]))


def offer_json(offer: Offer) -> str:
    return json.dumps({"call_id": offer.call_id, "nurse_id": offer.nurse_id, "step": offer.step.value,
                       "at": to_us(offer.at), "via_region": offer.via_region, "agreement": offer.agreement},
                      sort_keys=True)


def offer_from(raw: Any) -> Offer:
    d = json.loads(raw)
    return Offer(call_id=d["call_id"], nurse_id=d["nurse_id"], step=Step(d["step"]), at=from_us(d["at"]),
                 via_region=d["via_region"], agreement=d["agreement"])


def nurse_fields(nurse: NurseState) -> dict[str, str]:
    profile = {"home_region": nurse.home_region, "regions": sorted(nurse.regions), "skills": dict(nurse.skills)}
    return {"profile": json.dumps(profile, sort_keys=True), **presence_fields(nurse)}


def presence_fields(nurse: NurseState) -> dict[str, str]:
    return {"state": nurse.state.value, "since": str(to_us(nurse.since)),
            "reason": nurse.reason.value if nurse.reason else "", "call_id": nurse.call_id or ""}


def nurse_from(nurse_id: str, raw: dict[Any, Any]) -> NurseState:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    profile = json.loads(fields["profile"])
    return NurseState(nurse_id=nurse_id, home_region=profile["home_region"], skills=profile["skills"],
                      regions=frozenset(profile["regions"]), state=State(fields["state"]),
                      since=from_us(fields["since"]), call_id=fields.get("call_id") or None,
                      reason=PauseReason(fields["reason"]) if fields.get("reason") else None)


class _OfferChanged(Exception):
    pass


class RedisStore:
    def __init__(self, redis: Redis, prefix: str = "vardlinje:routing") -> None:
        self.redis = redis
        self.prefix = prefix
        self.calls_key = f"{prefix}:calls"
        self.offers_key = f"{prefix}:offers"
        self.nurses_key = f"{prefix}:nurses"
        self.ready_key = f"{prefix}:ready"
        # Raw JSON → parsed call, from the last snapshot: a waiting call's JSON rarely changes, and
        # parsing 10,000 of them was most of a decision's time (bench/bench_routing.py).
        self._parsed: dict[bytes, WaitingCall] = {}
        self._reserve = redis.register_script(RESERVE)
        self._add_reserved = redis.register_script(ADD_RESERVED)

    def nurse_key(self, nurse_id: str) -> str:
        return f"{self.prefix}:nurse:{nurse_id}"

    def _index(self, pipe: Pipeline, nurse: NurseState) -> None:
        """Keep the ready index in step with a presence write (queued in the same MULTI)."""
        if nurse.state is State.READY:
            pipe.sadd(self.ready_key, nurse.nurse_id)
        else:
            pipe.srem(self.ready_key, nurse.nurse_id)

    async def _atomic(self, keys: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
        """Run `body` under WATCH on `keys`: it reads (immediate), calls `pipe.multi()  # type: ignore[no-untyped-call]` and queues
        writes; retried from the start when another client changed a watched key."""
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*keys)
                    result = await body(pipe)
                    if pipe.explicit_transaction:
                        await pipe.execute()
                    else:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                    return result
                except WatchError:
                    continue

    # --- calls ----------------------------------------------------------------------------------

    async def add_call(self, call: WaitingCall) -> bool:
        return bool(await self.redis.hsetnx(self.calls_key, call.call_id, call_json(call)))

    async def get_call(self, call_id: str) -> WaitingCall | None:
        raw = await self.redis.hget(self.calls_key, call_id)
        return call_from(raw) if raw is not None else None

    async def remove_call(self, call_id: str, at: datetime) -> CallOutcome | None:
        return await self._settle(call_id, at, Event.CANCEL, drop_call=True, need_offer=False)

    async def release(self, call_id: str, at: datetime, *, missed: bool) -> CallOutcome | None:
        return await self._settle(call_id, at, Event.MISSED if missed else Event.CANCEL, drop_call=False,
                                  need_offer=True, missed=missed)

    async def answered(self, call_id: str, at: datetime) -> CallOutcome | None:
        return await self._settle(call_id, at, Event.ANSWER, drop_call=True, need_offer=True)

    async def _settle(self, call_id: str, at: datetime, event: Event, *, drop_call: bool, need_offer: bool,
                      missed: bool = False) -> CallOutcome | None:
        """End a call's offer (if any) with `event` on the nurse, and drop or re-queue the call."""
        raw_offer = await self.redis.hget(self.offers_key, call_id)
        offer = offer_from(raw_offer) if raw_offer is not None else None
        keys = [self.calls_key, self.offers_key] + ([self.nurse_key(offer.nurse_id)] if offer else [])

        async def body(pipe: Pipeline) -> CallOutcome | None:
            raw_call = await pipe.hget(self.calls_key, call_id)
            current = await pipe.hget(self.offers_key, call_id)
            if raw_call is None or (need_offer and current is None):
                return None
            if current != raw_offer:  # the offer changed between our first read and the WATCH
                raise _OfferChanged
            call = call_from(raw_call)
            nurse = None
            if offer is not None:
                raw_nurse = await pipe.hgetall(self.nurse_key(offer.nurse_id))
                if raw_nurse:
                    nurse = nurse_from(offer.nurse_id, raw_nurse)
            updated = None
            if nurse is not None and offer is not None and nurse.state is State.OFFERED and nurse.call_id == call_id:
                updated = with_presence(nurse, transition(presence_of(nurse), event, at))
            elif event is Event.ANSWER:
                raise InvalidTransition(f"{offer.nurse_id if offer else '?'} is not offered {call_id}")
            pipe.multi()  # type: ignore[no-untyped-call]
            if updated is not None:
                pipe.hset(self.nurse_key(updated.nurse_id), items=_flat(presence_fields(updated)))
                self._index(pipe, updated)
            pipe.hdel(self.offers_key, call_id)
            if drop_call:
                pipe.hdel(self.calls_key, call_id)
            elif offer is not None:
                call = released_history(call, offer, missed)
                pipe.hset(self.calls_key, call_id, call_json(call))
            return CallOutcome(call, offer)

        try:
            return await self._atomic(keys, body)
        except _OfferChanged:  # start again with the offer as it is now
            return await self._settle(call_id, at, event, drop_call=drop_call, need_offer=need_offer, missed=missed)

    # --- nurses ---------------------------------------------------------------------------------

    async def upsert_nurse(self, nurse: NurseState) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.nurses_key, nurse.nurse_id)
            pipe.hset(self.nurse_key(nurse.nurse_id), items=_flat(nurse_fields(nurse)))
            self._index(pipe, nurse)
            await pipe.execute()

    async def restore(self, nurse: NurseState, expected: NurseState | None) -> bool:
        key = self.nurse_key(nurse.nurse_id)

        async def body(pipe: Pipeline) -> bool:
            raw = await pipe.hgetall(key)
            current = nurse_from(nurse.nurse_id, raw) if raw else None
            if (current is None) != (expected is None) or (
                    current is not None and expected is not None and not same_presence(current, expected)):
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.sadd(self.nurses_key, nurse.nurse_id)
            pipe.hset(key, items=_flat(nurse_fields(nurse)))
            self._index(pipe, nurse)
            return True

        return await self._atomic([key], body)

    async def update_profile(self, nurse: NurseState) -> bool:
        key = self.nurse_key(nurse.nurse_id)

        async def body(pipe: Pipeline) -> bool:
            if not await pipe.exists(key):
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(key, "profile", nurse_fields(nurse)["profile"])
            return True

        return await self._atomic([key], body)

    async def reindex(self) -> int:
        """Rebuild the ready index from the nurse hashes (at start: a store written before the index
        existed, or repaired by hand). Returns the number of ready nurses."""
        snapshot = await self.snapshot()
        ready = [n.nurse_id for n in snapshot.nurses if n.state is State.READY]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.ready_key)
            if ready:
                pipe.sadd(self.ready_key, *ready)
            await pipe.execute()
        return len(ready)

    async def remove_nurse(self, nurse_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.nurses_key, nurse_id)
            pipe.srem(self.ready_key, nurse_id)
            pipe.delete(self.nurse_key(nurse_id))
            await pipe.execute()

    async def get_nurse(self, nurse_id: str) -> NurseState | None:
        raw = await self.redis.hgetall(self.nurse_key(nurse_id))
        return nurse_from(nurse_id, raw) if raw else None

    async def transition(
        self, nurse_id: str, event: Event, at: datetime, *, reason: PauseReason | None = None
    ) -> NurseState:
        check_nurse_only(event)
        key = self.nurse_key(nurse_id)

        async def body(pipe: Pipeline) -> NurseState:
            raw = await pipe.hgetall(key)
            if not raw:
                raise UnknownNurse(nurse_id)
            nurse = nurse_from(nurse_id, raw)
            updated = with_presence(nurse, transition(presence_of(nurse), event, at, reason=reason))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(key, items=_flat(presence_fields(updated)))
            self._index(pipe, updated)
            return updated

        return await self._atomic([key], body)

    # --- deciding -------------------------------------------------------------------------------

    async def any_ready(self) -> bool:
        return bool(await self.redis.scard(self.ready_key))

    async def snapshot(self, *, ready_only: bool = False) -> Snapshot:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.calls_key)
            pipe.hkeys(self.offers_key)
            pipe.smembers(self.ready_key if ready_only else self.nurses_key)
            raw_calls, offered, ids = await pipe.execute()
        offered_ids = {_text(c) for c in offered}
        parsed, self._parsed = self._parsed, {}
        for key, raw in raw_calls.items():
            if _text(key) in offered_ids:
                continue
            raw = raw if isinstance(raw, bytes) else str(raw).encode()
            self._parsed[raw] = parsed.get(raw) or call_from(raw)
        calls = tuple(self._parsed.values())
        nurse_ids = sorted(_text(i) for i in ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for nurse_id in nurse_ids:
                pipe.hgetall(self.nurse_key(nurse_id))
            raws = await pipe.execute()
        # A nurse removed between the two reads has an empty hash: left out.
        nurses = tuple(nurse_from(i, raw) for i, raw in zip(nurse_ids, raws, strict=True) if raw)
        if ready_only:  # the index and a hash written in one MULTI agree, but a reader may fall between two
            nurses = tuple(n for n in nurses if n.state is State.READY)
        return Snapshot(calls, nurses)

    async def reserve(self, offer: Offer) -> bool:
        keys = [self.nurse_key(offer.nurse_id), self.calls_key, self.offers_key, self.ready_key]
        result = await self._reserve(keys=keys, args=[offer.call_id, to_us(offer.at), offer_json(offer),
                                                      offer.nurse_id])
        return bool(result)

    async def add_reserved(self, call: WaitingCall, offer: Offer) -> bool:
        if call.call_id != offer.call_id:
            return False
        keys = [self.nurse_key(offer.nurse_id), self.calls_key, self.offers_key, self.ready_key]
        result = await self._add_reserved(keys=keys, args=[offer.call_id, to_us(offer.at), offer_json(offer),
                                                            offer.nurse_id, call_json(call)])
        return bool(result)

    async def get_offer(self, call_id: str) -> Offer | None:
        raw = await self.redis.hget(self.offers_key, call_id)
        return offer_from(raw) if raw is not None else None

    async def offers(self) -> list[Offer]:
        return [offer_from(v) for v in (await self.redis.hvals(self.offers_key))]
