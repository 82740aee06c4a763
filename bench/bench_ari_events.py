"""How fast the ARI event path is: parse + typed model + ordered per-channel dispatch.

Peer measured in the same run: `json.loads` alone (the floor any client pays). The ratio says
how much the typed models and ordering cost on top. Run: .venv/bin/python bench/bench_ari_events.py
"""

from __future__ import annotations

import asyncio
import json
import time

from telephony.ari.dispatch import OrderedDispatcher
from telephony.ari.models import Event, parse_event

CHANNELS = 200
EVENTS_PER_CHANNEL = 50


def sample() -> list[str]:
    out = []
    for c in range(CHANNELS):
        ch = {"id": f"17000.{c}", "name": f"PJSIP/callers-{c:08x}", "state": "Up",
              "caller": {"name": "", "number": "+46701234567"}, "connected": {"name": "", "number": ""},
              "dialplan": {"context": "from-callers", "exten": "1177", "priority": 3, "app_name": "Stasis",
                           "app_data": "vardlinje,1177"}, "creationtime": "2026-11-25T22:00:00.000+0000",
              "language": "sv"}
        for i in range(EVENTS_PER_CHANNEL):
            kind = ("ChannelDtmfReceived" if i % 3 else "ChannelStateChange")
            ev = {"type": kind, "application": "vardlinje", "timestamp": "2026-11-25T22:00:01.000+0000",
                  "channel": ch, "digit": str(i % 10), "duration_ms": 100}
            out.append(json.dumps(ev))
    return out


async def dispatch_all(messages: list[str]) -> float:
    handled = 0
    done = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal handled
        handled += 1
        if handled == len(messages):
            done.set()

    d = OrderedDispatcher(handler)
    start = time.perf_counter()
    for m in messages:
        d.submit(parse_event(json.loads(m)))
    await done.wait()
    elapsed = time.perf_counter() - start
    await d.close()
    return elapsed


def main() -> None:
    messages = sample()
    n = len(messages)
    start = time.perf_counter()
    for m in messages:
        json.loads(m)
    floor = time.perf_counter() - start
    ours = asyncio.run(dispatch_all(messages))
    print(f"events: {n} on {CHANNELS} channels")
    print(f"json.loads only (peer):        {n / floor:>10,.0f} events/s")
    print(f"parse + model + ordered dispatch: {n / ours:>7,.0f} events/s")
    print(f"ratio (ours / peer time):      {ours / floor:>10.1f}x")


if __name__ == "__main__":
    main()
