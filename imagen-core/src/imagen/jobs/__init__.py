"""Jobs: generate requests run asynchronously, kept in a durable queue, run by workers.

    from imagen.jobs import Job, JobQuery, new_job, open_queue

- ``model``: ``Job``, ``Take``, ``TakeImage``, ``Problem`` and their one JSON form;
- ``queue``: the ``Queue`` contract every queue type fulfils, and ``open_queue(config)``;
- ``local``: the built-in queue type, SQLite in the data dir;
- ``runner``: runs one job through the generate pipeline, recording every take;
- ``worker``: claims jobs from a queue and runs them (``imagen worker``, the server).

Names are imported on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagen.jobs.model import (
        Job,
        JobState,
        Problem,
        Take,
        TakeImage,
        TakeState,
        job_from_dict,
        job_to_dict,
        new_job,
    )
    from imagen.jobs.queue import (
        ClaimLost,
        JobConflict,
        JobNotFound,
        JobQuery,
        JobStore,
        Queue,
        open_queue,
    )
    from imagen.jobs.runner import run_job
    from imagen.jobs.worker import Worker

_EXPORTS = {
    **dict.fromkeys(
        [
            "Job",
            "JobState",
            "Problem",
            "Take",
            "TakeImage",
            "TakeState",
            "job_from_dict",
            "job_to_dict",
            "new_job",
        ],
        "imagen.jobs.model",
    ),
    **dict.fromkeys(
        ["ClaimLost", "JobConflict", "JobNotFound", "JobQuery", "JobStore", "Queue", "open_queue"],
        "imagen.jobs.queue",
    ),
    "run_job": "imagen.jobs.runner",
    "Worker": "imagen.jobs.worker",
}

__all__ = [
    "ClaimLost",
    "Job",
    "JobConflict",
    "JobNotFound",
    "JobQuery",
    "JobState",
    "JobStore",
    "Problem",
    "Queue",
    "Take",
    "TakeImage",
    "TakeState",
    "Worker",
    "job_from_dict",
    "job_to_dict",
    "new_job",
    "open_queue",
    "run_job",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagen.jobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
