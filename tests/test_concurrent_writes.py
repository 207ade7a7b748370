"""Several processes writing the same name at once each get their own files; none is clobbered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WORKERS = 4
WRITES = 10

# Each worker waits for the start file so that all of them race for the same names.
WORKER = """
import json, os, sys, time
from imagen.output.files import write_take

directory, worker, start = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while not os.path.exists(start):
    time.sleep(0.001)
for take in range(int(sys.argv[4])):
    image = f"worker {worker} take {take}\\n".encode() * 5000
    sidecar = json.dumps({"worker": worker, "take": take}).encode()
    written = write_take(directory, "shared/cat", "png", image, sidecar)
    print(json.dumps(written), flush=True)
"""


def test_concurrent_processes_never_clobber_each_other(tmp_path: Path) -> None:
    out, start = tmp_path / "out", tmp_path / "start"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(out), str(worker), str(start), str(WRITES)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    start.touch()
    reported = []
    for process in workers:
        stdout, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        reported += [tuple(json.loads(line)) for line in stdout.splitlines()]

    assert len(reported) == WORKERS * WRITES
    assert len({image for image, _sidecar in reported}) == WORKERS * WRITES
    written = {}
    for image, sidecar in reported:
        assert sidecar == image.removesuffix(".png") + ".json"
        owner = json.loads((out / sidecar).read_text())
        expected = f"worker {owner['worker']} take {owner['take']}\n".encode() * 5000
        assert (out / image).read_bytes() == expected
        written[(owner["worker"], owner["take"])] = image
    assert len(written) == WORKERS * WRITES
    files = sorted(path.name for path in (out / "shared").iterdir())
    assert len(files) == 2 * WORKERS * WRITES
    assert not [name for name in files if name.startswith(".")]
