"""`vardlinje doctor`: each dependency's state, and how to fix what is wrong."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from telephony.ari.client import AriClient
from telephony.ari.errors import AriError
from telephony.asterisk.private import AsteriskSetupError, check_root, default_root
from telephony.prompts import missing_tools

from .migrate import is_current
from .runner import state_file
from .settings import IceServer, Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a failure is a warning: not every host needs it


async def check_redis(settings: Settings) -> Check:
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        info = await client.info("server")
        return Check("Redis", True, f"{_safe_url(settings.redis_url)} (Redis {info.get('redis_version', '?')})")
    except Exception as exc:
        return Check("Redis", False, f"{_safe_url(settings.redis_url)}: {exc}",
                     "start Redis (make run starts its own) or set VARDLINJE_REDIS_URL")
    finally:
        await client.aclose()


async def check_database(settings: Settings) -> Check:
    try:
        current, rev, head = await asyncio.to_thread(is_current, settings.database_url)
    except Exception as exc:
        return Check("Database", False, f"{_safe_url(settings.database_url)}: {type(exc).__name__}",
                     "check VARDLINJE_DATABASE_URL")
    if not current:
        return Check("Database", False, f"at {rev or 'empty'}, newest is {head}", "run `vardlinje db upgrade`")
    return Check("Database", True, f"{_safe_url(settings.database_url)} at revision {rev}")


async def check_asterisk(settings: Settings) -> list[Check]:
    checks = []
    cfg = settings.asterisk
    url, user, password = cfg.ari_url, cfg.ari_user, cfg.ari_password.get_secret_value()
    if cfg.mode == "private":
        root = cfg.root or default_root()
        try:
            version = await asyncio.to_thread(check_root, root)
            checks.append(Check("Asterisk root", True, f"{version} in {root}"))
        except AsteriskSetupError as exc:
            return [Check("Asterisk root", False, str(exc), "run `make setup`")]
        running = _running_private(settings)
        if running is None:
            checks.append(Check("Asterisk ARI", False, "no running stack found", "start it with `make run`"))
            return checks
        url, user, password = running
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, url, user, password, cfg.app_name, request_timeout=3)
        try:
            info = await ari.asterisk_info()
        except AriError as exc:
            checks.append(Check("Asterisk ARI", False, f"{url}: {exc}", "check the ARI URL, user and password"))
            return checks
    major = info.system.version.split(".")[0]
    checks.append(Check("Asterisk ARI", major == "22", f"{url}: Asterisk {info.system.version}",
                        "" if major == "22" else "Vårdlinje needs Asterisk 22"))
    return checks


def _running_private(settings: Settings) -> tuple[str, str, str] | None:
    try:
        state = json.loads(state_file(settings).read_text())
        ari = state["ari"]
        return str(ari["url"]), str(ari["user"]), str(ari["password"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def check_tools(settings: Settings) -> list[Check]:
    checks = []
    missing = missing_tools()
    checks.append(Check("Prompt tools", not missing, "espeak-ng and sox present" if not missing else
                        f"missing: {', '.join(missing)}", "apt-get install espeak-ng sox"))
    sipp = shutil.which("sipp")
    checks.append(Check("sipp (test calls)", sipp is not None, sipp or "missing (only for test calls)",
                        "apt-get install sip-tester", optional=True))
    return checks


MIN_FREE_BYTES = 1024**3  # a day of photos is far less; below this the disk is nearly full anyway


async def check_media(settings: Settings) -> list[Check]:
    """Where callers' photos are kept (writable, room left), and whether video has STUN/TURN to work with."""
    root = settings.media.image_dir if settings.media.image_dir is not None else settings.data_dir / "images"
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    checks: list[Check] = []
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        checks.append(Check("Photo store", False, f"{root}: not writable" + ("" if existing == root else
                            f" ({existing} is where it would be made)"), "set media.image_dir to a writable folder"))
    else:
        free = shutil.disk_usage(existing).free
        checks.append(Check("Photo store", True, f"{root}"))
        checks.append(Check("Photo disk space", free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GiB free",
                            "free disk space, or set media.image_dir elsewhere", optional=True))
    servers = settings.softphone.ice_servers

    def turn(server: IceServer) -> bool:
        return any(u.startswith(("turn:", "turns:")) for u in server.urls)

    # Callers get TURN only with credentials minted from a shared secret; a fixed account serves nurses only.
    minted = any(turn(s) and s.secret.get_secret_value() for s in servers)
    fixed = any(turn(s) and not s.secret.get_secret_value() for s in servers)
    detail = f"{len(servers)} ICE server(s), TURN for callers: {'yes' if minted else 'no'}"
    if fixed:
        detail += ", a fixed TURN account (nurses only)"
    ice = Check("STUN/TURN", minted, detail, "video with callers on mobile networks needs TURN with coturn's "
                "static-auth-secret as the server's `secret` in softphone.ice_servers (docs/escalation.md)",
                optional=True)
    return [*checks, ice]


async def check_app(settings: Settings) -> Check:
    url = f"{settings.http.public_url.rstrip('/')}/healthz"
    try:
        async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
            body = await resp.json()
    except Exception as exc:
        return Check("App", False, f"{url}: {exc or type(exc).__name__}", "start it with `make run`")
    connected = bool(body.get("ari_connected"))
    return Check("App", connected, f"{url}: leader={body.get('leader')} ari_connected={connected}",
                 "" if connected else "the app is not connected to Asterisk; see its log")


async def run_checks(settings: Settings, echo: Callable[[str], None] = print) -> bool:
    steps: list[Awaitable[Check | list[Check]]] = [
        check_database(settings), check_redis(settings), check_asterisk(settings), check_tools(settings),
        check_media(settings), check_app(settings),
    ]
    results: list[Check] = []
    for step in steps:
        got = await step
        results.extend(got if isinstance(got, list) else [got])
    for c in results:
        echo(f"{'OK  ' if c.ok else 'WARN' if c.optional else 'FAIL'}  {c.name:18} {c.detail}")
        if not c.ok and c.fix:
            echo(f"      {'':18} → {c.fix}")
    return all(c.ok or c.optional for c in results)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
