"""The `sms` command group: `vardlinje sms outbox` lists stored messages (newest first).

Registered in the main CLI; the database is the one in the settings (VARDLINJE_DATABASE_URL or
the settings file). Errors are printed as one line, exit code 1.
"""

from __future__ import annotations

import json
from typing import TypeVar

import click

from vardlinje.cliutil import run_in_db

from .numbers import DEFAULT_REGION, normalise
from .outbox import MAX_LIST, list_messages
from .provider import InvalidNumber

T = TypeVar("T")


@click.group("sms")
def sms_group() -> None:
    """SMS to callers: the local outbox and the record of sent messages."""


@sms_group.command("outbox")
@click.option("--to", "to", metavar="NUMBER", help="only messages to this number (0701234567 or +46701234567)")
@click.option("--limit", type=click.IntRange(1, MAX_LIST), default=20, show_default=True)
@click.option("--provider", type=click.Choice(["outbox", "twilio"]), help="only messages of this provider")
@click.option("--json", "as_json", is_flag=True, help="one JSON document instead of text")
def outbox(to: str | None, limit: int, provider: str | None, as_json: bool) -> None:
    """Stored messages, newest first: time, number, status and text."""
    number: str | None = None
    if to:
        try:
            number = normalise(to, DEFAULT_REGION)
        except InvalidNumber as exc:
            raise click.BadParameter(str(exc), param_hint="--to") from exc
    rows = run_in_db(lambda s: list_messages(s, to=number, provider=provider, limit=limit))
    if as_json:
        click.echo(json.dumps({"messages": [m.to_json() for m in rows], "count": len(rows)}, ensure_ascii=False,
                              indent=2))
        return
    if not rows:
        click.echo("inga meddelanden / no messages")
        return
    for m in rows:
        error = f"  ({m.error_code}: {m.error})" if m.error else ""
        call = f"  call {m.call_id}" if m.call_id else ""
        click.echo(f"{m.created_at:%Y-%m-%d %H:%M:%S}  {m.to_number}  {m.provider}/{m.status}{call}{error}")
        for line in m.body.splitlines() or [""]:
            click.echo(f"    {line}")
