"""`imagen generate` end to end: a subprocess, a config file, the fake Replicate on a socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image as PILImage

from .conftest import TOKEN, Replicate


def _imagen(
    replicate: Replicate, tmp_path: Path, *args: str, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "imagen.yaml"
    config.write_text(
        f"output: {{directory: '{tmp_path / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
        "backends:\n"
        "  flux: {type: replicate, model: black-forest-labs/flux-schnell, "
        f"base_url: '{replicate.url}'}}\n"
    )
    env = {
        **os.environ,
        "REPLICATE_API_TOKEN": token,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "IMAGEN_DEBUG": "",
    }
    command = [sys.executable, "-m", "imagen", "--config", str(config), "generate", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_generate_prints_the_written_path_of_an_image_of_the_chosen_ratio(
    replicate: Replicate, tmp_path: Path
) -> None:
    done = _imagen(replicate, tmp_path, "a cat", "--backend", "flux", "--size", "1920x1080")

    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    path = Path(line)
    assert path.is_file()
    with PILImage.open(path) as image:
        assert image.format == "PNG"
        assert image.width > image.height
    sent = replicate.fake.creates()[0].body["input"]
    assert sent["aspect_ratio"] == "16:9"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert "16:9" in json.dumps(sidecar)


def test_a_refused_token_is_one_error_line_naming_the_variable(
    replicate: Replicate, tmp_path: Path
) -> None:
    done = _imagen(replicate, tmp_path, "a cat", "--backend", "flux", token="r8_not_valid")

    assert done.returncode == 1
    assert done.stdout == ""
    # Before paid work the CLI states the cost; then comes the one error line.
    *_, line = done.stderr.strip().splitlines()
    assert line.startswith("imagen: error: ")
    assert "REPLICATE_API_TOKEN" in line
    assert "r8_not_valid" not in done.stderr
