"""The private Asterisk: one supervised process per run, inside the cached Debian root.

Asterisk runs as `unshare --mount --pid --fork --kill-child --mount-proc=ROOT/proc chroot ROOT
asterisk -f -C RUN/etc/asterisk.conf`. The /proc it needs is mounted in its own mount
namespace, so it vanishes with the process: a killed run never leaves a stale mount in the
host (and the root stays safe to copy). The unshare process gets PR_SET_PDEATHSIG, so when
the owner (make run, pytest) dies, even by SIGKILL, Asterisk dies with it. What a killed
run still leaves (its run directory) is swept by the next start.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import aiohttp

from .render import AsteriskRunConfig, render

log = logging.getLogger("vardlinje.asterisk")

RUNS = PurePosixPath("/var/lib/vardlinje-runs")
WANT_MAJOR = 22
_PR_SET_PDEATHSIG = 1


class AsteriskSetupError(RuntimeError):
    """The private Asterisk cannot be used; the message says what to do."""


def default_root() -> Path:
    env = os.environ.get("VARDLINJE_ASTERISK_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "vardlinje" / "asterisk-root"


def check_root(root: Path) -> str:
    """Return Asterisk's version string; raise AsteriskSetupError unless it is a ready 22 root."""
    if not (root / ".vardlinje-root").exists():
        raise AsteriskSetupError(
            f"no Asterisk root at {root}: run `scripts/asterisk-root.sh` (make setup does it)"
        )
    try:
        out = subprocess.run(
            ["chroot", str(root), "/usr/sbin/asterisk", "-V"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AsteriskSetupError(f"cannot run Asterisk in {root}: {exc}") from exc
    if not out.startswith(f"Asterisk {WANT_MAJOR}."):
        raise AsteriskSetupError(f"{root} holds {out or 'no Asterisk'!r}; Vårdlinje needs Asterisk {WANT_MAJOR}")
    return out


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_rtp_range(host: str = "127.0.0.1", size: int = 200) -> tuple[int, int]:
    """A block of even-aligned UDP ports that are free now (checked on a sample)."""
    for _ in range(50):
        start = 20000 + 2 * secrets.randbelow(10000)
        start -= start % 2
        if start + size > 40000:
            continue
        ok = True
        for port in (start, start + 1, start + size // 2, start + size - 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start, start + size - 1
    raise AsteriskSetupError("no free RTP port range found between 20000 and 40000")


def _process_alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def clear_stale(root: Path) -> list[str]:
    """Remove what killed runs left: run directories whose owner is gone (killing their
    Asterisk if it still lives) and any host-namespace mount inside the root."""
    removed: list[str] = []
    for line in Path("/proc/mounts").read_text().splitlines():
        mountpoint = line.split()[1]
        if mountpoint.startswith(str(root) + "/"):
            subprocess.run(["umount", "-l", mountpoint], check=False)
            log.warning("unmounted stale %s", mountpoint)
    runs = root / RUNS.relative_to("/")
    if not runs.is_dir():
        return removed
    for run in runs.iterdir():
        owner_file = run / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
            alive = _process_alive(int(owner["owner_pid"])) and _start_time(int(owner["owner_pid"])) == owner.get(
                "owner_start"
            )
        except (OSError, ValueError, KeyError):
            # No owner file yet: a run being created right now, or a crash before it was
            # written. Leave young ones alone.
            alive = time.time() - run.stat().st_mtime < 120
            owner = {}
        if alive:
            continue
        pid = owner.get("unshare_pid")
        if isinstance(pid, int) and _process_alive(pid) and _start_time(pid) == owner.get("unshare_start"):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(root / "var" / "cache" / f"vl-{run.name[-6:]}", ignore_errors=True)
        removed.append(run.name)
    if removed:
        log.info("removed %d stale Asterisk run(s): %s", len(removed), ", ".join(removed))
    return removed


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


@dataclass
class PrivateAsterisk:
    """One Asterisk process of one run. Start with `start()`, stop with `stop()`."""

    root: Path
    config: AsteriskRunConfig
    process: subprocess.Popen[bytes] | None = None
    #: Written after the rendered configuration at every start, for what is not the product's own
    #: (a benchmark's app_queue peer): file name → text of a file of its own, and file name → text
    #: appended to a rendered file (an extra dialplan context).
    extra_files: dict[str, str] = field(default_factory=dict)
    extra_append: dict[str, str] = field(default_factory=dict)
    #: Host paths of the certificate and key for config.tls_port; copied into the run at every start,
    #: so a renewed certificate is picked up by a restart.
    tls_files: tuple[Path, Path] | None = None

    @classmethod
    def create(
        cls,
        root: Path | None = None,
        *,
        app_name: str = "vardlinje",
        http_port: int | None = None,
        sip_port: int | None = None,
        rtp: tuple[int, int] | None = None,
        bind_address: str = "127.0.0.1",
        caller_networks: tuple[str, ...] = ("127.0.0.1/32",),
        outbound_trunk: str = "",
        run_name: str | None = None,
        tls_port: int | None = None,
        tls_files: tuple[Path, Path] | None = None,
    ) -> PrivateAsterisk:
        root = root or default_root()
        check_root(root)
        clear_stale(root)
        run_id = f"{run_name or 'run'}-{os.getpid()}-{secrets.token_hex(3)}"
        rtp_start, rtp_end = rtp or free_rtp_range(bind_address)
        cfg = AsteriskRunConfig(
            run_dir=RUNS / run_id,
            app_name=app_name,
            ari_user="vardlinje",
            ari_password=secrets.token_urlsafe(18),
            http_port=http_port or free_tcp_port(bind_address),
            sip_port=sip_port or free_udp_port(bind_address),
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            bind_address=bind_address,
            caller_networks=caller_networks,
            outbound_trunk=outbound_trunk,
            tls_port=tls_port,
        )
        return cls(root=root, config=cfg, tls_files=tls_files)

    # Host paths of the run.
    def host(self, path: PurePosixPath) -> Path:
        return self.root / path.relative_to("/")

    @property
    def run_dir(self) -> Path:
        return self.host(self.config.run_dir)

    @property
    def sounds_dir(self) -> Path:
        return self.host(self.config.sounds)

    @property
    def ari_url(self) -> str:
        return f"http://{self.config.bind_address}:{self.config.http_port}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "log" / "messages.log"

    def sound_uri(self, name: str) -> str:
        """ARI media URI of a prompt rendered into this run's sounds folder."""
        return f"sound:{self.config.sounds}/{name}"

    def write_config(self) -> None:
        for sub in ("etc", "run", "log", "spool", "db", "keys", "sounds"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self.host(self.config.cache).mkdir(parents=True, exist_ok=True)
        etc = self.run_dir / "etc"
        for name, text in render(self.config).items():
            (etc / name).write_text(text)
        for name, text in self.extra_files.items():
            (etc / name).write_text(text)
        for name, text in self.extra_append.items():
            with open(etc / name, "a") as f:
                f.write("\n" + text)
        if self.config.tls_port is not None:
            self._copy_tls()

    def _copy_tls(self) -> None:
        if self.tls_files is None:
            raise AsteriskSetupError(f"Asterisk's TLS port {self.config.tls_port} is set but no certificate "
                                     "was given (http.tls_cert/http.tls_key or http.tls_self_signed)")
        for source, target, mode in ((self.tls_files[0], self.config.tls_cert, 0o644),
                                     (self.tls_files[1], self.config.tls_key, 0o600)):
            dest = self.host(target)
            try:
                data = source.read_bytes()
                # Created with its final mode: the key is never readable by others inside the root.
                dest.unlink(missing_ok=True)
                with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as f:
                    f.write(data)
            except OSError as exc:
                raise AsteriskSetupError(f"cannot copy {source} into the Asterisk root ({dest}): {exc}") from exc

    def start(self, timeout: float = 30.0) -> None:
        self.write_config()
        out = open(self.run_dir / "log" / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [
                "unshare", "--mount", "--pid", "--fork", "--kill-child",
                f"--mount-proc={self.root}/proc",
                "chroot", str(self.root),
                "/usr/sbin/asterisk", "-f", "-n", "-C", str(self.config.asterisk_conf),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        out.close()
        pid = self.process.pid
        (self.run_dir / "owner.json").write_text(
            json.dumps(
                {
                    "owner_pid": os.getpid(),
                    "owner_start": _start_time(os.getpid()),
                    "unshare_pid": pid,
                    "unshare_start": _start_time(pid),
                }
            )
        )
        log.info("Asterisk starting run=%s ari=%s sip=%s:%d", self.run_dir.name, self.ari_url,
                 self.config.bind_address, self.config.sip_port)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Wait until ARI answers; return Asterisk's version."""
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(
            f"{self.ari_url}/ari/asterisk/info",
            headers={"Authorization": aiohttp.encode_basic_auth(self.config.ari_user, self.config.ari_password)},
        )
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AsteriskSetupError(
                    f"Asterisk exited with {self.process.returncode} while starting; see {self.log_file}"
                    f" and {self.run_dir / 'log' / 'stdout.log'}\n{self.tail_log()}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    info = json.loads(resp.read())
                    version = str(info.get("system", {}).get("version", ""))
                    if not version.startswith(f"{WANT_MAJOR}."):
                        raise AsteriskSetupError(f"Asterisk answered version {version!r}; Vårdlinje needs {WANT_MAJOR}")
                    return version
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise AsteriskSetupError(f"Asterisk did not answer ARI within {timeout:.0f}s ({last}); see {self.log_file}")

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command through the run's control socket."""
        done = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", str(self.config.asterisk_conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no Asterisk log)"

    def stop(self, *, remove: bool = True, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM to unshare would leave Asterisk to --kill-child's SIGKILL; ask Asterisk
            # itself to stop first so it closes calls and files properly.
            try:
                self.cli("core stop now", timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if remove:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            shutil.rmtree(self.host(self.config.cache), ignore_errors=True)

    def kill(self) -> None:
        """Kill Asterisk hard (tests of restart and recovery)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
