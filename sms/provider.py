"""The provider interface every SMS backend implements, and the errors it may raise.

A provider only transmits; storing the message, the rate limit and the call record are the
service's job (`service.send_sms`), so a new provider is a small class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SentMessage:
    """What the provider answered: its id for the message and the message's status there."""

    provider_id: str
    status: str


class SmsError(Exception):
    """An SMS could not be sent. `code` is stable and machine-readable; the message is for people."""

    code = "sms_error"

    def __init__(self, message: str, *, provider_code: int | None = None) -> None:
        super().__init__(message)
        self.provider_code = provider_code

    @property
    def error_code(self) -> str:
        """What the message row stores: the provider's own code when there is one."""
        return str(self.provider_code) if self.provider_code is not None else self.code


class InvalidNumber(SmsError):
    """Not a number an SMS can go to (unreadable, not a mobile, a country we do not send to)."""

    code = "invalid_number"


class InvalidMessage(SmsError):
    """The text itself cannot be sent (empty or too long)."""

    code = "invalid_message"


class RateLimited(SmsError):
    """This number has had its share of messages for now."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(SmsError):
    """The provider refused the message; `provider_code` and the message say why."""

    code = "rejected"


class Unsubscribed(Rejected):
    """The recipient has opted out of messages from our sender (replied STOP)."""

    code = "unsubscribed"


class Unavailable(SmsError):
    """The provider could not be reached or is failing; the message may be tried again later."""

    code = "unavailable"


class SmsProvider(Protocol):
    @property
    def name(self) -> str:
        """Stored with each message: which provider sent it ("outbox", "twilio")."""
        ...

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        """Send `body` to `to` (E.164). `reference` is our message id, for the provider's
        callbacks. Raises SmsError subclasses only."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once when the app stops."""
        ...
