"""Fixtures and builders for the routing tests: the shipped rules, both stores (the Redis one on the
real private Redis, each test under its own key prefix), and short constructors for calls and nurses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from agents.presence import State
from config.loader import load_valid_config
from routing.memory import MemoryStore
from routing.model import NurseState, RoutingRules, WaitingCall
from routing.redis_store import RedisStore
from routing.rules import rules_from_config
from routing.store import RoutingStore

STOCKHOLM = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday, 13:00 in Stockholm


def sthlm(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Stockholm wall-clock time (unambiguous ones only)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM)


def call(call_id: str = "c1", region: str = "12", *, at: datetime = T0, priority: int = 5,
         skills: dict[str, int] | None = None, language: str = "sv") -> WaitingCall:
    return WaitingCall(call_id=call_id, region=region, skills=skills if skills is not None else {"triage": 2},
                       priority=priority, entered_at=at, language=language)


def nurse(nurse_id: str = "n1", region: str = "12", *, since: datetime = T0, state: State = State.READY,
          skills: dict[str, int] | None = None, regions: frozenset[str] = frozenset()) -> NurseState:
    return NurseState(nurse_id=nurse_id, home_region=region, skills=skills if skills is not None else {"triage": 2},
                      state=state, since=since, regions=regions)


@pytest.fixture(scope="session")
def rules() -> RoutingRules:
    """The rules compiled from the shipped national.yaml."""
    cs = load_valid_config()
    assert cs.national is not None
    return rules_from_config(cs.national)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def fresh_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:routing"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RoutingStore]:
    """Every store test runs on the in-memory store and on the real Redis."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url: str = request.getfixturevalue("redis_url")
    client = Redis.from_url(url)
    yield RedisStore(client, fresh_prefix())
    await client.aclose()
