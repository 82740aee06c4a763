"""Nurse endpoints pushed to the real Asterisk 22 through ARI; sipp registers as the nurse's phone."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from agents import provision
from telephony.ari.client import AriClient
from telephony.ari.errors import AriError, AriNotFound, AriUnavailable
from telephony.asterisk.private import PrivateAsterisk
from telephony.sipp import PHONE_REGISTER

pytestmark = pytest.mark.asterisk

# The nurse's phone registers from 127.0.0.2: the private Asterisk identifies every SIP peer at
# 127.0.0.1 as the caller trunk (endpoint_identifier_order = ip,username), which would take the
# REGISTER away from the nurse's endpoint.
PHONE_IP = "127.0.0.2"



@dataclass
class FakeNurse:
    """What provisioning reads of a registry row (agents.models.Nurse), for tests that push endpoints."""

    endpoint: str
    sip_secret: str
    active: bool = True
    phone: str = "ws"


def _nurse() -> FakeNurse:
    return FakeNurse(f"nurse-t{secrets.token_hex(4)}", secrets.token_urlsafe(24))


def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def register(sipp: str, asterisk: PrivateAsterisk, user: str, password: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run sipp once as the nurse's phone: REGISTER, answer the 401 challenge, expect 200."""
    script = tmp / "register.xml"
    script.write_text(PHONE_REGISTER.format(user=user, password=password))
    errors = tmp / "errors.log"
    cmd = [sipp, f"127.0.0.1:{asterisk.config.sip_port}", "-sf", str(script), "-m", "1", "-l", "1",
           "-i", PHONE_IP, "-p", str(_free_port(PHONE_IP)), "-nostdin", "-timeout", "20s", "-timeout_error",
           "-trace_err", "-error_file", str(errors)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp)
    if done.returncode != 0 and errors.exists():
        done.stderr += errors.read_text(errors="replace")[-3000:]
    return done


@pytest.fixture
async def ari(asterisk: PrivateAsterisk) -> AsyncIterator[AriClient]:
    async with aiohttp.ClientSession() as http:
        yield AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password, "agents-test")


async def test_udp_endpoint_accepts_the_nurse_phone_registration(
    ari: AriClient, asterisk: PrivateAsterisk, sipp: str, tmp_path: Path
) -> None:
    """A pushed UDP endpoint takes sipp's REGISTER with the digest secret; the contact shows in
    `pjsip show contacts`; a wrong secret is refused; removing takes the endpoint away."""
    nurse = _nurse()
    fields = await provision.push(ari, nurse, "udp")
    assert fields["transport"] == "transport-udp" and fields["context"] == "from-nurses"

    done = await asyncio.to_thread(register, sipp, asterisk, nurse.endpoint, nurse.sip_secret, tmp_path)
    assert done.returncode == 0, f"sipp failed:\n{done.stdout[-2000:]}\n{done.stderr}\n{asterisk.tail_log(20)}"
    contacts = asterisk.cli("pjsip show contacts")
    assert f"{nurse.endpoint}/sip:{nurse.endpoint}@{PHONE_IP}" in contacts, contacts

    wrong = await asyncio.to_thread(register, sipp, asterisk, nurse.endpoint, "not-the-secret", tmp_path)
    assert wrong.returncode != 0

    assert await provision.remove(ari, nurse.endpoint) is True
    assert "Unable to find object" in asterisk.cli(f"pjsip show endpoint {nurse.endpoint}")
    with pytest.raises(AriNotFound):
        await ari.get_dynamic_object("res_pjsip", "auth", nurse.endpoint)
    assert await provision.remove(ari, nurse.endpoint) is False  # already gone: fine


async def test_webrtc_endpoint_has_dtls_ice_and_opus(ari: AriClient, asterisk: PrivateAsterisk) -> None:
    """The browser variant: WebSocket transport, DTLS-SRTP, ICE, AVPF, opus first, one contact."""
    nurse = _nurse()
    await provision.push(ari, nurse)
    shown = " ".join(asterisk.cli(f"pjsip show endpoint {nurse.endpoint}").split())
    for setting in ("transport : transport-ws", "media_encryption : dtls", "ice_support : true",
                    "use_avpf : true", "rtcp_mux : true", "direct_media : false", "context : from-nurses"):
        assert setting in shown, f"{setting!r} missing in:\n{shown}"
    assert "(opus|ulaw|alaw)" in shown
    aor = await ari.get_dynamic_object("res_pjsip", "aor", nurse.endpoint)
    assert aor["max_contacts"] == "1" and aor["remove_existing"] in ("true", "yes")
    await provision.remove(ari, nurse.endpoint)
    assert "Unable to find object" in asterisk.cli(f"pjsip show endpoint {nurse.endpoint}")


async def test_sync_all_pushes_active_and_removes_inactive_idempotently(ari: AriClient, asterisk: PrivateAsterisk) -> None:
    """sync_all twice gives the same state: active nurses present, deactivated ones gone."""
    active, leaving = _nurse(), _nurse()
    await provision.push(ari, leaving)
    leaving.active = False
    for _ in range(2):
        result = await provision.sync_all(ari, [active, leaving])
        assert result.pushed == [active.endpoint]
    assert "Unable to find object" in asterisk.cli(f"pjsip show endpoint {leaving.endpoint}")
    assert active.endpoint in asterisk.cli(f"pjsip show endpoint {active.endpoint}")
    await provision.remove(ari, active.endpoint)


async def test_ari_failure_names_the_nurse_and_the_object(ari: AriClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value Asterisk refuses (400) raises AriError naming the nurse's object and a hint; the
    first objects pushed before it are removed by `remove`."""
    nurse = _nurse()
    real = provision.endpoint_fields
    monkeypatch.setattr(provision, "endpoint_fields", lambda *a, **k: {**real(*a, **k), "rtp_timeout": "soon"})
    with pytest.raises(AriError) as info:
        await provision.push(ari, nurse)
    assert info.value.status == 400
    assert f"could not push endpoint of nurse endpoint {nurse.endpoint}" in str(info.value)
    assert "refused a field value" in str(info.value)
    assert await provision.remove(ari, nurse.endpoint) is True  # the auth and aor were pushed


async def test_unreachable_asterisk_stays_ari_unavailable() -> None:
    """With Asterisk down, the error keeps its type (AriUnavailable: retry later) and names the nurse."""
    async with aiohttp.ClientSession() as http:
        port = _free_port("127.0.0.1")
        down = AriClient(http, f"http://127.0.0.1:{port}", "u", "p", "x", request_timeout=2)
        with pytest.raises(AriUnavailable, match="could not push auth of nurse endpoint nurse-t"):
            await provision.sync_all(down, [_nurse()])
