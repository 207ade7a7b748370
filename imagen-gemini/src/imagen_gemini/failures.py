"""Gemini's error answers, mapped to imagen's errors, and the retry hints they carry.

    {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
               "message": "You exceeded your current quota ... Please retry in 7.5s.",
               "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": "7s"}]}}

An invalid key is a 400 with ErrorInfo reason API_KEY_INVALID, a missing one a 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from imagen.adapters import Failure, Retry, RetryPolicy, json_or_none, remote_text
from imagen.adapters import retry_after_header as retry_after_header
from imagen.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    InvalidRequest,
    RateLimited,
)

if TYPE_CHECKING:
    import httpx

_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")

RATE_LIMIT_RETRIES = 3


@attrs.frozen
class ErrorBody:
    """The ``{"error": {...}}`` object of a Google API error (empty when the body is not one)."""

    status: str | None = None
    message: str = ""
    details: tuple[Mapping[str, Any], ...] = ()

    def detail_of(self, type_name: str) -> list[Mapping[str, Any]]:
        suffix = f"/google.rpc.{type_name}"
        return [d for d in self.details if str(d.get("@type", "")).endswith(suffix)]

    @property
    def reasons(self) -> set[str]:
        return {str(d.get("reason")) for d in self.detail_of("ErrorInfo")}

    @property
    def field_violations(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for request in self.detail_of("BadRequest"):
            for violation in request.get("fieldViolations") or ():
                if isinstance(violation, Mapping):
                    field = str(violation.get("field") or "request")
                    fields[field] = remote_text(violation.get("description", ""))
        return fields


def error_body(response: httpx.Response) -> ErrorBody:
    payload = json_or_none(response)
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return ErrorBody(message=response.text)
    details = error.get("details")
    return ErrorBody(
        status=error.get("status") if isinstance(error.get("status"), str) else None,
        message=str(error.get("message") or ""),
        details=tuple(d for d in details if isinstance(d, Mapping))
        if isinstance(details, list)
        else (),
    )


def retry_hint(response: httpx.Response) -> float | None:
    """Seconds Gemini asks us to wait: "retry in 7.5s" in the message, else RetryInfo's
    ``retryDelay``, else a ``Retry-After`` header."""
    body = error_body(response)
    match = _RETRY_IN.search(body.message)
    if match:
        return float(match.group(1))
    for info in body.detail_of("RetryInfo"):
        delay = _DURATION.match(str(info.get("retryDelay", "")))
        if delay:
            return float(delay.group(1))
    return retry_after_header(response)


#: 429 up to three times after the hinted wait; 5xx once; a lost connection is not retried,
#: because a POST whose answer was lost may still have been billed.
RETRY_RULES: tuple[Retry, ...] = (
    Retry.on_status(429, attempts=RATE_LIMIT_RETRIES, backoff=2.0),
    Retry.on_status(*range(500, 600), attempts=1, backoff=1.0),
)
RETRY_POLICY = RetryPolicy(*RETRY_RULES, retry_after=retry_hint)


def error_for(response: httpx.Response, failure: Failure, *, model: str) -> BackendError | None:
    """The imagen error for a non-200 generateContent answer (the key scrubbed from any text)."""
    status, backend, api_key_env = failure.status, failure.backend, failure.key_env
    body = error_body(response)
    message = failure.detail or f"HTTP {status}"
    detail = {"http_status": status, "status": body.status, "message": message}
    if status in (401, 403) or "API_KEY_INVALID" in body.reasons:
        return AuthError(
            f"Gemini refused the API key from {api_key_env} ({message}); "
            f"set {api_key_env} to a valid key from https://aistudio.google.com/apikey",
            backend=backend,
            detail=detail,
        )
    if status == 404:
        return InvalidRequest(
            f"Gemini has no model {model!r} for generateContent ({message}); "
            "set model: to an image model such as gemini-2.5-flash-image",
            backend=backend,
            fields={"model": message},
            detail=detail,
        )
    if status == 429:
        return RateLimited(
            # Not "after N retries": a wait past the take's timeout is not made at all.
            f"Gemini is rate limiting this key ({message}); wait and try again, or lower "
            "concurrency",
            backend=backend,
            retry_after=retry_hint(response),
            detail=detail,
        )
    if 400 <= status < 500 and status not in (402, 408, 413):  # 402: the toolkit's QuotaExceeded
        return InvalidRequest(
            f"Gemini rejected the request: {message}",
            backend=backend,
            fields=body.field_violations,
            detail=detail,
        )
    if status >= 500:
        answered = f"HTTP {status} {body.status}" if body.status else f"HTTP {status}"
        return BackendUnavailable(
            f"Gemini answered {answered} twice ({message}); try again later",
            backend=backend,
            detail=detail,
        )
    return None  # 3xx, 408, 413: the toolkit's wording
