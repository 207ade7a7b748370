"""What the toolkit quotes from a provider's error body: the human part, whatever its shape."""

from __future__ import annotations

from typing import Any

import pytest

from imagen.adapters import body_message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"message": "bad prompt"}, "bad prompt"),
        ({"error": {"message": "quota", "type": "insufficient_quota"}}, "quota"),
        ({"detail": "Invalid version"}, "Invalid version"),
        # Stability AI: a name and a list of texts
        ({"id": "x1", "name": "bad_request", "errors": ["prompt: cannot be blank"]},
         "prompt: cannot be blank"),
        # JSON:API: a list of objects
        ({"errors": [{"title": "Invalid", "detail": "width too large"}, {"title": "Missing"}]},
         "width too large; Missing"),
        # at most three quoted, empty entries skipped
        ({"errors": ["a", "", "b", "c", "d"]}, "a; b"),
        ({"errors": []}, "the raw text"),
        ({"errors": "not a list"}, "the raw text"),
        (["not", "a", "mapping"], "the raw text"),
    ],
)  # fmt: skip
def test_the_human_part_of_an_error_body(body: Any, said: str) -> None:
    assert body_message(body, "the raw text") == said


def test_one_helper_of_the_kit_loads_only_its_own_module() -> None:
    """A plugin's light module (its info class, its prices) pays only for what it uses."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom imagen.adapters import snap_to_table\n"
        "print(sorted(m for m in sys.modules if m.startswith('imagen.adapters')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['imagen.adapters', 'imagen.adapters.sizes']"
