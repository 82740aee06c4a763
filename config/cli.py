"""`vardlinje config …`: the configuration commands. The main CLI adds `config_group`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .check import check
from .loader import ConfigIssue, load_config


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
