"""Password hashing and policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from identity import passwords
from identity.errors import PasswordPolicyError


def test_hash_is_argon2id_and_verifies() -> None:
    """Stored hashes are argon2id, salted (two hashes differ), and only the right password verifies."""
    h1 = passwords.hash_password("ett-långt-lösenord")
    h2 = passwords.hash_password("ett-långt-lösenord")
    assert h1.startswith("$argon2id$") and h1 != h2
    assert passwords.verify_password(h1, "ett-långt-lösenord")
    assert not passwords.verify_password(h1, "ett-långt-lösenorD")


def test_malformed_hash_is_a_mismatch_not_a_crash() -> None:
    """A corrupt stored hash must make login fail, not raise a 500."""
    assert not passwords.verify_password("not-a-hash", "whatever-password")
    assert passwords.needs_rehash("not-a-hash")


def test_needs_rehash_when_parameters_change() -> None:
    """Hashes made with weaker (older) parameters are flagged for rehash; current ones are not."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash("ett-långt-lösenord")
    assert passwords.needs_rehash(weak)
    assert passwords.verify_password(weak, "ett-långt-lösenord")
    assert not passwords.needs_rehash(passwords.hash_password("ett-långt-lösenord"))


@pytest.mark.parametrize(
    ("password", "username", "expected"),
    [
        ("kort", "anna", ["minst 12 tecken"]),
        ("12345678901", "anna", ["minst 12 tecken"]),
        ("annaandersson", "AnnaAndersson", ["samma som användarnamnet"]),
        ("x" * 1025, "anna", ["högst 1024 tecken"]),
    ],
)
def test_policy_rejects_with_swedish_text(password: str, username: str, expected: list[str]) -> None:
    """Too short, too long or equal to the username (case-insensitively) is refused, in Swedish."""
    problems = passwords.policy_problems(password, username)
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem
    with pytest.raises(PasswordPolicyError) as err:
        passwords.check_policy(password, username)
    assert err.value.problems == problems


def test_policy_accepts_exactly_twelve_characters() -> None:
    """The boundary: twelve characters are enough."""
    assert passwords.policy_problems("123456789012", "anna") == []
    passwords.check_policy("123456789012", "anna")
