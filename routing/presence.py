"""A nurse's presence in both places it lives: the routing store (live, atomic, what routing decides
on) and the registry in SQL (her current presence and its append-only history).

The store is applied first: it is where two app instances (or an offer racing a pause) meet, and its
`transition` refuses what the state machine refuses. SQL then records what happened. If SQL cannot
follow the store (the two disagreed before, e.g. a Redis restored from an older snapshot), the
registry is brought to the store's state with a `sync` row, so the history says so and nothing is
silently dropped.

Nurses are known to routing by their endpoint name (`nurse-<id>`): readable in logs and events, and
the name her phone registers with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from agents.models import Nurse, PresenceChange
from agents.presence import Event, InvalidTransition, PauseReason, State
from agents.service import apply_presence, utc
from identity.service import aware
from vardlinje.db import Database

from .model import NurseState
from .store import RoutingStore

log = logging.getLogger("vardlinje.routing.presence")

SYNC_EVENT = "sync"


def nurse_state(nurse: Nurse) -> NurseState:
    """The registry's nurse as routing sees her."""
    presence = nurse.presence()
    return NurseState(nurse_id=nurse.endpoint, home_region=nurse.home_region, skills=dict(nurse.skills),
                      state=presence.state, since=presence.since,
                      regions=frozenset(nurse.served_regions) - {nurse.home_region},
                      call_id=presence.call_id, reason=presence.reason)


def by_endpoint(s: Session, endpoint: str) -> Nurse | None:
    return s.exec(select(Nurse).where(Nurse.endpoint == endpoint)).first()


def record(s: Session, endpoint: str, event: Event, at: datetime, after: NurseState, *,
           reason: PauseReason | None = None, call_id: str | None = None, by: str) -> None:
    """Write a change the store has made into the registry (in the caller's transaction)."""
    nurse = by_endpoint(s, endpoint)
    if nurse is None or nurse.id is None:
        log.warning("nurse=%s is in the routing store but not in the registry; presence not recorded", endpoint)
        return
    try:
        apply_presence(s, nurse.id, event, at, reason=reason, call_id=call_id, by=by)
        return
    except InvalidTransition as exc:
        if utc(after.since) < aware(nurse.presence_since):
            return  # the registry already holds a newer change (recorded by another writer)
        log.warning("nurse=%s registry presence %s disagreed with routing (%s); synced to %s",
                    endpoint, nurse.presence_state, exc, after.state.value)
    before = nurse.presence_state
    nurse.presence_state = after.state.value
    nurse.presence_since = utc(after.since)
    nurse.presence_reason = after.reason.value if after.reason else None
    nurse.presence_call_id = after.call_id
    s.add(nurse)
    s.add(PresenceChange(nurse_id=nurse.id, at=utc(at), from_state=before, to_state=after.state.value,
                         event=SYNC_EVENT, reason=nurse.presence_reason, call_id=after.call_id or call_id,
                         by=by[:100]))
    s.flush()


async def ensure_loaded(db: Database, store: RoutingStore, endpoint: str) -> NurseState:
    """The nurse as the store has her, loading her from the registry first if the store lacks her."""
    current = await store.get_nurse(endpoint)
    if current is not None:
        return current
    nurse = await db.run(lambda s: by_endpoint(s, endpoint))
    if nurse is None or not nurse.active:
        raise LookupError(f"{endpoint} is not an active nurse in the registry")
    state = nurse_state(nurse)
    await store.upsert_nurse(state)
    return state


async def change(db: Database, store: RoutingStore, endpoint: str, event: Event, at: datetime, *,
                 reason: PauseReason | None = None, by: str) -> NurseState:
    """Apply a presence event of the nurse's own (login, ready, pause, hang-up, wrap-up done, logout)
    to the store and then to the registry. Raises `InvalidTransition` (nothing changed) when the state
    machine refuses, e.g. a pause while her phone rings."""
    await ensure_loaded(db, store, endpoint)
    after = await store.transition(endpoint, event, at, reason=reason)
    await db.run(lambda s: record(s, endpoint, event, at, after, reason=reason, by=by))
    log.info("nurse=%s %s → %s%s by %s", endpoint, event.value, after.state.value,
             f" ({after.reason.value})" if after.reason else "", by)
    return after


async def load_registry(db: Database, store: RoutingStore, at: datetime, *, only: str | None = None) -> int:
    """Make the store's nurses match the registry (or just nurse `only`): every active nurse is in it
    with her current profile; inactive or unknown nurses leave (unless a call is on them). The store's
    presence is kept when it is newer than the registry's (it is the live one); the registry's is taken
    when it is newer (changed while the app was down) or the store lacks her — compare-and-set, so an
    offer made meanwhile is never overwritten. An offer the store does not hold cannot be live: such a
    nurse comes back ready. Returns the number of nurses loaded."""
    query = select(Nurse).order_by(col(Nurse.id))
    if only is not None:
        query = query.where(Nurse.endpoint == only)
    rows: Sequence[Nurse] = await db.run(lambda s: list(s.exec(query)))
    wanted = {n.endpoint: n for n in rows if n.active}
    if only is None:
        current_nurses = (await store.snapshot()).nurses
    else:
        one = await store.get_nurse(only)
        current_nurses = (one,) if one is not None else ()
    offered = {offer.call_id for offer in await store.offers()}
    for current in current_nurses:
        if current.nurse_id not in wanted and current.state not in (State.OFFERED, State.ON_CALL):
            await store.remove_nurse(current.nurse_id)
    by_id = {n.nurse_id: n for n in current_nurses}
    for endpoint, nurse in wanted.items():
        registry = nurse_state(nurse)
        found = by_id.get(endpoint)
        if found is None or registry.since > found.since:
            if registry.state is State.OFFERED and registry.call_id not in offered:
                registry = NurseState(registry.nurse_id, registry.home_region, registry.skills, State.READY,
                                      utc(at), registry.regions)
            if not await store.restore(registry, found):
                log.info("nurse=%s changed while being loaded; her live presence stays", endpoint)
                await store.update_profile(registry)
        else:  # the live presence stays; the profile (skills, regions) comes from the registry
            await store.update_profile(registry)
    return len(wanted)
