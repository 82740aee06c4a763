"""The flow interpreter: walks a region's menu graph for one call.

It is backend-agnostic: all I/O goes through `FlowIO` (the ARI executor on the real Asterisk,
the text simulator, scripted tests) and all knowledge of the region through `FlowEnv`
(opening hours, region codes, phone numbers, SMS texts). Time comes from the injected clock.
The decisions themselves are small pure functions below the interpreter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from .handover import RouteRequest
from .model import (
    BranchNode,
    CollectNode,
    Condition,
    HangupNode,
    LanguageNode,
    Menu,
    MenuNode,
    Option,
    PlayNode,
    Prompt,
    QueueNode,
    SmsNode,
    TransferNode,
)

log = logging.getLogger("vardlinje.ivr.flow")

MAX_STEPS = 200


class CallerHungUp(Exception):
    """The caller hung up while the flow was waiting on them; not an error."""


class FlowError(RuntimeError):
    """The menu cannot go on (e.g. a loop with no way out that slipped past `config check`)."""


class FlowIO(Protocol):
    async def play(self, prompt: Prompt, language: str) -> None: ...

    async def collect(
        self, prompt: Prompt | None, language: str, *, max_digits: int, timeout: float, terminator: str
    ) -> str:
        """Play `prompt` (interrupted by the first key) and return the keys pressed; "" on timeout."""
        ...

    async def send_sms(self, to: str, body: str) -> bool: ...

    async def queue(self, request: RouteRequest) -> None: ...

    async def transfer(self, number: str) -> None: ...

    async def hangup(self) -> None: ...


class FlowEnv(Protocol):
    """What the interpreter needs to know about the call's region."""

    def condition_holds(self, condition: Condition, at: datetime) -> bool: ...

    def region_for_code(self, digits: str) -> str | None: ...

    def mobile_number(self, number: str) -> str | None:
        """E.164 if `number` is a Swedish mobile number an SMS can reach, else None."""
        ...

    def sms_body(self, template: str, link: Literal["chat", "form"], language: str) -> str: ...


@dataclass
class CallState:
    call_id: str
    channel_id: str
    caller_number: str
    region: str
    language: str = "sv"
    path: list[str] = field(default_factory=list)
    collected: dict[str, str] = field(default_factory=dict)
    config_version: int | None = None


@dataclass(frozen=True)
class Outcome:
    kind: Literal["queue", "transfer", "hangup"]
    request: RouteRequest | None = None
    number: str | None = None


# -- pure decisions -----------------------------------------------------------------------


def menu_choice(node: MenuNode, keys: str) -> Option | Literal["timeout", "invalid"]:
    if not keys:
        return "timeout"
    return node.options.get(keys[0], "invalid")


def language_choice(node: LanguageNode, keys: str) -> str:
    return node.choices.get(keys[:1], node.default)


def collected_value(node: CollectNode, keys: str, env: FlowEnv) -> str | None:
    """The validated value of what the caller keyed in, or None when it is not acceptable."""
    digits = keys.rstrip("#*")
    if not node.min_digits <= len(digits) <= node.max_digits or not digits.isdigit():
        return None
    if node.validator == "region":
        return env.region_for_code(digits)
    if node.validator == "phone":
        return env.mobile_number(digits)
    return digits


def branch_target(node: BranchNode, env: FlowEnv, at: datetime) -> str:
    for rule in node.rules:
        if env.condition_holds(rule.when, at):
            return rule.next
    return node.otherwise


# -- the interpreter ----------------------------------------------------------------------


async def run_flow(
    menu: Menu, env: FlowEnv, io: FlowIO, call: CallState, clock: Callable[[], datetime]
) -> Outcome:
    """Walk the menu from its start until the call is queued, transferred or hung up.

    Raises CallerHungUp when the caller leaves; every node visited and every key pressed is
    in `call.path` (node ids, `node=keys` for choices) for the call record.
    """
    node_id = menu.start
    for _ in range(MAX_STEPS):
        node = menu.nodes[node_id]
        call.path.append(node_id)
        match node:
            case PlayNode():
                await io.play(node.prompt, call.language)
                node_id = node.next
            case LanguageNode():
                keys = await _choose_language(node, io)
                call.language = language_choice(node, keys)
                call.path.append(f"{node_id}={keys or '-'}:{call.language}")
                node_id = node.next
            case MenuNode():
                node_id = await _menu(node, node_id, io, call)
            case CollectNode():
                node_id = await _collect(node, node_id, env, io, call)
            case BranchNode():
                node_id = branch_target(node, env, clock())
            case SmsNode():
                sent = await _sms(node, env, io, call)
                node_id = node.next if sent or node.failed_next is None else node.failed_next
            case QueueNode():
                if node.prompt is not None:
                    await io.play(node.prompt, call.language)
                request = RouteRequest(
                    call_id=call.call_id, channel_id=call.channel_id, region=call.collected.get("region", call.region),
                    skills=dict(node.skills), priority=node.priority, language=call.language, queue=node.queue,
                    menu_path=list(call.path), config_version=call.config_version,
                )
                await io.queue(request)
                return Outcome("queue", request=request)
            case TransferNode():
                if node.prompt is not None:
                    await io.play(node.prompt, call.language)
                await io.transfer(node.number)
                return Outcome("transfer", number=node.number)
            case HangupNode():
                if node.prompt is not None:
                    await io.play(node.prompt, call.language)
                await io.hangup()
                return Outcome("hangup")
    raise FlowError(f"menu did not end within {MAX_STEPS} steps (path: {' → '.join(call.path[-10:])})")


async def _menu(node: MenuNode, node_id: str, io: FlowIO, call: CallState) -> str:
    for _attempt in range(node.retries + 1):
        keys = await io.collect(node.prompt, call.language, max_digits=1, timeout=node.timeout_seconds, terminator="")
        choice = menu_choice(node, keys)
        if isinstance(choice, Option):
            call.path.append(f"{node_id}={keys[0]}")
            return choice.next
        call.path.append(f"{node_id}={choice}")
        retry = node.timeout_prompt if choice == "timeout" else node.invalid_prompt
        if retry is not None:
            await io.play(retry, call.language)
    return node.fallback


async def _collect(node: CollectNode, node_id: str, env: FlowEnv, io: FlowIO, call: CallState) -> str:
    for _attempt in range(node.retries + 1):
        keys = await io.collect(node.prompt, call.language, max_digits=node.max_digits,
                                timeout=node.timeout_seconds, terminator=node.terminator)
        value = collected_value(node, keys, env)
        if value is not None:
            call.collected[node.store_as] = value
            call.path.append(f"{node_id}=ok")
            return node.next
        call.path.append(f"{node_id}={'timeout' if not keys else 'invalid'}")
        if node.invalid_prompt is not None:
            await io.play(node.invalid_prompt, call.language)
    return node.fallback


async def _choose_language(node: LanguageNode, io: FlowIO) -> str:
    """Each language's offer in its own voice (Swedish first); a key stops the offers."""
    languages = sorted(node.prompt.text, key=lambda lang: (lang != "sv", lang)) or [node.default]
    for i, language in enumerate(languages):
        last = i == len(languages) - 1
        offer = Prompt(text={language: node.prompt.text[language]}) if node.prompt.text else node.prompt
        keys = await io.collect(offer, language, max_digits=1, timeout=node.timeout_seconds if last else 0.3,
                                terminator="")
        if keys:
            return keys
    return ""


async def _sms(node: SmsNode, env: FlowEnv, io: FlowIO, call: CallState) -> bool:
    number = call.collected.get("callback_number") or env.mobile_number(call.caller_number)
    if number is None and node.number_prompt is not None:
        # Hidden, foreign or landline caller: ask for a mobile number (validated), twice.
        for _attempt in range(2):
            keys = await io.collect(node.number_prompt, call.language, max_digits=15, timeout=10, terminator="#")
            number = env.mobile_number(keys.rstrip("#"))
            if number is not None:
                break
    sent = False
    if number is not None:
        sent = await io.send_sms(number, env.sms_body(node.template, node.link, call.language))
    call.path.append(f"sms:{node.link}:{'sent' if sent else 'failed'}")
    if sent:
        await io.play(node.confirm_prompt, call.language)
    elif node.failed_prompt is not None:
        await io.play(node.failed_prompt, call.language)
    return sent
