"""imagen's data files (history, outbox) are 0600 in 0700 folders: they hold every prompt."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from imagen.config.load import parse_config
from imagen.errors import OutputError
from imagen.models import Request
from imagen.pipeline import execute, prepare, rescue_dir
from imagen.sinks.outbox import Outbox
from imagen.sinks.outbox import default_path as outbox_path

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX file modes")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common 022, under which a plain create would give 0644 files and 0755 folders."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generate_creates_the_data_folder_0700_and_the_history_and_its_wal_0600(
    imagen: Any, tmp_path: Path
) -> None:
    ran = imagen("generate", "a private prompt", "-o", str(tmp_path / "out"))
    assert ran.code == 0, ran.err
    database = os.path.join(platformdirs.user_data_dir("imagen"), "history.sqlite3")
    assert mode(platformdirs.user_data_dir("imagen")) == 0o700
    assert mode(database) == 0o600
    # SQLite gives its side files the database's mode; the WAL holds the prompt too.
    for side in ("-wal", "-shm"):
        assert mode(database + side) == 0o600
    # Images are the user's output, not data: they follow the umask.
    [image] = [Path(line) for line in ran.lines]
    assert mode(image) == 0o644


def test_the_outbox_is_created_0600_in_a_0700_folder(tmp_path: Path) -> None:
    with Outbox.open(outbox_path()) as outbox:
        outbox.pending()
        # The WAL exists while the file is open (SQLite removes it at the last close).
        assert mode(outbox_path() + "-wal") == 0o600
    assert mode(os.path.dirname(outbox_path())) == 0o700
    assert mode(outbox_path()) == 0o600


def test_an_outbox_an_older_imagen_left_0644_is_tightened_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox.open(str(path)):
        pass
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    with Outbox.open(str(path)) as outbox:
        assert outbox.pending() == []
        assert mode(f"{path}-wal") == 0o600
    assert mode(path) == 0o600
    # A folder that already existed is the user's choice (IMAGEN_HISTORY may point anywhere).
    assert mode(tmp_path) == 0o755


def test_a_data_file_that_is_not_a_regular_file_is_never_chmodded(tmp_path: Path) -> None:
    # /dev/null as IMAGEN_OUTBOX must not lose its mode, even for root.
    fifo = tmp_path / "outbox.fifo"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(OutputError, match="outbox"):
        Outbox.open(str(fifo))
    assert mode(fifo) == 0o644


def test_the_rescued_images_folder_is_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagen.output import files as output

    real = output.write_take
    out = tmp_path / "out"

    def full_output(directory: Any, *args: Any) -> Any:
        if Path(directory) == out:
            error = OSError(errno.ENOSPC, "No space left on device")
            raise output.OutputError(output._message(out, error))
        return real(directory, *args)

    monkeypatch.setattr(output, "write_take", full_output)
    config, _ = parse_config("backends:\n  paid:\n    type: mock\n    cost_per_image: 0.04\n")
    assert config is not None
    plan = prepare(config, Request(prompt="x"), backend="paid", output_dir=out)
    outcome = asyncio.run(execute(plan))
    assert "the image is kept at" in str(outcome.failures[0].error)
    assert mode(rescue_dir()) == 0o700
    [image] = Path(rescue_dir()).rglob("*.png")
    assert mode(image) == 0o644
