"""Writing one take: the record it returns, the name it gets, the sidecar and the metadata in the
PNG, and what plugins see on the way."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from PIL import Image as PILImage

from imagen import hookimpl
from imagen.config.load import parse_config
from imagen.models import Cost, Generation, Image, Request, Result
from imagen.output.pngmeta import read_text_chunks
from imagen.output.write import Take, absolute_path, write_image
from imagen.plugins import loader as plugins

STARTED = dt.datetime(2026, 3, 4, 5, 6, 7)
REQUEST = Request(
    prompt="a red fox in 東京, watercolor",
    negative_prompt="blurry",
    width=64,
    height=48,
    steps=20,
    seed=42,
)
ESTIMATE = Cost(Decimal("0.04"), "per image")
ACTUAL = Cost(Decimal("0.03"), "reported by the provider")


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 80, 20)).save(out, format="PNG")
    return out.getvalue()


class Seen:
    """What the plugin hooks were called with: (hook, path, sha256, size) per call."""

    calls: ClassVar[list[tuple[str, str, str, int]]] = []


@pytest.fixture
def shotlist_plugin() -> Iterator[type[Seen]]:
    """A plugin adding a naming field ({project}) and sidecar fields, recording its calls."""

    def naming_fields(generation: Generation) -> dict[str, Any]:
        Seen.calls.append(("naming", generation.path, generation.sha256, generation.size_bytes))
        return {"project": f"moon-{generation.seed}"}

    def sidecar_fields(generation: Generation) -> dict[str, Any]:
        Seen.calls.append(("sidecar", generation.path, generation.sha256, generation.size_bytes))
        return {"shot": generation.take, "reviewed": False}

    module = types.ModuleType("shotlist")
    module.naming_fields = hookimpl(naming_fields)  # type: ignore[attr-defined]
    module.sidecar_fields = hookimpl(sidecar_fields)  # type: ignore[attr-defined]
    plugins.manager().register(module, name="shotlist")
    Seen.calls = []
    yield Seen
    plugins.manager().unregister(module)


def take_for(
    folder: Path, output: str = "", *, style: str | None = "watercolor", number: int = 2
) -> Take:
    text = "backends:\n  studio:\n    type: mock\n"
    if output:
        text += "output:\n" + "".join(f"  {line}\n" for line in output.splitlines())
    config, problems = parse_config(text)
    assert not problems.errors, problems.errors
    return Take(
        config=config,
        instance=config.backends["studio"],
        output_dir=str(folder),
        user_prompt="a red fox in 東京",
        style=style,
        number=number,
        takes=3,
        started_at=STARTED,
        caller="otto",
        cost_estimate=ESTIMATE,
    )


def write(take: Take, image: Image | None = None, **request: Any) -> Generation:
    chosen = image or Image(png(), "image/png", 64, 48, seed=42)
    result = Result(
        images=(chosen,),
        model="fox-model",
        latency=1.25,
        metadata={"prediction": "p-1"},
        warnings=("1 of 2 images was filtered",),
    )
    asked = attrs.evolve(REQUEST, **request)
    return write_image(take, asked, result, chosen, ACTUAL, warnings=("slow answer",))


# --- the record -------------------------------------------------------------------------------


def test_the_record_says_what_was_made_where_and_for_whom(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path))
    data = (tmp_path / generation.path).read_bytes()
    assert generation.request == REQUEST
    assert (generation.backend, generation.backend_type, generation.model) == (
        "studio",
        "mock",
        "fox-model",
    )
    assert (generation.seed, generation.media_type, generation.width, generation.height) == (
        42,
        "image/png",
        64,
        48,
    )
    assert (generation.take, generation.takes, generation.caller) == (2, 3, "otto")
    assert (generation.cost_estimate, generation.cost_actual) == (ESTIMATE, ACTUAL)
    assert generation.metadata == {"prediction": "p-1"}
    assert generation.warnings == ("slow answer",)
    assert (generation.user_prompt, generation.style) == ("a red fox in 東京", "watercolor")
    assert generation.latency == 1.25
    assert generation.output_dir == str(tmp_path)
    assert generation.sha256 == hashlib.sha256(data).hexdigest()
    assert generation.size_bytes == len(data)
    assert absolute_path(generation) == str(tmp_path / generation.path)


def test_the_seed_recorded_is_the_one_the_backend_reports(tmp_path: Path) -> None:
    ignored = Image(png(), "image/png", 64, 48, seed=None)
    generation = write(take_for(tmp_path), ignored)
    assert generation.seed is None
    assert json.loads((tmp_path / str(generation.sidecar_path)).read_text())["seed"] is None


# --- the name ---------------------------------------------------------------------------------


def test_every_naming_field_comes_from_this_take(tmp_path: Path) -> None:
    template = (
        "{backend}/{model}/{slug}-{seed}-{n}of{count}-{style}-{hash}-{width}x{height}-{date}T{time}"
    )
    generation = write(take_for(tmp_path, f"naming: '{template}'"))
    assert generation.path == (
        f"studio/fox-model/a-red-fox-in-東京-42-2of3-watercolor-{REQUEST.fingerprint()[:8]}"
        "-64x48-2026-03-04T050607.png"
    )
    assert generation.sidecar_path == generation.path.removesuffix(".png") + ".json"


def test_a_take_without_a_style_is_named_nostyle(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path, "naming: '{style}'", style=None))
    assert generation.path == "nostyle.png"
    assert generation.style is None


def test_a_plugin_naming_field_names_the_file(tmp_path: Path, shotlist_plugin: type[Seen]) -> None:
    generation = write(take_for(tmp_path, "naming: '{project}/{seed}'"))
    assert generation.path == "moon-42/42.png"


def test_an_image_of_an_unknown_type_is_written_as_bin(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path, "naming: 'x'"), Image(b"AVIF", "image/avif", 1, 1, 3))
    assert generation.path == "x.bin"
    assert (tmp_path / "x.bin").read_bytes() == b"AVIF"


def test_a_folder_name_with_a_space_gives_the_right_absolute_path(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path, "naming: 'my images/{seed}'"))
    assert generation.path == "my images/42.png"
    assert absolute_path(generation) == str(tmp_path / "my images" / "42.png")


# --- the sidecar ------------------------------------------------------------------------------


def test_the_sidecar_describes_the_file_written_beside_it(
    tmp_path: Path, shotlist_plugin: type[Seen]
) -> None:
    generation = write(take_for(tmp_path))
    assert generation.sidecar_path is not None
    sidecar = json.loads((tmp_path / generation.sidecar_path).read_text())
    assert (
        sidecar["sha256"] == hashlib.sha256((tmp_path / generation.path).read_bytes()).hexdigest()
    )
    assert (sidecar["prompt"], sidecar["seed"], sidecar["take"], sidecar["caller"]) == (
        REQUEST.prompt,
        42,
        2,
        "otto",
    )
    assert sidecar["plugins"] == {"shotlist": {"shot": 2, "reviewed": False}}


def test_without_write_metadata_json_there_is_no_sidecar(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path, "write_metadata_json: false"))
    assert generation.sidecar_path is None
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        Path(generation.path).name
    ]


def test_plugins_see_the_take_as_received_before_it_has_a_name(
    tmp_path: Path, shotlist_plugin: type[Seen]
) -> None:
    received = png()
    generation = write(
        take_for(tmp_path, "naming: '{project}'"), Image(received, "image/png", 64, 48, 42)
    )
    # sidecar_fields is asked about the image as received; naming_fields once the bytes with
    # the metadata in them are final.
    assert Seen.calls[-2:] == [
        ("sidecar", "", "", len(received)),
        ("naming", "", generation.sha256, generation.size_bytes),
    ]
    assert generation.size_bytes > len(received)


# --- the metadata inside the PNG --------------------------------------------------------------


def test_a_png_carries_the_sidecar_without_its_hash_and_a1111_parameters(
    tmp_path: Path, shotlist_plugin: type[Seen]
) -> None:
    generation = write(take_for(tmp_path))
    chunks = read_text_chunks((tmp_path / generation.path).read_bytes())
    assert set(chunks) == {"imagen", "parameters"}
    assert chunks["parameters"] == (
        "a red fox in 東京, watercolor\nNegative prompt: blurry\n"
        "Steps: 20, Seed: 42, Size: 64x48, Model: fox-model"
    )
    assert "東京" in chunks["imagen"]  # UTF-8 as is, not \u escapes
    embedded = json.loads(chunks["imagen"])
    sidecar = json.loads((tmp_path / str(generation.sidecar_path)).read_text())
    assert "sha256" not in embedded
    assert embedded == {key: value for key, value in sidecar.items() if key != "sha256"}
    assert embedded["plugins"] == {"shotlist": {"shot": 2, "reviewed": False}}


def test_a1111_parameters_leave_out_what_the_request_left_out(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path), negative_prompt=None, steps=None)
    chunks = read_text_chunks((tmp_path / generation.path).read_bytes())
    assert chunks["parameters"] == (
        "a red fox in 東京, watercolor\nSeed: 42, Size: 64x48, Model: fox-model"
    )


def test_without_embed_metadata_the_png_is_written_as_it_came(tmp_path: Path) -> None:
    original = png()
    generation = write(
        take_for(tmp_path, "embed_metadata: false"), Image(original, "image/png", 64, 48, 42)
    )
    assert (tmp_path / generation.path).read_bytes() == original
    assert generation.sha256 == hashlib.sha256(original).hexdigest()


def test_a_jpeg_is_written_as_it_came(tmp_path: Path) -> None:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(out, format="JPEG")
    generation = write(take_for(tmp_path), Image(out.getvalue(), "image/jpeg", 8, 8, 42))
    assert generation.path.endswith(".jpg")
    assert (tmp_path / generation.path).read_bytes() == out.getvalue()


def test_a_broken_png_is_written_as_it_came(tmp_path: Path) -> None:
    generation = write(take_for(tmp_path), Image(b"not really a png", "image/png", 64, 48, 42))
    assert (tmp_path / generation.path).read_bytes() == b"not really a png"
    assert generation.size_bytes == len(b"not really a png")
