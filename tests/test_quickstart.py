"""The README's quick start works as written: on a system Python that refuses ``pip install``
(PEP 668, Debian 12 and later), in a virtualenv, and with a plain pip.

The commands are read from README.md, so these tests follow it. The first command runs with
``sh`` in a copy of this checkout (what a clone holds: tracked and new unignored files), with an
empty HOME and a PATH without uv or the project's venv, offline:

- pip installs "uv" from a local folder holding a stand-in wheel whose ``uv`` script runs the
  uv this test run uses (``$UV``, set by ``uv run``); what is tested is the pip step under
  PEP 668 and that ``.uv/bin/uv`` is where the README says. No package index is reached.
- uv installs the locked packages from this machine's uv cache (``UV_OFFLINE``); a CI run has
  filled it with ``uv sync`` before the tests.

The externally managed Python is simulated: PYTHONHOME points the real interpreter at a prefix
whose stdlib folder links to the real one plus an ``EXTERNALLY-MANAGED`` file (a venv cannot
simulate it: pip ignores the marker inside a venv), with pip linked into its site folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKSPACE = Path(__file__).resolve().parents[1]
README = WORKSPACE / "README.md"
CI_SCRIPT = WORKSPACE / ".ci" / "run"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Read at import, before the per-test fixture moves HOME: the uv cache that holds the locked
# packages, so the copy's `uv run` needs no network.
UV_CACHE = os.environ.get("UV_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"
)
EXTERNALLY_MANAGED = """\
[externally-managed]
Error=This Python is managed by the system (simulated by imagen's tests).
"""


def quick_start() -> list[str]:
    """The command lines of the ``sh`` blocks in the README's Quick start section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_two_commands_generate_then_the_test_suite() -> None:
    commands = quick_start()
    assert len(commands) == 2, commands
    assert 'imagen generate "' in commands[0]
    assert commands[1].endswith(" run pytest")


def test_ci_installs_uv_and_runs_the_tests_as_the_readme_says() -> None:
    install = quick_start()[0].split(" && ")[0]
    script = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    assert any(line.strip() == install for line in script), f"{install!r} not in .ci/run"
    assert script[-1] == quick_start()[1], ".ci/run does not end with the README's test command"


# -- the first command, for real -------------------------------------------------------------


def real_uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("no uv to stand in for the one on the package index (run under `uv run`)")
    return uv


def uv_wheel(folder: Path) -> Path:
    """A wheel named uv, at the local uv's version, whose ``uv`` script runs the local uv."""
    uv = real_uv()
    version = subprocess.run(
        [uv, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    files = {
        "uv/__init__.py": b'"""A stand-in for uv in imagen\'s quick start test."""\n',
        f"uv-{version}.data/scripts/uv": f'#!/bin/sh\nexec "{uv}" "$@"\n'.encode(),
        f"uv-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: uv\nVersion: {version}\n".encode()
        ),
        f"uv-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: imagen-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    files[f"uv-{version}.dist-info/RECORD"] = (
        "\n".join([*record, f"uv-{version}.dist-info/RECORD,,"]) + "\n"
    ).encode()
    wheel = folder / f"uv-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            # A regular file, executable: pip keeps the mode for the script it installs.
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            archive.writestr(info, data)
    return wheel


def base_python() -> Path:
    """The interpreter this test run's venv was made from (the machine's Python)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.base_prefix) / "bin" / version


def system_python(prefix: Path, *, externally_managed: bool) -> Path:
    """A ``python3`` that is the machine's Python with ``prefix`` as its installation prefix.

    The stdlib folder links every entry of the real one (not the site folders), plus the PEP 668
    marker when asked; pip is linked into its site folder. Returns the folder for PATH.
    """
    stdlib = Path(sysconfig.get_path("stdlib"))
    relative = stdlib.relative_to(sys.base_prefix)
    (prefix / relative).mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED"):
            (prefix / relative / entry.name).symlink_to(entry)
    if externally_managed:
        (prefix / relative / "EXTERNALLY-MANAGED").write_text(EXTERNALLY_MANAGED)
    bin_dir = prefix / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    # PYTHONHOME only for this interpreter: the project venv uv makes from it runs without it.
    python.write_text(f'#!/bin/sh\nPYTHONHOME="{prefix}" exec "{base_python()}" "$@"\n')
    python.chmod(0o755)

    link_pip(python)
    return bin_dir


def link_pip(python: Path) -> None:
    """Make the machine's pip importable by ``python``, through links in its site folder."""
    where = subprocess.run(
        [str(base_python()), "-c", "import os, pip; print(os.path.dirname(pip.__file__))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if where.returncode != 0:
        pytest.skip(f"the machine's Python ({base_python()}) has no pip")
    pip = Path(where.stdout.strip())
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site).mkdir(parents=True, exist_ok=True)
    for entry in [pip, *pip.parent.glob("pip-*-info")]:
        (Path(site) / entry.name).symlink_to(entry)


def virtualenv(folder: Path) -> Path:
    """A ``python -m venv`` with pip linked in (as fast as that, and no ensurepip needed)."""
    subprocess.run([str(base_python()), "-m", "venv", "--without-pip", str(folder)], check=True)
    link_pip(folder / "bin" / "python3")
    return folder / "bin"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A copy of this checkout as a clone holds it: tracked and new unignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=WORKSPACE,
        capture_output=True,
        check=True,
    ).stdout.decode()
    target = tmp_path / "clone"
    for relative in filter(None, listed.split("\0")):
        source = WORKSPACE / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    return target


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    uv_wheel(folder)
    return folder


def user_env(python_bin: Path, wheels: Path) -> dict[str, str]:
    """A fresh machine's environment: its Python first on PATH, no uv; pip and uv offline."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("IMAGEN_", "PYTHON", "VIRTUAL_ENV", "UV", "PIP_", "CONDA"))
    }
    env.update(
        PATH=os.pathsep.join([str(python_bin), "/usr/bin", "/bin"]),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_OFFLINE="1",
        UV_CACHE_DIR=UV_CACHE,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_CONFIG="1",
    )
    if (python_bin.parent / "pyvenv.cfg").exists():
        env["VIRTUAL_ENV"] = str(python_bin.parent)
    return env


@pytest.fixture(params=["externally-managed", "virtualenv", "plain-pip"])
def python_bin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    if request.param == "virtualenv":
        yield virtualenv(tmp_path / "venv")
    else:
        managed = request.param == "externally-managed"
        yield system_python(tmp_path / "python", externally_managed=managed)


def test_the_readmes_first_command_generates_an_image_offline(
    clone: Path, wheels: Path, python_bin: Path
) -> None:
    env = user_env(python_bin, wheels)
    done = subprocess.run(
        ["sh", "-c", quick_start()[0]],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    image = Path(done.stdout.splitlines()[-1])
    assert image.is_relative_to(os.environ["HOME"]), done.stdout
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    # uv went into the clone only: nothing for the user's or the system's Python.
    assert (clone / ".uv" / "bin" / "uv").is_file()
    assert not (Path(os.environ["HOME"]) / ".local" / "lib").exists()


def test_the_simulated_system_python_refuses_a_plain_pip_install(
    tmp_path: Path, wheels: Path
) -> None:
    """What the quick start used to do (``pip install uv``) fails there: the simulation holds."""
    python_bin = system_python(tmp_path / "python", externally_managed=True)
    done = subprocess.run(
        ["python3", "-m", "pip", "install", "uv"],
        env=user_env(python_bin, wheels),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "externally-managed-environment" in done.stderr
