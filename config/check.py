"""Checks beyond the schema, across files and against the filesystem. Each finding names the file and
the path inside it. Errors make `vardlinje config check` fail; warnings are worth a look.

What is checked (see docs/regions.md for the list with examples):
menus (unknown, unreachable and trapping nodes; the line never closes), skills, queues, opening-hours
names and windows, SMS links and templates, languages of prompts, recordings, URLs, phone numbers,
numbers and prefixes claimed twice, relay numbers, the national queue and collaboration agreements.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import deque
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import phonenumbers

from ivr.model import (
    BranchNode,
    CollectNode,
    LanguageNode,
    Menu,
    MenuNode,
    PlayNode,
    Prompt,
    QueueNode,
    SmsNode,
    TransferNode,
)

from .loader import ConfigIssue, ConfigSet, Severity
from .regions import REGIONS
from .resolve import normalise_number
from .schema import (
    MINUTES_PER_DAY,
    SMS_PLACEHOLDERS,
    WEEKDAYS,
    AroundTheClockAgreement,
    GeographicAgreement,
    MeetingCoverAgreement,
    NationalConfig,
    NightAgreement,
    OpeningHours,
    RegionConfig,
    Window,
)

AnyNode = PlayNode | MenuNode | CollectNode | LanguageNode | BranchNode | QueueNode | SmsNode | TransferNode
EXIT_TYPES = ("queue", "sms", "transfer", "hangup")
PROMPT_FIELDS = ("prompt", "invalid_prompt", "timeout_prompt", "number_prompt", "confirm_prompt", "failed_prompt")


class _Report:
    def __init__(self, cs: ConfigSet) -> None:
        self.cs = cs
        self.issues: list[ConfigIssue] = []

    def __call__(self, owner: str, path: str, message: str, severity: Severity = "error") -> None:
        self.issues.append(self.cs.issue(owner, path, message, severity))


def check(cs: ConfigSet) -> list[ConfigIssue]:
    """Every semantic problem of a loaded set (the loading problems stay in `cs.issues`)."""
    report = _Report(cs)
    national = cs.national
    if national is not None:
        _check_national(national, report)
    for owner, config in cs.owners():
        _check_owner(owner, config, national, cs, report)
    _check_numbers(cs, report)
    return report.issues


def edges(node: object) -> list[tuple[str, str]]:
    """(path inside the node, target node id) for every way out of a node; agrees with
    ivr.model.successors but keeps the path for messages."""
    match node:
        case PlayNode() | LanguageNode() | SmsNode() | CollectNode():
            out = [("next", node.next)]
            if isinstance(node, CollectNode):
                out.append(("fallback", node.fallback))
            if isinstance(node, SmsNode) and node.failed_next is not None:
                out.append(("failed_next", node.failed_next))
            return out
        case MenuNode():
            return [(f"options.{key}.next", o.next) for key, o in node.options.items()] + [("fallback", node.fallback)]
        case BranchNode():
            return [(f"rules.{i}.next", r.next) for i, r in enumerate(node.rules)] + [("otherwise", node.otherwise)]
        case _:
            return []


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- menus -----------------------------------------------------------------------------------------


def _check_menu(owner: str, menu: Menu, report: _Report) -> None:
    nodes = menu.nodes
    graph: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        targets = []
        for suffix, target in edges(node):
            if target not in nodes:
                report(owner, f"menu.nodes.{node_id}.{suffix}", f"unknown node {target!r}{_suggest(target, nodes)}")
            else:
                targets.append(target)
        graph[node_id] = targets

    # Reachable from the start.
    parent: dict[str, str | None] = {menu.start: None}
    queue = deque([menu.start])
    while queue:
        current = queue.popleft()
        for target in graph[current]:
            if target not in parent:
                parent[target] = current
                queue.append(target)
    for node_id in nodes:
        if node_id not in parent:
            report(owner, f"menu.nodes.{node_id}", f"unreachable: no path leads here from the start node {menu.start!r}",
                   "warning")

    # Loops without a way out: nodes from which no exit (queue/sms/transfer/hangup) can be reached.
    # A node with an unknown target is already reported and counts as having a way out here.
    escapes = {n for n, node in nodes.items() if node.type in EXIT_TYPES or len(graph[n]) < len(edges(node))}
    reverse: dict[str, list[str]] = {n: [] for n in nodes}
    for source, targets in graph.items():
        for target in targets:
            reverse[target].append(source)
    work = deque(escapes)
    while work:
        current = work.popleft()
        for source in reverse[current]:
            if source not in escapes:
                escapes.add(source)
                work.append(source)
    reported: set[str] = set()
    for node_id in nodes:
        if node_id in escapes or node_id in reported or node_id not in parent:
            continue
        cycle = _find_cycle(node_id, graph)
        trapped = _closure(node_id, graph)
        reported |= trapped
        shown = " → ".join(cycle) if cycle else node_id
        report(owner, f"menu.nodes.{cycle[0] if cycle else node_id}",
               f"loop without a way out: {shown}; no queue, sms, transfer or hangup can be reached from here")

    # The advice line never closes: no hang-up before an SMS has been sent.
    seen: dict[str, str | None] = {menu.start: None}
    queue = deque([menu.start])
    while queue:
        current = queue.popleft()
        node = nodes[current]
        if node.type == "hangup":
            trail: list[str] = []
            step: str | None = current
            while step is not None:
                trail.append(step)
                step = seen[step]
            report(owner, f"menu.nodes.{current}",
                   "the advice line never closes: callers reach this hang-up without being queued or sent an SMS "
                   f"({' → '.join(reversed(trail))}); end in a queue or a transfer, or send an SMS first")
            continue
        if node.type == "sms":
            continue
        for target in graph[current]:
            if target not in seen:
                seen[target] = current
                queue.append(target)


def _closure(start: str, graph: dict[str, list[str]]) -> set[str]:
    seen = {start}
    work = [start]
    while work:
        for target in graph[work.pop()]:
            if target not in seen:
                seen.add(target)
                work.append(target)
    return seen


def _find_cycle(start: str, graph: dict[str, list[str]]) -> list[str]:
    """A cycle reachable from `start`, as node ids with the first repeated at the end."""
    path: list[str] = []
    on_path: dict[str, int] = {}
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        on_path[node] = len(path)
        path.append(node)
        for target in graph[node]:
            if target in on_path:
                return [*path[on_path[target]:], target]
            if target not in done:
                found = visit(target)
                if found:
                    return found
        path.pop()
        del on_path[node]
        done.add(node)
        return None

    return visit(start) or []


def _check_nodes(owner: str, config: RegionConfig | NationalConfig, national: NationalConfig | None,
                 cs: ConfigSet, report: _Report) -> set[str]:
    """Node-level checks; returns the opening-hours sets the menu uses."""
    used_sets: set[str] = set()
    languages = config.languages
    for node_id, node in config.menu.nodes.items():
        base = f"menu.nodes.{node_id}"
        for field in PROMPT_FIELDS:
            prompt = getattr(node, field, None)
            if isinstance(prompt, Prompt):
                _check_prompt(owner, f"{base}.{field}", prompt, languages, cs, report)
        match node:
            case QueueNode():
                if national is not None:
                    for skill, level in node.skills.items():
                        known = national.skills.get(skill)
                        if known is None:
                            report(owner, f"{base}.skills.{skill}",
                                   f"unknown skill {skill!r}{_suggest(skill, national.skills)}; skills are defined "
                                   "in national.yaml")
                        elif level > known.max_level:
                            report(owner, f"{base}.skills.{skill}",
                                   f"level {level} is above the highest level of {skill!r} ({known.max_level})")
                    if node.queue not in national.queues:
                        report(owner, f"{base}.queue",
                               f"unknown queue {node.queue!r}{_suggest(node.queue, national.queues)}; queues are "
                               "defined in national.yaml")
            case BranchNode():
                always_from: int | None = None
                for index, rule in enumerate(node.rules):
                    path = f"{base}.rules.{index}"
                    cond = rule.when
                    if always_from is not None:
                        report(owner, path, f"never used: rule {always_from} always matches first", "warning")
                    if cond.open is not None:
                        used_sets.add(cond.open)
                        if cond.open not in config.opening_hours:
                            report(owner, f"{path}.when.open",
                                   f"unknown opening-hours set {cond.open!r}"
                                   f"{_suggest(cond.open, config.opening_hours)}; this file defines "
                                   f"{', '.join(sorted(config.opening_hours)) or 'none'}")
                    if cond.time is not None and cond.time.start == cond.time.end:
                        report(owner, f"{path}.when.time", "empty time window: start and end are the same")
                    if cond.day_type is not None:
                        if not cond.day_type:
                            report(owner, f"{path}.when.day_type", "empty list: the rule never matches")
                        elif len(set(cond.day_type)) != len(cond.day_type):
                            report(owner, f"{path}.when.day_type", "a day type is listed twice", "warning")
                    if cond.open is None and cond.day_type is None and cond.time is None and always_from is None:
                        always_from = index
                        report(owner, f"{path}.when", "an empty condition always matches; `otherwise` is never used",
                               "warning")
            case SmsNode():
                sms = config.sms
                if sms is None:
                    report(owner, f"{base}.link", "this file has no sms section (links and templates)")
                else:
                    if getattr(sms, f"{node.link}_url") is None:
                        report(owner, f"{base}.link", f"the {node.link} link is not configured (sms.{node.link}_url)")
                    template = sms.templates.get(node.template)
                    if template is None:
                        report(owner, f"{base}.template",
                               f"unknown SMS template {node.template!r}{_suggest(node.template, sms.templates)}")
                    elif not any("{link}" in text for text in template.values()):
                        report(owner, f"{base}.template", f"template {node.template!r} has no {{link}}: the SMS "
                               "would not contain the link", "warning")
            case LanguageNode():
                seen_lang: dict[str, str] = {}
                for digit, language in node.choices.items():
                    if language not in languages:
                        report(owner, f"{base}.choices.{digit}",
                               f"{language!r} is not among this file's languages ({', '.join(languages)})")
                    if language in seen_lang:
                        report(owner, f"{base}.choices.{digit}",
                               f"duplicate choice: {seen_lang[language]!r} already chooses {language!r}")
                    seen_lang.setdefault(language, digit)
                if node.default not in languages:
                    report(owner, f"{base}.default", f"{node.default!r} is not among this file's languages")
            case TransferNode():
                problem = phone_problem(node.number)
                if problem:
                    report(owner, f"{base}.number", problem)
            case _:
                pass
    return used_sets


def _check_prompt(owner: str, path: str, prompt: Prompt, languages: list[str], cs: ConfigSet,
                  report: _Report) -> None:
    if prompt.recording is not None:
        rel = PurePosixPath(prompt.recording)
        if rel.is_absolute() or ".." in rel.parts:
            report(owner, f"{path}.recording", "a recording is a path inside the recordings folder (no / at the "
                   "start, no ..)")
        elif not (cs.recordings_dir(owner) / rel).is_file():
            report(owner, f"{path}.recording", f"recording not found: {cs.recordings_dir(owner) / rel}")
    if prompt.text:
        missing = [lang for lang in languages if lang not in prompt.text]
        if missing:
            report(owner, f"{path}.text" if prompt.recording else path,
                   f"missing prompt text in {', '.join(missing)} (this file's languages: {', '.join(languages)})")
        extra = [lang for lang in prompt.text if lang not in languages]
        if extra:
            report(owner, path, f"text in {', '.join(extra)}, which is not among this file's languages", "warning")


# --- opening hours ---------------------------------------------------------------------------------


def _overlaps(windows: list[tuple[str, Window]]) -> list[tuple[str, str]]:
    """Pairs (path, message) for windows that overlap, given in one timeline (minutes)."""
    out = []
    ordered = sorted(windows, key=lambda item: item[1].start)
    for (_, a), (path_b, b) in zip(ordered, ordered[1:], strict=False):
        if b.start < a.end:
            out.append((path_b, f"{b} overlaps {a}"))
    return out


def _check_hours(owner: str, name: str, hours: OpeningHours, report: _Report) -> None:
    base = f"opening_hours.{name}"
    for index, day in enumerate(WEEKDAYS):
        timeline = [(f"{base}.weekly.{day}.{i}", w) for i, w in enumerate(hours.weekly.get(day, []))]
        previous = WEEKDAYS[index - 1]
        for i, w in enumerate(hours.weekly.get(previous, [])):
            if w.crosses_midnight:
                tail = Window(start=0, end=w.end - MINUTES_PER_DAY)
                timeline.append((f"{base}.weekly.{previous}.{i}", tail))
        for path, message in _overlaps(timeline):
            report(owner, path, f"overlapping windows: {message}", "warning")
    for rule_name in ("holidays", "eves"):
        rule = getattr(hours, rule_name)
        if rule.windows:
            for path, message in _overlaps([(f"{base}.{rule_name}.{i}", w) for i, w in enumerate(rule.windows)]):
                report(owner, path, f"overlapping windows: {message}", "warning")
    for day_date, override in hours.exceptions.items():
        items = [(f"{base}.exceptions.{day_date.isoformat()}.{i}", w) for i, w in enumerate(override.windows)]
        for path, message in _overlaps(items):
            report(owner, path, f"overlapping windows: {message}", "warning")
    if not any(hours.weekly.values()) and not hours.holidays.windows and not hours.eves.windows and not any(
            o.windows for o in hours.exceptions.values()):
        report(owner, base, "never open: no windows on any day", "warning")


# --- per file --------------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        return f"{url!r}: links must use https://"
    if re.search(r"\s", url) or not parts.hostname or "." not in parts.hostname:
        return f"{url!r} is not a valid URL"
    return None


def phone_problem(number: str) -> str | None:
    """None when `number` is a valid E.164 phone number, else why not."""
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        return f"{number!r} is not an E.164 number (+ country code and digits, e.g. +46812345600)"
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return f"{number!r} is not a phone number"
    if not phonenumbers.is_valid_number(parsed):
        return f"{number!r} is not a valid phone number"
    return None


def _check_owner(owner: str, config: RegionConfig | NationalConfig, national: NationalConfig | None,
                 cs: ConfigSet, report: _Report) -> None:
    _check_menu(owner, config.menu, report)
    used = _check_nodes(owner, config, national, cs, report)
    for name, hours in config.opening_hours.items():
        _check_hours(owner, name, hours, report)
        if name not in used:
            report(owner, f"opening_hours.{name}", "not used by any branch condition of the menu", "warning")
    if config.sms is not None:
        for field in ("chat_url", "form_url"):
            url = getattr(config.sms, field)
            if url is not None and (problem := _url_problem(url)):
                report(owner, f"sms.{field}", problem)
        formatter = string.Formatter()
        for name, texts in config.sms.templates.items():
            for lang, text in texts.items():
                path = f"sms.templates.{name}.{lang}" if lang != "sv" or len(texts) > 1 else f"sms.templates.{name}"
                try:
                    fields = [f for _, f, _, _ in formatter.parse(text) if f is not None]
                except ValueError as exc:
                    report(owner, path, f"broken placeholder: {exc} (write {{link}} or {{region}})")
                    continue
                for placeholder in fields:
                    if placeholder not in SMS_PLACEHOLDERS:
                        report(owner, path, f"unknown placeholder {{{placeholder}}}; use "
                               f"{', '.join('{' + p + '}' for p in sorted(SMS_PLACEHOLDERS))}")
            missing = [lang for lang in config.languages if lang not in texts]
            if missing:
                report(owner, f"sms.templates.{name}", f"no text in {', '.join(missing)}: Swedish is sent instead",
                       "warning")


def _check_national(national: NationalConfig, report: _Report) -> None:
    owner = "national"

    def region_ok(path: str, region: str) -> None:
        if region not in REGIONS:
            report(owner, path, f"unknown region {region!r}: county codes are {', '.join(REGIONS)}")

    def skills_ok(path: str, skills: dict[str, int]) -> None:
        for skill, level in skills.items():
            known = national.skills.get(skill)
            if known is None:
                report(owner, f"{path}.{skill}", f"unknown skill {skill!r}{_suggest(skill, national.skills)}")
            elif not 1 <= level <= known.max_level:
                report(owner, f"{path}.{skill}", f"level {level} is outside 1-{known.max_level} for {skill!r}")

    for name, relay in national.relay_numbers.items():
        if problem := phone_problem(relay.number):
            report(owner, f"relay_numbers.{name}.number", problem)
        skills_ok(f"relay_numbers.{name}.skills", relay.skills)
    nq = national.national_queue
    for i, region in enumerate(nq.served_by):
        region_ok(f"national_queue.served_by.{i}", region)
    if len(set(nq.served_by)) != len(nq.served_by):
        report(owner, "national_queue.served_by", "a region is listed twice", "warning")
    for region in nq.weights:
        if region not in nq.served_by:
            report(owner, f"national_queue.weights.{region}", f"region {region} does not serve the national queue")
    for region in nq.pool_after_seconds:
        region_ok(f"national_queue.pool_after_seconds.{region}", region)
    skills_ok("national_queue.skills", nq.skills)
    if nq.queue not in national.queues:
        report(owner, "national_queue.queue", f"unknown queue {nq.queue!r}{_suggest(nq.queue, national.queues)}")
    if "advice" not in national.queues:
        report(owner, "queues", "the queue 'advice' (the default of queue nodes) must be defined")

    for agreement_id, agreement in national.agreements.items():
        base = f"agreements.{agreement_id}"
        match agreement:
            case GeographicAgreement():
                for i, region in enumerate(agreement.regions):
                    region_ok(f"{base}.regions.{i}", region)
                if len(set(agreement.regions)) != len(agreement.regions):
                    report(owner, f"{base}.regions", "a region is listed twice")
            case NightAgreement() | AroundTheClockAgreement():
                region_ok(f"{base}.answering", agreement.answering)
                for i, region in enumerate(agreement.served):
                    region_ok(f"{base}.served.{i}", region)
                    if region == agreement.answering:
                        report(owner, f"{base}.served.{i}", "the answering region cannot serve itself")
                if len(set(agreement.served)) != len(agreement.served):
                    report(owner, f"{base}.served", "a region is listed twice")
            case MeetingCoverAgreement():
                region_ok(f"{base}.covering", agreement.covering)
                region_ok(f"{base}.covered", agreement.covered)
                if agreement.covering == agreement.covered:
                    report(owner, f"{base}.covered", "a region cannot cover itself")
                for day, windows in agreement.slots.items():
                    for path, message in _overlaps([(f"{base}.slots.{day}.{i}", w) for i, w in enumerate(windows)]):
                        report(owner, path, f"overlapping slots: {message}", "warning")

    # Two night partners for the same region at overlapping hours: routing could not choose.
    nights = [(a_id, a) for a_id, a in national.agreements.items() if isinstance(a, NightAgreement)]
    for i, (first_id, first) in enumerate(nights):
        for second_id, second in nights[i + 1:]:
            shared = set(first.served) & set(second.served)
            days_meet = first.days is None or second.days is None or set(first.days) & set(second.days)
            if shared and days_meet and second.window.start < first.window.end and first.window.start < second.window.end:
                report(owner, f"agreements.{second_id}.window",
                       f"overlaps night agreement {first_id!r} for region(s) {', '.join(sorted(shared))}", "warning")


def _check_numbers(cs: ConfigSet, report: _Report) -> None:
    numbers: dict[str, tuple[str, str]] = {}  # normalised → (region, path)
    prefixes: dict[str, str] = {}
    for region_id in sorted(cs.regions):
        region = cs.regions[region_id]
        for i, number in enumerate(region.numbers):
            path = f"numbers.{i}"
            if re.fullmatch(r"[0-9]{3,6}", number):
                report(region_id, path, f"{number!r} is a short number shared by all regions; a region's own "
                       "numbers are E.164 (+46…) — short-number callers are resolved by their caller number")
                continue
            if problem := phone_problem(number):
                report(region_id, path, problem)
                continue
            key = normalise_number(number) or number
            if key in numbers:
                other, other_path = numbers[key]
                where = "this file" if other == region_id else cs.files[other]
                report(region_id, path, f"{number} is already claimed by {where} ({other_path})")
            else:
                numbers[key] = (region_id, path)
        for i, prefix in enumerate(region.caller_prefixes):
            path = f"caller_prefixes.{i}"
            if prefix in prefixes:
                other = prefixes[prefix]
                where = "this file" if other == region_id else cs.files[other]
                report(region_id, path, f"caller prefix {prefix} is already claimed by {where}")
            else:
                prefixes[prefix] = region_id
            if prefix.startswith("+467"):
                report(region_id, path, f"{prefix} is a mobile range: mobile numbers say nothing about where the "
                       "caller lives", "warning")
    if cs.national is not None:
        for name, relay in cs.national.relay_numbers.items():
            key = normalise_number(relay.number) or relay.number
            if key in numbers:
                region_id, path = numbers[key]
                report("national", f"relay_numbers.{name}.number",
                       f"{relay.number} is also region {region_id}'s number ({cs.files[region_id]}: {path}); a relay "
                       "number must lead to the national queue only")
