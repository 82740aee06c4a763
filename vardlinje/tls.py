"""TLS for the app's own HTTPS/WSS and the private Asterisk's WSS (docs/remote-work.md).

Either a configured certificate and key (`http.tls_cert`, `http.tls_key`: PEM files, e.g. from the
region's CA or Let's Encrypt) or, for development, a self-signed pair generated into DATA_DIR/tls/
(`http.tls_self_signed`). The same pair serves the app and the private Asterisk's TLS port, so a
browser that trusts one trusts both.

Everything here is pure apart from reading and writing the two files; the clock is passed in.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from .settings import HttpSettings

#: A certificate closer than this to its end is warned about at every start (and a self-signed one
#: is replaced), so there are two weeks to renew before browsers refuse it.
EXPIRY_WARNING = timedelta(days=14)
#: Lifetime of the development certificate. Long, so a developer trusts it once a year at most;
#: browsers only cap lifetimes of publicly trusted certificates.
SELF_SIGNED_LIFETIME = timedelta(days=365)
SELF_SIGNED_DIR = "tls"
SELF_SIGNED_CERT = "self-signed-cert.pem"
SELF_SIGNED_KEY = "self-signed-key.pem"


class TlsError(ValueError):
    """A certificate or key that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TlsPair:
    """PEM files of one certificate (chain) and its private key."""

    cert: Path
    key: Path
    self_signed: bool = False


def read_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM file (the server's own first, then its chain)."""
    data = _read(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsError(f"{path}: not a PEM certificate (expected -----BEGIN CERTIFICATE-----): {exc}") from exc
    if not certs:
        raise TlsError(f"{path}: holds no certificate")
    return certs


def read_private_key(path: Path) -> PrivateKeyTypes:
    data = _read(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        # Nobody is there to type a passphrase when the service starts.
        raise TlsError(f"{path}: the key is encrypted with a passphrase; give an unencrypted key "
                       "(readable only by the service's user)") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsError(f"{path}: not a PEM private key (expected -----BEGIN … PRIVATE KEY-----): {exc}") from exc


def check_pair(cert: Path, key: Path) -> None:
    """Raise TlsError unless the key belongs to the certificate (exactly what the servers will load)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(f"{key} does not belong to the certificate {cert} ({exc.reason or exc})") from exc
    except OSError as exc:
        raise TlsError(f"{cert} / {key}: cannot be loaded: {exc}") from exc


def server_context(pair: TlsPair) -> ssl.SSLContext:
    """The SSLContext the app's HTTPS/WSS server listens with: TLS 1.2 or newer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(pair.cert, pair.key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"{pair.cert} / {pair.key}: cannot be loaded: {exc}") from exc
    return context


def certificate_names(public_url: str) -> tuple[str, ...]:
    """The names the development certificate is for: the host of http.public_url (what browsers
    check), plus 127.0.0.1 and localhost for tools on the machine itself."""
    host = urlsplit(public_url).hostname or "127.0.0.1"
    names: list[str] = []
    for name in (host, "127.0.0.1", "localhost"):
        name = _normalise(name)
        if name not in names:
            names.append(name)
    return tuple(names)


def self_signed(directory: Path, names: Sequence[str], now: datetime) -> TlsPair:
    """The development pair in `directory`: reused while it is valid for two more weeks, is for
    exactly `names` and its key matches; otherwise a fresh one (a new pair must be trusted again
    in the browser, so it is not replaced needlessly)."""
    pair = TlsPair(directory / SELF_SIGNED_CERT, directory / SELF_SIGNED_KEY, self_signed=True)
    wanted = {_normalise(n) for n in names}
    if _reusable(pair, wanted, now):
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, _normalise(names[0])),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vårdlinje (utveckling, självsignerat)"),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little back-dated: a client whose clock is a few minutes behind must not refuse it.
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + SELF_SIGNED_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(pair.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return pair


def configured_pair(http: HttpSettings, data_dir: Path, now: datetime) -> TlsPair | None:
    """The pair the app serves with, or None for plain HTTP. The configured files were checked when
    the settings loaded; they are checked again here because they may have changed since."""
    if http.tls_cert is not None and http.tls_key is not None:
        read_certificates(http.tls_cert)
        read_private_key(http.tls_key)
        check_pair(http.tls_cert, http.tls_key)
        return TlsPair(http.tls_cert, http.tls_key)
    if http.tls_self_signed:
        return self_signed(data_dir / SELF_SIGNED_DIR, certificate_names(http.public_url), now)
    return None


def expiry_problem(cert: Path, now: datetime) -> str | None:
    """A warning when the (first) certificate of `cert` has expired or expires within EXPIRY_WARNING."""
    leaf = read_certificates(cert)[0]
    ends = leaf.not_valid_after_utc
    if ends <= now:
        return (f"the TLS certificate {cert} expired on {ends:%Y-%m-%d %H:%M} UTC: browsers refuse it and nurses "
                "cannot log in or register their phones; install a renewed certificate and restart")
    if ends - now < EXPIRY_WARNING:
        days = (ends - now).days
        return (f"the TLS certificate {cert} expires on {ends:%Y-%m-%d %H:%M} UTC (in {days} days): "
                "install a renewed certificate and restart before then")
    return None


def _reusable(pair: TlsPair, wanted: set[str], now: datetime) -> bool:
    if not (pair.cert.is_file() and pair.key.is_file()):
        return False
    try:
        cert = read_certificates(pair.cert)[0]
        key = read_private_key(pair.key)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (TlsError, x509.ExtensionNotFound):
        return False
    names = {_normalise(str(n)) for n in sans.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    valid = cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now >= EXPIRY_WARNING
    if names == wanted and same_key and valid:
        os.chmod(pair.key, 0o600)  # whatever happened to the file since, the key stays private
        return True
    return False


def _normalise(name: str) -> str:
    name = name.strip().strip("[]").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _general_name(name: str) -> x509.GeneralName:
    name = _normalise(name)
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise TlsError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise TlsError(f"{path}: is a directory, not a PEM file") from exc
    except OSError as exc:
        raise TlsError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _write(path: Path, data: bytes, mode: int) -> None:
    # Written beside and renamed: a crash never leaves half a key, and the key is never readable
    # by others, not even for a moment.
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)  # O_CREAT's mode is masked by the umask
    os.replace(tmp, path)
