"""`vardlinje sms outbox` against the real test databases: text and JSON listings, filters and
clear errors."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sms.cli import sms_group
from sms.outbox import OutboxProvider
from sms.service import send_sms
from vardlinje.db import Database

from .conftest import T0, make_call


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    return CliRunner()


async def test_outbox_lists_messages_newest_first(database: Database, runner: CliRunner) -> None:
    """Text output shows time, number, provider/status, call and the text; --to and --limit filter;
    --json gives the same fields as the API."""
    call_id = make_call(database)
    await send_sms(database, OutboxProvider(), None, call_id=call_id, to="0701234567",
                   body="Chatta med oss: https://example.se/chatt", at=T0)
    await send_sms(database, OutboxProvider(), None, call_id=None, to="0731234567",
                   body="Formulär: https://example.se/form\nrad två", at=T0 + timedelta(minutes=5))

    result = runner.invoke(sms_group, ["outbox"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2026-11-26 09:35:00  +46731234567  outbox/delivered")
    assert lines[1:3] == ["    Formulär: https://example.se/form", "    rad två"]
    assert f"call {call_id}" in lines[3] and "+46701234567" in lines[3]

    result = runner.invoke(sms_group, ["outbox", "--to", "070-123 45 67", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 1 and data["messages"][0]["body"] == "Chatta med oss: https://example.se/chatt"
    assert data["messages"][0]["call_id"] == call_id

    result = runner.invoke(sms_group, ["outbox", "--limit", "1", "--json"])
    assert json.loads(result.output)["messages"][0]["to"] == "+46731234567"


def test_outbox_empty_and_bad_input(database: Database, runner: CliRunner) -> None:
    """An empty outbox says so; a bad --to or --limit is a usage error naming the option."""
    result = runner.invoke(sms_group, ["outbox"])
    assert result.exit_code == 0 and "no messages" in result.output
    result = runner.invoke(sms_group, ["outbox", "--to", "hej"])
    assert result.exit_code == 2 and "--to" in result.output and "not a valid phone number" in result.output
    result = runner.invoke(sms_group, ["outbox", "--limit", "0"])
    assert result.exit_code == 2 and "--limit" in result.output


def test_outbox_on_an_unmigrated_database_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Against an empty database the error is one line that points at `vardlinje db upgrade`."""
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(sms_group, ["outbox"])
    assert result.exit_code == 1 and "vardlinje db upgrade" in result.output
