"""The JSON sidecar records a take from the Generation alone, as valid UTF-8 JSON."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen._version import __version__
from imagen.models import Cost, Generation, Ref, Request
from imagen.output.sidecar import SCHEMA_VERSION, set_picked, sidecar_bytes, sidecar_data

CREATED = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=1)))
REF_BYTES = b"reference image bytes"


def generation(**overrides: Any) -> Generation:
    request = overrides.pop(
        "request",
        Request(
            prompt="a cat in a fishbowl, watercolor",
            negative_prompt="blurry",
            width=1024,
            height=576,
            aspect_ratio="16:9",
            steps=4,
            seed=42,
            style="watercolor",
            refs=(
                Ref("refs/cat.png", REF_BYTES, "image/png", hashlib.sha256(REF_BYTES).hexdigest()),
            ),
            options={"guidance": 3.5, "sampler": "euler"},
        ),
    )
    values: dict[str, Any] = {
        "request": request,
        "backend": "flux-schnell-replicate",
        "backend_type": "replicate",
        "model": "black-forest-labs/flux-schnell",
        "seed": 42,
        "path": "2026-03-04/050607-a-cat-42.png",
        "output_dir": "/home/me/Pictures/imagen",
        "sha256": "ab" * 32,
        "media_type": "image/png",
        "width": 1024,
        "height": 576,
        "size_bytes": 12345,
        "latency": 1.23456,
        "created_at": CREATED,
        "take": 2,
        "takes": 3,
        "cost_estimate": Cost(Decimal("0.003"), "list price per image, 2026-10"),
        "cost_actual": None,
        "caller": "cli",
        "metadata": {"prediction_id": "p123", "created": CREATED},
        "warnings": ("1 of 2 images was filtered",),
    }
    values.update(overrides)
    return Generation(**values)


def strict_loads(data: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def test_sidecar_records_every_documented_field() -> None:
    data = sidecar_data(generation(), plugin_fields={"supabase": {"bucket": "images"}})
    assert data == {
        "schema_version": SCHEMA_VERSION,
        "prompt": "a cat in a fishbowl, watercolor",
        "negative_prompt": "blurry",
        "style": "watercolor",
        "backend": "flux-schnell-replicate",
        "backend_type": "replicate",
        "model": "black-forest-labs/flux-schnell",
        "seed": 42,
        "width": 1024,
        "height": 576,
        "steps": 4,
        "aspect_ratio": "16:9",
        "options": {"guidance": 3.5, "sampler": "euler"},
        "refs": [{"path": "refs/cat.png", "sha256": hashlib.sha256(REF_BYTES).hexdigest()}],
        "latency_s": 1.235,
        "cost_estimate": {"usd": "0.003", "basis": "list price per image, 2026-10"},
        "cost_actual": None,
        "sha256": "ab" * 32,
        "media_type": "image/png",
        "take": 2,
        "takes": 3,
        "caller": "cli",
        "cache_hit": False,
        "imagen_version": __version__,
        "created_at": "2026-03-04T05:06:07+01:00",
        "metadata": {"prediction_id": "p123", "created": "2026-03-04T05:06:07+01:00"},
        "warnings": ["1 of 2 images was filtered"],
        "plugins": {"supabase": {"bucket": "images"}},
    }


def test_sidecar_round_trips_through_json() -> None:
    data = sidecar_data(generation(cost_actual=Cost(Decimal("0.0025"), "provider bill")))
    assert strict_loads(sidecar_bytes(data)) == data


def test_copy_for_embedding_leaves_out_the_image_hash() -> None:
    data = sidecar_data(generation(), include_sha256=False)
    assert "sha256" not in data
    assert "ab" * 32 not in sidecar_bytes(data).decode()


def test_naive_created_at_gets_the_local_offset() -> None:
    naive = dt.datetime(2026, 3, 4, 5, 6, 7)
    created_at = sidecar_data(generation(created_at=naive))["created_at"]
    assert created_at == naive.astimezone().isoformat()
    assert dt.datetime.fromisoformat(str(created_at)).utcoffset() is not None


def test_reference_bytes_and_the_output_folder_stay_out_of_the_sidecar() -> None:
    text = sidecar_bytes(sidecar_data(generation())).decode()
    assert REF_BYTES.decode() not in text
    assert "/home/me" not in text


def test_sidecar_is_pretty_utf8_with_a_trailing_newline() -> None:
    request = Request(prompt="東京タワー at dusk")
    raw = sidecar_bytes(sidecar_data(generation(request=request)))
    assert raw.startswith(b'{\n  "schema_version": 1,\n')
    assert raw.endswith(b"}\n")
    assert "東京タワー".encode() in raw


def test_options_with_decimals_dates_bytes_and_non_finite_floats_become_json() -> None:
    options: dict[Any, object] = {
        "price": Decimal("0.10"),
        "when": dt.date(2026, 1, 2),
        "mask": b"\x00\x01",
        "ratio": float("nan"),
        "sizes": (1, 2),
        "tags": {"b", "a"},
        3: "numeric key",
    }
    data = sidecar_data(generation(request=Request(prompt="p", options=options)))
    assert strict_loads(sidecar_bytes(data))["options"] == {
        "price": "0.10",
        "when": "2026-01-02",
        "mask": "AAE=",
        "ratio": "nan",
        "sizes": [1, 2],
        "tags": ["a", "b"],
        "3": "numeric key",
    }


def test_prompt_with_lone_surrogates_is_still_written() -> None:
    data = sidecar_data(generation(request=Request(prompt="caf\udce9")))
    assert strict_loads(sidecar_bytes(data))["prompt"] == "caf\udce9"


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.binary(max_size=16),
    st.datetimes(),
)
option_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    prompt=st.text(alphabet=st.characters(codec=None, exclude_categories=())),
    options=st.dictionaries(st.text(), option_values, max_size=4),
)
def test_any_prompt_and_options_give_valid_json(prompt: str, options: dict[str, object]) -> None:
    data = sidecar_data(generation(request=Request(prompt=prompt, options=options)))
    loaded = strict_loads(sidecar_bytes(data))
    assert loaded["prompt"] == prompt
    assert set(loaded["options"]) == set(options)


def test_the_actual_cost_is_recorded_with_its_basis() -> None:
    data = sidecar_data(generation(cost_actual=Cost(Decimal("0.0025"), "provider bill")))
    assert data["cost_actual"] == {"usd": "0.0025", "basis": "provider bill"}


def test_the_lone_surrogate_fallback_is_pretty_too() -> None:
    raw = sidecar_bytes(sidecar_data(generation(request=Request(prompt="caf\udce9"))))
    assert raw.startswith(b'{\n  "schema_version": 1,\n')
    assert b'\n  "prompt": "caf\\udce9",\n' in raw


def test_sets_get_a_stable_order_and_lists_keep_theirs() -> None:
    options = {"tags": {10, 9}, "mixed": frozenset({1, "a"}), "order": [2, 1], "pair": (9, 10)}
    data = sidecar_data(generation(request=Request(prompt="p", options=options)))
    # Sets are sorted by their text, which also works for values of different types.
    assert data["options"] == {"tags": [10, 9], "mixed": ["a", 1], "order": [2, 1], "pair": [9, 10]}


def test_a_value_of_another_type_is_recorded_as_its_text() -> None:
    data = sidecar_data(generation(request=Request(prompt="p", options={"z": 1 + 2j})))
    assert data["options"] == {"z": "(1+2j)"}


# --- picking ----------------------------------------------------------------------------------


def written_sidecar(folder: Path, mode: int = 0o640) -> Path:
    path = folder / "cat.json"
    path.write_bytes(sidecar_bytes(sidecar_data(generation())))
    path.chmod(mode)
    return path


def test_a_pick_is_recorded_in_the_sidecar_and_nothing_else_changes(tmp_path: Path) -> None:
    path = written_sidecar(tmp_path)
    before = strict_loads(path.read_bytes())
    set_picked(str(path), True)
    assert strict_loads(path.read_bytes()) == {**before, "picked": True}
    set_picked(str(path), False)
    assert strict_loads(path.read_bytes()) == {**before, "picked": False}
    assert path.read_bytes().endswith(b"}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.json"]


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_a_pick_keeps_the_sidecar_mode(tmp_path: Path, mode: int) -> None:
    path = written_sidecar(tmp_path, mode)
    set_picked(str(path), True)
    assert path.stat().st_mode & 0o777 == mode


def test_picking_what_is_already_picked_leaves_the_file_alone(tmp_path: Path) -> None:
    path = written_sidecar(tmp_path)
    set_picked(str(path), True)
    inode = path.stat().st_ino
    set_picked(str(path), True)
    assert path.stat().st_ino == inode  # not written again


def test_a_file_that_is_not_a_json_object_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cat.json"
    path.write_bytes(b"[1, 2]\n")
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))} is not a sidecar \(a JSON object\)$"
    ):
        set_picked(str(path), True)
    assert path.read_bytes() == b"[1, 2]\n"


def test_a_failed_pick_keeps_the_old_sidecar_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written_sidecar(tmp_path)
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        set_picked(str(path), True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.json"]


def test_a_pick_does_not_depend_on_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written_sidecar(tmp_path)
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # a long-running server's working folder can be removed under it
    set_picked(str(path), True)
    assert strict_loads(path.read_bytes())["picked"] is True


def test_a_pick_reads_the_sidecar_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "cat.json"
    path.write_bytes(sidecar_bytes(sidecar_data(generation(request=Request(prompt="東京")))))
    set_picked(str(path), True)
    # An ASCII locale without Python's UTF-8 mode, as a bare container or cron job may have.
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    script = (
        "import sys; from imagen.output.sidecar import set_picked; set_picked(sys.argv[1], False)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    data = strict_loads(path.read_bytes())
    assert (data["prompt"], data["picked"]) == ("東京", False)
