"""The supabase-storage sink against a fake Supabase over real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from imagen.errors import SinkError
from imagen.models import Generation
from imagen.sinks.protocol import Delivery, Sink, Stored
from imagen_supabase.connection import storage_key, with_digest
from imagen_supabase.settings import StorageSettings
from imagen_supabase.storage import SupabaseStorageSink
from imagen_supabase.testing import (
    ANON_JWT,
    OWNER_ID,
    PNG,
    SECRET_KEY,
    SERVICE_JWT,
    USER_JWT,
    RecordingSleep,
)

Sleeps = RecordingSleep
Served = Any  # the ``supabase`` fixture: .fake (FakeSupabase) and .url

BUCKET = "imagen-generated"
LOCAL = "2026-11-23/150912-a-cat-in-a-fishbowl-42.png"
REMOTE = f"{OWNER_ID}/{LOCAL}"
RECORDED = {"recorded": True, "bucket": BUCKET, "storage_path": REMOTE}


def make_sink(url: str, sleeps: Sleeps | None = None, **overrides: Any) -> SupabaseStorageSink:
    settings = StorageSettings(url=url, key_env="TEST_SUPABASE_KEY", owner_user_id=OWNER_ID)
    settings = attrs.evolve(settings, **overrides)
    return SupabaseStorageSink("cloud", settings, sleep=sleeps or Sleeps())


def deliver(sink: SupabaseStorageSink, delivery: Delivery) -> SinkError | None:
    async def run() -> SinkError | None:
        try:
            await sink.deliver(delivery)
        except SinkError as error:
            return error
        finally:
            await sink.aclose()
        return None

    return asyncio.run(run())


@pytest.fixture(autouse=True)
def service_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)


def test_image_lands_at_its_owner_and_local_relative_path_and_its_row_is_recorded(
    supabase: Served, generation: Generation
) -> None:
    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is None
    assert supabase.fake.objects[(BUCKET, REMOTE)] == (PNG, "image/png")
    [row] = supabase.fake.rows("imagen", "images")
    assert row["owner_user_id"] == OWNER_ID
    assert row["storage_path"] == REMOTE == f"{OWNER_ID}/{generation.path}"
    assert row["prompt"] == "a cat in a fishbowl, watercolor"
    assert row["negative_prompt"] == "text"
    assert (row["style"], row["backend"], row["model"]) == (
        "watercolor",
        "flux-dev-replicate",
        "black-forest-labs/flux-dev",
    )
    assert (row["seed"], row["width"], row["height"]) == (42, 1024, 768)
    assert row["sha256"] == generation.sha256
    assert row["cost_usd_estimate"] == "0.025"
    assert row["sidecar"] == {"schema": 1, "prompt": "a cat in a fishbowl, watercolor", "seed": 42}
    assert row["created_at"] == "2026-11-23T15:09:12+00:00"


def test_upload_and_insert_send_the_headers_supabase_expects(
    supabase: Served, generation: Generation
) -> None:
    deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    [upload] = supabase.fake.requests("upload")
    assert upload.path == f"/storage/v1/object/{BUCKET}/{REMOTE}"
    assert upload.headers["x-upsert"] == "true"
    assert upload.headers["Content-Type"] == "image/png"
    [insert] = supabase.fake.requests("insert")
    assert insert.path == "/rest/v1/images"
    assert insert.headers["Content-Profile"] == "imagen"
    assert insert.headers["Prefer"] == "return=minimal"
    # The row is the claim on the key: it goes first, and a clash is an error, not ignored.
    assert supabase.fake.seen.index(insert) < supabase.fake.seen.index(upload)
    assert "on_conflict" not in insert.query


def test_legacy_jwt_key_goes_in_apikey_and_bearer(supabase: Served, generation: Generation) -> None:
    deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    for seen in supabase.fake.seen:
        assert seen.headers["apikey"] == SERVICE_JWT
        assert seen.headers["Authorization"] == f"Bearer {SERVICE_JWT}"


def test_secret_key_goes_only_in_apikey(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SECRET_KEY)

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is None
    assert supabase.fake.seen
    for seen in supabase.fake.seen:
        assert seen.headers["apikey"] == SECRET_KEY
        assert "Authorization" not in seen.headers
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_storage_5xx_is_retried_until_it_succeeds(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("upload", 503, 502)

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is None
    assert len(supabase.fake.requests("upload")) == 3
    assert len(sleeps.waits) == 2
    assert (BUCKET, REMOTE) in supabase.fake.objects


def test_insert_5xx_is_retried_until_it_succeeds(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("insert", 500)

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is None
    assert len(supabase.fake.requests("insert")) == 2
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_5xx_that_outlasts_the_retries_is_a_retryable_sink_error(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("upload", 503, 503, 503, 503, 503)

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert error.retryable
    assert error.state == RECORDED
    assert str(error).startswith(f"recorded {BUCKET}/{REMOTE}, but the upload failed: ")
    assert "503" in str(error)
    assert len(supabase.fake.requests("upload")) == 4  # the first try and three retries
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_client_error_is_never_retried(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    error = deliver(
        make_sink(supabase.url, sleeps, bucket="no-such-bucket"), Delivery(generation, "cloud")
    )

    assert error is not None
    assert not error.retryable
    assert len(supabase.fake.requests("upload")) == 1
    assert sleeps.waits == []


def test_storage_400_is_read_by_the_status_in_its_body(
    supabase: Served, generation: Generation
) -> None:
    error = deliver(make_sink(supabase.url, bucket="no-such-bucket"), Delivery(generation, "cloud"))

    assert error is not None
    message = str(error)
    assert "Storage answered 404: Bucket not found;" in message
    assert "'no-such-bucket'" in message
    assert "imagen supabase migrate" in message


def test_a_non_service_key_is_refused_by_postgrest_before_any_upload(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", ANON_JWT)

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert "401 42501" in str(error)
    assert "service key" in str(error)
    assert "TEST_SUPABASE_KEY" in str(error)
    assert not error.retryable
    assert supabase.fake.requests("upload") == []


def test_storage_refusing_a_non_service_key_says_to_use_the_service_key(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", ANON_JWT)

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud", state=RECORDED))

    assert error is not None
    assert "403" in str(error)
    assert "row-level security" in str(error)
    assert "service key" in str(error)
    assert "TEST_SUPABASE_KEY" in str(error)
    assert not error.retryable


def test_connection_dropped_mid_upload_is_retried(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("upload", "drop")

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is None
    assert len(supabase.fake.requests("upload")) == 2
    assert supabase.fake.objects[(BUCKET, REMOTE)][0] == PNG


def test_unreachable_project_is_a_retryable_error_naming_the_host(
    generation: Generation, sleeps: Sleeps
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    error = deliver(make_sink(f"http://127.0.0.1:{port}", sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert error.retryable
    assert f"127.0.0.1:{port}" in str(error)
    assert "imagen sync" in str(error)
    assert len(sleeps.waits) == 3
    assert SERVICE_JWT not in str(error)


def test_a_refused_row_stops_the_delivery_before_any_upload(
    supabase: Served, generation: Generation
) -> None:
    supabase.fake.users.clear()  # owner_user_id is no longer in auth.users

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert error.state == {}
    assert "23503" in str(error)
    assert "auth.users" in str(error)
    assert not error.retryable
    assert supabase.fake.objects == {}


def test_retry_with_the_partial_state_uploads_without_recording_again(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("upload", 503, 503, 503, 503)
    first = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))
    assert first is not None
    assert first.retryable
    assert len(supabase.fake.requests("insert")) == 1

    retry = Delivery(generation, "cloud", attempt=2, state=first.state)
    second = deliver(make_sink(supabase.url, sleeps), retry)

    assert second is None
    assert len(supabase.fake.requests("insert")) == 1
    assert len(supabase.fake.rows("imagen", "images")) == 1
    assert supabase.fake.objects[(BUCKET, REMOTE)] == (PNG, "image/png")


def test_partial_state_for_another_bucket_records_again(
    supabase: Served, generation: Generation
) -> None:
    state = {**RECORDED, "bucket": "old-bucket"}

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud", state=state))

    assert error is None
    assert len(supabase.fake.requests("insert")) == 1
    assert len(supabase.fake.requests("upload")) == 1


def test_insert_retried_after_a_lost_answer_records_one_row(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    supabase.fake.fail("insert", "store-then-503")

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is None
    assert len(supabase.fake.requests("insert")) == 2
    assert len(supabase.fake.rows("imagen", "images")) == 1


def test_unexposed_schema_says_how_to_expose_it(supabase: Served, generation: Generation) -> None:
    supabase.fake.exposed.remove("imagen")

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    message = str(error)
    assert "PGRST106" in message
    assert "imagen supabase migrate" in message
    assert "pgrst.db_schemas" in message
    assert "Exposed schemas" in message
    assert supabase.fake.objects == {}


def test_missing_table_says_to_run_the_migrations(supabase: Served, generation: Generation) -> None:
    error = deliver(make_sink(supabase.url, table="imagez"), Delivery(generation, "cloud"))

    assert error is not None
    assert "PGRST205" in str(error)
    assert "imagen.imagez does not exist" in str(error)


def test_row_level_security_denial_for_a_user_key_is_reported(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", USER_JWT)

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert "403 42501" in str(error)
    assert "row-level security" in str(error)
    assert "service key" in str(error)
    assert not error.retryable


def test_the_key_never_appears_in_an_error(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "eyJwrong.key.value-that-the-server-echoes"
    monkeypatch.setenv("TEST_SUPABASE_KEY", wrong)
    supabase.fake.echo_key_in_errors = True

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud", state=RECORDED))

    assert error is not None
    assert "Invalid API key" in str(error)
    assert wrong not in str(error)
    assert "***" in str(error)


def test_missing_owner_fails_before_any_request(supabase: Served, generation: Generation) -> None:
    error = deliver(make_sink(supabase.url, owner_user_id=""), Delivery(generation, "cloud"))

    assert error is not None
    assert "sinks.cloud.owner_user_id" in str(error)
    assert supabase.fake.seen == []


def test_missing_key_names_the_env_var(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SUPABASE_KEY")

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert "set TEST_SUPABASE_KEY" in str(error)
    assert supabase.fake.seen == []


def test_image_gone_from_disk_is_a_clear_error(supabase: Served, generation: Generation) -> None:
    import os

    os.remove(os.path.join(generation.output_dir, generation.path))

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert "cannot read" in str(error)
    assert not error.retryable
    assert supabase.fake.seen == []  # no row that would point at nothing


def test_row_without_sidecar_has_null_sidecar(supabase: Served, generation: Generation) -> None:
    without = attrs.evolve(generation, sidecar_path=None)

    assert deliver(make_sink(supabase.url), Delivery(without, "cloud")) is None
    assert supabase.fake.rows("imagen", "images")[0]["sidecar"] is None


def test_enabled_auto_needs_the_key_and_an_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://example.supabase.co"
    assert make_sink(url).enabled_auto()
    assert not make_sink(url, owner_user_id="").enabled_auto()
    monkeypatch.delenv("TEST_SUPABASE_KEY")
    assert not make_sink(url).enabled_auto()


def test_sink_satisfies_the_protocol_and_builds_without_network() -> None:
    sink = SupabaseStorageSink(
        "cloud", StorageSettings(url="http://127.0.0.1:9", owner_user_id=OWNER_ID)
    )
    assert isinstance(sink, Sink)
    assert sink.connection._client is None


def test_signed_url_reads_back_the_same_bytes(supabase: Served, generation: Generation) -> None:
    sink = make_sink(supabase.url)
    assert deliver(sink, Delivery(generation, "cloud")) is None

    async def sign() -> str:
        try:
            return await sink.signed_url(REMOTE, 60)
        finally:
            await sink.aclose()

    signed = asyncio.run(sign())

    assert signed.startswith(f"{supabase.url}/storage/v1/object/sign/{BUCKET}/{REMOTE}?token=")
    assert json.loads(supabase.fake.requests("sign")[0].body) == {"expiresIn": 60}
    assert httpx.get(signed).content == PNG


def test_signed_url_for_a_missing_object_says_it_is_not_there(supabase: Served) -> None:
    sink = make_sink(supabase.url)

    async def sign() -> str:
        try:
            return await sink.signed_url("2026-01-01/nothing.png")
        finally:
            await sink.aclose()

    with pytest.raises(
        SinkError, match=r"404: Object not found \(not_found\); the object is not in the bucket"
    ):
        asyncio.run(sign())


def test_unicode_and_space_in_the_path_reach_storage_under_its_storage_key(
    supabase: Served, generation: Generation
) -> None:
    import os

    relative = "2026-11-23/150912-café über-42.png"
    os.rename(
        os.path.join(generation.output_dir, generation.path),
        os.path.join(generation.output_dir, relative),
    )
    moved = attrs.evolve(generation, path=relative)

    assert deliver(make_sink(supabase.url), Delivery(moved, "cloud")) is None

    key = f"{OWNER_ID}/2026-11-23/150912-caf(u00e9) (u00fc)ber-42.png"
    assert f"{OWNER_ID}/{storage_key(relative)}" == key
    assert (BUCKET, key) in supabase.fake.objects
    assert supabase.fake.rows("imagen", "images")[0]["storage_path"] == key


# -- no upload replaces an image another row points at ------------------------------------------

STRANGER_ID = "5b1e2f3a-0c4d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER_PNG = b"\x89PNG\r\n\x1a\n" + b"another image entirely " * 64


def other_image(generation: Generation, tmp_path: Path) -> Generation:
    """Another image at the same relative path, on another machine (another output folder)."""
    other = tmp_path / "elsewhere"
    (other / generation.path).parent.mkdir(parents=True)
    (other / generation.path).write_bytes(OTHER_PNG)
    return attrs.evolve(
        generation, output_dir=str(other), sha256=hashlib.sha256(OTHER_PNG).hexdigest()
    )


def test_two_owners_delivering_the_same_path_each_keep_their_own_image(
    supabase: Served, generation: Generation, tmp_path: Path
) -> None:
    supabase.fake.users.add(STRANGER_ID)
    theirs = other_image(generation, tmp_path)

    assert deliver(make_sink(supabase.url), Delivery(generation, "cloud")) is None
    stranger = make_sink(supabase.url, owner_user_id=STRANGER_ID)
    assert deliver(stranger, Delivery(theirs, "cloud")) is None

    rows = {row["owner_user_id"]: row for row in supabase.fake.rows("imagen", "images")}
    assert rows[OWNER_ID]["storage_path"] == REMOTE
    assert rows[STRANGER_ID]["storage_path"] == f"{STRANGER_ID}/{LOCAL}"
    assert supabase.fake.objects[(BUCKET, REMOTE)][0] == PNG
    assert supabase.fake.objects[(BUCKET, f"{STRANGER_ID}/{LOCAL}")][0] == OTHER_PNG


def test_another_image_at_a_key_already_taken_goes_under_its_digest_and_replaces_nothing(
    supabase: Served, generation: Generation, tmp_path: Path
) -> None:
    second = other_image(generation, tmp_path)

    assert deliver(make_sink(supabase.url), Delivery(generation, "cloud")) is None
    assert deliver(make_sink(supabase.url), Delivery(second, "cloud")) is None

    moved = with_digest(REMOTE, second.sha256)
    assert moved == f"{REMOTE.removesuffix('.png')}-{second.sha256[:12]}.png"
    paths = {row["sha256"]: row["storage_path"] for row in supabase.fake.rows("imagen", "images")}
    assert paths == {generation.sha256: REMOTE, second.sha256: moved}
    assert supabase.fake.objects[(BUCKET, REMOTE)][0] == PNG
    assert supabase.fake.objects[(BUCKET, moved)][0] == OTHER_PNG
    assert [seen.path.split(f"{BUCKET}/")[1] for seen in supabase.fake.requests("upload")] == [
        REMOTE,
        moved,
    ]


def test_the_same_image_delivered_again_without_its_state_keeps_one_row_and_one_key(
    supabase: Served, generation: Generation
) -> None:
    # An outbox entry whose partial state was lost: the row found is this image's own.
    assert deliver(make_sink(supabase.url), Delivery(generation, "cloud")) is None
    assert deliver(make_sink(supabase.url), Delivery(generation, "cloud")) is None

    [row] = supabase.fake.rows("imagen", "images")
    assert row["storage_path"] == REMOTE
    assert set(supabase.fake.objects) == {(BUCKET, REMOTE)}


def test_both_keys_held_by_other_images_is_an_error_that_uploads_nothing(
    supabase: Served, generation: Generation, tmp_path: Path
) -> None:
    for key in (REMOTE, with_digest(REMOTE, generation.sha256)):
        taken = {"bucket": BUCKET, "storage_path": key, "sha256": "another image's digest"}
        supabase.fake.rows("imagen", "images").append(
            {"id": key, "owner_user_id": OWNER_ID, **taken}
        )

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert "already hold other images, which imagen never overwrites" in str(error)
    assert not error.retryable
    assert supabase.fake.requests("upload") == []


def test_a_stored_key_that_would_leave_the_bucket_is_refused_before_any_request(
    supabase: Served, generation: Generation
) -> None:
    # An outbox entry edited by hand, or written by a buggy version.
    state = {**RECORDED, "storage_path": f"{OWNER_ID}/../other-bucket/x.png"}

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud", state=state))

    assert error is not None
    assert "refusing the object name" in str(error)
    assert supabase.fake.requests("upload") == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [("bucket", "../other"), ("bucket", "a/b"), ("bucket", "%2e%2e"), ("table", "images/../x")],
)
def test_bucket_and_table_settings_cannot_step_out_of_their_url_segment(
    setting: str, value: str
) -> None:
    from imagen.config.load import parse_config

    block = f"{{type: supabase-storage, url: 'https://x.test', {setting}: '{value}'}}"
    _, problems = parse_config(f"sinks:\n  cloud: {block}\n")
    with pytest.raises(Exception, match=rf"sinks\.cloud.*{setting}"):
        problems.raise_first()


def test_a_delivery_says_where_the_image_is_and_the_url_reads_it_for_its_owner(
    supabase: Served, generation: Generation
) -> None:
    async def run() -> Stored:
        sink = make_sink(supabase.url)
        try:
            return await sink.deliver(Delivery(generation, "cloud"))
        finally:
            await sink.aclose()

    stored = asyncio.run(run())

    assert stored.object == f"{BUCKET}/{REMOTE}"
    assert stored.url == f"{supabase.url}/storage/v1/object/authenticated/{BUCKET}/{REMOTE}"
    session = {"apikey": ANON_JWT, "Authorization": f"Bearer {USER_JWT}"}
    assert httpx.get(stored.url, headers=session).content == PNG
    assert httpx.get(stored.url, headers={"apikey": ANON_JWT}).status_code == 400
    assert SERVICE_JWT not in stored.url


# -- what a user reads when a step fails (mutation survivors of storage.py) -------------------


def held_by_another_image(fake: Any, key: str) -> None:
    fake.rows("imagen", "images").append(
        {
            "id": key,
            "owner_user_id": OWNER_ID,
            "bucket": BUCKET,
            "storage_path": key,
            "sha256": "another image's digest",
        }
    )


def unreachable(fake: Any, step: str) -> None:
    """Every try of ``step`` (the first and the three retries) loses its connection."""
    fake.fail(step, "drop", "drop", "drop", "drop")


def host_of(url: str) -> str:
    return url.removeprefix("http://")


def test_a_record_that_cannot_reach_the_project_names_the_insert(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    unreachable(supabase.fake, "insert")

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error).startswith(
        f"insert into imagen.images: could not reach {host_of(supabase.url)} ("
    )
    assert error.retryable


def test_a_claim_whose_read_cannot_reach_the_project_names_the_read(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    held_by_another_image(supabase.fake, REMOTE)
    unreachable(supabase.fake, "select")

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error).startswith(f"reading imagen.images: could not reach {host_of(supabase.url)}")
    assert supabase.fake.requests("upload") == []


def test_an_upload_that_cannot_reach_the_project_names_the_upload(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    unreachable(supabase.fake, "upload")

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error).startswith(
        f"recorded {BUCKET}/{REMOTE}, but the upload failed: upload: could not reach "
        f"{host_of(supabase.url)} ("
    )
    assert error.state == RECORDED


def test_a_claim_whose_read_is_refused_says_the_read_failed_and_why(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    held_by_another_image(supabase.fake, REMOTE)
    supabase.fake.fail("select", 503, 503, 503, 503)

    error = deliver(make_sink(supabase.url, sleeps), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == (
        "reading imagen.images failed: PostgREST answered 503 XX000: internal error; the "
        "database is failing; run `imagen sync` later"
    )
    assert error.retryable


@pytest.mark.parametrize("body", ["<html>maintenance</html>", '{"rows": []}'])
def test_a_claim_whose_read_answers_no_rows_says_so(
    supabase: Served, generation: Generation, body: str
) -> None:
    from aiohttp import web

    held_by_another_image(supabase.fake, REMOTE)
    supabase.fake.fail("select", lambda request: web.Response(text=body, status=200))

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == "reading imagen.images: PostgREST sent no rows"
    assert supabase.fake.requests("upload") == []


def test_a_row_read_back_that_is_not_an_object_is_no_row(
    supabase: Served, generation: Generation
) -> None:
    # Not this image's row, so the image goes under its digest.
    from aiohttp import web

    held_by_another_image(supabase.fake, REMOTE)
    supabase.fake.fail("select", lambda request: web.json_response([OWNER_ID]))

    assert deliver(make_sink(supabase.url), Delivery(generation, "cloud")) is None
    assert (BUCKET, with_digest(REMOTE, generation.sha256)) in supabase.fake.objects


def test_a_refused_row_says_which_insert_failed_and_what_to_do(
    supabase: Served, generation: Generation
) -> None:
    supabase.fake.users.clear()

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == (
        "insert into imagen.images failed: PostgREST answered 409 23503: insert or update on "
        'table "images" violates foreign key constraint "images_owner_user_id_fkey" '
        f'(Key (owner_user_id)=({OWNER_ID}) is not present in table "users".); owner_user_id '
        "is not a user in auth.users: set it to your user's id"
    )
    assert error.retryable is False


def test_both_keys_held_names_each_key(supabase: Served, generation: Generation) -> None:
    digest_key = with_digest(REMOTE, generation.sha256)
    for key in (REMOTE, digest_key):
        held_by_another_image(supabase.fake, key)

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == (
        f"{BUCKET}/{REMOTE} and {digest_key} already hold other images, which imagen never "
        "overwrites; rename the local file and run `imagen sync`"
    )
    assert error.retryable is False


def test_an_upload_refused_by_storage_says_which_object_and_what_to_do(
    supabase: Served, generation: Generation
) -> None:
    error = deliver(make_sink(supabase.url, bucket="no-such-bucket"), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == (
        f"recorded no-such-bucket/{REMOTE}, but the upload failed: upload to "
        f"no-such-bucket/{REMOTE} failed: Storage answered 404: Bucket not found; create the "
        "bucket 'no-such-bucket': run `imagen supabase migrate`"
    )


def test_an_image_gone_from_disk_says_why_it_cannot_be_read(
    supabase: Served, generation: Generation
) -> None:
    local = Path(generation.output_dir) / generation.path
    local.unlink()

    error = deliver(make_sink(supabase.url), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == f"cannot read {local} to upload it: No such file or directory"
    assert error.retryable is False


def test_a_config_style_is_recorded_on_the_row(supabase: Served, generation: Generation) -> None:
    # The style came from the config, not from the request.
    styled = attrs.evolve(
        generation, request=attrs.evolve(generation.request, style=None), style="ink"
    )

    assert deliver(make_sink(supabase.url), Delivery(styled, "cloud")) is None
    assert supabase.fake.rows("imagen", "images")[0]["style"] == "ink"


def test_a_take_without_a_cost_estimate_records_a_null_cost(
    supabase: Served, generation: Generation
) -> None:
    free = attrs.evolve(generation, cost_estimate=None)

    assert deliver(make_sink(supabase.url), Delivery(free, "cloud")) is None
    assert supabase.fake.rows("imagen", "images")[0]["cost_usd_estimate"] is None


def test_whatever_breaks_inside_a_delivery_is_a_sink_error_naming_it(
    generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_sink("http://127.0.0.1:9")

    async def broken(path: Any) -> bytes:
        raise LookupError(f"a bug, near {SERVICE_JWT}")

    monkeypatch.setattr(sink, "_read", broken)
    error = deliver(sink, Delivery(generation, "cloud"))

    assert error is not None
    assert str(error).startswith("unexpected LookupError: a bug, near ")
    assert SERVICE_JWT not in str(error)


def run_sink(sink: SupabaseStorageSink, work: Any) -> Any:
    async def run() -> Any:
        try:
            return await work(sink)
        finally:
            await sink.aclose()

    return asyncio.run(run())


def test_finding_a_key_without_an_owner_says_what_to_set(supabase: Served) -> None:
    sink = make_sink(supabase.url, owner_user_id=" ")

    with pytest.raises(SinkError) as raised:
        run_sink(sink, lambda s: s.key_of(LOCAL, "0" * 64))

    assert str(raised.value) == (
        "owner_user_id is not set: set sinks.cloud.owner_user_id, or give the image's "
        "storage_path from imagen.images"
    )
    assert supabase.fake.seen == []


def test_finding_a_key_when_the_read_is_refused_says_why(supabase: Served, sleeps: Sleeps) -> None:
    supabase.fake.fail("select", 503, 503, 503, 503)

    with pytest.raises(SinkError) as raised:
        run_sink(make_sink(supabase.url, sleeps), lambda s: s.key_of(LOCAL, "0" * 64))

    assert str(raised.value) == (
        "reading imagen.images failed: PostgREST answered 503 XX000: internal error; the "
        "database is failing; run `imagen sync` later"
    )


def test_signing_that_cannot_reach_the_project_names_the_signing(
    supabase: Served, sleeps: Sleeps
) -> None:
    unreachable(supabase.fake, "sign")

    with pytest.raises(SinkError) as raised:
        run_sink(make_sink(supabase.url, sleeps), lambda s: s.signed_url(REMOTE))

    assert str(raised.value).startswith(f"signing: could not reach {host_of(supabase.url)} (")


def test_signing_refused_by_storage_names_the_object_and_what_to_do(supabase: Served) -> None:
    with pytest.raises(SinkError) as raised:
        run_sink(make_sink(supabase.url, bucket="gone"), lambda s: s.signed_url(REMOTE, 60))

    assert str(raised.value) == (
        f"signing gone/{REMOTE} failed: Storage answered 404: Bucket not found; create the "
        "bucket 'gone': run `imagen supabase migrate`"
    )


@pytest.mark.parametrize(
    "signed", ["https://cdn.example.com/sign/x.png?token=t", "http://127.0.0.1:1/x.png?token=t"]
)
def test_a_signed_url_storage_gives_in_full_is_kept_as_it_is(
    supabase: Served, generation: Generation, signed: str
) -> None:
    from aiohttp import web

    supabase.fake.fail("sign", lambda request: web.json_response({"signedURL": signed}))

    assert run_sink(make_sink(supabase.url), lambda s: s.signed_url(REMOTE)) == signed


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        "{}",
        '{"signedURL": ""}',
        '{"signedURL": 7}',
        '{"signedUrl": "/object/sign/x"}',
        '["/object/sign/x"]',
    ],
)
def test_a_sign_answer_without_a_signed_url_says_so(supabase: Served, body: str) -> None:
    from aiohttp import web

    supabase.fake.fail("sign", lambda request: web.Response(text=body, status=200))

    with pytest.raises(SinkError) as raised:
        run_sink(make_sink(supabase.url), lambda s: s.signed_url(REMOTE))

    assert str(raised.value) == "signing failed: Storage answered without a signedURL"


def test_a_missing_owner_says_what_to_set_and_is_not_retried(
    supabase: Served, generation: Generation
) -> None:
    error = deliver(make_sink(supabase.url, owner_user_id=""), Delivery(generation, "cloud"))

    assert error is not None
    assert str(error) == (
        "owner_user_id is not set: set sinks.cloud.owner_user_id to your user's id in auth.users"
    )
    assert error.retryable is False


def test_a_project_that_does_not_answer_within_the_timeout_is_a_retryable_error(
    supabase: Served, generation: Generation, sleeps: Sleeps
) -> None:
    gate = supabase.fake.hold("insert")
    try:
        error = deliver(make_sink(supabase.url, sleeps, timeout=0.2), Delivery(generation, "cloud"))
    finally:
        gate.open()

    assert error is not None
    assert str(error).startswith(
        f"insert into imagen.images: could not reach {host_of(supabase.url)} (ReadTimeout"
    )
    assert error.retryable


def test_a_key_echoed_where_a_long_answer_is_cut_never_shows_in_part(
    supabase: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gateway token of any shape: hidden by its value before the answer is cut short.
    from aiohttp import web

    from imagen.adapters.text import MESSAGE_LIMIT

    token = "gateway-token-0123456789abcdef"
    monkeypatch.setenv("TEST_SUPABASE_KEY", token)
    echoed = "x" * (MESSAGE_LIMIT - 12) + f" {token} rejected"
    supabase.fake.fail(
        "sign",
        lambda request: web.json_response(
            {"statusCode": "403", "error": "Unauthorized", "message": echoed}, status=400
        ),
    )

    with pytest.raises(SinkError) as raised:
        run_sink(make_sink(supabase.url), lambda s: s.signed_url(REMOTE))

    assert token[:8] not in str(raised.value)
    assert "***" in str(raised.value)
