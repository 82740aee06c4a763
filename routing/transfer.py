"""Transfer of a connected call by its nurse: the targets she may choose and what a transfer does, as pure
decisions (no I/O, no clock). The telephony is `routing.asterisk.OfferDriver`, the orchestration
`routing.control.CallControl`, the HTTP API `desktop.calls`; docs/routing.md ("Transfer and hold") gives the
reasons.

- `queue_targets`: the queue nodes of the call's menu (its region's, or the national menu for a national
  call), with their skills, priority and a Swedish label.
- `nurse_targets`: the ready nurses sharing a region with her, herself excluded.
- `external_number`: an E.164 number the trunk may dial (valid, not premium rate).
- `plan_transfer`: her request on her call → a plan (`ToQueue`, `ToNurse`, `ToExternal`) or a `Refusal`
  with the HTTP status, the error code and a Swedish-first message.
- `requeued_call`, `named_offer`: the waiting call and the offer a plan puts into routing's store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from agents.presence import State
from ivr.model import Menu, QueueNode

from .model import NATIONAL, NurseState, Offer, Step, WaitingCall

Kind = Literal["queue", "nurse", "external"]
KINDS: tuple[Kind, ...] = ("queue", "nurse", "external")
TRANSFER_AGREEMENT = "transfer"  # `Offer.agreement` of an offer made by a transfer to a named nurse

#: Presence states in Swedish, for the refusal naming a colleague's state (desktop/models.py has the same
#: labels; routing must not import the desktop).
_STATE_SV: dict[State, str] = {
    State.LOGGED_OUT: "utloggad", State.PAUSED: "paus", State.READY: "redo", State.OFFERED: "erbjuden ett samtal",
    State.ON_CALL: "i samtal", State.WRAP_UP: "efterarbete",
}


@dataclass(frozen=True)
class QueueTarget:
    """A queue a call may be transferred to: a queue node of the call's menu."""

    id: str  # the menu node id, e.g. "q_child": one queue (barn) may have several nodes with other skills
    queue: str  # the queue's name (statistics, wait estimates)
    name: str  # the queue's Swedish name from national.yaml
    skills: Mapping[str, int]
    priority: int
    label: str  # Swedish, for the nurse's list: "Barn och ungdom (Triage 2, Barn 2)"


@dataclass(frozen=True)
class NurseTarget:
    endpoint: str
    display_name: str
    home_region: str
    skills: Mapping[str, int]


@dataclass(frozen=True)
class CallOnHand:
    """What the transfer needs of her call, gathered by the caller of `plan_transfer`."""

    call_id: str
    region: str
    skills: Mapping[str, int]
    priority: int
    language: str
    queue: str
    entered_at: datetime  # when the caller first entered the queue
    bridged: bool  # caller and nurse are in the call's bridge on this instance
    adopted: bool = False  # bridged before this instance took over: no IVR flow holds the caller (no transfer)


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    detail: str  # "Svenska / English"


@dataclass(frozen=True)
class ToQueue:
    target: QueueTarget
    skills: Mapping[str, int]
    priority: int


@dataclass(frozen=True)
class ToNurse:
    nurse: NurseState


@dataclass(frozen=True)
class ToExternal:
    number: str  # E.164


Plan = ToQueue | ToNurse | ToExternal


# --- targets --------------------------------------------------------------------------------------


def _skills_label(skills: Mapping[str, int], skill_names: Mapping[str, str]) -> str:
    return ", ".join(f"{skill_names.get(s, s)} {level}" for s, level in sorted(skills.items()))


def queue_targets(menu: Menu, queue_names: Mapping[str, str], skill_names: Mapping[str, str]) -> tuple[QueueTarget, ...]:
    """Every queue node of `menu`, in the menu's order. The menu is what the region offers its callers, so a
    nurse transfers to the same queues (with the same skills and priority) a caller could have chosen."""
    found: list[QueueTarget] = []
    for node_id, node in menu.nodes.items():
        if not isinstance(node, QueueNode):
            continue
        name = queue_names.get(node.queue, node.queue)
        skills = dict(node.skills)
        label = f"{name} ({_skills_label(skills, skill_names)})" if skills else name
        found.append(QueueTarget(node_id, node.queue, name, skills, node.priority, label))
    return tuple(found)


def nurse_targets(me: NurseState, nurses: Iterable[NurseState], names: Mapping[str, str]) -> list[NurseTarget]:
    """The ready colleagues sharing one of her regions, by name. Skills are shown, not required: she chooses a
    colleague on purpose (a language, a specialty) and knows the call better than the menu did."""
    found = [NurseTarget(n.nurse_id, names.get(n.nurse_id, n.nurse_id), n.home_region, dict(n.skills))
             for n in nurses
             if n.nurse_id != me.nurse_id and n.state is State.READY and n.all_regions & me.all_regions]
    return sorted(found, key=lambda t: (t.display_name.casefold(), t.endpoint))


SWEDEN = 46


def external_number(raw: str) -> str | Refusal:
    """`raw` as E.164, if it is a valid Swedish number in international form that is not premium rate (the
    caller would pay for a call they did not choose)."""
    bad = Refusal(400, "bad_number", f"{raw!r} är inget giltigt telefonnummer i internationell form, t.ex. "
                                     "+46771117700 / not a valid E.164 number")
    text = raw.strip()
    if not text.startswith("+") or len(text) > 20:
        return bad
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        return bad
    if not phonenumbers.is_valid_number(number):
        return bad
    if number.country_code != SWEDEN:
        # The operator's trunk pays for the onward call: an open door to any country would be a toll-fraud
        # risk from one stolen session or token. Care in Sweden is what a nurse transfers to.
        return Refusal(400, "foreign_number", "Samtal kopplas bara vidare till svenska nummer (+46) / only "
                                              "Swedish numbers (+46) can be transferred to")
    if phonenumbers.number_type(number) == PhoneNumberType.PREMIUM_RATE:
        return Refusal(400, "premium_number", "Samtal kopplas inte till betalnummer; uppringaren skulle få "
                                              "betala / premium-rate numbers are refused")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


# --- the decision ---------------------------------------------------------------------------------


def not_on_call() -> Refusal:
    return Refusal(409, "not_on_call", "Du har inget pågående samtal att koppla vidare / you have no call in progress")


def check_call(me: NurseState | None, call: CallOnHand | None) -> Refusal | None:
    """Whether she has a call this instance can transfer: `me` is her state in routing's store, `call` her
    call as this instance holds it (None: not here)."""
    if me is None or me.state is not State.ON_CALL or me.call_id is None:
        return not_on_call()
    if call is None or call.call_id != me.call_id or not call.bridged:
        # Her call is not connected through this instance: a standby instance behind the load balancer, or
        # the call is being set up, torn down or transferred right now.
        return Refusal(503, "transfer_unavailable", "Samtalet kan inte kopplas vidare från den här servern just "
                                                    "nu; försök igen om en stund / the call is not handled here")
    if call.adopted:
        # Bridged before this instance took over: no IVR flow holds the caller (no wait announcements, nothing
        # follows the channel into the dialplan) and the route request is gone.
        return Refusal(409, "transfer_unavailable", "Samtalet togs över efter ett serverbyte och kan inte kopplas "
                                                    "vidare; avsluta det som vanligt / a call adopted after a "
                                                    "fail-over cannot be transferred")
    return None


def plan_transfer(kind: str, target: str, *, me: NurseState | None, call: CallOnHand | None,
                  queues: Sequence[QueueTarget], target_nurse: NurseState | None) -> Plan | Refusal:
    """What her request means, or why it cannot be done. Nothing is changed by a refusal.

    `queues`: the call's queue targets; `target_nurse`: the named nurse from the store (for `nurse`)."""
    refused = check_call(me, call)
    if refused is not None:
        return refused
    assert me is not None and call is not None
    if kind == "queue":
        chosen = next((q for q in queues if q.id == target), None)
        if chosen is None:
            known = ", ".join(q.id for q in queues) or "inga"
            return Refusal(400, "unknown_queue", f"Okänd kö {target!r} för samtalets region (finns: {known}) / "
                                                 "unknown queue")
        # The caller is never made less urgent by a transfer than the menu made them.
        return ToQueue(chosen, dict(chosen.skills), min(call.priority, chosen.priority))
    if kind == "nurse":
        if target == me.nurse_id:
            return Refusal(400, "self_transfer", "Du kan inte koppla samtalet till dig själv / cannot transfer "
                                                 "to yourself")
        if target_nurse is None or not target_nurse.all_regions & me.all_regions:
            return Refusal(404, "unknown_nurse", f"Ingen sjuksköterska {target!r} i dina regioner / no such "
                                                 "nurse in your regions")
        if target_nurse.state is not State.READY:
            return Refusal(409, "nurse_not_ready", f"{target} är inte redo att ta samtal (läget är "
                                                   f"{_STATE_SV[target_nurse.state]}); samtalet är kvar hos dig / "
                                                   "the nurse is not ready")
        return ToNurse(target_nurse)
    if kind == "external":
        number = external_number(target)
        return number if isinstance(number, Refusal) else ToExternal(number)
    return Refusal(400, "bad_request", f"Okänd typ {kind!r}: queue, nurse eller external / unknown kind")


def requeued_call(call: CallOnHand, plan: ToQueue | ToNurse, nurse_id: str) -> WaitingCall:
    """The caller as a waiting call again. The original queue entry time is kept: the caller has waited once
    already and must not go behind everyone who called later, so the wait counts from the first entry (and
    the partner and national thresholds follow it). A transfer to a named nurse keeps the call's skills and
    priority: if she does not answer, the call is offered like any waiting call with what it needed before."""
    skills, priority, queue = ((plan.skills, plan.priority, plan.target.queue) if isinstance(plan, ToQueue)
                               else (call.skills, call.priority, call.queue))
    return WaitingCall(call_id=call.call_id, region=call.region, skills=dict(skills), priority=priority,
                       entered_at=call.entered_at, language=call.language, queue=queue,
                       history=(f"transferred:{nurse_id}",))


def named_offer(call: WaitingCall, nurse: NurseState, now: datetime) -> Offer:
    """The offer of a transfer to a named nurse: through the call's region if she serves it, else her home
    region; agreement `transfer` tells statistics it was a nurse's choice, not a routing step."""
    own = call.region in nurse.all_regions
    step = Step.OWN if own else Step.NATIONAL if call.region == NATIONAL else Step.PARTNER
    return Offer(call_id=call.call_id, nurse_id=nurse.nurse_id, step=step, at=now,
                 via_region=call.region if own else nurse.home_region, agreement=TRANSFER_AGREEMENT)
