"""Password hashing (argon2id) and the minimum password policy.

Pure functions: no database, no clock. Policy messages are Swedish because users read them.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import PasswordPolicyError

MIN_LENGTH = 12
# argon2 copes with long input, but an unbounded password lets anyone make us hash megabytes.
MAX_LENGTH = 1024

# argon2-cffi's defaults follow RFC 9106's recommended low-memory profile; only the type is pinned.
_hasher = PasswordHasher(type=Type.ID)
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; a malformed stored hash counts as a mismatch, never an error."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (then rehash at next login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def burn_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown username costs as long as a wrong password
    and response times do not reveal which usernames exist."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("vardlinje-dummy-password")
    verify_password(_dummy_hash, password)


def policy_problems(password: str, username: str) -> list[str]:
    """Every rule the password breaks, as Swedish sentences; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Lösenordet måste vara minst {MIN_LENGTH} tecken långt.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Lösenordet får vara högst {MAX_LENGTH} tecken långt.")
    if username and password.strip().casefold() == username.strip().casefold():
        problems.append("Lösenordet får inte vara samma som användarnamnet.")
    return problems


def check_policy(password: str, username: str) -> None:
    """Raise PasswordPolicyError listing every broken rule."""
    problems = policy_problems(password, username)
    if problems:
        raise PasswordPolicyError(problems)
