"""Errors of the nurse registry. Their messages are complete sentences meant for operators.

`InvalidTransition` (a presence event that does not apply) comes from `agents.presence` and is
raised unchanged."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every registry error; `str(err)` is safe to print."""


class NotANurse(AgentError):
    """The user does not exist, is inactive or lacks the nurse role."""


class AlreadyRegistered(AgentError):
    pass


class UnknownNurse(AgentError):
    pass


class InvalidRegion(AgentError):
    """The region does not exist or is not one the nurse's user works for."""


class InvalidSkills(AgentError):
    """A skill outside the national vocabulary or a level outside 1 … the skill's max."""
