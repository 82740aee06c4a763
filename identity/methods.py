"""Pluggable login methods. The login route looks a method up by name in the registry and asks it
for the user; the middleware never knows which method made a session.

Form-based methods implement `LoginMethod`. Redirect-based ones (OIDC, SAML) add their own
start/callback routes and finish with `identity.http.login_response(request, user, method=name)`;
registering them here lists them on the login page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from vardlinje.db import Database

from . import service
from .models import User


@dataclass(frozen=True)
class LoginAttempt:
    """What a login form sent, plus where it came from."""

    username: str
    fields: Mapping[str, str] = field(default_factory=dict)
    remote: str = ""


@runtime_checkable
class LoginMethod(Protocol):
    name: str
    label: str  # shown on the login page

    async def authenticate(self, db: Database, attempt: LoginAttempt) -> User | None:
        """The user the attempt proves, or None. Never says why it failed."""
        ...


class PasswordLogin:
    name = "password"
    label = "Användarnamn och lösenord / Username and password"

    async def authenticate(self, db: Database, attempt: LoginAttempt) -> User | None:
        password = attempt.fields.get("password", "")
        if not attempt.username or not password:
            return None
        return await db.run(lambda s: service.authenticate_password(s, attempt.username, password))


class LoginMethods:
    """The registry of login methods, in the order they are offered."""

    def __init__(self, *methods: LoginMethod) -> None:
        self._methods: dict[str, LoginMethod] = {}
        for method in methods:
            self.register(method)

    def register(self, method: LoginMethod) -> None:
        if method.name in self._methods:
            raise ValueError(f"login method {method.name!r} is already registered")
        self._methods[method.name] = method

    def get(self, name: str) -> LoginMethod | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[LoginMethod]:
        return iter(self._methods.values())

    def __contains__(self, name: object) -> bool:
        return name in self._methods


def default_methods() -> LoginMethods:
    return LoginMethods(PasswordLogin())
