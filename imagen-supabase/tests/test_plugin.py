"""The plugin as imagen sees it: registration, samples, config validation and the commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from imagen.cli import cli
from imagen.config.load import parse_config
from imagen.models import Generation
from imagen.plugins.registry import Registry
from imagen_supabase import register_sinks
from imagen_supabase.settings import STORAGE_SAMPLE, USAGE_SAMPLE, StorageSettings, UsageSettings
from imagen_supabase.storage import SupabaseStorageSink
from imagen_supabase.testing import OWNER_ID, PNG, SERVICE_JWT
from imagen_supabase.usage import SupabaseUsageSink

Served = Any  # the ``supabase`` fixture: .fake (FakeSupabase) and .url


def config_text(sinks: str, output_dir: str = "/tmp/imagen-out") -> str:
    return f"output:\n  directory: {output_dir}\nsinks:\n" + textwrap.indent(sinks, "  ")


def test_both_sink_types_register_with_their_settings_and_samples() -> None:
    registry = Registry()

    register_sinks(registry.sink_register("supabase"))

    storage = registry.sinks["supabase-storage"]
    usage = registry.sinks["supabase-usage"]
    assert storage.config_class is StorageSettings
    assert usage.config_class is UsageSettings
    assert isinstance(
        storage.factory("cloud", StorageSettings(url="https://x")), SupabaseStorageSink
    )
    assert isinstance(usage.factory("usage", UsageSettings(url="https://x")), SupabaseUsageSink)
    assert storage.sample == STORAGE_SAMPLE
    assert usage.sample == USAGE_SAMPLE


def test_samples_load_as_valid_config() -> None:
    config, problems = parse_config(config_text(STORAGE_SAMPLE + USAGE_SAMPLE))

    assert problems.errors == []
    assert config is not None
    assert config.sinks["cloud"].type == "supabase-storage"
    # A fresh `imagen config init` must not sync anywhere before the project is set up.
    assert config.sinks["cloud"].enabled == "off"
    assert config.sinks["usage"].enabled == "off"
    assert problems.warnings == []
    assert config.sinks["cloud"].settings == StorageSettings(
        url="https://your-project-ref.supabase.co"
    )
    assert config.sinks["usage"].settings == UsageSettings(
        url="https://your-project-ref.supabase.co"
    )


def test_sample_lines_are_comments_or_entries_at_column_zero() -> None:
    for sample in (STORAGE_SAMPLE, USAGE_SAMPLE):
        first = sample.splitlines()[0]
        assert first.startswith("# ")
        entries = [line for line in sample.splitlines() if line and line[0] not in "# "]
        assert len(entries) == 1
        assert entries[0].endswith(":")


def test_validate_warns_when_an_enabled_storage_sink_has_no_owner() -> None:
    sinks = """\
cloud: {type: supabase-storage, url: "https://x.supabase.co"}
forced: {type: supabase-storage, enabled: on, url: "https://x.supabase.co", owner_user_id: " "}
"""
    config, problems = parse_config(config_text(sinks))

    assert config is not None
    assert problems.errors == []
    assert [w.path for w in problems.warnings] == [
        "sinks.cloud.owner_user_id",
        "sinks.forced.owner_user_id",
    ]
    assert "enabled (auto)" in problems.warnings[0].message
    assert "auth.users" in problems.warnings[0].message


def test_validate_rejects_an_owner_that_is_not_a_uuid() -> None:
    sinks = 'cloud: {type: supabase-storage, url: "https://x.supabase.co", owner_user_id: me}\n'

    config, problems = parse_config(config_text(sinks))

    assert config is not None
    assert [(p.severity, p.path) for p in problems.items] == [
        ("error", "sinks.cloud.owner_user_id")
    ]
    assert "not a UUID" in problems.items[0].message


def test_validate_is_quiet_for_an_owner_or_a_disabled_sink() -> None:
    sinks = f"""\
cloud: {{type: supabase-storage, url: "https://x.supabase.co", owner_user_id: "{OWNER_ID}"}}
off: {{type: supabase-storage, enabled: off, url: "https://x.supabase.co"}}
usage: {{type: supabase-usage, url: "https://x.supabase.co"}}
"""
    config, problems = parse_config(config_text(sinks))

    assert config is not None
    assert problems.items == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("http://127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("https://x.supabase.co:https", "the port must be a number from 1 to 65535"),
        ("x.supabase.co", "not an http:// or https:// address"),
        ("ftp://x.supabase.co", "not an http:// or https:// address"),
        ("https://[::1", "invalid IPv6 URL"),
    ],
)
@pytest.mark.parametrize("kind", ["supabase-storage", "supabase-usage"])
def test_a_url_no_sync_could_reach_is_refused_when_the_config_is_read(
    kind: str, url: str, problem: str
) -> None:
    _, problems = parse_config(config_text(f'cloud: {{type: {kind}, url: "{url}"}}\n'))

    [error] = problems.errors
    assert error.path == "sinks.cloud.url"
    assert error.message == (
        f"{url!r}: {problem}; use the project URL, like https://<ref>.supabase.co"
    )


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:54321", "https://x.supabase.co:65535"])
def test_an_empty_url_or_one_with_a_port_in_range_is_taken(url: str) -> None:
    config, problems = parse_config(
        config_text(f'cloud: {{type: supabase-storage, url: "{url}"}}\n')
    )

    assert problems.errors == []
    assert config is not None
    assert config.sinks["cloud"].settings.url == url


def test_sql_command_prints_the_migrations() -> None:
    result = CliRunner().invoke(cli, ["supabase", "sql"])

    assert result.exit_code == 0, result.output
    assert "CREATE SCHEMA IF NOT EXISTS imagen;" in result.output
    assert result.output.index("001_schemas") < result.output.index("007_expose")


def test_migrate_command_applies_from_the_env_var_then_reports_up_to_date(
    supabase_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", supabase_db)

    first = CliRunner().invoke(cli, ["supabase", "migrate"])
    second = CliRunner().invoke(cli, ["supabase", "migrate", "--db-url", supabase_db])

    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == "applied 001_schemas"
    assert len(first.output.splitlines()) == 8
    assert second.output.startswith("up to date: all 8 migrations")


def test_migrate_command_without_a_url_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_DB_URL", raising=False)

    result = CliRunner().invoke(cli, ["supabase", "migrate", "--db-url-env", "MY_DB_URL"])

    assert result.exit_code != 0
    assert "set MY_DB_URL" in str(result.exception)


def write_config(tmp_path: Path, url: str, output_dir: str, extra: str = "") -> str:
    sinks = (
        f'cloud: {{type: supabase-storage, url: "{url}", key_env: TEST_SUPABASE_KEY, '
        f'owner_user_id: "{OWNER_ID}"}}\n' + extra
    )
    path = tmp_path / "imagen.yaml"
    path.write_text(config_text(sinks, output_dir))
    return str(path)


def synced(fake: Any, generation: Generation, key: str, sha256: str | None = None) -> None:
    """As if the storage sink had delivered ``generation`` under ``key``."""
    fake.objects[("imagen-generated", key)] = (PNG, "image/png")
    fake.rows("imagen", "images").append(
        {
            "id": str(uuid.uuid4()),
            "owner_user_id": OWNER_ID,
            "bucket": "imagen-generated",
            "storage_path": key,
            "sha256": sha256 or generation.sha256,
        }
    )


def signed_key(url: str) -> str:
    return url.split("/object/sign/imagen-generated/", 1)[1].split("?", 1)[0]


def test_url_command_signs_a_synced_image_by_its_local_path(
    supabase: Served, generation: Generation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)
    synced(supabase.fake, generation, f"{OWNER_ID}/{generation.path}")
    config = write_config(tmp_path, supabase.url, generation.output_dir)
    local = os.path.join(generation.output_dir, generation.path)

    result = CliRunner().invoke(cli, ["--config", config, "supabase", "url", local, "--ttl", "90"])

    assert result.exit_code == 0, result.output
    signed = result.output.strip()
    assert signed.startswith(f"{supabase.url}/storage/v1/object/sign/imagen-generated/")
    assert signed_key(signed) == f"{OWNER_ID}/{generation.path}"
    assert json.loads(supabase.fake.requests("sign")[0].body) == {"expiresIn": 90}


@pytest.mark.parametrize("where", ["digest", "legacy"])
def test_url_command_finds_a_local_image_by_its_row_wherever_it_was_stored(
    supabase: Served,
    generation: Generation,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    # Its own key held by another image of the same owner (digest), or synced before keys
    # began with the owner (legacy).
    from imagen_supabase.connection import with_digest

    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)
    own = f"{OWNER_ID}/{generation.path}"
    synced(supabase.fake, generation, own, sha256="another image's digest")
    key = with_digest(own, generation.sha256) if where == "digest" else generation.path
    synced(supabase.fake, generation, key)
    config = write_config(tmp_path, supabase.url, generation.output_dir)
    local = os.path.join(generation.output_dir, generation.path)

    result = CliRunner().invoke(cli, ["--config", config, "supabase", "url", local])

    assert result.exit_code == 0, result.output
    assert signed_key(result.output.strip()) == key


def test_url_command_says_when_a_local_image_was_never_synced(
    supabase: Served, generation: Generation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)
    config = write_config(tmp_path, supabase.url, generation.output_dir)
    local = os.path.join(generation.output_dir, generation.path)

    result = CliRunner().invoke(cli, ["--config", config, "supabase", "url", local])

    assert "it was not synced yet (imagen sync)" in str(result.exception)
    assert supabase.fake.requests("sign") == []


@pytest.mark.parametrize(
    "path",
    [
        "../other-bucket/x.png",
        "2026-11-23/../../other-bucket/x.png",
        "%2e%2e/other-bucket/x.png",
        "..%2Fother-bucket%2Fx.png",
        "%252e%252e/other-bucket/x.png",
        "..\\other-bucket\\x.png",
        "./x.png",
    ],
)
def test_url_command_refuses_a_bucket_path_that_leaves_the_bucket(
    supabase: Served, generation: Generation, tmp_path: Path, path: str
) -> None:
    config = write_config(tmp_path, supabase.url, generation.output_dir)
    env = {**os.environ, "TEST_SUPABASE_KEY": SERVICE_JWT}

    ran = subprocess.run(
        [sys.executable, "-m", "imagen", "--config", config, "supabase", "url", path],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )

    assert ran.returncode == 2
    assert ran.stdout == ""
    [line] = ran.stderr.splitlines()
    assert line.startswith(f"imagen: error: {path!r} is not an object name inside the bucket")
    assert supabase.fake.seen == []


def test_url_command_needs_sink_when_several_storage_sinks_exist(
    supabase: Served, generation: Generation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)
    extra = (
        f'backup: {{type: supabase-storage, url: "{supabase.url}", bucket: other, '
        "key_env: TEST_SUPABASE_KEY}\n"
    )
    config = write_config(tmp_path, supabase.url, generation.output_dir, extra)

    ambiguous = CliRunner().invoke(cli, ["--config", config, "supabase", "url", "x.png"])
    chosen = CliRunner().invoke(
        cli, ["--config", config, "supabase", "url", "x.png", "--sink", "backup"]
    )

    assert "choose one with --sink" in str(ambiguous.exception)
    assert supabase.fake.requests("sign")[0].path == "/storage/v1/object/sign/other/x.png"
    assert "Bucket not found" in str(chosen.exception)


def test_url_command_refuses_a_file_outside_the_output_directory(
    supabase: Served, generation: Generation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SERVICE_JWT)
    config = write_config(tmp_path, supabase.url, generation.output_dir + "/elsewhere")
    local = os.path.join(generation.output_dir, generation.path)

    result = CliRunner().invoke(cli, ["--config", config, "supabase", "url", local])

    assert "is not under the output directory" in str(result.exception)
    assert supabase.fake.seen == []


def test_importing_the_plugin_and_its_sinks_loads_no_http_or_database_library() -> None:
    code = (
        "import sys, imagen_supabase, imagen_supabase.cli, imagen_supabase.storage, "
        "imagen_supabase.usage, imagen_supabase.migrate, imagen_supabase.testing; "
        "print(sorted(m for m in ('httpx', 'psycopg', 'aiohttp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
