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
import time
from collections.abc import Mapping, Sequence
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


def cli_available() -> bool:
    """Can this environment run ``imagen generate`` (the core CLI is installed)?"""
    done = subprocess.run(
        [sys.executable, "-m", "imagen", "generate", "--help"], capture_output=True, text=True
    )
    return done.returncode == 0


def time_generate(
    config_text: str,
    work: Path,
    *,
    backend: str,
    prompt: str,
    options: Sequence[str],
    runs: int,
    env: Mapping[str, str] | None = None,
) -> list[float]:
    """Seconds per ``imagen generate`` subprocess with ``config_text``, after one warm-up run.

    Each run gets its own seed (1000, 1001, ...) so none is a cache hit; data, cache and
    config dirs live under ``work``.
    """
    config = work / "imagen.yaml"
    config.write_text(config_text)
    full_env = {
        **os.environ,
        **(env or {}),
        "XDG_DATA_HOME": str(work / "data"),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_CONFIG_HOME": str(work / "config"),
    }
    samples = []
    for seed in range(runs + 1):
        command = [sys.executable, "-m", "imagen", "--config", str(config), "generate", prompt]
        command += ["--backend", backend, *options, "--seed", str(1000 + seed)]
        start = time.perf_counter()
        done = subprocess.run(command, env=full_env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"imagen generate failed: {done.stderr.strip()}")
        if seed > 0:  # the first run warms the disk cache
            samples.append(elapsed)
    return samples
