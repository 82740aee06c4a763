"""aiohttp integration of identity: the middleware that resolves the caller into a `Principal`,
CSRF for cookie sessions, the `require_*` guards, and the login/logout/me routes.

The app assembly calls only `setup_identity(app)`; it needs SETTINGS, DB and REDIS on the app.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session

from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import utcnow

from . import pages, service
from .methods import LoginAttempt, LoginMethods, default_methods
from .models import LoginSession, Role, User
from .throttle import LoginThrottle

SESSION_COOKIE = "vardlinje_session"
LOGIN_CSRF_COOKIE = "vardlinje_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/login"
INVALID_CREDENTIALS = "Fel användarnamn eller lösenord"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CSRF_EXEMPT_ATTR = "__vardlinje_csrf_exempt__"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# On these routes (GET only) a Bearer token is not ours but a citizen's from the region's identity provider;
# the route verifies it (journal.citizen). Staff credentials are never accepted there.
FOREIGN_BEARER_PATHS = frozenset({"/api/v1/citizen/notes"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person through a browser session, or a system through an API token."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[str]
    care_provider_id: int | None
    region_ids: tuple[str, ...]
    via: Literal["session", "token"]
    scopes: frozenset[str] = frozenset()
    session_id: int | None = None
    csrf_token: str | None = None
    token_id: int | None = None

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": self.user_id,
            "username": self.username,
            "display_name": self.display_name,
            "roles": sorted(self.roles),
            "care_provider_id": self.care_provider_id,
            "region_ids": list(self.region_ids),
            "via": self.via,
        }
        if self.via == "token":
            data["scopes"] = sorted(self.scopes)
        else:
            data["csrf_token"] = self.csrf_token
        return data


@dataclass
class IdentityConfig:
    methods: LoginMethods = field(default_factory=default_methods)
    # The wall clock by default; tests and simulations pass their own.
    clock: Callable[[], datetime] = utcnow


PRINCIPAL = web.RequestKey("principal", Principal)
IDENTITY = web.AppKey("identity", IdentityConfig)


def get_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


# --- responses ------------------------------------------------------------------------------


def json_error(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


def wants_html(request: web.Request) -> bool:
    """A browser navigating to a page (as opposed to a script calling the API)."""
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def safe_next(value: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to bounce users to another site."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c < " " for c in value):
        return "/"
    return value


def _html(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = pages.CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def unauthenticated(request: web.Request) -> web.Response:
    if wants_html(request) and request.method in ("GET", "HEAD"):
        return _redirect(f"{LOGIN_PATH}?next={quote(request.path_qs, safe='/')}")
    return json_error(401, "unauthenticated", "Logga in eller använd en API-token / log in or use an API token",
                      headers={"WWW-Authenticate": 'Bearer realm="vardlinje"'})


def forbidden(request: web.Request, error: str, detail: str) -> web.Response:
    if wants_html(request):
        return _html(pages.forbidden_page(detail), status=403)
    return json_error(403, error, detail)


# --- resolving the caller -------------------------------------------------------------------


def _principal(s: Session, user: User, via: Literal["session", "token"], **extra: Any) -> Principal:
    assert user.id is not None
    return Principal(user_id=user.id, username=user.username, display_name=user.display_name,
                     roles=frozenset(user.roles), care_provider_id=user.care_provider_id,
                     region_ids=tuple(service.user_regions(s, user)), via=via, **extra)


async def _from_token(request: web.Request, clear: str, at: datetime) -> Principal | None:
    def work(s: Session) -> Principal | None:
        found = service.verify_api_token(s, clear, at=at)
        if found is None:
            return None
        token, user = found
        return _principal(s, user, "token", scopes=frozenset(token.scopes), token_id=token.id)

    return await request.config_dict[DB].run(work)


async def _from_session(request: web.Request, clear: str, at: datetime) -> Principal | None:
    if not _TOKEN_SHAPE.match(clear):
        return None

    def work(s: Session) -> Principal | None:
        found = service.get_session(s, clear, at=at)
        if found is None:
            return None
        session, user = found
        return _principal(s, user, "session", session_id=session.id, csrf_token=session.csrf_token)

    return await request.config_dict[DB].run(work)


def csrf_exempt(handler: Handler) -> Handler:
    """Mark a handler that protects itself against CSRF (e.g. the login form's double-submit)."""
    setattr(handler, _CSRF_EXEMPT_ATTR, True)
    return handler


async def _csrf_ok(request: web.Request, expected: str | None) -> bool:
    if not expected:
        return False
    sent = request.headers.get(CSRF_HEADER)
    # Only urlencoded forms are read here: parsing multipart would swallow uploads that the
    # handler wants to stream, so multipart requests must send the header.
    if sent is None and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and secrets.compare_digest(sent.encode(), expected.encode())


@web.middleware
async def identity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the caller's Principal on the request (or nothing for anonymous) and enforce CSRF."""
    if request.path in FOREIGN_BEARER_PATHS and request.method in ("GET", "HEAD"):
        return await handler(request)
    at = request.config_dict[IDENTITY].clock()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    # Other schemes (e.g. a webhook's Basic credentials) are not ours and pass through untouched.
    if scheme.lower() == "bearer":
        found = await _from_token(request, credentials.strip(), at)
        if found is None:
            return json_error(401, "invalid_token", "API-token okänd, återkallad eller utgången / "
                              "API token unknown, revoked or expired",
                              headers={"WWW-Authenticate": 'Bearer realm="vardlinje", error="invalid_token"'})
        request[PRINCIPAL] = found
        # Bearer requests carry no ambient credentials a foreign site could borrow: no CSRF check.
        return await handler(request)

    cookie = request.cookies.get(SESSION_COOKIE)
    stale = False
    if cookie:
        found = await _from_session(request, cookie, at)
        stale = found is None
        if found is not None:
            request[PRINCIPAL] = found
            exempt = getattr(request.match_info.handler, _CSRF_EXEMPT_ATTR, False)
            if request.method in UNSAFE_METHODS and not exempt and not await _csrf_ok(request, found.csrf_token):
                return json_error(403, "csrf_failed",
                                  f"CSRF-token saknas eller är fel; skicka sessionens token i {CSRF_HEADER} "
                                  f"eller fältet {CSRF_FIELD} / missing or wrong CSRF token")
    response = await handler(request)
    if stale and SESSION_COOKIE not in response.cookies:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- guards ---------------------------------------------------------------------------------


def require_login(handler: Handler) -> Handler:
    """Any authenticated caller; anonymous API calls get 401, browsers go to the login page."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if get_principal(request) is None:
            return unauthenticated(request)
        return await handler(request)

    return wrapper


def require_role(*roles: str | Role) -> Callable[[Handler], Handler]:
    """A caller holding at least one of the roles (an API token acts with its user's roles)."""
    wanted = tuple(str(r) for r in roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            principal = get_principal(request)
            if principal is None:
                return unauthenticated(request)
            if not principal.has_role(*wanted):
                return forbidden(request, "forbidden",
                                 f"Kräver rollen {' eller '.join(wanted)} / requires role {' or '.join(wanted)}")
            return await handler(request)

        return wrapper

    return decorate


def require_scope(scope: str, *, roles: Iterable[str | Role] = ()) -> Callable[[Handler], Handler]:
    """An API token carrying `scope`. Browser sessions are refused unless the user holds one of
    `roles`: a scope-only guard must never open a systems endpoint to every logged-in person."""
    session_roles = tuple(str(r) for r in roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            principal = get_principal(request)
            if principal is None:
                return unauthenticated(request)
            if principal.via == "token":
                allowed = scope in principal.scopes
            else:
                allowed = bool(session_roles) and principal.has_role(*session_roles)
            if not allowed:
                return forbidden(request, "insufficient_scope",
                                 f"Kräver en API-token med behörigheten {scope} / requires an API token "
                                 f"with scope {scope}")
            return await handler(request)

        return wrapper

    return decorate


# --- sessions and cookies -------------------------------------------------------------------


def _lifetime(request: web.Request) -> timedelta:
    return timedelta(hours=request.config_dict[SETTINGS].auth.session_hours)


def set_session_cookie(request: web.Request, response: web.StreamResponse, clear: str) -> None:
    response.set_cookie(SESSION_COOKIE, clear, path="/", httponly=True, samesite="Lax",
                        secure=request.config_dict[SETTINGS].auth.cookie_secure,
                        max_age=int(_lifetime(request).total_seconds()))


async def login_response(request: web.Request, user: User, *, method: str, next_url: str = "/",
                         as_json: bool = False) -> web.Response:
    """Start a session for `user` and answer the browser: redirect to `next_url`, or JSON.

    Login methods that finish elsewhere (an OIDC or SAML callback) end with this too.
    """
    at = request.config_dict[IDENTITY].clock()
    old = request.cookies.get(SESSION_COOKIE, "")
    lifetime = _lifetime(request)

    def work(s: Session) -> tuple[LoginSession, str, Principal]:
        # The previous session of this browser ends: a login always gets a fresh token.
        previous = service.get_session(s, old, at=at) if old and _TOKEN_SHAPE.match(old) else None
        if previous is not None and previous[0].id is not None:
            service.end_session(s, previous[0].id, at=at)
        session, clear = service.create_session(s, user, at=at, lifetime=lifetime, method=method,
                                                remote=request.remote or "",
                                                user_agent=request.headers.get("User-Agent", ""))
        return session, clear, _principal(s, user, "session", session_id=session.id,
                                          csrf_token=session.csrf_token)

    _session, clear, principal = await request.config_dict[DB].run(work)
    response = web.json_response(principal.to_json()) if as_json else _redirect(safe_next(next_url))
    set_session_cookie(request, response, clear)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


# --- routes ---------------------------------------------------------------------------------


def _login_form_token(request: web.Request) -> str:
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    # Reused while valid so two open login tabs do not invalidate each other.
    return current if _TOKEN_SHAPE.match(current) else secrets.token_urlsafe(32)


def _login_page(request: web.Request, *, status: int = 200, error: str = "", username: str = "",
                next_url: str = "/", headers: Mapping[str, str] | None = None) -> web.Response:
    token = _login_form_token(request)
    response = _html(pages.login_page(csrf_token=token, next_url=next_url, username=username, error=error,
                                      methods=request.config_dict[IDENTITY].methods), status=status, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, httponly=True, samesite="Strict",
                        secure=request.config_dict[SETTINGS].auth.cookie_secure)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    next_url = safe_next(request.query.get("next"))
    principal = get_principal(request)
    if principal is not None and principal.via == "session":
        return _redirect(next_url)
    return _login_page(request, next_url=next_url)


def _throttle(request: web.Request) -> LoginThrottle:
    auth = request.config_dict[SETTINGS].auth
    clock = request.config_dict[IDENTITY].clock
    return LoginThrottle(request.config_dict[REDIS], limit=auth.login_attempts, window_seconds=auth.login_window_seconds,
                         clock=lambda: clock().timestamp())


@csrf_exempt
async def login_post(request: web.Request) -> web.StreamResponse:
    """Password (or other form) login. JSON bodies skip the double-submit check: a foreign site
    cannot send application/json without a CORS preflight, which this app never grants."""
    as_json = request.content_type == "application/json"
    fields: dict[str, str]
    if as_json:
        try:
            body = await request.json()
        except ValueError:
            return json_error(400, "bad_request", "Ogiltig JSON / invalid JSON")
        if not isinstance(body, dict):
            return json_error(400, "bad_request", "Förväntade ett JSON-objekt / expected a JSON object")
        fields = {k: v for k, v in body.items() if isinstance(v, str)}
    else:
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    username = fields.get("username", "").strip()
    next_url = safe_next(fields.get("next"))

    def fail(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
        if as_json:
            return json_error(status, error, detail, headers=headers)
        return _login_page(request, status=status, error=detail, username=username, next_url=next_url,
                           headers=headers)

    if not as_json:
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = fields.get(CSRF_FIELD, "")
        if not cookie or not secrets.compare_digest(cookie.encode(), sent.encode()):
            return fail(403, "csrf_failed", "Inloggningsformuläret har gått ut. Försök igen. "
                                            "(The login form expired; please try again.)")

    method = request.config_dict[IDENTITY].methods.get(fields.get("method", "password"))
    if method is None:
        return fail(400, "unknown_method", "Okänt inloggningssätt / unknown login method")

    throttle = _throttle(request)
    remote = request.remote or ""
    decision = await throttle.check(username, remote)
    if not decision.allowed:
        wait = decision.retry_after(throttle.clock())
        minutes = max(1, -(-wait // 60))
        return fail(429, "too_many_attempts",
                    f"För många misslyckade inloggningar. Försök igen om {minutes} min. "
                    f"(Too many failed logins; try again in {minutes} min.)",
                    headers={"Retry-After": str(wait)})

    user = await method.authenticate(request.config_dict[DB], LoginAttempt(username=username, fields=fields,
                                                                    remote=remote))
    if user is None:
        await throttle.record_failure(username, remote)
        return fail(401, "invalid_credentials", INVALID_CREDENTIALS)
    await throttle.record_success(username, remote)
    return await login_response(request, user, method=method.name, next_url=next_url, as_json=as_json)


def _logged_out(request: web.Request, payload: dict[str, Any]) -> web.Response:
    response = _redirect(LOGIN_PATH) if wants_html(request) else web.json_response(payload)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session. Anonymous callers just get the cookie cleared."""
    principal = get_principal(request)
    if principal is not None and principal.via == "token":
        return json_error(400, "not_a_session", "API-token loggar inte ut; återkalla den i stället / "
                                                "API tokens do not log out; revoke the token instead")
    if principal is not None and principal.session_id is not None:
        session_id = principal.session_id
        at = request.config_dict[IDENTITY].clock()
        await request.config_dict[DB].run(lambda s: service.end_session(s, session_id, at=at))
    return _logged_out(request, {"ok": True})


@require_login
async def logout_all(request: web.Request) -> web.StreamResponse:
    """Log the user out everywhere (every browser session, this one included)."""
    principal = get_principal(request)
    assert principal is not None
    if principal.via != "session":
        return json_error(400, "not_a_session", "Kräver en inloggad session / requires a browser session")
    at = request.config_dict[IDENTITY].clock()
    ended = await request.config_dict[DB].run(lambda s: service.end_all_sessions(s, principal.user_id, at=at))
    return _logged_out(request, {"ok": True, "ended_sessions": ended})


@require_login
async def me(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    assert principal is not None
    return web.json_response(principal.to_json(), headers={"Cache-Control": "no-store"})


def setup_identity(app: web.Application, *, methods: LoginMethods | None = None,
                   clock: Callable[[], datetime] | None = None) -> None:
    """Add the identity middleware and the /login, /logout, /logout/all and /api/v1/me routes.

    The app must carry SETTINGS, DB and REDIS (vardlinje.appkeys) before it starts.
    """
    config = IdentityConfig()
    if methods is not None:
        config.methods = methods
    if clock is not None:
        config.clock = clock
    app[IDENTITY] = config
    app.middlewares.append(identity_middleware)
    app.router.add_get(LOGIN_PATH, login_get)
    app.router.add_post(LOGIN_PATH, login_post)
    app.router.add_post("/logout", logout)
    app.router.add_post("/logout/all", logout_all)
    app.router.add_get("/api/v1/me", me)
