"""The Studio apart from HTTP: a job's answer is encoded once per read of it."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from imagen.config.model import Config
from imagen.jobs.model import Job, job_to_dict, new_job
from imagen.models import Request
from imagen.pipeline import prepare
from imagen_studio.images import ImageIndex
from imagen_studio.service import Studio
from imagen_studio.uploads import UploadStore


def a_job() -> Job:
    request = Request("a red kite", count=2)
    return new_job(prepare(Config(), request, backend="mock"), request=request)


def studio(tmp_path: Path) -> Studio:
    images = ImageIndex(str(tmp_path / "thumbs"))
    return Studio(Config(), None, images, UploadStore(str(tmp_path / "uploads")))  # type: ignore[arg-type]


def test_long_polls_answered_with_one_job_share_its_encoding(tmp_path: Path) -> None:
    server, job = studio(tmp_path), a_job()
    body = server.job_body(job)
    assert json.loads(body) == json.loads(json.dumps(job_to_dict(job)))
    assert server.job_body(job) is body


def test_a_job_read_again_is_encoded_again(tmp_path: Path) -> None:
    server, job = studio(tmp_path), a_job()
    server.job_body(job)
    changed = attrs.evolve(job, version=job.version + 1, picked=1)
    assert json.loads(server.job_body(changed))["version"] == job.version + 1
    assert json.loads(server.job_body(changed))["picked"] == 1
