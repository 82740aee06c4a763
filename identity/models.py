"""Tables of identity: regions, care providers, users, API tokens and login sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


class Role(StrEnum):
    NURSE = "nurse"
    SUPERVISOR = "supervisor"
    REGION_ADMIN = "region_admin"
    NATIONAL_ADMIN = "national_admin"


class Region(SQLModel, table=True):
    __tablename__ = "region"

    id: str = Field(primary_key=True, max_length=16, description='county code, "01" … "25"')
    name: str = Field(max_length=100)


class CareProvider(SQLModel, table=True):
    """A vårdgivare. Journal access follows the care provider, not the region."""

    __tablename__ = "care_provider"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    org_number: str = Field(default="", max_length=20, description="organisationsnummer")


class CareProviderRegion(SQLModel, table=True):
    """Which regions' advice line a care provider runs."""

    __tablename__ = "care_provider_region"

    care_provider_id: int = Field(foreign_key="care_provider.id", primary_key=True)
    region_id: str = Field(foreign_key="region.id", primary_key=True, max_length=16)


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    display_name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=255, description="argon2id; None: no password login")
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    care_provider_id: int | None = Field(default=None, foreign_key="care_provider.id")
    active: bool = True
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class UserRegion(SQLModel, table=True):
    """The regions a user works for (a nurse's home region and those she serves)."""

    __tablename__ = "user_region"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    region_id: str = Field(foreign_key="region.id", primary_key=True, max_length=16)


class ApiToken(SQLModel, table=True):
    """A token for another system (workforce management, metrics). Only its hash is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class LoginSession(SQLModel, table=True):
    """A browser session. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "login_session"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    method: str = Field(default="password", max_length=32, description="which login method created it")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    remote: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
