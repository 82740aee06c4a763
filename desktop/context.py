"""What the nurse sees of a call offered to her or in progress: who calls (number, region, language),
what they chose in the menu, how long they waited — read from the call record (docs/desktop.md).

`menu_choices` is pure: the IVR's path (`node`, `node=keys`, `node=keys:language`) and the region's
menu give the choices in words. `call_context` reads the record (SQL) and is the desktop's only I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import phonenumbers
from sqlmodel import Session, col, select

from calls.models import Call, CallEvent
from config.regions import REGIONS
from ivr.model import LanguageNode, Menu, MenuNode, QueueNode
from routing.model import NATIONAL

LANGUAGE_SV = {"sv": "svenska", "en": "engelska", "ar": "arabiska", "fi": "finska", "so": "somaliska",
               "fa": "persiska", "ti": "tigrinja", "pl": "polska", "de": "tyska", "es": "spanska"}


def region_name(region: str | None) -> str | None:
    if region is None:
        return None
    return "Nationella kön" if region == NATIONAL else REGIONS.get(region, region)


def display_number(number: str) -> str:
    """A caller number as a Swedish nurse reads it: national format for Swedish numbers, international
    for the rest, as received when it is not a number at all (anonymous, a SIP user)."""
    try:
        parsed = phonenumbers.parse(number, "SE")
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 46
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, fmt)


NO_CHOICE = {"timeout": "inget val", "invalid": "ogiltigt val", "-": "inget val"}


def menu_choices(menu: Menu | None, path: list[str],
                 queue_names: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The caller's choices in words: `[{"node", "keys", "label"}]` for menu and language choices and the
    queue reached (by its name in `queue_names`); path entries the menu does not explain keep their raw keys."""
    choices: list[dict[str, str]] = []
    nodes = menu.nodes if menu is not None else {}
    names = queue_names or {}
    for entry in path:
        node_id, sep, value = entry.partition("=")
        node = nodes.get(node_id)
        if not sep:
            if isinstance(node, QueueNode):
                choices.append({"node": node_id, "keys": "", "label": f"kö: {names.get(node.queue, node.queue)}"})
            continue
        keys, _, language = value.partition(":")
        if keys in NO_CHOICE and not isinstance(node, LanguageNode):
            choices.append({"node": node_id, "keys": keys, "label": NO_CHOICE[keys]})
        elif isinstance(node, LanguageNode):
            lang = language or keys
            choices.append({"node": node_id, "keys": keys, "label": f"språk: {LANGUAGE_SV.get(lang, lang)}"})
        elif isinstance(node, MenuNode):
            option = node.options.get(keys)
            label = option.label if option is not None and option.label else keys
            choices.append({"node": node_id, "keys": keys, "label": label})
    return choices


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if value.tzinfo is not None else value.isoformat() + "+00:00"


def read_call(s: Session, call_id: str, menu_for: Callable[[str], Menu | None],
              queue_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The call record's part of the desktop's call view (empty when the record is gone)."""
    call = s.get(Call, call_id)
    if call is None:
        return {}
    queued = s.exec(select(CallEvent).where(CallEvent.call_id == call_id, CallEvent.kind == "queue.entered")
                    .order_by(col(CallEvent.id).desc())).first()
    request: dict[str, Any] = dict(queued.data) if queued is not None else {}
    region = request.get("region") or call.region_id
    path = [str(p) for p in request.get("menu_path", [])]
    menu_region = call.region_id or (region if isinstance(region, str) else None)
    language = str(request.get("language", "sv"))
    return {
        "caller_number": call.caller_number,
        "caller_display": display_number(call.caller_number) if call.caller_number else "okänt nummer",
        "dialled_number": call.dialled_number,
        "caller_region": call.region_id,
        "caller_region_name": region_name(call.region_id),
        "region_name": region_name(region if isinstance(region, str) else None),
        "queue": request.get("queue"),
        "language_sv": LANGUAGE_SV.get(language, language),
        "menu_choices": menu_choices(menu_for(menu_region) if menu_region else None, path, queue_names),
        "started_at": _iso(call.started_at),
    }
