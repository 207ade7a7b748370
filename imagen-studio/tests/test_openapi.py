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


def test_job_answers_are_documented_as_the_core_job_form_and_conform(start_server: Any) -> None:
    import io

    import jsonschema
    from PIL import Image

    from imagen.jobs.model import Job as JobClass
    from imagen.jobs.model import Take as TakeClass
    from imagen.jobs.model import json_form_fields

    server = start_server()
    document = server.request("GET", "/openapi.json").json()
    schemas = document["components"]["schemas"]
    paths = document["paths"]

    def answer_schema(path: str, method: str) -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    job_ref = {"$ref": "#/components/schemas/Job"}
    for path, method in [("/v1/jobs/{job_id}", "get"), ("/v1/jobs/{job_id}/cancel", "post"),
                         ("/v1/jobs/{job_id}/pick", "post")]:  # fmt: skip
        assert answer_schema(path, method) == job_ref, path
    assert answer_schema("/v1/jobs", "get") == {"$ref": "#/components/schemas/JobList"}
    assert schemas["JobList"]["properties"]["jobs"]["items"] == job_ref
    # the derived fields job_to_dict adds are documented, and every key is always present
    assert set(schemas["Job"]["required"]) == set(json_form_fields(JobClass))
    assert set(schemas["Take"]["required"]) == set(json_form_fields(TakeClass))
    assert "data" not in schemas["Ref"]["properties"]

    def check(answer: Any, name: str) -> None:
        assert answer.status_code == 200, answer.text
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(answer.json())

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buffer, "PNG")
    files = {"file": ("ref.png", buffer.getvalue(), "image/png")}
    upload = server.request("POST", "/v1/uploads", files=files).json()["uploads"][0]
    body = {"prompt": "a kite", "backend": "priced", "takes": 2, "refs": [upload["id"]]}
    job_id = server.request("POST", "/v1/jobs", json=body).json()["job_id"]
    job = server.until(job_id, lambda job: job["state"] == "done")
    assert job["request"]["refs"]
    assert job["cost_actual"] is not None
    check(server.request("GET", f"/v1/jobs/{job_id}"), "Job")
    check(server.request("POST", f"/v1/jobs/{job_id}/pick", json={"take": 2}), "Job")
    check(server.request("GET", "/v1/jobs"), "JobList")
    slow = server.request("POST", "/v1/jobs", json={"prompt": "a kite", "backend": "slow"})
    check(server.request("POST", f"/v1/jobs/{slow.json()['job_id']}/cancel"), "Job")
