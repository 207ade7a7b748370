"""Record a benchmark's result in bench/RESULTS.md, in a section of its own.

Each script owns the section between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` and
replaces only that, so scripts can be re-run in any order.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\nEach section is written by the script it names; re-run it to update.\n"
)


def machine() -> str:
    """A one-line description of this machine: CPU model, cores, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {sys.platform}"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def median_ms(samples_s: Sequence[float]) -> float:
    return statistics.median(samples_s) * 1000


def record(name: str, command: str, body: str) -> None:
    """Replace (or append) the section ``name`` with ``body``, stamped with command and machine."""
    section = (
        f"<!-- bench:{name} -->\n## {name}\n\n"
        f"- command: `{command}`\n- machine: {machine()}\n- revision: {git_revision()}\n\n"
        f"{body.rstrip()}\n<!-- /bench:{name} -->\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    RESULTS.write_text(text)
    print(section)
