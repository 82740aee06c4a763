"""The one-time links' decisions: unguessable tokens stored as hashes, expiry, a few uses, and death with the
contact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from webrtc.links import (
    STATE_TEXT,
    LinkKind,
    LinkState,
    issue,
    new_token,
    same_token,
    state,
    token_hash,
    used,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_tokens_are_long_random_and_only_their_hash_is_kept() -> None:
    """Two tokens never repeat, carry 256 bits (43 url-safe characters) and verify only against their hash."""
    (a, ha), (b, hb) = new_token(), new_token()
    assert ha != hb
    assert a != b and len(a) >= 43 and ha == token_hash(a) and a not in ha
    assert same_token(a, ha) and not same_token(b, ha) and not same_token(a[:-1], ha)


def test_a_link_is_good_until_it_expires_is_used_up_or_the_contact_is_over() -> None:
    """15 minutes and 3 uses: ok, then used up after 3; expired at 15 min; revoked when the nurse closes it or
    when the contact (call + wrap-up) is over, even before it would expire."""
    link = issue("call-1", LinkKind.IMAGE, T0, lifetime=timedelta(minutes=15), max_uses=3)
    assert state(link, T0) is LinkState.OK
    assert state(used(used(used(link))), T0) is LinkState.USED_UP
    assert state(link, T0 + timedelta(minutes=15)) is LinkState.EXPIRED
    assert state(replace(link, revoked_at=T0), T0 + timedelta(seconds=1)) is LinkState.REVOKED
    assert state(link, T0 + timedelta(minutes=5), contact_over_at=T0 + timedelta(minutes=4)) is LinkState.REVOKED
    assert state(link, T0 + timedelta(minutes=3), contact_over_at=T0 + timedelta(minutes=4)) is LinkState.OK
    assert state(None, T0) is LinkState.UNKNOWN


def test_every_refusal_has_words_for_the_caller_in_swedish_and_english() -> None:
    """The caller's page never shows a stack trace: each refused state has its two sentences."""
    for s in LinkState:
        if s is not LinkState.OK:
            sv, en = STATE_TEXT[s]
            assert sv and en and sv != en


def test_a_link_needs_a_life_and_a_use() -> None:
    """Zero lifetime or zero uses is a programming error, refused."""
    with pytest.raises(ValueError):
        issue("c", LinkKind.VIDEO, T0, lifetime=timedelta(0), max_uses=1)
    with pytest.raises(ValueError):
        issue("c", LinkKind.VIDEO, T0, lifetime=timedelta(minutes=1), max_uses=0)
