"""docs/assistants.md and the /imagine command say what imagen really does."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from imagen.config.model import builtin_default
from imagen.models import Cost
from imagen_mcp.guards import SpendGuard, SpendRefused
from imagen_mcp.settings import McpSettings

REPO = Path(__file__).resolve().parents[2]
COMMAND = REPO / "docs" / "commands" / "imagine.md"
GUIDE = REPO / "docs" / "assistants.md"


def test_the_imagine_command_runs_imagen_generate_and_gets_the_printed_path(
    server_env: dict[str, str],
) -> None:
    text = COMMAND.read_text(encoding="utf-8")
    assert "allowed-tools: Bash(imagen generate:*)" in text
    [line] = re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL)
    filled = line.replace("<prompt>", "a cat").replace("<style>", "photo")
    argv = shlex.split(filled.replace("<backend>", "paid"))
    assert argv[:2] == ["imagen", "generate"]
    done = subprocess.run(
        [sys.executable, "-m", "imagen", *argv[1:]],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    [path] = done.stdout.splitlines()
    assert Path(path).is_file()
    # the cost notice the command tells the assistant to report
    assert "imagen: ~$0.30 for 1 take on paid" in done.stderr


def test_the_guide_shows_the_refusal_as_the_server_words_it() -> None:
    guard = SpendGuard(builtin_default(), McpSettings())
    with pytest.raises(SpendRefused) as refusal:
        guard.check(Cost(Decimal("0.60"), "test"), takes=2, backend="paid")
    assert str(refusal.value) in GUIDE.read_text(encoding="utf-8")
