"""The aiohttp application: typed state, routes of every capability, background tasks.

`create_app` only assembles; what runs around it (Redis, Asterisk, the web server) is started
by `vardlinje.runner`. Background work (the telephony connection) runs through cleanup_ctx,
so it starts and stops with the app.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import suppress
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from advice.http import setup_advice
from catalog.http import setup_catalog
from config.http import setup_config_admin
from config.live import LiveConfig
from desktop.http import setup_desktop
from identity.http import setup_identity
from journal.citizen import CitizenTokenConfig, load_public_key
from journal.http import setup_journal
from routing.control import CallControl
from routing.crisis import CrisisSwitch
from routing.handler import RoutedCallHandler
from routing.http import setup_crisis_admin
from routing.live import LiveRouting
from sms.http import setup_sms
from sms.runtime import make_provider
from telephony.runtime import Telephony
from webrtc.http import setup_media

from . import appkeys
from .db import Database
from .forwarded import forwarded_middleware
from .settings import Settings

PROMPT_DIR = web.AppKey("prompt_dir", Path)
# Named prompts (fallback-final.wav, fallback-final.en.wav) and menu texts rendered on demand (t/<hash>.wav).
# and regions' recordings (rec/<owner>/<name>.wav).
_PROMPT_NAME = re.compile(r"^(t/[0-9a-f]{20}|rec/([0-9]{2}|national)/[A-Za-z0-9_-]+|[a-z0-9-]+(\.[a-z]{2})?)\.wav$")


def create_app(
    settings: Settings,
    db: Database,
    redis: Redis,
    *,
    telephony: Telephony | None = None,
    prompt_dir: Path | None = None,
    live_config: LiveConfig | None = None,
) -> web.Application:
    # First of all middlewares, so identity's throttling sees the real client address.
    app = web.Application(middlewares=[forwarded_middleware(settings.http.trusted_proxies)])
    app[appkeys.SETTINGS] = settings
    app[appkeys.DB] = db
    app[appkeys.REDIS] = redis
    if telephony is not None:
        attach_telephony(app, telephony)
    if prompt_dir is not None:
        app[PROMPT_DIR] = prompt_dir
        app.router.add_get("/prompts/{version}/{name:.+}", prompt_file)
    app.router.add_get("/healthz", healthz)
    setup_identity(app)
    setup_sms(app, make_provider(settings.sms, public_url=settings.http.public_url), sms=settings.sms)
    # The config routes exist in every app; with a LiveConfig the app also listens for changes.
    setup_config_admin(app, live_config)
    # The crisis switch's API exists in every app; the running system follows it (vardlinje.runner).
    setup_crisis_admin(app, CrisisSwitch(db, redis))
    setup_desktop(app)  # the nurse desktop's and the supervisors' APIs and WebSocket
    setup_advice(app)  # decision-support search and documents (the shipped content, validated at start)
    setup_journal(app, base_url=settings.http.public_url, citizen=citizen_config(settings))
    setup_catalog(app)  # the referral catalog: search, edits, import/export
    setup_media(app)  # photos (and video) from the caller's phone: links by SMS, uploads, the images
    return app


def citizen_config(settings: Settings) -> CitizenTokenConfig | None:
    """The citizen e-service's token check, or None when not configured (the route then answers 503).
    A missing or wrong key file stops the start with the file named (CitizenTokenError)."""
    c = settings.citizen
    if not c.issuer or c.public_key_file is None:
        return None
    return CitizenTokenConfig(issuer=c.issuer, audience=c.audience, public_key_pem=load_public_key(c.public_key_file),
                              algorithms=tuple(c.algorithms), subject_claim=c.subject_claim,
                              max_lifetime_seconds=c.max_lifetime_seconds)


def attach_telephony(app: web.Application, telephony: Telephony, routing: LiveRouting | None = None) -> None:
    """Run the telephony connection (and routing's tick, which runs while this instance leads)
    with the app (before the app starts)."""
    app[appkeys.TELEPHONY] = telephony
    app.cleanup_ctx.append(_background("telephony", telephony.run))
    if routing is not None:
        routing.leader = telephony.is_leader
        app[appkeys.ROUTING] = routing
        if isinstance(telephony.handler, RoutedCallHandler):  # the nurse's transfers go through its offer driver
            app[appkeys.CALL_CONTROL] = CallControl(telephony.handler)
        app.cleanup_ctx.append(_background("routing", lambda stop: routing.run(stop, telephony.is_leader)))


def _background(name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
                ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx entry: `run(stop)` as a task while the app runs; asked to stop, then cancelled
    after 10 s."""
    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run(stop), name=name)
        yield
        stop.set()
        with suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(task, 10)
            except TimeoutError:
                task.cancel()

    return ctx


async def healthz(request: web.Request) -> web.Response:
    """Liveness and leadership, for load balancers and `vardlinje doctor`."""
    app = request.app
    telephony = app.get(appkeys.TELEPHONY)
    body: dict[str, object] = {"status": "ok"}
    if telephony is not None:
        body["leader"] = telephony.is_leader.is_set()
        body["ari_connected"] = telephony.ari.connected.is_set()
    return web.json_response(body)


async def prompt_file(request: web.Request) -> web.StreamResponse:
    """Rendered prompts for an external Asterisk's HTTP media cache. The URL carries the
    digest of the prompt's text; an outdated digest is a 404, never the wrong recording."""
    name = request.match_info["name"]
    if not _PROMPT_NAME.match(name):
        raise web.HTTPNotFound(text="no such prompt")
    path = request.app[PROMPT_DIR] / name
    try:
        current = path.with_suffix(".src").read_text().strip()
    except OSError:
        raise web.HTTPNotFound(text="no such prompt") from None
    if request.match_info["version"] != current or not path.is_file():
        raise web.HTTPNotFound(text="no such prompt version")
    # Content-addressed, so it may be cached for long.
    return web.FileResponse(path, headers={"Content-Type": "audio/x-wav", "Cache-Control": "max-age=86400"})
