"""Send a request to a provider and map every failure to one of imagen's errors.

    api = HttpApi("Acme", backend=name, base_url=settings.base_url,
                  key_env=settings.api_key_env, auth=bearer, policy=POLICY)
    response = await api.call("POST", "/v1/images", what="create the image", json=body,
                              deadline=deadline, errors=acme_errors)

``call`` sends within the take's :class:`~imagen.adapters.http.Deadline`, retries per the
policy, keeps the key on its origin, bounds the body, and turns what goes wrong into one line
without a secret in it:

=======================  ==========================================================
401, 403                 AuthError naming the env var
404                      InvalidRequest ("check the model name")
408, timeouts, deadline  BackendTimeout
413                      InvalidRequest ("the request is too large")
400, 422, other 4xx      InvalidRequest (400/422), BackendError (others)
429                      RateLimited with ``retry_after``
5xx, transport errors    BackendUnavailable
a redirect elsewhere     BackendError: not followed, the key stays home
a body past its limit    BackendError naming the limit
=======================  ==========================================================

``errors(response, failure)`` runs first for every non-2xx answer and may return the
provider's own error (a content filter, a billing failure); returning None leaves it to the
table. ``failure.detail`` is the body's message, already made safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from imagen.adapters.http import (
    JSON_LIMIT,
    NO_RETRY,
    Deadline,
    DeadlineExceeded,
    ForeignOrigin,
    ResponseTooLarge,
    RetryPolicy,
    make_client,
    retry_after_header,
    send,
)
from imagen.adapters.text import remote_text
from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    RateLimited,
)
from imagen.secrets import require_secret

if TYPE_CHECKING:
    import httpx


def bearer(key: str) -> dict[str, str]:
    """``Authorization: Bearer <key>``: the usual ``auth`` for :class:`HttpApi`."""
    return {"Authorization": f"Bearer {key}"}


def header(name: str) -> Callable[[str], dict[str, str]]:
    """An ``auth`` that sends the key in header ``name`` (``x-goog-api-key``, ``apikey``)."""
    return lambda key: {name: key}


@attrs.frozen
class Failure:
    """A non-2xx answer as the mapping sees it: everything already one safe line."""

    provider: str
    backend: str
    what: str
    status: int
    detail: str
    key_env: str | None
    body: Any
    retry_after: float | None

    @property
    def info(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail}


def body_message(body: Any, text: str) -> str:
    """The human part of an error body: ``message``, ``detail``, ``error`` (or its ``message``),
    ``title``; else the text itself."""
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("type")
            if value:
                return str(value)
    return text


def error_for_status(failure: Failure) -> BackendError:
    """The framework's error for a non-2xx answer (the table in this module's docstring)."""
    provider, status, said = failure.provider, failure.status, failure.detail
    where = f"{provider} could not {failure.what} (HTTP {status}" + (f": {said})" if said else ")")
    common: dict[str, Any] = {"backend": failure.backend, "detail": failure.info}
    if status in (401, 403):
        env = failure.key_env
        fix = f"set {env} to a valid key" if env else "check the credentials"
        return AuthError(f"{provider} refused the key (HTTP {status}: {said}); {fix}", **common)
    if status == 404:
        return InvalidRequest(f"{where}; check the model name and base_url", **common)
    if status == 408:
        return BackendTimeout(f"{where}; try again", **common)
    if status == 413:
        return InvalidRequest(f"{where}; the request is too large: use smaller --ref images",
                              **common)  # fmt: skip
    if status in (400, 422):
        return InvalidRequest(f"{provider} rejected the request (HTTP {status}: {said})", **common)
    if status == 429:
        return RateLimited(f"{provider} is rate limiting (HTTP 429: {said}); wait and try again",
                           retry_after=failure.retry_after, **common)  # fmt: skip
    if status >= 500:
        return BackendUnavailable(f"{where}; try again later", **common)
    if 300 <= status < 400:
        return BackendError(f"{where}; redirects are not followed with a key", **common)
    return BackendError(where, **common)


ErrorHook = Callable[["httpx.Response", Failure], BackendError | None]


class HttpApi:
    """One provider's HTTP API as an adapter uses it: its origin, its key, its retry policy.

    The client is made on first use and closed by :meth:`aclose` (call it from the backend's
    ``aclose``). The key is read from ``key_env`` at each call, so a backend is built without one.
    """

    def __init__(
        self,
        provider: str,
        *,
        backend: str,
        base_url: str,
        key_env: str | None = None,
        auth: Callable[[str], Mapping[str, str]] | None = None,
        policy: RetryPolicy = NO_RETRY,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        retry_after: Callable[[httpx.Response], float | None] = retry_after_header,
    ) -> None:
        self.provider = provider
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self.auth = auth
        self.policy = policy
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.retry_after = retry_after
        self._client: httpx.AsyncClient | None = None

    def key(self) -> str:
        """The key from ``key_env`` (NotConfigured saying which variable to set)."""
        assert self.key_env is not None, "HttpApi.key() needs key_env"
        return require_secret(self.key_env, what=f"backend {self.backend!r}")

    def credentials(self) -> dict[str, str]:
        if self.key_env is None or self.auth is None:
            return {}
        return dict(self.auth(self.key()))

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(base_url=self.base_url, headers=self.headers,
                                       timeout=self.timeout)  # fmt: skip
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def clean(self, text: Any, limit: int = 300) -> str:
        """``remote_text`` with this API's credentials scrubbed."""
        return remote_text(text, secrets=self._secrets(), limit=limit)

    def _secrets(self) -> list[str]:
        values = list(self.credentials().values()) if self.key_env else []
        if self.key_env:
            values.append(self.key())
        return values

    async def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        errors: ErrorHook | None = None,
        policy: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        limit: int = JSON_LIMIT,
        credentials: bool = True,
        redirects: Literal["same-origin", "any", "none"] = "same-origin",
        on_retry: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send and map: the 2xx response, or the imagen error for whatever happened.

        ``what`` completes "could not ..." in messages. ``credentials=False`` sends no key (an
        output download on another host; then ``redirects="any"`` is safe).
        """
        import httpx

        secrets = self._secrets() if credentials else []
        try:
            response = await send(
                self.client(), method, url, policy=policy or self.policy, on_retry=on_retry,
                credentials=self.credentials() if credentials else None, redirects=redirects,
                limit=limit, deadline=deadline, **kwargs,
            )  # fmt: skip
        except (DeadlineExceeded, httpx.TimeoutException):
            raise BackendTimeout(
                f"{self.provider} did not answer in time to {what}; raise timeout: for "
                f"{self.backend!r} or try again",
                backend=self.backend,
            ) from None
        except ResponseTooLarge as error:
            raise BackendError(f"{self.provider} {error} ({what}); not read", backend=self.backend
                               ) from None  # fmt: skip
        except ForeignOrigin as error:
            raise BackendError(f"{self.provider} named a URL to {what} that {error}",
                               backend=self.backend) from None  # fmt: skip
        except httpx.TransportError as error:
            reason = remote_text(str(error) or type(error).__name__, secrets=secrets, limit=120)
            raise BackendUnavailable(
                f"could not reach {self.provider} to {what} ({reason or type(error).__name__}); "
                "check the network and base_url",
                backend=self.backend,
                detail={"unreachable": reason or type(error).__name__},
            ) from None
        if response.is_success:
            return response
        raise self.failure_error(response, what=what, errors=errors, secrets=secrets)

    def failure_error(
        self,
        response: httpx.Response,
        *,
        what: str,
        errors: ErrorHook | None = None,
        secrets: list[str] | None = None,
    ) -> BackendError:
        """The error for a non-2xx ``response``: the provider's ``errors`` hook, else the table."""
        body = json_or_none(response)
        hidden = self._secrets() if secrets is None else secrets
        detail = remote_text(body_message(body, response.text), secrets=hidden)
        if 300 <= response.status_code < 400:
            target = response.headers.get("location", "")
            detail = f"redirect to {remote_text(target, secrets=hidden, limit=120)}"
        failure = Failure(
            self.provider, self.backend, what, response.status_code, detail, self.key_env, body,
            self.retry_after(response) if response.status_code == 429 else None,
        )  # fmt: skip
        mapped = errors(response, failure) if errors is not None else None
        return mapped if mapped is not None else error_for_status(failure)


def json_or_none(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object ({} when it is not one)."""
    body = json_or_none(response)
    return body if isinstance(body, dict) else {}


__all__ = [
    "ErrorHook",
    "Failure",
    "HttpApi",
    "bearer",
    "body_message",
    "error_for_status",
    "header",
    "json_object",
    "json_or_none",
]
