"""HTTP routes of the nurse desktop and the supervisors' region view (docs/desktop.md).

Nurse (role `nurse` and registered in agents' registry; API tokens need `desktop:read` /
`desktop:write`):

- `GET  /api/v1/desktop/me` — her registry profile, current presence and the events she may send;
- `POST /api/v1/desktop/presence` — `{"event": "login|ready|pause|logout", "reason": …}`;
- `GET  /api/v1/desktop/presence/today` — her presence changes of the day (Stockholm time);
- `GET  /api/v1/desktop/queues` — the queues of the regions she serves, nothing else;
- `GET  /api/v1/desktop/ws` — the desktop WebSocket (session cookie only, Origin = `http.public_url`).

Supervisor (national admin: any region; supervisor and region admin: their own regions; API tokens
need `supervisor:read` / `supervisor:write`):

- `GET  /api/v1/supervisor/regions/{region}` — the region's nurses with presence, its waiting calls
  with their route step, the calls ringing at a nurse, and the queue figures;
- `POST /api/v1/supervisor/nurses/{endpoint}/presence` — `{"event": "ready|pause|logout", "reason": …}`
  for a nurse whose home region is one of hers and, when she belongs to a care provider, who is
  employed by the same one.

Cookie sessions need the CSRF token for POST (the identity middleware checks it). Presence changes go
through `LiveRouting.change_presence` (the store first, then the registry; `by` = the username).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import ChainMapProxy, web
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from sqlmodel import Session, col, select

from agents import service as agents
from agents.models import Nurse
from agents.presence import Event, InvalidTransition, PauseReason, State
from config.http import CONFIG_ADMIN
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
from identity.models import Region, Role, User
from ivr.model import Menu
from routing import presence as routing_presence
from routing.live import LiveRouting
from routing.model import NATIONAL, NurseState
from routing.store import UnknownNurse
from vardlinje.appkeys import DB, REDIS, ROUTING, SETTINGS, TELEPHONY
from vardlinje.db import Database, utcnow

from . import pages
from .calls import setup_call_control
from .context import read_call
from .live import (
    HEARTBEAT_KEY,
    CallContext,
    DesktopHub,
    Liveness,
    apply_presence,
    live_presence_json,
    nurse_presence_json,
    offer_json,
    presence_json,
    queue_overview,
    region_calls,
)
from .models import EVENT_SV, REASON_SV, STATE_SV, PresenceRequest, SupervisorPresenceRequest
from .notices import publish, relay
from .softphone import ice_servers, sip_domain, sip_ws_url

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DESKTOP_READ = "desktop:read"
DESKTOP_WRITE = "desktop:write"
SUPERVISOR_READ = "supervisor:read"
SUPERVISOR_WRITE = "supervisor:write"

ME_PATH = "/api/v1/desktop/me"
SOFTPHONE_PATH = "/api/v1/desktop/softphone"
CALL_PATH = "/api/v1/desktop/call"
PRESENCE_PATH = "/api/v1/desktop/presence"
TODAY_PATH = "/api/v1/desktop/presence/today"
QUEUES_PATH = "/api/v1/desktop/queues"
WS_PATH = "/api/v1/desktop/ws"
REGION_PATH = "/api/v1/supervisor/regions/{region}"
NURSE_PRESENCE_PATH = "/api/v1/supervisor/nurses/{endpoint}/presence"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class DesktopConfig:
    """The desktop's timings (settings-like; `setup_desktop` takes them as keyword arguments)."""

    grace_seconds: float = 30.0  # a ready nurse's desktop silent this long is paused
    sweep_seconds: float = 5.0  # how often liveness looks
    poll_seconds: float = 1.0  # how often a connection looks at the store besides routing's events
    queue_seconds: float = 3.0  # how often the queue overview is pushed
    session_check_seconds: float = 30.0  # how often a WebSocket checks that its session still lives
    beat_seconds: float = 5.0  # how often an open, pong-answering desktop socket renews her heartbeat
    heartbeat_key: str = HEARTBEAT_KEY
    clock: Callable[[], datetime] | None = None  # None: routing's clock, else the wall clock
    #: Whether this instance leads (routes and rings). None: the telephony's lease; leader without telephony.
    is_leader: Callable[[], bool] | None = None


@dataclass
class DesktopState:
    config: DesktopConfig
    hub: DesktopHub | None = None  # with routing, while the app runs
    liveness: Liveness | None = None


DESKTOP = web.AppKey("desktop", DesktopState)


# --- who may do what -------------------------------------------------------------------------------------


def token_allows(p: Principal, read: str, write: str, *, writing: bool) -> bool:
    """Sessions: yes (roles decide). Tokens: the write scope, or for reading either scope."""
    if p.via != "token":
        return True
    return write in p.scopes if writing else (read in p.scopes or write in p.scopes)


def may_supervise(p: Principal) -> bool:
    return p.has_role(Role.NATIONAL_ADMIN) or (p.has_role(Role.SUPERVISOR, Role.REGION_ADMIN) and bool(p.region_ids))


def may_view_region(p: Principal, region: str) -> bool:
    """National admins: every region and the national queue; supervisors and region admins: their regions."""
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    return p.has_role(Role.SUPERVISOR, Role.REGION_ADMIN) and region != NATIONAL and region in p.region_ids


def may_change_nurse(p: Principal, home_region: str, care_provider_id: int | None) -> bool:
    """National admins: any nurse. Supervisors and region admins: a nurse whose home region is theirs and,
    when they belong to a care provider, who is employed by the same one."""
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    if not p.has_role(Role.SUPERVISOR, Role.REGION_ADMIN) or home_region not in p.region_ids:
        return False
    return p.care_provider_id is None or p.care_provider_id == care_provider_id


# --- helpers ---------------------------------------------------------------------------------------------


async def _db(request: web.Request, fn: Callable[[Session], T]) -> T:
    return await request.config_dict[DB].run(fn)


def _routing(request: web.Request) -> LiveRouting | None:
    return request.config_dict.get(ROUTING)


def _state(request: web.Request) -> DesktopState:
    return request.config_dict[DESKTOP]


def _now(request: web.Request) -> datetime:
    clock = _state(request).config.clock
    if clock is not None:
        return clock()
    live = _routing(request)
    return live.clock() if live is not None else utcnow()


def _leads(app: web.Application | ChainMapProxy) -> bool:
    check = app[DESKTOP].config.is_leader
    if check is not None:
        return check()
    telephony = app.get(TELEPHONY)
    return telephony is None or telephony.is_leader.is_set()


def _no_routing() -> web.Response:
    return json_error(503, "routing_unavailable", "Samtalsdirigeringen är inte igång på den här servern (ingen "
                                                  "telefoni); försök igen senare / routing is not running here")


def _unavailable(exc: Exception) -> web.Response:
    return json_error(503, "unavailable", f"Samtalsdirigeringen kan inte nås just nu ({type(exc).__name__}); "
                                          "försök igen / routing's store cannot be reached now")


def _bad_request(detail: str, **extra: Any) -> web.Response:
    return web.json_response({"error": "bad_request", "detail": detail, **extra}, status=400)


async def _body(request: web.Request, model: type[M]) -> M | web.Response:
    try:
        raw = await request.json()
    except ValueError:
        return _bad_request("Ogiltig JSON / invalid JSON")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                  for e in exc.errors()]
        return _bad_request('Förväntade {"event": …, "reason": …} med en tillåten händelse och orsak / expected '
                            '{"event": …, "reason": …} with an allowed event and reason', issues=issues)


def _event_and_reason(event: str, reason: str | None) -> tuple[Event, PauseReason | None] | web.Response:
    ev = Event(event)
    if ev is Event.PAUSE and reason is None:
        return _bad_request("En paus behöver en orsak: break, meeting, training eller administration / "
                            "a pause needs a reason")
    if ev is not Event.PAUSE and reason is not None:
        return _bad_request("Orsak anges bara vid paus / a reason is given only with pause")
    return ev, PauseReason(reason) if reason else None


def _refused(event: Event, current: NurseState | None, exc: Exception, *, own: bool) -> web.Response:
    who = "du är" if own else "sjuksköterskan är"
    if current is None:
        where = ""
    else:
        reason = f" ({REASON_SV[current.reason]})" if current.reason else ""
        where = f" när {who} i läget {STATE_SV[current.state]}{reason}"
        if current.state in (State.OFFERED, State.ON_CALL):
            where += "; ett pågående samtal avbryts aldrig"
    return json_error(409, "invalid_transition", f"Det går inte att {EVENT_SV[event]}{where} / {exc}")


async def _change(request: web.Request, live: LiveRouting, endpoint: str, event: Event, reason: PauseReason | None,
                  by: str, *, own: bool) -> web.Response:
    """The change through routing (store, registry, route), then her presence as it now stands."""
    try:
        await apply_presence(live, endpoint, event, reason=reason, by=by, leader=_leads(request.config_dict))
    except InvalidTransition as exc:
        try:
            current = await live.store.get_nurse(endpoint)
        except (RedisError, OSError):
            current = None
        return _refused(event, current, exc, own=own)
    except (UnknownNurse, LookupError):
        return json_error(409, "inactive", "Sjuksköterskan är inaktiverad i registret / the nurse is deactivated")
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    state = _state(request)
    if state.hub is not None:
        state.hub.wake(endpoint)
    if event is Event.LOGOUT and state.liveness is not None:
        try:
            await state.liveness.forget(endpoint)  # she left on purpose: nothing to watch
        except (RedisError, OSError):
            pass
    nurse = await live.store.get_nurse(endpoint)
    if nurse is None:
        return json_error(409, "inactive", "Sjuksköterskan finns inte i dirigeringen / the nurse is not in routing")
    return web.json_response({"nurse": endpoint, "presence": live_presence_json(live, nurse)}, headers=NO_STORE)


def _scoped(request: web.Request, read: str, write: str, *, writing: bool) -> Principal | web.Response:
    """The logged-in principal, if an API token she uses carries the scope (a session has all)."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if not token_allows(principal, read, write, writing=writing):
        scope = write if writing else read
        return forbidden(request, "insufficient_scope", f"Kräver en API-token med behörigheten {scope} / "
                                                        f"requires an API token with scope {scope}")
    return principal


# --- the nurse -------------------------------------------------------------------------------------------


def _own_nurse(s: Session, user_id: int) -> Nurse | None:
    return s.exec(select(Nurse).where(Nurse.user_id == user_id)).first()


async def _nurse_guard(request: web.Request, *, writing: bool) -> tuple[Principal, Nurse] | web.Response:
    principal = _scoped(request, DESKTOP_READ, DESKTOP_WRITE, writing=writing)
    if isinstance(principal, web.Response):
        return principal
    if not principal.has_role(Role.NURSE):
        return forbidden(request, "forbidden", "Sjuksköterskornas skrivbord kräver rollen nurse / "
                                               "the nurse desktop requires the nurse role")
    nurse = await _db(request, lambda s: _own_nurse(s, principal.user_id))
    if nurse is None or not nurse.active:
        return forbidden(request, "not_a_nurse", "Du är inte registrerad som aktiv sjuksköterska (vardlinje nurse "
                                                 "add) / you are not registered as an active nurse")
    return principal, nurse


def _profile_json(nurse: Nurse) -> dict[str, Any]:
    return {"endpoint": nurse.endpoint, "home_region": nurse.home_region,
            "served_regions": list(nurse.served_regions), "skills": dict(nurse.skills), "phone": nurse.phone}


async def _live_presence(live: LiveRouting | None, nurse: Nurse) -> dict[str, Any]:
    """Routing's live presence (the store), or the registry's when routing is not running here."""
    if live is not None:
        try:
            current = await routing_presence.ensure_loaded(live.db, live.store, nurse.endpoint)
            return live_presence_json(live, current)
        except (RedisError, OSError, LookupError):
            pass
    p = nurse.presence()
    return presence_json(p.state, p.since, p.reason, p.call_id)


async def desktop_me(request: web.Request) -> web.StreamResponse:
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    principal, nurse = guarded
    return web.json_response({
        "username": principal.username, "display_name": principal.display_name,
        "care_provider_id": principal.care_provider_id, **_profile_json(nurse),
        "presence": await _live_presence(_routing(request), nurse),
        "reasons": {r.value: REASON_SV[r] for r in PauseReason if r is not PauseReason.MISSED_OFFER},
    }, headers=NO_STORE)


async def desktop_softphone(request: web.Request) -> web.StreamResponse:
    """Her softphone's registration: endpoint, SIP secret, WebSocket URL and STUN/TURN servers. Only to her
    own browser session (never to an API token: the secret lets whoever holds it take her calls)."""
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    principal, nurse = guarded
    if principal.via != "session":
        return forbidden(request, "not_a_session", "Telefonens inloggning lämnas bara till din egen webbläsare / "
                                                   "the softphone secret is given to a browser session only")
    settings = request.config_dict[SETTINGS]
    if nurse.phone != "ws":
        return web.json_response({"kind": nurse.phone, "endpoint": nurse.endpoint,
                                  "detail": "Samtalen ringer i din SIP-telefon, inte i webbläsaren / calls ring "
                                            "on your SIP phone"}, headers=NO_STORE)
    servers = ice_servers(settings.softphone.ice_servers, nurse.endpoint, utcnow(), settings.softphone.turn_ttl_seconds)
    return web.json_response({"kind": "ws", "server": sip_ws_url(settings), "domain": sip_domain(settings),
                              "user": nurse.endpoint, "password": nurse.sip_secret, "iceServers": servers},
                             headers=NO_STORE)


async def desktop_call(request: web.Request) -> web.StreamResponse:
    """The call offered to her or in progress, with what the caller chose; `{"call": null}` when none."""
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    live = _routing(request)
    if live is None:
        return _no_routing()
    try:
        current = await live.store.get_nurse(nurse.endpoint)
        if current is None or current.call_id is None or current.state not in (State.OFFERED, State.ON_CALL):
            return web.json_response({"call": None}, headers=NO_STORE)
        call = await offer_json(live, current.call_id, call_context(request.app))
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    return web.json_response({"call": {**call, "state": current.state.value}}, headers=NO_STORE)


def call_context(app: web.Application) -> CallContext:
    """The call record's side of a call view (caller number, menu choices in words)."""
    db = app[DB]

    def menu_for(region: str) -> Menu | None:
        admin = app.get(CONFIG_ADMIN)
        if admin is None or admin.live is None:
            return None
        try:
            return admin.live.directory.menu(region)
        except (RuntimeError, KeyError, LookupError):
            return None

    def queue_names() -> dict[str, str]:
        admin = app.get(CONFIG_ADMIN)
        if admin is None or admin.live is None:
            return {}
        try:
            return {q: d.name for q, d in admin.live.directory.national.queues.items()}
        except RuntimeError:
            return {}

    async def context(call_id: str) -> dict[str, Any]:
        names = queue_names()
        return await db.run(lambda s: read_call(s, call_id, menu_for, names))

    return context


async def desktop_presence(request: web.Request) -> web.StreamResponse:
    guarded = await _nurse_guard(request, writing=True)
    if isinstance(guarded, web.Response):
        return guarded
    principal, nurse = guarded
    body = await _body(request, PresenceRequest)
    if isinstance(body, web.Response):
        return body
    checked = _event_and_reason(body.event, body.reason)
    if isinstance(checked, web.Response):
        return checked
    live = _routing(request)
    if live is None:
        return _no_routing()
    event, reason = checked
    return await _change(request, live, nurse.endpoint, event, reason, principal.username, own=True)


async def desktop_today(request: web.Request) -> web.StreamResponse:
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    nurse_id = nurse.id
    assert nurse_id is not None
    day = _now(request).astimezone(agents.STOCKHOLM).date()
    rows = await _db(request, lambda s: agents.presence_today(s, nurse_id, day))
    states = {s.value: s for s in State}
    reasons = {r.value: r for r in PauseReason}
    changes = []
    for row in rows:
        to_state = states.get(row.to_state)
        reason = reasons.get(row.reason or "")
        changes.append({"at": identity.aware(row.at).isoformat(), "event": row.event,
                        "from_state": row.from_state, "to_state": row.to_state,
                        "to_state_sv": STATE_SV[to_state] if to_state else row.to_state,
                        "reason": row.reason, "reason_sv": REASON_SV[reason] if reason else None,
                        "call_id": row.call_id, "by": row.by})
    return web.json_response({"day": day.isoformat(), "changes": changes}, headers=NO_STORE)


async def desktop_queues(request: web.Request) -> web.StreamResponse:
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    live = _routing(request)
    if live is None:
        return _no_routing()
    try:
        queues = await queue_overview(live, list(nurse.served_regions))
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    return web.json_response({"queues": queues}, headers=NO_STORE)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def ws_principal(request: web.Request, whose: str) -> Principal | web.Response:
    """A WebSocket's user: a browser session only (a browser sends no bearer header on WebSockets), and an
    Origin equal to the configured public URL's — a WebSocket handshake carries cookies but no CSRF token, so
    without this check another site could open the socket with her cookie (cross-site WebSocket hijacking)."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session":
        return forbidden(request, "not_a_session", f"{whose} WebSocket kräver en inloggad session / "
                                                   "the WebSocket requires a browser session")
    expected = _origin(request.config_dict[SETTINGS].http.public_url)
    if request.headers.get("Origin", "").rstrip("/").lower() != expected:
        return forbidden(request, "bad_origin", f"WebSocket från fel ursprung; bara {expected} / "
                                                "cross-site WebSocket refused")
    return principal


async def desktop_ws(request: web.Request) -> web.StreamResponse:
    """The desktop WebSocket: the session cookie only (a browser sends no bearer header on WebSockets), and an
    Origin equal to the configured public URL's, so no other site can open it with her cookie."""
    principal = ws_principal(request, "Skrivbordets")
    if isinstance(principal, web.Response):
        return principal
    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    hub = _state(request).hub
    if _routing(request) is None or hub is None:
        return _no_routing()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    identity_clock = request.config_dict[IDENTITY].clock
    db = request.config_dict[DB]

    async def session_alive() -> bool:
        at = identity_clock()
        return await db.run(lambda s: identity.get_session(s, cookie, at=at)) is not None

    return await hub.serve(request, nurse.endpoint, list(nurse.served_regions), session_alive)


# --- the supervisor --------------------------------------------------------------------------------------


def _supervisor_principal(request: web.Request, *, writing: bool) -> Principal | web.Response:
    principal = _scoped(request, SUPERVISOR_READ, SUPERVISOR_WRITE, writing=writing)
    if isinstance(principal, web.Response):
        return principal
    if not may_supervise(principal):
        return forbidden(request, "forbidden", "Kräver rollen supervisor, region_admin eller national_admin / "
                                               "requires a supervisor or admin role")
    return principal


def _region_nurses(s: Session, region: str, served_by: tuple[str, ...]) -> list[tuple[Nurse, User | None]]:
    if region == NATIONAL:
        rows = [n for n in agents.nurses(s) if set(n.served_regions) & set(served_by)]
    else:
        rows = agents.nurses(s, region)
    ids = {n.user_id for n in rows}
    users = {u.id: u for u in s.exec(select(User).where(col(User.id).in_(ids)))} if ids else {}
    return [(n, users.get(n.user_id)) for n in rows]


@dataclass(frozen=True)
class RegionView:
    """A region as any supervisor sees it, so the supervisors' WebSockets share one computation per region;
    `for_principal` adds what differs per viewer (`may_change`)."""

    body: dict[str, Any]
    owners: tuple[tuple[str, int | None], ...]  # per nurse of body["nurses"]: home region, care provider

    def for_principal(self, principal: Principal) -> dict[str, Any]:
        nurses = [{**nurse, "may_change": may_change_nurse(principal, home, provider)}
                  for nurse, (home, provider) in zip(self.body["nurses"], self.owners, strict=True)]
        return {**self.body, "nurses": nurses}


async def region_view(live: LiveRouting, db: Database, region: str) -> RegionView:
    """The JSON of `GET /api/v1/supervisor/regions/{region}` (without `may_change`); raises RedisError/OSError."""
    served_by = tuple(live.engine.rules.national.served_by)
    rows = await db.run(lambda s: _region_nurses(s, region, served_by))
    calls = await region_calls(live, region)
    nurses = []
    for nurse, user in rows:
        current = await live.store.get_nurse(nurse.endpoint)
        if current is not None:
            shown = nurse_presence_json(current)
        else:
            p = nurse.presence()
            shown = presence_json(p.state, p.since, p.reason, p.call_id)
        nurses.append({
            **_profile_json(nurse),
            "username": user.username if user else None,
            "display_name": user.display_name if user else None,
            "presence": shown,
        })
    owners = tuple((nurse.home_region, user.care_provider_id if user else None) for nurse, user in rows)
    return RegionView({"region": region, **calls, "nurses": nurses}, owners)


async def supervisor_region(request: web.Request) -> web.StreamResponse:
    guarded = _supervisor_principal(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    principal = guarded
    region = request.match_info["region"]
    if not may_view_region(principal, region):
        return forbidden(request, "forbidden", f"Du får inte se region {region}: bara egna regioner (alla: "
                                               "national_admin) / you may see only your own regions")
    found = region == NATIONAL or await _db(request, lambda s: s.get(Region, region)) is not None
    if not found:
        return json_error(404, "unknown_region", f"Okänd region {region!r} / unknown region")
    live = _routing(request)
    if live is None:
        return _no_routing()
    try:
        view = await region_view(live, request.config_dict[DB], region)
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    return web.json_response(view.for_principal(principal), headers=NO_STORE)


async def supervisor_nurse_presence(request: web.Request) -> web.StreamResponse:
    guarded = _supervisor_principal(request, writing=True)
    if isinstance(guarded, web.Response):
        return guarded
    principal = guarded
    body = await _body(request, SupervisorPresenceRequest)
    if isinstance(body, web.Response):
        return body
    checked = _event_and_reason(body.event, body.reason)
    if isinstance(checked, web.Response):
        return checked
    endpoint = request.match_info["endpoint"]

    def lookup(s: Session) -> tuple[Nurse, int | None] | None:
        nurse = routing_presence.by_endpoint(s, endpoint)
        if nurse is None:
            return None
        user = s.get(User, nurse.user_id)
        return nurse, user.care_provider_id if user else None

    found = await _db(request, lookup)
    if found is None:
        return json_error(404, "unknown_nurse", f"Ingen sjuksköterska {endpoint!r} / no such nurse")
    nurse, provider = found
    if not may_change_nurse(principal, nurse.home_region, provider):
        return forbidden(request, "forbidden", f"Du får inte ändra {endpoint}: bara sjuksköterskor med hemregion "
                                               "bland dina regioner och hos din vårdgivare / you may change only "
                                               "nurses of your regions and care provider")
    live = _routing(request)
    if live is None:
        return _no_routing()
    event, reason = checked
    return await _change(request, live, endpoint, event, reason, principal.username, own=False)


# --- assembly --------------------------------------------------------------------------------------------


async def _desktop_ctx(app: web.Application) -> AsyncIterator[None]:
    """With routing on the app: the hub (one engine listener, queue pushes) and the liveness sweep run with it."""
    state = app[DESKTOP]
    live = app.get(ROUTING)
    if live is None:
        yield
        return
    config = state.config
    state.liveness = Liveness(live, app[REDIS], key=config.heartbeat_key, grace_seconds=config.grace_seconds,
                              sweep_seconds=config.sweep_seconds, is_leader=lambda: _leads(app))
    state.hub = DesktopHub(live, state.liveness, poll_seconds=config.poll_seconds, queue_seconds=config.queue_seconds,
                           session_check_seconds=config.session_check_seconds, context=call_context(app),
                           beat_seconds=config.beat_seconds)
    state.hub.attach()
    stop = asyncio.Event()
    hub = state.hub
    notices = relay(app[REDIS], hub.notify, lambda: hub.broadcast({"type": "notices_resumed"}))
    tasks = [asyncio.create_task(state.hub.run(stop), name="desktop-queues"),
             asyncio.create_task(state.liveness.run(stop), name="desktop-liveness"),
             asyncio.create_task(notices.run(stop), name="desktop-notices")]
    yield
    stop.set()
    await state.hub.close_all()  # normally done already at shutdown (_close_sockets)
    state.hub.detach()
    for task in tasks:
        with suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)
    state.hub = None
    state.liveness = None


async def notify_nurse(app: web.Application, nurse_id: str, message: dict[str, Any]) -> None:
    """News for one nurse's open desktops, wherever her socket is connected (desktop/notices.py). Without
    Redis the desktops on this instance still get it."""
    if await publish(app[REDIS], nurse_id, message):
        return
    hub = app[DESKTOP].hub
    if hub is not None:
        await hub.notify(nurse_id, message)


async def _close_sockets(app: web.Application) -> None:
    """At shutdown, before the server waits for its handlers: every desktop WebSocket is closed (the browsers
    reconnect to another instance; liveness gives them the grace period to do so)."""
    hub = app[DESKTOP].hub
    if hub is not None:
        await hub.close_all()


def setup_desktop(app: web.Application, *, grace_seconds: float = 30.0, sweep_seconds: float = 5.0,
                  poll_seconds: float = 1.0, queue_seconds: float = 3.0, session_check_seconds: float = 30.0,
                  heartbeat_key: str = HEARTBEAT_KEY, clock: Callable[[], datetime] | None = None,
                  is_leader: Callable[[], bool] | None = None, beat_seconds: float = 5.0) -> None:
    """Add the desktop's and the supervisor's routes; when the app carries ROUTING at start-up, the WebSocket
    hub and the liveness sweep run with it (cleanup_ctx). Identity must be set up (SETTINGS, DB, REDIS).
    `is_leader` (tests, simulations): whether this instance routes; by default the telephony's lease."""
    app[DESKTOP] = DesktopState(DesktopConfig(grace_seconds=grace_seconds, sweep_seconds=sweep_seconds,
                                              poll_seconds=poll_seconds, queue_seconds=queue_seconds,
                                              session_check_seconds=session_check_seconds,
                                              heartbeat_key=heartbeat_key, clock=clock, is_leader=is_leader,
                                              beat_seconds=beat_seconds))
    app.cleanup_ctx.append(_desktop_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", pages.home)
    app.router.add_get(pages.DESKTOP_PAGE, pages.desktop_page)
    app.router.add_static("/static", pages.STATIC, name="static")
    app.on_response_prepare.append(pages.static_headers)
    app.router.add_get(ME_PATH, desktop_me)
    app.router.add_get(SOFTPHONE_PATH, desktop_softphone)
    app.router.add_get(CALL_PATH, desktop_call)
    app.router.add_post(PRESENCE_PATH, desktop_presence)
    app.router.add_get(TODAY_PATH, desktop_today)
    app.router.add_get(QUEUES_PATH, desktop_queues)
    app.router.add_get(WS_PATH, desktop_ws)
    app.router.add_get(REGION_PATH, supervisor_region)
    app.router.add_post(NURSE_PRESENCE_PATH, supervisor_nurse_presence)
    # Imported here, not at the top: supervisor.py builds on this module.
    from .supervisor import setup_supervisor

    setup_supervisor(app)
    setup_call_control(app)
