"""`vardlinje run` as a user runs it: it comes up, answers a test call, reports healthy in
`vardlinje doctor`, survives being SIGKILLed (the next start is not blocked by anything the
killed one left), and Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telephony.asterisk.private import RUNS, default_root, free_rtp_range
from vardlinje.procs import free_port

pytestmark = pytest.mark.asterisk

VARDLINJE = str(Path(sys.executable).parent / "vardlinje")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    rtp_start, rtp_end = free_rtp_range()
    http = free_port()
    return {
        **os.environ,
        "VARDLINJE_DATA_DIR": str(tmp_path / "var"),
        "VARDLINJE_DATABASE_URL": f"sqlite:///{tmp_path}/var/vardlinje.db",
        "VARDLINJE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "VARDLINJE_HTTP__PORT": str(http),
        "VARDLINJE_HTTP__PUBLIC_URL": f"http://127.0.0.1:{http}",
        "VARDLINJE_ASTERISK__HTTP_PORT": str(free_port()),
        "VARDLINJE_ASTERISK__SIP_PORT": str(free_port()),
        "VARDLINJE_ASTERISK__RTP_START": str(rtp_start),
        "VARDLINJE_ASTERISK__RTP_END": str(rtp_end),
        "VARDLINJE_ASTERISK__APP_NAME": f"run-test-{os.getpid()}",
    }


class Running:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.out = open(log, "ab")
        self.proc = subprocess.Popen([VARDLINJE, "run"], env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     cwd=Path(env["VARDLINJE_DATA_DIR"]).parent)

    def wait_banner(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "Vårdlinje is running." in text.split("=== restart ===")[-1]:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"vardlinje run exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no banner after {timeout}s:\n{self.log.read_text(errors='replace')[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


@pytest.fixture
def started(env: dict[str, str], tmp_path: Path) -> Iterator[list[Running]]:
    runs: list[Running] = []
    yield runs
    for r in runs:
        r.close()


def _our_runs(pid: int) -> list[str]:
    runs = default_root() / RUNS.relative_to("/")
    return [p.name for p in runs.iterdir() if p.name.startswith(f"run-{pid}-")] if runs.is_dir() else []


def test_run_call_doctor_sigkill_and_restart(env: dict[str, str], tmp_path: Path, started: list[Running]) -> None:
    """The README's promise, end to end, including recovery from SIGKILL."""
    log = tmp_path / "run.log"
    first = Running(env, log)
    started.append(first)
    banner = first.wait_banner()
    assert f"sip:1177@127.0.0.1:{env['VARDLINJE_ASTERISK__SIP_PORT']}" in banner
    assert "anna.nilsson" in banner and "erik.johansson" in banner

    # A Stockholm caller presses 1 (svenska) and 2 (barn) and 2 (1-17 år): the child queue.
    call = subprocess.run([VARDLINJE, "call", "1177", "--caller", "+46812345678", "--keys", "1,2,2", "--hold", "35"],  # peak message 08–10
                          env=env, capture_output=True, text=True, timeout=150, cwd=tmp_path)
    assert call.returncode == 0, call.stdout + call.stderr
    assert "The call was answered" in call.stdout
    assert '"region": "01"' in call.stdout and '"queue": "barn"' in call.stdout, call.stdout

    doctor = subprocess.run([VARDLINJE, "doctor"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for part in ("Database", "Redis", "Asterisk root", "Asterisk ARI", "App"):
        assert any(line.startswith("OK") and part in line for line in doctor.stdout.splitlines()), doctor.stdout

    # SIGKILL: no cleanup runs. Asterisk and Redis must die with it, and the next start must work.
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    assert _our_runs(first.proc.pid), "the killed run's directory is expected to remain until the next start"
    with open(log, "a") as f:
        f.write("\n=== restart ===\n")
    second = Running(env, log)
    started.append(second)
    second.wait_banner()
    assert not _our_runs(first.proc.pid), "the next start removes what the killed run left"
    again = subprocess.run([VARDLINJE, "call", "1177", "--hold", "3"], env=env, capture_output=True, text=True,
                           timeout=90, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr

    # Ctrl-C: a clean stop that removes its run directory and frees its ports.
    second.proc.send_signal(signal.SIGINT)
    assert second.proc.wait(30) == 0
    assert not _our_runs(second.proc.pid)
    assert "stopping" in log.read_text()


def test_doctor_names_what_is_wrong(env: dict[str, str], tmp_path: Path) -> None:
    """With nothing running, doctor fails and says how to fix each part; a bad setting is
    reported by its variable name before anything is checked."""
    done = subprocess.run([VARDLINJE, "doctor"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    out = done.stdout
    assert "FAIL  Database" in out and "vardlinje db upgrade" in out
    assert "FAIL  Redis" in out
    assert "FAIL  App" in out and "make run" in out
    assert "OK    Asterisk root" in out

    bad = {**env, "VARDLINJE_ASTERISK__SIP_PORT": "not-a-port"}
    done = subprocess.run([VARDLINJE, "doctor"], env=bad, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert "VARDLINJE_ASTERISK__SIP_PORT" in done.stderr and "Traceback" not in done.stderr
