"""Skill- and region-based distribution of calls to nurses, collaboration between regions and the
national queue (see docs/routing.md).

- `model`: frozen data the policy sees and says (WaitingCall, NurseState, Offer, RoutingEvent, RoutingRules).
- `rules`: `national.yaml`'s agreements compiled into RoutingRules.
- `policy`: the pure policy — eligibility by region and wait, skill fit, `decide(now, calls, nurses, rules)`.
- `store`: the store interface with its one atomic step, `reserve` (compare-and-reserve);
  adapters `memory` (simulator, tests) and `redis_store` (running system, Lua reservation).
- `engine`: triggers (call arrived, nurse event, offer ended, tick) → snapshot → policy → reserve → events.

Not yet here: offer/answer on Asterisk, wait estimates, the simulator and the benchmark.
"""
