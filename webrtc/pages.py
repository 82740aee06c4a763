"""The caller's pages behind the SMS link (`/m/{token}`): plain server-rendered HTML, pure (strings in, a string
out). Mobile first (viewport, large touch targets, system fonts from `/static/caller.css`), Swedish with an
English toggle, no JavaScript, no external resources, no cookies: the form works on any phone's browser."""

from __future__ import annotations

from html import escape
from typing import Literal

from .links import STATE_TEXT, LinkState

Lang = Literal["sv", "en"]

#: Everything from this site only; no scripts at all; the page may not be framed or post elsewhere.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Skicka en bild till sjuksköterskan", "Send a picture to the nurse"),
    "brand": ("1177 på telefon", "1177 by phone"),
    "explain": ("Sjuksköterskan du pratar med har bett dig skicka en bild. Ta ett foto med mobilens kamera eller "
                "välj en bild du redan har. Bilden går bara till sjuksköterskan och sparas i din journal om hon "
                "behöver den.",
                "The nurse you are talking to has asked you to send a picture. Take a photo with the phone's "
                "camera or choose a picture you already have. The picture goes only to the nurse and is kept in "
                "your medical record if she needs it."),
    "tips": ("Tips: ta bilden i bra ljus och håll mobilen stilla.",
             "Tip: take the picture in good light and hold the phone still."),
    "choose": ("Välj eller ta en bild", "Choose or take a picture"),
    "send": ("Skicka bilden", "Send the picture"),
    "thanks": ("Tack! Bilden är skickad till sjuksköterskan.", "Thank you! The picture has been sent to the nurse."),
    "sent_title": ("Bilden är skickad", "Picture sent"),
    "another": ("Skicka en bild till", "Send another picture"),
    "remaining": ("Du kan skicka {n} bild(er) till med den här länken.",
                  "You can send {n} more picture(s) with this link."),
    "stay": ("Stanna kvar i telefonsamtalet.", "Stay on the phone call."),
    "error_title": ("Bilden kunde inte skickas", "The picture could not be sent"),
    "link_title": ("Länken fungerar inte", "The link does not work"),
    "video_title": ("Videosamtal kommer snart", "Video calls are coming soon"),
    "video_body": ("Videosamtal med sjuksköterskan finns inte här ännu. Stanna kvar i telefonsamtalet.",
                   "Video calls with the nurse are not available here yet. Stay on the phone call."),
    "busy_title": ("För många försök", "Too many attempts"),
    "busy_body": ("Det har skickats för många bilder från din uppkoppling. Vänta en stund och försök igen, eller "
                  "berätta för sjuksköterskan.",
                  "Too many pictures have been sent from your connection. Wait a while and try again, or tell "
                  "the nurse."),
    "broken_title": ("Något gick fel", "Something went wrong"),
    "broken_body": ("Något gick fel hos oss. Försök igen om en stund, eller berätta för sjuksköterskan.",
                    "Something went wrong on our side. Try again in a while, or tell the nurse."),
    "toggle": ("In English", "På svenska"),
}


def lang_of(value: str | None) -> Lang:
    return "en" if value == "en" else "sv"


def t(key: str, lang: Lang, **values: object) -> str:
    sv, en = _TEXT[key]
    return (en if lang == "en" else sv).format(**values)


def _page(title: str, body: str, lang: Lang, token: str) -> str:
    other: Lang = "sv" if lang == "en" else "en"
    toggle = f'/m/{escape(token)}?lang={other}'
    return (
        "<!doctype html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/caller.css">\n</head>\n<body>\n'
        f'<header><span class="brand">{escape(t("brand", lang))}</span>'
        f'<a class="lang" href="{toggle}" hreflang="{other}" lang="{other}">{escape(t("toggle", lang))}</a>'
        "</header>\n<main>\n"
        f"<h1>{escape(title)}</h1>\n{body}</main>\n</body>\n</html>\n"
    )


def _form(token: str, lang: Lang) -> str:
    action = f"/m/{escape(token)}/images" + ("?lang=en" if lang == "en" else "")
    return (f'<form method="post" action="{action}" enctype="multipart/form-data">\n'
            f'<label for="image">{escape(t("choose", lang))}</label>\n'
            '<input id="image" type="file" name="image" accept="image/*" capture="environment" required>\n'
            f'<button type="submit">{escape(t("send", lang))}</button>\n</form>\n')


def upload_page(token: str, lang: Lang, *, error: str = "") -> str:
    """The form; with `error` (why the last upload was refused) above it, so the caller can try again."""
    title = t("error_title", lang) if error else t("title", lang)
    notice = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    body = (f"{notice}<p>{escape(t('explain', lang))}</p>\n<p class=\"hint\">{escape(t('tips', lang))}</p>\n"
            f"{_form(token, lang)}")
    return _page(title, body, lang, token)


def thanks_page(token: str, lang: Lang, remaining: int) -> str:
    body = f"<p class=\"ok\" role=\"status\">{escape(t('thanks', lang))}</p>\n<p>{escape(t('stay', lang))}</p>\n"
    if remaining > 0:
        body += (f"<p>{escape(t('remaining', lang, n=remaining))}</p>\n"
                 f'<p><a class="button" href="/m/{escape(token)}{"?lang=en" if lang == "en" else ""}">'
                 f"{escape(t('another', lang))}</a></p>\n")
    return _page(t("sent_title", lang), body, lang, token)


def state_page(token: str, lang: Lang, link_state: LinkState) -> str:
    """Why the link does not work (unknown, expired, used up, closed), in one clear sentence."""
    sv, en = STATE_TEXT[link_state]
    body = f"<p class=\"error\" role=\"alert\">{escape(en if lang == 'en' else sv)}</p>\n"
    return _page(t("link_title", lang), body, lang, token)


def video_page(token: str, lang: Lang) -> str:
    return _page(t("video_title", lang), f"<p>{escape(t('video_body', lang))}</p>\n", lang, token)


def busy_page(token: str, lang: Lang) -> str:
    return _page(t("busy_title", lang), f"<p class=\"error\" role=\"alert\">{escape(t('busy_body', lang))}</p>\n",
                 lang, token)


def broken_page(token: str, lang: Lang) -> str:
    return _page(t("broken_title", lang), f"<p class=\"error\">{escape(t('broken_body', lang))}</p>\n", lang, token)
