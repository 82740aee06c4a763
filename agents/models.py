"""The registry's tables: `nurse` (one per nurse user, with her current presence) and
`presence_change` (append-only: every presence change with its time and who caused it).

The current presence lives in columns on `nurse` rather than being derived from the latest
change: routing, the wallboard and the desktop read it far more often than it changes, and
`apply_presence` writes the change and the new current state in one transaction, so the two
never disagree. The change log stays the history; the columns are its last line.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from identity.service import aware

from .presence import PauseReason, Presence, State


class Nurse(SQLModel, table=True):
    __tablename__ = "nurse"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", unique=True)
    home_region: str = Field(foreign_key="region.id", max_length=16, index=True)
    skills: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False),
                                   description="skill id of the national vocabulary → level")
    endpoint: str = Field(max_length=64, unique=True, description="PJSIP endpoint (and aor, auth) name")
    # Kept in clear on purpose: Asterisk's userpass auth and the browser softphone both need the
    # password itself, and the registry re-pushes it to Asterisk at every start. Never log it,
    # never list it; restrict who may read this column (see docs/agents.md).
    sip_secret: str = Field(max_length=128, repr=False)
    served_regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False),
                                      description="regions she answers for, her home region included")
    active: bool = True
    # "ws": the browser softphone (WebRTC); "udp": a SIP desk phone (or sipp in tests).
    phone: str = Field(default="ws", max_length=8, sa_column_kwargs={"server_default": "ws"})
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    presence_state: str = Field(default=State.LOGGED_OUT.value, max_length=16)
    presence_since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    presence_reason: str | None = Field(default=None, max_length=32)
    presence_call_id: str | None = Field(default=None, max_length=64)

    def presence(self) -> Presence:
        """The current presence as the state machine's value."""
        return Presence(
            state=State(self.presence_state),
            since=aware(self.presence_since),
            reason=PauseReason(self.presence_reason) if self.presence_reason else None,
            call_id=self.presence_call_id,
        )


class PresenceChange(SQLModel, table=True):
    """One presence change. The database refuses UPDATE and DELETE (triggers, migration 0004)."""

    __tablename__ = "presence_change"

    id: int | None = Field(default=None, primary_key=True)
    nurse_id: int = Field(foreign_key="nurse.id", index=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    event: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    # Not a foreign key: routing and the simulator offer calls that have no `call` row yet.
    call_id: str | None = Field(default=None, max_length=64)
    by: str = Field(max_length=100, description='the username, or "routing" / "system"')
