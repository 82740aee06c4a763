"""HTTP routes of SMS: Twilio's delivery-status webhook and the outbox API.

`POST /webhooks/twilio/sms-status` accepts only requests signed by Twilio (X-Twilio-Signature,
HMAC with our auth token over the PUBLIC callback URL from the settings and the form fields; a
proxy in front changes the URL the app sees, so the request's own URL is never used).
`GET /api/v1/sms/outbox` lists stored messages for supervisors, national admins and API tokens
with scope `sms:read`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from multidict import MultiDict
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from identity.http import csrf_exempt, get_principal, json_error, require_scope
from identity.models import Role
from vardlinje.appkeys import DB, REDIS, SETTINGS
from vardlinje.db import utcnow

from .config import STATUS_PATH, SmsSettings, status_callback_url
from .models import SmsMessage
from .numbers import normalise
from .outbox import MAX_LIST, list_messages
from .provider import InvalidNumber, SmsProvider
from .ratelimit import SmsLimiter
from .runtime import SMS, SmsContext, make_limiter
from .service import apply_status
from .twilio_provider import describe_error

log = logging.getLogger(__name__)

OUTBOX_PATH = "/api/v1/sms/outbox"
SIGNATURE_HEADER = "X-Twilio-Signature"
READ_SCOPE = "sms:read"
READ_ROLES = (Role.SUPERVISOR, Role.NATIONAL_ADMIN)


def signed_url(public_url: str, raw_query: str) -> str:
    """The URL Twilio signed: our public callback URL with the query Twilio requested it with."""
    parts = urlsplit(public_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, raw_query or parts.query, ""))


@csrf_exempt
async def status_webhook(request: web.Request) -> web.StreamResponse:
    """Twilio's status callback for one message: verify, update the row, record on the call."""
    ctx = request.config_dict[SMS]
    token = ctx.settings.twilio_auth_token.get_secret_value()
    if not token:
        # Without a token any HMAC would verify; refuse rather than accept unsigned news.
        return json_error(403, "webhook_not_configured",
                          "Twilio är inte konfigurerat (sms.twilio_auth_token saknas) / "
                          "Twilio is not configured (sms.twilio_auth_token is not set)")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        log.warning("SMS status webhook without %s from %s", SIGNATURE_HEADER, request.remote)
        return json_error(403, "missing_signature", f"{SIGNATURE_HEADER} saknas / missing {SIGNATURE_HEADER}")
    form = await request.post()
    params: MultiDict[str] = MultiDict((k, v) for k, v in form.items() if isinstance(v, str))
    url = signed_url(ctx.callback_url, request.rel_url.raw_query_string)
    if not RequestValidator(token).validate(url, params, signature):
        log.warning("SMS status webhook with a wrong signature from %s (checked against %s)", request.remote, url)
        return json_error(403, "invalid_signature",
                          f"{SIGNATURE_HEADER} stämmer inte / {SIGNATURE_HEADER} does not match "
                          f"(checked against {url}; is sms.status_callback_url the URL Twilio calls?)")

    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not status:
        return json_error(400, "bad_request", "MessageSid och MessageStatus krävs / MessageSid and MessageStatus are required")
    code_text = params.get("ErrorCode") or ""
    code = int(code_text) if code_text.isdigit() else None
    reference = request.query.get("ref")
    at = ctx.clock()

    def work(s: Session) -> tuple[str, bool] | None:
        update = apply_status(s, provider_id=sid, status=status, at=at, reference=reference,
                              error_code=code_text or None, error=describe_error(code) or None)
        return None if update is None else (update.message.status, update.applied)

    result = await request.config_dict[DB].run(work)
    if result is None:
        # 200 all the same: Twilio retries anything else, and this sid will never become ours.
        log.warning("SMS status %s for unknown MessageSid %s (ref %s)", status, sid, reference)
        return web.json_response({"ok": True, "known": False})
    return web.json_response({"ok": True, "known": True, "status": result[0], "applied": result[1]})


@require_scope(READ_SCOPE, roles=READ_ROLES)
async def outbox(request: web.Request) -> web.StreamResponse:
    """Stored messages, newest first; `?to=NUMBER&limit=N&provider=outbox|twilio&call_id=…`."""
    principal = get_principal(request)
    assert principal is not None
    to: str | None = None
    if request.query.get("to"):
        try:
            to = normalise(request.query["to"], request.config_dict[SMS].settings.default_region)
        except InvalidNumber as exc:
            return json_error(400, "invalid_number", str(exc))
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        return json_error(400, "bad_request", f"limit: ett heltal 1–{MAX_LIST} / an integer 1–{MAX_LIST}")
    provider = request.query.get("provider") or None
    call_id = request.query.get("call_id") or None
    # A supervisor sees the messages of her regions' calls; national admins and systems see all.
    regions = None if (principal.via == "token" or principal.has_role(Role.NATIONAL_ADMIN)) else principal.region_ids

    def work(s: Session) -> list[SmsMessage]:
        return list_messages(s, to=to, provider=provider, call_id=call_id, regions=regions, limit=limit)

    rows = await request.config_dict[DB].run(work)
    return web.json_response({"messages": [m.to_json() for m in rows], "count": len(rows)},
                             headers={"Cache-Control": "no-store"})


async def _close_provider(app: web.Application) -> None:
    await app[SMS].provider.aclose()


def setup_sms(app: web.Application, provider: SmsProvider, *, sms: SmsSettings, limiter: SmsLimiter | None = None,
              clock: Callable[[], datetime] | None = None) -> SmsContext:
    """Add the webhook and outbox routes and put the SMS context under `SMS`.

    The app must carry SETTINGS (for http.public_url), DB, and REDIS unless `limiter` is given.
    """
    ctx = SmsContext(
        provider=provider,
        limiter=limiter if limiter is not None else make_limiter(sms, app[REDIS]),
        settings=sms,
        callback_url=status_callback_url(sms, app[SETTINGS].http.public_url),
        clock=clock or utcnow,
    )
    app[SMS] = ctx
    app.router.add_post(STATUS_PATH, status_webhook)
    app.router.add_get(OUTBOX_PATH, outbox)
    app.on_cleanup.append(_close_provider)
    return ctx
