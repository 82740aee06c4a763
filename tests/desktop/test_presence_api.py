"""The nurse's own presence through the desktop API, and a supervisor's change of it: the round trip through
routing's store and the registry, clear 400s, 409s in Swedish while a call rings or is in progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agents.presence import State
from routing.presence import by_endpoint

from . import Client, Rig, Template, build_rig, make_template

PRESENCE = "/api/v1/desktop/presence"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("desktop-presence"))


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template) as built:
        yield built


async def send(client: Client, csrf: dict[str, str], body: object) -> tuple[int, dict[str, Any]]:
    resp = await client.post(PRESENCE, json=body, headers=csrf)
    return resp.status, await resp.json()


async def test_presence_round_trip(rig: Rig) -> None:
    """Nora logs in (paused, administration), makes herself ready, pauses for a break and logs out: each
    answer is her new presence with the events she may send next; /me shows her profile and live presence;
    today's history lists every change with her name as `by`; the store agrees."""
    nora, csrf = await rig.login("nora")
    me = await (await nora.get("/api/v1/desktop/me")).json()
    assert me["endpoint"] == rig.endpoints["nora"] and me["home_region"] == "01"
    assert me["served_regions"] == ["01"] and me["skills"] == {"triage": 3} and me["phone"] == "ws"
    assert me["presence"]["state"] == "logged_out" and me["presence"]["allowed"] == ["login"]
    assert "sip_secret" not in me

    status, body = await send(nora, csrf, {"event": "login"})
    assert status == 200, body
    assert body["presence"]["state"] == "paused" and body["presence"]["reason"] == "administration"
    assert body["presence"]["reason_sv"] == "administration" and body["presence"]["state_sv"] == "paus"
    assert body["presence"]["allowed"] == ["ready", "pause", "logout"]
    rig.clock.advance(60)
    status, body = await send(nora, csrf, {"event": "ready"})
    assert status == 200 and body["presence"]["state"] == "ready"
    assert body["presence"]["since"] == rig.clock().isoformat()
    rig.clock.advance(600)
    status, body = await send(nora, csrf, {"event": "pause", "reason": "break"})
    assert status == 200 and body["presence"]["reason"] == "break" and body["presence"]["reason_sv"] == "rast"
    me = await (await nora.get("/api/v1/desktop/me")).json()
    assert me["presence"]["state"] == "paused" and me["presence"]["reason"] == "break"
    rig.clock.advance(900)
    status, body = await send(nora, csrf, {"event": "logout"})
    assert status == 200 and body["presence"]["state"] == "logged_out"
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.LOGGED_OUT

    today = await (await nora.get("/api/v1/desktop/presence/today")).json()
    assert [(c["event"], c["to_state"], c["reason"], c["by"]) for c in today["changes"]] == [
        ("login", "paused", "administration", "nora"),
        ("ready", "ready", None, "nora"),
        ("pause", "paused", "break", "nora"),
        ("logout", "logged_out", None, "nora"),
    ]
    assert today["changes"][2]["to_state_sv"] == "paus" and today["changes"][2]["reason_sv"] == "rast"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"event": "pause"}, "En paus behöver en orsak"),
        ({"event": "ready", "reason": "break"}, "Orsak anges bara vid paus"),
        ({"event": "offer"}, "'field': 'event'"),
        ({"event": "pause", "reason": "missed_offer"}, "'field': 'reason'"),
        ({"event": "login", "note": "x"}, "'field': 'note'"),
        (["login"], "'field': '(body)'"),
    ],
)
async def test_bad_bodies_are_a_clear_400(rig: Rig, body: object, fragment: str) -> None:
    """A pause without a reason, a reason without a pause, routing's own events, the routing-only pause reason,
    unknown fields and a non-object: 400 with a Swedish-first detail and the field at fault; nothing changes."""
    nora, csrf = await rig.login("nora")
    await send(nora, csrf, {"event": "login"})
    status, answer = await send(nora, csrf, body)
    assert status == 400 and answer["error"] == "bad_request", answer
    assert fragment in answer["detail"] + str(answer.get("issues", "")), answer
    resp = await nora.post(PRESENCE, data=b"{nope", headers={**csrf, "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["detail"].startswith("Ogiltig JSON")
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.PAUSED


async def test_pause_while_offered_is_409_and_nothing_changes(rig: Rig) -> None:
    """Nora is ready, a call in 01 is offered to her: her pause and logout are 409 `invalid_transition` in
    Swedish naming the state; she stays offered in the store and the registry. A supervisor's logout while she
    is on the call is refused the same way: a call in progress is never dropped."""
    nora, csrf = await rig.login("nora")
    await send(nora, csrf, {"event": "login"})
    await send(nora, csrf, {"event": "ready"})
    events = await rig.call("c1", "01")
    assert [(e.kind, e.nurse_id) for e in events][-1] == ("offered", rig.endpoints["nora"])
    me = await (await nora.get("/api/v1/desktop/me")).json()
    assert me["presence"]["state"] == "offered" and me["presence"]["call_id"] == "c1"
    assert me["presence"]["allowed"] == []

    for body in ({"event": "pause", "reason": "break"}, {"event": "logout"}):
        status, answer = await send(nora, csrf, body)
        assert status == 409 and answer["error"] == "invalid_transition", answer
    assert answer["detail"].startswith("Det går inte att logga ut när du är i läget erbjuden ett samtal")
    assert "ett pågående samtal avbryts aldrig" in answer["detail"]
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.OFFERED
    row = rig.database.run_sync(lambda s: by_endpoint(s, rig.endpoints["nora"]))
    assert row is not None and row.presence_state == "offered"

    rig.clock.advance(3)
    await rig.live.engine.answered("c1", rig.clock())
    sven, sven_csrf = await rig.login("sven")
    resp = await sven.post(f"/api/v1/supervisor/nurses/{rig.endpoints['nora']}/presence",
                           json={"event": "logout"}, headers=sven_csrf)
    answer = await resp.json()
    assert resp.status == 409 and answer["detail"].startswith(
        "Det går inte att logga ut när sjuksköterskan är i läget i samtal"), answer
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.ON_CALL


async def test_a_ready_nurse_is_offered_the_waiting_call_and_supervisor_changes_carry_his_name(rig: Rig) -> None:
    """A call waits in 01; Nora's `ready` routes it to her at once (the region view shows it ringing at her
    with step `own`). Later Sven pauses her (meeting) and makes her ready again: the registry's history says
    `sven`, and his answer is her presence."""
    await rig.call("c1", "01")
    nora, csrf = await rig.login("nora")
    await send(nora, csrf, {"event": "login"})
    status, body = await send(nora, csrf, {"event": "ready"})
    assert status == 200 and body["presence"]["state"] == "offered" and body["presence"]["call_id"] == "c1"
    sven, sven_csrf = await rig.login("sven")
    view = await (await sven.get("/api/v1/supervisor/regions/01")).json()
    assert view["waiting"] == []
    assert [(o["call_id"], o["nurse"], o["step"]) for o in view["offered"]] == [("c1", rig.endpoints["nora"], "own")]
    assert [n["presence"]["state"] for n in view["nurses"]] == ["offered"]

    await rig.live.engine.offer_ended("c1", rig.clock(), missed=False)  # cancelled: ready again, call re-offered
    await rig.live.engine.caller_left("c1", rig.clock())
    rig.clock.advance(10)
    path = f"/api/v1/supervisor/nurses/{rig.endpoints['nora']}/presence"
    resp = await sven.post(path, json={"event": "pause", "reason": "meeting"}, headers=sven_csrf)
    answer = await resp.json()
    assert resp.status == 200 and answer["presence"]["state"] == "paused" and answer["presence"]["reason"] == "meeting"
    rig.clock.advance(10)
    resp = await sven.post(path, json={"event": "ready"}, headers=sven_csrf)
    assert resp.status == 200
    resp = await sven.post(path, json={"event": "login"}, headers=sven_csrf)
    assert resp.status == 400  # a supervisor does not log a nurse in
    today = await (await nora.get("/api/v1/desktop/presence/today")).json()
    assert [(c["event"], c["by"]) for c in today["changes"]][-2:] == [("pause", "sven"), ("ready", "sven")]
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.READY


async def test_on_a_standby_instance_a_change_is_stored_but_routed_by_the_leader(template: Template, tmp_path: Path,
                                                                              redis_url: str) -> None:
    """A standby instance (not the leader) must not route: its offer driver holds no caller and would drop the
    leader's waiting call. Nora's `ready` there reaches the store and the registry, the waiting call stays
    waiting, and the leader's next tick offers it to her."""
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template, is_leader=lambda: False) as rig:
        routed: list[str] = []

        async def listener(event: Any) -> None:
            routed.append(event.kind)

        rig.live.engine.listeners.append(listener)
        await rig.call("c1", "01")
        routed.clear()
        nora, csrf = await rig.login("nora")
        await send(nora, csrf, {"event": "login"})
        status, body = await send(nora, csrf, {"event": "ready"})
        assert status == 200 and body["presence"]["state"] == "ready" and routed == []
        assert [c.call_id for c in (await rig.live.store.snapshot()).calls] == ["c1"]
        row = rig.database.run_sync(lambda s: by_endpoint(s, rig.endpoints["nora"]))
        assert row is not None and row.presence_state == "ready"
        events = await rig.live.tick()  # the leader
        assert [(e.kind, e.call_id, e.nurse_id) for e in events] == [("offered", "c1", rig.endpoints["nora"])]
