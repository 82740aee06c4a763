"""The client's real address behind a TLS proxy or load balancer.

Only when the direct peer is one of the configured trusted proxies is X-Forwarded-For read,
and then from the right: the first address that is not itself a trusted proxy is the client.
Everything that looks at `request.remote` (login throttling, logs) then sees the client, not
the proxy — otherwise every nurse behind the proxy would share one throttling bucket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_networks(entries: list[str]) -> list[IPv4Network | IPv6Network]:
    return [ip_network(entry, strict=False) for entry in entries]


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[IPv4Network | IPv6Network]) -> str | None:
    """The client address: pure, so the rule is easy to test at its edges."""
    def is_trusted(address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not trusted or peer is None or not is_trusted(peer) or not forwarded_for:
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ip_address(hop)
        except ValueError:
            return peer  # a garbled header is not evidence of anything
        if not is_trusted(hop):
            return hop
    return peer


def forwarded_middleware(trusted_entries: list[str]) -> Middleware:
    trusted = parse_networks(trusted_entries)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return middleware
