"""Small pieces the benchmarks share: percentiles, a plain-text table, a private Redis, and the
private Asterisk 22 with extra configuration (modules, files, dialplan) for a peer measured in
the same run. Imported as `_rig` (the scripts run with bench/ first on sys.path)."""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from telephony.asterisk.private import PrivateAsterisk
from vardlinje import procs


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table cell; '-' for NaN."""
    if math.isnan(seconds):
        return "-"
    value = seconds * 1000
    return f"{value:,.3f}" if value < 1 else f"{value:,.2f}" if value < 100 else f"{value:,.1f}"


def ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:,.1f}x" if a / b >= 10 else f"{a / b:,.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, first_left: bool = True) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(str(cell).ljust(widths[i]) if i == 0 and first_left else str(cell).rjust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def machine() -> str:
    """The machine's state, printed with the figures: other work on the cores moves them."""
    load1, _, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load1:.2f} (1 min) at the start"


def progress(message: str) -> None:
    """A progress line on stderr (the figures go to stdout)."""
    print(f"… {message}", file=sys.stderr, flush=True)


@contextmanager
def private_redis() -> Iterator[str]:
    """A private redis-server in a temporary directory (dies with this process); yields its URL."""
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is missing: apt-get install redis-server")
    directory = Path(tempfile.mkdtemp(prefix="vardlinje-bench-redis-"))
    proc, url = procs.start_redis(directory)
    try:
        yield url
    finally:
        procs.stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class AsteriskExtras:
    """What a benchmark adds to the run's configuration: modules to load, whole files (e.g.
    queues.conf) and text appended to rendered files (e.g. a dialplan context)."""

    modules: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    append: dict[str, str] = field(default_factory=dict)


def with_extras(ast: PrivateAsterisk, extras: AsteriskExtras) -> PrivateAsterisk:
    """`ast` (created, not started) with `extras`: more modules loaded, more files written."""
    ast.config = replace(ast.config, modules=(*ast.config.modules,
                                              *(m for m in extras.modules if m not in ast.config.modules)))
    ast.extra_files.update(extras.files)
    ast.extra_append.update(extras.append)
    return ast


def kill(proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None) -> None:
    """End one process we started (by its handle) and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(3)
