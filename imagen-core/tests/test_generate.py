"""``imagen generate`` end to end on the built-in mock backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagen.output import pngmeta


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "imagen.yaml"
    path.write_text(text)
    return str(path)


def test_generate_prints_one_path_per_take_and_nothing_else(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat in a fishbowl", "-n", "3", "-o", str(tmp_path))
    assert ran.code == 0, ran.err
    assert len(ran.lines) == 3
    for line in ran.lines:
        path = Path(line)
        assert path.is_absolute()
        assert path.is_file()
        assert path.suffix == ".png"
        assert path.with_suffix(".json").is_file()
        assert path.is_relative_to(tmp_path)


def test_no_config_file_prints_a_one_line_hint_on_stderr(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "-o", str(tmp_path))
    hints = [line for line in ran.err.splitlines() if "no config file" in line]
    assert len(hints) == 1
    assert "imagen config init" in hints[0]


def test_explicit_seed_gives_consecutive_seeds_recorded_in_sidecars(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "--seed", "41", "-n", "3", "-o", str(tmp_path))
    seeds = sorted(json.loads(Path(p).with_suffix(".json").read_text())["seed"] for p in ran.lines)
    assert seeds == [41, 42, 43]


def test_random_seeds_are_recorded_so_takes_are_reproducible(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = imagen("generate", "a cat", "-o", str(tmp_path / "a"))
    seed = json.loads(Path(first.lines[0]).with_suffix(".json").read_text())["seed"]
    assert isinstance(seed, int)
    again = imagen("generate", "a cat", "--seed", str(seed), "-o", str(tmp_path / "b"))
    original = pngmeta.read_text_chunks(Path(first.lines[0]).read_bytes())
    repeat = pngmeta.read_text_chunks(Path(again.lines[0]).read_bytes())
    assert original["parameters"] == repeat["parameters"]


def test_png_carries_imagen_metadata_and_a1111_parameters(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "--seed", "5", "--negative", "dogs", "-o", str(tmp_path))
    chunks = pngmeta.read_text_chunks(Path(ran.lines[0]).read_bytes())
    embedded = json.loads(chunks["imagen"])
    assert embedded["prompt"] == "a cat"
    assert embedded["seed"] == 5
    assert chunks["parameters"].startswith("a cat\nNegative prompt: dogs\n")
    assert "Seed: 5" in chunks["parameters"]


def test_sidecar_hash_matches_the_file_on_disk(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    ran = imagen("generate", "a cat", "-o", str(tmp_path))
    image = Path(ran.lines[0])
    sidecar = json.loads(image.with_suffix(".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert sidecar["backend"] == "mock"
    assert sidecar["model"] == "imagen-mock-placeholder"


def test_metadata_can_be_turned_off(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(
        tmp_path, "output:\n  write_metadata_json: false\n  embed_metadata: false\n"
    )
    ran = imagen("--config", config, "generate", "a cat", "-o", str(tmp_path / "out"))
    image = Path(ran.lines[0])
    assert not image.with_suffix(".json").exists()
    assert pngmeta.read_text_chunks(image.read_bytes()) == {}


def test_style_wraps_the_prompt_and_sets_defaults(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a lighthouse", "--style", "blog-header", "-o", str(tmp_path))
    sidecar = json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())
    assert sidecar["prompt"].startswith("a lighthouse, editorial illustration")
    assert sidecar["style"] == "blog-header"
    assert sidecar["aspect_ratio"] == "16:9"
    assert sidecar["width"] > sidecar["height"]
    assert "a-lighthouse" in ran.lines[0]


def test_user_style_from_config_overrides_builtin(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(
        tmp_path, 'styles:\n  photo:\n    prompt: "{prompt}, on film"\n    size: 320x200\n'
    )
    ran = imagen(
        "--config", config, "generate", "a dog", "--style", "photo", "-o", str(tmp_path / "o")
    )
    sidecar = json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())
    assert sidecar["prompt"] == "a dog, on film"
    assert (sidecar["width"], sidecar["height"]) == (320, 200)


def test_unknown_style_lists_the_known_ones(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "--style", "vaporwave", "-o", str(tmp_path))
    assert ran.code == 2
    assert "unknown style 'vaporwave'; known styles: blog-header, cinematic" in ran.err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--size", "big"], "expected WIDTHxHEIGHT"),
        (["--size", "10x10", "--aspect", "1:1"], "either --size or --aspect"),
        (["--aspect", "wide"], "expected W:H"),
        (["--ref", "/nonexistent.png"], "cannot read --ref"),
        (["--opt", "novalue"], "expected KEY=VALUE"),
        (["--backend", "nope"], "no backend instance named 'nope'"),
        (["-n", "0"], "-n"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    imagen, tmp_path: Path, args: list[str], fragment: str
) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "-o", str(tmp_path / "out"), *args)
    assert ran.code == 2
    assert fragment in ran.err
    assert not (tmp_path / "out").exists()


def test_ref_that_is_not_an_image_is_refused(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    ran = imagen("generate", "a cat", "--ref", str(text), "-o", str(tmp_path / "out"))
    assert ran.code == 2
    assert "is not a PNG, JPEG, WebP or GIF image" in ran.err


def test_ref_and_options_reach_the_sidecar(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = imagen("generate", "a cat", "-o", str(tmp_path / "a"))
    ran = imagen(
        "generate", "a cat", "--ref", first.lines[0], "--opt", "guidance=3.5", "--opt", "fast=true",
        "-o", str(tmp_path / "b"),
    )  # fmt: skip
    sidecar = json.loads(Path(ran.lines[0]).with_suffix(".json").read_text())
    assert sidecar["options"] == {"guidance": 3.5, "fast": True}
    assert sidecar["refs"][0]["path"] == first.lines[0]
    assert len(sidecar["refs"][0]["sha256"]) == 64


def test_failed_generation_is_one_line_per_error_and_exit_1(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, "backends:\n  broken:\n    type: mock\n    fail: unavailable\n")
    ran = imagen(
        "--config",
        config,
        "generate",
        "a cat",
        "-b",
        "broken",
        "-n",
        "3",
        "-o",
        str(tmp_path / "o"),
    )
    assert ran.code == 1
    errors = [line for line in ran.err.splitlines() if line.startswith("imagen: error:")]
    assert errors == [
        "imagen: error: broken: mock is unreachable (fail: unavailable) (all 3 takes)"
    ]
    assert ran.out == ""
    assert not list((tmp_path / "o").rglob("*.png"))


def test_json_output_has_images_errors_and_estimate(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("generate", "a cat", "-n", "2", "--seed", "3", "--json", "-o", str(tmp_path))
    data = json.loads(ran.out)
    assert [image["seed"] for image in data["images"]] == [3, 4]
    assert data["errors"] == []
    assert data["cost_estimate"] == {
        "usd": "0",
        "basis": "mock backend: placeholder images are free",
    }
    assert all(Path(image["path"]).is_file() for image in data["images"])


def test_dry_run_prints_the_resolved_request_and_writes_nothing(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen(
        "generate",
        "a cat",
        "--style",
        "icon",
        "--seed",
        "9",
        "-n",
        "2",
        "--dry-run",
        "-o",
        str(tmp_path / "o"),
    )
    assert ran.code == 0
    assert "prompt: a cat, simple icon" in ran.out
    assert "seeds: 9, 10" in ran.out
    assert "size: 512x512" in ran.out
    assert "cost_estimate: $0.00" in ran.out
    assert not (tmp_path / "o").exists()


SEEDLESS_CLI = """
import sys, types
from imagen.plugins import loader as plugins
from imagen.cli import main
from imagen import hookimpl
from imagen.mock import MockBackend, MockSettings

class Seedless(MockBackend):
    honors_seeds = False

def register_backends(register):
    register("seedless", Seedless, MockSettings)

module = types.ModuleType("seedless_plugin")
module.register_backends = hookimpl(register_backends)
plugins.manager().register(module, name="seedless")
main(sys.argv[1:])
"""


def dry_run(
    *args: str, config: str | None = None, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``imagen generate ARGS --dry-run`` as its own process (through ``script`` when given)."""
    start = ["-c", script] if script else ["-m", "imagen"]
    chosen = ["--config", config] if config else []
    command = [sys.executable, *start, *chosen, "generate", *args, "--dry-run"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_dry_run_json_is_data_with_the_shapes_of_a_real_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, "backends:\n  paid: {type: mock, cost_per_image: 0.05}\n")
    ran = dry_run(
        "a cat", "-b", "paid", "--size", "640x480", "--seed", "7", "-n", "2",
        "--opt", "guidance=3.5", "--json", "-o", str(tmp_path / "o"), config=config,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data == {
        "backend": "paid",
        "backend_type": "mock",
        "prompt": "a cat",
        "negative_prompt": None,
        "style": None,
        "width": 640,
        "height": 480,
        "aspect_ratio": None,
        "steps": None,
        "takes": 2,
        "seeded": True,
        "seeds": [7, 8],
        "cached_takes": [],
        "cache_copies": [],
        "refs": [],
        "options": {"guidance": 3.5},
        "output_dir": str(tmp_path / "o"),
        "concurrency": data["concurrency"],
        "caller": data["caller"],
        "cost_estimate": {"usd": "0.10", "basis": "cost_per_image of paid in config"},
    }
    assert isinstance(data["concurrency"], int)


def test_dry_run_text_shows_a_dash_where_nothing_is_set(tmp_path: Path) -> None:
    ran = dry_run("a cat", "-o", str(tmp_path / "o"))
    assert ran.returncode == 0, ran.stderr
    assert "None" not in ran.stdout
    lines = ran.stdout.splitlines()
    for field in ("negative_prompt", "style", "size", "aspect_ratio", "steps", "cached_takes"):
        assert f"{field}: -" in lines
    assert "backend: mock (type mock)" in lines
    assert "refs: -" in lines
    assert "options: -" in lines


def test_dry_run_lists_cached_takes_and_their_zero_cost(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert imagen("generate", "a cat", "--seed", "4", "-o", str(tmp_path)).code == 0
    ran = imagen("generate", "a cat", "--seed", "4", "-o", str(tmp_path), "--dry-run", "--json")
    data = json.loads(ran.out)
    assert data["cached_takes"] == [1]
    assert data["cost_estimate"]["usd"] == "0"


def test_dry_run_does_not_show_seeds_a_backend_ignores(tmp_path: Path) -> None:
    config = write_config(tmp_path, "backends:\n  s: {type: seedless}\n")
    args = ("x", "-b", "s", "--seed", "3", "-n", "2")
    text = dry_run(*args, config=config, script=SEEDLESS_CLI)
    assert text.returncode == 0, text.stderr
    assert "seeds: not used by s (the provider ignores seeds)" in text.stdout.splitlines()
    as_json = dry_run(*args, "--json", config=config, script=SEEDLESS_CLI)
    data = json.loads(as_json.stdout)
    assert data["seeded"] is False
    assert data["seeds"] is None


def test_output_directory_that_cannot_be_created_is_one_line_and_no_partial_file(  # type: ignore[no-untyped-def]
    imagen, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    ran = imagen("generate", "a cat", "-o", str(blocker / "out"))
    assert ran.code == 1
    assert len([line for line in ran.err.splitlines() if line.startswith("imagen: error:")]) == 1
    assert blocker.read_text() == "not a folder"
