"""Map Replicate's error answers to imagen's errors.

Replicate answers errors as RFC 7807 problem JSON (``application/problem+json``)::

    {"title": "Input validation failed", "status": 422,
     "detail": "- input.aspect_ratio: aspect_ratio must be one of ...",
     "invalid_fields": [{"type": "enum", "field": "input.aspect_ratio", "description": "..."}]}

and a failed prediction carries its ``error`` text. Messages here are one line and never
contain the token: the toolkit scrubs first and cuts after.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imagen.adapters import Failure, hint_in_text, remote_text
from imagen.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
)

if TYPE_CHECKING:
    import httpx

# Replicate's throttling detail: "... Your rate limit resets in ~30s."
retry_after = hint_in_text(r"~(\d+(?:\.\d+)?)\s*s")

# cog-flux: "All generated images contained NSFW content. Try running it again with a different
# prompt." Older models: "NSFW content detected. Try running it again, or try a different prompt."
_NSFW = re.compile(r"\bNSFW\b", re.IGNORECASE)


def invalid_fields(problem: Mapping[str, Any]) -> dict[str, str]:
    """``{"aspect_ratio": "aspect_ratio must be one of ..."}`` from a 422 problem."""
    fields: dict[str, str] = {}
    for item in problem.get("invalid_fields") or ():
        if isinstance(item, Mapping):
            name = str(item.get("field", "input")).removeprefix("input.")
            fields[name] = str(item.get("description") or item.get("type") or "invalid")
    if not fields:
        # Without invalid_fields the detail lists them as "- input.x: message" lines.
        for match in re.finditer(r"-\s*input\.([\w.]+):\s*([^\n]+)", str(problem.get("detail"))):
            fields[match.group(1)] = match.group(2).strip()
    return fields


def api_errors(response: httpx.Response, failure: Failure) -> BackendError | None:
    """Replicate's own wording where it says more than the toolkit's table (where to get a
    token, each invalid field, a model version); the table maps the rest (429, 5xx...)."""
    problem = failure.body if isinstance(failure.body, Mapping) else {}
    status, detail, env = failure.status, failure.detail, failure.key_env
    info = {"status": status, "title": problem.get("title"), "detail": detail}
    common: dict[str, Any] = {"backend": failure.backend, "detail": info}
    if status in (401, 403):
        return AuthError(
            f"Replicate refused the API token in {env} (HTTP {status}: {detail}); "
            f"set {env} to a valid token from replicate.com/account/api-tokens",
            **common,
        )
    if status == 422:
        fields = {
            name: remote_text(message, limit=200)
            for name, message in invalid_fields(problem).items()
        }
        listed = "; ".join(f"{name}: {message}" for name, message in fields.items()) or detail
        return InvalidRequest(
            f"Replicate rejected the input: {remote_text(listed)}", fields=fields, **common
        )
    if status == 404:
        return InvalidRequest(
            f"Replicate could not {failure.what}: not found (HTTP 404: {detail}); "
            "check the model name and version",
            **common,
        )
    return None


def error_for_prediction(
    prediction: Mapping[str, Any], *, backend: str, token: str | None
) -> BackendError:
    """The imagen error for a prediction that ended ``failed``, ``canceled`` or ``aborted``."""
    status = prediction.get("status")
    ident = prediction.get("id", "?")
    text = remote_text(str(prediction.get("error") or ""), secrets=[token])
    info = {"prediction_id": ident, "status": status, "error": text}
    if status == "failed":
        if _NSFW.search(text):
            return ContentBlocked(
                f"Replicate's safety filter blocked the images ({text}); try another prompt",
                backend=backend,
                reason="nsfw",
                detail=info,
            )
        return BackendError(
            f"prediction {ident} failed: {text or 'no error text given'}",
            backend=backend,
            detail=info,
        )
    if status == "aborted":
        return BackendUnavailable(
            f"Replicate aborted prediction {ident} before it finished; try again",
            backend=backend,
            detail=info,
        )
    return BackendError(
        f"prediction {ident} was canceled on Replicate before it finished",
        backend=backend,
        detail=info,
    )
