"""Skill- and region-based distribution of calls to nurses, collaboration between regions and the
national queue (see docs/routing.md).

The decision core (pure, no I/O):
- `model`: frozen data the policy sees and says (WaitingCall, NurseState, Offer, RoutingEvent, RoutingRules).
- `rules`: `national.yaml`'s agreements compiled into RoutingRules.
- `policy`: eligibility by region and wait, skill fit, `decide(now, calls, nurses, rules)`.
- `ewt`: position and estimated wait of a waiting call, per-region estimates (docs/simulator.md).

State and triggers:
- `store`: the store interface with its one atomic step, `reserve` (compare-and-reserve);
  adapters `memory` (simulator, tests) and `redis_store` (running system, Lua reservation).
- `engine`: triggers (call arrived, nurse event, offer ended, tick) → snapshot → policy → reserve → events.
- `crisis`: the national crisis switch (run-time state, logged); `http`: its API; `crisis_cli`.

The running system: `live` (engine on Redis, registry, wrap-up, tick), `presence` (store + registry),
`router` (the IVR's queue), `asterisk` (offer and answer over ARI), `handler` (IVR + offers for Telephony).

The simulator: `scenario` (the file format), `simulator` (virtual clock), `cli` (`vardlinje routing`).
"""
