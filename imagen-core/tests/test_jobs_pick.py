"""Picking a take is recorded in the job, the history and the take's sidecar (CLI end to end)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def imagen(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IMAGEN_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "imagen", *args], capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def finished_job(tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "imagen.yaml"
    config.write_text(f"output:\n  directory: {tmp_path / 'out'}\n")
    submitted = imagen("submit", "-n", "3", "--size", "64x64", "a red kite", config=config)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    worked = imagen("worker", "--once", config=config)
    assert worked.returncode == 0, worked.stderr
    return config, job_id


def sidecars(config: Path, job_id: str) -> dict[int, dict[str, object]]:
    shown = imagen("jobs", "show", job_id, "--json", config=config)
    job = json.loads(shown.stdout)
    found = {}
    for take in job["takes"]:
        path = take["images"][0]["sidecar_path"]
        found[take["number"]] = json.loads(Path(path).read_text())
    return found


def picked_in_history(config: Path) -> dict[int, bool]:
    log = imagen("log", "--json", config=config)
    return {row["take"]: row["picked"] for row in json.loads(log.stdout)}


def test_a_pick_is_in_the_job_the_history_and_the_sidecar(finished_job: tuple[Path, str]) -> None:
    config, job_id = finished_job
    picked = imagen("jobs", "pick", job_id, "2", config=config)
    assert picked.returncode == 0, picked.stderr
    shown = json.loads(imagen("jobs", "show", job_id, "--json", config=config).stdout)
    assert shown["picked"] == 2
    assert {n: data.get("picked") for n, data in sidecars(config, job_id).items()} == {
        1: None,
        2: True,
        3: None,
    }
    assert picked_in_history(config) == {1: False, 2: True, 3: False}


def test_picking_another_take_unpicks_the_first_everywhere(
    finished_job: tuple[Path, str],
) -> None:
    config, job_id = finished_job
    assert imagen("jobs", "pick", job_id, "2", config=config).returncode == 0
    assert imagen("jobs", "pick", job_id, "3", config=config).returncode == 0
    marks = {n: data.get("picked") for n, data in sidecars(config, job_id).items()}
    assert marks == {1: None, 2: False, 3: True}
    assert picked_in_history(config) == {1: False, 2: False, 3: True}
