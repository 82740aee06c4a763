"""`vardlinje ivr simulate`: a region's menu in text, at any time of day."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from config.loader import ConfigError, load_valid_config

from .directory import ConfigDirectory
from .flow import FlowError
from .simulate import simulate

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@click.group("ivr")
def ivr_group() -> None:
    """Voice menus."""


@ivr_group.command("simulate")
@click.argument("region", required=False)
@click.option("--digits", default="", help="the caller's answers in order, comma-separated, e.g. 1,2 or 1,0701234567#")
@click.option("--at", "at_text", default=None, help="local time (ISO, Europe/Stockholm), e.g. 2026-12-24T22:30")
@click.option("--caller", default="+46701234567", show_default=True, help="the caller's number ('' for hidden)")
@click.option("--dialled", default="1177", show_default=True)
@click.option("--config-dir", type=click.Path(file_okay=False), default=None, help="a config directory to try")
def simulate_command(region: str | None, digits: str, at_text: str | None, caller: str, dialled: str,
                     config_dir: str | None) -> None:
    """Walk REGION's menu (county code or 'national'; omitted: resolve from the numbers)."""
    try:
        cs = load_valid_config(config_dir)
    except ConfigError as exc:
        raise click.ClickException(f"the configuration has errors (run `vardlinje config check`):\n{exc}") from exc
    try:
        at = datetime.fromisoformat(at_text) if at_text else datetime.now(STOCKHOLM)
    except ValueError as exc:
        raise click.BadParameter(f"{at_text!r} is not an ISO time like 2026-12-24T22:30", param_hint="--at") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=STOCKHOLM)
    if region is not None and region != "national" and region not in cs.regions:
        raise click.BadParameter(f"unknown region {region!r} (county codes: {', '.join(sorted(cs.regions))})",
                                 param_hint="REGION")
    answers = [d.strip() for d in digits.split(",")] if digits else []
    try:
        asyncio.run(simulate(ConfigDirectory(cs), region=region, answers=answers, at=at, caller=caller,
                             dialled=dialled, echo=click.echo))
    except FlowError as exc:
        raise click.ClickException(str(exc)) from exc
