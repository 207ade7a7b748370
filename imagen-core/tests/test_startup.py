"""What start-up loads: ``imagen --help`` none of the heavy libraries, ``imagen backends`` no
backend module, no YAML parser once the config was read before, and no cattrs.

bench/startup.py measures the time; these tests pin the laziness that time depends on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from imagen.backends_info import check_backends, describe_backends
from imagen.config.model import DEFAULT_NAMING, Config, Instance
from imagen.models import Cost, Request, Status
from imagen.plugins import loader
from imagen.testing.cli import scratch_env

HEAVY = ("asyncio", "httpx", "PIL", "ruamel", "cattrs", "aiohttp", "websockets", "psycopg")
BACKEND_MODULES = (
    "imagen_comfyui.backend",
    "imagen_gemini.backend",
    "imagen_openai.backend",
    "imagen_replicate.backend",
)

# Runs ``imagen ARGS`` like the ``imagen`` script, then writes every module it loaded to OUT.
CAPTURE = """
import atexit, json, sys
out, args = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["imagen", *args]
from imagen.cli import main
main()
"""


@attrs.frozen
class Started:
    code: int
    out: str
    modules: frozenset[str]

    def loaded(self, names: tuple[str, ...]) -> list[str]:
        """Those of ``names`` (packages or modules) that were imported."""
        return sorted(
            name
            for name in names
            if any(module == name or module.startswith(f"{name}.") for module in self.modules)
        )


def start(home: Path, *args: str) -> Started:
    out = home / "modules.json"
    ran = subprocess.run(
        [sys.executable, "-c", CAPTURE, str(out), *args],
        env=scratch_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # httpx._main is imagen's own stand-in, put in sys.modules so httpx skips its CLI.
    modules = frozenset(json.loads(out.read_text())) - {"httpx._main"}
    return Started(ran.returncode, ran.stdout, modules)


@pytest.fixture
def sample_home(tmp_path: Path) -> Path:
    from imagen.config.sample import assemble_sample

    home = tmp_path / "home"
    config = home / ".config" / "imagen" / "imagen.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(assemble_sample(), encoding="utf-8")
    return home


def test_help_imports_none_of_the_heavy_libraries(sample_home: Path) -> None:
    started = start(sample_home, "--help")
    assert started.code == 0
    assert "backends" in started.out
    assert started.loaded(HEAVY) == []


def test_backends_with_every_plugin_configured_imports_no_backend_module(
    sample_home: Path,
) -> None:
    first = start(sample_home, "backends")
    assert first.code == 0
    for instance in ("flux-schnell-local", "gemini", "openai", "flux-schnell-replicate"):
        assert f"  {instance}  " in first.out
    assert first.loaded(BACKEND_MODULES) == []
    # Later runs read the config stored by the first: no YAML parser, and never cattrs.
    again = start(sample_home, "backends")
    assert again.out == first.out
    assert again.loaded(HEAVY) == []
    assert again.loaded(BACKEND_MODULES) == []


def test_the_default_naming_template_is_right_whatever_plugins_add() -> None:
    # The config loader skips checking this one template (see _Structurer.check_output).
    from imagen.output.naming import DEFAULT_TEMPLATE, NamingTemplate, outside_output

    assert DEFAULT_NAMING == DEFAULT_TEMPLATE
    NamingTemplate.parse(DEFAULT_NAMING)
    NamingTemplate.parse(DEFAULT_NAMING, ["date", "owner", "seed"])
    assert outside_output(DEFAULT_NAMING) is None


# --- a backend type's light ``info`` ---------------------------------------------------------


@attrs.frozen
class FakeSettings:
    price: str = "0.5"


class FakeBackend:
    built: ClassVar[list[str]] = []

    def __init__(self, name: str, settings: FakeSettings) -> None:
        FakeBackend.built.append(name)
        self.name, self.settings = name, settings

    def status(self) -> Status:
        return Status.ready("the backend")

    def estimate_cost(self, request: Request) -> Cost | None:
        return Cost(Decimal(self.settings.price), "from the backend")

    async def check(self) -> Status:
        return Status.ready("checked by the backend")

    async def aclose(self) -> None:
        return None


class FakeInfo:
    def __init__(self, name: str, settings: FakeSettings) -> None:
        self.settings = settings

    def status(self) -> Status:
        return Status.ready("the info")

    def estimate_cost(self, request: Request) -> Cost | None:
        return Cost(Decimal(self.settings.price), "from the info")


def broken_info(name: str, settings: FakeSettings) -> FakeInfo:
    raise RuntimeError("no info today")


@pytest.fixture
def fake_types() -> Iterator[None]:
    assert loader.registry().backends  # the installed types first, as a command would
    register = loader.registry()._tables.backend_register("fake-plugin")
    register("fake", FakeBackend, FakeSettings, info=FakeInfo)
    register("plain", FakeBackend, FakeSettings)
    register("broken", FakeBackend, FakeSettings, info=broken_info)
    FakeBackend.built.clear()
    yield
    loader.reset()


def config_of(*types: str) -> Config:
    return Config(backends={kind: Instance(kind, kind, FakeSettings()) for kind in types})


def rows_by_name(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {row["name"]: (row["status"], row["price"]) for row in rows}


def test_backends_asks_the_registered_info_and_builds_no_backend(fake_types: None) -> None:
    rows = rows_by_name(describe_backends(config_of("fake")))
    assert rows["fake"] == ("ok (the info)", "$0.50/image")
    assert FakeBackend.built == []


def test_a_type_without_info_is_listed_by_its_backend(fake_types: None) -> None:
    rows = rows_by_name(describe_backends(config_of("plain")))
    assert rows["plain"] == ("ok (the backend)", "$0.50/image")
    assert FakeBackend.built == ["plain"]


def test_an_info_that_cannot_be_built_is_one_error_row(fake_types: None) -> None:
    rows = rows_by_name(describe_backends(config_of("broken", "fake")))
    status, price = rows["broken"]
    assert status == "error: backend 'broken' (broken) could not be built: no info today"
    assert price == "unknown"
    assert rows["fake"][0] == "ok (the info)"


def test_check_builds_the_backend_itself(fake_types: None) -> None:
    import asyncio

    rows = rows_by_name(asyncio.run(check_backends(config_of("fake"))))
    assert rows["fake"][0] == "ok (checked by the backend)"
    assert FakeBackend.built == ["fake"]


# --- the default config path without platformdirs -------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is Linux's")
@pytest.mark.parametrize(
    ("xdg", "home"),
    [
        ("/x/config", "/home/u"),
        ("/x/config/", "/home/u"),
        (None, "/home/u"),
        (None, "/home/u/"),
        (None, "/"),
        ("", "/home/u"),
        ("relative/config", "/home/u"),
        ("  ", "/home/u"),
    ],
)
def test_the_default_config_path_is_the_one_platformdirs_names(
    xdg: str | None, home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformdirs import user_config_path

    from imagen.config.model import default_path

    monkeypatch.setenv("HOME", home)
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert default_path() == user_config_path("imagen") / "imagen.yaml"


def test_reading_the_default_config_does_not_import_platformdirs(sample_home: Path) -> None:
    started = start(sample_home, "backends")
    assert started.code == 0
    assert started.loaded(("platformdirs",)) == []


def test_the_collector_runs_rarely_until_the_config_has_loaded_then_as_usual(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Start-up raises gen 0's threshold (bench/startup.py: ~5 ms of ``imagen backends``);
    the command's own work, a server's or a worker's included, runs at the usual ones."""
    import gc

    from imagen.config import load as config_load
    from imagen.testing.cli import scratch_env

    for name, value in scratch_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    usual = gc.get_threshold()
    seen: dict[str, tuple[int, int, int]] = {}
    real_load = config_load.load_config

    def load(path: str | None = None) -> Config:
        seen["loading"] = gc.get_threshold()
        return real_load(path)

    def describe(config: Config) -> list[dict[str, Any]]:
        seen["working"] = gc.get_threshold()
        return []

    monkeypatch.setattr(config_load, "load_config", load)
    monkeypatch.setattr("imagen.backends_info.describe_backends", describe)
    from imagen.cli import main

    with pytest.raises(SystemExit) as done:
        main(["backends"])
    assert done.value.code == 0
    assert seen["loading"][0] > usual[0]
    assert seen["working"] == usual
    assert gc.get_threshold() == usual
