"""Errors the domain and application raise; the interfaces map each to a status code."""

from __future__ import annotations


class KeyledgerError(Exception):
    """Base class. The message is safe to show a user: it never holds a secret value."""


class InvalidInput(KeyledgerError):  # 400
    pass


class AuthenticationFailed(KeyledgerError):  # 401
    pass


class Forbidden(KeyledgerError):  # 403
    pass


class NotFound(KeyledgerError):  # 404
    pass


class Conflict(KeyledgerError):  # 409
    pass


class Gone(KeyledgerError):  # 410: a share already ended, or a secret retired by its policy (TTL)
    pass


class Locked(KeyledgerError):  # 423: the project is frozen
    pass


class TooManyAttempts(KeyledgerError):  # 429, with Retry-After
    def __init__(self, retry_after_seconds: int, message: str = "") -> None:
        self.retry_after_seconds = max(1, retry_after_seconds)
        super().__init__(
            message or f"Too many failed attempts; try again in {self.retry_after_seconds} s"
        )


class Sealed(KeyledgerError):  # 503
    def __init__(self, message: str = "Server is sealed, awaiting unseal") -> None:
        super().__init__(message)


class IntegrityFailure(KeyledgerError):
    """One opaque error for every way a ciphertext can fail to open."""

    def __init__(self, message: str = "Stored value failed its integrity check") -> None:
        super().__init__(message)
