"""The national crisis switch: run-time state that redirects a region's calls (or every region's) to
the national queue, with every change logged with who, when and why. `docs/crisis.md` has the why.

- **The log is the truth.** Every change is a row of the append-only SQL table `crisis_change`
  (`routing.crisis_models`); the state is the log folded in order (`fold`): an "on" row redirects its
  regions from its time, by its user, for its reason; an "off" row ends their redirects.
- **Redis holds the live state** (`KEY`, a JSON string with the id of the last change it includes), so
  every instance reads it without the database, and a change is announced on `CHANNEL` so every
  instance replaces its engine's rules at once (`on_change`; `with_crisis` gives the rules).
- **Changes are serialised** by a Redis lock: under it the log is folded, the change checked against
  that state, appended, and the new state written to Redis. Two people switching at once on two
  instances (or the CLI) therefore never build on a stale state.
- **Restore and repair**: when Redis has no state (a fresh Redis after a restart) or a state that is
  not the log's latest (a change whose Redis write failed, a Redis restored from an old snapshot), the
  state is rebuilt from the log — an active crisis is never silently dropped. The listener checks this
  after every (re)subscribe and every `poll_seconds`, like the configuration's live reload.

Times are passed in (`at`); nothing here reads a clock.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError
from sqlalchemy import func
from sqlmodel import Session, col, select

from config.regions import REGIONS
from identity.service import aware
from vardlinje.db import Database
from vardlinje.pubsub import Follower

from .crisis_models import CrisisChange
from .model import CRISIS_ALL, RoutingRules, utc

log = logging.getLogger("vardlinje.routing.crisis")

KEY = "vardlinje:routing:crisis"
CHANNEL = "vardlinje:routing:crisis"
BY_LIMIT = 100
REASON_LIMIT = 500


# --- errors ------------------------------------------------------------------------------------------


class CrisisError(ValueError):
    """A change the switch refuses; `str()` is English (CLI), `sv` the Swedish text for supervisors."""

    def __init__(self, en: str, sv: str) -> None:
        super().__init__(en)
        self.sv = sv


class InvalidChange(CrisisError):
    """No region, "all" mixed with regions, no reason or user, or a text too long."""


class UnknownRegion(CrisisError):
    """A region id that is not a county code of the configuration."""


class NotRedirected(CrisisError):
    """Switching off a region that is not redirected on its own."""


class SwitchBusy(Exception):
    """Another change held the switch's lock for too long (or Redis could not give it)."""


# --- the state ---------------------------------------------------------------------------------------


def _when(value: str) -> datetime:
    return utc(datetime.fromisoformat(value))


@dataclass(frozen=True)
class Redirect:
    """One region (or `CRISIS_ALL`) redirected to the national queue: since when, by whom, why."""

    region: str
    since: datetime
    by: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", utc(self.since))

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "since": self.since.isoformat(), "by": self.by, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Redirect:
        return cls(region=str(data["region"]), since=_when(str(data["since"])), by=str(data["by"]),
                   reason=str(data["reason"]))


@dataclass(frozen=True)
class CrisisState:
    """The regions redirected now. `log_id`: the id of the newest logged change it includes (0: none)."""

    redirects: tuple[Redirect, ...] = ()  # sorted by region; "*" (every region) sorts first
    log_id: int = 0

    @property
    def regions(self) -> frozenset[str]:
        """For `RoutingRules.crisis`: the redirected region ids, "*" for every region."""
        return frozenset(r.region for r in self.redirects)

    @property
    def all_regions(self) -> bool:
        return CRISIS_ALL in self.regions

    def redirect(self, region: str) -> Redirect | None:
        """The region's own redirect (not the one of "all regions")."""
        return next((r for r in self.redirects if r.region == region), None)

    def covers(self, region: str) -> bool:
        """Whether `region`'s calls are redirected, on their own or with every region."""
        return region in self.regions or self.all_regions

    def to_json(self) -> dict[str, Any]:
        return {"log_id": self.log_id, "redirects": [r.to_json() for r in self.redirects]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrisisState:
        return cls(redirects=tuple(Redirect.from_json(r) for r in data.get("redirects", [])),
                   log_id=int(data.get("log_id", 0)))


@dataclass(frozen=True)
class LoggedChange:
    """One row of `crisis_change`."""

    id: int
    at: datetime
    regions: tuple[str, ...]
    active: bool
    by: str
    reason: str

    @classmethod
    def from_row(cls, row: CrisisChange) -> LoggedChange:
        assert row.id is not None
        return cls(id=row.id, at=utc(aware(row.at)), regions=tuple(row.regions), active=row.active, by=row.by,
                   reason=row.reason)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "regions": list(self.regions), "active": self.active,
                "by": self.by, "reason": self.reason}


def apply(state: CrisisState, change: LoggedChange) -> CrisisState:
    """The state after one logged change: "on" (re)starts its regions' redirects with its time, user and
    reason; "off" ends them. "*" is a redirect of its own: ending it leaves regions switched on one by one."""
    redirects = {r.region: r for r in state.redirects}
    for region in change.regions:
        if change.active:
            redirects[region] = Redirect(region, change.at, change.by, change.reason)
        else:
            redirects.pop(region, None)
    return CrisisState(redirects=tuple(redirects[r] for r in sorted(redirects)), log_id=change.id)


def fold(changes: Iterable[LoggedChange]) -> CrisisState:
    """The state the log gives, its changes applied in order."""
    state = CrisisState()
    for change in changes:
        state = apply(state, change)
    return state


def with_crisis(rules: RoutingRules, state: CrisisState) -> RoutingRules:
    """`rules` with the switch's redirected regions: the engine's rules after a switch or config change."""
    return replace(rules, crisis=state.regions)


def region_label(region: str) -> str:
    """For people: "01 Region Stockholm", or "alla regioner" for "*"."""
    return "alla regioner" if region == CRISIS_ALL else f"{region} {REGIONS.get(region, '')}".strip()


# --- the log in SQL ----------------------------------------------------------------------------------


def read_log(s: Session) -> list[LoggedChange]:
    """Every logged change, oldest first."""
    return [LoggedChange.from_row(row) for row in s.exec(select(CrisisChange).order_by(col(CrisisChange.id)))]


def recent_changes(s: Session, limit: int) -> list[LoggedChange]:
    """The newest `limit` changes, newest first."""
    rows = s.exec(select(CrisisChange).order_by(col(CrisisChange.id).desc()).limit(limit))
    return [LoggedChange.from_row(row) for row in rows]


def last_log_id(s: Session) -> int:
    return int(s.exec(select(func.max(CrisisChange.id))).one() or 0)


def state_from_log(s: Session) -> CrisisState:
    return fold(read_log(s))


# --- checks --------------------------------------------------------------------------------------------


def clean_text(value: str, *, what_en: str, what_sv: str, limit: int) -> str:
    """One line (whitespace collapsed), not empty, at most `limit` characters."""
    text = re.sub(r"\s+", " ", value).strip()
    if not text:
        raise InvalidChange(f"{what_en} is required", f"{what_sv.capitalize()} måste anges")
    if len(text) > limit:
        raise InvalidChange(f"{what_en} is longer than {limit} characters", f"{what_sv.capitalize()} är längre än {limit} tecken")
    return text


def check_change(state: CrisisState, regions: tuple[str, ...], active: bool) -> None:
    """Switching off needs each region's own redirect: a region redirected only as part of "all regions"
    cannot be taken out of it (switch "all" off instead)."""
    if active:
        return
    for region in regions:
        if state.redirect(region) is not None:
            continue
        if region == CRISIS_ALL:
            raise NotRedirected("all regions are not redirected now", "Alla regioner är inte omdirigerade just nu")
        if state.all_regions:
            raise NotRedirected(f"region {region} is not redirected on its own; every region is redirected: "
                                "switch off all",
                                f"{region_label(region)} är inte omdirigerad för sig; alla regioner är omdirigerade "
                                "— stäng av för alla regioner i stället")
        raise NotRedirected(f"region {region} is not redirected", f"{region_label(region)} är inte omdirigerad")


# --- the switch ----------------------------------------------------------------------------------------

OnChange = Callable[[CrisisState], Awaitable[None] | None]


class CrisisSwitch:
    """The switch of one app instance (or of the CLI). `state` is the last state this instance adopted;
    `on_change` is called with every new one (from this instance's `set` and from the listener). It must
    not call `set` or `refresh`."""

    def __init__(self, db: Database, redis: Redis, *, regions: Collection[str] | None = None,
                 on_change: OnChange | None = None, key: str = KEY, channel: str = CHANNEL,
                 poll_seconds: float = 30.0, max_backoff: float = 30.0, lock_seconds: float = 30.0,
                 lock_wait: float = 10.0) -> None:
        self.db = db
        self.redis = redis
        self.regions = frozenset(regions if regions is not None else REGIONS)
        self.on_change = on_change
        self.key = key
        self.channel = channel
        self.lock_seconds = lock_seconds
        self.lock_wait = lock_wait
        # Refreshes on every announcement, after every (re)subscribe and every `poll_seconds`.
        self.follower = Follower(redis, channel, lambda _data: self.refresh(), self.refresh,
                                 poll_seconds=poll_seconds, max_backoff=max_backoff, name="crisis listener")
        self.subscribed = self.follower.subscribed  # set while subscribed (tests wait on it)
        self.listen = self.follower.run
        self.cleanup_ctx = self.follower.cleanup_ctx
        self._state = CrisisState()
        self._local = asyncio.Lock()  # this instance's changes and refreshes, one at a time, in order

    @property
    def state(self) -> CrisisState:
        return self._state

    # -- reading ------------------------------------------------------------------------------------

    async def _stored(self) -> CrisisState | None:
        raw = await self.redis.get(self.key)
        if raw is None:
            return None
        return CrisisState.from_json(json.loads(raw))

    async def current(self) -> CrisisState:
        """The live state from Redis; restored from the log when Redis has none."""
        stored = await self._stored()
        return stored if stored is not None else await self.reconcile()

    async def recent(self, limit: int = 20) -> list[LoggedChange]:
        """The newest `limit` logged changes, newest first."""
        return await self.db.run(lambda s: recent_changes(s, limit))

    def validate_regions(self, regions: Iterable[str]) -> tuple[str, ...]:
        """Sorted, without repeats: county codes of the configuration, or ("*",) alone."""
        wanted = sorted({regions} if isinstance(regions, str) else set(regions))
        if not wanted:
            raise InvalidChange("name at least one region, or all regions",
                                "Ange minst en region, eller alla regioner")
        if CRISIS_ALL in wanted and len(wanted) > 1:
            raise InvalidChange('"all regions" cannot be combined with single regions',
                                "Alla regioner kan inte kombineras med enskilda regioner")
        unknown = [r for r in wanted if r != CRISIS_ALL and r not in self.regions]
        if unknown:
            known = ", ".join(sorted(self.regions))
            raise UnknownRegion(f"unknown region {', '.join(map(repr, unknown))}: county codes are {known}",
                                f"Okänd region {', '.join(unknown)}: länskoderna är {known}")
        return tuple(wanted)

    # -- changing -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        lock = self.redis.lock(f"{self.key}:lock", timeout=self.lock_seconds, blocking_timeout=self.lock_wait)
        try:
            acquired = await lock.acquire()
        except LockError as exc:
            raise SwitchBusy(f"the crisis switch is locked ({exc})") from exc
        if not acquired:
            raise SwitchBusy(f"the crisis switch stayed locked for {self.lock_wait:g} s; try again")
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError:
                log.warning("the crisis switch's lock expired before it was released (a change took over %g s)",
                            self.lock_seconds)

    async def _write(self, state: CrisisState) -> None:
        await self.redis.set(self.key, json.dumps(state.to_json()))

    async def publish(self, state: CrisisState) -> bool:
        """Tell every instance. False (logged) when Redis fails: they then find it by polling."""
        try:
            await self.redis.publish(self.channel, json.dumps({"log_id": state.log_id}))
            return True
        except (RedisError, OSError) as exc:
            log.warning("could not announce crisis change %d on Redis (%s); instances will find it by polling",
                        state.log_id, exc)
            return False

    async def set(self, regions: Iterable[str], active: bool, by: str, reason: str, at: datetime) -> Switched:
        """Redirect `regions` (county codes, or ["*"] for every region) to the national queue (`active`),
        or end their redirect; logged with `by`, `reason` and `at`, announced to every instance.

        Raises `InvalidChange`, `UnknownRegion`, `NotRedirected` (nothing is logged) or `SwitchBusy`."""
        targets = self.validate_regions(regions)
        by = clean_text(by, what_en="the user", what_sv="användaren", limit=BY_LIMIT)
        reason = clean_text(reason, what_en="a reason", what_sv="en anledning", limit=REASON_LIMIT)
        at = utc(at)

        def work(s: Session) -> tuple[LoggedChange, CrisisState]:
            state = state_from_log(s)
            check_change(state, targets, active)
            row = CrisisChange(at=at, regions=list(targets), active=active, by=by, reason=reason)
            s.add(row)
            s.flush()
            change = LoggedChange.from_row(row)
            return change, apply(state, change)

        async with self._local:
            async with self._locked():
                change, state = await self.db.run(work)
                await self._write(state)
            log.warning("crisis switch: %s %s by %s (%s); redirected now: %s", "ON" if active else "OFF",
                        ", ".join(targets), by, reason, ", ".join(sorted(state.regions)) or "none")
            await self.publish(state)
            await self._adopt(state)
        return Switched(change=change, state=state)

    # -- keeping Redis and this instance in step with the log ----------------------------------------

    async def reconcile(self) -> CrisisState:
        """The live state, made to agree with the log: when Redis has none, or not the log's newest
        change, it is rebuilt from the log (written and announced)."""
        stored = await self._stored()
        last = await self.db.run(last_log_id)
        if stored is not None and stored.log_id == last:
            return stored
        async with self._locked():
            # Again under the lock: a change may have been made meanwhile.
            state = await self.db.run(state_from_log)
            stored = await self._stored()
            if stored is not None and stored.log_id == state.log_id:
                return stored
            await self._write(state)
        regions = ", ".join(sorted(state.regions)) or "none"
        if stored is None:
            log.log(logging.WARNING if state.redirects else logging.INFO,
                    "crisis state restored from the log (Redis had none): redirected %s", regions)
        else:
            log.warning("crisis state in Redis (change %d) was not the log's (change %d): rebuilt, redirected %s",
                        stored.log_id, state.log_id, regions)
        await self.publish(state)
        return state

    async def _adopt(self, state: CrisisState) -> bool:
        if state == self._state:
            return False
        self._state = state
        if self.on_change is not None:
            try:
                result = self.on_change(state)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("crisis on_change failed")
        return True

    async def refresh(self) -> bool:
        """Load the live state (reconciled with the log); True when it differs from `state` (then
        `on_change` has run)."""
        async with self._local:
            return await self._adopt(await self.reconcile())


@dataclass(frozen=True)
class Switched:
    """What `set` did: the logged change and the state after it."""

    change: LoggedChange
    state: CrisisState
