"""The built wheels work as users get them: ``pip install`` into a fresh virtualenv, then run.

Builds a wheel of every workspace distribution with ``uv build``, installs them with plain
``pip`` into a new ``python -m venv`` (third-party dependencies from the configured index,
through pip's usual cache), and runs the installed ``imagen`` script with HOME and the XDG
dirs pointed at an empty directory. Nothing from the workspace's source tree is on the path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from imagen._version import __version__

pytestmark = pytest.mark.slow

WORKSPACE = Path(__file__).resolve().parents[1]


def _workspace_members() -> tuple[str, ...]:
    """Every distribution of the workspace, the core first: a new member is tested as it lands."""
    import tomllib

    with open(WORKSPACE / "pyproject.toml", "rb") as handle:
        members = tomllib.load(handle)["tool"]["uv"]["workspace"]["members"]
    return ("imagen-core", *sorted(set(members) - {"imagen-core"}))


DISTRIBUTIONS = _workspace_members()
PLUGIN_DISTRIBUTIONS = DISTRIBUTIONS[1:]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Read before the per-test fixture moves HOME: reuse the user's (or CI's) pip cache so the
# third-party wheels are not downloaded again on every run.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"
)


@attrs.frozen
class Installed:
    venv: Path
    home: Path

    def env(self) -> dict[str, str]:
        """A user's environment: the venv's bin first, an empty HOME, no imagen settings."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("IMAGEN_", "PYTHON", "VIRTUAL_ENV", "UV_"))
            and name not in ("TMUX", "TMUX_PANE", "MAI_FROM_ID")
        }
        env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
        )
        return env

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=cwd or self.home,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )


def _run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    completed = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=300
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} failed ({completed.returncode}):\n"
            f"{completed.stdout}\n{completed.stderr}"
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed; it builds the wheels")
    wheels = tmp_path_factory.mktemp("wheels")
    _run([uv, "build", "--all-packages", "--wheel", "-o", str(wheels)], cwd=WORKSPACE)
    built = sorted(wheels.glob("*.whl"))
    names = {wheel.name.split("-")[0].replace("_", "-") for wheel in built}
    assert names == set(DISTRIBUTIONS), f"built {sorted(names)}"

    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--clear", str(venv)])
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    pip_env["PIP_CACHE_DIR"] = PIP_CACHE
    # Our distributions as wheel files (never a same-named project from an index); their
    # third-party dependencies from the index.
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *map(str, built),
        ],
        env=pip_env,
        cwd=wheels,
    )
    return Installed(venv, tmp_path_factory.mktemp("home"))


def test_imagen_is_imported_from_the_installed_wheel(installed: Installed) -> None:
    completed = installed.run("python", "-c", "import imagen, sys; print(imagen.__file__)")
    assert completed.returncode == 0, completed.stderr
    location = Path(completed.stdout.strip())
    assert location.is_relative_to(installed.venv), location
    assert "site-packages" in location.parts


def test_generate_from_the_wheels_writes_a_png_and_prints_its_path(
    installed: Installed, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    completed = installed.run("imagen", "generate", "a cat", "-o", str(out))
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout
    image = Path(lines[0])
    assert image.is_relative_to(out)
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    assert image.with_suffix(".json").is_file()


def test_plugins_lists_every_workspace_plugin_with_its_version(installed: Installed) -> None:
    completed = installed.run("imagen", "plugins", "--json")
    assert completed.returncode == 0, completed.stderr
    plugins = json.loads(completed.stdout)
    versions = {p["distribution"]: p["version"] for p in plugins if not p["builtin"]}
    assert versions == dict.fromkeys(PLUGIN_DISTRIBUTIONS, __version__)


def test_help_lists_the_core_commands_and_the_plugins_commands(installed: Installed) -> None:
    completed = installed.run("imagen", "--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Usage: imagen")
    for command in ("generate", "backends", "plugins", "styles", "config", "supabase", "mcp"):
        assert f"  {command} " in completed.stdout, command
    if "imagen-studio" in DISTRIBUTIONS:
        assert "  serve " in completed.stdout


def test_the_sample_config_of_every_plugin_loads_from_the_wheels(installed: Installed) -> None:
    sample = installed.run("imagen", "config", "sample")
    assert sample.returncode == 0, sample.stderr
    config = installed.home / "sample.yaml"
    config.write_text(sample.stdout, encoding="utf-8")
    completed = installed.run("imagen", "--config", str(config), "backends", "--json")
    assert completed.returncode == 0, completed.stderr
    types = {row["type"] for row in json.loads(completed.stdout)}
    assert {"mock", "comfyui", "replicate", "gemini", "openai"} <= types


def test_the_styles_data_files_ship_in_the_wheels(installed: Installed) -> None:
    from imagen.plugins.loader import registry

    completed = installed.run("imagen", "styles", "--json")
    assert completed.returncode == 0, completed.stderr
    names = {style["name"] for style in json.loads(completed.stdout)}
    assert names == set(registry().styles)
    assert names
