"""The nurse desktop's page (docs/desktop.md, "The page") and the start page's redirect by role.

The page is a server-rendered shell in Swedish; `static/desktop.js` fills it from the desktop API and
keeps it live over the desktop WebSocket, `static/softphone.js` is its phone, `static/journal.js` the
call's phases and the journal note (both imported by desktop.js) and `static/referral.js` the referral panel
(imported by journal.js). No inline script or
style: the Content-Security-Policy allows scripts and styles from this origin only, and WebSockets to
this origin and to Asterisk's SIP WebSocket.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from advice.urgency import CARE_UNIT_TYPES
from identity.http import get_principal
from identity.models import Role
from identity.pages import CSP as PLAIN_CSP
from identity.pages import forbidden_page
from journal.records import CallerRelation, PatientIdKind
from vardlinje.appkeys import SETTINGS

from .softphone import sip_ws_url

STATIC = Path(__file__).resolve().parent / "static"
DESKTOP_PAGE = "/desktop"
SUPERVISOR_PAGE = "/supervisor"
CONFIG_PAGE = "/admin/config"


def _ws_origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def csp(public_url: str, *websockets: str) -> str:
    """Scripts and styles from this site only (no inline code); WebSockets to the public origin and to
    `websockets` (the desktop: Asterisk's SIP WebSocket)."""
    sockets = " ".join(dict.fromkeys(_ws_origin(u) for u in (public_url, *websockets)))
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"media-src 'self' blob: mediastream:; connect-src 'self' {sockets}; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


async def static_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Static files: revalidated on every load (a cheap 304), so after an upgrade no browser runs
    yesterday's desktop.js or softphone.js with today's API; and never sniffed as another type."""
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"


def _html(body: str, policy: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _to_login(path: str) -> web.Response:
    raise web.HTTPFound(f"/login?next={path}")


async def home(request: web.Request) -> web.StreamResponse:
    """`/`: the page for her role: a nurse's desktop, a supervisor's region view, an admin's configuration."""
    principal = get_principal(request)
    if principal is None:
        return _to_login("/")
    if principal.has_role(Role.NURSE):
        raise web.HTTPFound(DESKTOP_PAGE)
    if principal.has_role(Role.SUPERVISOR, Role.REGION_ADMIN, Role.NATIONAL_ADMIN):
        raise web.HTTPFound(SUPERVISOR_PAGE)
    raise web.HTTPFound(CONFIG_PAGE)


_PAUSE_REASONS = (("break", "Rast"), ("meeting", "Möte"), ("training", "Utbildning"),
                  ("administration", "Administration"))
_KEYS = "123456789*0#"
# The note's choices: the stored value (journal/records.py) and the i18n key of its words.
_RELATIONS = ((CallerRelation.SELF, "rel.self", "själv (patienten)"), (CallerRelation.PARENT, "rel.parent", "förälder"),
              (CallerRelation.RELATIVE, "rel.relative", "anhörig"),
              (CallerRelation.CARE_STAFF, "rel.staff", "vårdpersonal"), (CallerRelation.OTHER, "rel.other", "annan"))
_ID_KINDS = ((PatientIdKind.PERSONNUMMER, "Personnummer"), (PatientIdKind.SAMORDNINGSNUMMER, "Samordningsnummer"),
             (PatientIdKind.RESERVE, "Reservnummer"))


def _options(items: list[tuple[str, str, str]], empty_key: str, empty: str) -> str:
    """`<option>`s (value, i18n key, Swedish words) after an empty choice; no key: the words stay as they are."""
    first = f'<option value="" data-i18n="{empty_key}">{empty}</option>'
    return first + "".join(f'<option value="{escape(v)}"' + (f' data-i18n="{k}"' if k else "") + f">{escape(t)}</option>"
                           for v, k, t in items)


def _journal_html() -> str:
    """The journal note panel (desktop/static/journal.js fills and autosaves it; docs/desktop.md)."""
    relations = _options([(r.value, key, words) for r, key, words in _RELATIONS], "j.choose", "– välj –")
    kinds = _options([(k.value, f"idkind.{k.value}", words) for k, words in _ID_KINDS], "j.choose", "– välj –")
    # Every care-unit type (advice/urgency.py); journal.js narrows them to the chosen level's.
    units = _options([(u.code, "", u.name_sv) for u in CARE_UNIT_TYPES.values()], "j.noreferral",
                     "– ingen hänvisning –")
    return f"""<section id="journal" aria-labelledby="h-journal" class="card journal" hidden>
  <h2 id="h-journal" data-i18n="journal">Journalanteckning</h2>
  <p id="journal-status" class="save-status" role="status"></p>
  <p id="journal-notice" class="notice" role="status" hidden></p>
  <p id="journal-signed" class="signed" hidden></p>
  <form id="journal-form" class="note" novalidate>
    <fieldset><legend data-i18n="j.intro">Inledning</legend>
      <label for="j-caller_relation" data-i18n="j.caller_relation">Uppringaren är</label>
      <select id="j-caller_relation" name="caller_relation">{relations}</select>
      <label for="j-caller_name" data-i18n="j.caller_name">Uppringarens namn</label>
      <input id="j-caller_name" name="caller_name" maxlength="200" autocomplete="off">
      <p class="check"><input id="j-consent" name="consent" type="checkbox">
        <label for="j-consent" data-i18n="j.consent">Uppringaren samtycker till dokumentation</label></p>
      <label for="j-patient_id_kind" data-i18n="j.patient_id_kind">Typ av identitet</label>
      <select id="j-patient_id_kind" name="patient_id_kind">{kinds}</select>
      <label for="j-patient_id" data-i18n="j.patient_id">Patientens identitet</label>
      <input id="j-patient_id" name="patient_id" maxlength="20" autocomplete="off" spellcheck="false"
             inputmode="text" aria-describedby="j-patient_id-hint">
      <p id="j-patient_id-hint" class="hint muted" data-i18n="j.patient_id.hint">ÅÅÅÅMMDD-NNNN, eller reservnummer</p>
      <p id="j-patient_id-error" class="field-error" hidden></p>
      <label for="j-patient_name" data-i18n="j.patient_name">Patientens namn</label>
      <input id="j-patient_name" name="patient_name" maxlength="200" autocomplete="off">
    </fieldset>
    <fieldset><legend data-i18n="j.assessment">Kartläggning och bedömning</legend>
      <dl class="facts">
        <dt data-i18n="j.contact_reason">Kontaktorsak</dt><dd id="j-contact_reason">–</dd>
        <dt data-i18n="j.urgency">Brådskandegrad</dt><dd id="j-urgency">–</dd>
      </dl>
      <p class="hint muted" data-i18n="j.fromadvice">Fylls i när du väljer nivå i rådgivningsstödet</p>
    </fieldset>
    <fieldset><legend data-i18n="j.advice">Råd och hänvisning</legend>
      <label for="j-advice" data-i18n="j.advice_field">Råd till uppringaren</label>
      <textarea id="j-advice" name="advice" rows="4" maxlength="8000"></textarea>
      <label for="j-referral" data-i18n="j.referral">Hänvisning till</label>
      <select id="j-referral" name="referral">{units}</select>
      <label for="j-referral_text" data-i18n="j.referral_text">Var och när</label>
      <input id="j-referral_text" name="referral_text" maxlength="2000" autocomplete="off">
    </fieldset>
    <fieldset><legend data-i18n="j.text">Anteckning</legend>
      <label for="j-text" data-i18n="j.text_field">Anteckning (fritext)</label>
      <textarea id="j-text" name="text" rows="6" maxlength="20000"></textarea>
    </fieldset>
    <p id="journal-problems" class="field-error" role="alert" hidden></p>
    <div class="actions"><button type="button" id="journal-sign" class="primary" data-i18n="journal.sign">Signera</button></div>
  </form>
  <div id="journal-attachments" class="attachments" hidden>
    <h3 id="h-journal-attachments" data-i18n="journal.attachments">Bifogade bilder</h3>
    <ol id="journal-attachment-list" aria-labelledby="h-journal-attachments"></ol>
  </div>
  <ol id="journal-amendments" class="amendments" hidden></ol>
  <button type="button" id="journal-amend" data-i18n="journal.amend" hidden>Skriv tillägg</button>
  <form id="amendment-form" class="note" novalidate hidden>
    <h3 id="h-amendment" data-i18n="journal.amendment">Tillägg</h3>
    <p id="amendment-status" class="save-status" role="status"></p>
    <p id="amendment-notice" class="notice" role="status" hidden></p>
    <label for="a-text" data-i18n="journal.amendment.text">Tilläggets text</label>
    <textarea id="a-text" name="text" rows="4" maxlength="20000"></textarea>
    <p id="amendment-problems" class="field-error" role="alert" hidden></p>
    <div class="actions"><button type="button" id="amendment-sign" class="primary"
      data-i18n="journal.signamendment">Signera tillägget</button></div>
  </form>
</section>
"""


def _referral_html() -> str:
    """The referral panel: catalog units that fit the call (desktop/static/referral.js; docs/desktop.md,
    "Hänvisning"). Every care-unit type is listed with the levels it serves; referral.js offers the level's."""
    types = "".join(f'<option value="{escape(u.code)}" data-fits="{" ".join(sorted(f.value for f in u.fits))}">'
                    f"{escape(u.name_sv)}</option>" for u in CARE_UNIT_TYPES.values())
    return f"""<section id="referral" aria-labelledby="h-referral" class="card referral" hidden>
  <h2 id="h-referral" data-i18n="ref">Hänvisning</h2>
  <p id="referral-basis" class="muted"></p>
  <form id="referral-filters" class="filters" role="search" aria-labelledby="h-referral-filters" novalidate>
    <h3 id="h-referral-filters" class="visually-hidden" data-i18n="ref.filters">Filter för enheterna</h3>
    <p><label for="ref-municipality" data-i18n="ref.municipality">Kommun (närmast först)</label>
      <input id="ref-municipality" list="ref-municipalities" autocomplete="off" spellcheck="false"
             aria-describedby="ref-municipality-hint">
      <datalist id="ref-municipalities"></datalist>
      <span id="ref-municipality-hint" class="hint muted" data-i18n="ref.municipality.hint">tom: ingen
        avståndsordning</span></p>
    <p><label for="ref-type" data-i18n="ref.type">Typ av vårdenhet</label>
      <select id="ref-type"><option value="" data-i18n="ref.alltypes">alla som passar nivån</option>{types}</select></p>
    <p><label for="ref-age" data-i18n="ref.age">Patientens ålder (år)</label>
      <input id="ref-age" type="number" min="0" max="130" step="1" inputmode="numeric" autocomplete="off"></p>
  </form>
  <p id="referral-result" class="result" role="status" hidden></p>
  <h3 id="h-referral-hits" data-i18n="ref.hits">Enheter som passar</h3>
  <p id="referral-status" class="save-status" role="status"></p>
  <ol id="referral-hits" class="units" aria-labelledby="h-referral-hits"></ol>
</section>
"""


def desktop_html(display_name: str) -> str:
    reasons = "".join(f'<option value="{v}" data-i18n="reason.{v}">{t}</option>' for v, t in _PAUSE_REASONS)
    keypad = "".join(f'<button type="button" class="key" data-key="{k}">{k}</button>'
                     for k in _KEYS)
    journal = _journal_html() + _referral_html()
    return f"""<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Skrivbord – Vårdlinje</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/desktop.css">
<script src="/static/vendor/jssip.min.js" defer></script>
<script type="module" src="/static/desktop.js"></script>
</head>
<body>
<a class="skip" href="#main" data-i18n="skip">Hoppa till innehållet</a>
<header class="top">
  <p class="brand">Vårdlinje <span data-i18n="title">Sjuksköterskans skrivbord</span></p>
  <p class="who"><span id="who">{escape(display_name)}</span></p>
  <button type="button" id="lang" lang="en">English</button>
  <form method="post" action="/logout" id="logout-form">
    <input type="hidden" name="csrf_token" id="logout-csrf" value="">
    <button type="submit" data-i18n="signout">Logga ut från Vårdlinje</button>
  </form>
</header>
<div id="banner" class="banner" role="alert" hidden></div>
<div id="errors" class="error" role="alert" hidden></div>
<main id="main">
<section id="presence" aria-labelledby="h-presence" class="card">
  <h2 id="h-presence" data-i18n="presence">Min status</h2>
  <p class="state-line"><span id="state" class="state" data-state="">…</span>
     <span id="reason"></span> <span data-i18n="since">sedan</span> <time id="since"></time></p>
  <div class="actions" id="presence-actions">
    <button type="button" data-event="login" data-i18n="ev.login">Logga in i kön</button>
    <button type="button" data-event="ready" class="primary" data-i18n="ev.ready">Redo</button>
    <span class="pause">
      <label for="pause-reason" data-i18n="pause.reason">Orsak</label>
      <select id="pause-reason">{reasons}</select>
      <button type="button" data-event="pause" data-i18n="ev.pause">Paus</button>
    </span>
    <button type="button" data-event="logout" data-i18n="ev.logout">Logga ut ur kön</button>
  </div>
  <p id="wrapup" class="wrapup" hidden><span data-i18n="wrapup">Efterarbete</span>:
     <strong id="wrapup-left" aria-live="off">–</strong> <span data-i18n="wrapup.left">kvar</span>
     <button type="button" id="wrapup-done" class="primary" data-i18n="wrapup.done">Klar – redo</button></p>
  <p class="phone-line"><span data-i18n="phone">Telefon</span>: <span id="phone-state">–</span></p>
</section>
<section id="call" aria-labelledby="h-call" class="card" hidden>
  <h2 id="h-call"><span data-i18n="call">Samtal</span> <span id="call-phase" class="phase"></span></h2>
  <nav id="phases" class="phases" aria-labelledby="h-phases" hidden>
    <h3 id="h-phases" class="visually-hidden" data-i18n="phases">Samtalets faser</h3>
    <ol id="phase-list"></ol>
  </nav>
  <dl class="facts">
    <dt data-i18n="call.number">Nummer</dt><dd id="call-number">–</dd>
    <dt data-i18n="call.region">Region</dt><dd id="call-region">–</dd>
    <dt data-i18n="call.language">Språk</dt><dd id="call-language">–</dd>
    <dt data-i18n="call.menu">Menyval</dt><dd id="call-menu">–</dd>
    <dt data-i18n="call.wait">Väntetid</dt><dd id="call-wait">–</dd>
    <dt data-i18n="call.route">Vägen hit</dt><dd id="call-route">–</dd>
  </dl>
  <div class="actions" id="call-actions">
    <button type="button" id="answer" class="primary" data-i18n="answer" disabled>Svara</button>
    <button type="button" id="hangup" class="danger" data-i18n="hangup" disabled>Lägg på</button>
    <button type="button" id="hold" aria-pressed="false" data-i18n="hold" disabled>Parkera</button>
    <button type="button" id="mute" aria-pressed="false" data-i18n="mute" disabled>Stäng av mikrofonen</button>
  </div>
  <details id="keypad-box"><summary data-i18n="keypad">Knappsats</summary>
    <div class="keypad" id="keypad">{keypad}</div></details>
  <details id="transfer-box"><summary data-i18n="transfer">Koppla vidare</summary>
    <form id="transfer" class="transfer">
      <label for="transfer-kind" data-i18n="transfer.kind">Till</label>
      <select id="transfer-kind">
        <option value="queue" data-i18n="transfer.queue">en kö</option>
        <option value="nurse" data-i18n="transfer.nurse">en kollega</option>
        <option value="external" data-i18n="transfer.external">ett externt nummer</option>
      </select>
      <label for="transfer-target" data-i18n="transfer.target">Mål</label>
      <select id="transfer-target"></select>
      <label for="transfer-number" class="visually-hidden" data-i18n="transfer.number">Nummer (+46…)</label>
      <input id="transfer-number" type="tel" inputmode="tel" placeholder="+46…" autocomplete="off" hidden>
      <button type="submit" data-i18n="transfer.go">Koppla</button>
    </form></details>
</section>
<section id="media" aria-labelledby="h-media" class="card media" hidden>
  <h2 id="h-media" data-i18n="media">Bild och video från uppringaren</h2>
  <form id="media-request" class="media-request" novalidate>
    <p><label for="media-to" data-i18n="media.to">Mobilnummer</label>
      <input id="media-to" type="tel" inputmode="tel" maxlength="40" autocomplete="off" spellcheck="false"
             aria-describedby="media-to-hint media-error">
      <span id="media-to-hint" class="hint muted" data-i18n="media.to.hint">tomt: numret uppringaren ringer från</span></p>
    <div class="actions">
      <button type="button" id="media-image" data-i18n="media.image">Begär bild</button>
      <button type="button" id="media-video" data-i18n="media.video">Erbjud video</button>
      <button type="button" id="media-close" data-i18n="media.close">Stäng länkarna</button>
    </div>
  </form>
  <p id="media-status" class="save-status" role="status"></p>
  <p id="media-error" class="field-error" role="alert" hidden></p>
  <div id="video" class="video" data-state="idle" hidden>
    <h3 id="h-video" data-i18n="video">Video</h3>
    <p id="video-status" role="status" data-state="idle"></p>
    <div class="screens">
      <video id="video-remote" autoplay playsinline aria-labelledby="h-video"></video>
      <video id="video-local" autoplay playsinline muted aria-hidden="true"></video>
    </div>
    <div class="actions">
      <button type="button" id="video-mute" aria-pressed="true" data-i18n="video.unmute">Sätt på mikrofonen</button>
      <button type="button" id="video-camera" aria-pressed="false" data-i18n="video.cameraoff">Stäng av kameran</button>
      <button type="button" id="video-end" class="danger" data-i18n="video.end">Avsluta video</button>
    </div>
  </div>
  <h3 id="h-media-images" data-i18n="media.images">Bilder</h3>
  <p id="media-none" class="muted" data-i18n="media.none">Inga bilder än.</p>
  <ol id="media-images" class="images" aria-labelledby="h-media-images"></ol>
  <dialog id="media-viewer" aria-labelledby="media-viewer-title">
    <h3 id="media-viewer-title"></h3>
    <img id="media-viewer-img" alt="">
    <form method="dialog"><button type="submit" data-i18n="media.closeviewer">Stäng</button></form>
  </dialog>
</section>
<section id="advice" aria-labelledby="h-advice" class="card advice">
  <h2 id="h-advice" data-i18n="advice">Rådgivningsstöd</h2>
  <label for="advice-q" data-i18n="advice.search">Sök kontaktorsak (det uppringaren säger)</label>
  <input id="advice-q" type="search" autocomplete="off" spellcheck="false" placeholder="t.ex. ont i magen"
         aria-controls="advice-hits">
  <ul id="advice-hits" class="hits" aria-live="polite"></ul>
  <article id="advice-doc" hidden aria-labelledby="advice-title">
    <h3 id="advice-title" tabindex="-1"></h3>
    <p id="advice-meta" class="muted"></p>
    <div id="advice-levels"></div>
    <h4 id="advice-selfcare-h" data-i18n="advice.selfcare">Egenvårdsråd</h4>
    <ul id="advice-selfcare"></ul>
  </article>
  <p id="advice-saved" role="status"></p>
  <div id="advice-slot" data-call=""></div>
</section>
{journal}<section id="queues" aria-labelledby="h-queues" class="card">
  <h2 id="h-queues" data-i18n="queues">Köer</h2>
  <table><thead><tr><th scope="col" data-i18n="q.region">Region</th><th scope="col" data-i18n="q.waiting">Väntar</th>
  <th scope="col" data-i18n="q.longest">Längsta väntan</th><th scope="col" data-i18n="q.estimate">Beräknad väntan</th>
  <th scope="col" data-i18n="q.ready">Redo</th><th scope="col" data-i18n="q.staffed">Bemannade</th></tr></thead>
  <tbody id="queue-rows"><tr><td colspan="6">–</td></tr></tbody></table>
</section>
<section id="today" aria-labelledby="h-today" class="card">
  <h2 id="h-today" data-i18n="today">Mina statusbyten i dag</h2>
  <ol id="today-list" class="today"></ol>
</section>
<section id="devices" aria-labelledby="h-devices" class="card">
  <h2 id="h-devices" data-i18n="devices">Ljud</h2>
  <label for="microphone" data-i18n="microphone">Mikrofon</label><select id="microphone"></select>
  <label for="speaker" data-i18n="speaker">Högtalare</label><select id="speaker"></select>
</section>
</main>
<div id="announcer" class="visually-hidden" aria-live="assertive"></div>
</body>
</html>
"""


async def desktop_page(request: web.Request) -> web.StreamResponse:
    """`/desktop`: the nurse's page; to the login first when no session, refused for other roles."""
    principal = get_principal(request)
    if principal is None or principal.via != "session":
        return _to_login(DESKTOP_PAGE)
    settings = request.config_dict[SETTINGS]
    policy = csp(settings.http.public_url, sip_ws_url(settings))
    if not principal.has_role(Role.NURSE):
        return _html(forbidden_page("Skrivbordet är för sjuksköterskor (rollen nurse) / the desktop is for "
                                    "nurses"), PLAIN_CSP, status=403)
    return _html(desktop_html(principal.display_name or principal.username), policy)
