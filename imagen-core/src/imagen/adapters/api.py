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
402                      QuotaExceeded ("check the account's billing")
429                      RateLimited with ``retry_after``
5xx, transport errors    BackendUnavailable
a redirect elsewhere     BackendError: not followed, the key stays home
a body past its limit    BackendError naming the limit
=======================  ==========================================================

``errors(response, failure)`` runs first for every non-2xx answer and may return the
provider's own error (a content filter, a billing failure); returning None leaves it to the
table. ``failure.detail`` is the body's message, already made safe. An answer that maps to
:class:`~imagen.errors.QuotaExceeded` is never retried, whatever the policy says: no wait
brings money back.

``stream`` is ``call`` for server-sent events (read as they arrive), and ``download`` fetches
an image URL from an answer with the key kept home.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import attrs

from imagen.adapters.http import (
    ERROR_BODY_LIMIT,
    IMAGE_LIMIT,
    JSON_LIMIT,
    NO_RETRY,
    Deadline,
    DeadlineExceeded,
    ForeignOrigin,
    ResponseTooLarge,
    Retry,
    RetryPolicy,
    make_client,
    origin_of,
    retry_after_header,
    send,
)
from imagen.adapters.images import decode_data_uri, is_data_uri
from imagen.adapters.sse import EventStream
from imagen.adapters.text import describe_url, remote_text
from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    QuotaExceeded,
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
    ``title``, an ``errors`` list (of texts, or of objects with ``message``/``detail``/``title``,
    as JSON:API has), joined with "; "; else the text itself."""
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("type")
            if value:
                return str(value)
        listed = body.get("errors")
        if isinstance(listed, list):
            said = [body_message(item, "") if isinstance(item, Mapping) else str(item)
                    for item in listed[:_LISTED_ERRORS]]  # fmt: skip
            if any(said):
                return "; ".join(part for part in said if part)
    return text


#: how many entries of an ``errors`` list a message quotes
_LISTED_ERRORS = 3


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
    if status == 402:
        return QuotaExceeded(f"{provider} wants payment (HTTP 402: {said}); check the account's "
                             "billing", **common)  # fmt: skip
    if status == 429:
        return RateLimited(f"{provider} is rate limiting (HTTP 429: {said}); wait and try again",
                           retry_after=failure.retry_after, **common)  # fmt: skip
    if status >= 500:
        return BackendUnavailable(f"{where}; try again later", **common)
    if 300 <= status < 400:
        return BackendError(f"{where}; redirects are not followed with a key", **common)
    return BackendError(where, **common)


ErrorHook = Callable[["httpx.Response", Failure], BackendError | None]

#: Downloads are GETs: a lost connection or a 5xx is worth one more try.
DOWNLOAD_POLICY = RetryPolicy(
    Retry.on_status(500, 502, 503, 504, attempts=1), Retry.on_transport(attempts=1)
)


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
        """The key, and each credential header's value as sent, whole and without its scheme
        (a provider may echo the token of ``Basic <token>`` alone)."""
        if not self.key_env:
            return []
        values = [self.key()]
        for sent in self.credentials().values():
            values += [sent, sent.partition(" ")[2]]
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
        secrets = self._secrets() if credentials else []
        try:
            response = await send(
                self.client(), method, url, policy=self._policy(policy, what, errors),
                on_retry=on_retry, credentials=self.credentials() if credentials else None,
                redirects=redirects, limit=limit, deadline=deadline, **kwargs,
            )  # fmt: skip
        except Exception as error:
            mapped = self._lost(error, what, secrets)
            if mapped is None:
                raise
            raise mapped from None
        if response.is_success:
            return response
        raise self.failure_error(response, what=what, errors=errors, secrets=secrets)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        what: str,
        errors: ErrorHook | None = None,
        policy: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        limit: int = JSON_LIMIT,
        on_retry: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[EventStream]:
        """Server-sent events, read as they arrive::

            async with api.stream("POST", path, what=..., json=body, deadline=d) as events:
                async for event in events:  # imagen.adapters.ServerEvent
                    ...

        Until an answer starts (a 2xx), the request is sent, retried and mapped as by
        :meth:`call`, with the key on its origin and redirects not followed. Once it has
        started nothing is retried (the provider is at work, and billing). ``deadline`` bounds
        the whole block, reading included; a connection lost while reading is
        BackendUnavailable, a body past ``limit`` bytes BackendError.
        """
        import asyncio

        secrets = self._secrets()
        bound = asyncio.timeout(deadline.remaining()) if deadline else contextlib.nullcontext()
        try:
            async with bound:
                response = await self._open_stream(
                    method, url, what, errors, self._policy(policy, what, errors), deadline,
                    on_retry, kwargs,
                )  # fmt: skip
                try:
                    yield EventStream(response, _bounded(response, limit))
                finally:
                    await response.aclose()
        except Exception as error:
            mapped = self._lost(error, what, secrets)
            if mapped is None:
                raise
            raise mapped from None

    async def _open_stream(
        self,
        method: str,
        url: str,
        what: str,
        errors: ErrorHook | None,
        policy: RetryPolicy,
        deadline: Deadline | None,
        on_retry: Callable[[str, float], None] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        """The first 2xx answer, its body unread; the mapped error when the policy gives up."""
        import httpx

        from imagen.adapters.http import _read_bounded

        client = self.client()
        headers = {"Accept": "text/event-stream", **(kwargs.pop("headers", None) or {})}
        home = origin_of(self.base_url or url)
        used: dict[Retry, int] = {}
        while True:
            request = client.build_request(method, url, headers=headers, **kwargs)
            if origin_of(request.url) != home:
                raise ForeignOrigin(str(request.url), home)
            request.headers.update(self.credentials())
            outcome: httpx.Response | httpx.TransportError
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as error:
                outcome = error
            else:
                if response.is_success:
                    return response
                outcome = await _read_bounded(response, ERROR_BODY_LIMIT)
            rule = policy.rule_for(outcome)
            count = used.get(rule, 0) + 1 if rule is not None else 0
            hint = None if isinstance(outcome, BaseException) else policy.retry_after(outcome)
            wait = (
                min(hint if hint is not None else rule.delay(count), policy.max_wait) if rule else 0
            )
            if rule is None or count > rule.attempts or (deadline and wait >= deadline.remaining()):
                if isinstance(outcome, BaseException):
                    raise outcome
                raise self.failure_error(outcome, what=what, errors=errors)
            used[rule] = count
            if on_retry is not None:
                reason = (type(outcome).__name__ if isinstance(outcome, BaseException)
                          else f"HTTP {outcome.status_code}")  # fmt: skip
                on_retry(reason, wait)
            await policy.sleep(wait)

    async def download(
        self,
        url: str,
        *,
        what: str = "download the image",
        deadline: Deadline | None = None,
        limit: int = IMAGE_LIMIT,
        policy: RetryPolicy = DOWNLOAD_POLICY,
        errors: ErrorHook | None = None,
    ) -> bytes:
        """The bytes behind an image URL in an answer: a ``data:`` URI decoded, an ``http(s):``
        URL fetched within ``deadline`` and ``limit`` bytes.

        The key goes only to the API's own origin, and is dropped at a redirect to another
        (which is followed: a CDN); an ``https:`` API's URL must be ``https:`` too. Errors as for
        :meth:`call`, naming only the URL's scheme, host and file name.
        """
        if is_data_uri(url):
            try:
                return decode_data_uri(url)[0]
            except ValueError as error:
                raise BackendError(f"{self.provider} answered with an unreadable data: URL "
                                   f"({error})", backend=self.backend) from None  # fmt: skip
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https") or (scheme == "http" and self._secure()):
            raise BackendError(
                f"{self.provider} answered with {remote_text(describe_url(url), limit=120)}, "
                "not an https: URL; not downloaded",
                backend=self.backend,
            )
        home = origin_of(url) == origin_of(self.base_url) if self.base_url else False
        named = remote_text(describe_url(url), limit=120)
        response = await self.call(
            "GET", url, what=f"{what} ({named})", errors=errors, policy=policy,
            deadline=deadline, limit=limit, credentials=home, redirects="any",
        )  # fmt: skip
        return response.content

    def _secure(self) -> bool:
        return urlsplit(self.base_url).scheme.lower() == "https"

    def _policy(
        self, policy: RetryPolicy | None, what: str, errors: ErrorHook | None
    ) -> RetryPolicy:
        """``policy`` (the API's by default) with every rule declining an answer that maps to
        QuotaExceeded: the provider's word that waiting will not help."""
        chosen = policy or self.policy

        def worth_it(rule: Retry) -> Retry:
            def when(response: httpx.Response) -> bool:
                if rule.when is not None and not rule.when(response):
                    return False
                mapped = self.failure_error(response, what=what, errors=errors)
                return not isinstance(mapped, QuotaExceeded)

            return attrs.evolve(rule, when=when) if rule.statuses else rule

        return RetryPolicy(*map(worth_it, chosen.rules), retry_after=chosen.retry_after,
                           max_wait=chosen.max_wait, sleep=chosen.sleep)  # fmt: skip

    def _lost(self, error: Exception, what: str, secrets: list[str]) -> BackendError | None:
        """The imagen error for what stopped a request before an answer was read, or None."""
        import httpx

        if isinstance(error, DeadlineExceeded | TimeoutError | httpx.TimeoutException):
            return BackendTimeout(
                f"{self.provider} did not answer in time to {what}; raise timeout: for "
                f"{self.backend!r} or try again",
                backend=self.backend,
            )
        if isinstance(error, ResponseTooLarge):
            return BackendError(f"{self.provider} {error} ({what}); not read", backend=self.backend)
        if isinstance(error, ForeignOrigin):
            return BackendError(f"{self.provider} named a URL to {what} that {error}",
                                backend=self.backend)  # fmt: skip
        if isinstance(error, httpx.TooManyRedirects):
            return BackendError(f"{self.provider} redirected too many times to {what}",
                                backend=self.backend)  # fmt: skip
        if isinstance(error, httpx.TransportError):
            reason = remote_text(str(error) or type(error).__name__, secrets=secrets, limit=120)
            return BackendUnavailable(
                f"could not reach {self.provider} to {what} ({reason or type(error).__name__}); "
                "check the network and base_url",
                backend=self.backend,
                detail={"unreachable": reason or type(error).__name__},
            )
        return None

    def body_error(
        self, status: int, body: Any, *, what: str, errors: ErrorHook | None = None
    ) -> BackendError:
        """The error for a failure reported inside an answer that started well (an ``error``
        event in a stream), mapped as if ``body`` had come with ``status``."""
        import httpx

        request = httpx.Request("POST", self.base_url or "http://localhost")
        response = httpx.Response(status, json=body, request=request)
        return self.failure_error(response, what=what, errors=errors)

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
            target = response.headers.get("location")
            detail = (f"redirect to {remote_text(target, secrets=hidden, limit=120)}" if target
                      else "redirect without a Location header")  # fmt: skip
        failure = Failure(
            self.provider, self.backend, what, response.status_code, detail, self.key_env, body,
            self.retry_after(response) if response.status_code == 429 else None,
        )  # fmt: skip
        mapped = errors(response, failure) if errors is not None else None
        return mapped if mapped is not None else error_for_status(failure)


async def _bounded(response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, ResponseTooLarge once more than ``limit`` bytes came."""
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(str(response.request.url), limit)
        yield chunk


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
    "DOWNLOAD_POLICY",
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
