"""Queue many gate jobs from one process (``imagen submit`` per job would start Python each time).

``python submit_many.py CONFIG OUT TAKES...``: one job per TAKES number, job ``i`` with seeds
``1000*i``, ``1000*i+1``, ...; prints the job ids, one a line.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "imagen-core" / "tests"))

# The core tests' gate backend, found through the path above.
import jobs_gate

from imagen.config.load import load_config
from imagen.jobs.queue import open_queue
from imagen.jobs.submit import submit
from imagen.models import Request
from imagen.plugins import loader as plugins


async def main(config_path: str, out: str, takes: list[int]) -> None:
    plugins.manager().register(jobs_gate, name="jobs-gate")
    config = load_config(config_path)
    queue = open_queue(config)
    try:
        for index, count in enumerate(takes, 1):
            request = Request("a cat", count=count, seed=1000 * index)
            job = await submit(queue, config, request, backend="g", output_dir=out)
            print(job.id, flush=True)
    finally:
        await queue.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], [int(arg) for arg in sys.argv[3:]]))
