"""Twilio's Messages API through the `twilio` package's async client.

`TwilioHttpClient` is the HTTP layer handed to twilio's `Client(http_client=…)`: it sends the
credentials as a header built with `aiohttp.encode_basic_auth` (aiohttp 3.14 deprecates
`BasicAuth`, which twilio's own async client uses), opens its session lazily inside the event
loop, and can send the API's requests to another base URL — a Twilio-compatible gateway, or the
local server that plays Twilio in the tests (twilio 9 fixes its hosts inside the library).
"""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .config import SmsSettings
from .provider import InvalidNumber, Rejected, SentMessage, SmsError, Unavailable, Unsubscribed

log = logging.getLogger(__name__)

TWILIO = "twilio"

# Twilio error codes (https://www.twilio.com/docs/api/errors) with what they mean for us.
INVALID_NUMBER_CODES = frozenset({
    21211,  # invalid 'To' phone number
    21614,  # 'To' is not a valid mobile number
    21217,  # phone number does not appear to be valid
    21401,  # invalid phone number
})
UNSUBSCRIBED_CODES = frozenset({21610})  # the recipient replied STOP to our sender
CREDENTIAL_CODES = frozenset({20003, 20404})  # authentication failed / account not found
DELIVERY_ERRORS = {
    30001: "queue overflow",
    30002: "account suspended",
    30003: "unreachable destination handset",
    30004: "message blocked",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier",
    30008: "unknown error",
    21610: "recipient has unsubscribed",
}


def describe_error(code: int | None) -> str:
    """A short English description of a Twilio error code, for the message row."""
    if code is None:
        return ""
    return f"Twilio error {code}: {DELIVERY_ERRORS.get(code, 'see https://www.twilio.com/docs/errors/' + str(code))}"


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    def __init__(self, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        # No pooled session from the parent: it would be created outside the event loop.
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._session: aiohttp.ClientSession | None = None

    def _target(self, url: str) -> str:
        if self.base_url is None:
            return url
        base = urlsplit(self.base_url)
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        target = self._target(url)
        log.debug("Twilio %s %s", method, target)
        async with self._session.request(
            method.upper(), target, params=cast(Any, params), data=data, headers=sent_headers,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout), allow_redirects=allow_redirects,
        ) as resp:
            text = await resp.text()
        return Response(resp.status, text, resp.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TwilioProvider:
    name = TWILIO

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        status_callback_url: str,
        from_: str = "",
        messaging_service_sid: str = "",
        http_client: AsyncTwilioHttpClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not from_ and not messaging_service_sid:
            raise ValueError("Twilio needs a sender: from_ or messaging_service_sid")
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_url = status_callback_url
        self.http_client = http_client if http_client is not None else TwilioHttpClient(timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)

    @classmethod
    def from_settings(cls, sms: SmsSettings, *, status_callback_url: str,
                      http_client: AsyncTwilioHttpClient | None = None) -> TwilioProvider:
        return cls(account_sid=sms.twilio_account_sid, auth_token=sms.twilio_auth_token.get_secret_value(),
                   from_=sms.twilio_from, messaging_service_sid=sms.twilio_messaging_service_sid,
                   status_callback_url=status_callback_url, http_client=http_client, timeout=sms.timeout_seconds)

    def callback_for(self, reference: str) -> str:
        # Our id rides along, so a status that overtakes the API's answer still finds its row.
        separator = "&" if "?" in self.status_callback_url else "?"
        return f"{self.status_callback_url}{separator}ref={reference}"

    async def send(self, to: str, body: str, *, reference: str) -> SentMessage:
        kwargs: dict[str, Any] = {"to": to, "body": body, "status_callback": self.callback_for(reference)}
        if self.from_:
            kwargs["from_"] = self.from_
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        try:
            message = await self.client.messages.create_async(**kwargs)
        except TwilioException as exc:
            raise map_error(exc, to) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unavailable(f"Twilio kunde inte nås / Twilio could not be reached: {exc!r}") from exc
        except ValueError as exc:  # an answer that is not JSON (a proxy's error page, say)
            raise Unavailable(f"Twilio svarade obegripligt / unreadable answer from Twilio: {exc}") from exc
        return SentMessage(provider_id=str(message.sid), status=str(message.status))

    async def aclose(self) -> None:
        await self.http_client.close()


def map_error(exc: TwilioException, to: str) -> SmsError:
    """Twilio's error as one of ours, keeping its code and message."""
    status = int(getattr(exc, "status", 0) or 0)
    raw_code = getattr(exc, "code", None)
    code = raw_code if isinstance(raw_code, int) else None
    text = str(getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "") or exc)
    # twilio prefixes the API's message with its own words.
    text = text.removeprefix("Unable to create record: ")
    where = f"Twilio {code or status}: {text}"
    if code in INVALID_NUMBER_CODES:
        return InvalidNumber(f"{to} kan inte ta emot SMS / cannot receive SMS ({where})", provider_code=code)
    if code in UNSUBSCRIBED_CODES:
        return Unsubscribed(f"{to} har avböjt SMS från oss (STOP) / has unsubscribed from our messages ({where})",
                            provider_code=code)
    if code in CREDENTIAL_CODES:
        return Rejected(f"Twilio godtar inte våra uppgifter; kontrollera sms.twilio_account_sid och "
                        f"sms.twilio_auth_token / Twilio refused our credentials ({where})", provider_code=code)
    if status == 429 or status >= 500 or status == 0:
        return Unavailable(f"Twilio är inte tillgängligt just nu / Twilio is unavailable ({where})",
                           provider_code=code)
    return Rejected(f"Twilio avvisade meddelandet / Twilio rejected the message ({where})", provider_code=code)
