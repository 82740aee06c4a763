"""Tables of the escalation: the one-time links sent to callers, the images they sent, and who viewed them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class MediaLink(SQLModel, table=True):
    __tablename__ = "media_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True, description="sha256 of the link's token")
    call_id: str = Field(foreign_key="call.id", index=True, max_length=32)
    kind: str = Field(max_length=16, description="image or video")
    to_number: str = Field(max_length=32, description="E.164 mobile number the SMS went to")
    created_by_user_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    max_uses: int
    uses: int = 0
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_reason: str = Field(default="", max_length=32)


class MediaImage(SQLModel, table=True):
    __tablename__ = "media_image"

    id: str = Field(primary_key=True, max_length=32, description="uuid hex; the store's key")
    call_id: str = Field(foreign_key="call.id", index=True, max_length=32)
    link_id: int = Field(foreign_key="media_link.id", index=True)
    sha256: str = Field(max_length=64)
    width: int
    height: int
    source_format: str = Field(max_length=16)
    size_bytes: int
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    attached_note_id: str | None = Field(default=None, foreign_key="journal_note.id", max_length=32)
    attached_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    deleted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class MediaAccess(SQLModel, table=True):
    """Every view of a caller's image, like the journal's access log."""

    __tablename__ = "media_access"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    image_id: str = Field(foreign_key="media_image.id", index=True, max_length=32)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    what: str = Field(max_length=16, description="image or thumbnail")
