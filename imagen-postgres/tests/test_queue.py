"""The postgres queue in one process: its tables, its config, long polls, and clear errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from imagen.config.load import load_config
from imagen.jobs.queue import JobNotFound, JobQuery, open_queue
from imagen.jobs.submit import submit
from imagen.models import Request
from imagen.testing.postgres import Postgres
from imagen_postgres.queue import PostgresQueue, queue_name
from imagen_postgres.schema import apply, script

from .conftest import fresh_database


def imagen(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagen", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def postgres_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "imagen.yaml"
    config.write_text(f"queue: {{type: postgres{extra}}}\n")
    return config


def test_migrate_applies_both_schemas_once_and_is_safe_to_repeat(
    postgres_server: Postgres,
) -> None:
    url = fresh_database(postgres_server, migrate=False)
    assert apply(url) == ["procrastinate's schema in imagen_queue", "imagen.jobs"]
    assert apply(url) == []
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT to_regclass('imagen.jobs'), to_regclass('imagen_queue.procrastinate_jobs'),"
            " to_regclass('public.procrastinate_jobs')"
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    assert row[1] is not None
    assert row[2] is None  # nothing in public, which Supabase's API exposes


def test_migrate_prints_the_sql_and_applies_it_from_url_env(
    tmp_path: Path, postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = postgres_config(tmp_path)
    printed = imagen(config, "queue", "migrate")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == script()
    assert "CREATE TABLE IF NOT EXISTS imagen.jobs" in printed.stdout
    assert "CREATE TABLE procrastinate_jobs" in printed.stdout

    missing = imagen(config, "queue", "migrate", "--apply")
    assert missing.returncode != 0
    assert "IMAGEN_QUEUE_URL is not set" in missing.stderr

    monkeypatch.setenv("IMAGEN_QUEUE_URL", fresh_database(postgres_server, migrate=False))
    first = imagen(config, "queue", "migrate", "--apply")
    assert first.returncode == 0, first.stderr
    assert "created procrastinate's schema in imagen_queue and imagen.jobs" in first.stderr
    again = imagen(config, "queue", "migrate", "--apply")
    assert again.returncode == 0, again.stderr
    assert "already there; nothing to do" in again.stderr


def test_an_inline_url_with_a_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("queue: {type: postgres, url: 'postgresql://imagen:hunter2@db/jobs'}\n")
    done = imagen(config, "config", "validate")
    assert done.returncode != 0
    assert "queue.url" in done.stderr
    assert "environment variable" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_an_unmigrated_database_is_one_line_that_says_what_to_run(
    tmp_path: Path, postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", fresh_database(postgres_server, migrate=False))
    done = imagen(postgres_config(tmp_path), "jobs")
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("create them with: imagen queue migrate --apply")
    )


def test_an_unreachable_server_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.testing.postgres import free_port

    url = f"postgresql://imagen:hunter2-secret@127.0.0.1:{free_port()}/jobs"
    monkeypatch.setenv("IMAGEN_QUEUE_URL", url)
    done = imagen(postgres_config(tmp_path), "jobs")
    assert done.returncode != 0
    assert "the job queue's database cannot be used" in done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_queue_names_fit_postgresql_channel_names() -> None:
    assert queue_name("flux-schnell") == "imagen/flux-schnell"
    long = queue_name("a" * 80)
    assert len(("procrastinate_queue_v1#" + long).encode()) <= 63
    assert long != queue_name("a" * 79 + "b")


def test_submit_get_list_cancel_and_a_long_poll_in_one_process(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path, ", heartbeat: 0.2"))

    async def scenario() -> None:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat in a hat", count=2), backend="mock",
                               output_dir=str(tmp_path / "out"))  # fmt: skip
            assert (await queue.get(job.id)).state == "queued"
            found = await queue.list(JobQuery(text="CAT IN", backend="mock"))
            assert [listed.id for listed in found] == [job.id]
            assert await queue.list(JobQuery(states=("done",))) == []
            # A long poll returns at the first change, made by another connection.
            waiting = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
            await asyncio.sleep(0)
            canceled = await queue.cancel(job.id)
            changed = await waiting
            assert changed.state == canceled.state == "canceled"
            with pytest.raises(JobNotFound):
                await queue.get("no-such-job")
        finally:
            await queue.aclose()

    asyncio.run(scenario())
