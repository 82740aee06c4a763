"""`vardlinje config check [DIR]`: output lines FILE: PATH: message, a summary and the exit status."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from config.cli import config_group

from .conftest import edit


def test_check_shipped_passes() -> None:
    """The shipped configuration: exit 0 and the summary line."""
    result = CliRunner().invoke(config_group, ["check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "21 regions, national file: 0 errors, 0 warnings"


def test_check_broken_directory_fails(cfg: Path) -> None:
    """A broken directory: each issue as FILE: PATH: message, the summary counts, exit status 1."""
    edit(cfg / "regions" / "01.yaml", lambda d: d["menu"]["nodes"]["main"]["options"]["1"].update(next="nowhere"))
    edit(cfg / "regions" / "03.yaml", lambda d: d["menu"]["nodes"].update(spare={"type": "hangup"}))
    result = CliRunner().invoke(config_group, ["check", str(cfg)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith("cfg/regions/01.yaml: menu.nodes.main.options.1.next: unknown node 'nowhere'")
               for line in lines), result.output
    assert any(line.startswith("cfg/regions/03.yaml: menu.nodes.spare: warning: unreachable") for line in lines)
    assert lines[-1] == "21 regions, national file: 1 error, 1 warning"


def test_warnings_alone_exit_zero(cfg: Path) -> None:
    """Warnings are printed but do not fail the check; --errors-only hides them."""
    edit(cfg / "regions" / "03.yaml", lambda d: d["menu"]["nodes"].update(spare={"type": "hangup"}))
    result = CliRunner().invoke(config_group, ["check", str(cfg)])
    assert result.exit_code == 0
    assert "warning: unreachable" in result.output
    quiet = CliRunner().invoke(config_group, ["check", "--errors-only", str(cfg)])
    assert quiet.exit_code == 0
    assert quiet.output.strip() == "21 regions, national file: 0 errors, 1 warning"


def test_check_invalid_region_file_counts(cfg: Path) -> None:
    """A region that fails its schema is not counted as loaded."""
    (cfg / "regions" / "09.yaml").write_text("id: '09'\nname: Region Gotland\n", encoding="utf-8")
    result = CliRunner().invoke(config_group, ["check", str(cfg)])
    assert result.exit_code == 1
    assert "cfg/regions/09.yaml: languages: required field is missing" in result.output
    assert result.output.strip().splitlines()[-1].startswith("20 regions, national file: 2 errors")
