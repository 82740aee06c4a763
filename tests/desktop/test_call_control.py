"""The nurse's call control over HTTP: `GET /api/v1/desktop/call/targets` and `POST /api/v1/desktop/call/transfer`.
Who may call them (the nurse only), the 503 without telephony, clear 400s for bad bodies and numbers, 409 when she
is not on a call, and a transfer to a queue that goes all the way through the offer driver (on a recording fake
of ARI) into routing's store: the call waits again with the queue's skills and she is in wrap-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agents.presence import Event, State
from config.loader import load_valid_config
from desktop import calls as desktop_calls
from ivr.directory import ConfigDirectory
from ivr.handover import RouteRequest
from routing.asterisk import OfferDriver
from routing.control import CallControl
from routing.handler import RoutedCallHandler
from routing.model import WaitingCall
from routing.router import EngineRouter, _Queued

from . import Client, Rig, Template, build_rig, make_template

TARGETS = "/api/v1/desktop/call/targets"
TRANSFER = "/api/v1/desktop/call/transfer"


class FakeAri:
    """Records what the driver asks of Asterisk and answers like a healthy one."""

    app = "vardlinje"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        self.requests.append((method, path, dict(params or {})))
        return []

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(("DELETE", f"/channels/{channel_id}", {}))


class FakeIvr:
    """What RoutedCallHandler and CallControl use of the IVR: the directory, and no flows."""

    def __init__(self) -> None:
        self.directory = ConfigDirectory(load_valid_config())
        self.calls: dict[str, Any] = {}
        self.foreign_events: Any = None


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("desktop-calls"))


@pytest.fixture
async def rig(template: Template, tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    async with build_rig(template.copy(tmp_path), redis_url, seeded=template) as built:
        yield built


@pytest.fixture
def control(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[CallControl, FakeAri]:
    """Call control on the rig's routing with a fake ARI, as the running system wires it (the app of the rig is
    started already, so the route's lookup is pointed at it instead of the app key)."""
    ari = FakeAri()
    live = rig.live
    router = EngineRouter(live.engine, rig.database, rig.clock, lambda _channel: None)
    driver = OfferDriver(ari, live.engine, router, rig.database, rig.clock, lambda nurse: nurse,  # type: ignore[arg-type]
                         on_hangup=lambda nurse: live.change_presence(nurse, Event.HANGUP, by="routing"))
    handler = RoutedCallHandler(FakeIvr(), driver)  # type: ignore[arg-type]
    found = CallControl(handler)
    monkeypatch.setattr(desktop_calls, "_control", lambda _request: found)
    return found, ari


async def on_a_call(rig: Rig, control: CallControl, username: str = "nora") -> str:
    """`username` ready, a call of 01 offered to her, her phone answers: bridged (in the fake ARI)."""
    await rig.presence(username, Event.LOGIN)
    await rig.presence(username, Event.READY)
    driver = control.driver
    request = RouteRequest(call_id="c1", channel_id="caller-1", region="01", skills={"triage": 1}, priority=5)
    driver.router.queued["c1"] = _Queued(request, None, rig.clock())
    rig.clock.advance(1)
    await rig.live.engine.call_arrived(WaitingCall.from_request(request, rig.clock()), rig.clock())
    offer = driver.offers["c1"]
    assert offer.nurse_id == rig.endpoints[username]
    await driver._answered(offer)
    assert offer.state == "bridged"
    return offer.nurse_channel


async def post(client: Client, csrf: dict[str, str], body: object) -> tuple[int, dict[str, Any]]:
    resp = await client.post(TRANSFER, json=body, headers=csrf)
    return resp.status, await resp.json()


async def test_without_telephony_the_routes_answer_503(rig: Rig) -> None:
    """An app without call control (no telephony here): 503 routing_unavailable, Swedish first."""
    nora, csrf = await rig.login("nora")
    resp = await nora.get(TARGETS)
    assert resp.status == 503 and (await resp.json())["error"] == "routing_unavailable"
    status, body = await post(nora, csrf, {"kind": "queue", "target": "q_adult"})
    assert status == 503 and body["detail"].startswith("Samtalsdirigeringen är inte igång")


async def test_only_the_nurse_herself(rig: Rig, control: tuple[CallControl, FakeAri]) -> None:
    """A supervisor is no nurse: 403; no session: 401; a read-only token cannot transfer: 403; a session POST
    without the CSRF token is refused by identity's middleware."""
    sven, sven_csrf = await rig.login("sven")
    assert (await sven.get(TARGETS)).status == 403
    status, body = await post(sven, sven_csrf, {"kind": "external", "target": "+46771117700"})
    assert status == 403 and body["error"] == "forbidden"
    anonymous = await rig.client()
    assert (await anonymous.get(TARGETS)).status == 401
    token = {"Authorization": f"Bearer {rig.tokens['nora_read']}"}
    resp = await anonymous.post(TRANSFER, json={"kind": "external", "target": "+46771117700"}, headers=token)
    assert resp.status == 403 and (await resp.json())["error"] == "insufficient_scope"
    nora, _csrf = await rig.login("nora")
    resp = await nora.post(TRANSFER, json={"kind": "external", "target": "+46771117700"})
    assert resp.status == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "fax", "target": "x"}, "kind"),
    ({"kind": "queue"}, "target"),
    ({"kind": "queue", "target": ""}, "target"),
    ({"kind": "queue", "target": "q_adult", "note": "hej"}, "note"),
    (["queue", "q_adult"], "(body)"),
])
async def test_bad_bodies_are_400(rig: Rig, control: tuple[CallControl, FakeAri], body: object, field: str) -> None:
    """Unknown kinds, a missing or empty target, unknown fields, a non-object: 400 with the field at fault."""
    nora, csrf = await rig.login("nora")
    status, answer = await post(nora, csrf, body)
    assert status == 400 and answer["error"] == "bad_request", answer
    assert answer["detail"].startswith("Förväntade") and field in [i["field"] for i in answer["issues"]]


async def test_not_on_a_call_is_409(rig: Rig, control: tuple[CallControl, FakeAri]) -> None:
    """Nora is ready, not on a call: both routes answer 409 not_on_call and nothing is asked of Asterisk."""
    _control, ari = control
    await rig.presence("nora", Event.LOGIN)
    await rig.presence("nora", Event.READY)
    nora, csrf = await rig.login("nora")
    resp = await nora.get(TARGETS)
    assert resp.status == 409 and (await resp.json())["error"] == "not_on_call"
    status, body = await post(nora, csrf, {"kind": "external", "target": "+46771117700"})
    assert status == 409 and body["detail"].startswith("Du har inget pågående samtal")
    assert ari.requests == []


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"kind": "external", "target": "0771117700"}, 400, "bad_number"),
    ({"kind": "external", "target": "+46900123456"}, 400, "premium_number"),
    ({"kind": "queue", "target": "q_nonexistent"}, 400, "unknown_queue"),
    ({"kind": "nurse", "target": "nurse-ghost"}, 404, "unknown_nurse"),
])
async def test_bad_targets_change_nothing(rig: Rig, control: tuple[CallControl, FakeAri], body: dict[str, str],
                                          status: int, error: str) -> None:
    """On a call, a bad number, a premium number, an unknown queue or nurse: refused with a Swedish message; the
    call stays bridged and nothing more is asked of Asterisk."""
    found, ari = control
    await on_a_call(rig, found)
    asked = len(ari.requests)
    nora, csrf = await rig.login("nora")
    got, answer = await post(nora, csrf, body)
    assert (got, answer["error"]) == (status, error), answer
    assert " / " in answer["detail"]
    assert len(ari.requests) == asked and found.driver.offers["c1"].state == "bridged"
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.ON_CALL


async def test_targets_and_a_transfer_to_a_queue(rig: Rig, control: tuple[CallControl, FakeAri]) -> None:
    """On a call of 01: the targets are 01's queue nodes with Swedish names and her ready colleagues of 01 (none
    here). A transfer to the child queue deletes the bridge, hangs up her leg, puts her in wrap-up and queues the
    call again with the node's skills and its first entry time."""
    found, ari = control
    nurse_channel = await on_a_call(rig, found)
    entered = found.driver.router.entered_at("c1")
    nora, csrf = await rig.login("nora")
    resp = await nora.get(TARGETS)
    targets = await resp.json()
    assert resp.status == 200, targets
    assert targets["call_id"] == "c1" and targets["region"] == "01" and targets["nurses"] == []
    child = next(q for q in targets["queues"] if q["id"] == "q_child")
    assert child["name"] == "Barn och ungdom" and child["skills"] == {"triage": 2, "barn": 2}
    assert targets["external"]["format"] == "E.164"

    status, body = await post(nora, csrf, {"kind": "queue", "target": "q_child"})
    assert status == 200 and body == {"call_id": "c1", "kind": "queue", "target": "q_child", "status": "transferred"}
    assert ("DELETE", "/bridges/call-c1", {}) in ari.requests
    assert ("DELETE", f"/channels/{nurse_channel}", {}) in ari.requests
    stored = await rig.live.store.get_nurse(rig.endpoints["nora"])
    assert stored is not None and stored.state is State.WRAP_UP
    waiting = await rig.live.store.get_call("c1")
    assert waiting is not None and dict(waiting.skills) == {"triage": 2, "barn": 2} and waiting.priority == 4
    assert waiting.entered_at == entered
    resp = await nora.get(TARGETS)
    assert resp.status == 409  # her call is handed on
