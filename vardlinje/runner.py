"""`vardlinje run`: start Redis (unless one answers at the configured URL), migrate and seed
the database, start the private Asterisk (or reach the external one), start the app, print
how to log in and call in, and stop everything it started on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from sqlmodel import col, select

from agents import notify, provision
from agents.presence import Event
from agents.service import skill_vocabulary
from calls.models import Call
from config.live import LiveConfig
from config.loader import ConfigError, default_directory
from config.schema import RegionRouting
from desktop.softphone import sip_ws_url
from ivr.ari_io import SendSms
from ivr.calls import IvrHandler
from ivr.directory import ConfigDirectory
from ivr.waiting import Play
from routing import presence
from routing.asterisk import OfferDriver
from routing.handler import RoutedCallHandler
from routing.http import CRISIS_ADMIN
from routing.live import LiveRouting
from routing.redis_store import RedisStore
from routing.router import EngineRouter
from routing.rules import rules_from_config
from sms.runtime import SMS
from telephony.ari.client import AriClient
from telephony.asterisk.private import PrivateAsterisk, check_root, clear_stale, default_root
from telephony.leader import LeaderLease
from telephony.media import PromptStore
from telephony.runtime import Telephony

from . import demo, procs, tls
from .app import attach_telephony, create_app
from .db import Database, utcnow
from .migrate import upgrade
from .settings import Settings

log = logging.getLogger("vardlinje.run")


class RunError(RuntimeError):
    """`vardlinje run` cannot start; the message says what to change."""


def state_file(settings: Settings) -> Path:
    return settings.data_dir / "run.json"


async def _redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


def _port_free(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            # As servers do: connections of a killed predecessor in TIME_WAIT do not block.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def instance_id(settings: Settings) -> str:
    return settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"


async def run(settings: Settings) -> None:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings, tls_pair = await asyncio.to_thread(_tls, settings, data_dir)
    async with AsyncExitStack() as stack:
        redis_url = settings.redis_url
        if not await _redis_answers(redis_url):
            parts = urlsplit(redis_url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 6379
            if not _port_free(host, port, socket.SOCK_STREAM):
                raise RunError(f"VARDLINJE_REDIS_URL {redis_url}: port {port} is taken by something that is not Redis")
            try:
                proc, redis_url = procs.start_redis(data_dir / "redis", port, host)
            except FileNotFoundError as exc:
                raise RunError(f"VARDLINJE_REDIS_URL {redis_url}: no Redis answers there and redis-server is not "
                               "installed to start one (apt-get install redis-server)") from exc
            stack.callback(procs.stop, proc)
            log.info("started Redis at %s (data in %s)", redis_url, data_dir / "redis")
        redis = Redis.from_url(redis_url)
        stack.push_async_callback(redis.aclose)

        await asyncio.to_thread(upgrade, settings.database_url)
        db = Database.from_url(settings.database_url)
        stack.callback(db.dispose)
        accounts = (await db.run(lambda s: demo.seed(s, data_dir / "demo-credentials.json", utcnow()))
                    if settings.demo else [])

        cfg = settings.asterisk
        if cfg.mode == "private":
            root = cfg.root or default_root()
            await asyncio.to_thread(check_root, root)
            # What a killed run left behind goes first; its Asterisk may need a moment to let
            # go of its ports, so a taken port is retried briefly before it is an error.
            await asyncio.to_thread(clear_stale, root)
            ports = [(cfg.sip_port, socket.SOCK_DGRAM, "SIP_PORT"), (cfg.http_port, socket.SOCK_STREAM, "HTTP_PORT")]
            if cfg.tls_port is not None:
                ports.append((cfg.tls_port, socket.SOCK_STREAM, "TLS_PORT"))
            for port, kind, name in ports:
                for _ in range(50):
                    if _port_free(cfg.bind_address, port, kind):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise RunError(f"VARDLINJE_ASTERISK__{name}: port {port} is in use; choose another")
            ast = PrivateAsterisk.create(
                root, app_name=cfg.app_name, http_port=cfg.http_port, sip_port=cfg.sip_port,
                rtp=(cfg.rtp_start, cfg.rtp_end), bind_address=cfg.bind_address,
                caller_networks=tuple(cfg.caller_networks), outbound_trunk=cfg.outbound_trunk, run_name="run",
                tls_port=cfg.tls_port, tls_files=(tls_pair.cert, tls_pair.key) if tls_pair else None,
            )
            stack.callback(ast.stop)  # also cleans up after a start that fails half-way
            prompts = PromptStore(ast.sounds_dir, str(ast.config.sounds), config_dir=settings.config_dir or default_directory())
            await asyncio.to_thread(prompts.render)
            # In this (the main) thread on purpose: Asterisk's parent-death signal is tied to
            # the thread that started it, and a worker thread of to_thread may end any time.
            ast.start()
            ari_url, ari_user, ari_password = ast.ari_url, ast.config.ari_user, ast.config.ari_password
            sip = (cfg.bind_address, ast.config.sip_port)
        else:
            prompts = PromptStore(data_dir / "prompts", cfg.media_base_url or f"{settings.http.public_url}/prompts",
                                  config_dir=settings.config_dir or default_directory())
            await asyncio.to_thread(prompts.render)
            ari_url, ari_user, ari_password = cfg.ari_url, cfg.ari_user, cfg.ari_password.get_secret_value()
            sip = (urlsplit(cfg.ari_url).hostname or "127.0.0.1", cfg.sip_port)

        http = aiohttp.ClientSession()
        stack.push_async_callback(http.close)
        ari = AriClient(http, ari_url, ari_user, ari_password, cfg.app_name)
        lease = LeaderLease(redis, f"vardlinje:leader:{cfg.app_name}", instance_id(settings),
                            settings.leader.lease_seconds)
        # The database is the truth; the files seed it on the first start only.
        live = LiveConfig(db, redis, recordings=settings.config_dir)
        try:
            directory = await live.seed_and_load(settings.config_dir)
        except ConfigError as exc:
            raise RunError("the region configuration has errors (see `vardlinje config check` and "
                           f"`vardlinje config versions`):\n{exc}") from exc
        if settings.demo:
            vocabulary = skill_vocabulary(directory.national.skills)
            await db.run(lambda s: demo.register_nurses(s, vocabulary, utcnow()))
            added = await db.run(lambda s: demo.seed_catalog(s, utcnow()))
            if added:
                log.info("demo referral catalog loaded: %d units in all 21 regions", added)
        app = create_app(settings, db, redis, prompt_dir=prompts.directory, live_config=live)
        sms = app[SMS]

        async def send_sms(call_id: str, to: str, body: str) -> bool:
            return await sms.try_send(db, call_id=call_id, to=to, body=body)

        handler, routing, live.on_change = _call_handling(ari, db, redis, prompts, directory, send_sms)
        telephony = Telephony(ari, handler, lease, renew_every=settings.leader.renew_every_seconds)
        attach_telephony(app, telephony, routing)
        app[CRISIS_ADMIN].switch.on_change = lambda state: routing.crisis_changed(state, telephony.is_leader)
        # Nurses added or changed with the CLI: endpoint and profile pushed at once.
        app.cleanup_ctx.append(notify.follower(redis, lambda endpoint: nurse_changed(ari, db, routing, endpoint)).cleanup_ctx)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        try:
            ssl_context = tls.server_context(tls_pair) if tls_pair else None
            await web.TCPSite(runner, settings.http.host, settings.http.port, ssl_context=ssl_context).start()
        except tls.TlsError as exc:
            raise RunError(f"VARDLINJE_HTTP__TLS_CERT: {exc}") from exc
        except OSError as exc:
            raise RunError(f"VARDLINJE_HTTP__PORT: cannot listen on {settings.http.host}:{settings.http.port}: {exc}") from exc

        state = {"sip_host": sip[0], "sip_port": sip[1], "web": settings.http.public_url, "pid": os.getpid(),
                 "redis_url": redis_url, "ari": {"url": ari_url, "user": ari_user, "password": ari_password}}
        fd = os.open(state_file(settings), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        stack.callback(lambda: state_file(settings).unlink(missing_ok=True))
        try:
            await asyncio.wait_for(ari.connected.wait(), 15)
        except TimeoutError:
            log.warning("the app has not connected to Asterisk's ARI yet; calls get the fallback message")
        _banner(settings, accounts, sip, tls_pair)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")


def _call_handling(ari: AriClient, db: Database, redis: Redis, prompts: PromptStore, directory: ConfigDirectory,
                   send_sms: SendSms) -> tuple[RoutedCallHandler, LiveRouting, Callable[[ConfigDirectory], None]]:
    """The IVR, routing on the shared Redis store, and the offer driver, wired together; and what to
    do when the configuration changes."""
    current = [directory]

    def region_routing(region: str) -> RegionRouting:
        found = current[0].config.regions.get(region)
        return found.routing if found is not None else RegionRouting()

    def config_changed(fresh: ConfigDirectory) -> None:
        # New calls take the new directory; calls in progress keep the one they started with.
        # Waiting calls are routed by the new agreements from the next decision on.
        current[0] = fresh
        ivr.directory = fresh
        routing.set_rules(rules_from_config(fresh.national))

    routing = LiveRouting(db, RedisStore(redis), rules_from_config(directory.national), region_routing, utcnow)
    routers: list[EngineRouter] = []

    def make_router(player_for: Callable[[str], Play | None]) -> EngineRouter:
        routers.append(EngineRouter(routing.engine, db, utcnow, player_for, status_for=routing.queue_status))
        return routers[0]

    ivr = IvrHandler(ari, db, prompts, directory, send_sms, utcnow, router=make_router)
    driver = OfferDriver(
        ari, routing.engine, routers[0], db, utcnow,
        endpoint_for=lambda nurse_id: nurse_id,  # routing knows nurses by their endpoint name
        ring_seconds=routing.ring_seconds,
        on_hangup=lambda nurse_id: routing.change_presence(nurse_id, Event.HANGUP, by="routing"))

    async def nurses_to_asterisk() -> None:
        # Endpoints live in Asterisk's astdb; the registry is the truth, so push at every connect.
        result = await provision.sync_registry(ari, db)
        log.info("nurse endpoints pushed: %d, removed: %d, failed: %d", len(result.pushed), len(result.removed),
                 len(result.failed))

    # The registry into routing before the calls are resynced (offers need the nurses); the endpoint
    # pushes after, so callers are taken care of first after a failover.
    handler = RoutedCallHandler(ivr, driver, on_connect=[routing.load_nurses], after_connect=[nurses_to_asterisk])
    return handler, routing, config_changed


async def nurse_changed(ari: AriClient, db: Database, routing: LiveRouting, endpoint: str) -> None:
    """A registry change announced by the CLI (or an admin page): push or remove her endpoint and
    reload the routing profiles, without waiting for the next ARI reconnect."""
    nurse = await db.run(lambda s: presence.by_endpoint(s, endpoint))
    if nurse is None:
        return
    if nurse.active:
        await provision.push(ari, nurse, provision.transport_of(nurse))
    else:
        await provision.remove(ari, nurse.endpoint)
    await routing.load_nurses(only=endpoint)


def _tls(settings: Settings, data_dir: Path) -> tuple[Settings, tls.TlsPair | None]:
    """The certificate the app (and the private Asterisk's TLS port) serve with, or None for plain
    HTTP; and the settings to run with: when the app itself serves HTTPS every request is HTTPS, so
    session cookies are always marked Secure (auth.cookie_secure only matters behind a proxy)."""
    cfg = settings.asterisk
    try:
        pair = tls.configured_pair(settings.http, data_dir, utcnow())
    except tls.TlsError as exc:
        raise RunError(f"VARDLINJE_HTTP__TLS_CERT / VARDLINJE_HTTP__TLS_KEY: {exc}") from exc
    except OSError as exc:
        raise RunError(f"VARDLINJE_HTTP__TLS_SELF_SIGNED: cannot write the certificate into "
                       f"{data_dir / tls.SELF_SIGNED_DIR} (VARDLINJE_DATA_DIR): {exc}") from exc
    if pair is None:
        if cfg.mode == "private" and cfg.tls_port is not None:
            raise RunError("VARDLINJE_ASTERISK__TLS_PORT is set, but the app has no certificate to give Asterisk: set "
                           "VARDLINJE_HTTP__TLS_CERT and VARDLINJE_HTTP__TLS_KEY, or VARDLINJE_HTTP__TLS_SELF_SIGNED=true")
        return settings, None
    problem = tls.expiry_problem(pair.cert, utcnow())
    if problem:
        log.warning("%s", problem)
    if not settings.auth.cookie_secure:
        log.info("the app serves HTTPS, so session cookies are marked Secure (auth.cookie_secure=false is for "
                 "plain HTTP only)")
        settings = settings.model_copy(update={"auth": settings.auth.model_copy(update={"cookie_secure": True})})
    log.info("serving HTTPS with %s%s", pair.cert, " (self-signed, for development)" if pair.self_signed else "")
    if sip_ws_url(settings).startswith("ws://"):
        # A page served over HTTPS may not open a plain ws:// socket (mixed content): the phones would
        # never register, and nurses would see only "not connected".
        raise RunError(f"the app serves HTTPS but the nurses' softphone would use {sip_ws_url(settings)}, which "
                       "browsers refuse from an HTTPS page: set VARDLINJE_ASTERISK__TLS_PORT (private Asterisk) "
                       "or VARDLINJE_SOFTPHONE__SIP_WS_URL=wss://… (docs/remote-work.md)")
    return settings, pair


def _banner(settings: Settings, accounts: list[demo.DemoAccount], sip: tuple[str, int],
            tls_pair: tls.TlsPair | None = None) -> None:
    lines = [
        "",
        "Vårdlinje is running.",
        f"  Web:            {settings.http.public_url}/login",
        f"  Nurse desktop:  {settings.http.public_url}/desktop  (log in as a nurse below, \"Logga in i kön\", "
        "\"Redo\"; answer a test call with \"Svara\")",
        f"  Supervisors:    {settings.http.public_url}/supervisor",
        "  Demo accounts:  " + ("\n                  ".join(
            f"{a.username:16} {a.password}  ({', '.join(a.roles)}, {a.display_name})" for a in accounts)
            or "(none: VARDLINJE_DEMO=false)"),
        f"  Softphone:      {sip_ws_url(settings)}  (the nurse desktop's phone)",
        f"  Call in:        sip:1177@{sip[0]}:{sip[1]}  (any SIP softphone on this host)",
        "  Test call:      .venv/bin/vardlinje call 1177 --keys 1,2,2   (another terminal; sipp presses the keys, "
        "stays on until the nurse hangs up and echoes her voice)",
        "  Try a menu:     .venv/bin/vardlinje ivr simulate 01 --digits 1,2 --at 2026-12-24T22:30",
        "  Health:         .venv/bin/vardlinje doctor",
        "  Stop:           Ctrl-C",
        "",
    ]
    if tls_pair is not None and tls_pair.self_signed:
        # Before the empty last line: a browser must trust it for the web and the softphone's port.
        lines[-1:-1] = [f"  Certificate:    {tls_pair.cert}  (self-signed: trust it in the browser, or accept its "
                        "warning on the web address and on the softphone's https://HOST:PORT/ once)"]
    print("\n".join(lines), flush=True)


MAX_CALL_SECONDS = 600.0  # `vardlinje call` without --hold: a test call never outlives this


def call_from_state(settings: Settings, number: str, caller: str, keys: list[str], hold: float | None) -> int:
    """`vardlinje call`: place a sipp call into the running stack, press `keys` (about two
    seconds apart), stay on for `hold` seconds and hang up (None: until the far end hangs up, at most
    MAX_CALL_SECONDS), and print what the call record says."""
    from calls import service as calls
    from telephony.sipp import place_call

    try:
        state = json.loads(state_file(settings).read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"no running Vårdlinje found ({state_file(settings)}): start it with `make run`") from exc
    until = (f"hanging up after {hold:g} s" if hold is not None else
             "staying on until the nurse or the menu hangs up (Ctrl-C hangs up)")
    print(f"Calling {number} at {state['sip_host']}:{state['sip_port']} as {caller}"
          f"{', pressing ' + ' '.join(keys) if keys else ''}; {until} ...", flush=True)
    try:
        result = place_call(state["sip_host"], int(state["sip_port"]), number, caller=caller,
                            keys=[(2.0, k) for key in keys for k in key], hang_up_after=hold,
                            hold_seconds=MAX_CALL_SECONDS if hold is None else 60.0,
                            rtp_echo=True)  # the nurse hears herself: audio both ways, audibly
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise RunError(str(exc)) from exc
    if not result.ok:
        print(f"The call failed (sipp exit {result.returncode}):\n{result.errors or result.output}")
        return 1
    print(f"The call was answered; it lasted {result.seconds:.1f} s.")
    db = Database.from_url(settings.database_url)
    try:
        def latest(s: Any) -> list[tuple[str, dict[str, Any]]]:
            found = s.exec(select(Call).where(Call.caller_number == caller).order_by(col(Call.started_at).desc())).first()
            return [] if found is None else [(e.kind, e.data) for e in calls.events(s, found.id)]

        for kind, data in db.run_sync(latest):
            if kind in ("ivr.region", "ivr.outcome", "queue.entered", "offer.started", "offer.missed", "offer.answered",
                        "call.bridged", "call.hung_up", "sms.sent", "sms.failed", "call.ended"):
                shown = {k: v for k, v in data.items()
                         if k not in ("menu_path", "call_id", "channel_id", "nurse_channel", "bridge")}
                print(f"  {kind:14} {json.dumps(shown, ensure_ascii=False)}")
    finally:
        db.dispose()
    return 0
