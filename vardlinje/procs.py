"""Local helper processes (Redis for `vardlinje run` and the tests, PostgreSQL for the tests)
that die with their owner: each child gets PR_SET_PDEATHSIG, so a SIGKILLed run leaves no
server holding a port."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _pdeathsig() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent(as_user: str | None = None) -> Callable[[], None]:
    """A preexec_fn: become `as_user` (credential changes clear PDEATHSIG, so that comes
    first), then ask to be killed when the parent dies."""

    def preexec() -> None:
        if as_user is not None:
            pw = pwd.getpwnam(as_user)
            os.initgroups(as_user, pw.pw_gid)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        _pdeathsig()
        os.setsid()

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def start_redis(directory: Path, port: int | None = None, host: str = "127.0.0.1") -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server; returns the process and its URL. Persists to `directory`."""
    port = port or free_port(host)
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory / "redis.log", "ab")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", host, "--dir", str(directory),
         "--save", "60 1", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(),
    )
    log.close()
    wait_port(host, port, 10, proc)
    return proc, f"redis://{host}:{port}/0"


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def start_postgres(directory: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A private PostgreSQL cluster in `directory` (created and owned by the postgres user,
    since initdb refuses root). Returns the process and a SQLAlchemy URL."""
    port = port or free_port()
    pw = pwd.getpwnam("postgres")
    directory.mkdir(parents=True, exist_ok=True)
    os.chown(directory, pw.pw_uid, pw.pw_gid)
    directory.chmod(0o700)
    data = directory / "data"
    if not data.exists():
        done = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8"],
            capture_output=True, text=True, preexec_fn=die_with_parent("postgres"),
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
    log = open(directory / "postgres.log", "ab")
    os.chown(directory / "postgres.log", pw.pw_uid, pw.pw_gid)
    proc = subprocess.Popen(
        [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent("postgres"),
    )
    log.close()
    wait_port("127.0.0.1", port, 30, proc)
    return proc, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
