"""What the pipeline leaves behind when things go sideways: the files, the history rows, the
warnings and errors a user reads, and what a hook or library caller is handed.

Everything runs in this process, so mutation testing sees these tests reach ``imagen.pipeline``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
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
from imagen.errors import BackendError, ConfigError, OutputError
from imagen.mock import MockBackend, MockSettings
from imagen.models import Cost, Progress, Request, Result
from imagen.pipeline import execute, generate, prepare, rescue_dir
from imagen.plugins import loader as plugins
from imagen.store.history import History, default_path

PAID = "backends:\n  paid:\n    type: mock\n    cost_per_image: 0.04\n"


def config_for(text: str = "") -> Any:
    config, problems = parse_config(text)
    assert config is not None, problems.errors
    return config


def run(config: Any, request: Request, out: Path, **options: Any) -> Any:
    plan = prepare(config, request, output_dir=out, **options)
    return asyncio.run(execute(plan))


def history_rows(path: str | None = None) -> list[Any]:
    return list(reversed(History.shared(path or default_path()).query()))


def register(name: str, **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))
    plugins.manager().register(module, name=name)
    plugins.registry.cache_clear()
    return module


def unregister(module: types.ModuleType) -> None:
    plugins.manager().unregister(module)
    plugins.registry.cache_clear()


# --- a cache hit: who asked this time, and the copy in another folder ----------------------


def test_a_hit_is_recorded_and_handed_to_hooks_as_this_runs_caller_and_prompt(
    tmp_path: Path,
) -> None:
    seen: list[Any] = []
    module = register("seen", post_generate=lambda generation: seen.append(generation))
    try:
        run(config_for(), Request(prompt="a fox", seed=3), tmp_path, caller="otto")
        again = run(config_for(), Request(prompt="a fox", seed=3), tmp_path, caller="ida")
    finally:
        unregister(module)
    assert again.generations[0].cache_hit
    assert [(g.caller, g.user_prompt, g.cache_hit) for g in seen] == [
        ("otto", "a fox", False),
        ("ida", "a fox", True),
    ]
    assert [(row.caller, row.cache_hit) for row in history_rows()] == [
        ("otto", False),
        ("ida", True),
    ]


def test_a_history_at_a_configured_path_serves_the_cache_and_gets_the_rows(
    tmp_path: Path,
) -> None:
    where = tmp_path / "elsewhere" / "history.sqlite3"
    where.parent.mkdir()
    config = config_for(f"history:\n  path: {json.dumps(str(where))}\n")
    first = run(config, Request(prompt="x", seed=3), tmp_path / "out")
    again = run(config, Request(prompt="x", seed=3), tmp_path / "out")
    assert again.generations[0].cache_hit
    assert again.generations[0].path == first.generations[0].path
    assert [row.cache_hit for row in history_rows(str(where))] == [False, True]
    assert not Path(default_path()).exists()


def test_a_hit_copied_into_a_folder_where_its_name_is_taken_gets_a_new_name_and_its_sidecar(
    imagen: Any, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    # A dot and a space in a folder of the name: only the file's own extension is split off,
    # and the folder is one folder.
    config.write_text('output:\n  naming: "v1.2 set/{slug}-{seed}"\n')
    first = imagen(
        "--config", str(config), "generate", "x", "--seed", "7", "-o", str(tmp_path / "a")
    )
    source = Path(first.lines[0])
    relative = source.relative_to(tmp_path / "a")
    taken = tmp_path / "b" / relative
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's file")
    again = imagen(
        "--config", str(config), "generate", "x", "--seed", "7", "-o", str(tmp_path / "b"), "--json"
    )
    assert again.code == 0, again.err
    [shown] = json.loads(again.out)["images"]
    copied = Path(shown["path"])
    assert shown["cache_hit"]
    assert copied.parent == taken.parent
    assert copied != taken
    assert copied.read_bytes() == source.read_bytes()
    assert taken.read_bytes() == b"someone else's file"
    assert shown["sidecar"] == copied.relative_to(tmp_path / "b").with_suffix(".json").as_posix()
    assert copied.with_suffix(".json").read_bytes() == source.with_suffix(".json").read_bytes()
    copy = history_rows()[-1]
    assert (copy.output_dir, copy.path) == (str(tmp_path / "b"), shown["relative_path"])
    assert copy.metadata["copied_from"] == str(source)


def test_a_cached_take_that_cannot_be_read_fails_with_what_to_do(
    imagen: Any, tmp_path: Path
) -> None:
    first = imagen("generate", "x", "--seed", "7", "-o", str(tmp_path / "a"))
    sidecar = Path(first.lines[0]).with_suffix(".json")
    sidecar.unlink()
    sidecar.mkdir()  # still there, but no longer a file anyone can read
    ran = imagen("generate", "x", "--seed", "7", "-o", str(tmp_path / "b"))
    assert ran.code == 1
    assert ran.out == ""
    assert ran.err.splitlines()[-1] == (
        f"imagen: error: the cached take {first.lines[0]} could not be read (Is a directory); "
        "run again with --no-cache"
    )


# --- a broken history: the warning says why, and the run goes on --------------------------


def test_a_cache_lookup_that_breaks_is_a_warning_naming_the_error_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagen.store import cache

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("generations")

    monkeypatch.setattr(cache, "lookup", broken)
    outcome = run(config_for(), Request(prompt="x", seed=3), tmp_path)
    assert outcome.ok
    assert "imagen: warning: history: KeyError; the cache is skipped for this run" in (
        capsys.readouterr().err.splitlines()
    )


def test_a_history_that_cannot_be_opened_is_a_warning_with_its_reason(
    tmp_path: Path, isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "history.sqlite3"
    where.write_bytes(b"this is not a database" * 100)
    config = config_for(f"history:\n  path: {json.dumps(str(where))}\n")
    outcome = run(config, Request(prompt="x", seed=3), tmp_path / "out")
    assert outcome.ok
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("imagen: warn")
    ]
    assert len(warnings) == 2
    cache_line, record_line = warnings
    assert cache_line.startswith(f"imagen: warning: history: the history file {where}")
    assert cache_line.endswith("; the cache is skipped for this run")
    assert record_line.startswith(f"imagen: warning: history: the history file {where}")
    assert record_line.endswith("; this run is not recorded")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OverflowError("Python int too large to convert to SQLite INTEGER"), "OverflowError"),
        (OutputError("the history is read-only"), "the history is read-only"),
    ],
)
def test_a_row_the_history_refuses_is_a_warning_naming_the_file_on_disk(
    error: Exception,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(self: Any, generation: Any, **options: Any) -> int:
        raise error

    monkeypatch.setattr(History, "record", refuse)
    outcome = run(config_for(), Request(prompt="x"), tmp_path)
    [written] = outcome.generations
    assert (
        f"imagen: warning: history: {reason}; {written.path} is on disk but not recorded"
        in capsys.readouterr().err.splitlines()
    )


# --- a take that cannot be written where asked is kept, its spend recorded ----------------


@pytest.fixture
def full_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Writing into ``tmp_path / "out"`` fails as on a full disk; elsewhere it works."""
    from imagen.output import files as output

    real = output.write_take
    out = tmp_path / "out"

    def write_take(directory: Any, *args: Any) -> Any:
        if Path(directory) == out:
            raise output.OutputError(
                output._message(out, OSError(errno.ENOSPC, "No space left on device"))
            )
        return real(directory, *args)

    monkeypatch.setattr(output, "write_take", write_take)
    return out


def test_a_kept_image_is_in_the_data_dir_with_its_spend_and_where_it_is(
    full_output: Path, isolated_environment: Path
) -> None:
    outcome = run(config_for(PAID), Request(prompt="x", count=2), full_output, backend="paid")
    place = isolated_environment / ".local" / "share" / "imagen" / "rescued"
    assert rescue_dir() == str(place)
    kept = sorted(place.rglob("*.png"))
    assert len(kept) == 2
    assert [f.take for f in outcome.failures] == [1, 2]
    for failure in outcome.failures:
        assert str(failure.error).startswith(f"cannot write to {full_output}")
        assert "; the image is kept at " + str(place) in str(failure.error)
    rows = history_rows()
    assert [row.cost_actual for row in rows] == [Decimal("0.04")] * 2
    assert {row.output_dir for row in rows} == {str(place)}


def test_an_unexpected_write_error_is_named_by_its_kind_and_the_image_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.output import files as output

    real = output.write_take
    out = tmp_path / "out"

    def write_take(directory: Any, *args: Any) -> Any:
        if Path(directory) == out:
            raise UnicodeEncodeError("ascii", "é", 0, 1, "no")
        return real(directory, *args)

    monkeypatch.setattr(output, "write_take", write_take)
    outcome = run(config_for(), Request(prompt="x"), out)
    [failure] = outcome.failures
    message = str(failure.error)
    assert message.startswith("UnicodeEncodeError: 'ascii' codec can't encode")
    assert f"; the image is kept at {rescue_dir()}" in message


def test_a_rescue_folder_that_cannot_be_tightened_still_keeps_the_image(
    full_output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: Any, mode: int, **kwargs: Any) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    outcome = run(config_for(), Request(prompt="x"), full_output)
    [failure] = outcome.failures
    assert "the image is kept at" in str(failure.error)
    assert len(list(Path(rescue_dir()).rglob("*.png"))) == 1


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (OutputError("the data dir is full too"), "the data dir is full too"),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), "IsADirectoryError"),
    ],
)
def test_an_image_that_cannot_be_kept_either_says_both_reasons(
    error: Exception, again: str, full_output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.output import files as output

    first = output.write_take

    def nowhere(directory: Any, *args: Any) -> Any:
        if Path(directory) == Path(rescue_dir()):
            raise error
        return first(directory, *args)

    monkeypatch.setattr(output, "write_take", nowhere)
    outcome = run(config_for(), Request(prompt="x"), full_output)
    [failure] = outcome.failures
    assert str(failure.error) == (
        f"cannot write to {full_output}: no space left on the device; free some space or "
        f"choose another output directory with -o or output.directory; keeping the image in "
        f"{rescue_dir()} failed too ({again})"
    )


# --- a backend that breaks, and the one-call library entry --------------------------------


class BuggyBackend(MockBackend):
    """A plugin with a bug: its generate raises something that is not an ImagenError."""

    def __init__(self, name: str, settings: MockSettings) -> None:
        super().__init__(name, settings)

    async def generate(self, request: Request, progress: Progress) -> Result:
        raise ZeroDivisionError("division by zero")


@pytest.fixture
def buggy() -> Iterator[None]:
    module = register(
        "buggy-test",
        register_backends=lambda register: register("buggy", BuggyBackend, MockSettings),
    )
    yield
    unregister(module)


def test_a_plugin_bug_is_an_internal_error_naming_the_backend(buggy: None, tmp_path: Path) -> None:
    config = config_for("backends:\n  b:\n    type: buggy\n")
    outcome = run(config, Request(prompt="x", count=2), tmp_path, backend="b")
    assert [f.take for f in outcome.failures] == [1, 2]
    for failure in outcome.failures:
        assert isinstance(failure.error, BackendError)
        assert failure.error.backend == "b"
        assert str(failure.error).endswith(
            "internal error: ZeroDivisionError: division by zero (run with --debug for details)"
        )
    assert not list(tmp_path.rglob("*.png"))


def test_generate_runs_one_request_on_the_named_backend_into_the_folder(
    tmp_path: Path,
) -> None:
    config = config_for(PAID)
    outcome = asyncio.run(
        generate(
            Request(prompt="a cat", seed=5, count=2),
            config=config,
            backend="paid",
            output_dir=tmp_path,
            caller="script",
        )
    )
    assert outcome.ok
    assert [(g.backend, g.seed, g.caller) for g in outcome.generations] == [
        ("paid", 5, "script"),
        ("paid", 6, "script"),
    ]
    for g in outcome.generations:
        assert Path(tmp_path, g.path).is_file()
        assert g.cost_actual is not None
        assert g.cost_actual.amount == Decimal("0.04")


def test_generate_without_a_config_reads_the_users_config_file(
    isolated_environment: Path, tmp_path: Path
) -> None:
    folder = isolated_environment / ".config" / "imagen"
    folder.mkdir(parents=True)
    (folder / "imagen.yaml").write_text(
        f"default_backend: paid\n{PAID}output:\n  directory: {json.dumps(str(tmp_path))}\n"
    )

    class Heard:
        def __init__(self) -> None:
            self.finished: list[int] = []

        def take_started(self, take: int, total: int) -> None: ...
        def take_progress(self, *args: Any) -> None: ...
        def take_finished(self, take: int, generation: Any) -> None:
            self.finished.append(take)

        def take_failed(self, take: int, error: Any) -> None: ...
        def warning(self, message: str) -> None: ...

    heard = Heard()
    outcome = asyncio.run(generate(Request(prompt="a cat"), reporter=heard))
    [made] = outcome.generations
    assert made.backend == "paid"
    assert made.output_dir == str(tmp_path)
    assert heard.finished == [1]


# --- before any spend, and what a caller's reporter hears ----------------------------------


class CountingBuggy(BuggyBackend):
    calls = 0

    async def generate(self, request: Request, progress: Progress) -> Result:
        type(self).calls += 1
        return await super().generate(request, progress)


class NotReady(CountingBuggy):
    def status(self) -> Any:
        from imagen.models import Status

        return Status.not_configured("SOME_API_TOKEN")


def test_execute_refuses_a_backend_that_is_not_ready_before_calling_it(tmp_path: Path) -> None:
    from imagen.errors import NotConfigured

    NotReady.calls = 0
    plan = prepare(config_for(), Request(prompt="x"), output_dir=tmp_path)
    with pytest.raises(NotConfigured, match="backend mock is"):
        asyncio.run(execute(plan, backend=NotReady("mock", MockSettings())))
    assert NotReady.calls == 0


def test_execute_refuses_an_output_folder_it_cannot_write_before_calling_the_backend(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    CountingBuggy.calls = 0
    plan = prepare(config_for(), Request(prompt="x"), output_dir=blocker / "out")
    with pytest.raises(OutputError):
        asyncio.run(execute(plan, backend=CountingBuggy("mock", MockSettings())))
    assert CountingBuggy.calls == 0
    assert not Path(rescue_dir()).exists()


class Heard:
    """A reporter that writes down what it hears."""

    def __init__(self) -> None:
        self.failed: list[tuple[int, str]] = []

    def take_started(self, take: int, total: int) -> None: ...
    def take_progress(self, *args: Any) -> None: ...
    def take_finished(self, take: int, generation: Any) -> None: ...
    def take_failed(self, take: int, error: Any) -> None:
        self.failed.append((take, str(error)))

    def warning(self, message: str) -> None: ...


def test_the_reporter_hears_each_failed_take_with_its_error(buggy: None, tmp_path: Path) -> None:
    config = config_for("backends:\n  b:\n    type: buggy\n")
    heard = Heard()
    plan = prepare(config, Request(prompt="x", count=2), output_dir=tmp_path, backend="b")
    asyncio.run(execute(plan, reporter=heard))
    assert sorted(take for take, _ in heard.failed) == [1, 2]
    assert all("internal error: ZeroDivisionError" in error for _, error in heard.failed)


def test_a_delivery_that_breaks_is_a_warning_naming_the_file_and_the_error_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagen.plugins import hookcalls

    async def broken(generation: Any) -> None:
        raise LookupError("a bug after the write")

    monkeypatch.setattr(hookcalls, "post_generate", broken)
    outcome = run(config_for(), Request(prompt="x"), tmp_path)
    [written] = outcome.generations
    assert f"imagen: warning: {written.path}: delivery failed: LookupError" in (
        capsys.readouterr().err.splitlines()
    )


# --- styles, progress, warnings, a take with no image -------------------------------------


def test_a_config_style_is_listed_as_from_config_and_named_in_the_sidecar(
    imagen: Any, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text('styles:\n  mine:\n    prompt: "{prompt}, in ink"\n')
    listed = imagen("--config", str(config), "styles", "--json")
    [mine] = [style for style in json.loads(listed.out) if style["name"] == "mine"]
    assert mine["source"] == "config"
    ran = imagen(
        "--config", str(config), "generate", "a cat", "--style", "mine", "-o", str(tmp_path)
    )
    sidecar = json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())
    assert (sidecar["style"], sidecar["prompt"]) == ("mine", "a cat, in ink")
    assert history_rows()[-1].style == "mine"
    config.write_text(config.read_text() + 'output:\n  naming: "{style}/{slug}"\n')
    ran = imagen(
        "--config", str(config), "generate", "a cat", "--style", "mine", "-o", str(tmp_path)
    )
    assert Path(ran.lines[0]).parent == tmp_path / "mine"


class Listener(Heard):
    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[int, int]] = []
        self.progress: set[tuple[int, int | None]] = set()
        self.warnings: list[str] = []

    def take_started(self, take: int, total: int) -> None:
        self.started.append((take, total))

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        assert isinstance(done, float | int)
        assert message
        self.progress.add((take, None if total is None else int(total)))

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def test_the_reporter_hears_each_take_start_and_progress_under_its_number(
    tmp_path: Path,
) -> None:
    config = config_for("backends:\n  m:\n    type: mock\n    latency: 0.01\n")
    heard = Listener()
    plan = prepare(config, Request(prompt="x", count=3), output_dir=tmp_path, backend="m")
    asyncio.run(execute(plan, reporter=heard))
    assert sorted(heard.started) == [(1, 3), (2, 3), (3, 3)]
    assert {take for take, _ in heard.progress} == {1, 2, 3}
    assert {total for _, total in heard.progress} == {1}


@attrs.frozen
class OddSettings:
    images: int = 1
    warning: str | None = None
    cost: Any = None
    seeds: bool = True


class OddBackend(MockBackend):
    """The mock, answering as a provider sometimes does: warnings, no image, an odd cost."""

    def __init__(self, name: str, settings: OddSettings) -> None:
        super().__init__(name, MockSettings(width=16, height=16))
        self.odd = settings
        self.honors_seeds = settings.seeds

    def estimate_cost(self, request: Request) -> Cost:
        return Cost(Decimal("0.01") * (request.steps or 1), "a cent a step")

    async def generate(self, request: Request, progress: Progress) -> Result:
        result = await super().generate(request, progress)
        images = result.images[:1] * self.odd.images
        warnings = (self.odd.warning,) if self.odd.warning else ()
        cost = None if self.odd.cost is None else Cost(self.odd.cost, "as the provider said")
        return attrs.evolve(result, images=images, warnings=warnings, cost=cost)


@pytest.fixture
def odd() -> Iterator[None]:
    module = register(
        "odd-test", register_backends=lambda register: register("odd", OddBackend, OddSettings)
    )
    yield
    unregister(module)


def run_odd(settings: OddSettings, out: Path, reporter: Any = None, count: int = 1) -> Any:
    config = config_for("backends:\n  o:\n    type: odd\n")
    plan = prepare(config, Request(prompt="x", count=count), output_dir=out, backend="o")
    backend = OddBackend("o", settings)
    return asyncio.run(execute(plan, backend=backend, reporter=reporter))


def test_a_providers_warning_reaches_the_reporter_and_the_sidecar(
    odd: None, tmp_path: Path
) -> None:
    heard = Listener()
    outcome = run_odd(OddSettings(warning="prompt was rewritten"), tmp_path, heard)
    [made] = outcome.generations
    assert heard.warnings == ["o: prompt was rewritten"]
    sidecar = json.loads(Path(tmp_path, made.sidecar_path).read_text())
    assert sidecar["warnings"] == ["prompt was rewritten"]


def test_a_take_that_brings_no_image_fails_naming_the_backend(odd: None, tmp_path: Path) -> None:
    outcome = run_odd(OddSettings(images=0), tmp_path)
    [failure] = outcome.failures
    assert isinstance(failure.error, BackendError)
    assert failure.error.backend == "o"
    assert str(failure.error) == "o: the backend returned no image"
    assert not list(tmp_path.rglob("*.png"))


def test_a_reported_cost_is_shared_across_the_images_of_the_take(odd: None, tmp_path: Path) -> None:
    outcome = run_odd(OddSettings(images=3, cost=Decimal("0.09")), tmp_path, count=2)
    assert outcome.ok
    shares = [g.cost_actual.amount for g in outcome.generations if g.cost_actual]
    assert shares == [Decimal("0.03")] * 6
    sidecars = [json.loads(Path(tmp_path, g.sidecar_path).read_text()) for g in outcome.generations]
    assert all(s["cost_actual"]["usd"] == "0.03" for s in sidecars)
    assert sum(row.cost_actual for row in history_rows()) == Decimal("0.18")


@pytest.mark.parametrize("amount", [Decimal("Infinity"), Decimal("NaN"), 0.05])
def test_a_cost_the_provider_reports_in_an_unreadable_form_loses_no_paid_image(
    amount: Any, odd: None, tmp_path: Path
) -> None:
    heard = Listener()
    outcome = run_odd(OddSettings(images=2, cost=amount), tmp_path, heard)
    assert outcome.ok, outcome.failures
    assert len(list(tmp_path.rglob("*.png"))) == 2
    assert all(g.cost_actual is None for g in outcome.generations)
    assert [row.cost_actual for row in history_rows()] == [None, None]
    assert heard.warnings == [
        f"o: the reported cost {amount!r} could not be read; recorded as unknown"
    ]


# --- with --debug, each swallowed error shows its traceback ---------------------------------


@pytest.fixture
def debug_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_DEBUG", "1")


def traceback_of(err: str, kind: str) -> bool:
    return "Traceback (most recent call last)" in err and f"\n{kind}: " in err


def test_with_debug_a_broken_cache_lookup_shows_its_traceback(
    debug_on: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagen.store import cache

    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("generations")

    monkeypatch.setattr(cache, "lookup", broken)
    run(config_for(), Request(prompt="x", seed=3), tmp_path)
    assert traceback_of(capsys.readouterr().err, "KeyError")


def test_with_debug_a_refused_history_row_shows_its_traceback(
    debug_on: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(self: Any, generation: Any, **options: Any) -> int:
        raise OverflowError("too large")

    monkeypatch.setattr(History, "record", refuse)
    run(config_for(), Request(prompt="x"), tmp_path)
    assert traceback_of(capsys.readouterr().err, "OverflowError")


def test_with_debug_a_broken_delivery_and_display_show_their_tracebacks(
    debug_on: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagen.plugins import hookcalls

    async def broken(generation: Any) -> None:
        raise LookupError("a bug after the write")

    class BrokenDisplay(Heard):
        def take_finished(self, take: int, generation: Any) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(hookcalls, "post_generate", broken)
    plan = prepare(config_for(), Request(prompt="x"), output_dir=tmp_path)
    asyncio.run(execute(plan, reporter=BrokenDisplay()))
    err = capsys.readouterr().err
    assert traceback_of(err, "LookupError")
    assert traceback_of(err, "BrokenPipeError")


def test_with_debug_a_plugin_bug_shows_its_traceback(
    debug_on: None, buggy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(
        config_for("backends:\n  b:\n    type: buggy\n"), Request(prompt="x"), tmp_path, backend="b"
    )
    assert traceback_of(capsys.readouterr().err, "ZeroDivisionError")


def test_with_debug_an_unexpected_write_error_shows_its_traceback_an_expected_one_does_not(
    debug_on: None, full_output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_for(), Request(prompt="x"), full_output)
    assert "Traceback" not in capsys.readouterr().err


def test_with_debug_an_image_that_cannot_be_kept_shows_both_tracebacks(
    debug_on: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagen.output import files as output

    def nowhere(directory: Any, *args: Any) -> Any:
        if Path(directory) == Path(rescue_dir()):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        raise UnicodeEncodeError("ascii", "é", 0, 1, "no")

    monkeypatch.setattr(output, "write_take", nowhere)
    run(config_for(), Request(prompt="x"), tmp_path)
    err = capsys.readouterr().err
    assert traceback_of(err, "UnicodeEncodeError")
    assert traceback_of(err, "IsADirectoryError")


def test_with_debug_an_unreadable_cost_shows_its_traceback(
    debug_on: None, odd: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_odd(OddSettings(cost=0.05), tmp_path)
    assert traceback_of(capsys.readouterr().err, "TypeError")


def test_a_bug_in_one_takes_bookkeeping_fails_that_take_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing escapes a take into the others: a bug outside the backend call is that take's
    internal error (shown with its traceback under --debug)."""
    import imagen.pipeline as pipeline

    real = pipeline.Take

    def take(**fields: Any) -> Any:
        if fields["number"] == 2:
            raise RecursionError("a bug in the bookkeeping")
        return real(**fields)

    monkeypatch.setattr(pipeline, "Take", take)
    monkeypatch.setenv("IMAGEN_DEBUG", "1")
    outcome = run(config_for(), Request(prompt="x", count=3), tmp_path)
    assert [g.take for g in outcome.generations] == [1, 3]
    [failure] = outcome.failures
    assert failure.take == 2
    assert isinstance(failure.error, BackendError)
    assert str(failure.error) == (
        "mock: internal error: RecursionError: a bug in the bookkeeping "
        "(run with --debug for details)"
    )
    assert traceback_of(capsys.readouterr().err, "RecursionError")


# --- what prepare resolves: the named backend's price and seeds, the style, the sinks -------


def test_the_named_backend_prices_each_take_and_says_whether_it_keeps_seeds(
    odd: None, imagen: Any, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("default_backend: mock\nbackends:\n  o:\n    type: odd\n    seeds: false\n")
    ran = imagen(
        "--config", str(config), "generate", "x", "-b", "o", "--steps", "3", "-n", "2",
        "--dry-run", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    plan = json.loads(ran.out)
    assert plan["cost_estimate"]["usd"] == "0.06"
    assert (plan["seeded"], plan["seeds"]) == (False, None)


def test_no_takes_is_refused_with_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        prepare(config_for(), Request(prompt="x", count=0), output_dir=tmp_path)
    assert str(refused.value) == "the number of takes (-n/--count) must be 1 or more"


def dry_run(imagen: Any, config: Path, *args: str) -> dict[str, Any]:
    ran = imagen("--config", str(config), "generate", "a cat", "--dry-run", "--json", *args)
    assert ran.code == 0, ran.err
    return dict(json.loads(ran.out))


STYLES = """styles:
  inked:
    prompt: "{prompt}, in ink"
    negative: blurry
    steps: 20
    size: 512x256
  wide:
    prompt: "{prompt}, wide"
    aspect_ratio: "16:9"
"""


def test_a_style_adds_its_negative_to_the_users_and_fills_what_was_not_given(
    imagen: Any, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text(STYLES)
    plan = dry_run(imagen, config, "--style", "inked", "--negative", "dogs")
    assert plan["prompt"] == "a cat, in ink"
    assert plan["negative_prompt"] == "blurry, dogs"
    assert (plan["steps"], plan["width"], plan["height"]) == (20, 512, 256)
    plan = dry_run(imagen, config, "--style", "inked", "--steps", "4", "--aspect", "1:1")
    assert plan["negative_prompt"] == "blurry"
    assert (plan["steps"], plan["aspect_ratio"]) == (4, "1:1")
    assert (plan["width"], plan["height"]) == (None, None)
    plan = dry_run(imagen, config, "--style", "wide", "--size", "64x32")
    assert (plan["width"], plan["height"], plan["aspect_ratio"]) == (64, 32, None)
    plan = dry_run(imagen, config, "--style", "wide")
    assert (plan["negative_prompt"], plan["steps"], plan["aspect_ratio"]) == (None, None, "16:9")


APPEND_ARG = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


def sink_config(tmp_path: Path) -> Any:
    record = tmp_path / "delivered"
    argv = [sys.executable, "-c", APPEND_ARG, str(record), "{relpath}"]
    return config_for(
        f"sinks:\n  rec: {{type: command, enabled: 'on', argv: {json.dumps(argv)}}}\n"
    )


def delivered(tmp_path: Path) -> list[str]:
    record = tmp_path / "delivered"
    return record.read_text().splitlines() if record.exists() else []


def test_a_library_run_hands_each_new_take_to_the_sinks_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    config = sink_config(tmp_path)
    first = run(config, Request(prompt="x", seed=3, count=2), tmp_path / "out")
    assert sorted(delivered(tmp_path)) == sorted(g.path for g in first.generations)
    again = run(config, Request(prompt="x", seed=3, count=2), tmp_path / "out")
    assert all(g.cache_hit for g in again.generations)
    assert len(delivered(tmp_path)) == 2  # a cache hit is a file the sinks already have


def test_a_library_run_with_no_cloud_runs_no_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    outcome = run(sink_config(tmp_path), Request(prompt="x"), tmp_path / "out", no_cloud=True)
    assert outcome.ok
    assert delivered(tmp_path) == []


def test_copying_cached_takes_into_a_folder_that_cannot_be_written_is_refused_first(
    tmp_path: Path,
) -> None:
    run(config_for(), Request(prompt="x", seed=3), tmp_path / "a")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    plan = prepare(config_for(), Request(prompt="x", seed=3), output_dir=blocker / "b")
    assert plan.to_run == []
    with pytest.raises(OutputError, match="cannot write to"):
        asyncio.run(execute(plan))


def test_a_sink_that_hangs_is_cut_off_at_the_configured_time_and_kept_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagen.sinks.outbox import Outbox

    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    argv = [sys.executable, "-c", "import time; time.sleep(120)"]
    config = config_for(
        "output:\n  sink_timeout: 0.5\n"
        f"sinks:\n  slow: {{type: command, enabled: 'on', argv: {json.dumps(argv)}}}\n"
    )
    outcome = run(config, Request(prompt="x"), tmp_path / "out")
    assert outcome.ok
    # cut off by output.sink_timeout, not by the command sink's own, longer limit
    assert "imagen: slow: timed out after 0.5 s" in capsys.readouterr().err
    with Outbox.open(str(tmp_path / "outbox.sqlite3")) as outbox:
        assert [p.sink for p in outbox.pending()] == ["slow"]


def test_history_off_records_nothing_and_says_nothing(
    tmp_path: Path, isolated_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(config_for("history:\n  enabled: false\n"), Request(prompt="x"), tmp_path)
    assert outcome.ok
    assert capsys.readouterr().err == ""
    assert not list(isolated_environment.rglob("history.sqlite3"))


def test_a_library_plan_asks_the_named_backend_for_its_price_and_seeds(
    odd: None, tmp_path: Path
) -> None:
    config = config_for("default_backend: mock\nbackends:\n  o:\n    type: odd\n    seeds: false\n")
    plan = prepare(config, Request(prompt="x", steps=3, count=2), backend="o", output_dir=tmp_path)
    assert plan.cost_estimate == Cost(Decimal("0.06"), "a cent a step")
    assert plan.seeded is False


def test_a_kept_image_keeps_the_providers_warnings_in_its_sidecar(
    odd: None, full_output: Path
) -> None:
    outcome = run_odd(OddSettings(warning="prompt was rewritten"), full_output)
    assert [f.take for f in outcome.failures] == [1]
    [kept] = Path(rescue_dir()).rglob("*.json")
    assert json.loads(kept.read_text())["warnings"] == ["prompt was rewritten"]


def test_with_debug_an_unexpected_write_error_shows_its_traceback(
    debug_on: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagen.output import files as output

    real = output.write_take
    out = tmp_path / "out"

    def write_take(directory: Any, *args: Any) -> Any:
        if Path(directory) == out:
            raise UnicodeEncodeError("ascii", "é", 0, 1, "no")
        return real(directory, *args)

    monkeypatch.setattr(output, "write_take", write_take)
    outcome = run(config_for(), Request(prompt="x"), out)
    assert "the image is kept at" in str(outcome.failures[0].error)
    assert traceback_of(capsys.readouterr().err, "UnicodeEncodeError")


def test_cached_takes_are_reported_started_and_one_that_cannot_be_read_fails_alone(
    tmp_path: Path,
) -> None:
    first = run(config_for(), Request(prompt="x", seed=7, count=3), tmp_path / "a")
    broken = first.generations[0]
    sidecar = Path(broken.output_dir, broken.sidecar_path)
    sidecar.unlink()
    sidecar.mkdir()
    heard = Listener()
    plan = prepare(config_for(), Request(prompt="x", seed=7, count=3), output_dir=tmp_path / "b")
    assert sorted(plan.cached) == [1, 2, 3]
    outcome = asyncio.run(execute(plan, reporter=heard))
    assert sorted(heard.started) == [(1, 3), (2, 3), (3, 3)]
    assert [f.take for f in outcome.failures] == [1]
    assert [g.take for g in outcome.generations] == [2, 3]
    assert all(Path(g.output_dir, g.path).is_file() for g in outcome.generations)


class Closable(MockBackend):
    closed = 0

    async def aclose(self) -> None:
        type(self).closed += 1


def test_a_backend_the_caller_passes_in_is_left_open_for_the_caller(tmp_path: Path) -> None:
    Closable.closed = 0
    plan = prepare(config_for(), Request(prompt="x"), output_dir=tmp_path)
    backend = Closable("mock", MockSettings(width=16, height=16))
    outcome = asyncio.run(execute(plan, backend=backend))
    assert outcome.ok
    assert Closable.closed == 0


def test_an_outbox_that_cannot_be_opened_is_a_warning_and_the_take_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "outbox.sqlite3"
    where.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("IMAGEN_OUTBOX", str(where))
    outcome = run(sink_config(tmp_path), Request(prompt="x"), tmp_path / "out")
    assert outcome.ok
    assert len(delivered(tmp_path)) == 1
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("imagen: warning")]
    assert len(warnings) == 1
    assert warnings[0].startswith("imagen: warning: outbox: ")
    assert warnings[0].endswith("; failed deliveries will not be kept")
