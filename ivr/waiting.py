"""The wait-announcement player: music, the caller's place in the queue and the estimated
wait, repeated at an interval. Routing starts it when it queues a call and stops it when the
nurse answers; stopping ends the current playback at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from telephony.ari.errors import AriNotFound

from .flow import CallerHungUp
from .handover import QueueStatus
from .model import Prompt

log = logging.getLogger("vardlinje.ivr.waiting")

Play = Callable[[Prompt, str], Awaitable[None]]
Status = Callable[[], Awaitable[QueueStatus]]

MUSIC = Prompt(recording="music")


def announcement(status: QueueStatus) -> Prompt:
    """What a waiting caller hears about their place and wait (Swedish and English)."""
    sv = f"Du är nummer {status.position} i kön."
    en = f"You are number {status.position} in the queue."
    if status.estimated_wait_seconds is not None:
        minutes = max(1, round(status.estimated_wait_seconds / 60))
        sv += f" Beräknad väntetid är {'en minut' if minutes == 1 else f'{minutes} minuter'}."
        en += f" The estimated wait is {'one minute' if minutes == 1 else f'{minutes} minutes'}."
    sv += " Vänta kvar, så svarar en sjuksköterska så snart som möjligt."
    en += " Please hold, a nurse will answer as soon as possible."
    return Prompt(text={"sv": sv, "en": en})


class WaitPlayer:
    def __init__(self, play: Play, status: Status, language: str, *, music: Prompt = MUSIC,
                 interval_rounds: int = 1) -> None:
        self._play = play
        self._status = status
        self.language = language
        self.music = music
        self.interval_rounds = interval_rounds
        self._task: asyncio.Task[None] | None = None
        self.announcements = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="wait-announcements")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self._play(announcement(await self._status()), self.language)
                self.announcements += 1
                for _ in range(self.interval_rounds):
                    await self._play(self.music, self.language)
            except asyncio.CancelledError:
                raise
            except (CallerHungUp, AriNotFound):
                return
            except Exception:
                # A waiting caller must not end up in silence because one round failed.
                log.exception("wait announcements failed; trying again")
                await asyncio.sleep(1.0)
