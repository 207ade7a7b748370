"""ComfyUI's prompt validation (``execution.validate_prompt``), with its exact error shapes.

Node definitions are the real ones from ComfyUI 0.8.0's ``/object_info`` (``object_info.json``
beside this file, trimmed to the nodes the fake runs); combo inputs of loaders list the model
files the fake server was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Reasons = list[dict[str, Any]]


def _error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def validate_prompt(
    prompt: Mapping[str, Any], nodes: Mapping[str, Any], input_files: list[str]
) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
    """``(valid, error, outputs to run, node_errors)`` as ComfyUI's ``validate_prompt`` returns."""
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            error = _error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
            return False, error, [], {}
        if node["class_type"] not in nodes:
            error = _error(
                "invalid_prompt",
                f"Cannot execute because node {node['class_type']} does not exist.",
                f"Node ID '#{node_id}'",
            )
            return False, error, [], {}
    outputs = [key for key, node in prompt.items() if nodes[node["class_type"]]["output_node"]]
    if not outputs:
        return False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}

    validator = _Validator(prompt, nodes, input_files)
    good: list[str] = []
    own_reasons: list[dict[str, Any]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            valid, reasons = validator.inputs(output)
        except Exception as exception:
            valid = False
            reasons = [
                _error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(exception),
                    exception_type=type(exception).__qualname__,
                    traceback=['  File "execution.py", in validate_inputs\n'],
                )
            ]
            validator.validated[output] = (False, reasons)
        if valid:
            good.append(output)
            continue
        own_reasons.extend(reasons)
        for node_id, (node_valid, node_reasons) in validator.validated.items():
            if node_valid or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {"errors": node_reasons, "dependent_outputs": [],
                 "class_type": prompt[node_id]["class_type"]},
            )  # fmt: skip
            entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{reason['message']}: {reason['details']}" for reason in own_reasons)
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                       details)  # fmt: skip
        return False, error, [], node_errors
    return True, None, good, node_errors


class _Validator:
    def __init__(
        self, prompt: Mapping[str, Any], nodes: Mapping[str, Any], input_files: list[str]
    ) -> None:
        self.prompt = prompt
        self.nodes = nodes
        self.input_files = input_files
        self.validated: dict[str, tuple[bool, Reasons]] = {}

    def inputs(self, node_id: str) -> tuple[bool, Reasons]:
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        definition = self.nodes[node["class_type"]]
        given = node["inputs"]  # KeyError for a node without inputs, as in ComfyUI
        errors: Reasons = []
        valid = True
        declared = definition["input"]
        checks = [(name, spec, True) for name, spec in declared.get("required", {}).items()]
        checks += [(name, spec, False) for name, spec in declared.get("optional", {}).items()]
        for name, spec, required in checks:
            if name not in given:
                if required:
                    errors.append(_error("required_input_missing", "Required input is missing",
                                         name, input_name=name))  # fmt: skip
                continue
            value = given[name]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(_error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name, input_name=name, input_config=spec, received_value=value,
                    ))  # fmt: skip
                    continue
                # As in ComfyUI, a link to a missing node (KeyError) or past the upstream node's
                # outputs (IndexError, TypeError) is an exception, not a validation error.
                upstream = self.prompt[value[0]]
                received = tuple(self.nodes[upstream["class_type"]]["output"])[value[1]]
                if isinstance(spec[0], str) and spec[0] != "*" and received != spec[0]:
                    errors.append(_error(
                        "return_type_mismatch", "Return type mismatch between linked nodes",
                        f"{name}, received_type({received}) mismatch input_type({spec[0]})",
                        input_name=name, input_config=spec, received_type=received,
                        linked_node=value,
                    ))  # fmt: skip
                    continue
                try:
                    if not self.inputs(value[0])[0]:
                        valid = False
                except Exception as exception:
                    # ComfyUI pins an exception inside an upstream node on that node.
                    valid = False
                    self.validated[value[0]] = (False, [_error(
                        "exception_during_inner_validation", "Exception when validating inner node",
                        str(exception), input_name=name, input_config=spec,
                        exception_message=str(exception),
                        exception_type=type(exception).__qualname__,
                        traceback=['  File "execution.py", in validate_inputs\n'],
                        linked_node=value,
                    )])  # fmt: skip
                continue
            error = self._scalar(node["class_type"], name, spec, value)
            if error is not None:
                errors.append(error)
        result = (not errors and valid, errors)
        self.validated[node_id] = result
        return result

    def _scalar(
        self, class_type: str, name: str, spec: list[Any], value: Any
    ) -> dict[str, Any] | None:
        kind = spec[0]
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            convert = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}[kind]
            try:
                value = convert(value)
            except Exception as exception:
                return _error(
                    "invalid_input_type", f"Failed to convert an input value to a {kind} value",
                    f"{name}, {value}, {exception}", input_name=name, input_config=spec,
                    received_value=value, exception_message=str(exception),
                )  # fmt: skip
            if "min" in options and value < options["min"]:
                return _error("value_smaller_than_min",
                              f"Value {value} smaller than min of {options['min']}", name,
                              input_name=name, input_config=spec, received_value=value)  # fmt: skip
            if "max" in options and value > options["max"]:
                return _error("value_bigger_than_max",
                              f"Value {value} bigger than max of {options['max']}", name,
                              input_name=name, input_config=spec, received_value=value)  # fmt: skip
            return None
        if class_type == "LoadImage" and name == "image":
            if value not in self.input_files:
                return _error("custom_validation_failed", "Custom validation failed for node",
                              f"image - Invalid image file: {value}", input_name=name)  # fmt: skip
            return None
        # As ComfyUI: a list input's choices are the list, a COMBO input's are its options.
        choices = options.get("options", []) if kind == "COMBO" else kind
        if isinstance(choices, list) and value not in choices:
            listed = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
            return _error(
                "value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                input_name=name, input_config=None if len(choices) > 20 else spec,
                received_value=value,
            )  # fmt: skip
        return None
