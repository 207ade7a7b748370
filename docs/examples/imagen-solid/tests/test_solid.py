"""The solid backend keeps imagen's backend contract, and works through the real CLI."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
from pathlib import Path

import pytest
from imagen_solid.backend import SolidBackend, prompt_color
from imagen_solid.settings import SAMPLE, SolidSettings
from PIL import Image as PILImage

from imagen.config.load import parse_config
from imagen.errors import InvalidRequest
from imagen.models import Progress, Request
from imagen.testing import BackendContract, ScratchHome


class TestSolidContract(BackendContract):
    """Every test of imagen's contract suite, run against the solid backend."""

    def make_backend(self) -> SolidBackend:
        return SolidBackend("test-solid", SolidSettings())

    def make_slow_backend(self) -> SolidBackend:
        return SolidBackend("test-solid", SolidSettings(delay=5.0))

    def make_failing_backends(self) -> list[tuple[str, SolidBackend, type[InvalidRequest]]]:
        tiny = SolidBackend("test-solid", SolidSettings(max_pixels=100))
        return [("image larger than max_pixels", tiny, InvalidRequest)]


def generate(backend: SolidBackend, request: Request) -> list[PILImage.Image]:
    result = asyncio.run(backend.generate(request, Progress()))
    return [PILImage.open(io.BytesIO(image.data)) for image in result.images]


def test_draws_the_configured_color_at_the_requested_size():
    backend = SolidBackend("s", SolidSettings(color="#3366ff"))
    (image,) = generate(backend, Request(prompt="anything", width=40, height=30))
    assert image.size == (40, 30)
    assert image.getcolors() == [(40 * 30, (0x33, 0x66, 0xFF))]


def test_prompt_color_depends_on_prompt_and_seed_and_repeats_for_the_same_pair():
    backend = SolidBackend("s", SolidSettings(color="prompt"))
    request = Request(prompt="a red barn", width=8, height=8, seed=5, count=2)
    first, second = generate(backend, request)
    again, _ = generate(backend, request)
    assert first.getpixel((0, 0)) == again.getpixel((0, 0))
    assert first.getpixel((0, 0)) != second.getpixel((0, 0))
    expected = prompt_color("a red barn", 5)
    assert first.getpixel((0, 0)) == tuple(int(expected[i : i + 2], 16) for i in (1, 3, 5))


def test_each_image_reports_its_own_seed():
    backend = SolidBackend("s", SolidSettings())
    result = asyncio.run(
        backend.generate(Request(prompt="x", width=8, height=8, seed=10, count=3), Progress())
    )
    assert [image.seed for image in result.images] == [10, 11, 12]


def test_aspect_ratio_becomes_a_size_of_that_shape():
    backend = SolidBackend("s", SolidSettings())
    (image,) = generate(backend, Request(prompt="x", aspect_ratio="16:9"))
    width, height = image.size
    assert abs(width / height - 16 / 9) < 0.02


def test_color_option_overrides_the_configured_color():
    backend = SolidBackend("s", SolidSettings(color="#000000"))
    request = Request(prompt="x", width=4, height=4, options={"color": "#FF0000"})
    (image,) = generate(backend, request)
    assert image.getpixel((0, 0)) == (255, 0, 0)


def test_a_bad_color_option_is_an_invalid_request_naming_the_field():
    backend = SolidBackend("s", SolidSettings())
    with pytest.raises(InvalidRequest) as raised:
        generate(backend, Request(prompt="x", width=4, height=4, options={"color": "blue"}))
    assert raised.value.fields == {"color": "blue"}
    assert raised.value.backend == "s"


def test_sample_loads_as_valid_config():
    config, problems = parse_config("backends:\n" + textwrap.indent(SAMPLE, "  "))
    assert not problems.errors, [str(p) for p in problems.errors]
    assert config is not None
    assert config.backends["solid-blue"].settings == SolidSettings(color="#3366ff")


def test_a_bad_color_in_config_is_reported_with_its_line():
    text = "backends:\n  flat:\n    type: solid\n    color: blue\n"
    _, problems = parse_config(text, file="imagen.yaml")
    (error,) = problems.errors
    assert "imagen.yaml:4: backends.flat.color" in str(error)
    assert "expected '#rrggbb' or 'prompt'" in str(error)


# -- through the installed CLI: the entry point, config loading, the pipeline, the files -------
# ScratchHome runs the real ``imagen`` as its own process, with a HOME, config and output
# folder of the test's own, so the user's files are untouched.


def test_imagen_generate_with_a_solid_backend_writes_pngs_and_prints_their_paths(tmp_path: Path):
    home = ScratchHome(tmp_path)
    home.configure("""
        backends:
          flat: {type: solid, color: '#00ff00'}
    """)
    done = home.imagen(
        "generate", "a green field", "--backend", "flat",
        "--size", "32x16", "--seed", "3", "-n", "2",
    )  # fmt: skip
    assert done.code == 0, done.err
    paths = [Path(line) for line in done.out.splitlines()]
    assert len(paths) == 2
    for path, seed in zip(sorted(paths), (3, 4), strict=True):
        assert path.is_relative_to(home.output)
        with PILImage.open(path) as image:
            assert image.size == (32, 16)
            assert image.getpixel((0, 0)) == (0, 255, 0)
        sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert (sidecar["backend"], sidecar["backend_type"]) == ("flat", "solid")
        assert sidecar["seed"] == seed


def test_imagen_backends_lists_the_solid_instance_as_ready(tmp_path: Path):
    home = ScratchHome(tmp_path)
    home.configure("""
        backends:
          flat: {type: solid}
    """)
    done = home.imagen("backends", "--json")
    assert done.code == 0, done.err
    rows = {row["name"]: row for row in json.loads(done.out)}
    assert rows["flat"]["type"] == "solid"
    assert rows["flat"]["status"] == "ok (#3366ff)"
    assert rows["flat"]["price"] == "$0.00/image"


def test_imagen_solid_color_prints_the_color_a_prompt_draws(tmp_path: Path):
    done = ScratchHome(tmp_path).imagen("solid", "color", "a red barn", "--seed", "5")
    assert done.code == 0, done.err
    assert done.out == prompt_color("a red barn", 5) + "\n"
