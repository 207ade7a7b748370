"""One Supabase project as the sinks talk to it: the key, the HTTP client and the retry policy.

httpx is imported lazily (through ``imagen.http``), so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from imagen.errors import SinkError
from imagen.http import Retry, RetryPolicy, make_client, scrub, send
from imagen.secrets import read_secret

if TYPE_CHECKING:
    import httpx


# Every 5xx and every transport failure is retried; a 4xx never is (it would only fail again).
RETRY_POLICY = RetryPolicy(
    Retry.on_status(*range(500, 600), attempts=3, backoff=0.5, max_backoff=8.0),
    Retry.on_transport(attempts=3, backoff=0.5),
    max_wait=30.0,
)


def auth_headers(key: str) -> dict[str, str]:
    """The headers that carry a service key.

    Legacy keys are JWTs (``eyJ...``) and go in both ``apikey`` and ``Authorization: Bearer``.
    The newer ``sb_secret_...`` keys are not JWTs: the gateway takes them from ``apikey`` only
    and rejects them as a bearer token.
    """
    headers = {"apikey": key}
    if key.startswith("eyJ"):
        headers["Authorization"] = f"Bearer {key}"
    return headers


# The characters Supabase Storage accepts in an object key (its isValidKey rule), minus "(",
# which starts an escape below and so is always escaped itself.
_KEY_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/!-.*') &$@=;:+,?"
)


def storage_key(path: str) -> str:
    """The object key for an image's relative path, by one fixed rule.

    Storage takes only a set of ASCII characters in keys, while imagen's names keep Unicode
    letters (``café-猫.png``). Every other character, and ``(`` itself, becomes ``(uXXXX)`` (its
    code point in hex), so the mapping is one-to-one: two local paths never share a key.
    """
    return "".join(
        char if char in _KEY_CHARS else f"(u{ord(char):04x})" for char in path.strip("/")
    )


def object_path(path: str) -> str:
    """A relative image path as it goes into a Storage URL (each segment percent-encoded)."""
    return quote(path.strip("/"), safe="/")


class Connection:
    """The HTTP side of one sink: base URL, key from ``key_env``, lazily created client."""

    def __init__(
        self,
        url: str,
        key_env: str,
        timeout: float,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.key_env = key_env
        self.timeout = timeout
        self.policy = RETRY_POLICY if sleep is None else RETRY_POLICY.with_sleep(sleep)
        self._client: httpx.AsyncClient | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc or self.url

    def key(self) -> str | None:
        return read_secret(self.key_env)

    def configured(self) -> bool:
        return bool(self.url) and self.key() is not None

    def require_key(self) -> str:
        key = self.key()
        if key is None:
            raise SinkError(f"not configured: set {self.key_env} to the project's service key")
        if not self.url:
            raise SinkError(
                "not configured: set url to the project URL (https://<ref>.supabase.co)"
            )
        return key

    def scrub(self, text: str) -> str:
        return scrub(text, [self.key()])

    def scrubbed(self, error: SinkError) -> SinkError:
        """``error`` with the key removed from its message (servers may echo a header back)."""
        return SinkError(self.scrub(str(error)), state=error.state, retryable=error.retryable)

    async def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """Send under the retry policy; a transport failure that outlasts it becomes SinkError."""
        import httpx

        key = self.require_key()
        headers = {**auth_headers(key), **kwargs.pop("headers", {})}
        if self._client is None:
            self._client = make_client(base_url=self.url, timeout=self.timeout)
        try:
            return await send(self._client, method, path, policy=self.policy, headers=headers,
                              **kwargs)  # fmt: skip
        except httpx.TransportError as error:
            reason = self.scrub(str(error) or type(error).__name__)
            raise SinkError(
                f"{what}: could not reach {self.host} ({type(error).__name__}: {reason}); "
                "run `imagen sync` when the network is back"
            ) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


__all__ = ["RETRY_POLICY", "Connection", "auth_headers", "object_path"]
