"""One Supabase project as the sinks talk to it: the key, the HTTP client and the retry policy.

httpx is imported lazily (through ``imagen.adapters.http``), so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from imagen.adapters.http import ResponseTooLarge, Retry, RetryPolicy, make_client, scrub, send
from imagen.errors import SinkError
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


def owner_key(owner_user_id: str, path: str) -> str:
    """The object key of an image in a shared bucket: its owner's id, then ``storage_key(path)``.

    Owners never share a key, so one owner's upload can never land on another's image.
    """
    return f"{owner_user_id.strip()}/{storage_key(path)}"


def with_digest(key: str, sha256: str) -> str:
    """``key`` with the start of the image's sha256 before its extension
    (``a/cat.png`` -> ``a/cat-1f2e3d4c5b6a.png``): where an image goes when its own key already
    holds another image."""
    folder, _, name = key.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension
        stem, dot, extension = name, "", ""
    return f"{folder}/{stem}-{sha256[:12]}{dot}{extension}".lstrip("/")


def _percent_decoded(text: str) -> str:
    """``text`` percent-decoded until it no longer changes (``%252e`` -> ``%2e`` -> ``.``)."""
    for _ in range(8):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def key_problem(key: str) -> str | None:
    """Why ``key`` could reach outside the bucket (or is no object name at all), or None.

    Checked as given and percent-decoded, since a proxy or Storage itself may decode it again:
    no ``.`` or ``..`` segment, no leading ``/``, no empty segment, no backslash, no control
    character.
    """
    if not key:
        return "it is empty"
    for form in dict.fromkeys((key, _percent_decoded(key))):
        if form.startswith("/"):
            return "it is absolute"
        if "\\" in form:
            return "it contains a backslash"
        if any(ord(char) < 32 or ord(char) == 127 for char in form):
            return "it contains a control character"
        segments = form.split("/")
        if any(segment in (".", "..") for segment in segments):
            return "it has a . or .. segment"
        if "" in segments:
            return "it has an empty segment (//, or a trailing /)"
    return None


def object_path(key: str) -> str:
    """An object key as it goes into a Storage URL (each segment percent-encoded).

    A key that could leave the bucket (``../``, absolute, encoded variants) is a SinkError:
    no request is ever built for it.
    """
    problem = key_problem(key)
    if problem is not None:
        raise SinkError(f"refusing the object name {key!r}: {problem}", retryable=False)
    return quote(key, safe="/")


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
        if self._client is None:
            self._client = make_client(base_url=self.url, timeout=self.timeout)
        try:
            # The service key goes to the project's origin only; a redirect elsewhere is
            # answered as it is (an error), never followed with the key or the image.
            return await send(self._client, method, path, policy=self.policy,
                              credentials=auth_headers(key), **kwargs)  # fmt: skip
        except ResponseTooLarge as error:
            raise SinkError(f"{what}: {self.host} {error}; not read") from None
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


__all__ = [
    "RETRY_POLICY",
    "Connection",
    "auth_headers",
    "key_problem",
    "object_path",
    "owner_key",
    "storage_key",
    "with_digest",
]
