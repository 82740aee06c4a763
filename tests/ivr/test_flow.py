"""The flow interpreter with scripted callers: every node type, retries and fallbacks,
time-of-day branches and the SMS number fallback, without any telephony."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import pytest
import yaml

from ivr.flow import CallerHungUp, CallState, FlowError, run_flow
from ivr.handover import RouteRequest
from ivr.model import Condition, Menu, Prompt

MENU = yaml.safe_load("""
start: hello
nodes:
  hello: {type: play, prompt: {sv: Välkommen, en: Welcome}, next: language}
  language:
    type: language
    prompt: {sv: "För svenska tryck 1. For English press 2."}
    choices: {1: sv, 2: en}
    next: daytime
  daytime:
    type: branch
    rules:
      - when: {open: pharmacy}
        next: main_day
    otherwise: main_night
  main_day:
    type: menu
    prompt: {sv: "Vuxen 1, barn 2, farmaceut 3, sms 9", en: "Adult 1, child 2, pharmacist 3, sms 9"}
    options:
      1: {next: adult, label: vuxen}
      2: {next: child, label: barn}
      3: {next: pharmacist}
      9: {next: sms}
      0: {next: region}
    invalid_prompt: {sv: Fel val}
    timeout_prompt: {sv: Inget val}
    retries: 1
    fallback: adult
  main_night:
    type: menu
    prompt: {sv: "Vuxen 1, barn 2"}
    options: {1: {next: adult}, 2: {next: child}}
    fallback: adult
  region:
    type: collect
    prompt: {sv: Knappa in länskoden}
    min_digits: 2
    max_digits: 2
    validator: region
    store_as: region
    retries: 1
    invalid_prompt: {sv: Okänd region}
    next: adult
    fallback: national
  adult: {type: queue, skills: {triage: 1}, priority: 5}
  child: {type: queue, skills: {triage: 1, barn: 2}, priority: 4, queue: barn}
  pharmacist: {type: transfer, number: "+46771467010", prompt: {sv: Kopplar}}
  national: {type: queue, skills: {triage: 1}, queue: national}
  sms:
    type: sms
    link: chat
    template: chat
    number_prompt: {sv: Knappa in ditt mobilnummer}
    confirm_prompt: {sv: Vi har skickat ett sms}
    failed_prompt: {sv: Vi kunde inte skicka}
    next: bye
  bye: {type: hangup, prompt: {sv: Hej då}}
""")


class Env:
    def __init__(self, pharmacy_open: bool) -> None:
        self.pharmacy_open = pharmacy_open

    def condition_holds(self, condition: Condition, at: datetime) -> bool:
        return condition.open == "pharmacy" and self.pharmacy_open

    def region_for_code(self, digits: str) -> str | None:
        return digits if digits in {"01", "12", "14"} else None

    def mobile_number(self, number: str) -> str | None:
        digits = number.removeprefix("+46").lstrip("0")
        return f"+46{digits}" if digits.startswith("7") and len(digits) == 9 else None

    def sms_body(self, template: str, link: Literal["chat", "form"], language: str) -> str:
        return f"{template}:{link}:{language}"


class Script:
    """A caller who presses the given keys, one answer per question; None means hang up."""

    def __init__(self, answers: list[str | None]) -> None:
        self.answers = list(answers)
        self.heard: list[str] = []
        self.sms: list[tuple[str, str]] = []
        self.queued: list[RouteRequest] = []
        self.done: list[str] = []

    async def play(self, prompt: Prompt, language: str) -> None:
        self.heard.append(prompt.for_language(language))

    async def collect(self, prompt: Prompt | None, language: str, *, max_digits: int, timeout: float,
                      terminator: str) -> str:
        if prompt is not None:
            self.heard.append(prompt.for_language(language))
        if not self.answers:
            return ""
        answer = self.answers.pop(0)
        if answer is None:
            raise CallerHungUp()
        return answer

    async def send_sms(self, to: str, body: str) -> bool:
        self.sms.append((to, body))
        return True

    async def queue(self, request: RouteRequest) -> None:
        self.queued.append(request)

    async def transfer(self, number: str) -> None:
        self.done.append(f"transfer {number}")

    async def hangup(self) -> None:
        self.done.append("hangup")


def call(caller: str = "+46701234567") -> CallState:
    return CallState(call_id="c" * 32, channel_id="ch", caller_number=caller, region="01")


NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
menu = Menu.model_validate(MENU)


async def test_child_choice_queues_with_child_skill_in_english() -> None:
    """Language 2 → English prompts; option 2 → the child queue with its skills and priority."""
    io, state = Script(["2", "2"]), call()
    out = await run_flow(menu, Env(True), io, state, lambda: NOON)
    assert out.kind == "queue" and out.request is not None
    assert out.request.skills == {"triage": 1, "barn": 2} and out.request.priority == 4
    assert out.request.language == "en" and out.request.queue == "barn" and out.request.region == "01"
    assert "Adult 1, child 2, pharmacist 3, sms 9" in io.heard
    assert out.request.menu_path == ["hello", "language", "language=2:en", "daytime", "main_day", "main_day=2", "child"]


async def test_daytime_only_option_is_absent_at_night() -> None:
    """At night the branch leads to the night menu, where 3 (pharmacist) is invalid → fallback."""
    io = Script(["1", "3"])
    out = await run_flow(menu, Env(False), io, call(), lambda: NOON)
    assert out.kind == "queue" and out.request is not None and out.request.queue == "advice"
    assert "main_night=invalid" in out.request.menu_path


async def test_invalid_then_timeout_uses_prompts_and_fallback() -> None:
    """A wrong key plays the invalid prompt, silence the timeout prompt; then the fallback."""
    io = Script(["1", "7", ""])
    out = await run_flow(menu, Env(True), io, call(), lambda: NOON)
    assert "Fel val" in io.heard and "Inget val" in io.heard
    assert out.request is not None and out.request.menu_path[-3:] == ["main_day=invalid", "main_day=timeout", "adult"]


async def test_transfer_and_hangup_end_the_flow() -> None:
    """Transfer ends the flow with the number; the SMS path ends with the goodbye and hang-up."""
    io = Script(["1", "3"])
    out = await run_flow(menu, Env(True), io, call(), lambda: NOON)
    assert out.kind == "transfer" and io.done == ["transfer +46771467010"] and "Kopplar" in io.heard


async def test_sms_goes_to_the_callers_mobile() -> None:
    """A caller from a mobile gets the chat link at once and hears the confirmation."""
    io = Script(["1", "9"])
    out = await run_flow(menu, Env(True), io, call("+46701234567"), lambda: NOON)
    assert io.sms == [("+46701234567", "chat:chat:sv")]
    assert out.kind == "hangup" and "Vi har skickat ett sms" in io.heard and io.done == ["hangup"]


async def test_sms_asks_a_landline_caller_for_a_mobile_number() -> None:
    """From a landline the caller is asked for a mobile number; a bad one is asked again."""
    io = Script(["1", "9", "0812345#", "0701234567#"])
    await run_flow(menu, Env(True), io, call("+4687654321"), lambda: NOON)
    assert io.sms == [("+46701234567", "chat:chat:sv")]
    assert io.heard.count("Knappa in ditt mobilnummer") == 2


async def test_sms_failure_is_said_when_no_number_is_given() -> None:
    """No usable number: no SMS, the failure prompt, and the flow still ends cleanly."""
    io = Script(["1", "9", "", ""])
    out = await run_flow(menu, Env(True), io, call("anonymous"), lambda: NOON)
    assert io.sms == [] and "Vi kunde inte skicka" in io.heard and out.kind == "hangup"


async def test_region_keyed_in_overrides_the_call_region() -> None:
    """A region code keyed in becomes the request's region; an unknown one falls back."""
    out = await run_flow(menu, Env(True), Script(["1", "0", "14"]), call(), lambda: NOON)
    assert out.request is not None and out.request.region == "14"
    out = await run_flow(menu, Env(True), Script(["1", "0", "99", "77"]), call(), lambda: NOON)
    assert out.request is not None and out.request.queue == "national"


async def test_caller_hangup_propagates() -> None:
    """A hang-up mid-menu surfaces as CallerHungUp for the executor to close the record."""
    with pytest.raises(CallerHungUp):
        await run_flow(menu, Env(True), Script(["1", None]), call(), lambda: NOON)


async def test_a_loop_without_exit_is_stopped() -> None:
    """A menu that never ends (which config check forbids) cannot spin forever."""
    loop = Menu.model_validate({"start": "a", "nodes": {
        "a": {"type": "play", "prompt": {"sv": "a"}, "next": "b"},
        "b": {"type": "play", "prompt": {"sv": "b"}, "next": "a"}}})
    with pytest.raises(FlowError, match="did not end"):
        await run_flow(loop, Env(True), Script([]), call(), lambda: NOON)


def test_menu_model_rejects_bad_files() -> None:
    """Bad node data is refused with the field named."""
    with pytest.raises(ValueError, match="start node"):
        Menu.model_validate({"start": "x", "nodes": {}})
    with pytest.raises(ValueError, match="single keys"):
        Menu.model_validate({"start": "m", "nodes": {"m": {"type": "menu", "prompt": "x", "options": {"12": {"next": "m"}},
                                                           "fallback": "m"}}})
    with pytest.raises(ValueError, match="E.164"):
        Menu.model_validate({"start": "t", "nodes": {"t": {"type": "transfer", "number": "08-123"}}})
    with pytest.raises(ValueError, match="minimum level"):
        Menu.model_validate({"start": "q", "nodes": {"q": {"type": "queue", "skills": {"barn": 9}}}})
