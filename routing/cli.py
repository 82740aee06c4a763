"""`vardlinje routing …`: the routing simulator for operators (`simulate`, `scenarios`). The main CLI adds
`routing_group`.

`simulate` prints the engine's events as JSON lines (stdout, or `--events FILE`) and a table per region
on stderr; with `--json` the summary is one JSON object, the last line on stdout. Scenario errors are
one line each (file, field path, line), exit status 1, no traceback. `docs/simulator.md` is the guide.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import IO, Any

import click

from .memory import MemoryStore
from .scenario import SCENARIO_DIR, Plan, ScenarioError, load_scenario, parse_scenario
from .simulator import Emit, RegionSummary, Result, simulate

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _default_redis_url() -> str:
    try:
        from vardlinje.settings import load_settings

        return load_settings().redis_url
    except Exception:  # settings not configured here: the simulator needs none of the rest
        return DEFAULT_REDIS_URL


async def run_on(plan: Plan, store_kind: str, redis_url: str | None, *, emit: Emit | None = None,
                 progress: Callable[[float], None] | None = None, ewt: bool = True,
                 keep_events: bool = False) -> Result:
    """Run `plan` on a fresh store: a MemoryStore, or Redis under a new key prefix removed afterwards."""
    if store_kind == "memory":
        return await simulate(plan, MemoryStore(), emit=emit, progress=progress, ewt=ewt, keep_events=keep_events)
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from .redis_store import RedisStore

    url = redis_url or _default_redis_url()
    client = Redis.from_url(url)
    prefix = f"vardlinje:sim:{uuid.uuid4().hex[:12]}:routing"
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            raise click.ClickException(f"cannot reach Redis at {url}: {exc}") from exc
        try:
            return await simulate(plan, RedisStore(client, prefix), emit=emit, progress=progress, ewt=ewt,
                                  keep_events=keep_events)
        finally:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
            for start in range(0, len(keys), 1000):
                await client.delete(*keys[start:start + 1000])
    finally:
        await client.aclose()


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 600:
        return f"{value / 60:.0f}m"
    return f"{value:.0f}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def summary_table(result: Result, store_kind: str) -> str:
    """The summary as a fixed-width table for people."""
    plan = result.plan
    head = (f"{plan.name}: {len(plan.calls)} calls, {len(plan.nurses)} nurses, {plan.duration / 3600:.2f} h "
            f"simulated in {result.wall_seconds:.2f} s ({store_kind}, {result.event_count} events)")
    columns = ["region", "offered", "answered", "abandoned", "waiting", "SL60", "ASA", "longest", "EWT MAE",
               "bias", "MAE q", "answered by step"]
    rows: list[list[str]] = []

    def row(name: str, s: RegionSummary) -> list[str]:
        d = s.as_dict()
        steps = ", ".join(f"{step} {n}" for step, n in d["answered_by_step"].items())
        return [name, str(d["offered"]), str(d["answered"]), str(d["abandoned"]), str(d["waiting_at_end"]),
                _percent(d["service_level"]), _seconds(d["asa"]), _seconds(d["longest_wait"]),
                _seconds(d["ewt_mae"]), _seconds(d["ewt_bias"]), _seconds(d["ewt_mae_queued"]), steps]

    for region, s in sorted(result.regions.items()):
        rows.append(row(region, s))
    rows.append(row("all", result.total))
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([*parts, cells[-1]]).rstrip()

    return "\n".join([head, "", line(columns), *(line(r) for r in rows), "",
                      "SL60: answered within 60 s of (answered + abandoned); ASA: mean wait of answered calls; "
                      "EWT MAE/bias: estimate when queued - real wait, answered calls (MAE q: those who had to queue)"])


@click.group("routing")
def routing_group() -> None:
    """Routing tools: the simulator."""


@routing_group.command("simulate")
@click.argument("scenario")
@click.option("--store", "store_kind", type=click.Choice(["memory", "redis"]), default="memory", show_default=True,
              help="the routing store the engine runs on")
@click.option("--redis-url", help="Redis for --store redis (default: the settings' VARDLINJE_REDIS_URL); "
              "a fresh key prefix is used and removed afterwards")
@click.option("--events", "events_path", default="-", show_default=True,
              help="where the JSON lines of events go: a file, or - for stdout")
@click.option("--no-events", is_flag=True, help="do not write the events")
@click.option("--json", "as_json", is_flag=True, help="the summary as one JSON object (last line on stdout), "
              "not a table on stderr")
@click.option("--seed", type=int, help="override the scenario's seed")
@click.option("--no-ewt", is_flag=True, help="skip the wait estimates (a little faster)")
def simulate_command(scenario: str, store_kind: str, redis_url: str | None, events_path: str, no_events: bool,
                     as_json: bool, seed: int | None, no_ewt: bool) -> None:
    """Run SCENARIO (a YAML file, or the name of a shipped one: `vardlinje routing scenarios`) through the
    real routing engine on a virtual clock.

    Events are JSON lines: queued (with the estimate `ewt` and `position`), offered, answered (with
    `ewt_error`), missed, abandoned — with call, nurse, region, via, step, agreement and wait in seconds."""
    try:
        plan = load_scenario(scenario, seed=seed)
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    with ExitStack() as stack:
        out: IO[str] | None = None
        if not no_events:
            out = sys.stdout if events_path == "-" else stack.enter_context(open(events_path, "w", encoding="utf-8"))
        emit: Emit | None = None
        if out is not None:
            write = out.write

            def emit(line: dict[str, Any]) -> None:
                write(json.dumps(line, ensure_ascii=False) + "\n")

        progress: Callable[[float], None] | None = None
        # A bar on a terminal, unless the events scroll through the same terminal.
        if sys.stderr.isatty() and not (out is not None and out is sys.stdout and out.isatty()):
            bar = stack.enter_context(click.progressbar(length=max(1, int(plan.duration)), file=sys.stderr,
                                                        label=f"{plan.name} ({store_kind})"))
            done = [0]

            def progress(t: float) -> None:
                step = int(t) - done[0]
                if step > 0:
                    bar.update(step)
                    done[0] += step

        result = asyncio.run(run_on(plan, store_kind, redis_url, emit=emit, progress=progress, ewt=not no_ewt))
    if as_json:
        summary = result.summary()
        summary["store"] = store_kind
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        click.echo(summary_table(result, store_kind), err=True)


@routing_group.command("scenarios")
def scenarios_command() -> None:
    """List the shipped scenarios (routing/scenarios/) with their descriptions."""
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        try:
            scenario, _ = parse_scenario(path.read_text(encoding="utf-8"), str(path))
            first = scenario.description.strip().splitlines()[0] if scenario.description.strip() else scenario.name
        except ScenarioError as exc:
            first = f"(invalid: {exc.problems[0]})"
        click.echo(f"{path.stem:<20} {first}")

