"""Storage and PostgREST error answers, mapped to one-line SinkErrors that say what to do.

Storage answers most client errors with HTTP 400 and the real status in the body:
``{"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"}``.
PostgREST answers ``{"code", "details", "hint", "message"}`` with a meaningful HTTP status
(``PGRST106`` 406, ``PGRST205`` 404, ``42501`` 401/403, ``23503`` 409, ...).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from imagen.adapters import remote_text
from imagen.errors import SinkError
from imagen.secrets import read_secret

if TYPE_CHECKING:
    import httpx


def _json_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = json.loads(response.text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _transient(status: int) -> bool:
    """Can a later retry (from the outbox) help? Not retried on the spot: a 4xx never is."""
    return status >= 500 or status in (408, 429)


def _one_line(text: str, key_env: str) -> str:
    """Remote text made safe: the key scrubbed first, then flattened, escaped and cut."""
    return remote_text(text, secrets=[read_secret(key_env)])


@attrs.frozen
class StorageAnswer:
    """A Storage error answer with its real status (from the body when Storage put it there)."""

    status: int
    error: str
    message: str

    @classmethod
    def of(cls, response: httpx.Response, key_env: str) -> StorageAnswer:
        body = _json_object(response)
        status = response.status_code
        with contextlib.suppress(ValueError):
            status = int(str(body.get("statusCode", status)))
        error = str(body.get("error") or body.get("code") or "")
        message = str(body.get("message") or error or response.reason_phrase or "no message")
        return cls(status, _one_line(error, key_env), _one_line(message, key_env))


def storage_error(
    response: httpx.Response, *, what: str, bucket: str, key_env: str, state: Mapping[str, Any]
) -> SinkError:
    """The SinkError for a failed Storage call (``what`` names the step, e.g. ``upload``)."""
    answer = StorageAnswer.of(response, key_env)
    said = f"Storage answered {answer.status}: {answer.message}"
    if answer.error and answer.error.lower() != answer.message.lower():
        said += f" ({answer.error})"
    if answer.status in (401, 403):
        advice = f"use the project's service key (service_role JWT or sb_secret_...) in {key_env}"
    elif answer.status == 404 and "bucket" in f"{answer.error} {answer.message}".lower():
        advice = f"create the bucket {bucket!r}: run `imagen supabase migrate`"
    elif answer.status == 404:
        advice = "the object is not in the bucket; was the image synced?"
    elif "invalidkey" in f"{answer.error} {answer.message}".lower().replace(" ", ""):
        advice = "Storage refused the object name; report it, imagen should never send one"
    elif answer.status == 413:
        advice = f"raise the file size limit of bucket {bucket!r} (Dashboard > Storage)"
    elif answer.status == 415 or "mime" in answer.message.lower():
        advice = f"allow this image type on bucket {bucket!r} (Dashboard > Storage)"
    elif answer.status >= 500:
        advice = "Storage is failing; run `imagen sync` later"
    else:
        advice = "check the sink's settings"
    return SinkError(
        f"{what} failed: {said}; {advice}", state=state, retryable=_transient(answer.status)
    )


@attrs.frozen
class PostgrestAnswer:
    status: int
    code: str
    message: str
    details: str
    hint: str

    @classmethod
    def of(cls, response: httpx.Response, key_env: str) -> PostgrestAnswer:
        body = _json_object(response)

        def text(key: str) -> str:
            value = body.get(key)
            return _one_line(str(value), key_env) if value else ""

        reason = _one_line(response.reason_phrase, key_env)
        message = text("message") or text("msg") or reason or "no message"
        return cls(response.status_code, text("code"), message, text("details"), text("hint"))


def postgrest_error(
    response: httpx.Response,
    *,
    what: str,
    schema: str,
    table: str,
    key_env: str,
    state: Mapping[str, Any] | None = None,
) -> SinkError:
    """The SinkError for a failed PostgREST call on ``schema.table``."""
    answer = PostgrestAnswer.of(response, key_env)
    where = f"{schema}.{table}"
    code = f" {answer.code}" if answer.code else ""
    said = f"PostgREST answered {answer.status}{code}: {answer.message}"
    if answer.code == "PGRST106":
        advice = (
            f"expose schema {schema!r}: run `imagen supabase migrate` (it adds {schema} to "
            "pgrst.db_schemas of role authenticator and reloads PostgREST), or add it under "
            "Dashboard > Project Settings > Data API > Exposed schemas"
        )
    elif answer.code in ("PGRST205", "42P01"):
        advice = f"table {where} does not exist: run `imagen supabase migrate`"
    elif answer.code in ("PGRST204", "42703"):
        advice = f"{where} lacks a column imagen writes: run `imagen supabase migrate`"
    elif answer.code == "42501" or answer.status in (401, 403):
        advice = (
            f"the key in {key_env} may not write {where}: use the project's service key "
            "(service_role JWT or sb_secret_...), and run `imagen supabase migrate` for the grants"
        )
    elif answer.code == "23503":
        advice = "owner_user_id is not a user in auth.users: set it to your user's id"
    elif answer.code == "22P02":
        advice = "a value has the wrong form (owner_user_id must be a UUID)"
    elif answer.status >= 500:
        advice = "the database is failing; run `imagen sync` later"
    else:
        advice = answer.hint or "check the sink's settings"
    if answer.details and answer.code not in ("PGRST106",):
        said += f" ({answer.details})"
    return SinkError(
        f"{what} {where} failed: {said}; {advice}",
        state=state,
        retryable=_transient(answer.status),
    )


__all__ = ["PostgrestAnswer", "StorageAnswer", "postgrest_error", "storage_error"]
