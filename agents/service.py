"""Registry operations on a SQLModel Session: register nurses, change their skills, apply
presence events, read presence history. The caller owns the transaction (Database.run commits).

Times are passed in (`at`), never read from the clock here. The skills vocabulary is passed in
too (skill id → highest level), so this module does not care where the configuration came from
(files or the versioned store).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from identity.models import Region, Role, User
from identity.service import normalize_username, user_regions

from .errors import AgentError, AlreadyRegistered, InvalidRegion, InvalidSkills, NotANurse, UnknownNurse
from .models import Nurse, PresenceChange
from .presence import Event, PauseReason, Presence, State, transition

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ENDPOINT_PREFIX = "nurse-"


class HasMaxLevel(Protocol):
    @property
    def max_level(self) -> int: ...


def skill_vocabulary(skills: Mapping[str, HasMaxLevel]) -> dict[str, int]:
    """Skill id → highest level, from the national configuration's `skills`."""
    return {name: skill.max_level for name, skill in skills.items()}


def check_skills(skills: Mapping[str, int], vocabulary: Mapping[str, int]) -> dict[str, int]:
    """The skills, validated against the vocabulary; every problem is named in one error."""
    problems = []
    for name, level in sorted(skills.items()):
        if name not in vocabulary:
            problems.append(f"unknown skill {name!r}")
        elif isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= vocabulary[name]:
            problems.append(f"skill {name!r} has levels 1 … {vocabulary[name]}, not {level!r}")
    if problems:
        raise InvalidSkills("; ".join(problems) + f" (known skills: {', '.join(sorted(vocabulary))})")
    return dict(sorted(skills.items()))


def _check_regions(s: Session, user: User, home: str, served: Iterable[str]) -> list[str]:
    """Home region first, then the other served regions sorted; all must exist and be regions the
    user works for (identity's user_region holds exactly those)."""
    wanted = [home, *sorted(set(served) - {home})]
    found = set(s.exec(select(Region.id).where(col(Region.id).in_(wanted))).all())
    missing = [r for r in wanted if r not in found]
    if missing:
        raise InvalidRegion(f"unknown region(s): {', '.join(missing)}")
    works_for = set(user_regions(s, user))
    outside = [r for r in wanted if r not in works_for]
    if outside:
        raise InvalidRegion(f"user {user.username!r} does not work for region(s) {', '.join(outside)} "
                            f"(her regions: {', '.join(sorted(works_for)) or 'none'}); add them to the user first")
    return wanted


def create_nurse(
    s: Session,
    user: User,
    home_region: str,
    skills: Mapping[str, int],
    served_regions: Sequence[str] = (),
    *,
    vocabulary: Mapping[str, int],
    at: datetime,
    phone: str = "ws",
) -> Nurse:
    """Register `user` as a nurse, logged out, with a new endpoint name and SIP secret."""
    at = utc(at)
    check_phone(phone)
    if user.id is None or not user.active or Role.NURSE.value not in user.roles:
        raise NotANurse(f"user {user.username!r} is not an active user with the nurse role")
    if s.exec(select(Nurse).where(Nurse.user_id == user.id)).first() is not None:
        raise AlreadyRegistered(f"user {user.username!r} is already registered as a nurse")
    regions = _check_regions(s, user, home_region, served_regions)
    checked = check_skills(skills, vocabulary)
    # The endpoint is named after the nurse id, known only after the insert.
    nurse = Nurse(user_id=user.id, home_region=home_region, skills=checked,
                  endpoint=f"{ENDPOINT_PREFIX}new-{secrets.token_hex(8)}", sip_secret=new_secret(),
                  served_regions=regions, active=True, created_at=at, updated_at=at, phone=phone,
                  presence_state=State.LOGGED_OUT.value, presence_since=at)
    s.add(nurse)
    s.flush()
    nurse.endpoint = f"{ENDPOINT_PREFIX}{nurse.id}"
    s.add(nurse)
    s.flush()
    return nurse


PHONES = {"ws": "the browser softphone (WebRTC)", "udp": "a SIP phone on the network (desk phone, sipp)"}


def check_phone(phone: str) -> str:
    if phone not in PHONES:
        raise AgentError(f"phone {phone!r} is not one of: " + "; ".join(f"{k} = {v}" for k, v in PHONES.items()))
    return phone


def set_phone(s: Session, nurse_id: int, phone: str, *, at: datetime) -> Nurse:
    """Which phone her endpoint serves; push the nurse to Asterisk afterwards."""
    nurse = get_nurse(s, nurse_id)
    nurse.phone = check_phone(phone)
    nurse.updated_at = utc(at)
    s.add(nurse)
    s.flush()
    return nurse


def utc(at: datetime) -> datetime:
    """`at` in UTC. SQLite keeps no zone, so every stored time must be UTC; a naive time is refused
    because its meaning would depend on the host."""
    if at.tzinfo is None:
        raise AgentError(f"time {at.isoformat()} has no time zone")
    return at.astimezone(UTC)


def new_secret() -> str:
    # 32 url-safe characters: far beyond guessing over SIP digest, short enough for any softphone.
    return secrets.token_urlsafe(24)


def get_nurse(s: Session, nurse_id: int, *, for_update: bool = False) -> Nurse:
    query = select(Nurse).where(Nurse.id == nurse_id)
    if for_update:
        # Two writers must not both move the same presence on from the same state (PostgreSQL
        # locks the row; SQLite serialises writers anyway). Re-read, not the session's copy.
        query = query.with_for_update().execution_options(populate_existing=True)
    nurse = s.exec(query).first()
    if nurse is None:
        raise UnknownNurse(f"no nurse with id {nurse_id}")
    return nurse


def nurse_by_username(s: Session, username: str) -> Nurse:
    name = normalize_username(username)
    row = s.exec(select(Nurse).join(User, col(User.id) == col(Nurse.user_id)).where(User.username == name)).first()
    if row is None:
        raise UnknownNurse(f"{name!r} is not registered as a nurse (`vardlinje nurse add`)")
    return row


def update_skills(s: Session, nurse_id: int, skills: Mapping[str, int], *,
                  vocabulary: Mapping[str, int], at: datetime) -> Nurse:
    """Replace the nurse's skills (all of them: a skill left out is removed)."""
    nurse = get_nurse(s, nurse_id)
    nurse.skills = check_skills(skills, vocabulary)
    nurse.updated_at = utc(at)
    s.add(nurse)
    s.flush()
    return nurse


def rotate_secret(s: Session, nurse_id: int, *, at: datetime) -> Nurse:
    """A new SIP secret; push the nurse to Asterisk afterwards, or her softphone keeps the old one."""
    nurse = get_nurse(s, nurse_id)
    nurse.sip_secret = new_secret()
    nurse.updated_at = utc(at)
    s.add(nurse)
    s.flush()
    return nurse


def set_active(s: Session, nurse_id: int, active: bool, *, at: datetime, by: str) -> Nurse:
    """Deactivate (or reactivate) a nurse. A deactivated nurse is logged out first, which the state
    machine refuses while she is offered a call or on one."""
    nurse = get_nurse(s, nurse_id, for_update=True)
    if not active and nurse.presence_state != State.LOGGED_OUT.value:
        apply_presence(s, nurse_id, Event.LOGOUT, at, by=by)
    nurse.active = active
    nurse.updated_at = utc(at)
    s.add(nurse)
    s.flush()
    return nurse


def apply_presence(
    s: Session,
    nurse_id: int,
    event: Event,
    at: datetime,
    *,
    reason: PauseReason | None = None,
    call_id: str | None = None,
    by: str,
) -> Presence:
    """Apply one presence event through the state machine; store the change and the new current
    presence. `InvalidTransition` from the state machine is raised unchanged and nothing is stored."""
    if not by.strip():
        raise AgentError("a presence change needs who caused it (`by`)")
    at = utc(at)
    nurse = get_nurse(s, nurse_id, for_update=True)
    if not nurse.active and event is Event.LOGIN:
        raise AgentError(f"nurse {nurse.endpoint} is deactivated and cannot log in")
    before = nurse.presence()
    after = transition(before, event, at, reason=reason, call_id=call_id)
    nurse.presence_state = after.state.value
    nurse.presence_since = after.since
    nurse.presence_reason = after.reason.value if after.reason else None
    nurse.presence_call_id = after.call_id
    s.add(nurse)
    s.add(PresenceChange(nurse_id=nurse_id, at=at, from_state=before.state.value, to_state=after.state.value,
                         event=event.value, reason=nurse.presence_reason,
                         # The call the change concerns: also the one just missed, cancelled or wrapped up.
                         call_id=after.call_id or call_id or before.call_id, by=by.strip()[:100]))
    s.flush()
    return after


def day_bounds(day: date, tz: ZoneInfo = STOCKHOLM) -> tuple[datetime, datetime]:
    """The local day as a UTC half-open interval (23 or 25 hours on DST change days)."""
    start = datetime.combine(day, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def presence_today(s: Session, nurse_id: int, day: date, tz: ZoneInfo = STOCKHOLM) -> list[PresenceChange]:
    """The nurse's presence changes on the local `day`, in the order they happened."""
    get_nurse(s, nurse_id)
    start, end = day_bounds(day, tz)
    rows = s.exec(select(PresenceChange).where(PresenceChange.nurse_id == nurse_id,
                                               col(PresenceChange.at) >= start, col(PresenceChange.at) < end)
                  .order_by(col(PresenceChange.at), col(PresenceChange.id)))
    return list(rows)


def nurses(s: Session, region: str | None = None, *, include_inactive: bool = False) -> list[Nurse]:
    """Nurses who answer for `region` (home or served), or all; active ones unless asked."""
    query = select(Nurse).order_by(col(Nurse.id))
    if not include_inactive:
        query = query.where(col(Nurse.active).is_(True))
    rows = list(s.exec(query))
    if region is None:
        return rows
    # served_regions is JSON; a handful of nurses per region makes filtering here the portable way.
    return [n for n in rows if n.home_region == region or region in n.served_regions]


def usernames(s: Session, rows: Iterable[Nurse]) -> dict[int, str]:
    """user id → username for the given nurses (for listings)."""
    ids = {n.user_id for n in rows}
    if not ids:
        return {}
    return {u.id: u.username for u in s.exec(select(User).where(col(User.id).in_(ids))) if u.id is not None}
