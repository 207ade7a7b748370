"""`imagen` end to end: subprocesses, a config file, the fake Images API on a socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image as PILImage

from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.testing import KEY


def _imagen(
    fake: FakeOpenAI, tmp_path: Path, *args: str, key: str = KEY, extra: str = ""
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "imagen.yaml"
    config.write_text(
        f"output: {{directory: '{tmp_path / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
        "default_backend: gpt\n"
        "backends:\n"
        f"  gpt: {{type: openai, base_url: '{fake.url}/v1'{extra}}}\n"  # type: ignore[attr-defined]
    )
    env = {**os.environ, "OPENAI_API_KEY": key, "IMAGEN_DEBUG": ""}
    command = [sys.executable, "-m", "imagen", "--config", str(config), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_generate_with_a_reference_writes_the_edited_image(fake: FakeOpenAI, tmp_path: Path):
    ref = tmp_path / "cat.jpg"
    PILImage.new("RGB", (40, 30), "orange").save(ref, "JPEG")

    done = _imagen(
        fake,
        tmp_path,
        "generate",
        "the cat as a watercolour",
        "--ref",
        str(ref),
        "--size",
        "1920x1080",
    )

    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    with PILImage.open(line) as image:
        assert (image.format, image.size) == ("PNG", (1920, 1088))
    (call,) = fake.calls
    assert call.path == "/v1/images/edits"
    assert [kind for _, kind, _ in call.images] == ["image/jpeg"]
    sidecar = json.loads(Path(line).with_suffix(".json").read_text())
    assert sidecar["seed"] is None
    assert KEY not in done.stderr + done.stdout + json.dumps(sidecar)


def test_dry_run_shows_the_estimate_and_sends_nothing(fake: FakeOpenAI, tmp_path: Path):
    done = _imagen(fake, tmp_path, "generate", "a lighthouse", "--dry-run", "--json")

    assert done.returncode == 0, done.stderr
    assert "0.053" in done.stdout
    assert fake.calls == []


def test_backends_shows_status_and_price_without_network(fake: FakeOpenAI, tmp_path: Path):
    done = _imagen(fake, tmp_path, "backends", "--json")

    assert done.returncode == 0, done.stderr
    (row,) = [row for row in json.loads(done.stdout) if row["name"] == "gpt"]
    assert row["type"] == "openai"
    assert "gpt-image-2" in json.dumps(row)
    assert "0.053" in json.dumps(row)
    assert fake.calls == []


def test_a_refused_key_is_one_error_line_naming_the_variable(fake: FakeOpenAI, tmp_path: Path):
    wrong = "sk-proj-notTheRightKeyAtAll0123456789abcdef"
    done = _imagen(fake, tmp_path, "generate", "a cat", key=wrong)

    assert done.returncode == 1
    assert done.stdout == ""
    *_, line = done.stderr.strip().splitlines()
    assert line.startswith("imagen: error: ")
    assert "OPENAI_API_KEY" in line
    assert wrong not in done.stderr


def test_insufficient_quota_is_one_line_saying_what_to_do(fake: FakeOpenAI, tmp_path: Path):
    fake.then(fake.out_of_quota())

    done = _imagen(fake, tmp_path, "generate", "a cat")

    assert done.returncode == 1
    *_, line = done.stderr.strip().splitlines()
    assert "billing" in line
    assert "retrying will not help" in line
    assert len(fake.calls) == 1
