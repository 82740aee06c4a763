"""The errors of the identity layer. Their messages are meant for operators and are safe to print."""

from __future__ import annotations


class IdentityError(Exception):
    """Base of every identity error; `str(err)` is a complete, user-facing sentence."""


class PasswordPolicyError(IdentityError):
    """The password does not meet the policy; `problems` lists each rule broken (Swedish)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


class UnknownRole(IdentityError):
    pass


class UnknownRegion(IdentityError):
    pass


class UnknownCareProvider(IdentityError):
    pass


class UnknownUser(IdentityError):
    pass


class AlreadyExists(IdentityError):
    pass


class InvalidValue(IdentityError):
    """A malformed username, region id, scope or similar."""
