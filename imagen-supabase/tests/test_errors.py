"""What a user reads when Storage or PostgREST refuses a call: the status, the service's own
words, and one piece of advice (the answers are the services' wire shapes)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from imagen_supabase.errors import postgrest_error, storage_error

KEY_ENV = "TEST_SUPABASE_KEY"


def answer(status: int, body: Any) -> httpx.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(status, text=text, headers={"Content-Type": "application/json"})


def storage(status: int, body: Any, *, state: dict[str, Any] | None = None) -> str:
    error = storage_error(
        answer(status, body), what="upload to b/k", bucket="b", key_env=KEY_ENV, state=state or {}
    )
    return str(error)


def postgrest(status: int, body: Any) -> str:
    error = postgrest_error(
        answer(status, body), what="insert into", schema="imagen", table="images", key_env=KEY_ENV
    )
    return str(error)


def test_storage_too_large_says_to_raise_the_buckets_size_limit() -> None:
    said = storage(
        400,
        {
            "statusCode": "413",
            "error": "Payload too large",
            "message": "The object exceeded the maximum allowed size",
        },
    )

    assert said == (
        "upload to b/k failed: Storage answered 413: The object exceeded the maximum allowed "
        "size (Payload too large); raise the file size limit of bucket 'b' (Dashboard > Storage)"
    )
