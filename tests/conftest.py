"""Fixtures that start the real parts: a private Redis, a private PostgreSQL cluster, SQLite
files, and the real Asterisk 22 from the private root.

A missing part is a failure, never a skip: `make test` installs everything, so a missing
part means the setup is broken and CI must say so.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from telephony.asterisk.private import AsteriskSetupError, PrivateAsterisk
from telephony.media import PromptStore
from vardlinje import procs
from vardlinje.db import Database
from vardlinje.migrate import upgrade


def _need(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: {hint} (make test installs it)", pytrace=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need("redis-server", "apt-get install redis-server")
    proc, url = procs.start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    procs.stop(proc)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    if not (procs.PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 server is missing: apt-get install postgresql", pytrace=False)
    # Not under pytest's 0700 temp root: the postgres user must reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix="vardlinje-pg-"))
    try:
        proc, url = procs.start_postgres(directory)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    yield url
    procs.stop(proc)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
        upgrade(url)
        yield url
        return
    server: str = request.getfixturevalue("pg_server")
    name = f"t_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database.from_url(db_url)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def asterisk() -> Iterator[PrivateAsterisk]:
    """The real Asterisk 22, one per test session, with its own ports and configuration."""
    _need("unshare", "apt-get install util-linux")
    try:
        ast = PrivateAsterisk.create(run_name="pytest")
        # Every prompt, so the dialplan's fallback messages exist before the first call.
        PromptStore(ast.sounds_dir, str(ast.config.sounds)).render()
        ast.start()
    except AsteriskSetupError as exc:
        pytest.fail(f"Asterisk could not start: {exc}", pytrace=False)
    yield ast
    ast.stop()


@pytest.fixture(scope="session")
def sipp() -> str:
    _need("sipp", "apt-get install sip-tester")
    return shutil.which("sipp") or "sipp"
