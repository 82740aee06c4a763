"""Settings: environment variables (prefix VARDLINJE_, nested with __) over a TOML file.

The file is `VARDLINJE_SETTINGS_FILE` (default: ./vardlinje.toml when it exists). Settings
are validated at start; `load_settings` raises SettingsError naming each bad setting by the
environment variable and the file key that set it.
"""

from __future__ import annotations

import os
import tomllib
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sms.config import SmsSettings

from .tls import TlsError, check_pair, read_certificates, read_private_key


class SettingsError(ValueError):
    """Invalid settings; the message lists every problem with the setting's name."""


class _Section(BaseModel):
    # A misspelt key is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class AsteriskSettings(_Section):
    mode: Literal["private", "external"] = Field(
        "private",
        description="private: the project's own Asterisk 22 in a Debian root (started by `vardlinje run`); "
        "external: an Asterisk you run, reached at ari_url",
    )
    root: Path | None = Field(None, description="private mode: the Asterisk root (default ~/.cache/vardlinje/asterisk-root)")
    ari_url: str = Field("http://127.0.0.1:8088", description="external mode: Asterisk's HTTP server")
    ari_user: str = "vardlinje"
    ari_password: SecretStr = SecretStr("")
    app_name: str = Field("vardlinje", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    bind_address: str = "127.0.0.1"
    caller_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32"],
        description="private mode: addresses (CIDR) whose SIP calls are accepted as callers (the SIP trunk)",
    )
    outbound_trunk: str = Field("", description="private mode: host:port of the SIP trunk for transfers to external numbers")
    http_port: int = Field(8088, ge=1, le=65535)
    tls_port: int | None = Field(
        None, ge=1, le=65535,
        description="private mode: Asterisk's HTTPS/WSS port (wss://HOST:PORT/ws for the softphones), with the "
        "app's certificate (http.tls_cert or http.tls_self_signed); unset: no TLS in Asterisk",
    )
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65534)
    rtp_end: int = Field(10999, ge=1025, le=65535)
    media_base_url: str = Field(
        "",
        description="external mode: URL under which Asterisk fetches rendered prompts from this app over HTTP",
    )

    @field_validator("tls_port")
    @classmethod
    def _tls_port_apart(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value == info.data.get("http_port"):
            raise ValueError(f"{value} is also asterisk.http_port; Asterisk's TLS needs a port of its own")
        return value


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Before public_url on purpose: its check needs to know whether the app serves TLS.
    tls_cert: Path | None = Field(None, description="PEM certificate (with its chain) the app serves HTTPS/WSS "
                                  "with; set with tls_key. Unset: plain HTTP (e.g. behind a TLS proxy)")
    tls_key: Path | None = Field(None, validate_default=True, description="PEM private key of tls_cert, unencrypted")
    tls_self_signed: bool = Field(False, validate_default=True, description="development: serve HTTPS with a "
                                  "self-signed certificate generated into DATA_DIR/tls/ for public_url's host")
    public_url: str = Field("http://127.0.0.1:8080", validate_default=True,
                            description="the URL users and webhooks reach the app at")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses (CIDR) of proxies whose X-Forwarded-For is believed"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an address or network (e.g. 10.0.0.5/32)") from exc
        return entries

    # The files are checked when the settings load, so `vardlinje doctor` and a start both name a
    # wrong path or a key of another certificate at once, not at the first browser's handshake.
    @field_validator("tls_cert")
    @classmethod
    def _cert_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                read_certificates(value)
            except TlsError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("tls_key")
    @classmethod
    def _key_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "tls_cert" not in info.data:
            return value  # tls_cert itself is wrong; that error says enough
        cert = info.data["tls_cert"]
        if (cert is None) != (value is None):
            raise ValueError("set http.tls_cert and http.tls_key together (or neither)")
        if value is not None:
            try:
                read_private_key(value)
                check_pair(cert, value)
            except TlsError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("tls_self_signed")
    @classmethod
    def _one_source(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("tls_cert") is not None:
            raise ValueError("http.tls_cert is set too: use the configured certificate or the self-signed one, "
                             "not both")
        return value

    @field_validator("public_url")
    @classmethod
    def _https_when_tls(cls, value: str, info: ValidationInfo) -> str:
        # Browsers check Origin and cookies against the scheme: an app serving TLS under an
        # http:// public URL would refuse its own desktop WebSocket.
        serves_tls = info.data.get("tls_cert") is not None or bool(info.data.get("tls_self_signed"))
        if serves_tls and not value.startswith("https://"):
            raise ValueError(f"{value!r}: the app serves HTTPS (http.tls_cert or http.tls_self_signed), so "
                             "the public URL must be https://…")
        return value


class AuthSettings(_Section):
    session_hours: float = Field(12.0, gt=0, le=24 * 14)
    cookie_secure: bool = Field(False, description="set true behind HTTPS so cookies never travel in clear")
    login_attempts: int = Field(5, ge=1, description="failed logins per user and address before throttling")
    login_window_seconds: int = Field(900, ge=1)


class LeaderSettings(_Section):
    lease_seconds: float = Field(10.0, gt=1)
    renew_every_seconds: float = Field(3.0, gt=0)


class IceServer(_Section):
    urls: list[str] = Field(min_length=1, description="stun:HOST:3478, turn:HOST:3478?transport=udp, turns:HOST:5349")
    username: str = Field("", description="a fixed TURN user name (with credential); leave empty with secret")
    credential: SecretStr = Field(SecretStr(""), description="the fixed TURN password")
    secret: SecretStr = Field(SecretStr(""), description="coturn's static-auth-secret: each nurse gets short-lived "
                              "credentials minted from it (TURN REST scheme) instead of a fixed password")

    @field_validator("urls")
    @classmethod
    def _schemes(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r} must start with stun:, stuns:, turn: or turns:")
        return urls


class SoftphoneSettings(_Section):
    sip_ws_url: str = Field("", description="the SIP WebSocket URL of Asterisk as nurses' browsers reach it "
                            "(wss://… in production); empty: the private Asterisk's own transport")
    sip_domain: str = Field("", description="the domain of the nurses' SIP URIs (default: the URL's host)")
    ice_servers: list[IceServer] = Field(default_factory=list, description="STUN/TURN servers for the browsers")
    turn_ttl_seconds: int = Field(12 * 3600, ge=60, description="how long minted TURN credentials hold")

    @field_validator("sip_ws_url")
    @classmethod
    def _ws(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError(f"{value!r} must be a ws:// or wss:// URL")
        return value


# Public-key algorithms only: HS* would let anyone holding the public key forge tokens (key confusion).
SigningAlgorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
_DEFAULT_ALGORITHMS: tuple[SigningAlgorithm, ...] = ("RS256", "ES256")


class CitizenSettings(_Section):
    """The citizen's own journal: a signed token from the region's identity provider (docs/journal.md)."""

    issuer: str = Field("", description="the identity provider's `iss`; empty: citizen access is off")
    audience: str = Field("vardlinje", description="the `aud` the provider puts in tokens meant for us")
    public_key_file: Path | None = Field(None, description="PEM public key (RSA or EC) that signs the tokens")
    subject_claim: str = Field("personal_identity_number", description="the claim holding the personnummer")
    algorithms: list[SigningAlgorithm] = Field(default_factory=lambda: list(_DEFAULT_ALGORITHMS), min_length=1)
    max_lifetime_seconds: int = Field(3600, ge=60, le=24 * 3600)

    @model_validator(mode="after")
    def _key_with_issuer(self) -> CitizenSettings:
        if self.issuer and self.public_key_file is None:
            raise ValueError("citizen.issuer is set, so citizen.public_key_file is needed to verify its tokens")
        return self


class MediaSettings(_Section):
    """Photos and video from the caller's phone (docs/escalation.md)."""

    link_minutes: int = Field(15, ge=1, le=240, description="how long a link sent by SMS works")
    uploads_per_link: int = Field(3, ge=1, le=20, description="photos one image link accepts")
    image_dir: Path | None = Field(None, description="where sanitized images are kept (default: data_dir/images)")
    retention_hours: float = Field(24.0, gt=0, le=24 * 90, description="images not attached to a note are "
                                   "deleted after this long")
    max_upload_mb: float = Field(15.0, gt=0, le=100, description="largest accepted upload")
    sanitize_at_once: int = Field(2, ge=1, le=32, description="photos decoded at the same time on one instance "
                                                             "(each takes 150–450 MiB while it is)")
    uploads_per_ip_per_hour: int = Field(30, ge=1, description="rate limit per caller address, all links")
    video_joins_per_link: int = Field(5, ge=1, le=50, description="times the caller may join (or rejoin after "
                                      "a dropped connection or a reload) one video link's room")
    video_joins_per_ip_per_hour: int = Field(300, ge=1, description="attempts to open the caller's video socket "
                                             "per address and hour (many phones share one carrier address)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VARDLINJE_", env_nested_delimiter="__", extra="forbid")

    database_url: str = Field("sqlite:///var/vardlinje.db", description="SQLAlchemy URL; postgresql+psycopg://… for PostgreSQL")
    redis_url: str = Field("redis://127.0.0.1:6379/0")
    data_dir: Path = Field(Path("var"), description="prompts, uploads and run state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    config_dir: Path | None = Field(None, description="region and national configuration files (default: the shipped config/)")
    demo: bool = Field(True, description="seed the demo care provider and staff accounts on start (off in production)")
    instance_id: str = Field("", description="this app instance's name in the leader lease (default host:pid)")
    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    leader: LeaderSettings = Field(default_factory=LeaderSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    softphone: SoftphoneSettings = Field(default_factory=SoftphoneSettings)
    citizen: CitizenSettings = Field(default_factory=CitizenSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFile(settings_cls))


class _TomlFile(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = settings_file()
        self.data: dict[str, Any] = {}
        if self.path is not None:
            try:
                self.data = tomllib.loads(self.path.read_text())
            except OSError as exc:
                raise SettingsError(f"settings file {self.path}: cannot read: {exc}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"settings file {self.path}: not valid TOML: {exc}") from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def settings_file() -> Path | None:
    explicit = os.environ.get("VARDLINJE_SETTINGS_FILE")
    if explicit:
        return Path(explicit)
    default = Path("vardlinje.toml")
    return default if default.exists() else None


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        source = settings_file()
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            env = "VARDLINJE_" + "__".join(p.upper() for p in loc)
            key = ".".join(loc)
            where = f"{env} / {source}: {key}" if source else env
            lines.append(f"  {where}: {err['msg']}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from exc
