"""Server-rendered HTML of the identity layer: the login page and the "no access" page.

Swedish first with English beside it (lang="en" so screen readers switch voice); plain forms that
work without JavaScript; labels bound to fields; errors announced with role="alert".
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from .methods import LoginMethod

# Inline styles only, so the page's Content-Security-Policy can forbid every other source.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b1b1b;margin:0;line-height:1.5}
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.6rem;margin-top:0}.en{color:#4a4a4a;font-weight:normal;font-size:.9em}
label{display:block;font-weight:600;margin-top:1rem}
input{width:100%;box-sizing:border-box;font-size:1rem;padding:.6rem;border:2px solid #6b6b6b;border-radius:.3rem}
input:focus,button:focus,a:focus{outline:3px solid #005fcc;outline-offset:2px}
button{margin-top:1.5rem;width:100%;font-size:1.05rem;padding:.7rem;border:0;border-radius:.3rem;
background:#005a9c;color:#fff;cursor:pointer}
.error{background:#fdecea;border-left:4px solid #b00020;padding:.6rem .8rem;color:#7a0015}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def login_page(
    *,
    csrf_token: str,
    next_url: str = "/",
    username: str = "",
    error: str = "",
    methods: Iterable[LoginMethod] = (),
) -> str:
    error_html = ""
    described = ""
    if error:
        error_html = f'<p class="error" role="alert" id="login-error">{escape(error)}</p>\n'
        described = ' aria-describedby="login-error" aria-invalid="true"'
    others = "".join(
        f'<li><a href="{escape(url)}?next={escape(next_url)}">{escape(m.label)}</a></li>'
        for m in methods
        if m.name != "password" and (url := getattr(m, "start_url", None))
    )
    others_html = (f'<h2>Andra sätt att logga in <span lang="en" class="en">Other ways to log in</span></h2>'
                   f"<ul>{others}</ul>") if others else ""
    body = (
        '<h1>Logga in <span lang="en" class="en">Log in</span></h1>\n'
        '<p>Vårdlinje – för sjuksköterskor och administratörer. '
        '<span lang="en" class="en">For nurses and administrators.</span></p>\n'
        f"{error_html}"
        '<form method="post" action="/login">\n'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">\n'
        '<input type="hidden" name="method" value="password">\n'
        f'<input type="hidden" name="next" value="{escape(next_url)}">\n'
        '<label for="username">Användarnamn <span lang="en" class="en">Username</span></label>\n'
        f'<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" '
        f'spellcheck="false" required autofocus value="{escape(username)}"{described}>\n'
        '<label for="password">Lösenord <span lang="en" class="en">Password</span></label>\n'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required{described}>\n'
        '<button type="submit">Logga in <span lang="en">· Log in</span></button>\n'
        "</form>\n"
        f"{others_html}"
    )
    return _page("Logga in – Vårdlinje", body)


def forbidden_page(detail: str) -> str:
    body = (
        '<h1>Ingen behörighet <span lang="en" class="en">Access denied</span></h1>\n'
        f"<p>{escape(detail)}</p>\n"
        '<p><a href="/">Till startsidan</a> <span lang="en" class="en">To the start page</span></p>'
    )
    return _page("Ingen behörighet – Vårdlinje", body)
