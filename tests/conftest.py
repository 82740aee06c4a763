"""Fixtures that start the real parts: a private Redis, a private PostgreSQL cluster, SQLite
files, and the real Asterisk 22 from the private root.

A missing part is a failure, never a skip: `make test` installs everything, so a missing
part means the setup is broken and CI must say so.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
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
    _remove_stale_clusters()
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


def _remove_stale_clusters() -> None:
    """Clusters of test runs that were killed (their postgres died with them)."""
    for directory in Path(tempfile.gettempdir()).glob("vardlinje-pg-*"):
        pid_file = directory / "data" / "postmaster.pid"
        try:
            # A standalone backend (initdb's bootstrap, running right now in another worker) writes its pid negated.
            pid = abs(int(pid_file.read_text().split()[0]))
            alive = Path(f"/proc/{pid}").exists()
        except (OSError, ValueError, IndexError):
            alive = time.time() - directory.stat().st_mtime < 120
        if not alive:
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


_REAL_PART_RESULTS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "asterisk" in report.keywords:
        _REAL_PART_RESULTS.append((report.nodeid, report.outcome))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly which tests ran against the real Asterisk 22 and sipp, so a green run
    cannot hide that they did not run."""
    if not _REAL_PART_RESULTS:
        return
    terminalreporter.section("real Asterisk 22 + sipp tests")
    for nodeid, outcome in _REAL_PART_RESULTS:
        terminalreporter.write_line(f"{outcome.upper():8} {nodeid}")
