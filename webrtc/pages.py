"""The caller's pages behind the SMS link (`/m/{token}`): plain server-rendered HTML, pure (strings in, a string
out). Mobile first (viewport, large touch targets, system fonts from `/static/caller.css`), Swedish with an
English toggle, no external resources, no cookies. The image page has no JavaScript at all: the form works on
any phone's browser. The video page needs one script of our own (`/static/video-caller.js`: WebRTC has no
HTML-only form) and gets its own, still strict, policy."""

from __future__ import annotations

import json
from html import escape
from typing import Literal
from urllib.parse import urlsplit

from .links import STATE_TEXT, LinkKind, LinkState

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
    "video_title": ("Videosamtal med sjuksköterskan", "Video call with the nurse"),
    "video_voice": ("Fortsätt prata i telefonen – ljudet går där. Videon visar bara bild tills du sätter på "
                    "mikrofonen.",
                    "Keep talking on the phone – the sound goes there. The video only shows pictures until you "
                    "turn the microphone on."),
    "video_camera": ("När du trycker på Starta video frågar mobilen om lov att använda kameran. Svara Tillåt.",
                     "When you press Start video, the phone asks for permission to use the camera. Answer Allow."),
    "video_start": ("Starta video", "Start video"),
    "video_switch": ("Byt kamera", "Switch camera"),
    "video_mic_on": ("Sätt på mikrofonen", "Turn the microphone on"),
    "video_mic_off": ("Stäng av mikrofonen", "Turn the microphone off"),
    "video_end": ("Avsluta video", "End video"),
    "video_remote": ("Sjuksköterskans video", "The nurse's video"),
    "video_local": ("Din kamera", "Your camera"),
    "video_used_up": ("Videolänken har använts så många gånger den tillåter. Be sjuksköterskan skicka en ny.",
                      "The video link has been used as many times as it allows. Ask the nurse to send a new one."),
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


def _page(title: str, body: str, lang: Lang, token: str, *, state: str | None = None) -> str:
    other: Lang = "sv" if lang == "en" else "en"
    toggle = f'/m/{escape(token)}?lang={other}'
    body_attrs = f' data-state="{escape(state)}"' if state else ""  # the video page's script keeps it current
    return (
        "<!doctype html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/caller.css">\n</head>\n'
        f"<body{body_attrs}>\n"
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


def state_text(link_state: LinkState, kind: str = LinkKind.IMAGE.value) -> tuple[str, str]:
    """The sentence for a link that does not work, Swedish and English (a used-up video link is no photo)."""
    if link_state is LinkState.USED_UP and kind == LinkKind.VIDEO.value:
        return _TEXT["video_used_up"]
    return STATE_TEXT[link_state]


def state_page(token: str, lang: Lang, link_state: LinkState, kind: str = LinkKind.IMAGE.value) -> str:
    """Why the link does not work (unknown, expired, used up, closed), in one clear sentence."""
    sv, en = state_text(link_state, kind)
    body = f"<p class=\"error\" role=\"alert\">{escape(en if lang == 'en' else sv)}</p>\n"
    return _page(t("link_title", lang), body, lang, token)


# --- the video page ------------------------------------------------------------------------------------------

#: The video page's policy: our one script and style sheet, the camera's streams, and WebSockets to this host
#: only (named: older Safari does not count ws:// as 'self'). No inline script, no framing, no forms.
VIDEO_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
             "media-src 'self' blob: mediastream:; connect-src 'self' {ws_origin}; base-uri 'none'; "
             "form-action 'none'; frame-ancestors 'none'")
#: The camera and microphone for this site only (the page asks when the caller presses Start video).
VIDEO_PERMISSIONS = "camera=(self), microphone=(self)"

#: What the script shows in `#status` for each `data-state` (and a few reasons), Swedish then English.
VIDEO_STATUS: dict[str, tuple[str, str]] = {
    "idle": ("Tryck på Starta video när du är redo.", "Press Start video when you are ready."),
    "waiting": ("Väntar på sjuksköterskan …", "Waiting for the nurse …"),
    "connecting": ("Kopplar upp videon …", "Connecting the video …"),
    "connected": ("Videon är igång.", "The video is on."),
    "ended": ("Videosamtalet är avslutat.", "The video call has ended."),
    "failed": ("Videon kunde inte kopplas upp. Fortsätt prata i telefonen.",
               "The video could not be connected. Keep talking on the phone."),
    "closed": ("Länken fungerar inte längre. Be sjuksköterskan skicka en ny om ni behöver video.",
               "The link no longer works. Ask the nurse to send a new one if you need video."),
    "ended_nurse": ("Sjuksköterskan har avslutat videosamtalet. Fortsätt prata i telefonen.",
                    "The nurse has ended the video call. Keep talking on the phone."),
    "ended_caller": ("Du har avslutat videosamtalet.", "You have ended the video call."),
    "ended_contact_closed": ("Samtalet är avslutat och videon stängd.", "The call has ended and the video is "
                             "closed."),
    "replaced": ("Videon har öppnats i ett annat fönster.", "The video has been opened in another window."),
    "camera": ("Kameran kunde inte startas. Tillåt kameran för den här sidan och tryck på Starta video igen.",
               "The camera could not be started. Allow the camera for this page and press Start video again."),
    "switch_failed": ("Den andra kameran kunde inte startas. Tryck på Byt kamera igen.",
                      "The other camera could not be started. Press Switch camera again."),
    "unsupported": ("Din webbläsare kan inte visa video. Prova att öppna länken i Safari eller Chrome.",
                    "Your browser cannot show video. Try opening the link in Safari or Chrome."),
    "retry": ("Anslutningen bröts. Försöker igen …", "The connection was lost. Trying again …"),
}


def video_csp(public_url: str) -> str:
    """The video page's CSP: `connect-src` names the WebSocket origin of the public URL (wss:// for https)."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return VIDEO_CSP.format(ws_origin=f"{scheme}://{parts.netloc}".lower())


def _texts_json(lang: Lang) -> str:
    """The script's texts as JSON inside `<script type="application/json">`: `<` escaped, so no text can end
    the element (it is data, never executed)."""
    texts = {key: (en if lang == "en" else sv) for key, (sv, en) in VIDEO_STATUS.items()}
    for key in ("video_mic_on", "video_mic_off"):
        texts[key.removeprefix("video_")] = t(key, lang)
    return json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def video_page(token: str, lang: Lang) -> str:
    """The caller's video room: the camera starts on a press (phones ask for permission only after a gesture);
    the script (`/static/video-caller.js`) opens `/m/<token>/ws` and answers the nurse's offer."""
    status = VIDEO_STATUS["idle"][1 if lang == "en" else 0]
    ws_path = f"/m/{escape(token)}/ws"
    body = (
        f'<p class="lead">{escape(t("video_voice", lang))}</p>\n'
        f'<p class="hint">{escape(t("video_camera", lang))}</p>\n'
        f'<section id="video" class="video" data-ws-path="{ws_path}" data-lang="{lang}">\n'
        f'<p id="status" class="status" role="status" aria-live="polite" data-state="idle">{escape(status)}</p>\n'
        '<div class="stage">\n'
        f'<video id="remote" autoplay playsinline aria-label="{escape(t("video_remote", lang))}"></video>\n'
        f'<video id="local" autoplay playsinline muted aria-label="{escape(t("video_local", lang))}"></video>\n'
        "</div>\n"
        '<div class="controls">\n'
        f'<button id="start" type="button">{escape(t("video_start", lang))}</button>\n'
        f'<button id="switch" type="button" hidden>{escape(t("video_switch", lang))}</button>\n'
        f'<button id="mute" type="button" aria-pressed="true" hidden>{escape(t("video_mic_on", lang))}</button>\n'
        f'<button id="end" type="button" class="danger" hidden>{escape(t("video_end", lang))}</button>\n'
        "</div>\n</section>\n"
        f'<script type="application/json" id="texts">{_texts_json(lang)}</script>\n'
        '<script type="module" src="/static/video-caller.js"></script>\n'
    )
    return _page(t("video_title", lang), body, lang, token, state="idle")


def busy_page(token: str, lang: Lang) -> str:
    return _page(t("busy_title", lang), f"<p class=\"error\" role=\"alert\">{escape(t('busy_body', lang))}</p>\n",
                 lang, token)


def broken_page(token: str, lang: Lang) -> str:
    return _page(t("broken_title", lang), f"<p class=\"error\">{escape(t('broken_body', lang))}</p>\n", lang, token)
