"""Settings are validated at start, and every error names the setting (variable and file key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vardlinje.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("VARDLINJE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_valid() -> None:
    """Without any configuration the app starts with safe local defaults."""
    s = load_settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.asterisk.mode == "private" and s.asterisk.bind_address == "127.0.0.1"


def test_environment_overrides_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested settings are reached with a double underscore."""
    monkeypatch.setenv("VARDLINJE_ASTERISK__SIP_PORT", "5070")
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", "postgresql+psycopg://u@db/v")
    s = load_settings()
    assert s.asterisk.sip_port == 5070 and s.database_url.endswith("/v")


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong type names the environment variable that carried it."""
    monkeypatch.setenv("VARDLINJE_ASTERISK__SIP_PORT", "70000")
    monkeypatch.setenv("VARDLINJE_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "VARDLINJE_ASTERISK__SIP_PORT" in text and "65535" in text
    assert "VARDLINJE_DATABASE_URL" in text and "sqlite" in text


def test_settings_file_is_read_and_its_errors_name_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """vardlinje.toml is read; an error in it names the file and the dotted key."""
    (tmp_path / "vardlinje.toml").write_text('log_level = "DEBUG"\n[http]\nport = 9090\n')
    s = load_settings()
    assert s.log_level == "DEBUG" and s.http.port == 9090
    (tmp_path / "vardlinje.toml").write_text('[asterisk]\nmode = "cloud"\nunknown = 1\n')
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "vardlinje.toml: asterisk.mode" in text and "asterisk.unknown" in text


def test_unreadable_settings_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken TOML or a missing explicit file is reported with the path, not a traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    monkeypatch.setenv("VARDLINJE_SETTINGS_FILE", str(bad))
    with pytest.raises(SettingsError, match="bad.toml: not valid TOML"):
        load_settings()
    monkeypatch.setenv("VARDLINJE_SETTINGS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml: cannot read"):
        load_settings()
