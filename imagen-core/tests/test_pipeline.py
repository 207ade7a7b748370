"""The pipeline around a generation: cache, history, cost, hooks, concurrency, caller."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen import hookimpl
from imagen.config.load import parse_config
from imagen.mock import MockBackend, MockSettings
from imagen.models import Progress, Request, Result
from imagen.pipeline import execute, prepare
from imagen.plugins import loader as plugins


@attrs.frozen
class CountingSettings:
    delay: float = 0.05


class CountingBackend(MockBackend):
    """The mock, counting calls and how many run at once."""

    calls = 0
    running = 0
    peak = 0

    def __init__(self, name: str, settings: CountingSettings) -> None:
        super().__init__(name, MockSettings(width=32, height=32))
        self.delay = settings.delay

    async def generate(self, request: Request, progress: Progress) -> Result:
        cls = type(self)
        cls.calls += 1
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            await asyncio.sleep(self.delay)
            return await super().generate(request, progress)
        finally:
            cls.running -= 1


def _plugin_module(**hooks: Any) -> types.ModuleType:
    module = types.ModuleType("test_plugin")
    for name, function in hooks.items():
        setattr(module, name, hookimpl(function))
    return module


@pytest.fixture
def counting() -> Iterator[type[CountingBackend]]:
    def register_backends(register: Any) -> None:
        register("counting", CountingBackend, CountingSettings, concurrency=2)

    module = _plugin_module(register_backends=register_backends)
    plugins.manager().register(module, name="counting-test")
    plugins.registry.cache_clear()
    CountingBackend.calls = CountingBackend.running = CountingBackend.peak = 0
    yield CountingBackend
    plugins.manager().unregister(module)
    plugins.registry.cache_clear()


def config_for(text: str = "") -> Any:
    config, problems = parse_config(text)
    assert not problems.errors, problems.errors
    return config


def run(config: Any, request: Request, tmp_path: Path, **options: Any) -> Any:
    plan = prepare(config, request, output_dir=tmp_path / "out", **options)
    return asyncio.run(execute(plan))


COUNTING = "backends:\n  c:\n    type: counting\n"


def test_takes_run_concurrently_up_to_the_instance_limit(counting: Any, tmp_path: Path) -> None:
    outcome = run(config_for(COUNTING), Request(prompt="x", count=6), tmp_path, backend="c")
    assert len(outcome.generations) == 6
    assert counting.peak == 2


def test_concurrency_in_config_overrides_the_adapter_default(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING + "    concurrency: 1\n")
    run(config, Request(prompt="x", count=3), tmp_path, backend="c")
    assert counting.peak == 1


def test_seeded_repeat_is_a_cache_hit_without_a_backend_call(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING)
    first = run(config, Request(prompt="x", seed=3, count=2), tmp_path, backend="c")
    again = run(config, Request(prompt="x", seed=3, count=2), tmp_path, backend="c")
    assert counting.calls == 2
    assert [g.path for g in again.generations] == [g.path for g in first.generations]
    assert all(g.cache_hit for g in again.generations)
    assert all(g.cost_actual is not None and g.cost_actual.amount == 0 for g in again.generations)


def test_cache_covers_only_the_takes_it_has(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING)
    run(config, Request(prompt="x", seed=3, count=1), tmp_path, backend="c")
    plan = prepare(config, Request(prompt="x", seed=3, count=3), backend="c", output_dir=tmp_path)
    assert set(plan.cached) == {1}
    assert plan.to_run == [2, 3]


def test_no_seed_means_no_cache(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING)
    run(config, Request(prompt="x"), tmp_path, backend="c")
    run(config, Request(prompt="x"), tmp_path, backend="c")
    assert counting.calls == 2


def test_no_cache_option_generates_again(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING)
    run(config, Request(prompt="x", seed=1), tmp_path, backend="c")
    run(config, Request(prompt="x", seed=1), tmp_path, backend="c", use_cache=False)
    assert counting.calls == 2


def test_changed_or_deleted_file_is_not_served_from_cache(counting: Any, tmp_path: Path) -> None:
    config = config_for(COUNTING)
    first = run(config, Request(prompt="x", seed=1), tmp_path, backend="c").generations[0]
    image = Path(first.output_dir, first.path)
    image.write_bytes(image.read_bytes() + b"tampered")
    run(config, Request(prompt="x", seed=1), tmp_path, backend="c")
    assert counting.calls == 2


def test_output_changing_setting_changes_the_backend_identity(tmp_path: Path) -> None:
    from imagen.store.cache import backend_identity

    def identity(block: str) -> str:
        config = config_for(f"backends:\n  m:\n    type: mock\n{block}")
        return backend_identity(config.backends["m"])

    assert identity("    model: a\n") != identity("    model: b\n")
    assert identity("    latency: 1\n") == identity("    latency: 2\n")


def test_every_take_is_recorded_with_cost_and_caller(
    tmp_path: Path, isolated_environment: Path
) -> None:
    config = config_for("backends:\n  paid:\n    type: mock\n    cost_per_image: 0.004\n")
    run(config, Request(prompt="a cat", count=2), tmp_path, backend="paid", caller="otto")
    db = next(isolated_environment.rglob("history.sqlite3"))
    rows = (
        sqlite3.connect(db)
        .execute("SELECT prompt, caller, cost_estimate FROM generations")
        .fetchall()
    )
    assert rows == [("a cat", "otto", "0.004")] * 2


def test_store_prompt_off_keeps_only_the_hash(tmp_path: Path, isolated_environment: Path) -> None:
    config = config_for("history:\n  store_prompt: false\n")
    run(config, Request(prompt="secret plans"), tmp_path)
    db = next(isolated_environment.rglob("history.sqlite3"))
    row = sqlite3.connect(db).execute("SELECT prompt, prompt_sha256 FROM generations").fetchone()
    assert row[0] is None
    assert len(row[1]) == 64


def test_history_off_writes_no_database(tmp_path: Path, isolated_environment: Path) -> None:
    run(config_for("history:\n  enabled: false\n"), Request(prompt="x", seed=1), tmp_path)
    assert not list(isolated_environment.rglob("history.sqlite3"))


def test_post_generate_hooks_are_called_and_awaited(tmp_path: Path) -> None:
    seen: list[str] = []

    def post_generate(generation: Any) -> Any:
        async def later() -> None:
            seen.append(generation.path)

        return later()

    module = _plugin_module(post_generate=post_generate)
    plugins.manager().register(module, name="observer")
    try:
        outcome = run(config_for(), Request(prompt="x", count=2), tmp_path)
    finally:
        plugins.manager().unregister(module)
    assert sorted(seen) == sorted(g.path for g in outcome.generations)


def test_raising_post_generate_hook_is_reported_and_loses_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsys
) -> None:
    def post_generate(generation: Any) -> None:
        raise RuntimeError("observer broke")

    module = _plugin_module(post_generate=post_generate)
    plugins.manager().register(module, name="observer")
    try:
        outcome = run(config_for(), Request(prompt="x"), tmp_path)
    finally:
        plugins.manager().unregister(module)
    assert outcome.ok
    assert Path(outcome.generations[0].output_dir, outcome.generations[0].path).is_file()
    assert (
        "imagen: observer: post_generate failed: RuntimeError: observer broke"
        in capsys.readouterr().err
    )


def test_paid_run_shows_the_estimate_on_stderr_before_it_starts(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  paid:\n    type: mock\n    cost_per_image: 0.003\n")
    ran = imagen(
        "--config", str(config), "generate", "x", "-b", "paid", "-n", "4", "-o", str(tmp_path / "o")
    )
    assert "imagen: ~$0.012 for 4 takes on paid" in ran.err
    assert len(ran.lines) == 4


def test_max_cost_refuses_an_expensive_run_with_exit_2(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  paid:\n    type: mock\n    cost_per_image: 0.05\n")
    ran = imagen(
        "--config", str(config), "generate", "x", "-b", "paid", "-n", "2", "--max-cost", "0.06",
        "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert ran.code == 2
    assert "estimated $0.10 for 2 takes on paid is over --max-cost" in ran.err
    assert not (tmp_path / "o").exists()


def test_caller_comes_from_the_environment(imagen, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IMAGEN_CALLER", "studio")
    ran = imagen("generate", "x", "-o", str(tmp_path))
    assert json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())["caller"] == "studio"
    ran = imagen("generate", "x", "--caller", "cli-user", "-o", str(tmp_path))
    assert json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())["caller"] == "cli-user"


def test_log_and_usage_show_what_ran(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    imagen("generate", "a red fox", "--seed", "1", "-o", str(tmp_path))
    imagen("generate", "a red fox", "--seed", "1", "-o", str(tmp_path))
    log = imagen("log", "--json")
    entries = json.loads(log.out)
    assert [e["cache_hit"] for e in entries] == [True, False]
    assert imagen("log", "-q", "fox").out.count("a red fox") == 2
    assert imagen("log", "-q", "wolf").out == ""
    usage = imagen("usage")
    assert usage.lines[0].split()[:3] == ["BACKEND", "TAKES", "CACHE"]
    assert usage.lines[-1].split()[:3] == ["TOTAL", "2", "1"]


def test_a_file_rewritten_with_its_old_times_is_hashed_again(counting: Any, tmp_path: Path) -> None:
    import os

    config = config_for(COUNTING)
    first = run(config, Request(prompt="x", seed=1), tmp_path, backend="c").generations[0]
    image = Path(first.output_dir, first.path)
    stat = image.stat()
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    run(config, Request(prompt="x", seed=1), tmp_path, backend="c")
    assert counting.calls == 2


def test_an_untouched_file_is_served_without_hashing_it(
    counting: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.store import cache

    config = config_for(COUNTING)
    run(config, Request(prompt="x", seed=1), tmp_path, backend="c")
    hashed: list[str] = []
    monkeypatch.setattr(cache, "file_sha256", lambda path: hashed.append(path) or "")
    again = run(config, Request(prompt="x", seed=1), tmp_path, backend="c")
    assert again.generations[0].cache_hit
    assert hashed == []
