"""This instance's hold on Asterisk: win the leader lease, keep the ARI event socket up,
dispatch events in order per channel to the call handler, resync after every reconnect,
and step down when the lease is lost or Asterisk says the application was replaced."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Protocol

from .ari.client import ApplicationReplacedError, AriClient
from .ari.dispatch import OrderedDispatcher
from .ari.models import Channel, Event
from .leader import LeaderLease

log = logging.getLogger("vardlinje.telephony")


class CallHandler(Protocol):
    async def on_event(self, event: Event) -> None: ...

    async def stand_down(self) -> None:
        """Leadership is lost (or the app stops): stop driving channels; the next leader adopts them."""
        ...

    async def resync(self, channels: list[Channel]) -> None:
        """Called after every (re)connect with Asterisk's channels: adopt the ones in our
        app that we lost track of, close the records of calls that ended meanwhile."""
        ...


class Telephony:
    def __init__(
        self,
        ari: AriClient,
        handler: CallHandler,
        lease: LeaderLease | None,
        *,
        renew_every: float = 3.0,
        replaced_hold_off: float = 30.0,
    ) -> None:
        self.ari = ari
        self.handler = handler
        self.lease = lease
        self.renew_every = renew_every
        self.replaced_hold_off = replaced_hold_off
        self.dispatcher = OrderedDispatcher(handler.on_event)
        self.is_leader = asyncio.Event()
        self.replaced_count = 0

    async def _resync(self) -> None:
        channels = await self.ari.channels()
        log.info("resync: %d channel(s) in Asterisk", len(channels))
        await self.handler.resync(channels)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop`: standby until leader, then connected until the lease is lost."""
        try:
            while not stop.is_set():
                if self.lease is not None and not await self._wait_for_lease(stop):
                    break
                self.is_leader.set()
                lost = asyncio.Event()
                renew = asyncio.create_task(self._keep_lease(lost, stop), name="leader-renew")
                session_stop = asyncio.Event()
                relay = asyncio.create_task(self._relay(session_stop, stop, lost), name="leader-relay")
                try:
                    await self.ari.run_events(self.dispatcher.submit, self._resync, session_stop)
                except ApplicationReplacedError:
                    self.replaced_count += 1
                    log.error(
                        "another connection took Stasis app %s; stepping down for %.0fs. Two instances "
                        "without a shared lease (same Redis) are connected to one Asterisk.",
                        self.ari.app, self.replaced_hold_off,
                    )
                    await self._release()
                    self.is_leader.clear()
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.replaced_hold_off)
                finally:
                    renew.cancel()
                    relay.cancel()
                    await asyncio.gather(renew, relay, return_exceptions=True)
                    self.is_leader.clear()
                    await self._stand_down()
                if lost.is_set():
                    log.warning("leader lease lost; standing by")
        finally:
            await self._release()
            await self.dispatcher.drain()
            await self.dispatcher.close()
            await self._stand_down()

    async def _release(self) -> None:
        if self.lease is not None:
            try:
                await self.lease.release()
            except Exception as exc:  # Redis down: the lease simply expires
                log.warning("leader lease release failed: %s", exc)

    async def _stand_down(self) -> None:
        try:
            await self.handler.stand_down()
        except Exception:
            log.exception("stand-down of the call handler failed")

    async def _relay(self, session_stop: asyncio.Event, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """End the event session when the app stops or the lease is lost."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            session_stop.set()
        finally:
            for w in waits:
                w.cancel()

    async def _wait_for_lease(self, stop: asyncio.Event) -> bool:
        assert self.lease is not None
        announced = False
        while not stop.is_set():
            try:
                if await self.lease.try_acquire():
                    return True
                if not announced:
                    log.info("standby: lease held by %s", await self.lease.holder_now())
                    announced = True
            except Exception as exc:  # Redis down: stay standby, try again
                log.warning("leader lease unavailable: %s", exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.renew_every)
        return False

    async def _keep_lease(self, lost: asyncio.Event, stop: asyncio.Event) -> None:
        if self.lease is None:
            return
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        while not stop.is_set():
            await asyncio.sleep(self.renew_every)
            try:
                held = await self.lease.renew()
            except Exception as exc:
                # Redis unreachable: keep serving calls until the lease would have expired
                # anyway (nobody else can take it before then), then step down.
                log.warning("leader lease renew failed: %s", exc)
                if loop.time() - renewed_at >= self.lease.ttl_ms / 1000:
                    lost.set()
                    return
                continue
            if not held:
                lost.set()
                return
            renewed_at = loop.time()
