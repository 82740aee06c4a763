"""The client's address behind a trusted proxy, and only behind a trusted one."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from vardlinje.forwarded import client_address, forwarded_middleware, parse_networks
from vardlinje.settings import SettingsError, load_settings

PROXIES = parse_networks(["127.0.0.1/32", "10.0.0.0/24"])


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),                  # one trusted proxy
    ("127.0.0.1", "198.51.100.7, 10.0.0.3", "198.51.100.7"),      # two proxies: read from the right
    ("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),       # a forged left part is ignored
    ("192.0.2.1", "203.0.113.5", "192.0.2.1"),                    # untrusted peer: header ignored
    ("127.0.0.1", None, "127.0.0.1"),                             # no header
    ("127.0.0.1", "not-an-address", "127.0.0.1"),                 # garbage: the peer
    ("127.0.0.1", "10.0.0.4", "127.0.0.1"),                       # only proxies: the peer
])
def test_client_address(peer: str, header: str | None, expected: str) -> None:
    """X-Forwarded-For is believed only from trusted proxies, from the right."""
    assert client_address(peer, header, PROXIES) == expected


async def test_middleware_sets_request_remote() -> None:
    """Handlers (and identity's throttling) see the client, not the proxy."""
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.remote or "")

    app = web.Application(middlewares=[forwarded_middleware(["127.0.0.1/32"])])
    app.router.add_get("/", echo)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/", headers={"X-Forwarded-For": "203.0.113.5"})
        assert await resp.text() == "203.0.113.5"


def test_bad_trusted_proxy_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy entry that is not an address is refused at start, by its setting's name."""
    monkeypatch.setenv("VARDLINJE_HTTP__TRUSTED_PROXIES", '["proxy.local"]')
    with pytest.raises(SettingsError, match="VARDLINJE_HTTP__TRUSTED_PROXIES"):
        load_settings()
