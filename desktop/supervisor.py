"""The supervisors' live page (issue 5, point 5): nurses and queues per region, live; a nurse's state changed;
the waiting calls with their route step (docs/supervisor.md).

- `GET /supervisor` — the page (server-rendered shell; `desktop/static/supervisor.js` fills it);
- `GET /api/v1/supervisor/ws?region=XX` — the supervisors' WebSocket: `{"type": "region", …}` (the JSON of
  `GET /api/v1/supervisor/regions/{region}`) on connect and whenever it changes.

Who may see which region is `may_view_region` of desktop/http.py, the same as the JSON API. Changes go
through the existing `POST /api/v1/supervisor/nurses/{endpoint}/presence`.

**Hub.** One listener on the routing engine wakes the hub; it also looks at the shared store every
`poll_seconds` (changes made on another instance, by the CLI, by liveness, or presence changes that route
nothing). Each tick computes each watched region once and gives every socket of that region its own copy
(`may_change` depends on the viewer), sent only when it differs from what that socket last got.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from aiohttp import WSMsgType, web
from redis.exceptions import RedisError
from sqlmodel import Session, select

from identity import service as identity
from identity.http import (
    IDENTITY,
    SESSION_COOKIE,
    Principal,
    forbidden,
    get_principal,
    json_error,
    unauthenticated,
)
from identity.models import Region, Role
from routing.live import LiveRouting
from routing.model import NATIONAL, RoutingEvent, utc
from vardlinje.appkeys import DB, ROUTING, SETTINGS
from vardlinje.db import Database

from .http import DESKTOP, RegionView, _no_routing, may_supervise, may_view_region, region_view, ws_principal
from .live import CLOSE_TIMEOUT, SESSION_ENDED_CLOSE, close_sockets
from .pages import STATIC, csp

log = logging.getLogger("vardlinje.desktop.supervisor")

PAGE_PATH = "/supervisor"
WS_PATH = "/api/v1/supervisor/ws"
STATIC_FILES = ("supervisor.js", "supervisor.css")
FORBIDDEN_CLOSE = 4403  # the viewer lost the right to see the region while watching it
NO_STORE = {"Cache-Control": "no-store"}

#: The national queue's name in the region picker (regions show their code and name).
NATIONAL_NAME = "Nationell kö"

#: Refreshes a socket's viewer from her session: None when the session ended.
Refresh = Callable[[], Awaitable[Principal | None]]


# --- the hub ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Watcher:
    """One supervisor's socket on one region."""

    ws: web.WebSocketResponse
    principal: Principal
    region: str
    refresh: Refresh
    checked: float  # loop time of the last session check
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: dict[str, Any] | None = None
    down: bool = False  # the store could not be read; told once per outage

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            if not self.ws.closed:
                with suppress(ConnectionResetError):  # the browser went away mid-send
                    await self.ws.send_json(message)


class SupervisorHub:
    """The supervisors' WebSockets of this instance, keyed by region."""

    def __init__(self, live: LiveRouting, db: Database, *, poll_seconds: float = 1.0,
                 session_check_seconds: float = 30.0) -> None:
        self.live = live
        self.db = db
        self.poll_seconds = poll_seconds
        self.session_check_seconds = session_check_seconds
        # A burst of routing events (many calls at once) must not recompute every region per event.
        self.min_interval = min(0.2, poll_seconds)
        self.watchers: dict[str, set[Watcher]] = {}
        self._wake = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()

    # -- routing's events ------------------------------------------------------------------------------

    def attach(self) -> None:
        self.live.engine.listeners.append(self.on_event)

    def detach(self) -> None:
        with suppress(ValueError):
            self.live.engine.listeners.remove(self.on_event)

    async def on_event(self, _event: RoutingEvent) -> None:
        """An engine listener: any event (a call queued, offered, answered, gone) may change a region's view."""
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("supervisor view push failed")
            await asyncio.sleep(self.min_interval)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, self.poll_seconds - self.min_interval))

    async def tick(self) -> None:
        """Check the sessions that are due, then compute each watched region once and push where it changed."""
        now = asyncio.get_running_loop().time()
        due = [w for group in self.watchers.values() for w in group if now - w.checked >= self.session_check_seconds]
        await asyncio.gather(*(self._check(w, now) for w in due))
        await asyncio.gather(*(self._push_region(region) for region in list(self.watchers)))

    async def _push_region(self, region: str) -> None:
        group = [w for w in self.watchers.get(region, ()) if not w.ws.closed]
        if not group:
            return
        try:
            view = await region_view(self.live, self.db, region)
        except (RedisError, OSError) as exc:
            log.warning("region=%s supervisor view not read: %s", region, exc)
            await asyncio.gather(*(self._unavailable(w, exc) for w in group))
            return
        await asyncio.gather(*(self._offer(w, view) for w in group))

    async def _offer(self, watcher: Watcher, view: RegionView) -> None:
        body = view.for_principal(watcher.principal)
        if body == watcher.last:
            return
        watcher.last = body
        watcher.down = False
        # `at`: the server's time, so the page ticks durations in routing's clock whatever the browser's says.
        await watcher.send({"type": "region", "at": utc(self.live.clock()).isoformat(), **body})

    async def _unavailable(self, watcher: Watcher, exc: Exception) -> None:
        if watcher.down:
            return
        watcher.down = True
        watcher.last = None  # the next good view is sent whatever it holds
        await watcher.send({"type": "error", "error": "unavailable",
                            "detail": f"Samtalsdirigeringen kan inte nås just nu ({type(exc).__name__}); visar senast "
                                      "kända läge / routing's store cannot be reached; showing the last known view"})

    async def _check(self, watcher: Watcher, now: float) -> None:
        """Her session still lives and still lets her see the region (roles and regions are read again)."""
        watcher.checked = now
        try:
            principal = await watcher.refresh()
        except Exception:
            log.exception("supervisor session check failed")
            return  # a database hiccup does not end her view; checked again next period
        if principal is None:
            self._close_later(watcher, {"type": "session_ended",
                                        "detail": "Sessionen har upphört; logga in igen / the session ended"},
                              SESSION_ENDED_CLOSE, b"session ended")
        elif not may_supervise(principal) or not may_view_region(principal, watcher.region):
            self._close_later(watcher, {"type": "forbidden",
                                        "detail": f"Du får inte längre se region {watcher.region} / you may no "
                                                  "longer see this region"},
                              FORBIDDEN_CLOSE, b"forbidden")
        else:
            watcher.principal = principal

    def _close_later(self, watcher: Watcher, message: dict[str, Any], code: int, reason: bytes) -> None:
        # Not awaited by the tick: a vanished browser would hold every region's push for the close timeout.
        self._forget(watcher)

        async def close() -> None:
            await watcher.send(message)
            with suppress(Exception):
                await watcher.ws.close(code=code, message=reason)

        task = asyncio.create_task(close(), name=f"supervisor-ws-close-{watcher.region}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _forget(self, watcher: Watcher) -> None:
        group = self.watchers.get(watcher.region)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self.watchers[watcher.region]

    async def close_all(self) -> None:
        """Close every socket at once (shutdown); the browsers reconnect (to another instance)."""
        await close_sockets([w.ws for group in self.watchers.values() for w in group])
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- one socket ------------------------------------------------------------------------------------

    async def serve(self, request: web.Request, principal: Principal, region: str,
                    refresh: Refresh) -> web.WebSocketResponse:
        # A short close timeout: a vanished browser never answers the close handshake.
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=4096, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        watcher = Watcher(ws, principal, region, refresh, checked=asyncio.get_running_loop().time())
        self.watchers.setdefault(region, set()).add(watcher)
        self.wake()  # her first view comes with the next tick, at once
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    data = msg.json()
                except ValueError:
                    data = None
                if isinstance(data, dict) and data.get("type") == "ping":
                    await watcher.send({"type": "pong", "at": utc(self.live.clock()).isoformat()})
                else:
                    await watcher.send({"type": "error", "error": "bad_message",
                                        "detail": 'Okänt meddelande; skicka {"type": "ping"} / unknown message'})
        finally:
            self._forget(watcher)
        return ws


@dataclass
class SupervisorState:
    hub: SupervisorHub | None = None  # with routing, while the app runs


SUPERVISOR = web.AppKey("supervisor", SupervisorState)
STATIC_VERSIONS = web.AppKey("supervisor_static_versions", dict[str, str])


# --- the WebSocket ---------------------------------------------------------------------------------------


def _principal_of(s: Session, cookie: str, at: datetime) -> Principal | None:
    """The session's principal as the identity middleware would build it now (roles and regions read again)."""
    found = identity.get_session(s, cookie, at=at)
    if found is None:
        return None
    session, user = found
    assert user.id is not None
    return Principal(user_id=user.id, username=user.username, display_name=user.display_name,
                     roles=frozenset(user.roles), care_provider_id=user.care_provider_id,
                     region_ids=tuple(identity.user_regions(s, user)), via="session", session_id=session.id,
                     csrf_token=session.csrf_token)


async def _region_exists(db: Database, region: str) -> bool:
    return region == NATIONAL or await db.run(lambda s: s.get(Region, region)) is not None


async def supervisor_ws(request: web.Request) -> web.StreamResponse:
    """The supervisors' WebSocket: the session cookie only (a browser sends no bearer header on WebSockets), an
    Origin equal to the public URL's (no other site may open it with her cookie), her region only."""
    principal = ws_principal(request, "Översiktens")
    if isinstance(principal, web.Response):
        return principal
    if not may_supervise(principal):
        return forbidden(request, "forbidden", "Kräver rollen supervisor, region_admin eller national_admin / "
                                               "requires a supervisor or admin role")
    region = request.query.get("region", "")
    if not region:
        return json_error(400, "bad_request", "Ange regionen: ?region=01 / the region parameter is required")
    if not may_view_region(principal, region):
        return forbidden(request, "forbidden", f"Du får inte se region {region}: bara egna regioner (alla: "
                                               "national_admin) / you may see only your own regions")
    db = request.config_dict[DB]
    if not await _region_exists(db, region):
        return json_error(404, "unknown_region", f"Okänd region {region!r} / unknown region")
    hub = request.config_dict[SUPERVISOR].hub
    if request.config_dict.get(ROUTING) is None or hub is None:
        return _no_routing()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    identity_clock = request.config_dict[IDENTITY].clock

    async def refresh() -> Principal | None:
        at = identity_clock()
        return await db.run(lambda s: _principal_of(s, cookie, at))

    return await hub.serve(request, principal, region, refresh)


# --- the page --------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    """A digest per static file, in its URL, so a browser never runs yesterday's script with today's page."""
    versions = {}
    for name in STATIC_FILES:
        try:
            versions[name] = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        except OSError:
            versions[name] = "0"
    return versions


def viewable_regions(s: Session, principal: Principal) -> list[tuple[str, str]]:
    """(id, name) of the regions the page offers her: a national admin every region and the national queue;
    a supervisor or region admin her own."""
    names = {r.id: r.name for r in s.exec(select(Region).order_by(Region.id))}
    if principal.has_role(Role.NATIONAL_ADMIN):
        return [*names.items(), (NATIONAL, NATIONAL_NAME)]
    return [(r, names.get(r, r)) for r in principal.region_ids if may_view_region(principal, r)]


def supervisor_page(*, regions: list[tuple[str, str]], selected: str, user: str, csrf_token: str,
                    versions: dict[str, str]) -> str:
    """The page's shell in Swedish: the region picker (a plain form, works without JavaScript), empty tables
    and the live regions the script fills. `data-i18n` names the text's key in the script's English table."""
    options = "".join(
        f'<option value="{escape(rid)}"{" selected" if rid == selected else ""}>{escape(_region_label(rid, name))}'
        "</option>" for rid, name in regions)
    title = next((_region_label(rid, name) for rid, name in regions if rid == selected), selected)
    css = f"/static/supervisor.css?v={versions['supervisor.css']}"
    js = f"/static/supervisor.js?v={versions['supervisor.js']}"

    def th(key: str, text: str) -> str:
        return f'<th scope="col" data-i18n="{key}">{text}</th>'

    return f"""<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Översikt – Vårdlinje</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<script type="module" src="{js}"></script>
</head>
<body data-region="{escape(selected)}" data-ws="{WS_PATH}">
<a class="skip" href="#main" data-i18n="skip">Hoppa till innehållet</a>
<header class="top">
<p class="brand">Vårdlinje <span data-i18n="title">Översikt för arbetsledare</span></p>
<p class="who"><span data-i18n="who">Inloggad som</span> <strong>{escape(user)}</strong></p>
<button type="button" id="lang" aria-pressed="false" lang="en">English</button>
<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<button type="submit" data-i18n="signout">Logga ut från Vårdlinje</button>
</form>
</header>
<nav aria-labelledby="picker-label" class="picker">
<form method="get" action="{PAGE_PATH}" id="picker">
<label id="picker-label" for="region" data-i18n="region">Region</label>
<select id="region" name="region">{options}</select>
<button type="submit" data-i18n="show">Visa</button>
</form>
</nav>
<main id="main" tabindex="-1">
<h1><span data-i18n="heading">Läget i</span> <span id="region-title">{escape(title)}</span></h1>
<p id="status" role="status" class="status" data-state="connecting">Ansluter…</p>
<div id="error" role="alert" class="error" hidden></div>
<noscript><p class="error">Översikten behöver JavaScript för att visa läget live. <span lang="en">The
supervisor view needs JavaScript to show the live state.</span></p></noscript>
<section aria-labelledby="queue-h" class="card">
<h2 id="queue-h" data-i18n="queue">Kö</h2>
<dl id="queue" class="figures"></dl>
</section>
<section aria-labelledby="waiting-h" class="card">
<h2 id="waiting-h" data-i18n="waiting">Väntande samtal</h2>
<table id="waiting">
<caption class="visually-hidden" data-i18n="waiting.caption">Väntande samtal i dirigeringens ordning</caption>
<thead><tr>{th("w.position", "Plats")}{th("w.call", "Samtal")}{th("w.priority", "Prioritet")}{th("w.waited", "Väntat")}\
{th("w.estimate", "Beräknad väntan")}{th("w.step", "Dirigeringssteg")}{th("w.missed", "Missade erbjudanden")}</tr></thead>
<tbody></tbody>
</table>
<p id="waiting-empty" class="empty" data-i18n="waiting.none">Inga väntande samtal.</p>
</section>
<section aria-labelledby="offered-h" class="card">
<h2 id="offered-h" data-i18n="offered">Ringer hos en sjuksköterska</h2>
<table id="offered">
<caption class="visually-hidden" data-i18n="offered.caption">Samtal som ringer hos en sjuksköterska</caption>
<thead><tr>{th("o.call", "Samtal")}{th("o.nurse", "Sjuksköterska")}{th("o.step", "Dirigeringssteg")}\
{th("o.ringing", "Ringer sedan")}{th("o.waited", "Väntat")}</tr></thead>
<tbody></tbody>
</table>
<p id="offered-empty" class="empty" data-i18n="offered.none">Inget samtal ringer.</p>
</section>
<section aria-labelledby="nurses-h" class="card wide">
<h2 id="nurses-h" data-i18n="nurses">Sjuksköterskor</h2>
<table id="nurses">
<caption class="visually-hidden" data-i18n="nurses.caption">Sjuksköterskor som svarar för regionen</caption>
<thead><tr>{th("n.name", "Namn")}{th("n.home", "Hemregion")}{th("n.state", "Läge")}{th("n.since", "Sedan")}\
{th("n.actions", "Åtgärder")}</tr></thead>
<tbody></tbody>
</table>
<p id="nurses-empty" class="empty" data-i18n="nurses.none">Inga sjuksköterskor svarar för regionen.</p>
</section>
</main>
<div id="announce" class="visually-hidden" aria-live="polite"></div>
</body>
</html>
"""


def _region_label(rid: str, name: str) -> str:
    return name if rid == NATIONAL else f"{rid} {name}"


async def page(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session" or not may_supervise(principal):
        return forbidden(request, "forbidden", "Översikten kräver rollen supervisor, region_admin eller "
                                               "national_admin / requires a supervisor or admin role")
    regions = await request.config_dict[DB].run(lambda s: viewable_regions(s, principal))
    if not regions:
        return forbidden(request, "forbidden", "Du har inga regioner att se / you have no regions to see")
    wanted = request.query.get("region", "")
    selected = wanted if wanted in {rid for rid, _ in regions} else regions[0][0]
    html = supervisor_page(regions=regions, selected=selected, user=principal.display_name or principal.username,
                           csrf_token=principal.csrf_token or "", versions=request.config_dict[STATIC_VERSIONS])
    response = web.Response(text=html, content_type="text/html", headers=NO_STORE)
    response.headers["Content-Security-Policy"] = csp(request.config_dict[SETTINGS].http.public_url)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# --- assembly --------------------------------------------------------------------------------------------


async def _supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
    """With routing on the app: the hub (one engine listener) runs with it."""
    state = app[SUPERVISOR]
    live = app.get(ROUTING)
    if live is None:
        yield
        return
    config = app[DESKTOP].config
    hub = SupervisorHub(live, app[DB], poll_seconds=config.poll_seconds,
                        session_check_seconds=config.session_check_seconds)
    state.hub = hub
    hub.attach()
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop), name="supervisor-views")
    yield
    stop.set()
    hub.wake()
    await hub.close_all()  # normally done already at shutdown (_close_sockets)
    hub.detach()
    with suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, 5)
    state.hub = None


async def _close_sockets(app: web.Application) -> None:
    """At shutdown, before the server waits for its handlers: every supervisor socket is closed."""
    hub = app[SUPERVISOR].hub
    if hub is not None:
        await hub.close_all()


def setup_supervisor(app: web.Application) -> None:
    """The page, its WebSocket and (unless another part serves them already) the static files at /static.
    Called by `setup_desktop`, whose timings (poll, session check) the hub follows."""
    app[SUPERVISOR] = SupervisorState()
    app[STATIC_VERSIONS] = _versions()
    app.cleanup_ctx.append(_supervisor_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get(PAGE_PATH, page)
    app.router.add_get(WS_PATH, supervisor_ws)
    if "static" not in app.router.named_resources():
        app.router.add_static("/static", STATIC, name="static")
