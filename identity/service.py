"""Identity operations on a SQLModel Session: regions, care providers, users, password login,
API tokens and login sessions. The caller owns the transaction (Database.run commits).

Times are passed in (`at`), never read from the wall clock here. Secrets (session and API
tokens) are returned in clear exactly once; only their sha256 is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from . import passwords
from .errors import (
    AlreadyExists,
    InvalidValue,
    UnknownCareProvider,
    UnknownRegion,
    UnknownRole,
    UnknownUser,
)
from .models import ApiToken, CareProvider, CareProviderRegion, LoginSession, Region, Role, User, UserRegion

# Letters include å, ä and ö: Swedish staff have them in their names.
USERNAME_RE = re.compile(r"^[^\W_][\w.@-]{0,99}$")
REGION_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
SCOPE_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
API_TOKEN_PREFIX = "vl_"
# Writing last_seen/last_used on every request would turn every read into a write; a minute is
# precise enough for "who is active" and for auditing token use.
TOUCH_INTERVAL = timedelta(seconds=60)
# Roles bound to regions; a national admin works across all of them.
REGIONAL_ROLES = frozenset({Role.NURSE, Role.SUPERVISOR, Role.REGION_ADMIN})


def hash_secret(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def normalize_username(username: str) -> str:
    return username.strip().casefold()


# --- regions and care providers -------------------------------------------------------------


def create_region(s: Session, region_id: str, name: str) -> Region:
    if not REGION_RE.match(region_id):
        raise InvalidValue(f"invalid region id {region_id!r}: use the county code, e.g. '01'")
    if s.get(Region, region_id) is not None:
        raise AlreadyExists(f"region {region_id} already exists")
    region = Region(id=region_id, name=name)
    s.add(region)
    s.flush()
    return region


def _check_regions(s: Session, region_ids: Iterable[str]) -> list[str]:
    ids = sorted(set(region_ids))
    found = set(s.exec(select(Region.id).where(col(Region.id).in_(ids))).all()) if ids else set()
    missing = [r for r in ids if r not in found]
    if missing:
        raise UnknownRegion(f"unknown region(s): {', '.join(missing)} (create them first)")
    return ids


def create_care_provider(s: Session, name: str, region_ids: Sequence[str], org_number: str = "") -> CareProvider:
    name = name.strip()
    if not name:
        raise InvalidValue("a care provider needs a name")
    if s.exec(select(CareProvider).where(CareProvider.name == name)).first() is not None:
        raise AlreadyExists(f"care provider {name!r} already exists")
    ids = _check_regions(s, region_ids)
    provider = CareProvider(name=name, org_number=org_number)
    s.add(provider)
    s.flush()
    assert provider.id is not None
    for region_id in ids:
        s.add(CareProviderRegion(care_provider_id=provider.id, region_id=region_id))
    s.flush()
    return provider


def care_provider_by_name(s: Session, name: str) -> CareProvider | None:
    return s.exec(select(CareProvider).where(CareProvider.name == name.strip())).first()


def care_provider_regions(s: Session, care_provider_id: int) -> list[str]:
    rows = s.exec(select(CareProviderRegion.region_id)
                  .where(CareProviderRegion.care_provider_id == care_provider_id))
    return sorted(rows.all())


# --- users ----------------------------------------------------------------------------------


def parse_roles(roles: Iterable[str]) -> list[str]:
    """Validate role names; returns them sorted without duplicates."""
    valid = {r.value for r in Role}
    result = sorted(set(roles))
    unknown = [r for r in result if r not in valid]
    if unknown:
        raise UnknownRole(f"unknown role(s): {', '.join(unknown)} (known: {', '.join(sorted(valid))})")
    if not result:
        raise UnknownRole(f"a user needs at least one role (known: {', '.join(sorted(valid))})")
    return result


def create_user(
    s: Session,
    username: str,
    password: str | None,
    roles: Iterable[str],
    care_provider_id: int | None,
    region_ids: Iterable[str],
    display_name: str = "",
    *,
    at: datetime,
) -> User:
    """Create an active user. `password=None` makes a user who can only log in by another method.

    Regional roles (nurse, supervisor, region_admin) need at least one region; the regions must
    exist and, when the user has a care provider, be regions that provider runs the line for.
    """
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise InvalidValue(f"invalid username {username!r}: use letters, digits and . _ @ - (max 100)")
    role_list = parse_roles(roles)
    if s.exec(select(User).where(User.username == name)).first() is not None:
        raise AlreadyExists(f"user {name!r} already exists")
    ids = _check_regions(s, region_ids)
    if not ids and REGIONAL_ROLES.intersection(role_list):
        raise UnknownRegion(f"role(s) {', '.join(sorted(REGIONAL_ROLES.intersection(role_list)))} "
                            "need at least one region")
    if care_provider_id is not None:
        if s.get(CareProvider, care_provider_id) is None:
            raise UnknownCareProvider(f"unknown care provider id {care_provider_id}")
        served = set(care_provider_regions(s, care_provider_id))
        outside = [r for r in ids if r not in served]
        if outside:
            raise UnknownRegion(f"the care provider does not run the line for region(s) {', '.join(outside)}")
    password_hash = None
    if password is not None:
        passwords.check_policy(password, name)
        password_hash = passwords.hash_password(password)
    user = User(username=name, display_name=display_name.strip(), password_hash=password_hash,
                roles=role_list, care_provider_id=care_provider_id, active=True, created_at=at)
    s.add(user)
    s.flush()
    assert user.id is not None
    for region_id in ids:
        s.add(UserRegion(user_id=user.id, region_id=region_id))
    s.flush()
    return user


def user_by_username(s: Session, username: str) -> User | None:
    return s.exec(select(User).where(User.username == normalize_username(username))).first()


def require_user(s: Session, username: str) -> User:
    user = user_by_username(s, username)
    if user is None:
        raise UnknownUser(f"no user {normalize_username(username)!r}")
    return user


def set_password(s: Session, user: User, password: str) -> None:
    passwords.check_policy(password, user.username)
    user.password_hash = passwords.hash_password(password)
    s.add(user)


def user_regions(s: Session, user: User | int) -> list[str]:
    user_id = user if isinstance(user, int) else user.id
    rows = s.exec(select(UserRegion.region_id).where(UserRegion.user_id == user_id))
    return sorted(rows.all())


def authenticate_password(s: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None (no hint which part was wrong)."""
    user = user_by_username(s, username)
    if user is None or not user.active or user.password_hash is None:
        passwords.burn_time(password)
        return None
    if not passwords.verify_password(user.password_hash, password):
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        s.add(user)
    return user


# --- API tokens -----------------------------------------------------------------------------


def create_api_token(
    s: Session,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    *,
    at: datetime,
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the clear token, which is never stored."""
    assert user.id is not None
    name = name.strip()
    if not name:
        raise InvalidValue("an API token needs a name (which system uses it)")
    scope_list = sorted(set(scopes))
    bad = [sc for sc in scope_list if not SCOPE_RE.match(sc)]
    if bad:
        raise InvalidValue(f"invalid scope(s): {', '.join(bad)} (use e.g. 'wfm:read')")
    if not scope_list:
        raise InvalidValue("an API token needs at least one scope")
    if expires_at is not None and aware(expires_at) <= at:
        raise InvalidValue("the token's expiry lies in the past")
    clear = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_secret(clear), scopes=scope_list,
                     created_at=at, expires_at=expires_at)
    s.add(token)
    s.flush()
    return token, clear


def verify_api_token(s: Session, clear: str, *, at: datetime) -> tuple[ApiToken, User] | None:
    """The token and its user when the token is known, not revoked, not expired and its user active."""
    if not clear.startswith(API_TOKEN_PREFIX):
        return None
    token = s.exec(select(ApiToken).where(ApiToken.token_hash == hash_secret(clear))).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and aware(token.expires_at) <= at:
        return None
    user = s.get(User, token.user_id)
    if user is None or not user.active:
        return None
    if token.last_used_at is None or at - aware(token.last_used_at) >= TOUCH_INTERVAL:
        token.last_used_at = at
        s.add(token)
    return token, user


def revoke_api_token(s: Session, token_id: int, *, at: datetime) -> bool:
    """Revoke a token; False when it does not exist or was already revoked."""
    token = s.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = at
    s.add(token)
    return True


# --- login sessions -------------------------------------------------------------------------


def create_session(
    s: Session,
    user: User,
    *,
    at: datetime,
    lifetime: timedelta,
    method: str = "password",
    remote: str = "",
    user_agent: str = "",
) -> tuple[LoginSession, str]:
    """A new browser session; returns the row and the clear cookie token."""
    assert user.id is not None
    clear = secrets.token_urlsafe(32)
    session = LoginSession(token_hash=hash_secret(clear), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                           method=method[:32], created_at=at, expires_at=at + lifetime, last_seen_at=at,
                           remote=remote[:64], user_agent=user_agent[:300])
    s.add(session)
    s.flush()
    return session, clear


def get_session(s: Session, clear: str, *, at: datetime) -> tuple[LoginSession, User] | None:
    """The live session for a cookie token and its user, or None when unknown, ended, expired
    or the user is deactivated. Moves last_seen_at forward (at most once a minute)."""
    if not clear:
        return None
    session = s.exec(select(LoginSession).where(LoginSession.token_hash == hash_secret(clear))).first()
    if session is None or session.ended_at is not None or aware(session.expires_at) <= at:
        return None
    user = s.get(User, session.user_id)
    if user is None or not user.active:
        return None
    if at - aware(session.last_seen_at) >= TOUCH_INTERVAL:
        session.last_seen_at = at
        s.add(session)
    return session, user


def end_session(s: Session, session_id: int, *, at: datetime) -> bool:
    """End one session; False when it was already ended or does not exist."""
    session = s.get(LoginSession, session_id)
    if session is None or session.ended_at is not None:
        return False
    session.ended_at = at
    s.add(session)
    return True


def end_all_sessions(s: Session, user: User | int, *, at: datetime) -> int:
    """Log the user out everywhere; returns how many live sessions were ended."""
    user_id = user if isinstance(user, int) else user.id
    live = s.exec(select(LoginSession).where(LoginSession.user_id == user_id,
                                             col(LoginSession.ended_at).is_(None))).all()
    for session in live:
        session.ended_at = at
        s.add(session)
    return len(live)


def live_sessions(s: Session, user: User | int, *, at: datetime) -> list[LoginSession]:
    user_id = user if isinstance(user, int) else user.id
    rows = s.exec(select(LoginSession).where(LoginSession.user_id == user_id,
                                             col(LoginSession.ended_at).is_(None))).all()
    return [r for r in rows if aware(r.expires_at) > at]
