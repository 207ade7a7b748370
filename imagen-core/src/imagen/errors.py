"""The one exception hierarchy of imagen.

    ImagenError                   every error imagen raises on purpose
    ├── ConfigError               bad config or usage; carries the YAML path and line (exit 2)
    ├── NotConfigured             a setting is missing; names the env var to set (exit 2)
    ├── BackendError              a generation failed at the provider (exit 1)
    │   ├── AuthError             credentials missing or refused
    │   ├── RateLimited           the provider asked us to slow down, and retries ran out
    │   ├── QuotaExceeded         the account has no credit or hit its spend limit: never retried
    │   ├── ContentBlocked        the provider's safety system refused the prompt or the image
    │   ├── InvalidRequest        the provider rejected a field; carries its field-level detail
    │   ├── BackendUnavailable    the provider could not be reached or answered 5xx
    │   └── BackendTimeout        the generation took longer than the instance's timeout
    ├── OutputError               the image could not be written to disk (exit 1)
    └── SinkError                 a sink could not deliver; the image is safe (exit code unchanged)

Messages are one line, say what to do, and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ImagenError(Exception):
    """Base of every error imagen raises on purpose; ``str(error)`` is the one-line message."""

    exit_code: int = 1


class ConfigError(ImagenError):
    """A config or usage problem; carries its YAML path and line.

    Its message reads ``file:line: path: what is wrong and what to do``.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        file: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.file = file
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.path:
            where.append(self.path)
        return f"{': '.join(where)}: {self.message}" if where else self.message


class NotConfigured(ImagenError):
    """A required setting is missing; ``env_var`` names what to set."""

    exit_code = 2

    def __init__(self, message: str, *, env_var: str | None = None) -> None:
        self.env_var = env_var
        super().__init__(message)


class BackendError(ImagenError):
    """A generation failed at the provider. ``backend`` is the instance name when known."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.backend = backend
        self.detail = dict(detail or {})
        super().__init__(f"{backend}: {message}" if backend else message)


class AuthError(BackendError):
    """Credentials are missing or were refused (HTTP 401/403)."""


class RateLimited(BackendError):
    """The provider kept answering "slow down" after our retries; ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        retry_after: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, backend=backend, detail=detail)


class QuotaExceeded(BackendError):
    """The account has no credit left or reached its spend limit: no wait or retry helps.

    The toolkit never retries an answer that maps to it (see ``imagen.adapters.HttpApi``), and
    its message says to check the account's billing.
    """


class ContentBlocked(BackendError):
    """The provider's safety system refused; ``reason`` is the provider's own word for it."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.reason = reason
        super().__init__(message, backend=backend, detail=detail)


class InvalidRequest(BackendError):
    """The provider rejected the request; ``fields`` maps a field name to the provider's message."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        fields: Mapping[str, str] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields = dict(fields or {})
        super().__init__(message, backend=backend, detail=detail)


class BackendUnavailable(BackendError):
    """The provider could not be reached, dropped the connection, or answered 5xx."""


class BackendTimeout(BackendError):
    """The generation did not finish within the instance's timeout."""


class OutputError(ImagenError):
    """The image or its sidecar could not be written (not writable, disk full, bad path)."""


class SinkError(ImagenError):
    """A sink could not deliver a generation. The files are already on disk.

    ``state`` is what the sink got done before failing (for example ``{"uploaded": True}``); the
    outbox keeps it and hands it back on the next attempt so finished steps are not repeated.
    ``retryable`` False means a retry cannot help (a 4xx); the outbox still keeps it for the user.
    """

    def __init__(
        self,
        message: str,
        *,
        state: Mapping[str, Any] | None = None,
        retryable: bool = True,
    ) -> None:
        self.state = dict(state or {})
        self.retryable = retryable
        super().__init__(message)


__all__ = [
    "AuthError",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "ContentBlocked",
    "ImagenError",
    "InvalidRequest",
    "NotConfigured",
    "OutputError",
    "QuotaExceeded",
    "RateLimited",
    "SinkError",
]
