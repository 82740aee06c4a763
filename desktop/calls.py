"""Call control of the nurse desktop: transfer of the call she is on (docs/routing.md, "Transfer and hold").

- `GET  /api/v1/desktop/call/targets` — the queues of her call's region (Swedish names from national.yaml,
  skills, priority) and her ready colleagues (display names);
- `POST /api/v1/desktop/call/transfer` — `{"kind": "queue" | "nurse" | "external", "target": …}`.

Answer, hang-up, hold, mute and DTMF happen in her softphone (SIP); hold is recorded from the ARI events
of her leg (routing.asterisk). Both routes are hers only (`_nurse_guard`: role nurse, an active registry
row; tokens need `desktop:read` / `desktop:write`); cookie sessions send the CSRF token on POST (identity's
middleware). The decisions are `routing.transfer` (pure); this module only translates HTTP.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError
from sqlmodel import Session, col, select

from agents.models import Nurse
from identity.http import json_error
from identity.models import User
from routing.control import CallControl, Targets
from routing.transfer import Refusal, nurse_targets
from vardlinje.appkeys import CALL_CONTROL, DB

# desktop.http imports this module (setup_desktop adds these routes), so its helpers are imported where they
# are used: at that time both modules are complete, whichever was imported first.
TARGETS_PATH = "/api/v1/desktop/call/targets"
TRANSFER_PATH = "/api/v1/desktop/call/transfer"


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["queue", "nurse", "external"]
    target: str = Field(min_length=1, max_length=64, description="queue node id, nurse endpoint or E.164 number")


NO_STORE = {"Cache-Control": "no-store"}


def _refused(refusal: Refusal) -> web.Response:
    return json_error(refusal.status, refusal.error, refusal.detail, headers=NO_STORE)


def _control(request: web.Request) -> CallControl | None:
    return request.config_dict.get(CALL_CONTROL)


def _display_names(s: Session, endpoints: list[str]) -> dict[str, str]:
    if not endpoints:
        return {}
    rows = s.exec(select(Nurse, User).where(col(Nurse.endpoint).in_(endpoints)).where(Nurse.user_id == User.id))
    return {nurse.endpoint: user.display_name or user.username for nurse, user in rows}


async def _targets_json(request: web.Request, found: Targets) -> dict[str, Any]:
    ids = [n.nurse_id for n in found.ready if n.nurse_id != found.me.nurse_id]
    names = await request.config_dict[DB].run(lambda s: _display_names(s, ids))
    colleagues = nurse_targets(found.me, found.ready, names)
    return {
        "call_id": found.call.call_id,
        "region": found.call.region or None,
        "queues": [{"id": q.id, "queue": q.queue, "name": q.name, "label": q.label, "skills": dict(q.skills),
                    "priority": q.priority} for q in found.queues],
        "nurses": [{"endpoint": t.endpoint, "display_name": t.display_name, "home_region": t.home_region,
                    "skills": dict(t.skills)} for t in colleagues],
        "external": {"format": "E.164", "example": "+46771117700"},
    }


async def call_targets(request: web.Request) -> web.StreamResponse:
    from .http import _no_routing, _nurse_guard, _unavailable

    guarded = await _nurse_guard(request, writing=False)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    control = _control(request)
    if control is None:
        return _no_routing()
    try:
        found = await control.targets(nurse.endpoint)
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    if isinstance(found, Refusal):
        return _refused(found)
    return web.json_response(await _targets_json(request, found), headers=NO_STORE)


async def call_transfer(request: web.Request) -> web.StreamResponse:
    from .http import _no_routing, _nurse_guard, _unavailable

    guarded = await _nurse_guard(request, writing=True)
    if isinstance(guarded, web.Response):
        return guarded
    _principal, nurse = guarded
    try:
        raw = await request.json()
    except ValueError:
        return json_error(400, "bad_request", "Ogiltig JSON / invalid JSON")
    try:
        body = TransferBody.model_validate(raw)
    except ValidationError as exc:
        issues = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                  for e in exc.errors()]
        return web.json_response({"error": "bad_request", "detail": 'Förväntade {"kind": "queue" | "nurse" | '
                                  '"external", "target": …} / expected {"kind": …, "target": …}', "issues": issues},
                                 status=400)
    control = _control(request)
    if control is None:
        return _no_routing()
    try:
        done = await control.transfer(nurse.endpoint, body.kind, body.target.strip())
    except (RedisError, OSError) as exc:
        return _unavailable(exc)
    if isinstance(done, Refusal):
        return _refused(done)
    return web.json_response({"call_id": done.call_id, "kind": done.kind, "target": done.target,
                              "status": "transferred"}, headers=NO_STORE)


def setup_call_control(app: web.Application) -> None:
    """The routes; they answer 503 `routing_unavailable` while the app has no CALL_CONTROL (no telephony)."""
    app.router.add_get(TARGETS_PATH, call_targets)
    app.router.add_post(TRANSFER_PATH, call_transfer)
