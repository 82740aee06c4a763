"""The `user` command group: add users and issue or revoke API tokens from the command line.

Registered in the main CLI as `vardlinje user ...`. The database is the one in the settings
(VARDLINJE_DATABASE_URL or the settings file). Errors are printed as one line, exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import click
from sqlmodel import Session

from vardlinje.cliutil import run_in_db
from vardlinje.db import utcnow

from . import service
from .errors import IdentityError, UnknownCareProvider
from .models import Role

T = TypeVar("T")


def _run_db(fn: Callable[[Session], T]) -> T:
    return run_in_db(fn, clear_errors=(IdentityError,))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Lösenord / Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group("user")
def user_group() -> None:
    """Users (nurses, supervisors, admins) and API tokens for other systems."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]),
              help="repeat for several roles")
@click.option("--region", "regions", multiple=True, help='county code the user works for, e.g. "01"; repeatable')
@click.option("--care-provider", "care_provider", default=None, help="the care provider's (vårdgivare) name")
@click.option("--display-name", default="", help="full name shown in the desktop")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
def add_user(username: str, roles: tuple[str, ...], regions: tuple[str, ...], care_provider: str | None,
             display_name: str, password_stdin: bool) -> None:
    """Create USERNAME with a password (prompted, hidden, asked twice)."""

    def precheck(s: Session) -> None:
        # Fail before the password prompt on mistakes the database can already tell about.
        if service.user_by_username(s, username) is not None:
            raise IdentityError(f"user {service.normalize_username(username)!r} already exists")
        if care_provider is not None and service.care_provider_by_name(s, care_provider) is None:
            raise UnknownCareProvider(f"unknown care provider {care_provider!r}")

    _run_db(precheck)
    password = _read_password(password_stdin)

    def work(s: Session) -> tuple[int, str, list[str]]:
        provider_id = None
        if care_provider is not None:
            provider = service.care_provider_by_name(s, care_provider)
            if provider is None:
                raise UnknownCareProvider(f"unknown care provider {care_provider!r}")
            provider_id = provider.id
        user = service.create_user(s, username, password, roles, provider_id, regions, display_name, at=utcnow())
        assert user.id is not None
        return user.id, user.username, service.user_regions(s, user)

    user_id, name, region_ids = _run_db(work)
    click.echo(f"created user {name} (id {user_id}), roles {', '.join(sorted(set(roles)))}, "
               f"regions {', '.join(region_ids) or '-'}")


@user_group.command("token")
@click.argument("username")
@click.option("--name", required=True, help="which system uses the token, e.g. wfm")
@click.option("--scope", "scopes", multiple=True, required=True, help="e.g. wfm:read; repeatable")
@click.option("--expires-days", type=click.IntRange(min=1), default=None, help="default: never expires")
def add_token(username: str, name: str, scopes: tuple[str, ...], expires_days: int | None) -> None:
    """Issue an API token for USERNAME and print it. It is shown only this once."""

    def work(s: Session) -> tuple[int, str]:
        user = service.require_user(s, username)
        now = utcnow()
        expires = now + timedelta(days=expires_days) if expires_days else None
        token, clear = service.create_api_token(s, user, name, scopes, expires, at=now)
        assert token.id is not None
        return token.id, clear

    token_id, clear = _run_db(work)
    click.echo(f"token {token_id} for {service.normalize_username(username)} ({name}); store it now, "
               "it is not shown again:", err=True)
    click.echo(clear)


@user_group.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke API token TOKEN_ID (the number `user token` printed)."""
    if not _run_db(lambda s: service.revoke_api_token(s, token_id, at=utcnow())):
        raise click.ClickException(f"no live token {token_id}")
    click.echo(f"revoked token {token_id}")
