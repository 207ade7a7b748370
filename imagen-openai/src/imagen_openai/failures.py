"""OpenAI's error answers mapped to imagen's errors, and which of them are retried.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "size",
               "code": "invalid_value"}}

A 429 is either a rate limit (retried after ``Retry-After``) or ``insufficient_quota``: the
account has no credit or hit its spend limit, which no wait fixes. That one is QuotaExceeded,
which the toolkit never retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imagen.adapters import Failure, HttpApi, Retry, RetryPolicy, remote_text
from imagen.adapters import retry_after_header as retry_after_header
from imagen.errors import (
    BackendError,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
    QuotaExceeded,
    RateLimited,
)

if TYPE_CHECKING:
    import httpx

#: ``error.code`` (or ``type``) values of a safety refusal, OpenAI's and Azure's.
BLOCKED = frozenset(
    {
        "moderation_blocked",
        "content_policy_violation",
        "content_filter",
        "contentFilter",
        "ResponsibleAIPolicyViolation",
    }
)
#: ``error.code`` values that mean no money is left; ``type`` is ``insufficient_quota`` too.
BILLING = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
    }
)
RATE_LIMIT_RETRIES = 3


def error_fields(body: Any) -> dict[str, str]:
    """``message``, ``type``, ``param`` and ``code`` of an error body, as text ("" if absent)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return {"message": "", "type": "", "param": "", "code": ""}
    return {key: str(error.get(key) or "") for key in ("message", "type", "param", "code")}


def retry_hint(response: httpx.Response) -> float | None:
    """Seconds to wait: OpenAI's ``retry-after-ms``, else ``Retry-After``."""
    try:
        return max(0.0, float(response.headers["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        return retry_after_header(response)


#: 429 three times (not when it is about money: :func:`error_for` makes that QuotaExceeded,
#: which is never retried); 5xx once; a lost connection is not retried, because a POST whose
#: answer was lost may still have been billed.
POLICY = RetryPolicy(
    Retry.on_status(429, attempts=RATE_LIMIT_RETRIES, backoff=2.0),
    Retry.on_status(*range(500, 600), attempts=1, backoff=1.0),
    retry_after=retry_hint,
)


def error_for(response: httpx.Response, failure: Failure) -> BackendError | None:
    """The imagen error for OpenAI's own codes; None leaves the status to the toolkit's table."""
    fields = error_fields(failure.body)
    said, code, kind = failure.detail, fields["code"], fields["type"]
    detail = {"status": failure.status, "type": kind, "code": code, "message": said}
    common: dict[str, Any] = {"backend": failure.backend, "detail": detail}
    if code in BILLING or kind in BILLING:
        return QuotaExceeded(
            f"OpenAI has no quota left for this key ({code or kind}: {said}); check the "
            "account's billing: add credit or raise the spend limit at "
            "https://platform.openai.com/settings/organization/billing (retrying will not help)",
            **common,
        )
    if code in BLOCKED or kind in BLOCKED:
        return ContentBlocked(
            f"OpenAI's safety system refused the request ({said}); rephrase "
            "the prompt or change the reference images",
            reason=code or kind,
            **common,
        )
    if failure.status == 429:
        return RateLimited(
            # Not "after N retries": a wait past the take's timeout is not made at all.
            f"OpenAI is rate limiting this key ({said}); wait and try again, or lower concurrency",
            retry_after=failure.retry_after,
            **common,
        )
    if failure.status in (400, 422) and fields["param"]:
        param = remote_text(fields["param"], limit=60)
        return InvalidRequest(f"OpenAI rejected {param}: {said}", fields={param: said}, **common)
    return None


def stream_failure(api: HttpApi, event: Any, what: str) -> BackendError:
    """An ``error`` event in a stream: a refusal or a bad value mapped as its 400 answer would
    be; anything else the server's failure, worth another try."""
    fields = error_fields(event)
    if fields["code"] in BLOCKED or fields["type"].endswith(("user_error", "request_error")):
        return api.body_error(400, event, what=what, errors=error_for)
    return BackendUnavailable(
        f"OpenAI's stream failed ({api.clean(fields['message']) or 'no message'}); try again",
        backend=api.backend,
        detail={"code": fields["code"], "type": fields["type"]},
    )
