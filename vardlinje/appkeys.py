"""Typed keys of the aiohttp application's state: the only shared state the app has."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from routing.control import CallControl
from routing.live import LiveRouting
from telephony.runtime import Telephony

from .db import Database
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REDIS = web.AppKey("redis", Redis)
TELEPHONY = web.AppKey("telephony", Telephony)
ROUTING = web.AppKey("routing", LiveRouting)
#: The nurse's call control (transfers) on the instance that runs telephony with routing (desktop/calls.py).
CALL_CONTROL = web.AppKey("call_control", CallControl)
