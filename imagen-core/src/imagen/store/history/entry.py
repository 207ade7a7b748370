"""One recorded take as read back from the history, checked at the boundary.

SQLite keeps whatever a row was given, whatever the column's declared type: a row written by
hand, by another tool or by a damaged page may hold text where a number belongs or JSON that
does not parse. ``entry_from_row`` accepts only rows shaped as imagen writes them and raises
``InvalidRow`` for anything else, so the rest of imagen works with plain trusted values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs


class InvalidRow(ValueError):
    """A row whose values are not what imagen writes; the message names the column."""


@attrs.frozen
class HistoryEntry:
    """One row of the history, as stored. ``created_at`` is timezone-aware UTC.

    ``prompt`` and ``negative_prompt`` are None when the take was recorded with
    ``store_prompt=False``; ``prompt_sha256`` is always kept (None only for rows written before
    schema version 2 without a prompt). Costs are USD ``Decimal`` amounts.
    """

    id: int
    created_at: dt.datetime
    backend: str
    backend_type: str
    backend_identity: str | None
    model: str
    seed: int | None
    prompt: str | None
    prompt_sha256: str | None
    negative_prompt: str | None
    style: str | None
    width: int
    height: int
    aspect_ratio: str | None
    steps: int | None
    options: Mapping[str, Any]
    refs: tuple[Mapping[str, Any], ...]
    fingerprint: str
    latency: float
    cost_estimate: Decimal | None
    cost_actual: Decimal | None
    caller: str | None
    cache_hit: bool
    output_dir: str
    path: str
    sidecar_path: str | None
    sha256: str
    media_type: str
    size_bytes: int
    take: int
    takes: int
    metadata: Mapping[str, Any]
    file_mtime_ns: int | None = None
    file_ctime_ns: int | None = None
    file_inode: int | None = None
    #: a person picked this take among its job's takes
    picked: bool = False

    def file_unchanged(self) -> bool | None:
        """True if the image file's stat is as recorded, False if not, None if it is gone."""
        try:
            stat = os.stat(self.absolute_path())
        except (OSError, ValueError):
            return None
        return (
            self.file_ctime_ns is not None
            and stat.st_size == self.size_bytes
            and stat.st_mtime_ns == self.file_mtime_ns
            and stat.st_ctime_ns == self.file_ctime_ns
            and stat.st_ino == self.file_inode
        )

    @property
    def cost(self) -> Decimal | None:
        """What the take cost: the actual amount where known, else the estimate."""
        return self.cost_actual if self.cost_actual is not None else self.cost_estimate

    def absolute_path(self) -> str:
        return os.path.join(self.output_dir, *self.path.split("/"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: datetimes as ISO text, money as decimal strings."""
        data = attrs.asdict(self, recurse=False)
        data["created_at"] = self.created_at.isoformat()
        data["options"] = dict(self.options)
        data["refs"] = [dict(ref) for ref in self.refs]
        data["metadata"] = dict(self.metadata)
        for key in ("cost_estimate", "cost_actual"):
            data[key] = None if data[key] is None else str(data[key])
        data["absolute_path"] = self.absolute_path()
        return data


_TEXT = ("backend", "backend_type", "model", "fingerprint", "output_dir", "path", "sha256",
         "media_type")  # fmt: skip
_OPTIONAL_TEXT = ("backend_identity", "prompt", "prompt_sha256", "negative_prompt", "style",
                  "aspect_ratio", "caller", "sidecar_path")  # fmt: skip
_INTEGER = ("id", "width", "height", "size_bytes", "take", "takes", "cache_hit")
_OPTIONAL_INTEGER = ("seed", "steps", "file_mtime_ns", "file_ctime_ns", "file_inode")


def _check(data: Mapping[str, Any], columns: tuple[str, ...], kind: type, optional: bool) -> None:
    for column in columns:
        value = data.get(column)
        if value is None and optional:
            continue
        if not isinstance(value, kind):
            raise InvalidRow(f"{column} is {type(value).__name__}, not {kind.__name__}")


def _json(data: Mapping[str, Any], column: str, kind: type) -> Any:
    try:
        value = json.loads(data[column])
    except (TypeError, ValueError) as error:
        raise InvalidRow(f"{column} is not JSON ({error})") from None
    if not isinstance(value, kind):
        raise InvalidRow(f"{column} is a JSON {type(value).__name__}, not {kind.__name__}")
    return value


def _money(data: Mapping[str, Any], column: str) -> Decimal | None:
    text = data[column]
    if text is None:
        return None
    try:
        amount = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise InvalidRow(f"{column} is not a decimal amount")
    return amount


def _moment(data: Mapping[str, Any]) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(data["created_at"])
        if moment.tzinfo is None:
            raise ValueError("no UTC offset")
        moment.astimezone()  # shown in local time: it must exist there too
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidRow(f"created_at is not an ISO time ({error})") from None
    return moment


def entry_from_row(row: sqlite3.Row) -> HistoryEntry:
    """The row as a ``HistoryEntry``; ``InvalidRow`` if a value is not what imagen writes."""
    data = dict(zip(row.keys(), row, strict=True))
    _check(data, _TEXT, str, optional=False)
    _check(data, _OPTIONAL_TEXT, str, optional=True)
    _check(data, _INTEGER, int, optional=False)
    _check(data, _OPTIONAL_INTEGER, int, optional=True)
    latency = data["latency"]
    if not isinstance(latency, int | float) or not math.isfinite(latency):
        raise InvalidRow("latency is not a number of seconds")
    refs = _json(data, "refs", list)
    if not all(isinstance(ref, dict) for ref in refs):
        raise InvalidRow("refs is not a JSON list of objects")
    data.update(
        created_at=_moment(data),
        options=_json(data, "options", dict),
        refs=tuple(refs),
        metadata=_json(data, "metadata", dict),
        cost_estimate=_money(data, "cost_estimate"),
        cost_actual=_money(data, "cost_actual"),
        cache_hit=bool(data["cache_hit"]),
        picked=bool(data.get("picked") or 0),
        latency=float(latency),
    )
    try:
        return HistoryEntry(**data)
    except TypeError as error:  # a column imagen does not know, or one missing
        raise InvalidRow(str(error)) from None
