"""schemathesis against the served OpenAPI document: no 5xx, no answer that breaks the schema.

Jobs here run on a mock that fails at once, so the thousand generated requests spend no
time drawing. Semantic refusals (an unknown backend name is schema-valid but a 422) are what
the API is for, so ``positive_data_acceptance`` is not among the checks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "allow_header_conformance",
])  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error_and_no_schema_break(
    start_server: Any, tmp_path: Path
) -> None:
    runner = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if runner is None:
        pytest.skip("schemathesis is not installed (it is in the workspace's dev group)")
    config = tmp_path / "imagen.yaml"
    config.write_text(
        f"output:\n  directory: {tmp_path / 'out'}\n"
        "default_backend: broken\nbackends:\n  broken:\n    type: mock\n    fail: error\n"
    )
    server = start_server(config=config)
    run = subprocess.run(
        [runner, "run", f"{server.url}openapi.json", "--checks", CHECKS,
         "--phases", "examples,coverage,fuzzing", "--max-examples", "30", "--workers", "1",
         "--seed", "14", "--request-timeout", "70"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "API Operations" in run.stdout
