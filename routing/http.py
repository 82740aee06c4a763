"""HTTP routes of routing: the national crisis switch (`/api/v1/routing/crisis`).

- `GET`: the redirected regions with who, when and why, and the latest logged changes
  (`?limit=N`, 1–200, default 20).
- `POST`: switch regions on or off — `{"regions": ["01", "03"], "active": true, "reason": "…"}` or
  `{"all": true, "active": false, "reason": "…"}`; 200 with the logged change and the new state.

Who may do what (`docs/crisis.md`): a national admin switches any region and all regions; a region
admin or a supervisor switches only her own regions (the supervisor on duty is often the first to
know that her advice centre cannot answer, day or night), never "all regions"; the three may read
the whole state (a supervisor must see when her neighbours' calls come her way). Nurses may do
neither. API tokens act with their user's roles and also need scope `crisis:read` / `crisis:write`.
Cookie sessions need the CSRF token for POST (the identity middleware checks it).
Error details are Swedish first, then English, as the supervisors' other pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from redis.exceptions import RedisError

from identity.http import Principal, forbidden, get_principal, json_error, unauthenticated
from identity.models import Role
from vardlinje.db import utcnow

from .crisis import CrisisError, CrisisState, CrisisSwitch, NotRedirected, SwitchBusy, region_label
from .model import CRISIS_ALL

CRISIS_PATH = "/api/v1/routing/crisis"
READ_SCOPE = "crisis:read"
WRITE_SCOPE = "crisis:write"
DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass
class CrisisAdmin:
    switch: CrisisSwitch
    clock: Callable[[], datetime]


CRISIS_ADMIN = web.AppKey("crisis_admin", CrisisAdmin)


# --- who may do what ---------------------------------------------------------------------------------


def may_read(p: Principal) -> bool:
    if p.via == "token" and READ_SCOPE not in p.scopes and WRITE_SCOPE not in p.scopes:
        return False
    return p.has_role(Role.NATIONAL_ADMIN, Role.REGION_ADMIN, Role.SUPERVISOR)


def may_switch_any(p: Principal) -> bool:
    """Whether `p` may switch at all (some region)."""
    if p.via == "token" and WRITE_SCOPE not in p.scopes:
        return False
    return p.has_role(Role.NATIONAL_ADMIN) or (p.has_role(Role.REGION_ADMIN, Role.SUPERVISOR) and bool(p.region_ids))


def may_switch(p: Principal, regions: Iterable[str]) -> bool:
    """National admins: any regions and "*"; region admins and supervisors: only their own regions."""
    if not may_switch_any(p):
        return False
    if p.has_role(Role.NATIONAL_ADMIN):
        return True
    return all(r != CRISIS_ALL and r in p.region_ids for r in regions)


# --- JSON ------------------------------------------------------------------------------------------------


class CrisisRequest(BaseModel):
    """The POST body: `regions` or `all`, `active`, `reason`."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    regions: list[str] | None = Field(None, description='county codes, e.g. ["01", "03"]')
    all_regions: bool = Field(False, alias="all", description="every region (national admins only)")
    active: bool = Field(description="true: redirect to the national queue; false: end the redirect")
    reason: str = Field(description="why (logged; required)")

    @model_validator(mode="after")
    def _one_target(self) -> CrisisRequest:
        if self.all_regions and self.regions:
            raise ValueError('give "regions" or "all": true, not both')
        if not self.all_regions and not self.regions:
            raise ValueError('give "regions" (at least one county code) or "all": true')
        return self

    @property
    def targets(self) -> list[str]:
        return [CRISIS_ALL] if self.all_regions else list(self.regions or [])


def state_json(state: CrisisState) -> dict[str, Any]:
    return {
        "regions": sorted(state.regions),
        "all_regions": state.all_regions,
        "redirects": [{**r.to_json(), "name": region_label(r.region)} for r in state.redirects],
        "log_id": state.log_id,
    }


def _bad_request(detail_sv: str, detail_en: str, **extra: Any) -> web.Response:
    return web.json_response({"error": "bad_request", "detail": f"{detail_sv} / {detail_en}", **extra}, status=400)


def _unavailable(exc: Exception) -> web.Response:
    return json_error(503, "unavailable", f"Krisväxeln kan inte nås just nu ({exc}); försök igen / "
                                          f"the crisis switch cannot be reached now; try again")


# --- handlers ------------------------------------------------------------------------------------------


async def get_crisis(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if not may_read(principal):
        return forbidden(request, "forbidden", "Kräver rollen national_admin, region_admin eller supervisor "
                                               f"(API-token: {READ_SCOPE}) / requires an admin or supervisor role")
    text = request.query.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        return _bad_request(f"limit: ett heltal 1–{MAX_LIMIT}", f"limit: an integer 1–{MAX_LIMIT}")
    switch = request.config_dict[CRISIS_ADMIN].switch
    try:
        state = await switch.current()
        changes = await switch.recent(int(text))
    except (RedisError, OSError, SwitchBusy) as exc:
        return _unavailable(exc)
    return web.json_response({"state": state_json(state), "log": [c.to_json() for c in changes]},
                             headers={"Cache-Control": "no-store"})


def _validation_issues(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()]


async def post_crisis(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if not may_switch_any(principal):
        return forbidden(request, "forbidden", "Kräver rollen national_admin, eller region_admin/supervisor för "
                                               f"egna regioner (API-token: {WRITE_SCOPE}) / requires a national "
                                               "admin, or a region admin or supervisor for her own regions")
    try:
        body = await request.json()
    except ValueError:
        return _bad_request("Ogiltig JSON", "invalid JSON")
    try:
        wanted = CrisisRequest.model_validate(body)
    except ValidationError as exc:
        return _bad_request('Förväntade {"regions": [...]} eller {"all": true}, "active": true/false och "reason"',
                            'expected {"regions": [...]} or {"all": true}, "active" and "reason"',
                            issues=_validation_issues(exc))
    admin = request.config_dict[CRISIS_ADMIN]
    try:
        targets = admin.switch.validate_regions(wanted.targets)
    except CrisisError as exc:
        return _bad_request(exc.sv, str(exc))
    if not may_switch(principal, targets):
        denied = ", ".join(region_label(r) for r in targets if r == CRISIS_ALL or r not in principal.region_ids)
        return forbidden(request, "forbidden", f"Du får inte ställa om {denied}: bara egna regioner "
                                               "(alla regioner: national_admin) / you may switch only your own "
                                               "regions (all regions: national admins)")
    try:
        switched = await admin.switch.set(targets, wanted.active, principal.username, wanted.reason, admin.clock())
    except NotRedirected as exc:
        return json_error(409, "not_redirected", f"{exc.sv} / {exc}")
    except CrisisError as exc:
        return _bad_request(exc.sv, str(exc))
    except (RedisError, OSError, SwitchBusy) as exc:
        return _unavailable(exc)
    return web.json_response({"change": switched.change.to_json(), "state": state_json(switched.state)})


def setup_crisis_admin(app: web.Application, switch: CrisisSwitch, *, clock: Callable[[], datetime] | None = None,
                       listen: bool = True) -> None:
    """Add the crisis switch's API. With `listen`, the switch's listener (pub/sub, restore, repair)
    runs with the app (cleanup_ctx). Identity must be set up (the app carries SETTINGS, DB, REDIS)."""
    app[CRISIS_ADMIN] = CrisisAdmin(switch=switch, clock=clock or utcnow)
    if listen:
        app.cleanup_ctx.append(switch.cleanup_ctx)
    app.router.add_get(CRISIS_PATH, get_crisis)
    app.router.add_post(CRISIS_PATH, post_crisis)
