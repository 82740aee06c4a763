"""Reconnect delays: exponential growth with jitter, so many clients do not reconnect in step."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before reconnect attempt number `attempt` (0 for the first retry).

    "Equal jitter": half of the exponential step is fixed, half random, so the delay
    grows steadily yet two clients that failed together spread out.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    step: float = min(cap, base * float(2 ** min(attempt, 32)))
    return step / 2 + rand() * step / 2
