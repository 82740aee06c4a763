"""The local outbox: a provider that sends nothing and reports every message delivered.

For development and the demo. Its messages are the `sms_message` rows `send_sms` writes
(before any provider is called), so the outbox needs no store of its own; `list_messages`
reads them for the CLI (`vardlinje sms outbox`) and the API (`GET /api/v1/sms/outbox`).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from calls.models import Call

from .models import SmsMessage
from .provider import SentMessage

OUTBOX = "outbox"
MAX_LIST = 500


class OutboxProvider:
    name = OUTBOX

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        # Final at once: there is no network between us and the outbox.
        return SentMessage(provider_id=f"outbox-{reference}", status="delivered")

    async def aclose(self) -> None:
        return None


def list_messages(session: Session, *, to: str | None = None, provider: str | None = None,
                  call_id: str | None = None, regions: Collection[str] | None = None,
                  limit: int = 50) -> list[SmsMessage]:
    """Newest first. `to` must already be E.164 (see numbers.normalise). `regions`: only messages
    of calls resolved to one of these regions (None: every message)."""
    query = select(SmsMessage)
    if regions is not None:
        query = query.join(Call, col(Call.id) == col(SmsMessage.call_id)).where(col(Call.region_id).in_(list(regions)))
    if to is not None:
        query = query.where(SmsMessage.to_number == to)
    if provider is not None:
        query = query.where(SmsMessage.provider == provider)
    if call_id is not None:
        query = query.where(SmsMessage.call_id == call_id)
    query = query.order_by(col(SmsMessage.created_at).desc(), col(SmsMessage.id).desc())
    return list(session.exec(query.limit(max(1, min(limit, MAX_LIST)))))
