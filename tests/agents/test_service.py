"""The registry on SQLite and PostgreSQL: registration rules, presence history, append-only log."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from agents import service
from agents.errors import AgentError, AlreadyRegistered, InvalidRegion, InvalidSkills, NotANurse
from agents.models import Nurse
from agents.presence import Event, InvalidTransition, PauseReason, State
from config.loader import load_valid_config
from identity.models import User
from identity.service import aware
from vardlinje.db import Database

from .conftest import T0, VOCABULARY, Seed, seed


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    assert user is not None
    return user


def _id(nurse: Nurse) -> int:
    assert nurse.id is not None
    return nurse.id


def _register(database: Database, ids: Seed, **kwargs: object) -> Nurse:
    args: dict[str, object] = {"home_region": "01", "skills": {"triage": 2, "barn": 1}, "served_regions": ["03"]}
    args.update(kwargs)

    def work(s: Session) -> Nurse:
        return service.create_nurse(s, _user(s, ids.nurse_user_id), vocabulary=VOCABULARY, at=T0,
                                    **args)  # type: ignore[arg-type]

    return database.run_sync(work)


def test_create_nurse_names_the_endpoint_and_starts_logged_out(database: Database) -> None:
    """A registered nurse gets endpoint nurse-<id>, a long random secret, home first in her regions."""
    nurse = _register(database, seed(database))
    assert nurse.endpoint == f"nurse-{_id(nurse)}"
    assert len(nurse.sip_secret) >= 32 and nurse.sip_secret not in repr(nurse)
    assert nurse.served_regions == ["01", "03"] and nurse.skills == {"barn": 1, "triage": 2}
    assert nurse.presence().state is State.LOGGED_OUT and nurse.presence().since == T0
    listed = database.run_sync(lambda s: [n.endpoint for n in service.nurses(s, "03")])
    assert listed == [nurse.endpoint]
    assert database.run_sync(lambda s: service.nurses(s, "05")) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"home_region": "99"}, InvalidRegion, "unknown region(s): 99"),
        ({"served_regions": ["05"]}, InvalidRegion, "does not work for region(s) 05"),
        ({"skills": {"kirurgi": 1}}, InvalidSkills, "unknown skill 'kirurgi'"),
        ({"skills": {"barn": 4}}, InvalidSkills, "skill 'barn' has levels 1 … 3, not 4"),
        ({"skills": {"triage": 0}}, InvalidSkills, "levels 1 … 5, not 0"),
    ],
)
def test_create_nurse_refuses_bad_input(database: Database, kwargs: dict[str, object], error: type[Exception],
                                        fragment: str) -> None:
    """Unknown regions, regions the user does not work for, unknown skills and levels out of range."""
    ids = seed(database)
    with pytest.raises(error) as info:
        _register(database, ids, **kwargs)
    assert fragment in str(info.value)


def test_only_nurses_and_only_once(database: Database) -> None:
    """A supervisor cannot be registered; a nurse user only once."""
    ids = seed(database)
    with pytest.raises(NotANurse, match="nurse role"):
        database.run_sync(lambda s: service.create_nurse(s, _user(s, ids.supervisor_id), "01", {},
                                                         vocabulary=VOCABULARY, at=T0))
    _register(database, ids)
    with pytest.raises(AlreadyRegistered):
        _register(database, ids)


def test_vocabulary_from_the_shipped_configuration() -> None:
    """The national skills give the vocabulary with each skill's highest level."""
    vocabulary = service.skill_vocabulary(load_valid_config().national.skills)  # type: ignore[union-attr]
    assert vocabulary["triage"] == 5 and "barn" in vocabulary


def test_update_skills_replaces_them(database: Database) -> None:
    """update_skills validates and replaces the whole set, moving updated_at."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    later = T0 + timedelta(hours=1)
    got = database.run_sync(lambda s: service.update_skills(s, nid, {"sprak_en": 2},
                                                            vocabulary=VOCABULARY, at=later))
    assert got.skills == {"sprak_en": 2} and aware(got.updated_at) == later
    with pytest.raises(InvalidSkills):
        database.run_sync(lambda s: service.update_skills(s, nid, {"sprak_en": 3},
                                                          vocabulary=VOCABULARY, at=later))


def test_presence_history_is_stored_in_order(database: Database) -> None:
    """A working morning is stored change by change, and the nurse row carries the last one."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    steps: list[tuple[Event, dict[str, object]]] = [
        (Event.LOGIN, {}), (Event.READY, {}), (Event.OFFER, {"call_id": "call-1", "by": "routing"}),
        (Event.MISSED, {"by": "routing"}), (Event.READY, {}), (Event.OFFER, {"call_id": "call-2", "by": "routing"}),
        (Event.ANSWER, {"by": "routing"}), (Event.HANGUP, {"by": "routing"}), (Event.WRAP_DONE, {"by": "system"}),
        (Event.PAUSE, {"reason": PauseReason.BREAK}),
    ]
    for minute, (event, extra) in enumerate(steps):
        kwargs = {"by": "anna", **extra}
        database.run_sync(lambda s, e=event, k=kwargs, m=minute: service.apply_presence(  # type: ignore[misc]
            s, nid, e, T0 + timedelta(minutes=m), **k))
    changes = database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 11, 30)))
    assert [(c.from_state, c.event, c.to_state) for c in changes] == [
        ("logged_out", "login", "paused"), ("paused", "ready", "ready"), ("ready", "offer", "offered"),
        ("offered", "missed", "paused"), ("paused", "ready", "ready"), ("ready", "offer", "offered"),
        ("offered", "answer", "on_call"), ("on_call", "hangup", "wrap_up"), ("wrap_up", "wrap_done", "ready"),
        ("ready", "pause", "paused")]
    assert [c.reason for c in changes][:4] == ["administration", None, None, "missed_offer"]
    assert changes[3].call_id == "call-1" and changes[7].call_id == "call-2" and changes[3].by == "routing"
    assert [aware(c.at) for c in changes] == [T0 + timedelta(minutes=m) for m in range(len(steps))]
    now = database.run_sync(lambda s: service.get_nurse(s, nid).presence())
    assert (now.state, now.reason, now.since) == (State.PAUSED, PauseReason.BREAK, T0 + timedelta(minutes=9))
    assert database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 12, 1))) == []


def test_refused_event_stores_nothing(database: Database) -> None:
    """InvalidTransition comes through unchanged and leaves no change and no new presence behind."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    with pytest.raises(InvalidTransition, match="ready is not possible while logged_out"):
        database.run_sync(lambda s: service.apply_presence(s, nid, Event.READY, T0, by="anna"))
    with pytest.raises(AgentError, match="who caused it"):
        database.run_sync(lambda s: service.apply_presence(s, nid, Event.LOGIN, T0, by=" "))
    assert database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 11, 30))) == []
    assert database.run_sync(lambda s: service.get_nurse(s, nid).presence_state) == "logged_out"


def test_presence_day_follows_stockholm_time(database: Database) -> None:
    """A change at 23:30 UTC belongs to the next Swedish day."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    late = T0.replace(hour=23, minute=30)
    database.run_sync(lambda s: service.apply_presence(s, nid, Event.LOGIN, late, by="anna"))
    assert database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 11, 30))) == []
    assert len(database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 12, 1)))) == 1


def test_deactivation_logs_out_and_blocks_login(database: Database) -> None:
    """Deactivating a ready nurse logs her out (stored as a change); she cannot log in again."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    database.run_sync(lambda s: service.apply_presence(s, nid, Event.LOGIN, T0, by="anna"))
    database.run_sync(lambda s: service.set_active(s, nid, False, at=T0, by="sven"))
    assert database.run_sync(lambda s: service.nurses(s)) == []
    with pytest.raises(AgentError, match="deactivated"):
        database.run_sync(lambda s: service.apply_presence(s, nid, Event.LOGIN, T0, by="anna"))
    changes = database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 11, 30)))
    assert [(c.event, c.by) for c in changes] == [("login", "anna"), ("logout", "sven")]


def test_presence_change_is_append_only_in_the_database(database: Database) -> None:
    """The database itself refuses UPDATE and DELETE of presence changes."""
    nurse = _register(database, seed(database))
    nid = _id(nurse)
    database.run_sync(lambda s: service.apply_presence(s, nid, Event.LOGIN, T0, by="anna"))
    for statement in ("UPDATE presence_change SET to_state = 'ready'", "DELETE FROM presence_change"):
        with pytest.raises(DBAPIError, match="append-only"):
            database.run_sync(lambda s, q=statement: s.connection().execute(text(q)))  # type: ignore[misc]
    assert len(database.run_sync(lambda s: service.presence_today(s, nid, date(2026, 11, 30)))) == 1
