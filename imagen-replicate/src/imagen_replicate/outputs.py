"""Read a prediction's ``output``: where its images are."""

from __future__ import annotations

from typing import Any


def output_urls(output: Any) -> list[str]:
    """The image URLs in ``output``: a single string, or a list of them (other items skipped)."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str)]
    return []
