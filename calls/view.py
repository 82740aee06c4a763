"""One contact as people read it: the call record's row and its events folded into what happened — menu
path, queues, offers and who answered, transfers, holds, SMS, assessments and the call-process phases.
Pure: the caller reads the rows, this only interprets them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .models import Call, CallEvent

PHASE_STARTED = "phase.started"


def _iso(value: datetime | None) -> str | None:
    """SQLite gives back naive datetimes; every time we store is UTC."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def phase_log(events: Sequence[CallEvent]) -> list[dict[str, Any]]:
    """Every phase start in order (a nurse may go back to an earlier phase: each start is kept)."""
    return [{"phase": e.data.get("phase"), "name": e.data.get("name"), "by": e.data.get("by"),
             "at": _iso(e.at)} for e in events if e.kind == PHASE_STARTED]


def contact_view(call: Call, events: Sequence[CallEvent]) -> dict[str, Any]:
    queues: list[dict[str, Any]] = []
    offers: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    sms: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    assessments: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    menu_path: list[str] = []
    language: str | None = None
    for e in events:
        d = e.data
        at = _iso(e.at)
        if e.kind == "queue.entered":
            queues.append({"queue": d.get("queue"), "region": d.get("region"), "priority": d.get("priority"),
                           "at": at})
            menu_path = [str(p) for p in d.get("menu_path", menu_path)]
            language = d.get("language", language)
        elif e.kind == "offer.started":
            offers.append({"nurse": d.get("nurse"), "offered_at": at, "outcome": None, "outcome_at": None})
        elif e.kind in ("offer.answered", "offer.missed", "offer.cancelled"):
            open_offer = next((o for o in reversed(offers)
                               if o["nurse"] == d.get("nurse") and o["outcome"] is None), None)
            if open_offer is None:  # e.g. the offer began before a restart
                open_offer = {"nurse": d.get("nurse"), "offered_at": None}
                offers.append(open_offer)
            open_offer.update(outcome=e.kind.split(".", 1)[1], outcome_at=at)
        elif e.kind == "call.transferred":
            transfers.append({**d, "at": at})
        elif e.kind in ("call.held", "call.unheld"):
            holds.append({"kind": e.kind.split(".", 1)[1], "by": d.get("nurse"), "at": at})
        elif e.kind.startswith("sms."):
            sms.append({"kind": e.kind, "at": at, **{k: v for k, v in d.items() if k in ("template", "status",
                                                                                         "error", "sid")}})
        elif e.kind.startswith("media."):
            # links offered, photos received/attached, the video's course; never a token or an image
            media.append({"kind": e.kind.split(".", 1)[1], "at": at,
                          **{k: d[k] for k in ("link", "image", "note", "by", "reason") if k in d}})
        elif e.kind == "advice.assessed":
            assessments.append({"at": at, **{k: d.get(k) for k in ("document", "title", "contact_reason",
                                                                    "urgency", "urgency_sv", "by")}})
        elif e.kind in ("journal.opened", "journal.signed"):
            notes.append({"kind": e.kind, "note": d.get("note"), "by": d.get("by"), "at": at})
    answered_by = [o["nurse"] for o in offers if o["outcome"] == "answered"]
    return {
        "id": call.id,
        "dialled_number": call.dialled_number,
        "caller_number": call.caller_number,
        "region": call.region_id,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "end_reason": call.end_reason,
        "language": language,
        "menu_path": menu_path,
        "queues": queues,
        "offers": offers,
        "nurses": answered_by,
        "transfers": transfers,
        "holds": holds,
        "sms": sms,
        "media": media,
        "assessments": assessments,
        "phases": phase_log(events),
        "journal": notes,
        "events": [{"at": _iso(e.at), "kind": e.kind, "data": e.data} for e in events],
    }
