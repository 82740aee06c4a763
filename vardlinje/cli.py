"""`vardlinje`: the command line. Each command loads and validates the settings first, so a
bad setting is reported by name before anything starts."""

from __future__ import annotations

import asyncio
import sys

import click

from .logs import setup_logging
from .settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """Vårdlinje: nurse advice phone line (1177-style)."""


@main.command()
def run() -> None:
    """Start Redis, Asterisk and the app; Ctrl-C stops all of it."""
    from .runner import RunError
    from .runner import run as run_stack

    settings = _settings()
    setup_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_stack(settings))
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("number", default="1177")
@click.option("--caller", default="+46812345678", show_default=True,
              help="the caller's number (default: a Stockholm number, so the call is region 01's)")
@click.option("--keys", default="", help="keys to press in order, comma-separated, e.g. 1,2,2")
@click.option("--hold", type=float, default=None,
              help="seconds to stay on after the last key, then hang up; default: stay until the far end hangs up "
                   "(a nurse in the desktop, or the menu), at most 10 minutes")
def call(number: str, caller: str, keys: str, hold: float | None) -> None:
    """Place a test call into the running stack with sipp and show what happened."""
    from .runner import RunError, call_from_state

    pressed = [k.strip() for k in keys.split(",") if k.strip()]
    for k in pressed:
        if any(c not in "0123456789*#" for c in k):
            raise click.BadParameter(f"{k!r}: keys are 0-9, * and #", param_hint="--keys")
    try:
        sys.exit(call_from_state(_settings(), number, caller, pressed, hold))
    except RunError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
def doctor() -> None:
    """Check every dependency and say what is wrong and how to fix it."""
    from .doctor import run_checks

    ok = asyncio.run(run_checks(_settings()))
    sys.exit(0 if ok else 1)


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from .migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one."""
    from .migrate import is_current

    current, rev, head = is_current(_settings().database_url)
    click.echo(f"database: {rev or 'empty'}; newest: {head}; {'current' if current else 'needs `vardlinje db upgrade`'}")


def _register_commands() -> None:
    from advice.cli import advice_group
    from agents.cli import nurse_group
    from catalog.cli import catalog_group
    from config.cli import config_group
    from identity.cli import user_group
    from ivr.cli import ivr_group
    from journal.cli import journal_group
    from routing.cli import routing_group
    from routing.crisis_cli import crisis_group
    from sms.cli import sms_group

    main.add_command(user_group)
    main.add_command(sms_group)
    main.add_command(config_group)
    main.add_command(ivr_group)
    main.add_command(nurse_group)
    routing_group.add_command(crisis_group)  # vardlinje routing crisis … (docs/crisis.md)
    main.add_command(routing_group)
    main.add_command(advice_group)
    main.add_command(journal_group)
    main.add_command(catalog_group)


_register_commands()
