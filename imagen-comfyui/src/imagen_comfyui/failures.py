"""ComfyUI's own error shapes, turned into imagen's errors with one-line messages.

- ``POST /prompt`` answers 400 with ``{"error": {type, message, details}, "node_errors":
  {node_id: {"class_type", "errors": [{type, message, details, extra_info}]}}}``;
- a run that fails sends ``execution_error`` (node id and type, exception type and message);
- a run stopped on the server sends ``execution_interrupted``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imagen.adapters import one_line, remote_text, scrub
from imagen.errors import BackendError, InvalidRequest


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


@attrs.frozen
class MissingFile:
    """A missing model file with what the server has for its loader and the key that sets it."""

    missing: MissingModel
    available: tuple[str, ...]
    setting: str | None


def missing_model_error(found: Sequence[MissingFile], *, backend: str) -> InvalidRequest:
    """Names every file asked for (sorted by name), what the server has, and where to change it.

    One line however many are missing: the split workflows load four files, and a fresh server
    often lacks all of them.
    """
    ordered = sorted(found, key=lambda f: (f.missing.asked, f.missing.node, f.missing.input))
    fields = {
        f"{f.missing.node}.{f.missing.input}": f"{f.missing.asked!r} not on the server"
        for f in ordered
    }
    detail = {
        "missing": [
            {**attrs.asdict(f.missing), "available": list(f.available), "setting": f.setting}
            for f in ordered
        ]
    }
    if len(ordered) == 1:
        (only,) = ordered
        where = "change it in your workflow"
        if only.setting:
            where = f"set {only.setting} in the config"
        return InvalidRequest(
            f"ComfyUI has no model file {only.missing.asked!r} for {_loader(only)}; it has: "
            f"{_has(only)}. Put the file in ComfyUI's models folder or {where}",
            backend=backend,
            fields=fields,
            detail={**detail, "available": list(only.available)},
        )
    settings = list(dict.fromkeys(f.setting for f in ordered if f.setting))
    if len(settings) == len(ordered):
        where = f"set {', '.join(settings)} in the config"
    elif settings:
        where = f"set {', '.join(settings)} in the config and change the others in your workflow"
    else:
        where = "change them in your workflow"
    files = "; ".join(
        f"{f.missing.asked!r} for {_loader(f)}, which has: {_has(f)}" for f in ordered
    )
    return InvalidRequest(
        f"ComfyUI has none of these {len(ordered)} model files: {files}. Put the files in "
        f"ComfyUI's models folders or {where}",
        backend=backend,
        fields=fields,
        detail=detail,
    )


def _loader(found: MissingFile) -> str:
    return f"{found.missing.class_type}.{found.missing.input} (node {found.missing.node})"


def _has(found: MissingFile) -> str:
    return one_line(", ".join(found.available) if found.available else "none")


def rejected_prompt(body: Any, *, backend: str, secrets: Sequence[str] = ()) -> InvalidRequest:
    """A 400 from ``/prompt``: the error, then each node's errors with its id and type.

    Everything quoted is scrubbed of ``secrets`` (the proxy's headers, which a proxy in front of
    ComfyUI may echo) before it is cut or kept in ``detail``.
    """
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
    kept = {"error": error, "node_errors": _node_errors(body)}
    return InvalidRequest(
        "ComfyUI rejected the workflow: "
        + remote_text("; ".join(parts), secrets=secrets, limit=600),
        backend=backend,
        fields={name: remote_text(text, secrets=secrets) for name, text in fields.items()},
        detail=json.loads(scrub(json.dumps(kept, default=str), secrets)),
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
