"""`vardlinje advice …`: the decision-support documents from the command line (docs/advice.md)."""

from __future__ import annotations

from pathlib import Path

import click

from .documents import CONTENT, DocumentError, load_directory


@click.group("advice")
def advice_group() -> None:
    """Decision-support documents (beslutsunderlag)."""


@advice_group.command("check")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=CONTENT)
def check(directory: Path) -> None:
    """Validate every document of DIRECTORY (default: the shipped content); each problem names the file and
    the field."""
    try:
        docs = load_directory(directory)
    except DocumentError as exc:
        raise click.ClickException(f"{len(exc.issues)} problem(s):\n{exc}") from exc
    levels = sum(len(d.levels) for d in docs.values())
    click.echo(f"{len(docs)} documents OK in {directory} ({levels} urgency levels)")
