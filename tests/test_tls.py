"""TLS for remote work: the app's HTTPS, the private Asterisk's WSS with the same certificate, the
development certificate's life cycle, and settings errors that name the setting and the file."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from desktop.softphone import sip_ws_url
from telephony.asterisk.private import (
    RUNS,
    AsteriskSetupError,
    PrivateAsterisk,
    free_rtp_range,
    free_tcp_port,
)
from telephony.asterisk.render import AsteriskRunConfig
from vardlinje import tls
from vardlinje.procs import free_port
from vardlinje.runner import RunError, _tls
from vardlinje.settings import AsteriskSettings, HttpSettings, Settings, SettingsError, load_settings

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VARDLINJE = str(Path(sys.executable).parent / "vardlinje")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No VARDLINJE_* variable or vardlinje.toml of the developer leaks into a settings test."""
    for key in list(os.environ):
        if key.startswith("VARDLINJE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _der(cert: Path) -> bytes:
    return tls.read_certificates(cert)[0].public_bytes(serialization.Encoding.DER)


def _names(cert: Path) -> set[str]:
    sans = tls.read_certificates(cert)[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in sans.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


# --- the development certificate --------------------------------------------------------------


def test_self_signed_pair_is_reused_and_replaced_when_names_change_or_it_ends(tmp_path: Path) -> None:
    """A developer trusts the generated certificate once: the next start reuses it; it is only
    replaced when public_url's host changes or it is about to expire. The key is mode 0600."""
    names = tls.certificate_names("https://vardlinje.test:8443")
    assert names == ("vardlinje.test", "127.0.0.1", "localhost")
    first = tls.self_signed(tmp_path, names, NOW)
    assert _names(first.cert) == {"vardlinje.test", "127.0.0.1", "localhost"}
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    der = _der(first.cert)

    first.key.chmod(0o644)
    again = tls.self_signed(tmp_path, names, NOW + timedelta(days=30))
    assert again == first and _der(again.cert) == der, "a valid pair for the same names must be reused"
    assert stat.S_IMODE(again.key.stat().st_mode) == 0o600

    moved = tls.self_signed(tmp_path, tls.certificate_names("https://192.0.2.7"), NOW)
    assert _der(moved.cert) != der and _names(moved.cert) == {"192.0.2.7", "127.0.0.1", "localhost"}
    tls.check_pair(moved.cert, moved.key)
    moved_der = _der(moved.cert)

    renewed = tls.self_signed(tmp_path, tls.certificate_names("https://192.0.2.7"), NOW + timedelta(days=355))
    assert _der(renewed.cert) != moved_der, "a pair with under 14 days left must be replaced"
    assert tls.expiry_problem(renewed.cert, NOW + timedelta(days=355)) is None


def test_expiry_warning_under_fourteen_days(tmp_path: Path) -> None:
    """The start log warns two weeks before the certificate ends, and says plainly once it has."""
    pair = tls.self_signed(tmp_path, ("127.0.0.1",), NOW)
    assert tls.expiry_problem(pair.cert, NOW) is None
    assert tls.expiry_problem(pair.cert, NOW + timedelta(days=350)) is None
    soon = tls.expiry_problem(pair.cert, NOW + timedelta(days=356))
    assert soon is not None and str(pair.cert) in soon and "in 9 days" in soon
    gone = tls.expiry_problem(pair.cert, NOW + timedelta(days=366))
    assert gone is not None and "expired" in gone


def test_runner_warns_about_a_certificate_near_its_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`vardlinje run` logs the expiry warning for a configured certificate at start."""
    pair = tls.self_signed(tmp_path / "ca", ("127.0.0.1",), datetime.now(UTC) - timedelta(days=355))
    settings = Settings(http=HttpSettings(tls_cert=pair.cert, tls_key=pair.key, public_url="https://127.0.0.1:8443"),
                        asterisk=AsteriskSettings(tls_port=8089))
    with caplog.at_level("WARNING", logger="vardlinje.run"):
        _, got = _tls(settings, tmp_path)
    assert got is not None and got.cert == pair.cert
    assert any("expires on" in r.getMessage() and str(pair.cert) in r.getMessage() for r in caplog.records), caplog.text


# --- settings and start errors ----------------------------------------------------------------


def test_bad_certificate_settings_name_the_setting_and_the_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing or wrong certificate or key stops every command with the setting's name and the
    file, before any browser meets it."""
    pair = tls.self_signed(clean_env / "a", ("127.0.0.1",), NOW)
    other = tls.self_signed(clean_env / "b", ("127.0.0.1",), NOW)
    monkeypatch.setenv("VARDLINJE_HTTP__PUBLIC_URL", "https://127.0.0.1:8443")

    def error(**env: str) -> str:
        for name in ("TLS_CERT", "TLS_KEY", "TLS_SELF_SIGNED"):
            monkeypatch.delenv(f"VARDLINJE_HTTP__{name}", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(f"VARDLINJE_HTTP__{name.upper()}", value)
        with pytest.raises(SettingsError) as err:
            load_settings()
        return str(err.value)

    missing = clean_env / "nowhere" / "cert.pem"
    text = error(tls_cert=str(missing), tls_key=str(pair.key))
    assert "VARDLINJE_HTTP__TLS_CERT" in text and str(missing) in text and "no such file" in text
    text = error(tls_cert=str(pair.key), tls_key=str(pair.key))
    assert "VARDLINJE_HTTP__TLS_CERT" in text and "not a PEM certificate" in text
    text = error(tls_cert=str(pair.cert))
    assert "VARDLINJE_HTTP__TLS_KEY" in text and "together" in text
    text = error(tls_key=str(pair.key))
    assert "VARDLINJE_HTTP__TLS_KEY" in text and "together" in text
    text = error(tls_cert=str(pair.cert), tls_key=str(other.key))
    assert "VARDLINJE_HTTP__TLS_KEY" in text and str(other.key) in text and "does not belong" in text
    text = error(tls_cert=str(pair.cert), tls_key=str(pair.key), tls_self_signed="true")
    assert "VARDLINJE_HTTP__TLS_SELF_SIGNED" in text and "not both" in text

    monkeypatch.setenv("VARDLINJE_HTTP__PUBLIC_URL", "http://127.0.0.1:8080")
    text = error(tls_self_signed="true")
    assert "VARDLINJE_HTTP__PUBLIC_URL" in text and "https://" in text

    monkeypatch.setenv("VARDLINJE_HTTP__PUBLIC_URL", "https://127.0.0.1:8443")
    monkeypatch.setenv("VARDLINJE_ASTERISK__TLS_PORT", "8088")
    text = error(tls_self_signed="true")
    assert "VARDLINJE_ASTERISK__TLS_PORT" in text and "http_port" in text

    monkeypatch.setenv("VARDLINJE_ASTERISK__TLS_PORT", "8089")
    monkeypatch.delenv("VARDLINJE_HTTP__TLS_SELF_SIGNED")
    for name in ("TLS_CERT", "TLS_KEY"):
        monkeypatch.setenv(f"VARDLINJE_HTTP__{name}", str(pair.cert if name == "TLS_CERT" else pair.key))
    s = load_settings()
    assert s.http.tls_cert == pair.cert and s.asterisk.tls_port == 8089


def test_start_errors_name_the_setting(tmp_path: Path) -> None:
    """What can only be known at start is a RunError naming the setting: a certificate removed
    after the settings loaded, and Asterisk's TLS port without any certificate."""
    pair = tls.self_signed(tmp_path / "ca", ("127.0.0.1",), NOW)
    settings = Settings(http=HttpSettings(tls_cert=pair.cert, tls_key=pair.key, public_url="https://127.0.0.1:8443"))
    pair.cert.unlink()
    with pytest.raises(RunError, match="VARDLINJE_HTTP__TLS_CERT") as err:
        _tls(settings, tmp_path)
    assert str(pair.cert) in str(err.value)

    with pytest.raises(RunError, match="VARDLINJE_ASTERISK__TLS_PORT"):
        _tls(Settings(asterisk=AsteriskSettings(tls_port=8089)), tmp_path)

    # Into a scratch root: writing the configuration needs no Asterisk.
    config = AsteriskRunConfig(run_dir=RUNS / "pytest-tls-nocert", app_name="t", ari_user="t", ari_password="t",
                               http_port=8088, sip_port=5060, rtp_start=10000, rtp_end=10999, tls_port=8089)
    with pytest.raises(AsteriskSetupError, match="no certificate"):
        PrivateAsterisk(root=tmp_path / "root", config=config).write_config()


def test_serving_tls_marks_cookies_secure(tmp_path: Path) -> None:
    """When the app serves HTTPS itself every request is HTTPS, so session cookies are always
    Secure; without TLS the setting is left as it is."""
    settings = Settings(http=HttpSettings(tls_self_signed=True, public_url="https://127.0.0.1:8443"),
                        asterisk=AsteriskSettings(tls_port=8089))
    assert settings.auth.cookie_secure is False
    running, pair = _tls(settings, tmp_path)
    assert pair is not None and pair.self_signed and pair.cert.parent == tmp_path / "tls"
    assert running.auth.cookie_secure is True
    plain, none = _tls(Settings(), tmp_path)
    assert none is None and plain.auth.cookie_secure is False


def test_https_with_a_plain_ws_softphone_is_refused_at_start(tmp_path: Path) -> None:
    """An HTTPS page may not open ws:// (mixed content): the phones would never register, so the start
    stops and names the settings that fix it."""
    settings = Settings(http=HttpSettings(tls_self_signed=True, public_url="https://127.0.0.1:8443"))
    with pytest.raises(RunError) as caught:
        _tls(settings, tmp_path)
    assert "VARDLINJE_ASTERISK__TLS_PORT" in str(caught.value) and "SIP_WS_URL" in str(caught.value)
    chosen = settings.model_copy(update={"softphone": settings.softphone.model_copy(
        update={"sip_ws_url": "wss://sip.example.se/ws"})})
    assert _tls(chosen, tmp_path)[1] is not None


def test_softphone_url_is_wss_on_the_public_host_when_asterisk_has_tls() -> None:
    """Browsers check the certificate's name: the softphone gets wss:// on public_url's host and
    Asterisk's TLS port, not Asterisk's bind address; an explicit URL still wins."""
    settings = Settings(http=HttpSettings(public_url="https://vardlinje.test:8443", tls_self_signed=True),
                        asterisk=AsteriskSettings(bind_address="0.0.0.0", tls_port=8089))
    assert sip_ws_url(settings) == "wss://vardlinje.test:8089/ws"
    assert sip_ws_url(Settings(asterisk=AsteriskSettings(http_port=8088))) == "ws://127.0.0.1:8088/ws"
    external = Settings(asterisk=AsteriskSettings(mode="external", tls_port=8089, ari_url="http://10.0.0.2:8088"))
    assert sip_ws_url(external) == "ws://10.0.0.2:8088/ws", "tls_port is a private-mode setting"
    chosen = settings.model_copy(update={"softphone": settings.softphone.model_copy(
        update={"sip_ws_url": "wss://sip.example.se/ws"})})
    assert sip_ws_url(chosen) == "wss://sip.example.se/ws"


# --- the private Asterisk's WSS ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateAsterisk, tls.TlsPair]]:
    pair = tls.self_signed(tmp_path_factory.mktemp("tls"), ("127.0.0.1", "localhost"), datetime.now(UTC))
    try:
        ast = PrivateAsterisk.create(run_name="pytest-tls", tls_port=free_tcp_port(), tls_files=(pair.cert, pair.key))
        ast.start()
    except AsteriskSetupError as exc:
        pytest.fail(f"Asterisk could not start: {exc}", pytrace=False)
    yield ast, pair
    ast.stop()


def _sip_options(host: str) -> str:
    tag = secrets.token_hex(6)
    return "\r\n".join([
        f"OPTIONS sip:{host} SIP/2.0",
        f"Via: SIP/2.0/WSS {tag}.invalid;branch=z9hG4bK{tag}",
        "Max-Forwards: 70",
        f"To: <sip:{host}>",
        f"From: <sip:probe@{host}>;tag={tag}",
        f"Call-ID: {tag}@probe",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
        "", "",
    ])


@pytest.mark.asterisk
async def test_private_asterisk_serves_wss_with_the_app_certificate(
        tls_asterisk: tuple[PrivateAsterisk, tls.TlsPair]) -> None:
    """asterisk.tls_port: Asterisk's TLS port presents our certificate, upgrades /ws with the
    "sip" subprotocol and pjsip answers SIP over it; the key copied into the root is private, and
    a client that does not trust the certificate is refused."""
    ast, pair = tls_asterisk
    port = ast.config.tls_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            _trusting(pair.cert).wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        assert conn.getpeercert(binary_form=True) == _der(pair.cert)
        assert conn.version() in ("TLSv1.2", "TLSv1.3")
    assert stat.S_IMODE(ast.host(ast.config.tls_key).stat().st_mode) == 0o600

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"wss://127.0.0.1:{port}/ws", protocols=("sip",), ssl=_trusting(pair.cert),
                                   timeout=aiohttp.ClientWSTimeout(ws_receive=5)) as ws:
            assert ws.protocol == "sip"
            await ws.send_str(_sip_options("127.0.0.1"))
            reply = await ws.receive(timeout=5)
            assert reply.type == aiohttp.WSMsgType.TEXT and reply.data.startswith("SIP/2.0 "), reply
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.ws_connect(f"wss://127.0.0.1:{port}/ws", protocols=("sip",))


# --- `vardlinje run` with TLS, end to end -----------------------------------------------------


@pytest.mark.asterisk
def test_run_serves_https_and_asterisk_wss_with_the_self_signed_certificate(tmp_path: Path) -> None:
    """`vardlinje run` with http.tls_self_signed and asterisk.tls_port: the app answers /healthz
    over HTTPS to a client trusting the generated certificate (and not to one that does not), login
    cookies are Secure, the banner shows https:// and the wss:// softphone URL, and Asterisk's TLS
    port presents the same certificate and upgrades /ws."""
    rtp_start, rtp_end = free_rtp_range()
    http_port, tls_port = free_port(), free_port()
    data_dir = tmp_path / "var"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VARDLINJE_")}
    env.update({
        "VARDLINJE_DATA_DIR": str(data_dir),
        "VARDLINJE_DATABASE_URL": f"sqlite:///{data_dir}/vardlinje.db",
        "VARDLINJE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "VARDLINJE_HTTP__PORT": str(http_port),
        "VARDLINJE_HTTP__PUBLIC_URL": f"https://127.0.0.1:{http_port}",
        "VARDLINJE_HTTP__TLS_SELF_SIGNED": "true",
        "VARDLINJE_ASTERISK__HTTP_PORT": str(free_port()),
        "VARDLINJE_ASTERISK__TLS_PORT": str(tls_port),
        "VARDLINJE_ASTERISK__SIP_PORT": str(free_port()),
        "VARDLINJE_ASTERISK__RTP_START": str(rtp_start),
        "VARDLINJE_ASTERISK__RTP_END": str(rtp_end),
        "VARDLINJE_ASTERISK__APP_NAME": f"tls-test-{os.getpid()}",
    })
    log = tmp_path / "run.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([VARDLINJE, "run"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        banner = _wait_banner(proc, log)
        cert = data_dir / tls.SELF_SIGNED_DIR / tls.SELF_SIGNED_CERT
        assert f"https://127.0.0.1:{http_port}/login" in banner
        assert f"wss://127.0.0.1:{tls_port}/ws" in banner and str(cert) in banner
        trusting = _trusting(cert)
        password = json.loads((data_dir / "demo-credentials.json").read_text())["anna.nilsson"]

        async def over_https() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"https://127.0.0.1:{http_port}/healthz", ssl=trusting) as resp:
                    assert resp.status == 200 and "ari_connected" in await resp.json()
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await http.get(f"https://127.0.0.1:{http_port}/healthz")
                async with http.post(f"https://127.0.0.1:{http_port}/login", ssl=trusting,
                                     json={"username": "anna.nilsson", "password": password}) as resp:
                    assert resp.status == 200, await resp.text()
                    # The session cookie; the login form's CSRF cookie is only cleared here.
                    session = [c for c in resp.headers.getall("Set-Cookie") if c.startswith("vardlinje_session=")]
                    assert len(session) == 1 and "; Secure" in session[0], session
                async with http.ws_connect(f"wss://127.0.0.1:{tls_port}/ws", protocols=("sip",), ssl=trusting) as ws:
                    assert ws.protocol == "sip"

        asyncio.run(over_https())
        for port in (http_port, tls_port):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    trusting.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                assert conn.getpeercert(binary_form=True) == _der(cert), f"port {port} presents another certificate"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_banner(proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Vårdlinje is running." in text:
            return text
        if proc.poll() is not None:
            raise AssertionError(f"vardlinje run exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no banner after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")
