"""`imagen generate` end to end: a subprocess, a config file, the fake Replicate on a socket."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image as PILImage

from imagen.testing import Ran, ScratchHome

from .conftest import TOKEN, Replicate


def _imagen(replicate: Replicate, tmp_path: Path, *args: str, token: str = TOKEN) -> Ran:
    home = ScratchHome(tmp_path, env={"REPLICATE_API_TOKEN": token})
    home.configure(f"""
        backends:
          flux:
            type: replicate
            model: black-forest-labs/flux-schnell
            base_url: '{replicate.url}'
    """)
    return home.imagen("generate", *args)


def test_generate_prints_the_written_path_of_an_image_of_the_chosen_ratio(
    replicate: Replicate, tmp_path: Path
) -> None:
    done = _imagen(replicate, tmp_path, "a cat", "--backend", "flux", "--size", "1920x1080")

    assert done.code == 0, done.err
    (line,) = done.out.splitlines()
    path = Path(line)
    assert path.is_file()
    with PILImage.open(path) as image:
        assert image.format == "PNG"
        assert image.width > image.height
    sent = replicate.fake.creates()[0].json()["input"]
    assert sent["aspect_ratio"] == "16:9"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert "16:9" in json.dumps(sidecar)


def test_a_refused_token_is_one_error_line_naming_the_variable(
    replicate: Replicate, tmp_path: Path
) -> None:
    done = _imagen(replicate, tmp_path, "a cat", "--backend", "flux", token="r8_not_valid")

    assert done.code == 1
    assert done.out == ""
    # Before paid work the CLI states the cost; then comes the one error line.
    *_, line = done.err.strip().splitlines()
    assert line.startswith("imagen: error: ")
    assert "REPLICATE_API_TOKEN" in line
    assert "r8_not_valid" not in done.err
