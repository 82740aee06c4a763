"""The national configuration's agreements compiled into `RoutingRules` for the policy.

Night and meeting-cover windows become `OpeningHours` so the policy evaluates them with the same
DST-safe `config.hours.is_open` as the menus (a window belongs to the day it opens; [start, end)).
Agreement windows follow the weekdays literally: holidays and eves do not change them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.schema import (
    WEEKDAYS,
    AroundTheClockAgreement,
    DayRule,
    GeographicAgreement,
    MeetingCoverAgreement,
    NationalConfig,
    NightAgreement,
    OpeningHours,
    Weekday,
    Window,
)

from .model import GeographicRule, NationalRule, RoutingRules, Step, Validity, WindowRule

_LANGUAGE_SKILL = re.compile(r"^sprak_([a-z]{2})$")


def weekly_hours(weekly: Mapping[Weekday, list[Window]]) -> OpeningHours:
    """Windows that follow the weekdays only: holidays and eves use the weekday's own windows."""
    return OpeningHours(weekly=dict(weekly), holidays=DayRule(use="weekly"), eves=DayRule(use="weekly"))


def rules_from_config(
    national: NationalConfig,
    *,
    national_weights: Mapping[str, float] | None = None,
    national_pool_after: Mapping[str, int] | None = None,
    language_level: int = 2,
) -> RoutingRules:
    """Compile `national.yaml`. The national queue's weights and the regions' overflow to the
    national pool come from `national_queue.weights` / `.pool_after_seconds`; arguments override them."""
    geographic: list[GeographicRule] = []
    windows: list[WindowRule] = []
    for name, agreement in national.agreements.items():
        validity = Validity(agreement.valid_from, agreement.valid_until)
        if isinstance(agreement, GeographicAgreement):
            geographic.append(GeographicRule(name, frozenset(agreement.regions), agreement.after_wait_seconds,
                                             agreement.queue_length, validity))
        elif isinstance(agreement, NightAgreement):
            days = agreement.days or list(WEEKDAYS)
            hours = weekly_hours({day: [agreement.window] for day in days})
            windows.append(WindowRule(name, Step.NIGHT, agreement.answering, frozenset(agreement.served), hours,
                                      validity))
        elif isinstance(agreement, AroundTheClockAgreement):
            windows.append(WindowRule(name, Step.AROUND_THE_CLOCK, agreement.answering,
                                      frozenset(agreement.served), None, validity))
        elif isinstance(agreement, MeetingCoverAgreement):
            windows.append(WindowRule(name, Step.COVER, agreement.covering, frozenset({agreement.covered}),
                                      weekly_hours(agreement.slots), validity))
    queue = national.national_queue
    weights = dict(national_weights or queue.weights or {region: 1.0 for region in queue.served_by})
    language_skills = {m.group(1): skill for skill in national.skills if (m := _LANGUAGE_SKILL.match(skill))}
    return RoutingRules(
        geographic=tuple(geographic),
        windows=tuple(windows),
        national=NationalRule(served_by=tuple(queue.served_by), weights=weights, skills=dict(queue.skills)),
        national_pool_after=dict(national_pool_after or queue.pool_after_seconds),
        language_skills=language_skills,
        language_level=language_level,
    )
