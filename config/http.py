"""HTTP routes of the configuration: the admin API and its plain pages.

API (`/api/v1/config/{owner}`, owner = a county code or `national`): read the current text,
list versions, replace the text (validated against the whole set first: 422 with every issue),
roll back. Pages (`/admin/config`, `/admin/config/{owner}`): the same through forms.

Who may do what: a national admin reads and edits every file; a region admin edits only the
files of her regions and reads the national file; a supervisor reads her regions' files and the
national file. API tokens act with their user's roles and also need scope `config:read` /
`config:write`. After a change this instance reloads at once and announces the change on Redis,
so every other instance reloads too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlmodel import Session

from identity.http import Principal, forbidden, get_principal, json_error, unauthenticated
from identity.models import Role
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import utcnow

from . import pages, store
from .live import LiveConfig, publish_change
from .loader import ConfigError, ConfigIssue, default_directory
from .resolve import NATIONAL

T = TypeVar("T")

READ_SCOPE = "config:read"
WRITE_SCOPE = "config:write"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})


@dataclass
class ConfigAdmin:
    live: LiveConfig | None
    recordings: Path
    clock: Callable[[], datetime]


CONFIG_ADMIN = web.AppKey("config_admin", ConfigAdmin)


# --- who may do what ---------------------------------------------------------------------------------


def may_read(p: Principal, owner: str) -> bool:
    if p.via == "token" and READ_SCOPE not in p.scopes and WRITE_SCOPE not in p.scopes:
        return False
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    if not p.has_role(Role.REGION_ADMIN, Role.SUPERVISOR):
        return False
    # Region files name skills and queues of the national file: their admins must see it.
    return owner == NATIONAL or owner in p.region_ids


def may_edit(p: Principal, owner: str) -> bool:
    if p.via == "token" and WRITE_SCOPE not in p.scopes:
        return False
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    return p.has_role(Role.REGION_ADMIN) and owner != NATIONAL and owner in p.region_ids


def editable_owners(p: Principal) -> list[str]:
    return [o for o in store.OWNERS if may_edit(p, o)]


def _guard(request: web.Request, check: Callable[[Principal, str], bool]) -> tuple[Principal, str] | web.Response:
    """The principal and the owner of the URL, or the response refusing the request."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    owner = request.match_info["owner"]
    if owner not in store.OWNERS:
        return json_error(404, "unknown_owner", f"okänd fil {owner!r}: national eller ett länsnummer 01–25 / "
                                                f"unknown file {owner!r}: national or a county code")
    if not check(principal, owner):
        verb = "ändra" if check is may_edit else "läsa"
        return forbidden(request, "forbidden", f"Du får inte {verb} konfigurationen för {owner} / "
                                               f"you may not {'edit' if check is may_edit else 'read'} {owner}")
    return principal, owner


def issues_json(issues: list[ConfigIssue]) -> list[dict[str, Any]]:
    return [{"file": i.file, "path": i.path, "message": i.message, "severity": i.severity, "line": i.line}
            for i in issues]


def _invalid(exc: ConfigError) -> web.Response:
    errors = sum(1 for i in exc.issues if i.severity == "error")
    return web.json_response({"error": "invalid_config",
                              "detail": f"{errors} fel; inget sparades / {errors} error(s); nothing was stored",
                              "issues": issues_json(exc.issues)}, status=422)


def _store_error(exc: store.StoreError) -> web.Response:
    if isinstance(exc, store.VersionConflict):
        return json_error(409, "conflict", str(exc))
    if isinstance(exc, store.UnknownVersion):
        return json_error(404, "unknown_version", str(exc))
    return json_error(404, "unknown_owner", str(exc))


async def _db(request: web.Request, fn: Callable[[Session], T]) -> T:
    return await request.config_dict[DB].run(fn)


async def _announce(request: web.Request, change: store.Change) -> None:
    """This instance reloads now; the others hear it on Redis."""
    if not change.changed:
        return
    live = request.config_dict[CONFIG_ADMIN].live
    if live is not None:
        await live.reload()
        await live.publish(change.version.owner, change.version.version)
    else:
        await publish_change(request.config_dict[REDIS], change.version.owner, change.version.version)


def _change_json(change: store.Change) -> dict[str, Any]:
    return {**change.version.to_json(), "changed": change.changed, "warnings": issues_json(change.warnings)}


# --- API -----------------------------------------------------------------------------------------------


async def get_config(request: web.Request) -> web.StreamResponse:
    """The current text of a file with its version, who and when. JSON, or the bare YAML text when
    the client accepts application/yaml (then the version is in X-Config-Version)."""
    guarded = _guard(request, may_read)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, owner = guarded
    row = (await _db(request, store.current)).get(owner)
    if row is None:
        return json_error(404, "not_found", f"ingen version av {owner} är sparad / no version of {owner} is stored")
    headers = {"Cache-Control": "no-store", "X-Config-Version": str(row.version)}
    if "application/yaml" in request.headers.get("Accept", ""):
        return web.Response(text=row.content, content_type="application/yaml", headers=headers)
    return web.json_response(row.to_json(content=True), headers=headers)


async def list_versions(request: web.Request) -> web.StreamResponse:
    guarded = _guard(request, may_read)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, owner = guarded
    rows = await _db(request, lambda s: store.history(s, owner))
    return web.json_response({"owner": owner, "current": rows[0].version if rows else None,
                              "versions": [r.to_json() for r in rows]}, headers={"Cache-Control": "no-store"})


async def _read_body(request: web.Request) -> tuple[str, str, int | None] | web.Response:
    """(content, comment, base_version) of a PUT, or the 400/415 response."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return json_error(400, "bad_request", "Ogiltig JSON / invalid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return json_error(400, "bad_request", 'Förväntade {"content": "<YAML>"} / expected {"content": "<YAML>"}')
        comment, base = body.get("comment", ""), body.get("base_version")
        if not isinstance(comment, str) or not (base is None or (isinstance(base, int) and not isinstance(base, bool))):
            return json_error(400, "bad_request", "comment är text, base_version ett heltal / comment is text, "
                                                  "base_version an integer")
        return body["content"], comment, base
    if request.content_type in YAML_TYPES:
        try:
            text = await request.text()
        except UnicodeDecodeError:
            return json_error(400, "bad_request", "Texten är inte UTF-8 / the text is not UTF-8")
        base_text = request.query.get("base_version", "")
        if base_text and not base_text.isdigit():
            return json_error(400, "bad_request", "base_version: ett heltal / an integer")
        return text, request.query.get("comment", ""), int(base_text) if base_text else None
    return json_error(415, "unsupported_media_type",
                      "Skicka YAML (application/yaml eller text/plain) eller JSON / send YAML or JSON")


async def put_config(request: web.Request) -> web.StreamResponse:
    """Replace a file: validated against the whole set, stored as a new version, announced."""
    guarded = _guard(request, may_edit)
    if isinstance(guarded, web.Response):
        return guarded
    principal, owner = guarded
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    content, comment, base = body
    admin = request.config_dict[CONFIG_ADMIN]
    at = admin.clock()

    def work(s: Session) -> store.Change:
        return store.propose(s, owner, content, principal.username, store.clean_comment(comment), at,
                             base_version=base, recordings=admin.recordings)

    return await _apply(request, work)


async def _apply(request: web.Request, work: Callable[[Session], store.Change]) -> web.Response:
    """Store a change (proposal or rollback), tell the other instances, answer with it."""
    try:
        change = await _db(request, work)
    except ConfigError as exc:
        return _invalid(exc)
    except store.StoreError as exc:
        return _store_error(exc)
    await _announce(request, change)
    return web.json_response(_change_json(change))


async def post_rollback(request: web.Request) -> web.StreamResponse:
    """A new version with the content of an older one (validated again)."""
    guarded = _guard(request, may_edit)
    if isinstance(guarded, web.Response):
        return guarded
    principal, owner = guarded
    try:
        body = await request.json()
    except ValueError:
        return json_error(400, "bad_request", "Ogiltig JSON / invalid JSON")
    version = body.get("version") if isinstance(body, dict) else None
    comment = body.get("comment", "") if isinstance(body, dict) else ""
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(comment, str):
        return json_error(400, "bad_request", 'Förväntade {"version": N} / expected {"version": N}')
    admin = request.config_dict[CONFIG_ADMIN]
    at = admin.clock()

    def work(s: Session) -> store.Change:
        return store.rollback(s, owner, version, principal.username, at, comment=store.clean_comment(comment),
                              recordings=admin.recordings)

    return await _apply(request, work)


# --- pages ---------------------------------------------------------------------------------------------


async def index_page(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    owners = editable_owners(principal) if principal.via == "session" else []
    if not owners:
        return forbidden(request, "forbidden", "Kräver rollen region_admin eller national_admin / "
                                               "requires role region_admin or national_admin")
    return pages.html_response(pages.index_page(owners))


async def _render(request: web.Request, principal: Principal, owner: str, *, status: int = 200,
                  content: str | None = None, comment: str = "", error: ConfigError | None = None,
                  warnings: list[ConfigIssue] | None = None, notice: str = "") -> web.Response:
    def work(s: Session) -> list[store.ConfigVersion]:
        return store.history(s, owner)

    versions = await _db(request, work)
    issues = error.issues if error is not None else []
    html = pages.editor_page(
        owner=owner, csrf_token=principal.csrf_token or "", current=versions[0] if versions else None,
        versions=versions, content=content, comment=comment,
        errors=[i for i in issues if i.severity == "error"],
        warnings=(warnings or []) + [i for i in issues if i.severity == "warning"],
        notice=notice or pages.notice_for(request.query))
    return pages.html_response(html, status)


async def editor_get(request: web.Request) -> web.StreamResponse:
    guarded = _guard(request, may_edit)
    if isinstance(guarded, web.Response):
        return guarded
    principal, owner = guarded
    return await _render(request, principal, owner)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def editor_post(request: web.Request) -> web.StreamResponse:
    guarded = _guard(request, may_edit)
    if isinstance(guarded, web.Response):
        return guarded
    principal, owner = guarded
    form = await request.post()
    content = str(form.get("content", "")).replace("\r\n", "\n")  # browsers send CRLF from a textarea
    comment = store.clean_comment(str(form.get("comment", "")))
    base_text = str(form.get("base_version", ""))
    base = int(base_text) if base_text.isdigit() else None
    admin = request.config_dict[CONFIG_ADMIN]
    at = admin.clock()

    def work(s: Session) -> store.Change:
        return store.propose(s, owner, content, principal.username, comment, at, base_version=base,
                             recordings=admin.recordings)

    try:
        change = await _db(request, work)
    except ConfigError as exc:
        return await _render(request, principal, owner, status=422, content=content, comment=comment, error=exc)
    except store.StoreError as exc:
        conflict = ConfigError([ConfigIssue(store.file_of(owner), "", str(exc))])
        return await _render(request, principal, owner, status=409, content=content, comment=comment,
                             error=conflict)
    await _announce(request, change)
    query = f"saved={change.version.version}" if change.changed else "unchanged=1"
    return _redirect(f"/admin/config/{owner}?{query}")


async def rollback_post(request: web.Request) -> web.StreamResponse:
    guarded = _guard(request, may_edit)
    if isinstance(guarded, web.Response):
        return guarded
    principal, owner = guarded
    form = await request.post()
    version_text = str(form.get("version", ""))
    if not version_text.isdigit():
        return await _render(request, principal, owner, status=400, error=ConfigError(
            [ConfigIssue(store.file_of(owner), "", "ange en version / choose a version")]))
    admin = request.config_dict[CONFIG_ADMIN]
    at = admin.clock()

    def work(s: Session) -> store.Change:
        return store.rollback(s, owner, int(version_text), principal.username, at, recordings=admin.recordings)

    try:
        change = await _db(request, work)
    except ConfigError as exc:
        return await _render(request, principal, owner, status=422, error=exc)
    except store.StoreError as exc:
        return await _render(request, principal, owner, status=404 if isinstance(exc, store.UnknownVersion) else 409,
                             error=ConfigError([ConfigIssue(store.file_of(owner), "", str(exc))]))
    await _announce(request, change)
    query = f"rolledback={change.version.version}" if change.changed else "unchanged=1"
    return _redirect(f"/admin/config/{owner}?{query}")


def setup_config_admin(app: web.Application, live: LiveConfig | None, *,
                       clock: Callable[[], datetime] | None = None) -> None:
    """Add the config API and pages. With `live`, its listener runs with the app (cleanup_ctx)
    and a change reloads it at once; without, changes are only announced on the app's REDIS.
    The app must carry SETTINGS, DB and REDIS, and identity must be set up."""
    recordings = live.recordings if live is not None else (app[SETTINGS].config_dir or default_directory())
    app[CONFIG_ADMIN] = ConfigAdmin(live=live, recordings=recordings, clock=clock or utcnow)
    if live is not None:
        app.cleanup_ctx.append(live.cleanup_ctx)
    app.router.add_get("/api/v1/config/{owner}", get_config)
    app.router.add_put("/api/v1/config/{owner}", put_config)
    app.router.add_get("/api/v1/config/{owner}/versions", list_versions)
    app.router.add_post("/api/v1/config/{owner}/rollback", post_rollback)
    app.router.add_get("/admin/config", index_page)
    app.router.add_get("/admin/config/{owner}", editor_get)
    app.router.add_post("/admin/config/{owner}", editor_post)
    app.router.add_post("/admin/config/{owner}/rollback", rollback_post)

