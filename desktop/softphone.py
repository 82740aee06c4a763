"""What the nurse's browser needs to register its softphone: the SIP WebSocket URL, her endpoint and
secret, and the STUN/TURN servers (docs/softphone.md, docs/remote-work.md).

Pure functions over the settings; the HTTP route (`GET /api/v1/desktop/softphone`) is in http.py and
hands this only to the nurse's own browser session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from vardlinje.settings import IceServer, Settings


def sip_ws_url(settings: Settings) -> str:
    """The configured URL, or the private Asterisk's own WebSocket transport (`/ws` on its HTTP server;
    `wss://` on its TLS port when the app serves TLS)."""
    if settings.softphone.sip_ws_url:
        return settings.softphone.sip_ws_url
    cfg = settings.asterisk
    if cfg.mode == "private" and cfg.tls_port is not None:
        # The browser checks the certificate against this name: the app's own (the same certificate
        # serves both), not Asterisk's bind address.
        host = urlsplit(settings.http.public_url).hostname or "127.0.0.1"
        return f"wss://{f'[{host}]' if ':' in host else host}:{cfg.tls_port}/ws"
    host = cfg.bind_address if cfg.mode == "private" else (urlsplit(cfg.ari_url).hostname or "127.0.0.1")
    if host in ("0.0.0.0", "::"):
        host = urlsplit(settings.http.public_url).hostname or "127.0.0.1"
    return f"ws://{host}:{cfg.http_port}/ws"


def sip_domain(settings: Settings) -> str:
    return settings.softphone.sip_domain or urlsplit(sip_ws_url(settings)).hostname or "127.0.0.1"


def turn_credentials(secret: str, user: str, now: datetime, ttl_seconds: int) -> tuple[str, str]:
    """coturn's `use-auth-secret` scheme (the TURN REST API draft): user name "EXPIRY:USER", password
    base64(HMAC-SHA1(secret, user name)). The server checks the HMAC and the expiry; nothing is stored."""
    username = f"{int(now.timestamp()) + ttl_seconds}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(servers: list[IceServer], user: str, now: datetime, ttl_seconds: int) -> list[dict[str, Any]]:
    """The RTCIceServer list for one nurse's browser."""
    result: list[dict[str, Any]] = []
    for server in servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        secret = server.secret.get_secret_value()
        if secret:
            entry["username"], entry["credential"] = turn_credentials(secret, user, now, ttl_seconds)
        elif server.username:
            entry["username"], entry["credential"] = server.username, server.credential.get_secret_value()
        result.append(entry)
    return result


def guest_ice_servers(servers: list[IceServer], user: str, now: datetime, ttl_seconds: int) -> list[dict[str, Any]]:
    """The RTCIceServer list for a stranger's browser (the caller's video page): STUN, and TURN only with
    credentials minted for `ttl_seconds` — a fixed TURN account's password is never handed to a link holder."""
    return [entry for server, entry in zip(servers, ice_servers(servers, user, now, ttl_seconds), strict=True)
            if server.secret.get_secret_value() or not server.username]
