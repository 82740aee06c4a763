"""The `sms_message` table: every SMS we send, through any provider, and its latest status.

It is the local outbox's store and the record of what went through Twilio. The history of
status changes of a call's messages is on the call record (`sms.*` events).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


class SmsMessage(SQLModel, table=True):
    __tablename__ = "sms_message"

    id: str = Field(primary_key=True, max_length=32, description="our message id (uuid4 hex), the provider's reference")
    call_id: str | None = Field(default=None, foreign_key="call.id", index=True, max_length=32)
    # Not "to": a reserved word in SQL, awkward in every hand-written query.
    to_number: str = Field(index=True, max_length=20, description="E.164")
    body: str = Field(sa_column=Column(Text, nullable=False))
    provider: str = Field(max_length=16, description="outbox, twilio")
    provider_id: str | None = Field(default=None, index=True, max_length=64, description="e.g. Twilio's MessageSid")
    status: str = Field(max_length=16, description="pending, then the provider's: queued, sent, delivered, failed, …")
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_code: str | None = Field(default=None, max_length=32, description="the provider's code, or ours (rate_limited, …)")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "to": self.to_number,
            "body": self.body,
            "provider": self.provider,
            "provider_id": self.provider_id,
            "status": self.status,
            "error": self.error,
            "error_code": self.error_code,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(value: datetime) -> str:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
