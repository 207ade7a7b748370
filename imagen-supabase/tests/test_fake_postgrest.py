"""The fake refuses what PostgREST refuses: conflicts resolve on the constraint PostgREST uses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from imagen_supabase.testing import OWNER_ID, SERVICE_JWT

Served = Any  # the ``supabase`` fixture: .fake (FakeSupabase) and .url

ROW = {
    "owner_user_id": OWNER_ID,
    "bucket": "imagen-generated",
    "storage_path": f"{OWNER_ID}/a.png",
    "prompt": "p",
    "backend": "b",
    "model": "m",
    "width": 1,
    "height": 1,
    "sha256": "s",
}


def insert(
    url: str, row: dict[str, Any], prefer: str = "", table: str = "images", **params: str
) -> httpx.Response:
    schema = "imagen" if table == "images" else "mai"
    headers = {
        "apikey": SERVICE_JWT,
        "Authorization": f"Bearer {SERVICE_JWT}",
        "Content-Profile": schema,
        "Prefer": ",".join(filter(None, ["return=representation", prefer])),
    }
    return httpx.post(f"{url}/rest/v1/{table}", json=row, headers=headers, params=params)


def test_a_second_row_for_a_taken_key_is_a_409_unique_violation(supabase: Served) -> None:
    assert insert(supabase.url, ROW).status_code == 201

    clash = insert(supabase.url, {**ROW, "sha256": "other"})

    assert clash.status_code == 409
    assert clash.json()["code"] == "23505"
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_ignore_duplicates_without_on_conflict_targets_the_primary_key_only(
    supabase: Served,
) -> None:
    # PostgREST's ON CONFLICT (id) DO NOTHING does not cover (bucket, storage_path).
    insert(supabase.url, ROW)

    clash = insert(supabase.url, ROW, "resolution=ignore-duplicates")

    assert (clash.status_code, clash.json()["code"]) == (409, "23505")


def test_ignore_duplicates_on_the_named_constraint_skips_the_row(supabase: Served) -> None:
    insert(supabase.url, ROW)

    again = insert(
        supabase.url, ROW, "resolution=ignore-duplicates", on_conflict="bucket,storage_path"
    )

    assert (again.status_code, again.json()) == (201, [])
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_on_conflict_naming_no_unique_constraint_is_a_400(supabase: Served) -> None:
    answer = insert(supabase.url, ROW, "resolution=ignore-duplicates", on_conflict="prompt")

    assert (answer.status_code, answer.json()["code"]) == (400, "42P10")


def test_merge_duplicates_updates_the_row_it_clashes_with(supabase: Served) -> None:
    insert(supabase.url, ROW)

    merged = insert(
        supabase.url,
        {**ROW, "prompt": "new"},
        "resolution=merge-duplicates",
        on_conflict="bucket,storage_path",
    )

    assert merged.status_code == 201
    [row] = supabase.fake.rows("imagen", "images")
    assert row["prompt"] == "new"


def test_a_usage_row_with_an_id_already_there_is_ignored_as_a_duplicate(supabase: Served) -> None:
    usage = {"id": "0b7f7f5e-3c4e-4d1e-9f1a-2b3c4d5e6f70", "backend": "b", "model": "m",
             "prompt_hash": "h"}  # fmt: skip
    first = insert(supabase.url, usage, table="imagen_usage")
    again = insert(supabase.url, usage, "resolution=ignore-duplicates", table="imagen_usage")

    assert (first.status_code, again.status_code) == (201, 201)
    assert len(supabase.fake.rows("mai", "imagen_usage")) == 1


def test_select_filters_by_eq(supabase: Served) -> None:
    insert(supabase.url, ROW)
    insert(supabase.url, {**ROW, "storage_path": f"{OWNER_ID}/b.png", "sha256": "t"})

    answer = httpx.get(
        f"{supabase.url}/rest/v1/images",
        params={"select": "sha256", "storage_path": f"eq.{OWNER_ID}/b.png"},
        headers={
            "apikey": SERVICE_JWT,
            "Authorization": f"Bearer {SERVICE_JWT}",
            "Accept-Profile": "imagen",
        },
    )

    assert json.loads(answer.text) == [{"sha256": "t"}]


@pytest.mark.parametrize("prefer", ["", "resolution=ignore-duplicates"])
def test_the_fake_gives_each_new_image_row_an_id(supabase: Served, prefer: str) -> None:
    answer = insert(supabase.url, ROW, prefer)

    assert answer.json()[0]["id"]


USAGE = {"id": "0b7f7f5e-3c4e-4d1e-9f1a-2b3c4d5e6f70", "backend": "b", "model": "m",
         "prompt_hash": "h"}  # fmt: skip


@pytest.mark.parametrize("column", ["backend", "model", "prompt_hash"])
def test_a_usage_row_without_a_not_null_column_is_a_400(supabase: Served, column: str) -> None:
    answer = insert(supabase.url, {k: v for k, v in USAGE.items() if k != column},
                    table="imagen_usage")  # fmt: skip

    assert (answer.status_code, answer.json()["code"]) == (400, "23502")
    assert f'column "{column}" of relation "imagen_usage"' in answer.json()["message"]
    assert supabase.fake.rows("mai", "imagen_usage") == []


@pytest.mark.parametrize(("table", "row"), [("images", ROW), ("imagen_usage", USAGE)])
def test_an_explicit_null_for_a_column_with_a_default_is_a_400(
    supabase: Served, table: str, row: dict[str, Any]
) -> None:
    # The DEFAULT applies when the row leaves the column out, not when it says null.
    answer = insert(supabase.url, {**row, "created_at": None}, table=table)

    assert (answer.status_code, answer.json()["code"]) == (400, "23502")


@pytest.mark.parametrize(("table", "row"), [("images", ROW), ("imagen_usage", USAGE)])
def test_an_id_that_is_not_a_uuid_is_a_400(
    supabase: Served, table: str, row: dict[str, Any]
) -> None:
    answer = insert(supabase.url, {**row, "id": "row-1"}, table=table)

    assert (answer.status_code, answer.json()["code"]) == (400, "22P02")
    assert answer.json()["message"] == 'invalid input syntax for type uuid: "row-1"'


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("width", 1.5, "22P02"),
        ("width", True, "22P02"),
        ("width", "wide", "22P02"),
        ("width", 2**31, "22003"),
        ("seed", 2**63, "22003"),
    ],
)
def test_a_value_an_integer_column_cannot_hold_is_a_400(
    supabase: Served, column: str, value: Any, code: str
) -> None:
    answer = insert(supabase.url, {**ROW, column: value})

    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert supabase.fake.rows("imagen", "images") == []


@pytest.mark.parametrize(("column", "value"), [("width", "12"), ("seed", 2**63 - 1)])
def test_integer_columns_take_what_postgresql_reads(
    supabase: Served, column: str, value: Any
) -> None:
    assert insert(supabase.url, {**ROW, column: value}).status_code == 201


def select(url: str, **params: str) -> httpx.Response:
    headers = {"apikey": SERVICE_JWT, "Authorization": f"Bearer {SERVICE_JWT}",
               "Accept-Profile": "imagen"}  # fmt: skip
    return httpx.get(f"{url}/rest/v1/images", params=params, headers=headers)


@pytest.mark.parametrize(
    "params",
    [
        {"select": "sha256,no_such_column"},
        {"no_such_column": "eq.1"},
        {"order": "no_such_column.asc"},
    ],
)
def test_a_read_naming_a_column_the_table_lacks_is_a_400(
    supabase: Served, params: dict[str, str]
) -> None:
    insert(supabase.url, ROW)

    answer = select(supabase.url, **params)

    assert (answer.status_code, answer.json()["code"]) == (400, "42703")
    assert answer.json()["message"] == "column images.no_such_column does not exist"


@pytest.mark.parametrize(
    "params", [{"sha256": "s"}, {"sha256": "equals.s"}, {"limit": "ten"}, {"offset": "-1"}]
)
def test_a_filter_or_page_postgrest_cannot_parse_is_a_400(
    supabase: Served, params: dict[str, str]
) -> None:
    answer = select(supabase.url, **params)

    assert (answer.status_code, answer.json()["code"]) == (400, "PGRST100")


def test_an_insert_answers_no_body_unless_asked_for_the_rows(supabase: Served) -> None:
    headers = {"apikey": SERVICE_JWT, "Authorization": f"Bearer {SERVICE_JWT}",
               "Content-Profile": "imagen"}  # fmt: skip

    answer = httpx.post(f"{supabase.url}/rest/v1/images", json=ROW, headers=headers)

    assert (answer.status_code, answer.content) == (201, b"")
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_a_body_that_is_not_json_is_a_400(supabase: Served) -> None:
    headers = {"apikey": SERVICE_JWT, "Authorization": f"Bearer {SERVICE_JWT}",
               "Content-Profile": "imagen", "Content-Type": "application/json"}  # fmt: skip

    answer = httpx.post(f"{supabase.url}/rest/v1/images", content=b"{row", headers=headers)

    assert (answer.status_code, answer.json()["code"]) == (400, "PGRST102")


def test_a_taken_primary_key_names_the_pkey_constraint(supabase: Served) -> None:
    first = insert(supabase.url, ROW).json()[0]

    clash = insert(supabase.url, {**ROW, "id": first["id"], "storage_path": "other.png"})

    assert clash.status_code == 409
    assert clash.json()["message"] == (
        'duplicate key value violates unique constraint "images_pkey"'
    )
    assert clash.json()["details"] == f"Key (id)=({first['id']}) already exists."


@pytest.mark.parametrize("key", ["a/\u00e9.png", "a/b%5Cc.png", "a/\u2028.png"])
def test_storage_refuses_an_object_key_with_characters_it_does_not_allow(
    supabase: Served, key: str
) -> None:
    answer = httpx.post(
        f"{supabase.url}/storage/v1/object/imagen-generated/{key}",
        content=b"png",
        headers={"apikey": SERVICE_JWT, "Authorization": f"Bearer {SERVICE_JWT}"},
    )

    assert answer.status_code == 400
    assert answer.json()["statusCode"] == "400"
    assert answer.json()["error"] == "InvalidKey"
    assert supabase.fake.objects == {}


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("text/plain", 415), ("APPLICATION/JSON", 201), ("application/json; charset=utf-8", 201)],
)
def test_an_insert_body_is_read_by_its_media_type(
    supabase: Served, content_type: str, status: int
) -> None:
    headers = {"apikey": SERVICE_JWT, "Authorization": f"Bearer {SERVICE_JWT}",
               "Content-Profile": "imagen", "Content-Type": content_type}  # fmt: skip

    answer = httpx.post(
        f"{supabase.url}/rest/v1/images", content=json.dumps(ROW).encode(), headers=headers
    )

    assert answer.status_code == status
