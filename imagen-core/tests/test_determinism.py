"""Same prompt and seed, same image: in another process too, and from the seed a take records."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

# Renders two seeded takes through the backend and prints a digest of each image.
TAKES = """
import asyncio, hashlib
from imagen.mock import MockBackend, MockSettings
from imagen.models import Progress, Request

backend = MockBackend("m", MockSettings(width=96, height=64))
result = asyncio.run(backend.generate(Request(prompt="a cat", seed=7, count=2), Progress()))
for image in result.images:
    print(image.seed, hashlib.sha256(image.data).hexdigest())
"""


def takes_in_a_process(hash_seed: str) -> str:
    # A different PYTHONHASHSEED salts hash() differently: output that depended on hash() of a
    # str would change between these two processes.
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", TAKES], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def pixels(path: str) -> bytes:
    with PILImage.open(io.BytesIO(Path(path).read_bytes())) as image:
        return image.convert("RGB").tobytes()


def test_the_mock_gives_identical_bytes_for_a_seed_in_every_process() -> None:
    first = takes_in_a_process("1")
    assert first == takes_in_a_process("2")
    assert [line.split()[0] for line in first.splitlines()] == ["7", "8"]


def test_the_seed_each_take_records_makes_that_takes_image_again(
    imagen: Any, tmp_path: Path
) -> None:
    first = imagen("generate", "a cat", "-n", "2", "-o", str(tmp_path / "a"))
    assert first.code == 0, first.err
    for path in first.lines:
        seed = json.loads(Path(path).with_suffix(".json").read_text())["seed"]
        again = imagen("generate", "a cat", "--seed", str(seed), "--no-cache", "-o", str(tmp_path))
        assert again.code == 0, again.err
        assert pixels(again.lines[0]) == pixels(path)
