"""The voice menu as data: a graph of typed nodes, validated with pydantic.

A menu is `start` plus named `nodes`. Each node says what happens and where the call goes
next. Texts are per language (`{sv: …, en: …}`); a node may give a recorded file instead.
The interpreter (ivr.flow) walks this graph; executors (ARI, the text simulator) do the I/O.

Node types:
  play      say something, go on
  menu      one digit chooses the next node; timeout, retries, invalid/timeout prompts
  collect   several digits (min/max, terminator) checked by a validator (region, phone)
  language  one digit chooses the call's language
  branch    by time of day, day type, holiday or a named opening-hours set
  queue     hand the call to routing with required skills (minimum levels) and priority
  sms       send the region's chat or form link to the caller's mobile and confirm by voice
  transfer  to an external number
  hangup    say goodbye (optionally) and end the call
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NodeId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
DIGITS = "0123456789*#"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(Strict):
    """What the caller hears: text per language (rendered by espeak-ng) or a recorded file."""

    text: dict[str, str] = Field(default_factory=dict, description="language code → text")
    recording: str | None = Field(None, description="a recorded file (path relative to the region's files)")

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, value: object) -> object:
        # Shorthand in files: `prompt: {sv: "...", en: "..."}` means text.
        if isinstance(value, dict) and "text" not in value and "recording" not in value:
            return {"text": value}
        if isinstance(value, str):
            return {"text": {"sv": value}}
        return value

    @model_validator(mode="after")
    def _something_to_say(self) -> Prompt:
        if not self.text and not self.recording:
            raise ValueError("a prompt needs text (per language) or a recording")
        for lang in self.text:
            if not re.fullmatch(r"[a-z]{2}", lang):
                raise ValueError(f"language codes are two lower-case letters, not {lang!r}")
        return self

    def for_language(self, language: str) -> str:
        """The text in the caller's language, else Swedish, else any."""
        if language in self.text:
            return self.text[language]
        if "sv" in self.text:
            return self.text["sv"]
        return next(iter(self.text.values()), "")


class Option(Strict):
    next: NodeId
    label: str = Field("", description="what the choice means, for statistics and the nurse's view")


class _Node(Strict):
    prompt: Prompt | None = None


class PlayNode(_Node):
    type: Literal["play"]
    prompt: Prompt
    next: NodeId


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: Prompt
    options: dict[str, Option]
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=5, description="extra attempts after the first")
    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None
    fallback: NodeId = Field(description="where the call goes when the retries are used up")

    @field_validator("options", mode="before")
    @classmethod
    def _keys_as_text(cls, options: object) -> object:
        # YAML reads an unquoted 1: as a number.
        return {str(k): v for k, v in options.items()} if isinstance(options, dict) else options

    @field_validator("options")
    @classmethod
    def _one_digit_keys(cls, options: dict[str, Option]) -> dict[str, Option]:
        for key in options:
            if len(key) != 1 or key not in DIGITS:
                raise ValueError(f"option keys are single keys 0-9, * or #, not {key!r}")
        if not options:
            raise ValueError("a menu needs at least one option")
        return options


class CollectNode(_Node):
    type: Literal["collect"]
    prompt: Prompt
    min_digits: int = Field(1, ge=1, le=20)
    max_digits: int = Field(20, ge=1, le=20)
    terminator: Literal["#", "*", ""] = "#"
    timeout_seconds: float = Field(8.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=5)
    validator: Literal["region", "phone", "digits"] = "digits"
    store_as: Literal["region", "callback_number", "value"] = "value"
    invalid_prompt: Prompt | None = None
    next: NodeId
    fallback: NodeId

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        return self


class LanguageNode(_Node):
    type: Literal["language"]
    prompt: Prompt
    choices: dict[str, Annotated[str, Field(pattern=r"^[a-z]{2}$")]]

    @field_validator("choices", mode="before")
    @classmethod
    def _keys_as_text(cls, choices: object) -> object:
        return {str(k): v for k, v in choices.items()} if isinstance(choices, dict) else choices
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    next: NodeId
    default: str = Field("sv", pattern=r"^[a-z]{2}$", description="the language when nothing is chosen")


class TimeWindow(Strict):
    start: time
    end: time = Field(description="exclusive; an end before the start means the window crosses midnight")

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("an empty time window (start equals end)")
        return self


class Condition(Strict):
    """All given parts must hold. `open` names an opening-hours set of the region."""

    open: str | None = None
    day_type: list[Literal["weekday", "saturday", "sunday", "holiday", "eve"]] | None = None
    time: TimeWindow | None = None


class BranchRule(Strict):
    when: Condition
    next: NodeId


class BranchNode(_Node):
    type: Literal["branch"]
    rules: list[BranchRule] = Field(min_length=1)
    otherwise: NodeId


class QueueNode(_Node):
    type: Literal["queue"]
    skills: dict[str, int] = Field(default_factory=dict, description="skill → minimum level (1-5)")
    priority: int = Field(5, ge=0, le=9, description="0 is most urgent")
    queue: str = Field("advice", description="the queue's name, for statistics and wait estimates")

    @field_validator("skills")
    @classmethod
    def _levels(cls, skills: dict[str, int]) -> dict[str, int]:
        for name, level in skills.items():
            if not 1 <= level <= 5:
                raise ValueError(f"skill {name!r}: minimum level must be 1-5, not {level}")
        return skills


class SmsNode(_Node):
    type: Literal["sms"]
    link: Literal["chat", "form"]
    template: str = Field(description="the region's SMS template to send")
    number_prompt: Prompt | None = Field(None, description="asked when the caller's number is not a mobile")
    confirm_prompt: Prompt
    failed_prompt: Prompt | None = None
    next: NodeId
    failed_next: NodeId | None = Field(
        None, description="where the call goes when no SMS could be sent (default: next); e.g. the nurse queue"
    )


class TransferNode(_Node):
    type: Literal["transfer"]
    number: str = Field(description="E.164, e.g. +46771117700")

    @field_validator("number")
    @classmethod
    def _e164(cls, number: str) -> str:
        if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
            raise ValueError(f"{number!r} is not an E.164 number (+46…)")
        return number


class HangupNode(_Node):
    type: Literal["hangup"]


Node = Annotated[
    PlayNode | MenuNode | CollectNode | LanguageNode | BranchNode | QueueNode | SmsNode | TransferNode | HangupNode,
    Field(discriminator="type"),
]


class Menu(Strict):
    start: NodeId
    nodes: dict[NodeId, Node]

    @model_validator(mode="after")
    def _start_exists(self) -> Menu:
        if self.start not in self.nodes:
            raise ValueError(f"start node {self.start!r} is not among the nodes")
        return self


def successors(node: PlayNode | MenuNode | CollectNode | LanguageNode | BranchNode | QueueNode | SmsNode
               | TransferNode | HangupNode) -> list[str]:
    """Every node id this node can lead to (for reachability and loop checks)."""
    match node:
        case SmsNode():
            return [node.next] + ([node.failed_next] if node.failed_next is not None else [])
        case PlayNode() | LanguageNode():
            return [node.next]
        case MenuNode():
            return [o.next for o in node.options.values()] + [node.fallback]
        case CollectNode():
            return [node.next, node.fallback]
        case BranchNode():
            return [r.next for r in node.rules] + [node.otherwise]
        case _:
            return []
