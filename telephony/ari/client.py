"""The ARI client: REST calls and the event WebSocket.

REST failures raise `AriError` subclasses naming method, path, status and Asterisk's
message. `run_events` keeps the event WebSocket up: on a drop it reconnects with growing,
jittered delays and calls `on_connected` (the resync) after every successful connect, since
events were lost while the socket was down. `ApplicationReplaced` ends the loop for good:
another instance owns the application now and reconnecting would steal it back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from .backoff import backoff_delay
from .errors import AriError, AriUnavailable, error_for
from .models import (
    ApplicationReplaced,
    AsteriskInfo,
    Bridge,
    Channel,
    Event,
    Playback,
    parse_event,
)

log = logging.getLogger("vardlinje.ari")

EventSink = Callable[[Event], None]
OnConnected = Callable[[], Awaitable[None]]


class ApplicationReplacedError(Exception):
    """Another WebSocket took over the Stasis application; this instance must step down."""


class AriClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        request_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._auth = aiohttp.encode_basic_auth(username, password)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self.connected = asyncio.Event()
        self.connects = 0  # successful WebSocket connects, for logs and tests

    # -- REST ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self.base_url}/ari{path}"
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers={"Authorization": self._auth},
                timeout=self._timeout,
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise error_for(method, path, resp.status, _message(text) or resp.reason or "")
                if not text:
                    return None
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            # Connection refused/reset, a broken response, or a closed session.
            raise AriUnavailable(method, path, 0, str(exc) or type(exc).__name__) from exc
        except ValueError as exc:
            raise AriError(method, path, 0, f"Asterisk answered something that is not JSON: {exc}") from exc

    async def asterisk_info(self) -> AsteriskInfo:
        return AsteriskInfo.model_validate(await self.request("GET", "/asterisk/info"))

    async def channels(self) -> list[Channel]:
        return [Channel.model_validate(c) for c in await self.request("GET", "/channels")]

    async def bridges(self) -> list[Bridge]:
        return [Bridge.model_validate(b) for b in await self.request("GET", "/bridges")]

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.model_validate(await self.request("GET", f"/channels/{quote(channel_id)}"))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{quote(channel_id)}/ring")

    async def play(self, channel_id: str, media: str, *, playback_id: str | None = None) -> Playback:
        path = f"/channels/{quote(channel_id)}/play"
        if playback_id:
            path += f"/{quote(playback_id)}"
        return Playback.model_validate(await self.request("POST", path, params={"media": media}))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{quote(channel_id)}", params={"reason": reason})

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str = "s", priority: int = 1) -> None:
        await self.request(
            "POST",
            f"/channels/{quote(channel_id)}/continue",
            params={"context": context, "extension": extension, "priority": str(priority)},
        )

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST", f"/channels/{quote(channel_id)}/variable", params={"variable": name, "value": value}
        )

    async def subscribe(self, event_source: str) -> None:
        """Keep receiving a resource's events (e.g. "channel:ID") after it leaves the Stasis app."""
        await self.request("POST", f"/applications/{quote(self.app)}/subscription", params={"eventSource": event_source})

    async def put_dynamic_object(
        self, config_class: str, object_type: str, object_id: str, fields: dict[str, str]
    ) -> dict[str, str]:
        """Create or update a configuration object (e.g. res_pjsip endpoint) at run time.

        Needs sorcery.conf to map the object type to a writable store (astdb); returns the
        object's fields as Asterisk now holds them."""
        body = {"fields": [{"attribute": k, "value": v} for k, v in fields.items()]}
        path = f"/asterisk/config/dynamic/{quote(config_class)}/{quote(object_type)}/{quote(object_id)}"
        result = await self.request("PUT", path, body=body)
        return {f["attribute"]: f["value"] for f in result or []}

    async def get_dynamic_object(self, config_class: str, object_type: str, object_id: str) -> dict[str, str]:
        path = f"/asterisk/config/dynamic/{quote(config_class)}/{quote(object_type)}/{quote(object_id)}"
        return {f["attribute"]: f["value"] for f in await self.request("GET", path) or []}

    async def delete_dynamic_object(self, config_class: str, object_type: str, object_id: str) -> None:
        path = f"/asterisk/config/dynamic/{quote(config_class)}/{quote(object_type)}/{quote(object_id)}"
        await self.request("DELETE", path)

    # -- events -------------------------------------------------------------------------

    def events_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = f"app={quote(self.app)}&subscribeAll=false"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ari/events", query, ""))

    async def run_events(self, sink: EventSink, on_connected: OnConnected, stop: asyncio.Event) -> None:
        """Keep the event WebSocket up until `stop` is set.

        Raises ApplicationReplacedError when Asterisk gave the application to another
        connection. `sink` must not block: it hands events to the ordered dispatcher.
        """
        attempt = 0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                async with self._session.ws_connect(
                    self.events_url(), headers={"Authorization": self._auth}, heartbeat=20.0
                ) as ws:
                    self.connects += 1
                    connected_at = loop.time()
                    log.info("ARI events connected app=%s connects=%d", self.app, self.connects)
                    await on_connected()
                    self.connected.set()
                    await self._read(ws, sink, stop)
                    # Only a connection that lasted resets the backoff: one that Asterisk
                    # accepts and drops at once must not make us reconnect in a tight loop.
                    if loop.time() - connected_at > 5.0:
                        attempt = 0
            except ApplicationReplacedError:
                self.connected.clear()
                raise
            except aiohttp.WSServerHandshakeError as exc:
                log.warning("ARI events refused app=%s status=%s: %s", self.app, exc.status, exc.message)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ARI events unreachable app=%s: %s", self.app, exc or type(exc).__name__)
            except AriUnavailable as exc:
                log.warning("ARI resync failed app=%s: %s", self.app, exc)
            except Exception:
                # A bug or a database error in the resync must not end the connection loop
                # for good: log it and treat it as a failed session.
                log.exception("ARI session failed app=%s", self.app)
            self.connected.clear()
            if stop.is_set():
                break
            delay = backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_cap)
            attempt += 1
            log.info("ARI events reconnect in %.2fs (attempt %d) app=%s", delay, attempt, self.app)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, sink: EventSink, stop: asyncio.Event) -> None:
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if stop_wait in done:
                    receive.cancel()
                    await ws.close()
                    return
                msg = receive.result()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = parse_event(json.loads(msg.data))
                    except ValueError as exc:  # BadEvent included
                        log.error("ARI sent an event we cannot read, skipped: %s", exc)
                        continue
                    if isinstance(event, ApplicationReplaced):
                        log.warning("ARI application %s was taken by another connection; stepping down", self.app)
                        await ws.close()
                        raise ApplicationReplacedError(self.app)
                    sink(event)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    log.warning("ARI events closed by Asterisk app=%s", self.app)
                    return
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("ARI events error app=%s: %s", self.app, ws.exception())
                    return
        finally:
            stop_wait.cancel()


def _message(text: str) -> str:
    """Asterisk answers errors as {"message": "..."} or {"error": "..."}; fall back to the body."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return text.strip()[:300]
