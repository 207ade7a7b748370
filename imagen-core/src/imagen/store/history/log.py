"""``imagen log``: recorded takes as a table for people or as JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Iterable

from imagen.console import align_columns, json_safe, terminal_safe
from imagen.store.history.entry import HistoryEntry
from imagen.store.usage import format_usd

LOG_PROMPT_WIDTH = 60
LOG_HEADER = ("CREATED AT", "BACKEND", "MODEL", "SEED", "COST", "CACHE", "PATH", "PROMPT")


def _truncate(text: str, width: int) -> str:
    # One line, and escapes counted before the cut so they cannot push the column wider.
    text = terminal_safe(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def format_log(entries: Iterable[HistoryEntry]) -> str:
    """``imagen log``: a header, then one aligned line per take, in the order given.

    Columns: local time, backend, model, seed, cost, cache mark, absolute path, prompt. No
    takes is the empty string (the command says so on stderr). No trailing newline.
    """
    lines: list[list[str]] = []
    for entry in entries:
        prompt = entry.prompt if entry.prompt is not None else "(prompt not stored)"
        cost = entry.cost
        lines.append(
            [
                entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                entry.backend,
                entry.model,
                "-" if entry.seed is None else str(entry.seed),
                "-" if cost is None else format_usd(cost),
                "cached" if entry.cache_hit else "-",
                entry.absolute_path(),
                _truncate(prompt, LOG_PROMPT_WIDTH),
            ]
        )
    if not lines:
        return ""
    return align_columns([list(LOG_HEADER), *lines], right={3, 4})


def log_json(entries: Iterable[HistoryEntry]) -> str:
    """``imagen log --json``: a JSON list with one object per take (every stored column).

    Characters that could act on a terminal are JSON escapes: the same text to a parser.
    """
    data = [entry.to_dict() for entry in entries]
    return json_safe(json.dumps(data, indent=2, ensure_ascii=False))
