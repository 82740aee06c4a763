"""The call record's tables: `call` (one per contact) and `call_event` (append-only log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class Call(SQLModel, table=True):
    __tablename__ = "call"

    id: str = Field(primary_key=True, max_length=32, description="our call id (uuid4 hex)")
    linkedid: str = Field(index=True, max_length=64, description="Asterisk's linkedid: all legs of the contact")
    channel_id: str = Field(index=True, max_length=64, description="the caller's channel (Asterisk uniqueid)")
    asterisk_id: str = Field(default="", max_length=64, description="which Asterisk node")
    dialled_number: str = Field(default="", max_length=64)
    caller_number: str = Field(default="", max_length=64)
    region_id: str | None = Field(default=None, max_length=16, index=True)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    answered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    end_reason: str | None = Field(default=None, max_length=64)


class CallEvent(SQLModel, table=True):
    __tablename__ = "call_event"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call.id", index=True, max_length=32)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    kind: str = Field(max_length=64, description="dotted name, e.g. call.answered, prompt.finished, menu.choice")
    channel_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
