"""`vardlinje advice …`: the decision-support documents from the command line (docs/advice.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from .documents import CONTENT, DocumentError, load_directory
from .search import Audience, SearchIndex, evaluate_queries


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


def _index() -> SearchIndex:
    try:
        return SearchIndex.build(load_directory(CONTENT).values())
    except DocumentError as exc:
        raise click.ClickException(f"the shipped documents are invalid:\n{exc}") from exc


@advice_group.command("search")
@click.argument("text")
@click.option("--audience", type=click.Choice(["barn", "vuxen"]), default=None, help="only documents for this group")
@click.option("--limit", default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def search(text: str, audience: Audience | None, limit: int, as_json: bool) -> None:
    """Find the decision-support documents for what the caller says, best first."""
    hits = _index().search(text, audience=audience, limit=limit)
    if as_json:
        click.echo(json.dumps([{"id": h.id, "title": h.title, "audience": h.audience, "score": h.score,
                                "matched": list(h.matched)} for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("Inga träffar / no matches")
    for n, h in enumerate(hits, 1):
        click.echo(f"{n}. {h.title} [{h.id}, {h.audience}] {h.score:.2f}  {', '.join(h.matched[:3])}")


@advice_group.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def evaluate(file: Path) -> None:
    """Top-1 and top-3 accuracy over FILE (TSV: query, expected_id), and the misses."""
    index = _index()
    with file.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("query")]
    if not rows or "expected_id" not in rows[0]:
        raise click.ClickException(f"{file}: expected a TSV with the columns query and expected_id")
    result = evaluate_queries(index, [(r["query"], r["expected_id"]) for r in rows])
    for query, expected, got in result.misses:
        click.echo(f"miss: {query!r} → {', '.join(got) or '(nothing)'} (expected {expected})")
    click.echo(f"{result.total} queries: top-1 {result.top1_percent:.1f} %, top-3 {result.top3_percent:.1f} %")
