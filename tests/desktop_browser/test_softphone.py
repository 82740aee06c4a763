"""The nurse's softphone end to end: JsSIP in headless Chromium registers over the WebSocket
transport to a WebRTC endpoint pushed into the real Asterisk 22, answers a call, carries audio
both ways (DTLS-SRTP), sends DTMF, hangs up; and warns, reconnects and registers again when the
WebSocket is lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from agents import provision
from telephony.ari.client import AriClient
from telephony.ari.errors import AriNotFound
from telephony.asterisk.private import PrivateAsterisk

from ..agents.test_provision import FakeNurse

pytestmark = pytest.mark.asterisk




async def _webrtc_nurse(ari: AriClient) -> FakeNurse:
    nurse = FakeNurse(f"nurse-b{secrets.token_hex(4)}", secrets.token_urlsafe(24))
    await provision.push(ari, nurse, "ws")
    # Media on 127.0.0.1 only (tests never send traffic off the loopback; it also avoids the
    # per-call DNS lookup of an RTP socket bound to 0.0.0.0, see FACTS). PUT updates in place.
    await ari.put_dynamic_object("res_pjsip", "endpoint", nurse.endpoint,
                                 {"media_address": "127.0.0.1", "bind_rtp_to_media_address": "yes"})
    return nurse


def _phone_config(ws_url: str, nurse: FakeNurse, **extra: Any) -> dict[str, Any]:
    return {"server": ws_url, "user": nurse.endpoint, "password": nurse.sip_secret, "domain": "127.0.0.1",
            "autoAnswer": True, "iceServers": [], **extra}


async def _open_phone(chromium: Any, url: str, config: dict[str, Any]) -> Any:
    page = await chromium.new_page()
    page.on("console", lambda m: m.type in ("error", "warning") and print(f"[browser {m.type}] {m.text}"))
    await page.goto(url)
    await page.wait_for_function("window.softphoneLoaded === true", timeout=5000)
    await page.evaluate("config => window.makePhone(config)", config)
    return page


async def _wait_page(page: Any, expression: str, what: str, timeout: float = 10.0) -> None:
    try:
        await page.wait_for_function(expression, timeout=timeout * 1000, polling=100)
    except Exception as exc:
        events = await page.evaluate("JSON.stringify(window.events)")
        raise AssertionError(f"timed out waiting for {what}; page events: {events}") from exc


async def _wait_stats(page: Any, ok: Any, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the call's getStats counters until `ok(stats)`."""
    stats: dict[str, Any] = {}
    for _ in range(int(timeout / 0.2)):
        stats = await page.evaluate("window.phone.stats()")
        if ok(stats):
            return stats
        await asyncio.sleep(0.2)
    raise AssertionError(f"call counters never reached the goal in {timeout} s: {stats}")


class Events:
    """The Stasis application's event WebSocket, raw JSON events in a queue."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def wait(self, kind: str, channel_id: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        for old in self.seen:
            if self._matches(old, kind, channel_id, fields):
                return old
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, f"ARI events socket: {msg}"
                event: dict[str, Any] = json.loads(msg.data)
                self.seen.append(event)
                if self._matches(event, kind, channel_id, fields):
                    return event

    @staticmethod
    def _matches(event: dict[str, Any], kind: str, channel_id: str, fields: dict[str, Any]) -> bool:
        return (event.get("type") == kind and event.get("channel", {}).get("id") == channel_id
                and all(event.get(k) == v for k, v in fields.items()))


@contextlib.asynccontextmanager
async def stasis_events(asterisk: PrivateAsterisk, ari: AriClient) -> AsyncIterator[Events]:
    auth = aiohttp.encode_basic_auth(asterisk.config.ari_user, asterisk.config.ari_password)
    async with aiohttp.ClientSession() as http, http.ws_connect(ari.events_url(), headers={"Authorization": auth}) as ws:
        yield Events(ws)


@pytest.mark.parametrize(("formats", "codec"), [("opus", "audio/opus"), ("ulaw", "audio/PCMU")])
async def test_softphone_registers_answers_with_audio_both_ways_dtmf_and_hangs_up(
    asterisk: PrivateAsterisk, ari: AriClient, chromium: Any, softphone_page_url: str, formats: str, codec: str
) -> None:
    """The call leg's codec is what Asterisk offers (opus for a browser-to-browser path, G.711
    when the caller's trunk is G.711 and no transcoding is wanted); both must carry audio."""
    nurse = await _webrtc_nurse(ari)
    ws_url = f"ws://127.0.0.1:{asterisk.config.http_port}/ws"
    page = await _open_phone(chromium, softphone_page_url, _phone_config(ws_url, nurse))
    try:
        await _wait_page(page, "window.phone.registered", "the REGISTER to succeed")
        contacts = asterisk.cli("pjsip show contacts")
        assert f"{nurse.endpoint}/sip:" in contacts, contacts

        async with stasis_events(asterisk, ari) as events:
            # A call to the nurse's phone, handed to our Stasis app when she answers.
            channel = await ari.request("POST", "/channels", params={
                "endpoint": f"PJSIP/{nurse.endpoint}", "app": ari.app, "callerId": "Test <0701234567>",
                "timeout": "15", "formats": formats})
            channel_id = channel["id"]
            await events.wait("StasisStart", channel_id)
            incoming = await page.evaluate("window.events.find(e => e.name === 'incoming')")
            assert incoming["detail"]["from"] == "0701234567", incoming
            await _wait_page(page, "window.events.some(e => e.name === 'confirmed')", "the call to be confirmed")
            # Asterisk plays a steady tone to the nurse; her fake microphone beeps back.
            await ari.request("POST", f"/channels/{channel_id}/play", params={"media": "tone:dial;tonezone=se"})

            stats = await _wait_stats(page, lambda s: s["packetsReceived"] > 20 and s["packetsSent"] > 20)
            assert stats["dtls"] == "connected", stats
            # Media stays on the loopback interface: Chromium's end of the selected pair is
            # 127.0.0.1 (Asterisk's RTP socket is bound there; its ICE offer names the host's
            # interface address, so Chromium sees Asterisk's end as peer-reflexive).
            assert stats["localAddress"].startswith("127.0.0.1:"), stats
            assert stats["codec"] == codec, stats
            rtp = await ari.request("GET", f"/channels/{channel_id}/rtp_statistics")
            assert rtp["rxcount"] > 0 and rtp["txcount"] > 0, rtp  # Asterisk's side agrees

            assert await page.evaluate("window.phone.sendDTMF('5')") is True
            await events.wait("ChannelDtmfReceived", channel_id, digit="5")

            await page.evaluate("window.phone.hangup()")
            await events.wait("StasisEnd", channel_id)
            # StasisEnd comes before the channel is destroyed: give Asterisk a moment under load.
            for _ in range(50):
                try:
                    await ari.get_channel(channel_id)
                except AriNotFound:
                    break
                await asyncio.sleep(0.1)
            with pytest.raises(AriNotFound):
                await ari.get_channel(channel_id)
            await _wait_page(page, "window.events.some(e => e.name === 'ended') && !window.phone.inCall",
                             "the page to end the call")
            ended = await page.evaluate("window.events.find(e => e.name === 'ended')")
            assert ended["detail"]["originator"] == "local", ended
    finally:
        await page.close()
        await provision.remove(ari, nurse.endpoint)


class DroppableProxy:
    """A TCP relay between the browser and Asterisk's HTTP port: `drop()` cuts every connection
    and stops listening (the nurse's network is gone), `restore()` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def drop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def restore(self) -> None:
        await self.start()


async def test_softphone_warns_on_network_loss_and_registers_again(
    asterisk: PrivateAsterisk, ari: AriClient, chromium: Any, softphone_page_url: str
) -> None:
    nurse = await _webrtc_nurse(ari)
    proxy = DroppableProxy(asterisk.config.http_port)
    await proxy.start()
    config = _phone_config(f"ws://127.0.0.1:{proxy.port}/ws", nurse, recovery={"min": 1, "max": 2})
    page = await _open_phone(chromium, softphone_page_url, config)
    try:
        await _wait_page(page, "window.phone.registered", "the first REGISTER")
        assert await page.evaluate("window.phone.warning") is None

        await proxy.drop()
        await _wait_page(page, "window.phone.warning === 'disconnected'", "the network-loss warning")
        assert await page.evaluate("window.phone.state") == "disconnected"
        assert await page.text_content("#warning") == "disconnected"
        await asyncio.sleep(1.5)  # JsSIP's reconnect attempts fail while the network is down
        assert await page.evaluate("window.phone.registered") is False

        await proxy.restore()
        await _wait_page(page, "window.phone.registered && window.phone.warning === null",
                         "the automatic reconnect and REGISTER", timeout=15)
        names = await page.evaluate("window.events.filter(e => e.name === 'warning').map(e => e.detail.warning)")
        assert names == ["disconnected", None], names
        registered = await page.evaluate("window.events.filter(e => e.name === 'registered').length")
        assert registered == 2
        assert f"{nurse.endpoint}/sip:" in asterisk.cli("pjsip show contacts")

        # The browser itself says the network is gone: warned at once, cleared when back.
        await page.context.set_offline(True)
        await _wait_page(page, "window.phone.warning === 'network-offline'", "the offline warning")
        await page.context.set_offline(False)
        await _wait_page(page, "window.phone.registered && window.phone.warning === null",
                         "the warning to clear when back online", timeout=15)
    finally:
        await page.close()
        await proxy.drop()
        await provision.remove(ari, nurse.endpoint)
