"""Alembic driven from the app: `upgrade`, `current`, `is_current` against the settings' URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

import migrations

from .db import make_engine

SCRIPT_DIR = Path(migrations.__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(SCRIPT_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(SCRIPT_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(url: str) -> tuple[bool, str | None, str | None]:
    engine = make_engine(url)
    try:
        cur = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision(url)
    return cur == head, cur, head
