"""The `[sms]` settings section: which provider, Twilio's credentials and sender, the public
status-callback URL, and the per-number rate limit.

Kept here so the section lives beside the code that reads it; `vardlinje.settings.Settings`
mounts it as `sms` (environment: VARDLINJE_SMS__…).
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

STATUS_PATH = "/webhooks/twilio/sms-status"

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio accepts an E.164 number, a short code or an alphanumeric sender id (max 11 characters).
_SENDER = re.compile(r"^(\+[1-9][0-9]{6,14}|[0-9]{3,8}|[A-Za-z0-9 ]{1,11})$")
_REGION = re.compile(r"^[A-Z]{2}$")


class SmsSettings(BaseModel):
    # A misspelt key is an error, not silently ignored (as in every settings section).
    model_config = ConfigDict(extra="forbid")

    provider: Literal["outbox", "twilio"] = Field(
        "outbox", description="outbox: messages are only stored (development, demo); twilio: sent via Twilio")
    twilio_account_sid: str = Field("", description="Twilio account SID (AC…)")
    twilio_auth_token: SecretStr = Field(
        SecretStr(""), description="Twilio auth token: authenticates API calls and signs status callbacks")
    twilio_from: str = Field("", description="sender: an E.164 number or alphanumeric sender id (e.g. 1177)")
    twilio_messaging_service_sid: str = Field("", description="Twilio messaging service SID (MG…), instead of or beside twilio_from")
    status_callback_url: str = Field(
        "", description=f"public URL Twilio posts delivery status to (default: http.public_url + {STATUS_PATH})")
    timeout_seconds: float = Field(10.0, gt=0, le=60, description="one send to the provider may take this long")
    default_region: str = Field("SE", description="numbers without a country code are read as this country's")
    allowed_regions: list[str] = Field(
        default_factory=lambda: ["SE"],
        description="countries (ISO codes) SMS may be sent to; guards against SMS pumping to premium ranges")
    rate_limit_count: int = Field(3, ge=1, description="at most this many SMS to one number …")
    rate_limit_window_seconds: int = Field(3600, ge=1, description="… within this many seconds")

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("an ISO 3166 country code in capitals, e.g. SE")
        return value

    @field_validator("allowed_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _REGION.match(v)]
        if bad or not value:
            raise ValueError(f"ISO 3166 country codes in capitals, e.g. [\"SE\"]; bad: {bad or 'empty list'}")
        return value

    @field_validator("status_callback_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("an absolute http(s) URL, as Twilio reaches it")
        return value

    @model_validator(mode="after")
    def _twilio_complete(self) -> Self:
        if self.provider != "twilio":
            return self
        problems = []
        if not _ACCOUNT_SID.match(self.twilio_account_sid):
            problems.append("twilio_account_sid must be AC followed by 32 hex digits")
        if not self.twilio_auth_token.get_secret_value():
            problems.append("twilio_auth_token is required")
        if not self.twilio_from and not self.twilio_messaging_service_sid:
            problems.append("set twilio_from or twilio_messaging_service_sid")
        if self.twilio_from and not _SENDER.match(self.twilio_from):
            problems.append("twilio_from must be an E.164 number (+46…), a short code or an alphanumeric id "
                            "of at most 11 characters")
        if self.twilio_messaging_service_sid and not _SERVICE_SID.match(self.twilio_messaging_service_sid):
            problems.append("twilio_messaging_service_sid must be MG followed by 32 hex digits")
        if problems:
            raise ValueError("provider twilio: " + "; ".join(problems))
        return self


def status_callback_url(sms: SmsSettings, public_url: str) -> str:
    """The URL Twilio is told to post status to, and the one its signature is checked against."""
    return sms.status_callback_url or public_url.rstrip("/") + STATUS_PATH
