"""Push nurses' softphone endpoints to Asterisk through ARI's dynamic configuration.

Each nurse gets three res_pjsip objects named after her endpoint (`nurse-<id>`): an `auth`
(digest username = endpoint name, password = her SIP secret), an `aor` (one contact; a new
registration replaces the old one, so a reloaded browser tab takes over at once) and an
`endpoint`. sorcery.conf maps these types to astdb, so they survive an Asterisk restart; the
registry stays the truth and `sync_all` re-pushes everything at start (PUT is create-or-update,
so it is idempotent).

Two variants: "ws" (the browser softphone: WebSocket transport, webrtc=yes → DTLS-SRTP, ICE,
AVPF, rtcp-mux; opus with G.711 beside it) and "udp" (plain SIP/RTP, for sipp playing the
nurse's phone in tests, or a desk phone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound, AriUnavailable
from vardlinje.db import Database

from .service import nurses

log = logging.getLogger("vardlinje.agents.provision")

Transport = Literal["ws", "udp"]
CONFIG_CLASS = "res_pjsip"
NURSE_CONTEXT = "from-nurses"
# Create in this order (the endpoint names its aor and auth), remove in the reverse.
KINDS = ("auth", "aor", "endpoint")


class NurseEndpoint(Protocol):
    """What provisioning needs of a nurse (agents.models.Nurse has it)."""

    @property
    def endpoint(self) -> str: ...

    @property
    def sip_secret(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def phone(self) -> str: ...


def endpoint_fields(name: str, transport: Transport = "ws", *, media_address: str | None = None) -> dict[str, str]:
    """The endpoint object's fields for either variant."""
    fields = {
        "aors": name,
        "auth": name,
        "context": NURSE_CONTEXT,
        "disallow": "all",
        "direct_media": "no",  # media stays in Asterisk: recording, transcoding, the caller's bridge
        "rtp_timeout": "30",  # a vanished browser must not hold a call open
    }
    if transport == "ws":
        fields.update({"transport": "transport-ws", "webrtc": "yes", "allow": "opus,ulaw,alaw"})
    else:
        fields.update({
            "transport": "transport-udp", "webrtc": "no", "media_encryption": "no", "allow": "alaw,ulaw",
            "rtp_symmetric": "yes", "force_rport": "yes", "rewrite_contact": "yes",
            # sipp's scripted UAS would have to answer the UPDATE/re-INVITE a connected-line update sends.
            "send_connected_line": "no",
        })
        if media_address:
            fields.update({"media_address": media_address, "bind_rtp_to_media_address": "yes"})
    return fields


def objects(name: str, secret: str, transport: Transport = "ws", *,
            media_address: str | None = None) -> dict[str, dict[str, str]]:
    """kind → fields of the three objects, in creation order."""
    return {
        "auth": {"auth_type": "userpass", "username": name, "password": secret},
        "aor": {"max_contacts": "1", "remove_existing": "yes"},
        "endpoint": endpoint_fields(name, transport, media_address=media_address),
    }


def _explained(exc: AriError, name: str, kind: str, action: str) -> AriError:
    """The same error type (callers may tell AriUnavailable apart), with what was being done."""
    hint = ""
    if exc.status == 403:
        hint = " (is res_pjsip's " + kind + " mapped to a writable sorcery store such as astdb in sorcery.conf?)"
    elif exc.status == 400:
        hint = " (Asterisk refused a field value or the object type)"
    message = f"could not {action} {kind} of nurse endpoint {name}: {exc.message}{hint}"
    return type(exc)(exc.method, exc.path, exc.status, message)


async def push(ari: AriClient, nurse: NurseEndpoint, transport: Transport = "ws", *,
               media_address: str | None = None) -> dict[str, str]:
    """Create or update the nurse's auth, aor and endpoint; returns the endpoint as Asterisk holds it."""
    result: dict[str, str] = {}
    for kind, fields in objects(nurse.endpoint, nurse.sip_secret, transport, media_address=media_address).items():
        try:
            result = await ari.put_dynamic_object(CONFIG_CLASS, kind, nurse.endpoint, fields)
        except AriError as exc:
            raise _explained(exc, nurse.endpoint, kind, "push") from exc
    log.info("pushed nurse endpoint %s (%s)", nurse.endpoint, transport)
    return result


async def remove(ari: AriClient, name: str) -> bool:
    """Remove a nurse's endpoint, aor and auth; objects already gone are fine. True if any existed.
    A registration she still holds lapses with it: no call can reach or come from the endpoint."""
    existed = False
    for kind in reversed(KINDS):
        try:
            await ari.delete_dynamic_object(CONFIG_CLASS, kind, name)
            existed = True
        except AriNotFound:
            continue
        except AriError as exc:
            raise _explained(exc, name, kind, "remove") from exc
    if existed:
        log.info("removed nurse endpoint %s", name)
    return existed


@dataclass(frozen=True)
class SyncResult:
    pushed: list[str]
    removed: list[str]
    failed: list[str]  # refused by Asterisk (the error is logged); the others went on


def transport_of(nurse: NurseEndpoint) -> Transport:
    return "udp" if nurse.phone == "udp" else "ws"


async def sync_all(ari: AriClient, nurses: Iterable[NurseEndpoint], transport: Transport | None = None) -> SyncResult:
    """Make Asterisk match the registry: push every active nurse (for her kind of phone, unless
    `transport` says otherwise), remove every inactive one. Safe at every start and ARI reconnect."""
    pushed: list[str] = []
    removed: list[str] = []
    failed: list[str] = []
    for nurse in nurses:
        try:
            if nurse.active:
                await push(ari, nurse, transport or transport_of(nurse))
                pushed.append(nurse.endpoint)
            elif await remove(ari, nurse.endpoint):
                removed.append(nurse.endpoint)
        except AriUnavailable:
            raise  # Asterisk is gone: the next connect syncs again
        except AriError as exc:
            # One nurse's refused object must not keep the others' phones from working.
            log.error("nurse endpoint %s: %s", nurse.endpoint, exc)
            failed.append(nurse.endpoint)
    return SyncResult(pushed, removed, failed)


async def sync_registry(ari: AriClient, db: Database, transport: Transport | None = None) -> SyncResult:
    """`sync_all` over every nurse in the database (inactive ones too, so they are removed)."""
    rows = await db.run(lambda s: nurses(s, include_inactive=True))
    return await sync_all(ari, rows, transport)
