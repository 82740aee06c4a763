"""`vardlinje config …`: the configuration commands. The main CLI adds `config_group`.

`check` validates files; `import`, `export`, `versions` and `rollback` work on the versioned
configuration in the database of the settings (VARDLINJE_DATABASE_URL). Errors are one line each,
exit status 1, no tracebacks.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from redis.asyncio import Redis

from vardlinje.cliutil import database, run_in_db
from vardlinje.settings import load_settings

from . import store
from .check import check
from .live import publish_change
from .loader import ConfigError, ConfigIssue, load_config

T = TypeVar("T")


def run_check(directory: Path | None) -> tuple[list[ConfigIssue], str, int]:
    """Load and check a directory: (issues, summary line, exit status)."""
    cs = load_config(directory)
    issues = cs.issues + check(cs)
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    national = "national file" if cs.national is not None else "no valid national file"
    summary = (f"{len(cs.regions)} regions, {national}: {errors} error{'s' if errors != 1 else ''}, "
               f"{warnings} warning{'s' if warnings != 1 else ''}")
    return issues, summary, 1 if errors else 0


@click.group("config")
def config_group() -> None:
    """Region and national configuration files."""


@config_group.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--errors-only", is_flag=True, help="do not print warnings")
def check_command(directory: Path | None, errors_only: bool) -> None:
    """Validate DIRECTORY (default: the configuration shipped with Vårdlinje).

    Prints every problem as FILE: PATH: message, then a summary; exits with status 1 when there are
    errors (warnings alone exit 0)."""
    issues, summary, status = run_check(directory)
    for issue in issues:
        if errors_only and issue.severity != "error":
            continue
        click.echo(str(issue))
    click.echo(summary)
    sys.exit(status)


# --- the versioned configuration in the database ------------------------------------------------------


def _announce(owners: list[tuple[str, int]]) -> None:
    """Tell running instances (best effort: they also poll the database)."""
    if not owners:
        return

    async def send() -> None:
        # The one line below says it better than publish_change's log warning would.
        logging.getLogger("vardlinje.config").setLevel(logging.ERROR)
        redis = Redis.from_url(load_settings().redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            for owner, version in owners:
                if not await publish_change(redis, owner, version):
                    click.echo("note: Redis did not answer; running instances pick the change up within a minute")
                    return
        finally:
            await redis.aclose()

    asyncio.run(send())


def _by() -> str:
    return f"cli:{getpass.getuser()}"


def _show_issues(exc: ConfigError) -> NoReturn:
    for issue in exc.issues:
        click.echo(str(issue), err=True)
    errors = sum(1 for i in exc.issues if i.severity == "error")
    raise click.ClickException(f"{errors} error{'s' if errors != 1 else ''}; nothing was stored")


@config_group.command("import")
@click.argument("directory", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True))
def import_command(directory: Path | None) -> None:
    """Seed the database from DIRECTORY (default: the shipped files).

    The files must pass `config check`; only files that differ from their current version get a
    new version. Prints the files that changed."""
    db = database()
    try:
        added = run_in_db(db=db, fn=lambda s: store.import_files(s, directory))
    except ConfigError as exc:
        _show_issues(exc)
    finally:
        db.dispose()
    for row in added:
        click.echo(f"{store.file_of(row.owner)}: version {row.version}")
    click.echo(f"{len(added)} file{'s' if len(added) != 1 else ''} changed" if added else "nothing changed")
    _announce([(row.owner, row.version) for row in added])


@config_group.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def export_command(directory: Path) -> None:
    """Write the current configuration to DIRECTORY as national.yaml and regions/<id>.yaml."""
    db = database()
    try:
        written = run_in_db(db=db, fn=lambda s: store.export_files(s, directory))
    except OSError as exc:
        raise click.ClickException(f"cannot write {directory}: {exc}") from exc
    finally:
        db.dispose()
    if not written:
        raise click.ClickException("the database holds no configuration: run `vardlinje config import` first")
    click.echo(f"{len(written)} files written to {directory}")


def _owner(owner: str) -> str:
    try:
        return store.require_owner(owner)
    except store.UnknownOwner as exc:
        raise click.BadParameter(str(exc), param_hint="OWNER") from exc


@config_group.command("versions")
@click.argument("owner")
def versions_command(owner: str) -> None:
    """The versions of OWNER (a county code such as 01, or national), newest first."""
    owner = _owner(owner)
    db = database()
    try:
        rows = run_in_db(db=db, fn=lambda s: store.history(s, owner))
    finally:
        db.dispose()
    if not rows:
        click.echo(f"no versions of {owner}: run `vardlinje config import`")
        return
    for index, row in enumerate(rows):
        at = row.to_json()["created_at"][:19].replace("T", " ")
        mark = "*" if index == 0 else " "
        comment = f"  {row.comment}" if row.comment else ""
        click.echo(f"{mark} {row.version:4}  {at} UTC  {row.created_by}{comment}")


@config_group.command("rollback")
@click.argument("owner")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--comment", default="", help="why (stored with the new version)")
def rollback_command(owner: str, version: int, comment: str) -> None:
    """Make a new version of OWNER with the content of VERSION (validated like any change)."""
    owner = _owner(owner)
    db = database()
    try:
        change = run_in_db(db=db, fn=lambda s: store.rollback(s, owner, version, _by(), datetime.now(UTC),
                                                   comment=store.clean_comment(comment),
                                                   recordings=load_settings().config_dir))
    except ConfigError as exc:
        _show_issues(exc)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    if not change.changed:
        click.echo(f"{owner}: version {version} has the same text as the current version {change.version.version}; "
                   "nothing changed")
        return
    click.echo(f"{owner}: version {change.version.version} (the content of version {version})")
    _announce([(owner, change.version.version)])
