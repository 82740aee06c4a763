"""What every CLI command that touches the database shares: the configured database, and
failures turned into one clear line instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from .db import Database
from .settings import SettingsError, load_settings

T = TypeVar("T")


def database() -> Database:
    try:
        return Database.from_url(load_settings().database_url)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def run_in_db(
    fn: Callable[[Session], T],
    *,
    db: Database | None = None,
    clear_errors: tuple[type[Exception], ...] = (),
) -> T:
    """Run `fn` in one transaction; `clear_errors` are shown as their message."""
    own = db is None
    db = db or database()
    try:
        return db.run_sync(fn)
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise click.ClickException(f"database error: {first} (is the schema migrated? `vardlinje db upgrade`)") from exc
    except clear_errors as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if own:
            db.dispose()
