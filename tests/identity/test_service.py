"""Identity records on SQLite and PostgreSQL: users, password login, API tokens, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlmodel import select

from identity import service
from identity.errors import (
    AlreadyExists,
    InvalidValue,
    PasswordPolicyError,
    UnknownCareProvider,
    UnknownRegion,
    UnknownRole,
)
from identity.models import ApiToken, LoginSession, Role
from vardlinje.db import Database

from .conftest import PASSWORD, T0, get_user, seed


def test_create_user_records_roles_regions_and_hash(database: Database) -> None:
    """A created user has normalised username, sorted roles, her regions and an argon2id hash."""
    ids = seed(database)
    user = database.run_sync(lambda s: get_user(s, ids.supervisor_id))
    assert user is not None and user.username == "sven" and user.roles == ["supervisor"]
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert database.run_sync(lambda s: service.user_regions(s, user)) == ["01", "03"]


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"roles": ["doctor"]}, UnknownRole, "doctor"),
        ({"roles": []}, UnknownRole, "at least one role"),
        ({"region_ids": ["02"]}, UnknownRegion, "02"),
        ({"region_ids": []}, UnknownRegion, "at least one region"),
        ({"region_ids": ["01", "05"]}, UnknownRegion, "05"),
        ({"care_provider_id": 9999}, UnknownCareProvider, "9999"),
        ({"username": "Anna"}, AlreadyExists, "anna"),
        ({"username": "bad name!"}, InvalidValue, "bad name!"),
        ({"password": "kort"}, PasswordPolicyError, "minst 12 tecken"),
    ],
)
def test_create_user_validates_with_clear_errors(database: Database, kwargs: dict[str, object],
                                                 error: type[Exception], fragment: str) -> None:
    """Bad roles, unknown or foreign regions, unknown provider, duplicates and weak passwords are refused."""
    ids = seed(database)

    def work(s):  # type: ignore[no-untyped-def]
        service.create_region(s, "05", "Region Östergötland")  # exists, but the provider does not run it
        args: dict[str, object] = {"username": "nybörjare", "password": PASSWORD, "roles": [Role.NURSE],
                                   "care_provider_id": ids.provider_id, "region_ids": ["01"]}
        args.update(kwargs)
        service.create_user(s, at=T0, **args)  # type: ignore[arg-type]

    with pytest.raises(error) as err:
        database.run_sync(work)
    assert fragment in str(err.value)


def test_national_admin_needs_no_region_or_password(database: Database) -> None:
    """A national admin works across regions; password=None makes a user for other login methods."""
    user = database.run_sync(lambda s: service.create_user(s, "nat", None, ["national_admin"], None, [], at=T0))
    assert user.password_hash is None
    assert database.run_sync(lambda s: service.authenticate_password(s, "nat", "")) is None


def test_authenticate_password(database: Database) -> None:
    """Right password (username in any case) logs in; wrong password, unknown or inactive user do not."""
    ids = seed(database)
    assert database.run_sync(lambda s: service.authenticate_password(s, " ANNA", PASSWORD)).id == ids.nurse_id  # type: ignore[union-attr]
    assert database.run_sync(lambda s: service.authenticate_password(s, "anna", PASSWORD + "x")) is None
    assert database.run_sync(lambda s: service.authenticate_password(s, "okänd", PASSWORD)) is None

    def deactivate(s):  # type: ignore[no-untyped-def]
        user = get_user(s, ids.nurse_id)
        user.active = False
        s.add(user)

    database.run_sync(deactivate)
    assert database.run_sync(lambda s: service.authenticate_password(s, "anna", PASSWORD)) is None


def test_login_upgrades_an_outdated_hash(database: Database) -> None:
    """A hash with old parameters is replaced at the next successful login."""
    ids = seed(database)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash(PASSWORD)

    def set_weak(s):  # type: ignore[no-untyped-def]
        user = get_user(s, ids.nurse_id)
        user.password_hash = weak
        s.add(user)

    database.run_sync(set_weak)
    assert database.run_sync(lambda s: service.authenticate_password(s, "anna", PASSWORD)) is not None
    new_hash = database.run_sync(lambda s: get_user(s, ids.nurse_id).password_hash)
    assert new_hash is not None and new_hash != weak and new_hash.startswith("$argon2id$")


def test_api_token_is_stored_hashed_and_verifies(database: Database) -> None:
    """The clear token is returned once; only its sha256 is stored; verifying sets last_used_at."""
    ids = seed(database)

    def create(s):  # type: ignore[no-untyped-def]
        return service.create_api_token(s, get_user(s, ids.supervisor_id), "wfm", ["wfm:read", "wfm:read"], at=T0)

    token, clear = database.run_sync(create)
    assert token.scopes == ["wfm:read"]
    stored = database.run_sync(lambda s: s.exec(select(ApiToken)).all())
    assert [t.token_hash for t in stored] == [service.hash_secret(clear)]
    assert clear not in {t.token_hash for t in stored}
    found = database.run_sync(lambda s: service.verify_api_token(s, clear, at=T0 + timedelta(minutes=1)))
    assert found is not None and found[1].id == ids.supervisor_id
    used = database.run_sync(lambda s: s.get(ApiToken, token.id).last_used_at)  # type: ignore[union-attr]
    assert used is not None and service.aware(used) == T0 + timedelta(minutes=1)
    assert database.run_sync(lambda s: service.verify_api_token(s, clear + "x", at=T0)) is None
    assert database.run_sync(lambda s: service.verify_api_token(s, "", at=T0)) is None


def test_api_token_expiry_and_revocation(database: Database) -> None:
    """An expired or revoked token no longer verifies; revoking twice reports False."""
    ids = seed(database)
    token, clear = database.run_sync(lambda s: service.create_api_token(
        s, get_user(s, ids.supervisor_id), "metrics", ["metrics:read"], T0 + timedelta(days=1), at=T0))
    assert database.run_sync(lambda s: service.verify_api_token(s, clear, at=T0 + timedelta(hours=23))) is not None
    assert database.run_sync(lambda s: service.verify_api_token(s, clear, at=T0 + timedelta(days=1))) is None
    token_id = token.id
    assert token_id is not None
    assert database.run_sync(lambda s: service.revoke_api_token(s, token_id, at=T0))
    assert not database.run_sync(lambda s: service.revoke_api_token(s, token_id, at=T0))
    assert database.run_sync(lambda s: service.verify_api_token(s, clear, at=T0)) is None


def test_api_token_input_is_validated(database: Database) -> None:
    """Scopes must be well-formed and present, and the expiry must lie ahead."""
    ids = seed(database)
    for scopes, expires in (([], None), (["Bad Scope"], None), (["wfm:read"], T0 - timedelta(seconds=1))):
        with pytest.raises(InvalidValue):
            database.run_sync(lambda s, sc=scopes, ex=expires: service.create_api_token(  # type: ignore[misc]
                s, get_user(s, ids.supervisor_id), "x", sc, ex, at=T0))


def test_session_lifecycle(database: Database) -> None:
    """A session is found until it expires or ends; last_seen_at moves forward with use."""
    ids = seed(database)
    lifetime = timedelta(hours=12)
    session, clear = database.run_sync(lambda s: service.create_session(
        s, get_user(s, ids.nurse_id), at=T0, lifetime=lifetime, remote="10.0.0.1"))
    assert session.csrf_token and session.token_hash == service.hash_secret(clear)
    session_id = session.id
    assert session_id is not None
    later = T0 + timedelta(hours=2)
    found = database.run_sync(lambda s: service.get_session(s, clear, at=later))
    assert found is not None and found[1].id == ids.nurse_id
    seen = database.run_sync(lambda s: s.get(LoginSession, session.id).last_seen_at)  # type: ignore[union-attr]
    assert service.aware(seen) == later
    assert database.run_sync(lambda s: service.get_session(s, clear, at=T0 + lifetime)) is None
    assert database.run_sync(lambda s: service.end_session(s, session_id, at=later))
    assert database.run_sync(lambda s: service.get_session(s, clear, at=later)) is None
    assert not database.run_sync(lambda s: service.end_session(s, session_id, at=later))


def test_end_all_sessions_ends_only_that_users_sessions(database: Database) -> None:
    """"Logout everywhere" ends every live session of the user and leaves other users logged in."""
    ids = seed(database)

    def start(user_id: int) -> str:
        return database.run_sync(lambda s: service.create_session(
            s, get_user(s, user_id), at=T0, lifetime=timedelta(hours=1))[1])

    a1, a2, other = start(ids.nurse_id), start(ids.nurse_id), start(ids.supervisor_id)
    assert len(database.run_sync(lambda s: service.live_sessions(s, ids.nurse_id, at=T0))) == 2
    assert database.run_sync(lambda s: service.end_all_sessions(s, ids.nurse_id, at=T0)) == 2
    for clear in (a1, a2):
        assert database.run_sync(lambda s, c=clear: service.get_session(s, c, at=T0)) is None  # type: ignore[misc]
    assert database.run_sync(lambda s: service.get_session(s, other, at=T0)) is not None


def test_duplicate_region_and_provider_are_refused(database: Database) -> None:
    """Seeding twice fails clearly instead of with a database integrity error."""
    seed(database)
    with pytest.raises(AlreadyExists):
        database.run_sync(lambda s: service.create_region(s, "01", "igen"))
    with pytest.raises(AlreadyExists):
        database.run_sync(lambda s: service.create_care_provider(s, "Vårdlinje Öst AB", []))
    with pytest.raises(UnknownRegion):
        database.run_sync(lambda s: service.create_care_provider(s, "Ny AB", ["99"]))
