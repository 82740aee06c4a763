"""The ARI executor: `FlowIO` on the real Asterisk for one caller's channel.

Prompts are text rendered to audio on first use (cached by content hash) and played with
ARI; the first key interrupts a prompt (barge-in); keys arrive as ChannelDtmfReceived events,
which the call handler feeds in with `on_dtmf`. A hang-up wakes every wait with CallerHungUp.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound
from telephony.media import PromptStore

from .flow import CallerHungUp
from .handover import Router, RouteRequest
from .model import Prompt

log = logging.getLogger("vardlinje.ivr.ari")

SendSms = Callable[[str, str, str], Awaitable[bool]]  # (call id, to, body) → sent
T = TypeVar("T")


class AriFlowIO:
    def __init__(
        self,
        ari: AriClient,
        channel_id: str,
        prompts: PromptStore,
        router: Router,
        send_sms: SendSms,
        *,
        call_id: str,
        transfer_context: str = "vardlinje-transfer",
    ) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.prompts = prompts
        self.router = router
        self._send_sms = send_sms
        self.call_id = call_id
        self.transfer_context = transfer_context
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._playbacks: dict[str, asyncio.Event] = {}
        self._gone = asyncio.Event()
        self.owner = "national"  # whose recordings the prompts use: the call's region once known
        self.left_for: str | None = None  # "transfer" / "fallback": the channel went on in the dialplan

    # -- events from the call handler ------------------------------------------------------

    def on_dtmf(self, digit: str) -> None:
        self._keys.put_nowait(digit)

    def on_playback_finished(self, playback_id: str) -> None:
        done = self._playbacks.get(playback_id)
        if done is not None:
            done.set()

    def on_hangup(self) -> None:
        self._gone.set()

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    # -- FlowIO ----------------------------------------------------------------------------

    async def play(self, prompt: Prompt, language: str) -> None:
        playback_id, seconds = await self._start(prompt, language)
        try:
            await self._wait(self._finished(playback_id, seconds))
        except asyncio.CancelledError:
            # Stopped from outside (the nurse answered): end the prompt in Asterisk too, or the
            # caller hears it out and the bridge waits behind it.
            await asyncio.shield(self._stop(playback_id))
            raise
        finally:
            self._playbacks.pop(playback_id, None)

    async def collect(
        self, prompt: Prompt | None, language: str, *, max_digits: int, timeout: float, terminator: str
    ) -> str:
        keys = ""
        if prompt is not None:
            playback_id, seconds = await self._start(prompt, language)
            first = asyncio.ensure_future(self._keys.get())
            ended = asyncio.ensure_future(self._finished(playback_id, seconds))
            try:
                await self._wait(asyncio.wait({first, ended}, return_when=asyncio.FIRST_COMPLETED))
                if first.done():
                    keys = first.result()
                    await self._stop(playback_id)  # barge-in: a key ends the prompt
            finally:
                ended.cancel()
                if not first.done():
                    first.cancel()
                self._playbacks.pop(playback_id, None)
        while len(keys) < max_digits and not (terminator and keys.endswith(terminator)):
            try:
                keys += await self._wait(asyncio.wait_for(self._keys.get(), timeout))
            except TimeoutError:
                break
        return keys

    async def send_sms(self, to: str, body: str) -> bool:
        return await self._send_sms(self.call_id, to, body)

    async def queue(self, request: RouteRequest) -> None:
        status = await self.router.enqueue(request)
        log.info("call=%s channel=%s queued: position %d, estimated wait %s s", self.call_id, self.channel_id,
                 status.position, status.estimated_wait_seconds)

    async def transfer(self, number: str) -> None:
        # Stay subscribed: the contact's end (or its return after a failed transfer) must still
        # reach the call record once the channel has left the app.
        await self.leave_for("transfer", self.transfer_context, number)

    async def leave_for(self, why: str, context: str, extension: str) -> None:
        """Send the channel on in the dialplan. Stay subscribed to it: the contact's end (or
        its return to the app) must still reach the call record once it has left the app."""
        try:
            await self.ari.subscribe(f"channel:{self.channel_id}")
        except AriError as exc:
            log.warning("call=%s channel=%s cannot follow the channel in the dialplan: %s", self.call_id,
                        self.channel_id, exc)
        self.left_for = why
        try:
            await self.ari.continue_in_dialplan(self.channel_id, context, extension)
        except AriError:
            self.left_for = None  # still here: its end is an ordinary end, not a transfer
            raise

    async def hangup(self) -> None:
        try:
            await self.ari.hangup(self.channel_id, "normal")
        except AriNotFound:
            pass

    # -- helpers ---------------------------------------------------------------------------

    async def _start(self, prompt: Prompt, language: str) -> tuple[str, float]:
        if self.gone:
            raise CallerHungUp()
        uri, seconds = await asyncio.to_thread(self.prompts.uri_and_length, prompt, language, self.owner)
        playback_id = uuid.uuid4().hex
        self._playbacks[playback_id] = asyncio.Event()
        try:
            await self.ari.play(self.channel_id, uri, playback_id=playback_id)
        except AriNotFound as exc:
            raise CallerHungUp() from exc
        except asyncio.CancelledError:
            self._playbacks.pop(playback_id, None)
            await asyncio.shield(self._stop(playback_id))  # the request may have reached Asterisk
            raise
        return playback_id, seconds

    async def _finished(self, playback_id: str, seconds: float) -> None:
        """Until PlaybackFinished, or the prompt's length plus a margin: an event lost while
        the event socket was down must not leave the caller in silence."""
        try:
            await asyncio.wait_for(self._playbacks[playback_id].wait(), seconds + 5)
        except TimeoutError:
            log.warning("call=%s channel=%s no PlaybackFinished for %s; going on", self.call_id, self.channel_id,
                        playback_id)

    async def _stop(self, playback_id: str) -> None:
        try:
            await self.ari.request("DELETE", f"/playbacks/{playback_id}")
        except AriNotFound:
            pass  # it had just finished
        except AriError as exc:
            log.warning("call=%s channel=%s playback %s could not be stopped: %s", self.call_id, self.channel_id,
                        playback_id, exc)

    async def _wait(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless the caller hangs up first."""
        task = asyncio.ensure_future(awaitable)
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()  # cancelled from outside (the nurse answered): nothing waits on in the background
            raise
        finally:
            gone.cancel()
        if not task.done():
            task.cancel()
            raise CallerHungUp()
        return task.result()
