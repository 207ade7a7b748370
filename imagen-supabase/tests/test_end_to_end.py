"""End to end: the real ``imagen`` CLI, as its own process, against the fake Supabase.

Each test writes a config file with a ``supabase-storage`` and/or ``supabase-usage`` sink
pointing at the fake (Storage + PostgREST on a real loopback socket) and runs
``python -m imagen --config FILE ...``. The service key lives only in the child's environment;
every test checks that it never reaches stdout, stderr, a sidecar or any file imagen keeps.
The fake refuses object keys the way real Storage does (see ``KeyCheckingSupabase``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from imagen import testing
from imagen.testing.servers import serve_app
from imagen_supabase.connection import storage_key
from imagen_supabase.testing import OWNER_ID, SECRET_KEY, SERVICE_JWT, FakeSupabase

if TYPE_CHECKING:
    from aiohttp import web

KEY_ENV = "E2E_SUPABASE_SERVICE_KEY"
BUCKET = "imagen-generated"
STORAGE_SINK = "cloud"
USAGE_SINK = "usage"
# Supabase Storage's isValidKey (supabase/storage, src/storage/limits.ts): S3-safe characters
# only; JavaScript's \w there is ASCII. Anything else is refused as 400 InvalidKey.
VALID_OBJECT_KEY = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]+")


class KeyCheckingSupabase(FakeSupabase):
    """The fake, refusing object keys real Storage refuses, with Storage's own error shape."""

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["path"]
        if VALID_OBJECT_KEY.fullmatch(key):
            return await super()._upload(request)
        return self._storage_error("400", "InvalidKey", f"Invalid key: {key}")


@attrs.frozen
class Ran(testing.Ran):
    def sink_lines(self, sink: str) -> list[str]:
        """The ``imagen: <sink>: ...`` lines on stderr."""
        return [line for line in self.err.splitlines() if line.startswith(f"imagen: {sink}: ")]


@attrs.define
class Project:
    """One user's setup: a fake Supabase project, a config file, an output directory."""

    fake: FakeSupabase
    url: str
    root: Path
    key: str = SERVICE_JWT
    runs: list[Ran] = attrs.field(factory=list)

    @property
    def output(self) -> Path:
        return self.root / "out"

    @property
    def config_path(self) -> Path:
        return self.root / "imagen.yaml"

    def configure(self, *sinks: str, url: str | None = None, naming: str | None = None) -> None:
        """Write the config with the named sink kinds (``storage``, ``usage``) at ``url``."""
        target = url or self.url
        blocks = {
            "storage": (
                f"  {STORAGE_SINK}:\n"
                "    type: supabase-storage\n"
                '    enabled: "on"\n'
                f"    url: {target}\n"
                f"    key_env: {KEY_ENV}\n"
                f'    owner_user_id: "{OWNER_ID}"\n'
                "    timeout: 10\n"
            ),
            "usage": (
                f"  {USAGE_SINK}:\n"
                "    type: supabase-usage\n"
                '    enabled: "on"\n'
                f"    url: {target}\n"
                f"    key_env: {KEY_ENV}\n"
                "    timeout: 10\n"
            ),
        }
        naming_line = f"  naming: {json.dumps(naming)}\n" if naming else ""
        self.config_path.write_text(
            f'output:\n  directory: {self.output}\n  preview: "off"\n{naming_line}'
            "sinks:\n" + "".join(blocks[kind] for kind in sinks)
        )

    def imagen(self, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        """``imagen --config FILE ARGS`` as its own process; the key only in its environment."""
        child_env = {**os.environ, KEY_ENV: self.key, **(env or {})}
        done = testing.run_imagen(*args, config=self.config_path, env=child_env)
        ran = Ran(done.code, done.out, done.err)
        self.runs.append(ran)
        return ran

    def generate(self, prompt: str, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        return self.imagen("generate", prompt, *args, env=env)

    def pending(self) -> list[dict[str, Any]]:
        """``imagen sync --list --json``: the deliveries kept in the outbox."""
        listed = self.imagen("sync", "--list", "--json")
        assert listed.code == 0, listed.err
        deliveries: list[dict[str, Any]] = json.loads(listed.out)
        return deliveries

    def relative(self, printed: str) -> str:
        """The path of a written image relative to the output directory (the bucket path)."""
        return Path(printed).relative_to(self.output).as_posix()


@pytest.fixture
def project(tmp_path: Path, isolated_environment: Path) -> Iterator[Project]:
    """A fresh fake project; afterwards, the key must be in no output and no file written.

    The files are the images, sidecars and config under ``tmp_path`` and everything imagen
    keeps under the isolated HOME (outbox, history, caches).
    """
    fake = KeyCheckingSupabase()
    with serve_app(fake.app()) as url:
        project = Project(fake, url, tmp_path)
        yield project
    assert project.runs
    for ran in project.runs:
        assert project.key not in ran.out
        assert project.key not in ran.err
    assert list(project.output.rglob("*.json")), "no sidecar was written"
    written = [path for root in (tmp_path, isolated_environment) for path in root.rglob("*")]
    for path in written:
        if path.is_file():
            assert project.key.encode() not in path.read_bytes(), path


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def remote(relative: str) -> str:
    """The object key of an image: the owner's id, then its relative path (Storage's rule)."""
    return f"{OWNER_ID}/{storage_key(relative)}"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. a generate with the storage sink ---------------------------------------------------------


def test_generate_uploads_the_image_under_its_owner_at_its_relative_path_and_records_its_row(
    project: Project,
) -> None:
    project.configure("storage")

    ran = project.generate("a lighthouse at dusk", "--seed", "7")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    image = Path(printed)
    key = f"{OWNER_ID}/{project.relative(printed)}"
    assert project.fake.objects[(BUCKET, key)] == (image.read_bytes(), "image/png")
    [upload] = project.fake.requests("upload")
    assert upload.path == f"/storage/v1/object/{BUCKET}/{key}"
    [row] = project.fake.rows("imagen", "images")
    assert row["owner_user_id"] == OWNER_ID
    assert (row["bucket"], row["storage_path"]) == (BUCKET, key)
    assert row["sha256"] == sha256_of(image)
    assert (row["backend"], row["model"], row["seed"]) == ("mock", "imagen-mock-placeholder", 7)
    assert row["prompt"] == "a lighthouse at dusk"
    sidecar = json.loads(image.with_suffix(".json").read_text())
    assert row["sidecar"] == sidecar
    assert ran.sink_lines(STORAGE_SINK) == []
    assert project.pending() == []


def test_secret_key_in_apikey_only_works_end_to_end(project: Project) -> None:
    project.key = SECRET_KEY
    project.configure("storage")

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    assert len(project.fake.rows("imagen", "images")) == 1
    for seen in project.fake.seen:
        assert seen.headers["apikey"] == SECRET_KEY
        assert "Authorization" not in seen.headers


def test_a_naming_template_with_spaces_and_punctuation_maps_to_one_object_key(
    project: Project,
) -> None:
    project.configure("storage", naming="{backend} renders/{date} (take {n} of {count}), {seed}+&")

    ran = project.generate("a lighthouse at dusk", "--seed", "7")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    relative = project.relative(printed)
    assert relative.startswith("mock renders/")
    assert relative.endswith("(take 1 of 1), 7+&.png")
    # "(" is Storage's escape character, so it is escaped itself: one key per local name.
    assert (BUCKET, remote(relative)) in project.fake.objects
    [row] = project.fake.rows("imagen", "images")
    assert row["storage_path"] == remote(relative)


def test_a_non_ascii_prompt_is_uploaded_under_a_key_storage_accepts(project: Project) -> None:
    project.configure("storage")

    ran = project.generate("café au lait, 猫", "--seed", "7")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    assert "café" in project.relative(printed)
    assert ran.sink_lines(STORAGE_SINK) == []
    [row] = project.fake.rows("imagen", "images")
    assert (BUCKET, row["storage_path"]) in project.fake.objects
    assert row["storage_path"] == remote(project.relative(printed))
    assert project.pending() == []


def test_signed_url_of_a_synced_image_serves_its_bytes(project: Project) -> None:
    import httpx

    project.configure("storage")
    [printed] = project.generate("a lighthouse at dusk").out.splitlines()

    signed = project.imagen("supabase", "url", printed, "--ttl", "60")

    assert signed.code == 0, signed.err
    [url] = signed.out.splitlines()
    assert url.startswith(f"{project.url}/storage/v1/object/sign/{BUCKET}/")
    assert project.key not in url
    assert httpx.get(url).content == Path(printed).read_bytes()


def submitted_and_run(project: Project, prompt: str, *args: str) -> dict[str, Any]:
    """``imagen submit``, then ``imagen worker --once``; the job as ``imagen jobs show --json``."""
    submitted = project.imagen("submit", prompt, *args)
    assert submitted.code == 0, submitted.err
    job_id = submitted.out.strip()
    worked = project.imagen("worker", "--once", "--backends", "mock")
    assert worked.code == 0, worked.err
    shown = project.imagen("jobs", "show", job_id, "--json")
    assert shown.code == 0, shown.err
    job: dict[str, Any] = json.loads(shown.out)
    return job


def test_a_job_records_where_the_storage_sink_put_each_take_and_its_url_reads_it(
    project: Project,
) -> None:
    import httpx

    from imagen_supabase.connection import object_path
    from imagen_supabase.testing import ANON_JWT, USER_JWT

    project.configure("storage")

    job = submitted_and_run(project, "a lighthouse at dusk", "-n", "2", "--seed", "7")

    assert job["state"] == "done", job
    for take in job["takes"]:
        [image] = take["images"]
        key = remote(project.relative(image["path"]))
        assert (BUCKET, key) in project.fake.objects
        assert image["remote_object"] == f"{BUCKET}/{key}"
        url = f"{project.url}/storage/v1/object/authenticated/{BUCKET}/{object_path(key)}"
        assert image["remote_url"] == take["remote_url"] == url
        # A front end elsewhere reads it with the owner's session; without one it is hidden.
        owner = {"apikey": ANON_JWT, "Authorization": f"Bearer {USER_JWT}"}
        assert httpx.get(url, headers=owner).content == Path(image["path"]).read_bytes()
        assert httpx.get(url, headers={"apikey": ANON_JWT}).status_code == 400


def test_a_job_whose_upload_failed_has_no_remote_url_and_sync_still_delivers_it(
    project: Project,
) -> None:
    project.configure("storage")
    project.fake.fail("upload", *[503] * 20)

    job = submitted_and_run(project, "a lighthouse at dusk", "--seed", "7")

    assert job["state"] == "done", job
    [take] = job["takes"]
    [image] = take["images"]
    assert image["remote_object"] is None
    assert image["remote_url"] is take["remote_url"] is None
    [kept] = project.pending()
    assert kept["path"] == project.relative(image["path"])


# -- 2. Storage down, then imagen sync -----------------------------------------------------------


def test_storage_answering_503_keeps_the_image_and_sync_delivers_it_later(
    project: Project,
) -> None:
    project.configure("storage")
    project.fake.fail("upload", *[503] * 20)

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    assert Path(printed).is_file()
    [line] = ran.err.splitlines()
    key = remote(project.relative(printed))
    assert line.startswith(
        f"imagen: {STORAGE_SINK}: recorded {BUCKET}/{key}, but the upload failed: upload to "
    )
    assert "Storage answered 503" in line
    assert line.endswith("(kept for retry: imagen sync)")
    assert len(project.fake.requests("upload")) > 1  # retried on the spot first
    assert project.fake.objects == {}
    assert len(project.fake.rows("imagen", "images")) == 1  # the row holds the key
    listed = project.imagen("sync", "--list")
    assert listed.code == 0, listed.err
    [entry] = [line for line in listed.out.splitlines() if project.relative(printed) in line]
    assert STORAGE_SINK in entry.split()

    project.fake.clear_faults()
    synced = project.imagen("sync")

    assert synced.code == 0, synced.err
    relative = project.relative(printed)
    assert f"synced {relative} -> {STORAGE_SINK}" in synced.out
    assert project.fake.objects[(BUCKET, key)][0] == Path(printed).read_bytes()
    [row] = project.fake.rows("imagen", "images")
    assert row["storage_path"] == key
    assert len(project.fake.requests("insert")) == 1  # sync only uploaded
    assert project.pending() == []
    emptied = project.imagen("sync", "--list")
    assert (emptied.code, emptied.out) == (0, "")
    assert "nothing pending" in emptied.err


def test_unreachable_storage_keeps_the_image_and_sync_delivers_it_when_back(
    project: Project,
) -> None:
    project.configure("storage", url=closed_port_url())

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    assert Path(printed).is_file()
    [line] = ran.sink_lines(STORAGE_SINK)
    assert "could not reach" in line
    [kept] = project.pending()
    assert (kept["sink"], kept["path"]) == (STORAGE_SINK, project.relative(printed))

    project.configure("storage")
    synced = project.imagen("sync")

    assert synced.code == 0, synced.err
    assert (BUCKET, remote(project.relative(printed))) in project.fake.objects
    assert len(project.fake.rows("imagen", "images")) == 1
    assert project.pending() == []


def test_a_key_missing_from_the_environment_is_kept_and_synced_once_it_is_set(
    project: Project,
) -> None:
    project.configure("storage", "usage")

    ran = project.generate("a lighthouse at dusk", env={KEY_ENV: ""})

    assert ran.code == 0, ran.err
    assert project.fake.seen == []
    for sink in (STORAGE_SINK, USAGE_SINK):
        [line] = ran.sink_lines(sink)
        assert f"set {KEY_ENV}" in line
    assert {kept["sink"] for kept in project.pending()} == {STORAGE_SINK, USAGE_SINK}

    synced = project.imagen("sync")

    assert synced.code == 0, synced.err
    assert len(project.fake.rows("imagen", "images")) == 1
    assert len(project.fake.rows("mai", "imagen_usage")) == 1
    assert project.pending() == []


# -- 3. the row refused: nothing uploaded, sync delivers both -------------------------------------


def test_unexposed_schema_is_reported_before_any_upload_and_sync_delivers_both(
    project: Project,
) -> None:
    project.configure("storage")
    project.fake.exposed.remove("imagen")

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    [line] = ran.sink_lines(STORAGE_SINK)
    assert "insert into imagen.images failed" in line
    assert "PGRST106" in line
    assert "imagen sync" in line
    assert project.fake.requests("upload") == []
    assert project.fake.rows("imagen", "images") == []
    [kept] = project.pending()
    assert kept["state"] == {}

    project.fake.exposed.append("imagen")
    synced = project.imagen("sync")

    assert synced.code == 0, synced.err
    [row] = project.fake.rows("imagen", "images")
    key = remote(project.relative(printed))
    assert row["storage_path"] == key
    assert row["sha256"] == sha256_of(Path(printed))
    assert project.fake.objects[(BUCKET, key)][0] == Path(printed).read_bytes()
    assert project.pending() == []


def test_database_5xx_is_reported_before_any_upload_and_sync_delivers_both(
    project: Project,
) -> None:
    project.configure("storage")
    project.fake.fail("insert", *[503] * 20)

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    [line] = ran.sink_lines(STORAGE_SINK)
    assert "insert into imagen.images failed" in line
    assert "503" in line
    assert project.fake.requests("upload") == []

    project.fake.clear_faults()
    synced = project.imagen("sync")

    assert synced.code == 0, synced.err
    [row] = project.fake.rows("imagen", "images")
    assert row["storage_path"] == remote(project.relative(printed))
    assert len(project.fake.requests("upload")) == 1
    assert project.pending() == []


# -- 4. cloud sync turned off ----------------------------------------------------------------------


def test_no_cloud_flag_uploads_nothing(project: Project) -> None:
    project.configure("storage", "usage")

    ran = project.generate("a lighthouse at dusk", "--no-cloud")

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    assert Path(printed).is_file()
    assert project.fake.seen == []
    assert project.pending() == []


def test_cloud_sync_env_off_uploads_nothing(project: Project) -> None:
    project.configure("storage", "usage")

    ran = project.generate("a lighthouse at dusk", env={"IMAGEN_CLOUD_SYNC": "off"})

    assert ran.code == 0, ran.err
    [printed] = ran.out.splitlines()
    assert Path(printed).is_file()
    assert project.fake.seen == []
    assert project.pending() == []


# -- 5. the usage sink and imagen usage --source ---------------------------------------------------


def test_usage_sink_records_one_row_per_take_with_only_the_prompts_hash(
    project: Project,
) -> None:
    project.configure("usage")
    prompt = "my secret product launch banner"

    ran = project.generate(prompt, "-n", "2", "--style", "watercolor", "--caller", "e2e")

    assert ran.code == 0, ran.err
    assert len(ran.out.splitlines()) == 2
    rows = project.fake.rows("mai", "imagen_usage")
    assert len(rows) == 2
    expected_hash = hashlib.sha256(prompt.encode()).hexdigest()
    assert {row["prompt_hash"] for row in rows} == {expected_hash}
    assert {row["backend"] for row in rows} == {"mock"}
    assert {row["caller"] for row in rows} == {"e2e"}
    assert len({row["seed"] for row in rows}) == 2
    assert len({row["id"] for row in rows}) == 2
    assert prompt not in json.dumps(rows)
    for seen in project.fake.seen:
        assert prompt.encode() not in seen.body


def test_usage_source_prints_the_grouped_table_and_raw_lines(project: Project) -> None:
    project.configure("usage")
    assert project.generate("a lighthouse at dusk", "-n", "2").code == 0

    grouped = project.imagen("usage", "--source", USAGE_SINK)

    assert grouped.code == 0, grouped.err
    lines = grouped.out.splitlines()
    assert lines[0].split()[:2] == ["BACKEND", "TAKES"]
    [mock] = [line for line in lines if line.split()[0] == "mock"]
    assert mock.split()[1] == "2"
    assert lines[-1].split()[:2] == ["TOTAL", "2"]
    assert project.fake.requests("select")

    raw = project.imagen("usage", "--source", USAGE_SINK, "--raw")

    assert raw.code == 0, raw.err
    header, *takes, total = raw.out.splitlines()
    assert header.split()[:3] == ["CREATED", "AT", "BACKEND"]
    assert len(takes) == 2
    assert all(line.split()[2] == "mock" for line in takes)
    assert total.split()[:3] == ["TOTAL", "2", "takes"]


# -- 6. the key stays secret -----------------------------------------------------------------------


def test_a_server_echoing_a_rejected_key_never_shows_it(project: Project) -> None:
    project.key = "sb_secret_not-the-projects-key-0123456789"
    project.fake.echo_key_in_errors = True
    project.configure("storage", "usage")

    ran = project.generate("a lighthouse at dusk")

    assert ran.code == 0, ran.err
    [storage_line] = ran.sink_lines(STORAGE_SINK)
    [usage_line] = ran.sink_lines(USAGE_SINK)
    assert "Invalid API key: ***" in storage_line
    assert "Invalid API key: ***" in usage_line
    assert any(project.key in seen.headers.get("apikey", "") for seen in project.fake.seen)
    listed = project.imagen("sync", "--list")
    assert STORAGE_SINK in listed.out
    assert {kept["sink"] for kept in project.pending()} == {STORAGE_SINK, USAGE_SINK}
    failed = project.imagen("sync")
    assert failed.code == 1
    assert failed.sink_lines(STORAGE_SINK)
