"""What a user reads for each answer a real ComfyUI 0.8.0 gives when it refuses or fails a run.

The bodies and events are the recorded ones in ``captures/``; the odd shapes after them are
what a proxy in front of ComfyUI, or an older server, may answer instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagen.errors import BackendError, InvalidRequest
from imagen_comfyui.failures import (
    MissingFile,
    MissingModel,
    execution_error,
    execution_interrupted,
    history_failure,
    missing_model_error,
    missing_models,
    rejected_prompt,
    vanished_prompt,
)

CAPTURES = Path(__file__).with_name("captures")
REJECTED = "local: ComfyUI rejected the workflow: "


def recorded(name: str) -> Any:
    return json.loads((CAPTURES / f"{name}.json").read_text())["response"]["json"]


def event(name: str, kind: str) -> dict[str, Any]:
    for line in (CAPTURES / f"{name}.jsonl").read_text().splitlines():
        frame = json.loads(line)
        if isinstance(frame.get("data"), dict) and frame["data"].get("type") == kind:
            return frame["data"]["data"]  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} in {name}")


@pytest.mark.parametrize(
    ("name", "message", "fields"),
    [
        ("28-post-prompt-invalid-unknown-class_type",
         "Cannot execute because node NoSuchNode does not exist. (Node ID '#1')", {}),
        ("29-post-prompt-invalid-missing-input",
         "Prompt outputs failed validation; node 1 (EmptyImage): Required input is missing: color",
         {"1.color": "Required input is missing"}),
        # the error's details repeat the node's error: said once
        ("30-post-prompt-invalid-missing-linked-input",
         "Prompt outputs failed validation; node 2 (SaveImage): Required input is missing: images",
         {"2.images": "Required input is missing"}),
        ("33-post-prompt-invalid-link-to-missing-node",
         "Prompt outputs failed validation; node 2 (SaveImage): Exception when validating node: "
         "'99'", {"2": "Exception when validating node"}),
        ("35-post-prompt-invalid-loadimage-missing-file",
         "Prompt outputs failed validation; node 1 (LoadImage): Custom validation failed for "
         "node: image - Invalid image file: does-not-exist.png",
         {"1.image": "Custom validation failed for node"}),
        ("38-post-prompt-invalid-no-prompt-key", "No prompt provided", {}),
    ],
)  # fmt: skip
def test_a_rejected_prompt_reads_as_the_server_said_it_on_one_line(
    name: str, message: str, fields: dict[str, str]
) -> None:
    body = recorded(name)
    error = rejected_prompt(body, backend="local")
    assert isinstance(error, InvalidRequest)
    assert str(error) == REJECTED + message
    assert error.backend == "local"
    assert error.fields == fields
    assert error.detail == {"error": body["error"], "node_errors": body["node_errors"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"type": "no_prompt"}, "node_errors": {}}, "no_prompt"),
        ({"error": {"details": "Node ID '#4'"}}, "invalid workflow (Node ID '#4')"),
        ({"error": "Bad Request"}, "Bad Request"),
        ({}, "invalid workflow"),
        ("400: Bad Request", "invalid workflow"),  # a proxy's plain text
    ],
)
def test_a_rejection_without_comfyuis_usual_fields_still_says_something(
    body: Any, message: str
) -> None:
    error = rejected_prompt(body, backend="local")
    assert str(error) == REJECTED + message
    assert error.fields == {}


def test_a_node_error_without_a_message_or_class_type_is_named_by_what_there_is() -> None:
    body = {
        "error": {"message": "Prompt outputs failed validation"},
        "node_errors": {
            "5": {"errors": [{"type": "value_not_in_list", "extra_info": {"input_name": "ckpt"}}]},
            "6": {"class_type": "Odd", "errors": [{"details": "it broke"}]},
            "7": {"class_type": "LoadImage",
                  "errors": [{"message": "Invalid image file: x.png", "details": "x.png"}]},
        },
    }  # fmt: skip
    error = rejected_prompt(body, backend="local")
    assert str(error) == REJECTED + (
        "Prompt outputs failed validation; node 5 (?): value_not_in_list; "
        "node 6 (Odd): invalid: it broke; node 7 (LoadImage): Invalid image file: x.png"
    )
    assert error.fields == {"5.ckpt": "value_not_in_list", "6": "invalid",
                            "7": "Invalid image file: x.png"}  # fmt: skip


def test_a_secret_echoed_in_a_rejection_is_in_neither_message_fields_nor_detail() -> None:
    secret = "proxy-pass-hunter2-value"
    body = {
        "error": {"message": f"denied for {secret}", "details": ""},
        "node_errors": {"1": {"class_type": "X", "errors": [{
            "message": f"bad header {secret}", "extra_info": {"input_name": "text"}}]}},
    }  # fmt: skip
    error = rejected_prompt(body, backend="local", secrets=[secret])
    assert secret not in str(error)
    assert secret not in json.dumps(error.fields)
    assert secret not in json.dumps(error.detail)
    assert error.fields == {"1.text": "bad header ***"}


def test_a_long_rejection_is_cut_to_600_characters_of_the_servers_text() -> None:
    node = {"class_type": "EmptyImage", "errors": [{"message": "too-long " * 120}]}
    body = {"error": {"message": "Prompt outputs failed validation"}, "node_errors": {"1": node}}
    quoted = str(rejected_prompt(body, backend="local")).removeprefix(REJECTED)
    assert len(quoted) == 600
    assert quoted.startswith(
        "Prompt outputs failed validation; node 1 (EmptyImage): too-long too-long"
    )
    assert quoted.endswith("...")


def test_a_node_failing_while_running_names_node_type_and_exception() -> None:
    data = event("ws-runtime-error-loadimage-abc", "execution_error")
    error = execution_error(data, backend="local")
    assert type(error) is BackendError
    assert str(error) == (
        "local: ComfyUI failed in node 1 (LoadImage): PIL.UnidentifiedImageError: cannot "
        "identify image file '/srv/comfyui/input/not-an-image.png'"
    )
    assert error.detail == {
        "prompt_id": data["prompt_id"], "node_id": "1", "node_type": "LoadImage",
        "exception_type": "PIL.UnidentifiedImageError",
        "exception_message": data["exception_message"],
    }  # fmt: skip


def test_a_failure_without_an_exception_still_names_the_node() -> None:
    error = execution_error({"node_id": "3", "node_type": "KSampler"}, backend="local")
    assert str(error) == "local: ComfyUI failed in node 3 (KSampler): error: "


def test_a_run_stopped_on_the_server_says_where_and_to_try_again() -> None:
    data = event("ws-queue-delete-interrupt-abc", "execution_interrupted")
    error = execution_interrupted(data, backend="local")
    assert str(error) == (
        "local: the run was interrupted on the ComfyUI server at node 4 (SaveImage); try again"
    )
    assert error.detail == {"prompt_id": data["prompt_id"], "node_id": "4"}


def test_a_prompt_gone_from_the_queue_says_why_it_may_be_and_to_try_again() -> None:
    error = vanished_prompt("p-1", backend="local")
    assert str(error) == (
        "local: prompt p-1 left ComfyUI's queue without running (deleted on the server, or the "
        "server restarted); try again"
    )
    assert error.backend == "local"


def test_the_history_of_a_failed_or_stopped_run_gives_its_error_and_a_finished_one_none() -> None:
    (failed,) = recorded("27-get-history-runtime-error").values()
    (stopped,) = recorded("48-get-history-interrupted-A").values()
    (finished,) = recorded("10-get-history-emptyimage").values()
    assert str(history_failure(failed, backend="b")).startswith(
        "b: ComfyUI failed in node 1 (LoadImage)"
    )
    assert str(history_failure(stopped, backend="b")).startswith(
        "b: the run was interrupted on the ComfyUI server at node 4"
    )
    assert history_failure(finished, backend="b") is None
    silent = history_failure({"status": {"status_str": "error", "messages": None}}, backend="b")
    assert str(silent) == "b: ComfyUI reports the run failed without saying why"
    assert history_failure({"outputs": {}}, backend="b") is None  # an old server: no status


def loader_error(value: str, *, kind: str = "value_not_in_list") -> dict[str, Any]:
    return {"type": kind, "message": "Value not in list", "details": "",
            "extra_info": {"input_name": "ckpt_name", "received_value": value}}  # fmt: skip


def test_a_missing_model_is_found_on_a_loader_after_other_nodes_errors() -> None:
    body = {"node_errors": {
        "1": {"class_type": "EmptyImage", "errors": [{"type": "value_smaller_than_min"}]},
        "30": {"class_type": "CheckpointLoaderSimple", "errors": [loader_error("a.safetensors")]},
        "31": {"class_type": "CheckpointLoaderSimple",
               "errors": [loader_error("", kind="required_input_missing")]},
    }}  # fmt: skip
    assert missing_models(body) == [
        MissingModel("30", "CheckpointLoaderSimple", "ckpt_name", "a.safetensors")
    ]


def missing(node: str, asked: str, setting: str | None, *available: str) -> MissingFile:
    return MissingFile(MissingModel(node, "UNETLoader", "unet_name", asked), available, setting)


def test_one_missing_model_file_says_what_the_server_has_and_where_to_change_it() -> None:
    error = missing_model_error([missing("12", "a.sft", None, "b.sft")], backend="local")
    assert str(error) == (
        "local: ComfyUI has no model file 'a.sft' for UNETLoader.unet_name (node 12); it has: "
        "b.sft. Put the file in ComfyUI's models folder or change it in your workflow"
    )
    assert error.backend == "local"
    assert error.detail == {
        "missing": [{"node": "12", "class_type": "UNETLoader", "input": "unet_name",
                     "asked": "a.sft", "available": ["b.sft"], "setting": None}],
        "available": ["b.sft"],
    }  # fmt: skip


def test_several_missing_files_say_which_settings_change_them() -> None:
    files = [missing("1", "a", "x.unet", "c"), missing("2", "b", "x.vae"), missing("3", "d", None)]
    some = missing_model_error(files, backend="local")
    none = missing_model_error([missing("3", "d", None), missing("4", "e", None)], backend="local")
    assert str(some).endswith(
        "or set x.unet, x.vae in the config and change the others in your workflow"
    )
    assert str(none).endswith(
        "Put the files in ComfyUI's models folders or change them in your workflow"
    )
    assert some.backend == "local"
    assert some.detail == {"missing": [
        {"node": "1", "class_type": "UNETLoader", "input": "unet_name", "asked": "a",
         "available": ["c"], "setting": "x.unet"},
        {"node": "2", "class_type": "UNETLoader", "input": "unet_name", "asked": "b",
         "available": [], "setting": "x.vae"},
        {"node": "3", "class_type": "UNETLoader", "input": "unet_name", "asked": "d",
         "available": [], "setting": None},
    ]}  # fmt: skip
