"""`/calls/{call_id}`: one contact as a page for staff — the call record in words (who called, the menu choices,
queues, offers, phases, assessments, transfers, SMS, journal notes) and the full event timeline. Rendered on
the server from the same view as `GET /api/v1/calls/{call_id}`; no script needed."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session

from calls import service as calls
from calls.models import Call
from calls.view import contact_view
from desktop.context import display_number, region_name
from desktop.http import call_context
from desktop.pages import csp
from identity.http import forbidden, get_principal, unauthenticated
from vardlinje.appkeys import DB, SETTINGS

from . import service

PAGE_PATH = "/calls/{call_id}"
SWEDEN = ZoneInfo("Europe/Stockholm")
OUTCOME_SV = {"answered": "besvarat", "missed": "inte besvarat", "cancelled": "avbrutet", None: "pågår"}
END_SV = {"ended": "avslutat", "ended_while_disconnected": "avslutat medan servern var frånkopplad"}
MEDIA_SV = {"image_offered": "bildlänk skickad", "video_offered": "videolänk skickad", "link_opened": "länken öppnad",
            "image_received": "bild mottagen",
            "image_attached": "bild bifogad", "video_joined": "uppringaren öppnade videon",
            "video_connected": "video uppkopplad", "video_failed": "video misslyckades", "video_ended": "video avslutad"}
STYLE = "/static/contact.css"


def _when(iso: str | None) -> str:
    if not iso:
        return "–"
    return datetime.fromisoformat(iso).astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M:%S")


def _table(caption: str, head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f'<section><h2>{escape(caption)}</h2><p class="muted">Inga</p></section>'
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<section><h2>{escape(caption)}</h2><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>" \
           "</section>"


def _transfer_target(t: dict[str, Any]) -> str:
    kind = t.get("kind")
    if kind == "queue":
        return f"kö {t.get('queue')}"
    if kind == "nurse":
        return f"sjuksköterska {t.get('to')}"
    if kind == "external":
        return display_number(str(t.get("number", "")))
    return str(kind or "–")


def render(view: dict[str, Any], context: dict[str, Any]) -> str:
    """The page for one contact (view: calls.view.contact_view + notes; context: the desktop's call facts)."""
    choices = " → ".join(c["label"] for c in context.get("menu_choices", [])) or " · ".join(view["menu_path"]) or "–"
    facts = [
        ("Från", display_number(view["caller_number"]) if view["caller_number"] else "okänt nummer"),
        ("Uppringt nummer", view["dialled_number"] or "–"),
        ("Region", region_name(view["region"]) or view["region"] or "–"),
        ("Språk", context.get("language_sv") or view["language"] or "–"),
        ("Menyval", choices),
        ("Start", _when(view["started_at"])),
        ("Besvarat", _when(view["answered_at"])),
        ("Slut", _when(view["ended_at"])),
        ("Avslut", END_SV.get(view["end_reason"] or "", view["end_reason"] or "–")),
    ]
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts)
    sections = [
        _table("Köer", ["Kö", "Region", "Prioritet", "Tid"],
               [[str(q["queue"]), str(q["region"] or "–"), str(q["priority"] if q["priority"] is not None else "–"),
                 _when(q["at"])] for q in view["queues"]]),
        _table("Erbjudanden", ["Sjuksköterska", "Erbjudet", "Utfall", "Tid"],
               [[str(o["nurse"]), _when(o.get("offered_at")), OUTCOME_SV.get(o.get("outcome"), str(o.get("outcome"))),
                 _when(o.get("outcome_at"))] for o in view["offers"]]),
        _table("Faser", ["Fas", "Start", "Av"], [[str(p["name"] or p["phase"]), _when(p["at"]), str(p["by"] or "–")]
                                                for p in view["phases"]]),
        _table("Bedömningar", ["Beslutsstöd", "Brådskandegrad", "Av", "Tid"],
               [[str(a["title"] or a["document"]), str(a["urgency_sv"] or a["urgency"]), str(a["by"] or "–"),
                 _when(a["at"])] for a in view["assessments"]]),
        _table("Kopplingar", ["Till", "Av", "Tid"], [[_transfer_target(t), str(t.get("nurse") or "–"), _when(t["at"])]
                                                     for t in view["transfers"]]),
        _table("Parkering", ["Händelse", "Av", "Tid"],
               [["parkerad" if h["kind"] == "held" else "återtagen", str(h["by"] or "–"), _when(h["at"])]
                for h in view["holds"]]),
        _table("SMS", ["Händelse", "Mall", "Status", "Tid"],
               [[s["kind"], str(s.get("template", "–")), str(s.get("status", s.get("error", "–"))), _when(s["at"])]
                for s in view["sms"]]),
        _table("Bild och video", ["Händelse", "Länk", "Bild", "Av", "Tid"],
               [[MEDIA_SV.get(m["kind"], m["kind"]), str(m.get("link", "–")), str(m.get("image", "–"))[:8],
                 str(m.get("by") or "–"), _when(m["at"])] for m in view["media"]]),
        _table("Journalanteckningar", ["Anteckning", "Status", "Tillägg till", "Signerad"],
               [[n["id"], "signerad" if n["status"] == "signed" else "utkast", n["amends_note_id"] or "–",
                 _when(n["signed_at"])] for n in view["notes"]]),
        _table("Alla händelser", ["Tid", "Händelse", "Uppgifter"],
               [[_when(e["at"]), e["kind"], ", ".join(f"{k}={v}" for k, v in e["data"].items())[:300]]
                for e in view["events"]]),
    ]
    return f"""<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Samtal {escape(view["id"][:8])} – Vårdlinje</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STYLE}">
</head>
<body>
<main>
<h1>Samtal <code>{escape(view["id"])}</code></h1>
<dl class="facts">{dl}</dl>
{"".join(sections)}
</main>
</body>
</html>
"""


async def contact_page(request: web.Request) -> web.StreamResponse:
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    call_id = request.match_info["call_id"]
    from .http import may_see_contact  # one rule for the page and the API

    def work(s: Session) -> dict[str, Any] | str | None:
        call = s.get(Call, call_id)
        if call is None:
            return None
        if principal.via != "session" or not may_see_contact(s, principal, call):
            return "forbidden"
        view = contact_view(call, calls.events(s, call_id))
        view["notes"] = [{"id": n.id, "status": n.status, "amends_note_id": n.amends_note_id,
                          "signed_at": n.signed_at.isoformat() if n.signed_at else None}
                         for n in service.call_notes(s, call_id)]
        return view

    found = await request.config_dict[DB].run(work)
    if found is None:
        raise web.HTTPNotFound(text="Inget sådant samtal / no such call")
    if not isinstance(found, dict):
        return forbidden(request, "forbidden", "Samtalet hör inte till dig eller dina regioner / not your call")
    context = await call_context(request.app)(call_id)
    response = web.Response(text=render(found, context), content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = csp(request.config_dict[SETTINGS].http.public_url)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
