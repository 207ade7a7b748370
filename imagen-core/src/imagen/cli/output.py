"""Small helpers the commands share for printing tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded with spaces, two apart, every cell made safe for a terminal."""
    from imagen.console import align_columns

    return align_columns([headers, *rows])


def echo_json(data: Any) -> None:
    from imagen.console import json_safe

    click.echo(json_safe(json.dumps(data, indent=2, ensure_ascii=False, default=str)))
