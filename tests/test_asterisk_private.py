"""The private Asterisk's generated configuration, checked on the real Asterisk 22."""

from __future__ import annotations

import aiohttp
import pytest

from telephony.ari.client import AriClient
from telephony.ari.errors import AriNotFound
from telephony.asterisk.private import PrivateAsterisk, check_root, default_root
from telephony.asterisk.render import MODULES

pytestmark = pytest.mark.asterisk


def test_root_is_asterisk_22() -> None:
    """The cached root holds Asterisk 22 (the version check that guards every start)."""
    assert check_root(default_root()).startswith("Asterisk 22.")


def test_only_the_listed_modules_are_loaded(asterisk: PrivateAsterisk) -> None:
    """autoload=no: exactly our module list runs, and every module in it did load."""
    out = asterisk.cli("module show")
    loaded = {line.split()[0] for line in out.splitlines() if line.endswith(".so") or ".so " in line}
    missing = [m for m in MODULES if m not in loaded]
    assert not missing, f"modules that failed to load: {missing}\n{asterisk.tail_log()}"
    assert "chan_iax2.so" not in loaded and "app_voicemail.so" not in loaded


def test_run_listens_only_where_configured(asterisk: PrivateAsterisk) -> None:
    """HTTP/ARI and SIP are bound to the run's own address and ports, AMI is off."""
    http = asterisk.cli("http show status")
    assert f"127.0.0.1:{asterisk.config.http_port}" in http
    transports = asterisk.cli("pjsip show transports")
    assert f"127.0.0.1:{asterisk.config.sip_port}" in transports
    ami = asterisk.cli("manager show settings")
    assert any(line.split() == ["Manager", "(AMI):", "No"] for line in ami.splitlines()), ami


async def test_nurse_endpoint_can_be_pushed_through_ari(asterisk: PrivateAsterisk) -> None:
    """sorcery.conf maps PJSIP objects to astdb, so ARI's dynamic configuration can create a
    WebRTC nurse endpoint at run time (the agents registry will use this), and remove it."""
    async with aiohttp.ClientSession() as http:
        ari = AriClient(http, asterisk.ari_url, asterisk.config.ari_user, asterisk.config.ari_password, "cfg")
        await ari.put_dynamic_object("res_pjsip", "auth", "nurse-test", {
            "auth_type": "userpass", "username": "nurse-test", "password": "s3cret-s3cret"})
        await ari.put_dynamic_object("res_pjsip", "aor", "nurse-test", {"max_contacts": "1", "remove_existing": "yes"})
        fields = await ari.put_dynamic_object("res_pjsip", "endpoint", "nurse-test", {
            "transport": "transport-ws", "aors": "nurse-test", "auth": "nurse-test", "webrtc": "yes",
            "context": "from-nurses", "disallow": "all", "allow": "opus,ulaw"})
        assert fields["webrtc"] in ("yes", "true")
        assert "nurse-test" in asterisk.cli("pjsip show endpoint nurse-test")
        got = await ari.get_dynamic_object("res_pjsip", "endpoint", "nurse-test")
        assert got["aors"] == "nurse-test"
        for kind in ("endpoint", "aor", "auth"):
            await ari.delete_dynamic_object("res_pjsip", kind, "nurse-test")
        with pytest.raises(AriNotFound):
            await ari.get_dynamic_object("res_pjsip", "endpoint", "nurse-test")
