"""The aiohttp side: login page and form, cookies, CSRF, throttling, guards, tokens and logout."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from identity import service
from identity.http import INVALID_CREDENTIALS, LOGIN_CSRF_COOKIE, SESSION_COOKIE, safe_next
from vardlinje.db import Database

from .conftest import (
    LOGIN_ATTEMPTS,
    PASSWORD,
    SESSION_HOURS,
    WINDOW_SECONDS,
    ClientFactory,
    FakeClock,
    get_user,
    login,
    login_form_token,
    seed,
)


def _set_cookie(resp, name: str) -> str:  # type: ignore[no-untyped-def]
    headers = [h for h in resp.headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]
    assert len(headers) == 1, resp.headers.getall("Set-Cookie", [])
    return str(headers[0])


async def test_login_page_is_swedish_accessible_and_guarded(database: Database, make_client: ClientFactory) -> None:
    """GET /login serves a Swedish form with labelled fields, a double-submit token and no-framing headers."""
    client = await make_client()
    resp = await client.get("/login?next=/desktop")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert '<html lang="sv">' in html and "Logga in" in html and 'lang="en"' in html
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'autocomplete="current-password"' in html and 'value="/desktop"' in html
    cookie = _set_cookie(resp, LOGIN_CSRF_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/login" in cookie
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"


async def test_login_success_sets_secure_httponly_session_cookie(database: Database,
                                                                 make_client: ClientFactory) -> None:
    """A right password redirects to `next` and sets vardlinje_session HttpOnly, SameSite=Lax, Secure."""
    seed(database)
    client = await make_client(cookie_secure=True)
    token = await login_form_token(client)
    # The jar will not send Secure cookies over the test's plain http, so the cookie goes by hand.
    resp = await client.post("/login", allow_redirects=False,
                             data={"username": "anna", "password": PASSWORD, "csrf_token": token, "next": "/desktop"},
                             headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={token}"})
    assert resp.status == 303 and resp.headers["Location"] == "/desktop"
    cookie = _set_cookie(resp, SESSION_COOKIE)
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", f"Max-Age={int(SESSION_HOURS * 3600)}"):
        assert flag in cookie
    clear = cookie.split(";", 1)[0].split("=", 1)[1]
    me = await client.get("/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={clear}"})
    body = await me.json()
    assert body["username"] == "anna" and body["via"] == "session" and body["roles"] == ["nurse"]
    assert body["region_ids"] == ["01"] and body["csrf_token"]


async def test_login_refuses_offsite_next(database: Database, make_client: ClientFactory) -> None:
    """`next` pointing at another site is replaced by "/" (no open redirect)."""
    seed(database)
    client = await make_client()
    token = await login_form_token(client)
    resp = await client.post("/login", allow_redirects=False, data={
        "username": "anna", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"})
    assert resp.status == 303 and resp.headers["Location"] == "/"
    assert [safe_next(v) for v in ("https://evil.example", "/\\evil", "/ok?a=1", None)] == ["/", "/", "/ok?a=1", "/"]


async def test_wrong_password_and_unknown_user_get_the_same_generic_error(database: Database,
                                                                          make_client: ClientFactory) -> None:
    """The error never tells whether the username or the password was wrong, on the page or in JSON."""
    seed(database)
    client = await make_client()
    token = await login_form_token(client)
    texts = []
    for username in ("anna", "finns-inte"):
        resp = await client.post("/login", data={"username": username, "password": "fel-lösenord-123",
                                                 "csrf_token": token})
        assert resp.status == 401
        html = await resp.text()
        assert INVALID_CREDENTIALS in html and 'role="alert"' in html
        texts.append(html.replace(username, "USER"))
    assert texts[0] == texts[1]
    bodies = []
    for username in ("anna", "finns-inte"):
        resp = await client.post("/login", json={"username": username, "password": "fel-lösenord-123"})
        assert resp.status == 401
        bodies.append(await resp.json())
    assert bodies[0] == bodies[1] == {"error": "invalid_credentials", "detail": INVALID_CREDENTIALS}
    assert SESSION_COOKIE not in client.session.cookie_jar.filter_cookies(client.make_url("/"))


async def test_lockout_after_n_failures_gives_429_until_window_passes(database: Database, clock: FakeClock,
                                                                      make_client: ClientFactory) -> None:
    """After login_attempts failures even the right password gets 429 with Retry-After, until the window ends."""
    seed(database)
    client = await make_client()
    for _ in range(LOGIN_ATTEMPTS):
        resp = await client.post("/login", json={"username": "anna", "password": "fel-lösenord-123"})
        assert resp.status == 401
        clock.advance(seconds=1)
    resp = await client.post("/login", json={"username": "anna", "password": PASSWORD})
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) == WINDOW_SECONDS - LOGIN_ATTEMPTS
    assert (await resp.json())["error"] == "too_many_attempts"
    token = await login_form_token(client)
    page = await client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token})
    assert page.status == 429 and "Försök igen om" in await page.text()
    clock.advance(seconds=WINDOW_SECONDS)
    resp = await client.post("/login", json={"username": "anna", "password": PASSWORD})
    assert resp.status == 200 and (await resp.json())["username"] == "anna"


async def test_login_form_needs_its_double_submit_token(database: Database, make_client: ClientFactory) -> None:
    """A form post without the matching login cookie (a cross-site login attempt) is refused with 403."""
    seed(database)
    client = await make_client()
    resp = await client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": "x" * 43})
    assert resp.status == 403 and "gått ut" in await resp.text()
    await login_form_token(client)
    resp = await client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": "y" * 43})
    assert resp.status == 403


async def test_cookie_post_requires_csrf_token(database: Database, make_client: ClientFactory) -> None:
    """Unsafe requests on a cookie session need the session's token in X-CSRF-Token or csrf_token."""
    seed(database)
    client = await make_client()
    csrf = await login(client)
    resp = await client.post("/api/v1/notes", json={"text": "hej"})
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "csrf_failed" and "X-CSRF-Token" in body["detail"]
    resp = await client.post("/api/v1/notes", json={"text": "hej"}, headers={"X-CSRF-Token": "fel"})
    assert resp.status == 403
    resp = await client.post("/api/v1/notes", json={"text": "hej"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["by"] == "anna"
    resp = await client.post("/api/v1/notes", data={"text": "hej", "csrf_token": csrf})
    assert resp.status == 200


async def test_bearer_post_needs_no_csrf(database: Database, make_client: ClientFactory) -> None:
    """Systems using an API token are not subject to CSRF (no ambient credentials)."""
    ids = seed(database)
    _token, clear = database.run_sync(lambda s: service.create_api_token(
        s, get_user(s, ids.nurse_id), "journal", ["journal:write"], at=FakeClock()()))
    client = await make_client()
    resp = await client.post("/api/v1/notes", json={"text": "hej"}, headers={"Authorization": f"Bearer {clear}"})
    assert resp.status == 200


async def test_expired_session_is_rejected_and_cookie_cleared(database: Database, clock: FakeClock,
                                                              make_client: ClientFactory) -> None:
    """After session_hours the cookie no longer authenticates and the response deletes it."""
    seed(database)
    client = await make_client()
    await login(client)
    clock.advance(hours=SESSION_HOURS - 0.01)
    assert (await client.get("/api/v1/me")).status == 200
    clock.advance(hours=0.01)
    resp = await client.get("/api/v1/me")
    assert resp.status == 401
    assert 'Max-Age=0' in _set_cookie(resp, SESSION_COOKIE) or "expires=" in _set_cookie(resp, SESSION_COOKIE)


async def test_logout_ends_the_session(database: Database, make_client: ClientFactory) -> None:
    """POST /logout (with CSRF) ends the session server-side, so a copied cookie stops working."""
    seed(database)
    client = await make_client()
    csrf = await login(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    assert (await client.post("/logout")).status == 403  # CSRF applies to logout too
    resp = await client.post("/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json()) == {"ok": True}
    resp = await client.get("/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert resp.status == 401


async def test_logout_everywhere_ends_other_sessions(database: Database, clock: FakeClock,
                                                     make_client: ClientFactory) -> None:
    """POST /logout/all ends the user's other browser sessions too, and not other users' sessions."""
    ids = seed(database)
    client = await make_client()

    def other_session(user_id: int) -> str:
        return database.run_sync(lambda s: service.create_session(
            s, get_user(s, user_id), at=clock(), lifetime=timedelta(hours=SESSION_HOURS))[1])

    home_pc, supervisor = other_session(ids.nurse_id), other_session(ids.supervisor_id)
    csrf = await login(client)
    resp = await client.post("/logout/all", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["ended_sessions"] == 2
    assert (await client.get("/api/v1/me")).status == 401
    for cookie, status in ((home_pc, 401), (supervisor, 200)):
        resp = await client.get("/api/v1/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert resp.status == status


async def test_api_token_scopes_revocation_and_expiry(database: Database, clock: FakeClock,
                                                      make_client: ClientFactory) -> None:
    """A token reaches a scoped endpoint only with that scope, and stops working when revoked or expired."""
    ids = seed(database)

    def token(scopes: list[str], days: int | None = None) -> tuple[int, str]:
        def work(s: Session) -> tuple[int, str]:
            expires = clock() + timedelta(days=days) if days else None
            row, clear = service.create_api_token(s, get_user(s, ids.supervisor_id), "wfm", scopes, expires,
                                                  at=clock())
            assert row.id is not None
            return row.id, clear

        return database.run_sync(work)

    client = await make_client()
    wfm_id, wfm = token(["wfm:read"])
    _, metrics = token(["metrics:read"], days=1)
    resp = await client.get("/api/v1/wfm/agents", headers={"Authorization": f"Bearer {wfm}"})
    assert resp.status == 200
    resp = await client.get("/api/v1/wfm/agents", headers={"Authorization": f"Bearer {metrics}"})
    assert resp.status == 403 and (await resp.json())["error"] == "insufficient_scope"
    me = await (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {wfm}"})).json()
    assert me["via"] == "token" and me["scopes"] == ["wfm:read"] and "csrf_token" not in me

    database.run_sync(lambda s: service.revoke_api_token(s, wfm_id, at=clock()))
    resp = await client.get("/api/v1/wfm/agents", headers={"Authorization": f"Bearer {wfm}"})
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_token"
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    clock.advance(days=1)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {metrics}"})).status == 401
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})).status == 401


async def test_scope_endpoint_refuses_browser_sessions(database: Database, make_client: ClientFactory) -> None:
    """A systems endpoint guarded by a scope is not opened to every logged-in person."""
    seed(database)
    client = await make_client()
    await login(client, "sven")
    resp = await client.get("/api/v1/wfm/agents")
    assert resp.status == 403 and (await resp.json())["error"] == "insufficient_scope"


async def test_role_checks_401_redirect_403(database: Database, make_client: ClientFactory) -> None:
    """Anonymous API calls get 401 JSON, anonymous pages redirect to /login, the wrong role gets 403."""
    seed(database)
    client = await make_client()
    resp = await client.get("/api/v1/stats", headers={"Accept": "text/html"})
    assert resp.status == 401
    body = await resp.json()
    assert body["error"] == "unauthenticated" and body["detail"]
    resp = await client.get("/desktop?tab=1", headers={"Accept": "text/html"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/desktop%3Ftab%3D1"
    assert (await client.get("/desktop", allow_redirects=False)).status == 401  # a script, not a browser

    await login(client, "anna")
    resp = await client.get("/api/v1/stats")
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
    assert (await client.get("/desktop", headers={"Accept": "text/html"})).status == 200

    client2 = await make_client()
    await login(client2, "sven")
    assert (await client2.get("/api/v1/stats")).status == 200


async def test_other_authorization_schemes_pass_through(database: Database, make_client: ClientFactory) -> None:
    """A Basic header (e.g. from a webhook) is not ours: the request is simply anonymous."""
    client = await make_client()
    resp = await client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert resp.status == 401 and (await resp.json())["error"] == "unauthenticated"
