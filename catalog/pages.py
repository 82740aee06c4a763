"""The catalog's admin page (docs/catalog.md, "The admin page"): `GET /admin/catalog` for region admins (their
regions) and national admins (every region).

The server renders the shell in Swedish — the region picker, the filter box, the table of the region's units
with today's opening in words (computed here, with public holidays, eves and exception days), the import and
export controls — and `desktop/static/catalog-admin.js` builds the edit form and talks to the catalog's API
(`PUT`/`DELETE /api/v1/catalog/units/{id}`, `POST /api/v1/catalog/import`, `GET …/municipalities`). After a
change the script fetches this page again and swaps the table's rows, so the table is always the server's.
Without JavaScript the picker, the filter (`?q=`), the table and the export links still work.

`data-i18n` names a text's key in the script's English table. No inline script or style (the CSP forbids it).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date
from html import escape

import phonenumbers
from aiohttp import web

from advice.urgency import CARE_UNIT_TYPES
from config.hours import day_type, local, windows_on
from config.regions import REGIONS
from config.schema import MINUTES_PER_DAY, OpeningHours
from desktop.pages import STATIC, csp, static_headers
from identity.http import IDENTITY, Principal, forbidden, get_principal, unauthenticated
from identity.models import Role
from vardlinje.appkeys import DB, SETTINGS

from . import store
from .http import EXPORT_PATH, IMPORT_PATH, MUNICIPALITIES_PATH, UNITS_PATH
from .model import ACCESS_SV, CareUnit

PAGE_PATH = "/admin/catalog"
STATIC_FILES = ("catalog-admin.js", "catalog-admin.css")
NO_STORE = {"Cache-Control": "no-store"}
STATIC_VERSIONS = web.AppKey("catalog_admin_static_versions", dict[str, str])

# Swedish alphabetical order: å, ä, ö after z (Python's code-point order puts ä before å).
_SWEDISH_ORDER = str.maketrans({"å": "z\u0001", "ä": "z\u0002", "ö": "z\u0003", "æ": "z\u0002", "ø": "z\u0003"})


# --- who and which regions ------------------------------------------------------------------------------


def admin_regions(principal: Principal) -> list[tuple[str, str]]:
    """(code, name) of the regions whose catalogs she keeps: a national admin all 21, a region admin hers."""
    if principal.has_role(Role.NATIONAL_ADMIN):
        return sorted(REGIONS.items())
    if principal.has_role(Role.REGION_ADMIN):
        return sorted((r, REGIONS[r]) for r in set(principal.region_ids) if r in REGIONS)
    return []


# --- words ------------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """For matching what she types: lower case, without accents (å ä ö é → a a o e), single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return " ".join(plain.split())


def sort_key(u: CareUnit) -> tuple[str, str]:
    return u.name.casefold().translate(_SWEDISH_ORDER), u.id


def _minutes(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def today_html(hours: OpeningHours, day: date) -> str:
    """Today's opening in words, as HTML whose fixed words carry `data-i18n`: "08:00–12:00, 13:00–17:00",
    "dygnet runt", "stängt", "22:00–02:00 (nästa dag)", with "(helgdag)", "(afton)" or "(avvikande dag)"
    when today is not an ordinary day for the unit."""
    windows = windows_on(hours, day)
    if not windows:
        words = '<span data-i18n="h.closed">stängt</span>'
    elif len(windows) == 1 and windows[0].start == 0 and windows[0].end >= MINUTES_PER_DAY:
        words = '<span data-i18n="h.always">dygnet runt</span>'
    else:
        parts = []
        for w in windows:
            if w.end > MINUTES_PER_DAY:
                parts.append(f'{_minutes(w.start)}–{_minutes(w.end - MINUTES_PER_DAY)} '
                             '<span data-i18n="h.nextday">(nästa dag)</span>')
            else:
                parts.append(f"{_minutes(w.start)}–{_minutes(w.end)}")
        words = ", ".join(parts)
    if day in hours.exceptions:
        words += ' <span class="muted" data-i18n="h.exception">(avvikande dag)</span>'
    else:
        kind = day_type(day)
        if kind == "holiday":
            words += ' <span class="muted" data-i18n="h.holiday">(helgdag)</span>'
        elif kind == "eve":
            words += ' <span class="muted" data-i18n="h.eve">(afton)</span>'
    return words


def phone_text(e164: str) -> str:
    """+4686001000 → 08-600 10 00 (as the nurse says it); unparseable: as stored."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "SE"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def search_text(u: CareUnit) -> str:
    unit_type = CARE_UNIT_TYPES[u.type]
    return fold(f"{u.name} {u.municipality} {unit_type.name_sv} {u.type} {u.city} {u.id}")


def matches(u: CareUnit, q: str) -> bool:
    """Every word of the filter is in the unit's name, municipality, type, city or id."""
    haystack = search_text(u)
    return all(word in haystack for word in fold(q).split())


# --- the page ---------------------------------------------------------------------------------------------


def unit_rows(units: Iterable[CareUnit], today: date, q: str = "") -> str:
    """The table's rows (also what the script swaps in after a change); those the filter `q` leaves out are
    there but hidden, so the script can show them again when she changes the filter."""
    rows = []
    for u in units:
        name = escape(u.name)
        hidden = " hidden" if q and not matches(u, q) else ""
        phone = phone_text(u.phone)
        phone_cell = f'<a href="tel:{escape(u.phone)}">{escape(phone)}</a>' if u.phone else ""
        rows.append(
            f'<tr data-unit="{escape(u.id)}" data-search="{escape(search_text(u))}"{hidden}>'
            f'<th scope="row">{name}<span class="unit-id">{escape(u.id)}</span></th>'
            f'<td data-i18n="type.{escape(u.type)}">{escape(CARE_UNIT_TYPES[u.type].name_sv)}</td>'
            f"<td>{escape(u.municipality)}</td>"
            f'<td data-i18n="access.{u.access.value}">{escape(ACCESS_SV[u.access])}</td>'
            f'<td class="today">{today_html(u.hours, today)}</td>'
            f'<td class="phone">{phone_cell}</td>'
            f'<td><button type="button" class="edit" data-edit="{escape(u.id)}">'
            f'<span data-i18n="edit">Ändra</span><span class="visually-hidden"> {name}</span></button></td>'
            "</tr>")
    return "".join(rows)


def catalog_page(*, regions: Sequence[tuple[str, str]], selected: str, units: Sequence[CareUnit], shown: int,
                 q: str, today: date, user: str, csrf_token: str, versions: dict[str, str]) -> str:
    """The Swedish shell: `units` are the region's units after the filter `q` (`shown` of all of them)."""
    options = "".join(f'<option value="{escape(rid)}"{" selected" if rid == selected else ""}>'
                      f"{escape(rid)} {escape(name)}</option>" for rid, name in regions)
    region_name = f"{selected} {REGIONS.get(selected, selected)}"
    types = json.dumps({code: t.name_sv for code, t in CARE_UNIT_TYPES.items()}, ensure_ascii=False)
    css = f"/static/catalog-admin.css?v={versions['catalog-admin.css']}"
    js = f"/static/catalog-admin.js?v={versions['catalog-admin.js']}"
    csv_url = f"{EXPORT_PATH}?format=csv&amp;region={escape(selected)}"
    fhir_url = f"{EXPORT_PATH}?format=fhir&amp;region={escape(selected)}"

    def th(key: str, text: str) -> str:
        return f'<th scope="col" data-i18n="{key}">{text}</th>'

    return f"""<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hänvisningskatalog – Vårdlinje</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<script type="module" src="{js}"></script>
</head>
<body data-region="{escape(selected)}" data-page="{PAGE_PATH}" data-units="{UNITS_PATH}" data-import="{IMPORT_PATH}"
 data-municipalities="{MUNICIPALITIES_PATH}" data-types="{escape(types)}">
<a class="skip" href="#main" data-i18n="skip">Hoppa till innehållet</a>
<header class="top">
<p class="brand">Vårdlinje <span data-i18n="title">Hänvisningskatalog</span></p>
<p class="who"><span data-i18n="who">Inloggad som</span> <strong>{escape(user)}</strong></p>
<button type="button" id="lang" aria-pressed="false" lang="en">English</button>
<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<button type="submit" data-i18n="signout">Logga ut från Vårdlinje</button>
</form>
</header>
<nav aria-labelledby="picker-label" class="picker">
<form method="get" action="{PAGE_PATH}" id="picker">
<label id="picker-label" for="region" data-i18n="region">Region</label>
<select id="region" name="region">{options}</select>
<button type="submit" data-i18n="show">Visa</button>
</form>
</nav>
<main id="main" tabindex="-1">
<h1><span data-i18n="heading">Hänvisningskatalog för</span> <span id="region-title">{escape(region_name)}</span></h1>
<p id="status" role="status" class="status" hidden></p>
<div id="error" role="alert" class="error" hidden></div>
<noscript><p class="error">Att ändra och importera enheter kräver JavaScript; tabellen, sökningen och exporten
fungerar utan. <span lang="en">Editing and importing need JavaScript; the table, the filter and the export work
without it.</span></p></noscript>
<section aria-labelledby="tools-h" class="card tools">
<h2 id="tools-h" class="visually-hidden" data-i18n="tools">Verktyg</h2>
<button type="button" id="new" class="primary" data-i18n="new">Ny enhet</button>
<form id="import" class="import">
<label for="import-file" data-i18n="import.file">Importera fil (.csv eller FHIR .json)</label>
<input type="file" id="import-file" name="file" accept=".csv,.json,text/csv,application/json,application/fhir+json"
 aria-describedby="import-hint">
<button type="submit" id="import-button" data-i18n="import">Importera fil</button>
<p id="import-hint" class="hint" data-i18n="import.hint">Allt eller inget: filen importeras bara om alla rader är
rätt. Enheter med samma id ersätts.</p>
</form>
<p class="exports"><a id="export-csv" href="{csv_url}" download data-i18n="export.csv">Exportera CSV</a>
<a id="export-fhir" href="{fhir_url}" download data-i18n="export.fhir">Exportera FHIR</a></p>
<div id="import-problems" class="error problems" role="alert" tabindex="-1" hidden>
<h3 data-i18n="import.refused">Filen importerades inte – rätta felen och försök igen</h3>
<ul></ul>
</div>
</section>
<section id="editor" aria-labelledby="editor-h" class="card editor" hidden></section>
<section aria-labelledby="units-h" class="card units">
<h2 id="units-h" data-i18n="units">Enheter</h2>
<form method="get" action="{PAGE_PATH}" id="filter-form" class="filter" role="search">
<input type="hidden" name="region" value="{escape(selected)}">
<label for="filter" data-i18n="filter">Sök bland enheterna (namn, kommun eller typ)</label>
<input type="search" id="filter" name="q" value="{escape(q)}" autocomplete="off">
<button type="submit" data-i18n="filter.go">Sök</button>
</form>
<p id="count" class="muted" aria-live="polite"><span id="count-shown">{shown}</span> <span data-i18n="count.of">av</span>
<span id="count-all">{len(units)}</span> <span data-i18n="count.units">enheter</span></p>
<div class="scroll">
<table id="units">
<caption class="visually-hidden" data-i18n="units.caption">Regionens enheter i bokstavsordning</caption>
<thead><tr>{th("c.name", "Namn")}{th("c.type", "Typ")}{th("c.municipality", "Kommun")}{th("c.access", "Besök")}\
{th("c.today", "Öppet idag")}{th("c.phone", "Telefon")}{th("c.actions", "Åtgärder")}</tr></thead>
<tbody>{unit_rows(units, today, q)}</tbody>
</table>
</div>
<p id="units-empty" class="empty" data-i18n="units.none"{"" if shown == 0 else " hidden"}>Inga enheter att visa.</p>
</section>
<datalist id="municipalities"></datalist>
</main>
<div id="announce" class="visually-hidden" aria-live="polite"></div>
</body>
</html>
"""


async def page(request: web.Request) -> web.StreamResponse:
    """`GET /admin/catalog?region=01&q=`: the page, for region admins (their regions) and national admins."""
    principal = get_principal(request)
    if principal is None:
        return unauthenticated(request)
    if principal.via != "session" or not principal.has_role(Role.REGION_ADMIN, Role.NATIONAL_ADMIN):
        return forbidden(request, "forbidden", "Katalogen ändras av regionens administratör (region_admin eller "
                                               "national_admin) / the catalog is kept by region admins")
    regions = admin_regions(principal)
    if not regions:
        return forbidden(request, "forbidden", "Du administrerar ingen region / you administer no region")
    wanted = request.query.get("region", "")
    selected = wanted if wanted in {rid for rid, _ in regions} else regions[0][0]
    q = request.query.get("q", "").strip()[:200]
    units = sorted(await request.config_dict[DB].run(lambda s: store.units(s, [selected])), key=sort_key)
    shown = sum(1 for u in units if matches(u, q)) if q else len(units)
    today = local(request.config_dict[IDENTITY].clock()).date()
    html = catalog_page(regions=regions, selected=selected, units=units, shown=shown, q=q, today=today,
                        user=principal.display_name or principal.username, csrf_token=principal.csrf_token or "",
                        versions=request.config_dict[STATIC_VERSIONS])
    response = web.Response(text=html, content_type="text/html", headers=NO_STORE)
    response.headers["Content-Security-Policy"] = csp(request.config_dict[SETTINGS].http.public_url)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# --- assembly ---------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    """A digest per static file, in its URL, so a browser never runs yesterday's script with today's page."""
    versions = {}
    for name in STATIC_FILES:
        try:
            versions[name] = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        except OSError:
            versions[name] = "0"
    return versions


def add_routes(app: web.Application) -> None:
    """The page's route and its static files' versions; `/static` too unless the desktop serves it already
    (call after `setup_desktop`, which adds `/static` unconditionally)."""
    app[STATIC_VERSIONS] = _versions()
    app.router.add_get(PAGE_PATH, page)
    if "static" not in app.router.named_resources():
        app.router.add_static("/static", STATIC, name="static")
        app.on_response_prepare.append(static_headers)
