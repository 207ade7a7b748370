"""The HTTP layer adapters share: one client factory, a declarative retry policy, and ``send``.

httpx is imported inside the functions, never at module import, so that a backend module can
import this one without slowing ``imagen --help`` or ``imagen backends``.

    policy = RetryPolicy(
        Retry.on_status(429, attempts=3, backoff=1.0, when=lambda r: "insufficient_quota"
                        not in r.text),
        Retry.on_status(*range(500, 600), attempts=1),
        Retry.on_transport(attempts=1),
        retry_after=hint_in_text(r"~(\\d+(?:\\.\\d+)?)s"),
    )
    async with make_client(base_url=...) as client:
        response = await send(client, "POST", "/v1/predictions", policy=policy,
                              credentials={"Authorization": f"Bearer {token}"}, json=body)

What ``send`` promises, whoever calls it:

- **Keys go only to their origin.** ``credentials`` (every header that authenticates) are sent
  only to the origin of the client's ``base_url`` (or of the first URL when there is none); a
  URL on another origin is refused with :class:`ForeignOrigin` before anything is sent.
- **Redirects** are followed by ``send`` itself, never by httpx: within the origin always; to
  another origin only with ``redirects="any"`` and then without ``credentials`` (downloads from a
  CDN). Otherwise the 3xx answer is returned unfollowed, for the adapter to report; so is a
  307/308 (or a 301/302 of a PUT) whose body is an async stream, which cannot be sent twice.
- **Bodies are bounded.** A success body larger than ``limit`` bytes raises
  :class:`ResponseTooLarge` (checked while streaming, not after); an error body is cut at
  ``ERROR_BODY_LIMIT``.
- **Deadlines hold.** With a :class:`Deadline`, every attempt runs inside what is left of it
  (slow-drip servers included) and a retry whose wait would outlast it is not made;
  :class:`DeadlineExceeded` (a ``TimeoutError``) says it ran out.

``send`` returns the last response whatever its status (the adapter maps statuses to errors) and
re-raises the last transport error once its retries are used up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from imagen._version import __version__

if TYPE_CHECKING:
    import asyncio

    import httpx

USER_AGENT = f"imagen/{__version__}"

MiB = 1024 * 1024
#: The default bound on a success body: JSON answers are kilobytes; a few MiB is generous.
JSON_LIMIT = 8 * MiB
#: Error bodies are read up to this size and cut there: the status says what happened.
ERROR_BODY_LIMIT = 1 * MiB
#: A bound for an image download when the request does not say how large it can be.
IMAGE_LIMIT = 256 * MiB
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ResponseTooLarge(Exception):
    """The server sent (or announced) more than the limit set for this request."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(f"answered more than {_size(limit)} for {_where(url)}")
        self.url = url
        self.limit = limit


class ForeignOrigin(Exception):
    """A request with credentials named a URL outside the credentials' origin: not sent."""

    def __init__(self, url: str, origin: str) -> None:
        super().__init__(f"{_where(url)} is not on {origin}; the key is only sent to {origin}")
        self.url = url
        self.origin = origin


class DeadlineExceeded(TimeoutError):
    """The take's deadline passed while a request was in flight or a retry was due."""


@attrs.frozen
class Deadline:
    """The moment a take must be over (``time.monotonic()`` seconds): a wall-clock bound.

    ``async with deadline.scope():`` bounds a block; ``send(..., deadline=deadline)`` bounds
    each attempt and skips retries that could not finish in time.
    """

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def scope(self) -> asyncio.Timeout:
        import asyncio

        return asyncio.timeout(self.remaining())


def make_client(
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    connect_timeout: float = 10.0,
    max_connections: int = 10,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with imagen's user agent, timeouts and connection reuse.

    ``timeout`` bounds each read/write; a take's wall-clock bound is a :class:`Deadline`.
    ``headers`` go on every request to every origin: never put a key there, pass it to ``send``
    as ``credentials``. The client follows no redirects itself (``send`` does, by origin).
    Close it with ``await client.aclose()`` (a backend does this in ``aclose``).
    """
    import httpx

    return httpx.AsyncClient(
        base_url=base_url,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
        event_hooks={"request": [_refuse_a_port_out_of_range]},
    )


async def _refuse_a_port_out_of_range(request: httpx.Request) -> None:
    """httpx takes ``host:99999``, and the socket layer then fails with an ExceptionGroup no
    caller maps: refuse it as the connection error it is, naming the port."""
    import httpx

    port = request.url.port
    if port is not None and not 0 < port < 65536:
        raise httpx.ConnectError(f"port {port} is out of range (1 to 65535)", request=request)


@attrs.frozen
class Retry:
    """One retry rule: what it matches, how many retries it allows, and its backoff.

    ``attempts`` counts retries after the first try. Backoff doubles from ``backoff`` seconds up
    to ``max_backoff``, unless the response carries a hint (``RetryPolicy.retry_after``).
    ``when`` looks at a matching response (its body is read) and says whether it is worth
    retrying: a 429 that says ``insufficient_quota`` never recovers.
    """

    statuses: frozenset[int] = frozenset()
    transport: bool = False
    attempts: int = 1
    backoff: float = 0.5
    max_backoff: float = 30.0
    when: Callable[[httpx.Response], bool] | None = None

    @classmethod
    def on_status(cls, *statuses: int, attempts: int = 1, backoff: float = 0.5,
                  max_backoff: float = 30.0,
                  when: Callable[[httpx.Response], bool] | None = None) -> Retry:  # fmt: skip
        return cls(frozenset(statuses), False, attempts, backoff, max_backoff, when)

    @classmethod
    def on_transport(cls, *, attempts: int = 1, backoff: float = 0.2) -> Retry:
        return cls(frozenset(), True, attempts, backoff)

    def delay(self, retry_number: int) -> float:
        return float(min(self.backoff * (2 ** (retry_number - 1)), self.max_backoff))


RetryAfter = Callable[["httpx.Response"], float | None]


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    import email.utils  # 8 ms at import time, needed only for the rare HTTP-date form

    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def hint_in_text(pattern: str) -> RetryAfter:
    """A ``retry_after`` reading seconds from the body text (``r"retry in (\\d+(?:\\.\\d+)?)s"``),
    falling back to the ``Retry-After`` header."""
    compiled = re.compile(pattern, re.IGNORECASE)

    def read(response: httpx.Response) -> float | None:
        header = retry_after_header(response)
        if header is not None:
            return header
        match = compiled.search(response.text)
        return float(match.group(1)) if match else None

    return read


def _default_sleep(seconds: float) -> Awaitable[None]:
    import asyncio

    return asyncio.sleep(seconds)


@attrs.frozen(init=False)
class RetryPolicy:
    """Which failures retry, how often and how long to wait: declared, not looped by hand."""

    rules: tuple[Retry, ...]
    retry_after: RetryAfter = retry_after_header
    max_wait: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = _default_sleep

    def __init__(
        self,
        *rules: Retry,
        retry_after: RetryAfter = retry_after_header,
        max_wait: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = _default_sleep,
    ) -> None:
        self.__attrs_init__(tuple(rules), retry_after, max_wait, sleep)

    def rule_for(self, outcome: httpx.Response | BaseException) -> Retry | None:
        import httpx

        for rule in self.rules:
            if isinstance(outcome, BaseException):
                if rule.transport and isinstance(outcome, httpx.TransportError):
                    return rule
            elif outcome.status_code in rule.statuses and (rule.when is None or rule.when(outcome)):
                return rule
        return None

    def with_sleep(self, sleep: Callable[[float], Awaitable[None]]) -> RetryPolicy:
        """The same policy with another sleep (tests use a recording no-op)."""
        return RetryPolicy(*self.rules, retry_after=self.retry_after, max_wait=self.max_wait,
                           sleep=sleep)  # fmt: skip


NO_RETRY = RetryPolicy()


def origin_of(url: str | httpx.URL) -> str:
    """``scheme://host:port`` with the default port spelled out, for comparing origins."""
    import httpx

    parsed = httpx.URL(str(url))
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme, 0)
    return f"{parsed.scheme}://{parsed.host}:{port}"


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy = NO_RETRY,
    on_retry: Callable[[str, float], None] | None = None,
    credentials: Mapping[str, str] | None = None,
    redirects: Literal["same-origin", "any", "none"] = "same-origin",
    limit: int = JSON_LIMIT,
    deadline: Deadline | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request under ``policy``: the last response, or the last transport error raised.

    ``on_retry(reason, wait_seconds)`` is told about each retry (for progress messages).
    ``credentials`` go only to the credentials' origin (see the module docstring), ``limit``
    bounds a success body in bytes, ``deadline`` bounds the whole call.
    """
    import asyncio

    import httpx

    if kwargs.pop("follow_redirects", None) is False:  # send follows redirects itself, by origin
        redirects = "none"
    home = origin_of(
        client.base_url if str(client.base_url) else client.build_request("GET", url).url
    )
    used: dict[Retry, int] = {}
    while True:
        outcome: httpx.Response | BaseException
        try:
            if deadline is None:
                outcome = await _follow(client, method, url, home, credentials, redirects,
                                        limit, kwargs)  # fmt: skip
            else:
                try:
                    async with asyncio.timeout(deadline.remaining()):
                        outcome = await _follow(client, method, url, home, credentials,
                                                redirects, limit, kwargs)  # fmt: skip
                except TimeoutError:
                    raise DeadlineExceeded(f"no answer from {_where(url)} in time") from None
        except httpx.TransportError as error:
            outcome = error
        rule = policy.rule_for(outcome)
        if rule is None or used.get(rule, 0) >= rule.attempts:
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        used[rule] = used.get(rule, 0) + 1
        hint = None if isinstance(outcome, BaseException) else policy.retry_after(outcome)
        seconds = min(hint if hint is not None else rule.delay(used[rule]), policy.max_wait)
        if deadline is not None and seconds >= deadline.remaining():
            # Waiting would spend the rest of the take: the last answer is the answer.
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        if on_retry is not None:
            reason = (
                type(outcome).__name__
                if isinstance(outcome, BaseException)
                else f"HTTP {outcome.status_code}"
            )
            on_retry(reason, seconds)
        await policy.sleep(seconds)


async def _follow(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    home: str,
    credentials: Mapping[str, str] | None,
    redirects: str,
    limit: int,
    kwargs: dict[str, Any],
) -> httpx.Response:
    """One attempt: the request and the redirects policy allows, each body read within bounds."""
    import httpx

    headers = dict(kwargs.pop("headers", None) or {})
    request = client.build_request(method, url, headers=headers, **kwargs)
    kwargs["headers"] = headers  # put back for a retry
    if credentials:
        if origin_of(request.url) != home:
            raise ForeignOrigin(str(request.url), home)
        request.headers.update(credentials)
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(request, stream=True)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location or redirects == "none":
            return await _read_bounded(response, limit)
        target = request.url.join(location)
        crossing = origin_of(target) != origin_of(request.url)
        if crossing and redirects != "any":
            return await _read_bounded(response, limit)  # not followed: the adapter reports it
        following = _redirected(client, request, response.status_code, target,
                                credentials if crossing else None)  # fmt: skip
        if following is None:  # its streamed body is spent: the adapter reports the redirect
            return await _read_bounded(response, limit)
        await response.aclose()
        request = following
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)


def _redirected(
    client: httpx.AsyncClient,
    request: httpx.Request,
    status: int,
    target: httpx.URL,
    drop: Mapping[str, str] | None,
) -> httpx.Request | None:
    """The next request of a redirect chain; across origins without credentials or cookies.
    None when the request's body must be sent again and cannot be: an async stream is read once.
    """
    import httpx

    method = request.method
    content: bytes | None
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, content = ("GET" if method != "HEAD" else "HEAD"), None
    else:  # the same method again, with its body (a PUT moved by a 301 is still a PUT)
        if not isinstance(request.stream, httpx.SyncByteStream):
            return None
        content = request.read()  # a multipart body is a stream until read
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    if content is None:
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
    if drop is not None:
        gone = {name.lower() for name in drop} | {"authorization", "cookie", "proxy-authorization"}
        headers = {k: v for k, v in headers.items() if k.lower() not in gone}
    return client.build_request(method, target, headers=headers, content=content)


async def _read_bounded(response: httpx.Response, limit: int) -> httpx.Response:
    """The response with its body read: at most ``limit`` bytes of a success, at most
    ``ERROR_BODY_LIMIT`` of anything else (cut there). Raises ResponseTooLarge past ``limit``."""
    import httpx

    success = response.is_success
    bound = limit if success else ERROR_BODY_LIMIT
    try:
        announced = int(response.headers.get("content-length", "-1"))
    except ValueError:
        announced = -1
    if success and announced > bound:
        await response.aclose()
        raise ResponseTooLarge(str(response.request.url), bound)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > bound:
                if success:
                    raise ResponseTooLarge(str(response.request.url), bound)
                break
    finally:
        await response.aclose()
    body = b"".join(chunks)[:bound]
    # The body is decoded already: a copy without the encoding headers reads it as it is.
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret and every token-shaped run hidden (for messages and logs).

    The exact ``secrets`` (and each header value of a multi-line one) become ``***``;
    then :func:`imagen.secrets.redact` hides anything shaped like a key. Scrub before cutting a
    message short, never after: a key cut at the boundary is no longer recognised.
    """
    from imagen.secrets import redact

    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
            for line in secret.splitlines():
                # A header value from a multi-line secret (ComfyUI's headers_env) on its own.
                _, colon, value = line.partition(":")
                for piece in (line.strip(), value.strip() if colon else ""):
                    if len(piece) >= 8:
                        text = text.replace(piece, "***")
    return redact(text)


def _where(url: str) -> str:
    """Scheme, host and port of ``url``: the part of a URL safe to name in a message."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else url[:60]


def _size(limit: int) -> str:
    return f"{limit / MiB:g} MiB" if limit >= MiB else f"{limit} bytes"


__all__ = [
    "ERROR_BODY_LIMIT",
    "IMAGE_LIMIT",
    "JSON_LIMIT",
    "MAX_REDIRECTS",
    "NO_RETRY",
    "USER_AGENT",
    "Deadline",
    "DeadlineExceeded",
    "ForeignOrigin",
    "ResponseTooLarge",
    "Retry",
    "RetryPolicy",
    "hint_in_text",
    "make_client",
    "origin_of",
    "retry_after_header",
    "scrub",
    "send",
]
