"""The live configuration of one app instance: the current `VersionedDirectory`, reloaded from the
database when a change is announced on Redis (channel `vardlinje:config`), so every instance picks
up a change without a restart.

A call keeps the version it started with: the IVR takes `handler.directory` once per call, and a
reload only swaps in a new directory object (the old one is never changed).

Pub/sub is the fast path, not the only one: a message published while an instance was
disconnected is lost, so the listener reloads after every (re)subscribe and also compares the
stored version numbers every `poll_seconds`. Redis failures are logged and retried with growing
delays; they never stop the instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel import Session

from ivr.directory import ConfigDirectory
from vardlinje.db import Database
from vardlinje.pubsub import Follower

from . import store
from .loader import ConfigError, ConfigSet, default_directory
from .resolve import NATIONAL

log = logging.getLogger("vardlinje.config")

CHANNEL = "vardlinje:config"


class VersionedDirectory(ConfigDirectory):
    """A ConfigDirectory whose `version(region)` is that owner's stored version number (the
    national file's for calls of the national queue or of a region without its own file)."""

    def __init__(self, config: ConfigSet, versions: dict[str, int]) -> None:
        super().__init__(config)
        self.versions = dict(versions)

    def owner_of(self, region: str) -> str:
        return region if region in self.config.regions else NATIONAL

    def version(self, region: str) -> int | None:
        return self.versions.get(self.owner_of(region))


async def publish_change(redis: Redis, owner: str, version: int, *, channel: str = CHANNEL) -> bool:
    """Tell every instance that `owner` has a new version. False (logged) when Redis fails: the
    instances then find the change by polling."""
    try:
        await redis.publish(channel, json.dumps({"owner": owner, "version": version}))
        return True
    except (RedisError, OSError) as exc:
        log.warning("could not announce config change %s v%s on Redis (%s); instances will find it by polling",
                    owner, version, exc)
        return False


class LiveConfig:
    def __init__(self, db: Database, redis: Redis, *, recordings: Path | None = None,
                 on_change: Callable[[VersionedDirectory], None] | None = None, channel: str = CHANNEL,
                 poll_seconds: float = 30.0, max_backoff: float = 30.0) -> None:
        self.db = db
        self.redis = redis
        self.recordings = recordings if recordings is not None else default_directory()
        self.on_change = on_change
        self.channel = channel

        async def announced(data: str) -> None:
            log.debug("config change announced: %s", data)
            await self.reload()

        # Reloads on every announcement, after every (re)subscribe and every `poll_seconds`.
        self.follower = Follower(redis, channel, announced, self.reload, poll_seconds=poll_seconds,
                                 max_backoff=max_backoff, name="config listener")
        self.subscribed = self.follower.subscribed  # set while subscribed (tests wait on it)
        self.listen = self.follower.run
        self.cleanup_ctx = self.follower.cleanup_ctx
        self._directory: VersionedDirectory | None = None
        self._lock = asyncio.Lock()

    @property
    def directory(self) -> VersionedDirectory:
        if self._directory is None:
            raise RuntimeError("LiveConfig.load() has not run")
        return self._directory

    @property
    def versions(self) -> dict[str, int]:
        return dict(self._directory.versions) if self._directory is not None else {}

    def _build(self, s: Session) -> VersionedDirectory:
        cs, versions = store.load_current(s, self.recordings)
        return VersionedDirectory(cs, versions)

    async def load(self) -> VersionedDirectory:
        """Load the stored configuration; raises `ConfigError` when it has errors."""
        async with self._lock:
            self._directory = await self.db.run(self._build)
            return self._directory

    async def seed_and_load(self, directory: Path | None) -> VersionedDirectory:
        """First start: import the files when the database holds no configuration yet; then load.
        Later starts never re-import: the database is the truth."""
        def seed(s: Session) -> list[store.ConfigVersion]:
            return [] if store.current_numbers(s) else store.import_files(s, directory)

        added = await self.db.run(seed)
        if added:
            log.info("seeded the configuration database from %s (%d files)",
                     directory or default_directory(), len(added))
        return await self.load()

    async def reload(self) -> bool:
        """Load again if the stored versions changed. True when a new directory is in place. A
        stored set with errors (only possible by writing the table by hand) is logged and the
        current directory kept."""
        async with self._lock:
            numbers = await self.db.run(store.current_numbers)
            if self._directory is not None and numbers == self._directory.versions:
                return False
            try:
                fresh = await self.db.run(self._build)
            except ConfigError as exc:
                log.error("the stored configuration has errors; keeping versions %s:\n%s", self.versions, exc)
                return False
            old = self.versions
            self._directory = fresh
        changed = {o: v for o, v in fresh.versions.items() if old.get(o) != v}
        log.info("configuration reloaded: %s", ", ".join(f"{o} v{v}" for o, v in sorted(changed.items())))
        if self.on_change is not None:
            self.on_change(fresh)
        return True

    async def publish(self, owner: str, version: int) -> bool:
        return await publish_change(self.redis, owner, version, channel=self.channel)


