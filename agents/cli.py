"""`vardlinje nurse …`: register nurses, list them, show a day's presence changes.

The database is the one in the settings. The skills vocabulary is the stored (versioned)
national configuration when there is one, else the configuration files (`--config-dir`, the
settings' config_dir, or the shipped files). Errors are one line, exit status 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlmodel import Session

from config import store
from config.loader import ConfigError, load_valid_config
from identity.errors import IdentityError
from identity.service import aware, require_user
from vardlinje.cliutil import run_in_db
from vardlinje.db import utcnow
from vardlinje.settings import SettingsError, load_settings

from . import notify, service
from .errors import AgentError
from .models import Nurse, PresenceChange
from .presence import Event, InvalidTransition, PauseReason

T = TypeVar("T")


def _run_db(fn: Callable[[Session], T]) -> T:
    return run_in_db(fn, clear_errors=(AgentError, IdentityError, InvalidTransition, ConfigError))


def _vocabulary(s: Session, config_dir: Path | None) -> dict[str, int]:
    if config_dir is None and store.current_numbers(s):
        cs, _ = store.load_current(s)
    else:
        if config_dir is None:
            try:
                config_dir = load_settings().config_dir
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from exc
        cs = load_valid_config(config_dir)
    assert cs.national is not None  # a valid set has its national file
    return service.skill_vocabulary(cs.national.skills)


def _parse_skills(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    skills: dict[str, int] = {}
    for value in values:
        name, sep, level = value.partition("=")
        if not sep or not name.strip() or not level.strip().isdigit():
            raise click.BadParameter(f"{value!r}: write SKILL=LEVEL, e.g. triage=2", param=param)
        if name.strip() in skills:
            raise click.BadParameter(f"skill {name.strip()!r} given twice", param=param)
        skills[name.strip()] = int(level)
    return skills


def _skills_text(skills: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(skills.items())) or "-"


config_dir_option = click.option("--config-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                                  help="read the skills vocabulary from these files instead of the stored configuration")
skill_option = click.option("--skill", "skills", multiple=True, callback=_parse_skills,
                            help="SKILL=LEVEL from the national vocabulary, e.g. triage=2; repeatable")


def _announce(endpoint: str) -> None:
    """Tell a running app at once (it pushes the endpoint to Asterisk and the profile to routing)."""
    try:
        url = load_settings().redis_url
    except SettingsError as exc:  # the change itself is saved; only the announcement is impossible
        click.echo(f"Saved, but no running system could be told ({exc}).", err=True)
        return
    if asyncio.run(notify.announce(url, endpoint)):
        click.echo("The running system was told; her endpoint and profile are updated now.", err=True)
    else:
        click.echo("No running system answered; her endpoint is pushed when Vårdlinje starts.", err=True)


phone_option = click.option("--phone", type=click.Choice(sorted(service.PHONES)), default="ws", show_default=True,
                            help="ws: the browser softphone; udp: a SIP phone on the network (desk phone)")


@click.group("nurse")
def nurse_group() -> None:
    """Nurses: registry, skills and presence."""


@nurse_group.command("add")
@click.argument("username")
@click.option("--home", "home", required=True, help='home region (county code), e.g. "01"')
@skill_option
@click.option("--serves", "serves", multiple=True, help="another region she answers for; repeatable")
@phone_option
@config_dir_option
def add_command(username: str, home: str, skills: dict[str, int], serves: tuple[str, ...], phone: str,
                config_dir: Path | None) -> None:
    """Register the existing user USERNAME (role nurse) as a nurse with her phone's endpoint."""

    def work(s: Session) -> Nurse:
        vocabulary = _vocabulary(s, config_dir)
        user = require_user(s, username)
        return service.create_nurse(s, user, home, skills, list(serves), vocabulary=vocabulary, at=utcnow(),
                                    phone=phone)

    nurse = _run_db(work)
    click.echo(f"registered nurse {username.strip().casefold()} (id {nurse.id}), endpoint {nurse.endpoint}, "
               f"home {nurse.home_region}, serves {', '.join(nurse.served_regions)}, skills {_skills_text(nurse.skills)}")
    _announce(nurse.endpoint)


@nurse_group.command("skills")
@click.argument("username")
@skill_option
@config_dir_option
def skills_command(username: str, skills: dict[str, int], config_dir: Path | None) -> None:
    """Replace USERNAME's skills with the ones given."""

    def work(s: Session) -> Nurse:
        vocabulary = _vocabulary(s, config_dir)
        nurse = service.nurse_by_username(s, username)
        assert nurse.id is not None
        return service.update_skills(s, nurse.id, skills, vocabulary=vocabulary, at=utcnow())

    nurse = _run_db(work)
    click.echo(f"skills of {nurse.endpoint}: {_skills_text(nurse.skills)}")
    _announce(nurse.endpoint)


@nurse_group.command("list")
@click.option("--region", default=None, help="only nurses who answer for this region (home or served)")
@click.option("--all", "include_inactive", is_flag=True, help="include deactivated nurses")
def list_command(region: str | None, include_inactive: bool) -> None:
    """The nurses with their regions, skills and current presence."""

    def work(s: Session) -> list[tuple[Nurse, str]]:
        rows = service.nurses(s, region, include_inactive=include_inactive)
        names = service.usernames(s, rows)
        return [(n, names.get(n.user_id, "?")) for n in rows]

    rows = _run_db(work)
    if not rows:
        click.echo("no nurses" + (f" for region {region}" if region else ""))
        return
    click.echo(f"{'username':<20} {'endpoint':<12} {'home':<5} {'serves':<12} {'presence':<22} skills")
    for nurse, name in rows:
        presence = nurse.presence_state + (f"({nurse.presence_reason})" if nurse.presence_reason else "")
        flag = "" if nurse.active else " [inactive]"
        click.echo(f"{name:<20} {nurse.endpoint:<12} {nurse.home_region:<5} {','.join(nurse.served_regions):<12} "
                   f"{presence:<22} {_skills_text(nurse.skills)}{flag}")


@nurse_group.command("presence")
@click.argument("username")
@click.option("--day", "day_text", default=None, help="local day (Europe/Stockholm) as YYYY-MM-DD; default today")
def presence_command(username: str, day_text: str | None) -> None:
    """USERNAME's presence changes of one day (local time) and her presence now."""
    try:
        day = date.fromisoformat(day_text) if day_text else datetime.now(service.STOCKHOLM).date()
    except ValueError as exc:
        raise click.BadParameter(f"{day_text!r} is not a date like 2026-11-30", param_hint="--day") from exc

    def work(s: Session) -> tuple[Nurse, list[PresenceChange]]:
        nurse = service.nurse_by_username(s, username)
        assert nurse.id is not None
        return nurse, service.presence_today(s, nurse.id, day)

    nurse, changes = _run_db(work)
    now = nurse.presence()
    local_since = now.since.astimezone(service.STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"{nurse.endpoint} is {now.state.value}" + (f" ({now.reason.value})" if now.reason else "")
               + f" since {local_since}")
    if not changes:
        click.echo(f"no presence changes on {day.isoformat()}")
        return
    for change in changes:
        at = aware(change.at).astimezone(service.STOCKHOLM).strftime("%H:%M:%S")
        extra = "".join(f" {k}={v}" for k, v in (("reason", change.reason), ("call", change.call_id)) if v)
        click.echo(f"{at}  {change.from_state:>10} → {change.to_state:<10} {change.event}{extra} by {change.by}")


@nurse_group.command("phone")
@click.argument("username")
@click.option("--set", "kind", type=click.Choice(sorted(service.PHONES)), default=None,
              help="change the kind of phone her endpoint serves")
@click.option("--show-secret", is_flag=True, help="print the SIP password (to configure a desk phone)")
def phone_command(username: str, kind: str | None, show_secret: bool) -> None:
    """USERNAME's SIP account: endpoint, kind of phone and (asked for) the password."""

    def work(s: Session) -> Nurse:
        nurse = service.nurse_by_username(s, username)
        assert nurse.id is not None
        return service.set_phone(s, nurse.id, kind, at=utcnow()) if kind else nurse

    nurse = _run_db(work)
    click.echo(f"endpoint {nurse.endpoint} (user name and auth user), phone {nurse.phone}: {service.PHONES[nurse.phone]}")
    if show_secret:
        click.echo(f"password {nurse.sip_secret}")
    if kind:
        _announce(nurse.endpoint)


def _presence(username: str, event: Event, reason: PauseReason | None = None) -> None:
    """Apply a presence event to the running system's routing store and the registry; with no
    Redis answering (the app is not running), to the registry only: the next start takes the newer."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from routing import presence as live
    from routing.redis_store import RedisStore
    from vardlinje.cliutil import database

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    nurse = _run_db(lambda s: service.nurse_by_username(s, username))
    nurse_id = nurse.id or 0
    by = f"cli:{username.strip().casefold()}"
    db = database()

    async def work() -> str:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        try:
            try:
                await redis.ping()
            except (RedisError, OSError):
                after = await db.run(lambda s: service.apply_presence(s, nurse_id, event, utcnow(), reason=reason, by=by))
                return (f"{nurse.endpoint} is {after.state.value} (registry only: no Redis answers at "
                        f"{settings.redis_url}, so no running system was told)")
            store = RedisStore(redis)
            try:
                state = await live.change(db, store, nurse.endpoint, event, utcnow(), reason=reason, by=by)
            except (InvalidTransition, AgentError, LookupError):
                raise
            except Exception as exc:
                # The store (what routing acts on) may have changed even if the registry did not.
                now = await store.get_nurse(nurse.endpoint)
                raise click.ClickException(
                    f"the change could not be recorded in the registry ({exc}); routing has "
                    f"{nurse.endpoint} as {now.state.value if now else 'unknown'}") from exc
            return f"{nurse.endpoint} is {state.state.value}" + (f" ({state.reason.value})" if state.reason else "")
        finally:
            await redis.aclose()

    try:
        click.echo(asyncio.run(work()))
    except (InvalidTransition, AgentError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()


@nurse_group.command("login")
@click.argument("username")
def login_command(username: str) -> None:
    """Log USERNAME in; she starts paused (administration) until she makes herself ready."""
    _presence(username, Event.LOGIN)


@nurse_group.command("ready")
@click.argument("username")
def ready_command(username: str) -> None:
    """Make USERNAME ready for calls."""
    _presence(username, Event.READY)


@nurse_group.command("pause")
@click.argument("username")
@click.option("--reason", required=True,
              type=click.Choice([r.value for r in PauseReason if r is not PauseReason.MISSED_OFFER]))
def pause_command(username: str, reason: str) -> None:
    """Pause USERNAME (not while a call is offered to her or she is on one)."""
    _presence(username, Event.PAUSE, PauseReason(reason))


@nurse_group.command("logout")
@click.argument("username")
def logout_command(username: str) -> None:
    """Log USERNAME out (not while a call is offered to her or she is on one)."""
    _presence(username, Event.LOGOUT)
