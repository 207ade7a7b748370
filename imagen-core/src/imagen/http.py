"""The HTTP layer adapters share: one client factory and a declarative retry policy.

httpx and tenacity are imported inside the functions, never at module import, so that a backend
module can import this one without slowing ``imagen --help`` or ``imagen backends``.

    policy = RetryPolicy(
        Retry.on_status(429, attempts=3, backoff=1.0),
        Retry.on_status(*range(500, 600), attempts=1),
        Retry.on_transport(attempts=1),
        retry_after=hint_in_json("detail", r"~(\\d+(?:\\.\\d+)?)s"),
    )
    async with make_client(base_url=..., headers=...) as client:
        response = await send(client, "POST", "/v1/predictions", policy=policy, json=body)

``send`` returns the last response whatever its status (the adapter maps statuses to errors) and
re-raises the last transport error once its retries are used up.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from imagen._version import __version__

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"imagen/{__version__}"


def make_client(
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    connect_timeout: float = 10.0,
    max_connections: int = 10,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with imagen's user agent, timeouts and connection reuse.

    ``timeout`` bounds each read/write; whole-generation deadlines belong to the adapter.
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
        follow_redirects=True,
    )


@attrs.frozen
class Retry:
    """One retry rule: what it matches, how many retries it allows, and its backoff.

    ``attempts`` counts retries after the first try. Backoff doubles from ``backoff`` seconds up
    to ``max_backoff``, unless the response carries a hint (``RetryPolicy.retry_after``).
    """

    statuses: frozenset[int] = frozenset()
    transport: bool = False
    attempts: int = 1
    backoff: float = 0.5
    max_backoff: float = 30.0

    @classmethod
    def on_status(cls, *statuses: int, attempts: int = 1, backoff: float = 0.5,
                  max_backoff: float = 30.0) -> Retry:  # fmt: skip
        return cls(frozenset(statuses), False, attempts, backoff, max_backoff)

    @classmethod
    def on_transport(cls, *, attempts: int = 1, backoff: float = 0.2) -> Retry:
        return cls(frozenset(), True, attempts, backoff)

    def delay(self, retry_number: int) -> float:
        return float(min(self.backoff * (2 ** (retry_number - 1)), self.max_backoff))


RetryAfter = Callable[["httpx.Response"], float | None]


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
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
            elif outcome.status_code in rule.statuses:
                return rule
        return None

    def with_sleep(self, sleep: Callable[[float], Awaitable[None]]) -> RetryPolicy:
        """The same policy with another sleep (tests use a recording no-op)."""
        return RetryPolicy(*self.rules, retry_after=self.retry_after, max_wait=self.max_wait,
                           sleep=sleep)  # fmt: skip


NO_RETRY = RetryPolicy()


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy = NO_RETRY,
    on_retry: Callable[[str, float], None] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request under ``policy``: the last response, or the last transport error raised.

    ``on_retry(reason, wait_seconds)`` is told about each retry (for progress messages).
    """
    import tenacity

    used: dict[Retry, int] = {}

    def outcome_of(state: tenacity.RetryCallState) -> httpx.Response | BaseException:
        assert state.outcome is not None
        error = state.outcome.exception()
        return error if error is not None else state.outcome.result()

    def should_retry(state: tenacity.RetryCallState) -> bool:
        rule = policy.rule_for(outcome_of(state))
        if rule is None or used.get(rule, 0) >= rule.attempts:
            return False
        used[rule] = used.get(rule, 0) + 1
        return True

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = outcome_of(state)
        rule = policy.rule_for(outcome)
        assert rule is not None
        hint = None if isinstance(outcome, BaseException) else policy.retry_after(outcome)
        seconds = min(hint if hint is not None else rule.delay(used[rule]), policy.max_wait)
        if on_retry is not None:
            reason = (
                type(outcome).__name__
                if isinstance(outcome, BaseException)
                else f"HTTP {outcome.status_code}"
            )
            on_retry(reason, seconds)
        return seconds

    retrying = tenacity.AsyncRetrying(
        retry=should_retry,
        wait=wait,
        stop=tenacity.stop_never,
        sleep=policy.sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            response = await client.request(method, url, **kwargs)
            # Read the body here, so a connection dropped mid-body counts as a transport error.
            await response.aread()
        if attempt.retry_state.outcome is not None and not attempt.retry_state.outcome.failed:
            attempt.retry_state.set_result(response)
    return response


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***`` (for error messages and logs)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


__all__ = [
    "NO_RETRY",
    "USER_AGENT",
    "Retry",
    "RetryPolicy",
    "hint_in_text",
    "make_client",
    "retry_after_header",
    "scrub",
    "send",
]
