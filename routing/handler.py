"""The call handler of the running system: the IVR for callers, the offer driver for nurse legs and
bridged calls, one `telephony.runtime.CallHandler` for `Telephony`.

Order matters after a reconnect: routing adopts its bridged calls first, so the IVR does not take a
caller who is talking with a nurse back into the menu.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from ivr.calls import IvrHandler
from telephony.ari.models import Channel, Event

from .asterisk import OfferDriver

log = logging.getLogger("vardlinje.routing.handler")


class RoutedCallHandler:
    def __init__(self, ivr: IvrHandler, driver: OfferDriver, *,
                 on_connect: Sequence[Callable[[], Awaitable[object]]] = (),
                 after_connect: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        self.ivr = ivr
        self.driver = driver
        ivr.foreign_events = driver.on_ari_event  # nurse legs and adopted callers
        driver.dialplan_out = self._to_dialplan  # a nurse's transfer out goes through the IVR holding the caller
        self.on_connect = list(on_connect)  # at every (re)connect, before the calls are resynced
        self.after_connect = list(after_connect)  # … and after

    async def _to_dialplan(self, channel_id: str, why: str, context: str, extension: str) -> bool:
        """Send a queued or connected caller on in the dialplan through the IVR's executor, which stays
        subscribed to the channel: the contact's end (or its return after a failed transfer) still reaches
        the call record. False when no IVR flow holds the channel (a call adopted after a fail-over)."""
        call = self.ivr.calls.get(channel_id)
        if call is None:
            return False
        await call.io.leave_for(why, context, extension)
        return True

    async def on_event(self, event: Event) -> None:
        await self.ivr.on_event(event)

    async def stand_down(self) -> None:
        # The driver first: releasing the IVR's queued callers must not hang up bridged nurses.
        await self.driver.stand_down()
        await self.ivr.stand_down()

    async def resync(self, channels: list[Channel]) -> None:
        await self._run(self.on_connect)
        adopted = await self.driver.resync(channels)
        await self.ivr.resync(channels, skip=adopted)
        await self._run(self.after_connect)

    @staticmethod
    async def _run(hooks: Sequence[Callable[[], Awaitable[object]]]) -> None:
        for hook in hooks:
            try:
                await hook()
            except Exception:
                # Calls must still be taken care of; every step runs again at the next connect.
                log.exception("a connect step failed (%s)", getattr(hook, "__name__", hook))
