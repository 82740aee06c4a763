"""Server-rendered admin pages of the configuration: the list of files an admin may open and one
file's editor (the YAML in a textarea, save with a comment, the versions with rollback buttons,
validation errors inline).

Swedish first with English beside it (lang="en"); plain forms that work without JavaScript, each
carrying the session's CSRF token; labels bound to fields; errors announced with role="alert" and
tied to the textarea with aria-describedby.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

from aiohttp import web

from identity.pages import CSP

from .loader import ConfigIssue
from .regions import REGIONS
from .resolve import NATIONAL
from .store import ConfigVersion, file_of

STOCKHOLM = ZoneInfo("Europe/Stockholm")

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b1b1b;margin:0;line-height:1.5}
main{max-width:60rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:.5rem;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.6rem;margin-top:0}h2{font-size:1.2rem;margin-top:2rem}.en{color:#4a4a4a;font-weight:normal;font-size:.9em}
label{display:block;font-weight:600;margin-top:1rem}
textarea,input[type=text]{width:100%;box-sizing:border-box;font-size:.95rem;padding:.5rem;border:2px solid #6b6b6b;
border-radius:.3rem}
textarea{font-family:ui-monospace,monospace;min-height:30rem}
textarea[aria-invalid=true]{border-color:#b00020}
input:focus,textarea:focus,button:focus,a:focus{outline:3px solid #005fcc;outline-offset:2px}
button{margin-top:1rem;font-size:1rem;padding:.5rem 1rem;border:0;border-radius:.3rem;background:#005a9c;color:#fff;
cursor:pointer}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ccc;
vertical-align:top}
td form button{margin:0;background:#4a4a4a}
.error{background:#fdecea;border-left:4px solid #b00020;padding:.6rem .8rem;color:#7a0015}
.warning{background:#fff8e1;border-left:4px solid #8a6d00;padding:.6rem .8rem}
.ok{background:#e8f5e9;border-left:4px solid #1b5e20;padding:.6rem .8rem}
code{font-size:.9em}
"""


def html_response(body: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response


def owner_name(owner: str) -> str:
    return "Nationella filen" if owner == NATIONAL else f"{REGIONS.get(owner, owner)} ({owner})"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def _time(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(STOCKHOLM)
    return f'<time datetime="{aware.isoformat()}">{local:%Y-%m-%d %H:%M}</time>'


def _issue(issue: ConfigIssue) -> str:
    where = f"<code>{escape(issue.path)}</code>: " if issue.path else ""
    line = f" (rad {issue.line})" if issue.line else ""
    return f"<li><code>{escape(issue.file)}</code>: {where}{escape(issue.message)}{line}</li>"


def index_page(owners: Iterable[str]) -> str:
    items = "".join(f'<li><a href="/admin/config/{escape(o)}">{escape(owner_name(o))}</a></li>' for o in owners)
    body = (
        '<h1>Konfiguration <span lang="en" class="en">Configuration</span></h1>\n'
        '<p>Filer du kan ändra: <span lang="en" class="en">Files you may edit:</span></p>\n'
        f"<ul>{items or '<li>Inga / none</li>'}</ul>"
        '<p><a href="/admin/catalog">Hänvisningskatalogen</a> <span lang="en" class="en">The referral catalog'
        "</span></p>\n"
    )
    return _page("Konfiguration – Vårdlinje", body)


def editor_page(
    *,
    owner: str,
    csrf_token: str,
    current: ConfigVersion | None,
    versions: Sequence[ConfigVersion],
    content: str | None = None,
    comment: str = "",
    errors: Sequence[ConfigIssue] = (),
    warnings: Sequence[ConfigIssue] = (),
    notice: str = "",
) -> str:
    """The editor of one owner's file. `content` is what the admin sent (shown again after a
    refused save); otherwise the current version's text."""
    name = owner_name(owner)
    text = content if content is not None else (current.content if current else "")
    base = current.version if current else 0
    csrf = f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
    parts = [
        f'<h1>{escape(name)} <span lang="en" class="en">configuration</span></h1>\n',
        f"<p>Fil <code>{escape(file_of(owner))}</code>, "
        + (f"version {current.version}, sparad {_time(current.created_at)} av {escape(current.created_by)}."
           if current else "ingen version sparad ännu.")
        + ' <a href="/admin/config">Alla filer</a></p>\n',
    ]
    if notice:
        parts.append(f'<p class="ok" role="status">{escape(notice)}</p>\n')
    described = ""
    if errors:
        parts.append(
            '<div class="error" role="alert" id="config-errors">\n'
            '<h2>Ändringen sparades inte <span lang="en" class="en">The change was not saved</span></h2>\n'
            f"<ul>{''.join(_issue(i) for i in errors)}</ul>\n</div>\n")
        described = ' aria-describedby="config-errors config-help" aria-invalid="true"'
    else:
        described = ' aria-describedby="config-help"'
    if warnings:
        parts.append(
            '<div class="warning" id="config-warnings">\n'
            '<h2>Varningar <span lang="en" class="en">Warnings</span></h2>\n'
            f"<ul>{''.join(_issue(i) for i in warnings)}</ul>\n</div>\n")
    parts.append(
        f'<form method="post" action="/admin/config/{escape(owner)}">\n{csrf}\n'
        f'<input type="hidden" name="base_version" value="{base}">\n'
        '<label for="content">YAML-text <span lang="en" class="en">YAML text</span></label>\n'
        '<p id="config-help">Ändringen kontrolleras mot hela konfigurationen innan den sparas som en ny '
        'version; samtal som redan pågår behåller sin version. <span lang="en" class="en">Checked against the '
        'whole configuration before it is saved as a new version; calls in progress keep theirs.</span></p>\n'
        f'<textarea id="content" name="content" rows="30" spellcheck="false" autocapitalize="none"'
        f'{described}>{escape(text)}</textarea>\n'
        '<label for="comment">Kommentar <span lang="en" class="en">Comment</span></label>\n'
        f'<input id="comment" name="comment" type="text" maxlength="500" value="{escape(comment)}">\n'
        '<button type="submit">Spara ny version <span lang="en">· Save a new version</span></button>\n'
        "</form>\n")
    rows = []
    for v in versions:
        is_current = current is not None and v.version == current.version
        action = ("nuvarande" if is_current else
                  f'<form method="post" action="/admin/config/{escape(owner)}/rollback">{csrf}'
                  f'<input type="hidden" name="version" value="{v.version}">'
                  f'<button type="submit">Återställ version {v.version}</button></form>')
        rows.append(f"<tr><th scope=\"row\">{v.version}</th><td>{_time(v.created_at)}</td>"
                    f"<td>{escape(v.created_by)}</td><td>{escape(v.comment)}</td><td>{action}</td></tr>")
    parts.append(
        '<h2 id="versions">Versioner <span lang="en" class="en">Versions</span></h2>\n'
        '<table aria-labelledby="versions">\n<thead><tr><th scope="col">Version</th><th scope="col">Tid</th>'
        '<th scope="col">Av</th><th scope="col">Kommentar</th><th scope="col">Åtgärd</th></tr></thead>\n'
        f"<tbody>{''.join(rows)}</tbody>\n</table>\n")
    return _page(f"{name} – konfiguration – Vårdlinje", "".join(parts))


def notice_for(query: Mapping[str, str]) -> str:
    """The status line after a redirect (?saved=N, ?rolledback=N, ?unchanged=1)."""
    if query.get("saved", "").isdigit():
        return f"Sparad som version {query['saved']}. / Saved as version {query['saved']}."
    if query.get("rolledback", "").isdigit():
        return f"Återställd; ny version {query['rolledback']}. / Rolled back; new version {query['rolledback']}."
    if query.get("unchanged"):
        return "Ingen ändring: texten är densamma som nuvarande version. / No change: same text as the current version."
    return ""
