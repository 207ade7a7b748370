"""What a user reads when Storage or PostgREST refuses a call: the status, the service's own
words, and one piece of advice (the answers are the services' wire shapes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

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


STORAGE_ANSWERS = [
    # Storage puts the real status in the body and answers 400 over HTTP.
    (
        400,
        {"statusCode": "403", "error": "Unauthorized", "message": "invalid signature"},
        "Storage answered 403: invalid signature (Unauthorized); use the project's service key "
        "(service_role JWT or sb_secret_...) in TEST_SUPABASE_KEY",
        False,
    ),
    (
        401,
        {"message": "Invalid API key"},
        "Storage answered 401: Invalid API key; use the project's service key "
        "(service_role JWT or sb_secret_...) in TEST_SUPABASE_KEY",
        False,
    ),
    (
        400,
        {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"},
        "Storage answered 404: Bucket not found; create the bucket 'b': run "
        "`imagen supabase migrate`",
        False,
    ),
    (
        400,
        {"statusCode": "404", "error": "not_found", "message": "Object not found"},
        "Storage answered 404: Object not found (not_found); the object is not in the bucket; "
        "was the image synced?",
        False,
    ),
    (
        400,
        {"statusCode": "400", "error": "InvalidKey", "message": "Invalid key: a/\u00e9.png"},
        "Storage answered 400: Invalid key: a/\u00e9.png (InvalidKey); Storage refused the object "
        "name; report it, imagen should never send one",
        False,
    ),
    (
        400,
        {"statusCode": "400", "code": "InvalidKey", "message": "Invalid Key name"},
        "Storage answered 400: Invalid Key name (InvalidKey); Storage refused the object "
        "name; report it, imagen should never send one",
        False,
    ),
    (
        400,
        {"statusCode": "415", "error": "invalid_mime_type", "message": "invalid mime type"},
        "Storage answered 415: invalid mime type (invalid_mime_type); allow this image type on "
        "bucket 'b' (Dashboard > Storage)",
        False,
    ),
    (
        400,
        {
            "statusCode": "400",
            "error": "invalid_mime_type",
            "message": "mime type image/webp is not supported",
        },
        "Storage answered 400: mime type image/webp is not supported (invalid_mime_type); allow "
        "this image type on bucket 'b' (Dashboard > Storage)",
        False,
    ),
    (
        400,
        {"statusCode": "409", "error": "Duplicate", "message": "The resource already exists"},
        "Storage answered 409: The resource already exists (Duplicate); check the sink's settings",
        False,
    ),
    (
        503,
        {"statusCode": "503", "error": "Internal", "message": "upstream storage failed"},
        "Storage answered 503: upstream storage failed (Internal); Storage is failing; run "
        "`imagen sync` later",
        True,
    ),
    (
        500,
        "<html>bad gateway</html>",
        "Storage answered 500: Internal Server Error; Storage is failing; run `imagen sync` later",
        True,
    ),
    (
        400,
        {"statusCode": "429", "error": "too_many_requests", "message": "Too Many Requests"},
        "Storage answered 429: Too Many Requests (too_many_requests); check the sink's settings",
        True,
    ),
    (
        408,
        {"statusCode": "not a number", "error": "timeout", "message": "Request Timeout"},
        "Storage answered 408: Request Timeout (timeout); check the sink's settings",
        True,
    ),
    (
        400,
        {"statusCode": "400", "error": "Invalid Input", "message": "invalid input"},
        "Storage answered 400: invalid input; check the sink's settings",
        False,
    ),
    (
        400,
        {"statusCode": "400", "error": "Invalid Input"},
        "Storage answered 400: Invalid Input; check the sink's settings",
        False,
    ),
    (
        400,
        [],
        "Storage answered 400: Bad Request; check the sink's settings",
        False,
    ),
    (
        400,
        {"statusCode": "400", "error": "Invalid Input", "message": "Invalid key: a/b\\c.png"},
        "Storage answered 400: Invalid key: a/b\\c.png (Invalid Input); Storage refused the "
        "object name; report it, imagen should never send one",
        False,
    ),
    (
        400,
        {"statusCode": "415", "error": "unsupported", "message": "Unsupported Media Type"},
        "Storage answered 415: Unsupported Media Type (unsupported); allow this image type on "
        "bucket 'b' (Dashboard > Storage)",
        False,
    ),
    (
        599,
        {},
        "Storage answered 599: no message; Storage is failing; run `imagen sync` later",
        True,
    ),
]


@pytest.mark.parametrize(("status", "body", "said", "retryable"), STORAGE_ANSWERS)
def test_a_storage_refusal_is_its_real_status_its_words_and_one_piece_of_advice(
    status: int, body: Any, said: str, retryable: bool
) -> None:
    error = storage_error(
        answer(status, body), what="upload to b/k", bucket="b", key_env=KEY_ENV,
        state={"recorded": True},
    )  # fmt: skip

    assert str(error) == f"upload to b/k failed: {said}"
    assert error.retryable is retryable
    assert error.state == {"recorded": True}


POSTGREST_ANSWERS = [
    (
        406,
        {
            "code": "PGRST106",
            "details": "some detail",
            "hint": None,
            "message": "The schema must be one of the following: public, graphql_public",
        },
        "PostgREST answered 406 PGRST106: The schema must be one of the following: public, "
        "graphql_public; expose schema 'imagen': run `imagen supabase migrate` (it adds imagen "
        "to pgrst.db_schemas of role authenticator and reloads PostgREST), or add it under "
        "Dashboard > Project Settings > Data API > Exposed schemas",
        False,
    ),
    (
        404,
        {
            "code": "PGRST205",
            "details": None,
            "hint": "Perhaps you meant the table 'public.x'",
            "message": "Could not find the table 'imagen.images' in the schema cache",
        },
        "PostgREST answered 404 PGRST205: Could not find the table 'imagen.images' in the schema "
        "cache; table imagen.images does not exist: run `imagen supabase migrate`",
        False,
    ),
    (
        404,
        {
            "code": "42P01",
            "details": None,
            "hint": None,
            "message": 'relation "imagen.images" does not exist',
        },
        'PostgREST answered 404 42P01: relation "imagen.images" does not exist; table '
        "imagen.images does not exist: run `imagen supabase migrate`",
        False,
    ),
    (
        400,
        {
            "code": "PGRST204",
            "details": None,
            "hint": None,
            "message": "Could not find the 'style' column of 'images' in the schema cache",
        },
        "PostgREST answered 400 PGRST204: Could not find the 'style' column of 'images' in the "
        "schema cache; imagen.images lacks a column imagen writes: run `imagen supabase migrate`",
        False,
    ),
    (
        400,
        {
            "code": "42703",
            "details": None,
            "hint": None,
            "message": "column images.style does not exist",
        },
        "PostgREST answered 400 42703: column images.style does not exist; imagen.images lacks "
        "a column imagen writes: run `imagen supabase migrate`",
        False,
    ),
    (
        403,
        {
            "code": "42501",
            "details": None,
            "hint": None,
            "message": "permission denied for table images",
        },
        "PostgREST answered 403 42501: permission denied for table images; the key in "
        "TEST_SUPABASE_KEY may not write imagen.images: use the project's service key "
        "(service_role JWT or sb_secret_...), and run `imagen supabase migrate` for the grants",
        False,
    ),
    (
        401,
        {
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        },
        "PostgREST answered 401: Invalid API key; the key in TEST_SUPABASE_KEY may not write "
        "imagen.images: use the project's service key (service_role JWT or sb_secret_...), and "
        "run `imagen supabase migrate` for the grants",
        False,
    ),
    (
        409,
        {
            "code": "23503",
            "hint": None,
            "details": 'Key (owner_user_id)=(ac6c) is not present in table "users".',
            "message": 'insert or update on table "images" violates foreign key constraint '
            '"images_owner_user_id_fkey"',
        },
        'PostgREST answered 409 23503: insert or update on table "images" violates foreign key '
        'constraint "images_owner_user_id_fkey" (Key (owner_user_id)=(ac6c) is not present in '
        'table "users".); owner_user_id is not a user in auth.users: set it to your user\'s id',
        False,
    ),
    (
        400,
        {
            "code": "22P02",
            "details": None,
            "hint": None,
            "message": 'invalid input syntax for type uuid: "me"',
        },
        'PostgREST answered 400 22P02: invalid input syntax for type uuid: "me"; a value has '
        "the wrong form (owner_user_id must be a UUID)",
        False,
    ),
    (
        503,
        {
            "code": "PGRST000",
            "details": "connection refused",
            "hint": None,
            "message": "Database client error. Retrying the connection.",
        },
        "PostgREST answered 503 PGRST000: Database client error. Retrying the connection. "
        "(connection refused); the database is failing; run `imagen sync` later",
        True,
    ),
    (
        500,
        "upstream connect error",
        "PostgREST answered 500: Internal Server Error; the database is failing; run "
        "`imagen sync` later",
        True,
    ),
    (
        400,
        {
            "code": "23514",
            "details": None,
            "hint": "check the width",
            "message": 'new row violates check constraint "images_width_check"',
        },
        'PostgREST answered 400 23514: new row violates check constraint "images_width_check"; '
        "check the width",
        False,
    ),
    (
        400,
        {"code": "PGRST100", "details": None, "hint": None, "msg": "failed to parse filter"},
        "PostgREST answered 400 PGRST100: failed to parse filter; check the sink's settings",
        False,
    ),
    (
        403,
        {
            "code": "28P01",
            "details": None,
            "hint": None,
            "message": 'password authentication failed for user "authenticator"',
        },
        'PostgREST answered 403 28P01: password authentication failed for user "authenticator"; '
        "the key in TEST_SUPABASE_KEY may not write imagen.images: use the project's service key "
        "(service_role JWT or sb_secret_...), and run `imagen supabase migrate` for the grants",
        False,
    ),
    (
        404,
        {"message": "no Route matched with those values"},
        "PostgREST answered 404: no Route matched with those values; check the sink's settings",
        False,
    ),
    (
        429,
        {},
        "PostgREST answered 429: Too Many Requests; check the sink's settings",
        True,
    ),
    (
        408,
        {
            "code": "57014",
            "details": None,
            "hint": None,
            "message": "canceling statement due to statement timeout",
        },
        "PostgREST answered 408 57014: canceling statement due to statement timeout; check the "
        "sink's settings",
        True,
    ),
]


@pytest.mark.parametrize(("status", "body", "said", "retryable"), POSTGREST_ANSWERS)
def test_a_postgrest_refusal_is_its_status_code_words_and_one_piece_of_advice(
    status: int, body: Any, said: str, retryable: bool
) -> None:
    error = postgrest_error(
        answer(status, body), what="insert into", schema="imagen", table="images",
        key_env=KEY_ENV, state={"n": 1},
    )  # fmt: skip

    assert str(error) == f"insert into imagen.images failed: {said}"
    assert error.retryable is retryable
    assert error.state == {"n": 1}


def test_an_answer_without_a_reason_or_words_still_says_its_status() -> None:
    bare = httpx.Response(599, text="")

    said = postgrest_error(bare, what="reading", schema="s", table="t", key_env=KEY_ENV)

    assert str(said) == (
        "reading s.t failed: PostgREST answered 599: no message; the database is failing; run "
        "`imagen sync` later"
    )


def test_the_key_echoed_in_an_answer_never_reaches_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sb_secret_echoed0123456789abcdefgh"
    monkeypatch.setenv(KEY_ENV, key)
    echoed = {"code": "PGRST301", "details": f"key {key}", "hint": f"not {key}",
              "message": f"Invalid API key: {key}"}  # fmt: skip

    said = str(postgrest_error(answer(401, echoed), what="insert into", schema="s", table="t",
                               key_env=KEY_ENV))  # fmt: skip
    stored = str(storage(400, {"statusCode": "403", "error": key, "message": f"bad {key}"}))

    assert key not in said
    assert key not in stored
    assert "Invalid API key: " in said


# A self-hosted gateway's key can have any shape: the one in key_env is hidden by its value,
# not only by looking like a JWT or an sb_secret_ key.
ODD_KEY = "gateway-token-0123456789"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": "PGRST301", "message": f"Invalid API key: {ODD_KEY}"}),
        (401, {"code": "PGRST301", "message": "Invalid API key", "details": f"got {ODD_KEY}"}),
        (400, {"code": "23514", "message": "check failed", "hint": f"not {ODD_KEY}"}),
    ],
)
def test_a_key_of_any_shape_echoed_by_postgrest_never_shows(
    monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any]
) -> None:
    monkeypatch.setenv(KEY_ENV, ODD_KEY)

    said = postgrest(status, body)

    assert ODD_KEY not in said
    assert "***" in said


def test_a_key_echoed_in_the_status_line_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, ODD_KEY)
    echoed = httpx.Response(401, text="", extensions={"reason_phrase": f"bad {ODD_KEY}".encode()})

    said = str(postgrest_error(echoed, what="reading", schema="s", table="t", key_env=KEY_ENV))

    assert said.startswith("reading s.t failed: PostgREST answered 401: bad ***; ")


@pytest.mark.parametrize(
    "body",
    [
        {"statusCode": "403", "error": f"bad {ODD_KEY}", "message": "Unauthorized"},
        {"statusCode": "403", "error": "Unauthorized", "message": f"bad {ODD_KEY}"},
    ],
)
def test_a_key_of_any_shape_echoed_by_storage_never_shows(
    monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]
) -> None:
    monkeypatch.setenv(KEY_ENV, ODD_KEY)

    said = storage(400, body)

    assert ODD_KEY not in said
    assert "bad ***" in said
