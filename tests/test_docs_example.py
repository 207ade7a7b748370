"""The plugin docs work: their code runs, and the example plugin passes its tests when installed.

- ``docs/examples/imagen-solid`` is installed into a fresh venv the way a third party installs
  a plugin (next to ``imagen-core``, not as a workspace member); its own test suite runs with
  that venv's pytest, and the CLI there finds the plugin through its entry point.
- Code blocks in ``docs/writing-plugins.md`` are checked: a block after
  ``<!-- same-as: PATH -->`` must equal that file of the example, blocks after
  ``<!-- file: imagen_acme/... -->`` or ``tests/...`` are written out and their tests run, and
  blocks after ``<!-- file: imagen_extras/NAME.py -->`` are installed as one plugin
  distribution (entry point ``extras-NAME`` each) whose hooks are exercised through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "imagen-solid"
GUIDE = REPO / "docs" / "writing-plugins.md"

pytestmark = pytest.mark.slow

# uv's cache as the developer's shell has it (read at import, before the tests' scratch HOME):
# an offline build finds its build backend there.
_UV_CACHE_ENV = {
    "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR")
    or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv")
}

_BLOCK = re.compile(r"<!-- (file|same-as): (\S+) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)


def guide_blocks(kind: str) -> dict[str, str]:
    """``{path: code}`` for every block of the guide marked ``<!-- kind: path -->``."""
    found = {
        path: code
        for marker, path, code in _BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
        if marker == kind
    }
    assert found, f"no <!-- {kind}: ... --> blocks in {GUIDE.name}"
    return found


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, code in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")


EXTRAS_PYPROJECT = """\
[project]
name = "imagen-extras"
version = "0.1.0"
dependencies = ["imagen-core"]

[project.entry-points.imagen]
{entry_points}

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["imagen_extras"]
"""


def build_extras(root: Path) -> Path:
    """The guide's hook examples as one distribution, one entry point per module."""
    modules = {
        path: code
        for path, code in guide_blocks("file").items()
        if path.startswith("imagen_extras/")
    }
    names = sorted(Path(path).stem for path in modules)
    write_files(root, {**modules, "imagen_extras/__init__.py": ""})
    entry_points = "\n".join(f'extras-{name} = "imagen_extras.{name}"' for name in names)
    (root / "pyproject.toml").write_text(
        EXTRAS_PYPROJECT.format(entry_points=entry_points), encoding="utf-8"
    )
    return root


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with imagen-core (this checkout), the example plugin and the hook examples."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (CI installs it; see .ci/run)")
    base = tmp_path_factory.mktemp("docs-example")
    root = base / "venv"
    extras = build_extras(base / "imagen-extras")
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(root)], check=True)
    subprocess.run(
        [
            uv, "pip", "install", "--quiet", "--python", str(root / "bin" / "python"),
            "-e", str(REPO / "imagen-core"), str(EXAMPLE), str(extras),
            "pytest", "hypothesis", "aiohttp",
        ],
        check=True,
        timeout=300,
    )  # fmt: skip
    return root


def run(venv: Path, *args: str, cwd: Path = EXAMPLE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# -- the example plugin --------------------------------------------------------------------------


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


def test_code_the_guide_shows_from_the_example_is_the_example() -> None:
    for path, code in guide_blocks("same-as").items():
        assert code == (REPO / path).read_text(encoding="utf-8"), f"{path} differs from the guide"


# -- the guide's HTTP adapter and its tests --------------------------------------------------------


def test_the_guides_http_adapter_passes_the_guides_tests(tmp_path: Path) -> None:
    files = {
        path: code
        for path, code in guide_blocks("file").items()
        if path.startswith(("imagen_acme/", "tests/"))
    }
    assert set(files) == {
        "imagen_acme/__init__.py",
        "imagen_acme/backend.py",
        "imagen_acme/settings.py",
        "tests/test_acme.py",
    }
    write_files(tmp_path, files)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
            "--rootdir", str(tmp_path), "-c", os.devnull, "tests",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TestAcmeContract::test_errors_are_framework_errors PASSED" in done.stdout
    assert "test_rate_limit_is_retried_then_succeeds PASSED" in done.stdout


def _acme_project(root: Path) -> Path:
    files = {
        path: code
        for path, code in guide_blocks("file").items()
        if path.startswith(("imagen_acme/", "tests/")) or path == "pyproject.toml"
    }
    write_files(root, files)
    return root


def test_the_guides_http_adapter_and_its_tests_pass_mypy_strict(tmp_path: Path) -> None:
    project = _acme_project(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "imagen_acme", "tests"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_guides_pyproject_builds_a_wheel_with_the_entry_point_as_copied(
    tmp_path: Path,
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (CI installs it; see .ci/run)")
    project = _acme_project(tmp_path / "imagen-acme")
    # --offline: the build backend (hatchling) comes from uv's cache, as for the workspace.
    done = subprocess.run(
        [uv, "build", "--wheel", "--offline", "--out-dir", str(tmp_path / "dist"), str(project)],
        env={**os.environ, **_UV_CACHE_ENV},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("imagen_acme-0.1.0-*.whl")
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read("imagen_acme-0.1.0.dist-info/entry_points.txt").decode()
    assert "imagen_acme/backend.py" in names
    assert "[imagen]\nacme = imagen_acme" in entry_points


# -- the guide's hook examples, installed as a plugin ----------------------------------------------


def test_every_hook_example_is_loaded_with_its_hook(venv: Path) -> None:
    done = run(venv, "imagen", "plugins", "--json")
    assert done.returncode == 0, done.stderr
    hooks = {
        p["name"]: p["hooks"] for p in json.loads(done.stdout) if p["name"].startswith("extras")
    }
    assert hooks == {
        "extras-caller_field": ["naming_fields"],
        "extras-host": ["sidecar_fields"],
        "extras-ledger": ["register_sinks"],
        "extras-relative_output": ["validate_config"],
        "extras-styles": ["register_styles"],
        "extras-takes_log": ["post_generate"],
    }


def test_register_styles_example_adds_polaroid(venv: Path) -> None:
    done = run(venv, "imagen", "styles", "--json")
    assert done.returncode == 0, done.stderr
    styles = {style["name"]: style for style in json.loads(done.stdout)}
    assert styles["polaroid"]["source"] == "extras-styles"
    assert styles["polaroid"]["size"] == "768x768"


def test_validate_config_example_warns_about_a_relative_output_directory(
    venv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("output:\n  directory: out\n", encoding="utf-8")
    done = run(venv, "imagen", "--config", str(config), "config", "validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"imagen: warning: {config}:2: output.directory: 'out' is relative" in done.stderr
    assert done.stdout == f"ok: {config} (1 warning)\n"


def test_naming_sidecar_post_generate_and_sink_examples_act_on_a_generation(
    venv: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    config = tmp_path / "imagen.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            default_backend: flat
            output:
              directory: {tmp_path / "out"}
              naming: "{{caller}}/{{slug}}-{{seed}}"
            backends:
              flat: {{type: solid}}
            sinks:
              ledger: {{type: ledger, path: {ledger}}}
            """
        ),
        encoding="utf-8",
    )
    done = run(
        venv, "imagen", "--config", str(config), "generate", "a calm sea",
        "--caller", "alice", "--seed", "3", "--size", "16x16", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    image = Path(done.stdout.strip())
    assert image == tmp_path / "out" / "alice" / "a-calm-sea-3.png"  # naming_fields
    sidecar = json.loads(image.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["plugins"]["extras-host"] == {"host": socket.gethostname()}  # sidecar_fields
    (line,) = ledger.read_text(encoding="utf-8").splitlines()  # register_sinks
    assert json.loads(line) == {
        "path": "alice/a-calm-sea-3.png", "sha256": sidecar["sha256"], "model": "solid-color"
    }  # fmt: skip
    takes = (Path.home() / "imagen-takes.tsv").read_text(encoding="utf-8")  # post_generate
    assert takes.endswith(f"\tflat\t{image}\n")
