"""A journal world: two care providers, their nurses, calls the nurses answered, and an app with the journal's
routes on a real database (SQLite and PostgreSQL) and the real test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis
from sqlmodel import Session

from agents.service import create_nurse
from calls import service as calls
from identity import service
from identity.models import Role
from journal.citizen import CitizenTokenConfig
from journal.http import setup_journal
from vardlinje.db import Database

from ..identity.conftest import PASSWORD, T0, FakeClock, build_app, clock, get_user, login, redis  # noqa: F401

Client = TestClient[web.Request, web.Application]
ISSUER = "https://idp.region.example"
AUDIENCE = "vardlinje-test"
BASE_URL = "https://vardlinje.region.example"
PATIENT = "191212121212"  # Skatteverket's test personnummer 19121212-1212
OTHER_PATIENT = "194107086995"


@dataclass
class World:
    east: int  # care provider running regions 01 and 03
    south: int  # care provider running region 12
    anna: int  # nurse, east
    bertil: int  # nurse, east
    cecilia: int  # nurse, south
    admin: int  # region admin, east
    call_anna: str  # a call anna answered (region 01)
    call_cecilia: str  # a call cecilia answered (region 12)
    signing_key: ec.EllipticCurvePrivateKey


def build_world(database: Database) -> World:
    def work(s: Session) -> World:
        for rid, name in (("01", "Region Stockholm"), ("03", "Region Uppsala"), ("12", "Region Skåne")):
            service.create_region(s, rid, name)
        east = service.create_care_provider(s, "Vårdlinje Öst AB", ["01", "03"])
        south = service.create_care_provider(s, "Region Skåne Vårdgivare", ["12"])
        assert east.id is not None and south.id is not None
        anna = service.create_user(s, "anna", PASSWORD, [Role.NURSE], east.id, ["01"], "Anna Andersson", at=T0)
        bertil = service.create_user(s, "bertil", PASSWORD, [Role.NURSE], east.id, ["01"], "Bertil Berg", at=T0)
        cecilia = service.create_user(s, "cecilia", PASSWORD, [Role.NURSE], south.id, ["12"], "Cecilia Ek", at=T0)
        admin = service.create_user(s, "admin", PASSWORD, [Role.REGION_ADMIN], east.id, ["01", "03"], at=T0)
        endpoints = {}
        for user, home in ((anna, "01"), (bertil, "01"), (cecilia, "12")):
            nurse = create_nurse(s, get_user(s, user.id), home, {"triage": 2}, vocabulary={"triage": 3}, at=T0)
            endpoints[user.username] = nurse.endpoint

        def answered(channel: str, region: str, nurse: str) -> str:
            call = calls.open_call(s, channel_id=channel, linkedid=channel, at=T0, caller_number="+46701234567",
                                   dialled_number="1177")
            calls.set_region(s, call.id, region, T0, "caller")
            calls.append(s, call.id, "offer.started", T0 + timedelta(seconds=40), data={"nurse": endpoints[nurse]})
            calls.append(s, call.id, "offer.answered", T0 + timedelta(seconds=45), data={"nurse": endpoints[nurse]})
            calls.mark_answered(s, call.id, T0 + timedelta(seconds=45))
            return call.id

        assert anna.id and bertil.id and cecilia.id and admin.id
        return World(east.id, south.id, anna.id, bertil.id, cecilia.id, admin.id,
                     answered("ch-anna", "01", "anna"), answered("ch-cecilia", "12", "cecilia"),
                     ec.generate_private_key(ec.SECP256R1()))

    return database.run_sync(work)


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def citizen_config(world: World) -> CitizenTokenConfig:
    pem = world.signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return CitizenTokenConfig(issuer=ISSUER, audience=AUDIENCE, public_key_pem=pem)


def citizen_token(world: World, clock: FakeClock, pnr: str, **overrides: object) -> str:  # noqa: F811
    now = int(clock().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "personal_identity_number": pnr,
              **overrides}
    return jwt.encode(claims, world.signing_key, algorithm="ES256")


@pytest.fixture
async def app(database: Database, redis: Redis, clock: FakeClock, world: World) -> web.Application:  # noqa: F811
    app = build_app(database, redis, clock)
    setup_journal(app, base_url=BASE_URL, citizen=citizen_config(world))
    return app


async def new_client(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    c = await new_client(app)
    yield c
    await c.close()


@pytest.fixture
async def second(app: web.Application) -> AsyncIterator[Client]:
    """A second browser (another tab with its own session, or another person)."""
    c = await new_client(app)
    yield c
    await c.close()


@pytest.fixture
async def third(app: web.Application) -> AsyncIterator[Client]:
    c = await new_client(app)
    yield c
    await c.close()


__all__ = ["AUDIENCE", "BASE_URL", "ISSUER", "OTHER_PATIENT", "PATIENT", "Client", "World", "citizen_token", "clock",
           "login", "redis"]
