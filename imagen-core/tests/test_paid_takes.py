"""Never pay for an image and lose it: readiness and the output folder are checked before any
spend, a take that cannot be written where asked is kept in the data dir with its spend recorded,
and nothing after a take arrives (writing, history, display, hooks) can cancel another take."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen import hookimpl
from imagen.config.load import parse_config
from imagen.mock import MockBackend, MockSettings
from imagen.models import Progress, Request, Result
from imagen.pipeline import QuietReporter, execute, prepare, rescue_dir
from imagen.plugins import loader as plugins

PAID = "backends:\n  paid:\n    type: mock\n    cost_per_image: 0.04\n"


def write_config(tmp_path: Path, text: str = PAID) -> Path:
    config = tmp_path / "imagen.yaml"
    config.write_text(text)
    return config


def recorded_spend() -> tuple[int, Decimal]:
    """Takes in the history and their total actual cost."""
    from imagen.store.history import History, default_path

    entries = History.shared(default_path()).query()
    total = sum((e.cost_actual for e in entries if e.cost_actual is not None), Decimal(0))
    return len(entries), total


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not _can_mount(), reason="needs root and unshare to mount a small private tmpfs"
)


def on_small_disk(folder: Path, mount: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``imagen ARGS`` with ``folder`` a private tmpfs (``mount`` options) that dies with it.

    The mount lives in the process's own mount namespace: nothing is left mounted, even when
    the run is killed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    return subprocess.run(
        [*command, mount, str(folder), sys.executable, "-m", "imagen", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_mount
def test_a_read_only_output_folder_is_refused_before_any_spend(
    tmp_path: Path, imagen_process: Any
) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "out"
    ran = on_small_disk(
        out, "size=64k,ro", "--config", str(config), "generate", "x", "-b", "paid", "-n", "4",
        "-o", str(out),
    )  # fmt: skip
    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"imagen: error: cannot write to {out}: the file system is read-only; choose another "
        "output directory with -o or output.directory"
    ]
    assert recorded_spend() == (0, 0)


@needs_mount
def test_a_full_output_folder_keeps_every_paid_image_in_the_data_dir(
    tmp_path: Path, isolated_environment: Path, imagen_process: Any
) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "out"
    ran = on_small_disk(
        out, "size=32k", "--config", str(config), "generate", "x", "-b", "paid", "-n", "2",
        "--seed", "5", "-o", str(out),
    )  # fmt: skip
    assert ran.returncode == 1
    kept = sorted(Path(rescue_dir()).rglob("*.png"))
    assert len(kept) == 2
    errors = [line for line in ran.stderr.splitlines() if line.startswith("imagen: error:")]
    assert len(errors) == 2
    for line in errors:
        assert "no space left on the device" in line
        assert "the image is kept at " + str(Path(rescue_dir())) in line
    assert all(str(path) in ran.stderr for path in kept)
    assert kept[0].with_suffix(".json").is_file()
    assert recorded_spend() == (2, Decimal("0.08"))


def test_a_write_that_fails_after_the_probe_still_keeps_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The errno mock at the one place files are written: no root needed."""
    import errno

    from imagen.output import files as output

    real = output.write_take
    out = tmp_path / "out"

    def full_output(directory: Any, *args: Any) -> Any:
        if Path(directory) == out:
            raise output.OutputError(
                output._message(out, OSError(errno.ENOSPC, "No space left on device"))
            )
        return real(directory, *args)

    monkeypatch.setattr(output, "write_take", full_output)
    config, _ = parse_config(PAID)
    assert config is not None
    plan = prepare(config, Request(prompt="x", count=3), backend="paid", output_dir=out)
    outcome = asyncio.run(execute(plan))
    assert outcome.generations == ()
    assert [f.take for f in outcome.failures] == [1, 2, 3]
    assert all("the image is kept at" in str(f.error) for f in outcome.failures)
    assert len(list(Path(rescue_dir()).rglob("*.png"))) == 3


def test_a_backend_that_is_not_configured_is_refused_before_the_cost_notice(
    tmp_path: Path, imagen_process: Any
) -> None:
    config = write_config(
        tmp_path,
        "backends:\n  r:\n    type: replicate\n    model: black-forest-labs/flux-schnell\n",
    )
    ran = imagen_process("--config", str(config), "generate", "x", "-b", "r", "-o", str(tmp_path))
    assert ran.code == 2
    assert ran.err.splitlines() == [
        "imagen: error: backend r is not configured (set REPLICATE_API_TOKEN)"
    ]


# --- a cache hit is said, lands in the asked folder, and survives a broken history ----------


def test_a_cache_hit_says_so_and_is_copied_into_another_output_folder(
    tmp_path: Path, imagen_process: Any
) -> None:
    first = imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path / "a"))
    assert first.code == 0, first.err
    assert "cached" not in first.err
    again = imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path / "b"))
    assert again.code == 0, again.err
    assert (
        "imagen: cached: no new spend (this seeded request ran before, copied into "
        f"{tmp_path / 'b'}; --no-cache generates again)" in again.err.splitlines()
    )
    copied = Path(again.lines[0])
    assert copied.is_relative_to(tmp_path / "b")
    assert copied.read_bytes() == Path(first.lines[0]).read_bytes()
    assert copied.with_suffix(".json").is_file()
    third = imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path / "b"))
    assert third.lines == again.lines  # the copy is now the hit in b: no second copy
    assert "copied" not in third.err


def test_a_partial_cache_hit_names_the_takes(tmp_path: Path, imagen_process: Any) -> None:
    imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path))
    ran = imagen_process("generate", "x", "--seed", "7", "-n", "3", "-o", str(tmp_path))
    assert "imagen: cached: take 1 of 3 ran before, no new spend for it" in ran.err.splitlines()
    assert len(ran.lines) == 3


def test_an_unreadable_history_does_not_stop_a_seeded_run(
    tmp_path: Path, isolated_environment: Path, imagen_process: Any
) -> None:
    from imagen.store.history import default_path

    first = imagen_process("generate", "x", "--seed", "3", "-o", str(tmp_path))
    assert first.code == 0
    Path(default_path()).write_bytes(b"this is not a database" * 100)
    ran = imagen_process("generate", "x", "--seed", "3", "-o", str(tmp_path))
    assert ran.code == 0, ran.err
    assert len(ran.lines) == 1
    assert Path(ran.lines[0]).is_file()
    assert ran.lines != first.lines  # generated again: the cache was skipped
    assert any(
        line.startswith("imagen: warning: history:") and "the cache is skipped" in line
        for line in ran.err.splitlines()
    )


# --- backends that ignore seeds, several images per take, faults after a take is written ----


@attrs.frozen
class ShapeSettings:
    seeds: bool = True
    images: int = 1


class ShapeBackend(MockBackend):
    """The mock, reporting no seed (a provider that ignores seeds) or several images."""

    calls = 0

    def __init__(self, name: str, settings: ShapeSettings) -> None:
        super().__init__(name, MockSettings(width=16, height=16))
        self.shape = settings
        self.honors_seeds = settings.seeds

    async def generate(self, request: Request, progress: Progress) -> Result:
        type(self).calls += 1
        result = await super().generate(request, progress)
        image = result.images[0]
        seed = image.seed if self.shape.seeds else None
        images = tuple(
            attrs.evolve(image, seed=seed, data=image.data) for _ in range(self.shape.images)
        )
        return attrs.evolve(result, images=images)


@pytest.fixture
def shape() -> Iterator[type[ShapeBackend]]:
    def register_backends(register: Any) -> None:
        register("shape", ShapeBackend, ShapeSettings)

    module = types.ModuleType("shape_plugin")
    module.register_backends = hookimpl(register_backends)  # type: ignore[attr-defined]
    plugins.manager().register(module, name="shape-test")
    plugins.registry.cache_clear()
    ShapeBackend.calls = 0
    yield ShapeBackend
    plugins.manager().unregister(module)
    plugins.registry.cache_clear()


def run(text: str, request: Request, out: Path, reporter: Any = None) -> Any:
    config, problems = parse_config(text)
    assert config is not None, problems.errors
    plan = prepare(config, request, output_dir=out)
    return asyncio.run(execute(plan, reporter=reporter))


def test_a_backend_that_ignores_seeds_is_never_a_cache_hit(shape: Any, tmp_path: Path) -> None:
    text = "default_backend: s\nbackends:\n  s:\n    type: shape\n    seeds: false\n"
    first = run(text, Request(prompt="x", seed=4), tmp_path)
    again = run(text, Request(prompt="x", seed=4), tmp_path)
    assert shape.calls == 2
    assert not again.generations[0].cache_hit
    assert again.generations[0].path != first.generations[0].path
    config, _ = parse_config(text)
    assert config is not None
    assert prepare(config, Request(prompt="x", seed=4), output_dir=tmp_path).seeded is False


def test_a_take_reported_without_its_seed_is_never_a_cache_hit(shape: Any, tmp_path: Path) -> None:
    """Even when the backend does not declare it: the recorded seed is the proof."""
    text = "default_backend: s\nbackends:\n  s:\n    type: shape\n    seeds: true\n"
    run(text, Request(prompt="x", seed=4), tmp_path)
    from imagen.store.history import History, default_path

    History.shared(default_path())._conn.execute("UPDATE generations SET seed = NULL")
    run(text, Request(prompt="x", seed=4), tmp_path)
    assert shape.calls == 2


def test_every_image_of_a_take_is_kept_and_charged_its_share(shape: Any, tmp_path: Path) -> None:
    text = (
        "default_backend: s\nbackends:\n  s:\n    type: shape\n    images: 3\n"
        "    cost_per_image: 0.03\n"
    )
    outcome = run(text, Request(prompt="x", count=2), tmp_path)
    assert outcome.ok
    assert len(outcome.generations) == 6
    assert len({g.path for g in outcome.generations}) == 6
    assert [g.take for g in outcome.generations] == [1, 1, 1, 2, 2, 2]
    assert all(Path(tmp_path, g.path).is_file() for g in outcome.generations)


class BrokenDisplay(QuietReporter):
    """A display that fails the way a closed pipe or a full stdout does."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    def take_finished(self, take: int, generation: Any) -> None:
        self.finished.append(take)
        raise BrokenPipeError(32, "Broken pipe")


def test_a_failing_display_cancels_no_take(tmp_path: Path) -> None:
    display = BrokenDisplay()
    outcome = run("", Request(prompt="x", count=5), tmp_path, reporter=display)
    assert outcome.ok
    assert len(outcome.generations) == 5
    assert sorted(display.finished) == [1, 2, 3, 4, 5]
    assert len(list(tmp_path.rglob("*.png"))) == 5


def test_a_history_that_refuses_a_row_cancels_no_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagen.store.history import History

    def overflow(self: Any, generation: Any, **options: Any) -> int:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr(History, "record", overflow)
    outcome = run("", Request(prompt="x", count=4), tmp_path)
    assert outcome.ok
    assert len(list(tmp_path.rglob("*.png"))) == 4
    err = capsys.readouterr().err
    assert err.count("is on disk but not recorded") == 4


def test_a_failing_sink_module_cancels_no_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.plugins import hookcalls

    async def broken(generation: Any) -> list[tuple[str, str]]:
        raise RuntimeError("a bug after the write")

    monkeypatch.setattr(hookcalls, "post_generate", broken)
    outcome = run("", Request(prompt="x", count=3), tmp_path)
    assert outcome.ok
    assert len(outcome.generations) == 3


def test_dry_run_says_a_cached_take_will_be_copied_into_the_asked_folder(
    tmp_path: Path, imagen_process: Any
) -> None:
    first = imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path / "a"))
    ran = imagen_process("generate", "x", "--seed", "7", "-o", str(tmp_path / "b"), "--dry-run")
    assert f"cached_takes: 1; take 1 is copied from {first.lines[0]}" in ran.lines
    assert "cost_estimate: $0.00 (cache hits: no new spend)" in ran.lines
    data = json.loads(
        imagen_process(
            "generate", "x", "--seed", "7", "-o", str(tmp_path / "b"), "--dry-run", "--json"
        ).out
    )
    assert data["cache_copies"] == [{"take": 1, "from": first.lines[0]}]
    assert data["output_dir"] == str(tmp_path / "b")
    assert not (tmp_path / "b").exists()
