"""The `nurse` CLI group against the real test databases."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from agents import service
from agents.cli import nurse_group
from agents.presence import Event
from config import store
from vardlinje.db import Database

from .conftest import seed


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> CliRunner:
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.delenv("VARDLINJE_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    return CliRunner()


def test_add_list_skills_and_presence(database: Database, runner: CliRunner) -> None:
    """`nurse add` registers with skills from the shipped vocabulary; list, skills and presence show it."""
    seed(database)
    result = runner.invoke(nurse_group, ["add", "Anna", "--home", "01", "--skill", "triage=2", "--skill", "barn=1",
                                         "--serves", "03"])
    assert result.exit_code == 0, result.output
    assert "registered nurse anna" in result.stdout and "endpoint nurse-1" in result.stdout
    assert "serves 01, 03" in result.stdout and "skills barn=1, triage=2" in result.stdout

    listed = runner.invoke(nurse_group, ["list", "--region", "03"])
    assert listed.exit_code == 0, listed.output
    assert "anna" in listed.output and "logged_out" in listed.output
    assert "no nurses for region 05" in runner.invoke(nurse_group, ["list", "--region", "05"]).output

    changed = runner.invoke(nurse_group, ["skills", "anna", "--skill", "sprak_en=2"])
    assert changed.exit_code == 0 and "sprak_en=2" in changed.output

    now = datetime.now(service.STOCKHOLM)
    database.run_sync(lambda s: service.apply_presence(s, 1, Event.LOGIN, now, by="anna"))
    database.run_sync(lambda s: service.apply_presence(s, 1, Event.READY, now, by="anna"))
    shown = runner.invoke(nurse_group, ["presence", "anna"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith("nurse-1 is ready since")
    assert "logged_out → paused" in lines[1] and "reason=administration by anna" in lines[1]
    assert "paused → ready" in lines[2]
    assert "no presence changes on 2026-01-01" in runner.invoke(nurse_group, ["presence", "anna", "--day",
                                                                              "2026-01-01"]).output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["add", "anna", "--home", "01", "--skill", "triage=9"], "skill 'triage' has levels 1 … 5, not 9"),
        (["add", "anna", "--home", "01", "--skill", "kirurgi=1"], "unknown skill 'kirurgi'"),
        (["add", "anna", "--home", "01", "--skill", "triage"], "write SKILL=LEVEL"),
        (["add", "anna", "--home", "05"], "does not work for region(s) 05"),
        (["add", "sven", "--home", "01"], "nurse role"),
        (["add", "ingen", "--home", "01"], "no user 'ingen'"),
        (["presence", "anna"], "not registered as a nurse"),
        (["presence", "anna", "--day", "igår"], "is not a date"),
    ],
)
def test_errors_are_one_clear_line(database: Database, runner: CliRunner, args: list[str], fragment: str) -> None:
    """Operator mistakes exit nonzero with a readable message and no traceback."""
    seed(database)
    result = runner.invoke(nurse_group, args)
    assert result.exit_code != 0, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_vocabulary_comes_from_the_stored_configuration(database: Database, runner: CliRunner) -> None:
    """With a configuration stored in the database, its national skills are the vocabulary."""
    seed(database)
    database.run_sync(lambda s: store.import_files(s, None))
    result = runner.invoke(nurse_group, ["add", "bertil", "--home", "03", "--skill", "psykiatri=1"])
    assert result.exit_code == 0, result.output
    assert "skills psykiatri=1" in result.output
