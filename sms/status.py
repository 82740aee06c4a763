"""Message statuses and the order they move in.

Twilio's status callbacks may arrive out of order (a `sent` after the `delivered`), so a row
only moves forward; every callback is still written to the call record as it came.
"""

from __future__ import annotations

PENDING = "pending"  # stored, not yet handed to the provider
FAILED = "failed"

_RANK = {
    PENDING: 0,
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    FAILED: 5,
    "canceled": 5,
    "read": 6,  # WhatsApp/RCS: after delivered
}
FINAL = frozenset(s for s, rank in _RANK.items() if rank >= 5)
KNOWN = frozenset(_RANK)


def advances(current: str, new: str) -> bool:
    """Whether a row in `current` status should take `new`: only forward; one final status never
    replaces another (except `read` after `delivered`); unknown statuses never overwrite."""
    if new not in _RANK:
        return False
    if current not in _RANK:
        return True
    return _RANK[new] > _RANK[current]
