"""What the running app holds for SMS: the provider, the rate limiter and the settings, under
one typed AppKey (`SMS`), and the factory that picks the provider from the settings.

The IVR sends through `request.app[SMS].send(db, call_id=…, to=…, body=…)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from redis.asyncio import Redis

from vardlinje.db import Database, utcnow

from .config import SmsSettings, status_callback_url
from .models import SmsMessage
from .outbox import OutboxProvider
from .provider import SmsError, SmsProvider
from .ratelimit import RedisSmsLimiter, SmsLimiter
from .service import send_sms
from .twilio_provider import TwilioProvider

log = logging.getLogger(__name__)


@dataclass
class SmsContext:
    provider: SmsProvider
    limiter: SmsLimiter | None
    settings: SmsSettings
    callback_url: str  # the public status-callback URL: Twilio's signatures are checked against it
    clock: Callable[[], datetime] = field(default=utcnow)

    async def send(self, db: Database, *, call_id: str | None, to: str, body: str,
                   at: datetime | None = None) -> SmsMessage:
        """`send_sms` with this app's provider, limiter and number rules."""
        return await send_sms(db, self.provider, self.limiter, call_id=call_id, to=to, body=body,
                              at=at if at is not None else self.clock(), region=self.settings.default_region,
                              allowed_regions=self.settings.allowed_regions)

    async def try_send(self, db: Database, *, call_id: str | None, to: str, body: str) -> bool:
        """`send` for the IVR: True when the provider took the message; False (logged, and on the
        call record as `sms.failed`) when it could not be sent, so the menu plays its fallback."""
        try:
            await self.send(db, call_id=call_id, to=to, body=body)
        except SmsError as exc:
            log.warning("SMS for call %s not sent: %s", call_id, exc)
            return False
        return True


SMS = web.AppKey("sms", SmsContext)


def make_provider(sms: SmsSettings, *, public_url: str) -> SmsProvider:
    """The provider the settings choose."""
    if sms.provider == "twilio":
        return TwilioProvider.from_settings(sms, status_callback_url=status_callback_url(sms, public_url))
    return OutboxProvider()


def make_limiter(sms: SmsSettings, redis: Redis) -> RedisSmsLimiter:
    return RedisSmsLimiter(redis, limit=sms.rate_limit_count, window_seconds=sms.rate_limit_window_seconds)
