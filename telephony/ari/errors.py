"""Failures of ARI calls, raised with what failed: method, path, status and Asterisk's message."""

from __future__ import annotations


class AriError(Exception):
    """An ARI request failed. `status` is 0 when Asterisk could not be reached at all."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        where = f"{method} {path}"
        if status:
            super().__init__(f"ARI {where} failed with {status}: {message}")
        else:
            super().__init__(f"ARI {where} failed: {message}")


class AriNotFound(AriError):
    """404: the channel, bridge or playback is gone. Usually a race with hang-up, not a bug."""


class AriConflict(AriError):
    """409: the resource is in the wrong state (e.g. the channel is not in the Stasis app)."""


class AriUnavailable(AriError):
    """Asterisk could not be reached (connection refused, timeout) or answered 5xx."""


def error_for(method: str, path: str, status: int, message: str) -> AriError:
    if status == 404:
        return AriNotFound(method, path, status, message)
    if status == 409:
        return AriConflict(method, path, status, message)
    if status == 0 or status >= 500:
        return AriUnavailable(method, path, status, message)
    return AriError(method, path, status, message)
