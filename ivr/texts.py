"""What callers hear, in Swedish first. Rendered to audio by telephony.prompts."""

from __future__ import annotations

PROMPTS: dict[str, dict[str, str]] = {
    # Played by the dialplan itself when the app cannot take the call (see render.py).
    "fallback-retry": {
        "sv": "Vi har just nu ett tekniskt fel. Vänta kvar, vi försöker koppla ditt samtal igen.",
        "en": "We have a technical problem right now. Please hold, we are trying to connect your call again.",
    },
    "fallback-final": {
        "sv": "Vi kan tyvärr inte ta emot ditt samtal just nu. Ring gärna igen om en stund. "
        "Om det är livshotande, ring ett ett två.",
        "en": "Sorry, we cannot take your call right now. Please call again in a while. "
        "In a life-threatening emergency, call one one two.",
    },
    "transfer-failed": {
        "sv": "Det gick inte att koppla samtalet vidare. Du kopplas i stället till en sjuksköterska.",
        "en": "We could not transfer your call. You will be connected to a nurse instead.",
    },
}

# The dialplan needs these even while the app is down, so they are rendered before Asterisk starts.
DIALPLAN_PROMPTS = ("fallback-retry", "fallback-final", "transfer-failed")
