"""The `user` CLI group against the real test databases."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from identity import service
from identity.cli import user_group
from identity.models import ApiToken, User
from vardlinje.db import Database, utcnow

from .conftest import PASSWORD, seed


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> CliRunner:
    monkeypatch.delenv("VARDLINJE_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", db_url)
    return CliRunner()


def test_user_add_with_password_stdin_and_token(database: Database, runner: CliRunner) -> None:
    """`user add` creates a user who can log in; `user token` prints a working token exactly once."""
    seed(database)
    result = runner.invoke(user_group, ["add", "Karin", "--role", "nurse", "--role", "supervisor",
                                        "--region", "01", "--region", "03", "--care-provider", "Vårdlinje Öst AB",
                                        "--display-name", "Karin Karlsson", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created user karin" in result.output
    user = database.run_sync(lambda s: service.authenticate_password(s, "karin", PASSWORD))
    assert user is not None and user.roles == ["nurse", "supervisor"] and user.display_name == "Karin Karlsson"
    assert database.run_sync(lambda s: service.user_regions(s, user)) == ["01", "03"]

    result = runner.invoke(user_group, ["token", "karin", "--name", "wfm", "--scope", "wfm:read",
                                        "--expires-days", "30"])
    assert result.exit_code == 0, result.output
    clear = result.stdout.strip()
    assert clear.startswith("vl_") and "\n" not in clear
    assert "not shown again" in result.stderr
    found = database.run_sync(lambda s: service.verify_api_token(s, clear, at=utcnow()))
    assert found is not None and found[0].scopes == ["wfm:read"] and found[0].expires_at is not None

    token_id = database.run_sync(lambda s: s.get(ApiToken, found[0].id).id)  # type: ignore[union-attr]
    result = runner.invoke(user_group, ["revoke-token", str(token_id)])
    assert result.exit_code == 0, result.output
    assert database.run_sync(lambda s: service.verify_api_token(s, clear, at=utcnow())) is None


def test_user_add_prompts_hidden_and_confirmed(database: Database, runner: CliRunner) -> None:
    """Without --password-stdin the password is asked twice and must match."""
    seed(database)
    result = runner.invoke(user_group, ["add", "nat", "--role", "national_admin"],
                           input=f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert database.run_sync(lambda s: service.authenticate_password(s, "nat", PASSWORD)) is not None


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["add", "ny", "--role", "nurse", "--region", "99", "--password-stdin"], PASSWORD, "unknown region(s): 99"),
        (["add", "ny", "--role", "nurse", "--region", "01", "--password-stdin"], "kort", "minst 12 tecken"),
        (["add", "anna", "--role", "nurse", "--region", "01", "--password-stdin"], PASSWORD, "already exists"),
        (["add", "ny", "--role", "nurse", "--care-provider", "Finns Ej", "--password-stdin"], PASSWORD,
         "unknown care provider"),
        (["token", "finns-inte", "--name", "x", "--scope", "a:b"], "", "no user"),
        (["token", "anna", "--name", "x", "--scope", "Bad Scope"], "", "invalid scope"),
        (["revoke-token", "4711"], "", "no live token 4711"),
    ],
)
def test_errors_are_one_clear_line_without_traceback(database: Database, runner: CliRunner, args: list[str],
                                                     stdin: str, fragment: str) -> None:
    """Operator mistakes exit nonzero with a readable message and no stack trace."""
    seed(database)
    result = runner.invoke(user_group, args, input=stdin + "\n")
    assert result.exit_code == 1, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert database.run_sync(lambda s: s.get(User, 3)) is None  # nothing was created


def test_unknown_role_is_refused_by_the_option(database: Database, runner: CliRunner) -> None:
    """A misspelt role is caught before any password is asked for."""
    result = runner.invoke(user_group, ["add", "ny", "--role", "nursе"])  # Cyrillic "е"
    assert result.exit_code == 2 and "nurse" in result.output


def test_unmigrated_database_gives_a_hint(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: object) -> None:
    """An empty database reports a database error with the migration hint, not a traceback."""
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    result = runner.invoke(user_group, ["token", "anna", "--name", "x", "--scope", "a:b"])
    assert result.exit_code == 1 and "vardlinje db upgrade" in result.output and "Traceback" not in result.output
