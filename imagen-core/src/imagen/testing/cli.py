"""Run the real ``imagen`` command in a scratch home, the way a user's shell would.

    home = ScratchHome(tmp_path, env={"ACME_API_KEY": "acme-test-key"})
    home.configure(f'''
        backends:
          acme: {{type: acme, base_url: "{url}"}}
    ''')
    ran = home.imagen("generate", "a cat", "--backend", "acme")
    assert ran.code == 0, ran.err
    (path,) = ran.lines

Each command is its own process (``python -m imagen``): real start-up, plugin loading through
entry points, exit codes and stderr. The scratch home gives it its own ``HOME`` and XDG
folders and no ``IMAGEN_*`` variables from the calling shell, so a test never reads or writes
the developer's config, history or cache. Output goes to ``<root>/out`` with previews off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import attrs

# Variables of the calling shell that would reach into a test's run.
_LEAKY = ("TMUX", "TMUX_PANE", "MAI_FROM_ID")


@attrs.frozen
class Ran:
    """What one command did: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """stdout's lines (the paths ``imagen generate`` printed)."""
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def scratch_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``HOME`` and the XDG folders under ``home`` and no
    ``IMAGEN_*`` variables; ``extra`` on top (keys for the backend, ``IMAGEN_DEBUG``)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("IMAGEN_") and name not in _LEAKY
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    env.update(extra or {})
    return env


def run_imagen(
    *args: str,
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> Ran:
    """``imagen [--config FILE] ARGS`` as its own process with ``env`` (default: this one's).

    stdin is empty unless given, so a command that would prompt fails instead of hanging.
    """
    command = [sys.executable, "-m", "imagen"]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run(
        [*command, *args],
        env=dict(env) if env is not None else None,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


@attrs.define
class ScratchHome:
    """A user's home for one test: its config file, its output folder, its environment."""

    root: Path
    env: dict[str, str] = attrs.field(factory=dict)
    runs: list[Ran] = attrs.field(factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def output(self) -> Path:
        return self.root / "out"

    @property
    def config_path(self) -> Path:
        return self.root / "imagen.yaml"

    def configure(self, yaml_text: str, *, output: bool = True) -> Path:
        """Write the config file (dedented). With ``output`` an ``output:`` block pointing at
        ``self.output`` with previews off comes first, unless the text has its own."""
        text = textwrap.dedent(yaml_text).lstrip("\n")
        if output and not any(line.startswith("output:") for line in text.splitlines()):
            text = f'output:\n  directory: "{self.output}"\n  preview: "off"\n' + text
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return scratch_env(self.home, {**self.env, **(extra or {})})

    def imagen(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        stdin: str | None = None,
    ) -> Ran:
        """``imagen --config FILE ARGS`` (no ``--config`` before ``configure``)."""
        config = self.config_path if self.config_path.exists() else None
        ran = run_imagen(
            *args, config=config, env=self.environment(env), timeout=timeout, stdin=stdin
        )
        self.runs.append(ran)
        return ran


__all__ = ["Ran", "ScratchHome", "run_imagen", "scratch_env"]
