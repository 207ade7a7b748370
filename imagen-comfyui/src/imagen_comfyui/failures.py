"""ComfyUI's own error shapes, turned into imagen's errors with one-line messages.

- ``POST /prompt`` answers 400 with ``{"error": {type, message, details}, "node_errors":
  {node_id: {"class_type", "errors": [{type, message, details, extra_info}]}}}``;
- a run that fails sends ``execution_error`` (node id and type, exception type and message);
- a run stopped on the server sends ``execution_interrupted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imagen.errors import BackendError, InvalidRequest

_LONGEST_DETAIL = 300


def one_line(text: Any, limit: int = _LONGEST_DETAIL) -> str:
    """``text`` with its whitespace collapsed to single spaces, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@attrs.frozen
class MissingModel:
    """A loader asked for a file the server does not have (``value_not_in_list``)."""

    node: str
    class_type: str
    input: str
    asked: str


def missing_models(body: Any) -> list[MissingModel]:
    """Every ``value_not_in_list`` on a loader node in a 400 body from ``/prompt``."""
    found = []
    for node, entry in _node_errors(body).items():
        class_type = str(entry.get("class_type", ""))
        if "Loader" not in class_type:
            continue
        for error in entry.get("errors") or []:
            info = error.get("extra_info") or {}
            if error.get("type") == "value_not_in_list" and "input_name" in info:
                found.append(
                    MissingModel(node, class_type, str(info["input_name"]),
                                 str(info.get("received_value", "")))
                )  # fmt: skip
    return found


def missing_model_error(
    missing: MissingModel,
    available: Sequence[str],
    *,
    backend: str,
    setting: str | None,
    others: int = 0,
) -> InvalidRequest:
    """Names the file asked for, the files the server has, and where to change it."""
    has = ", ".join(available) if available else "none"
    where = f"set {setting} in the config" if setting else "change it in your workflow"
    more = f" ({others} more model file{'s' if others > 1 else ''} missing too)" if others else ""
    return InvalidRequest(
        f"ComfyUI has no model file {missing.asked!r} for {missing.class_type}.{missing.input} "
        f"(node {missing.node}); it has: {one_line(has)}. Put the file in ComfyUI's models "
        f"folder or {where}{more}",
        backend=backend,
        fields={f"{missing.node}.{missing.input}": f"{missing.asked!r} not on the server"},
        detail={"available": list(available)},
    )


def rejected_prompt(body: Any, *, backend: str) -> InvalidRequest:
    """A 400 from ``/prompt``: the error, then each node's errors with its id and type."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        summary = str(error.get("message") or error.get("type") or "invalid workflow")
        details = str(error.get("details") or "")
        if details and not _node_errors(body) and details not in summary:
            summary += f" ({details})"
    else:
        summary = str(error or "invalid workflow")
    parts = [summary]
    fields: dict[str, str] = {}
    for node, entry in _node_errors(body).items():
        for item in entry.get("errors") or []:
            message = str(item.get("message") or item.get("type") or "invalid")
            detail = str(item.get("details") or "")
            name = (item.get("extra_info") or {}).get("input_name")
            fields[f"{node}.{name}" if name else node] = message
            text = f"{message}: {detail}" if detail and detail not in message else message
            parts.append(f"node {node} ({entry.get('class_type', '?')}): {text}")
    return InvalidRequest(
        "ComfyUI rejected the workflow: " + one_line("; ".join(parts), 600),
        backend=backend,
        fields=fields,
        detail={"error": error, "node_errors": _node_errors(body)},
    )


def execution_error(data: Mapping[str, Any], *, backend: str) -> BackendError:
    """``execution_error``: which node failed and the exception it raised."""
    exception = str(data.get("exception_type") or "error")
    message = one_line(data.get("exception_message") or "")
    return BackendError(
        f"ComfyUI failed in node {data.get('node_id')} ({data.get('node_type')}): "
        f"{exception}: {message}",
        backend=backend,
        detail={key: data.get(key) for key in ("prompt_id", "node_id", "node_type",
                                                 "exception_type", "exception_message")},
    )  # fmt: skip


def execution_interrupted(data: Mapping[str, Any], *, backend: str) -> BackendError:
    """``execution_interrupted`` that we did not ask for: someone stopped it on the server."""
    return BackendError(
        f"the run was interrupted on the ComfyUI server at node {data.get('node_id')} "
        f"({data.get('node_type')}); try again",
        backend=backend,
        detail={"prompt_id": data.get("prompt_id"), "node_id": data.get("node_id")},
    )


def vanished_prompt(prompt_id: str, *, backend: str) -> BackendError:
    """The prompt is neither queued, running nor in the history."""
    return BackendError(
        f"prompt {prompt_id} left ComfyUI's queue without running (deleted on the server, or "
        "the server restarted); try again",
        backend=backend,
    )


def history_failure(entry: Mapping[str, Any], *, backend: str) -> BackendError | None:
    """The error recorded in a ``/history`` entry's status messages, if the run failed."""
    status = entry.get("status") or {}
    for event, data in status.get("messages") or []:
        if event == "execution_error":
            return execution_error(data, backend=backend)
        if event == "execution_interrupted":
            return execution_interrupted(data, backend=backend)
    if status.get("status_str") == "error":
        return BackendError("ComfyUI reports the run failed without saying why", backend=backend)
    return None


def _node_errors(body: Any) -> Mapping[str, Mapping[str, Any]]:
    errors = body.get("node_errors") if isinstance(body, Mapping) else None
    return errors if isinstance(errors, Mapping) else {}
