"""The example plugin of docs/writing-plugins.md installs into a fresh venv and passes its tests.

This is what proves the plugin docs work: ``docs/examples/imagen-solid`` is installed the way a
third party would install their own plugin (next to ``imagen-core``, not as a workspace member),
its own test suite runs with that venv's pytest, and the CLI there finds the plugin through
its entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "imagen-solid"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with imagen-core (from this checkout) and the example plugin installed."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (CI installs it; see .ci/run)")
    root = tmp_path_factory.mktemp("docs-example") / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(root)], check=True)
    subprocess.run(
        [
            uv, "pip", "install", "--quiet", "--python", str(root / "bin" / "python"),
            "-e", str(REPO / "imagen-core"), str(EXAMPLE),
            "pytest", "hypothesis", "aiohttp",
        ],
        check=True,
        timeout=300,
    )  # fmt: skip
    return root


def run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_example_plugins_own_tests_pass_in_a_fresh_venv(venv: Path) -> None:
    # --rootdir and -c keep the repository's conftest.py and pytest settings out: the example
    # is tested as the stand-alone project a plugin author would copy.
    done = run(
        venv, "python", "-m", "pytest", "-p", "no:cacheprovider", "-v",
        "--rootdir", str(EXAMPLE), "-c", str(EXAMPLE / "pyproject.toml"), "tests",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # The framework's contract suite ran against the plugin, not only the plugin's own tests.
    for test in (
        "TestSolidContract::test_cancellation_leaves_no_task_or_connection_behind",
        "test_imagen_generate_with_a_solid_backend_writes_pngs_and_prints_their_paths",
    ):
        assert f"{test} PASSED" in done.stdout


def test_imagen_plugins_in_that_venv_lists_solid(venv: Path) -> None:
    done = run(venv, "imagen", "plugins", "--json")
    assert done.returncode == 0, done.stderr
    plugins = {plugin["name"]: plugin for plugin in json.loads(done.stdout)}
    assert plugins["solid"]["distribution"] == "imagen-solid"
    assert plugins["solid"]["hooks"] == ["register_backends", "register_commands"]


def test_imagen_config_sample_in_that_venv_carries_the_solid_block(venv: Path) -> None:
    done = run(venv, "imagen", "config", "sample")
    assert done.returncode == 0, done.stderr
    assert "  solid-blue:\n    type: solid\n" in done.stdout
