"""`vardlinje routing crisis status|on|off`: the national crisis switch from the command line.
The main CLI adds `crisis_group` under its `routing` group.

The commands change the same state as the admin API (`routing.crisis.CrisisSwitch`): the change is
logged in the database of the settings (VARDLINJE_DATABASE_URL) and announced on their Redis
(VARDLINJE_REDIS_URL), so running instances redirect calls at once. Errors are one line each,
exit status 1, no tracebacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from config.hours import local
from vardlinje.cliutil import database
from vardlinje.settings import SettingsError, load_settings

from .crisis import (
    CrisisError,
    CrisisState,
    CrisisSwitch,
    LoggedChange,
    SwitchBusy,
    region_label,
    state_from_log,
)
from .model import CRISIS_ALL

T = TypeVar("T")


def _time(at: datetime) -> str:
    return local(at).strftime("%Y-%m-%d %H:%M %Z")


def _regions(regions: tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(region_label(r) for r in sorted(regions)) or "none"


def _run(work: Callable[[CrisisSwitch], Awaitable[T]]) -> T:
    """`work` on a switch over the settings' database and Redis; failures as one clear line."""
    try:
        redis_url = load_settings().redis_url
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    db = database()

    async def go() -> T:
        redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        try:
            return await work(CrisisSwitch(db, redis))
        finally:
            await redis.aclose()

    try:
        return asyncio.run(go())
    except CrisisError as exc:
        raise click.ClickException(str(exc)) from exc
    except SwitchBusy as exc:
        raise click.ClickException(str(exc)) from exc
    except (RedisError, OSError) as exc:
        raise click.ClickException(f"Redis failed ({exc}); is VARDLINJE_REDIS_URL right and Redis running?") from exc
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise click.ClickException(f"database error: {first} (is the schema migrated? `vardlinje db upgrade`)") from exc
    finally:
        db.dispose()


def _echo_state(state: CrisisState) -> None:
    if not state.redirects:
        click.echo("No region is redirected to the national queue.")
        return
    click.echo("Redirected to the national queue:")
    for r in state.redirects:
        click.echo(f"  {region_label(r.region)}: since {_time(r.since)} by {r.by}: {r.reason}")


def _echo_change(change: LoggedChange) -> None:
    verb = "ON " if change.active else "OFF"
    click.echo(f"  #{change.id:<4} {_time(change.at)}  {verb}  {_regions(change.regions)}  by {change.by}: "
               f"{change.reason}")


@click.group("crisis")
def crisis_group() -> None:
    """The national crisis switch: redirect regions' calls to the national queue."""


@crisis_group.command("status")
@click.option("--last", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="how many of the latest changes to list")
def status_command(last: int) -> None:
    """The redirected regions with who, when and why, and the latest changes."""

    async def work(switch: CrisisSwitch) -> tuple[CrisisState, list[LoggedChange], str]:
        try:
            state, note = await switch.current(), ""
        except (RedisError, OSError) as exc:
            # The log is the truth: show what it says, and that the live state could not be read.
            state = await switch.db.run(state_from_log)
            note = f"note: Redis failed ({exc}); the state shown is the log's"
        return state, (await switch.recent(last) if last else []), note

    state, changes, note = _run(work)
    if note:
        click.echo(note, err=True)
    _echo_state(state)
    if last:
        click.echo(f"\nLatest changes ({len(changes)}):" if changes else "\nNo changes logged.")
        for change in changes:
            _echo_change(change)


def _targets(regions: tuple[str, ...], all_regions: bool) -> list[str]:
    if all_regions and regions:
        raise click.UsageError("give --region (repeatable) or --all, not both")
    if not all_regions and not regions:
        raise click.UsageError("give --region (repeatable) or --all")
    return [CRISIS_ALL] if all_regions else list(regions)


def _switch(regions: tuple[str, ...], all_regions: bool, active: bool, by: str, reason: str) -> None:
    targets = _targets(regions, all_regions)
    switched = _run(lambda switch: switch.set(targets, active, by, reason, datetime.now(UTC)))
    change, state = switched.change, switched.state
    if active:
        click.echo(f"redirected to the national queue: {_regions(change.regions)} (change #{change.id})")
    else:
        click.echo(f"back to normal routing: {_regions(change.regions)} (change #{change.id})")
    click.echo(f"redirected now: {_regions(state.regions)}")


_region_option = click.option("--region", "regions", multiple=True, metavar="CODE",
                              help="a county code, e.g. 01 (repeatable)")
_all_option = click.option("--all", "all_regions", is_flag=True, help="every region")
_by_option = click.option("--by", required=True, metavar="USER", help="who makes the change (logged)")
_reason_option = click.option("--reason", required=True, help="why (logged)")


@crisis_group.command("on")
@_region_option
@_all_option
@_by_option
@_reason_option
def on_command(regions: tuple[str, ...], all_regions: bool, by: str, reason: str) -> None:
    """Redirect the regions' calls (also those waiting now) to the national queue."""
    _switch(regions, all_regions, True, by, reason)


@crisis_group.command("off")
@_region_option
@_all_option
@_by_option
@_reason_option
def off_command(regions: tuple[str, ...], all_regions: bool, by: str, reason: str) -> None:
    """End the regions' redirect: their calls (also those waiting now) are routed as usual again."""
    _switch(regions, all_regions, False, by, reason)
