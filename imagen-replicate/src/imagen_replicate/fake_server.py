"""A local stand-in for Replicate's HTTP API, for tests and benchmarks (needs aiohttp).

It speaks the parts of the real protocol imagen uses, with Replicate's real shapes: 201 on
create, the prediction object (``id``, ``model``, ``version``, ``input``, ``status``, ``output``,
``error``, ``logs``, ``metrics.predict_time``, ``urls`` with get/cancel/stream/web,
timestamps), ``Prefer: wait=N`` and ``Cancel-After``, RFC 7807 problem JSON
(``application/problem+json``) for errors, including 422 ``invalid_fields``. A ``Scenario``
says what it plays: how long predictions take, how they end, and which faults come first::

    fake = FakeReplicate(token="r8_test")
    with serve_app(fake.app()) as url:
        fake.scenario = Scenario(predict_time=1.0, create_faults=[429, 503])
        ...  # point ReplicateSettings(base_url=url) at it; inspect fake.calls afterwards

The record of calls, the token check, the fault queues (steps ``create``, ``poll``,
``download``) and holds come from ``imagen.testing.FakeServer``; this module is the protocol.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from imagen.testing.fakes import Call, FakeServer, Fault

ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
# FLUX 1.1 [pro] has no 21:9 or 9:21, and "custom" takes width and height instead.
PRO_ASPECT_RATIOS = ("custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3")
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}

# Official models (create by name), each with one made-up version id (create by version).
MODELS = {
    name: hashlib.sha256(name.encode()).hexdigest()
    for name in (
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-dev",
        "black-forest-labs/flux-1.1-pro",
    )
}


@attrs.frozen
class Prop:
    """One input property of a model's published schema (the checks Replicate makes)."""

    kind: str  # string | integer | number | boolean
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


_PROMPT, _SEED, _FLAG = Prop("string"), Prop("integer"), Prop("boolean")
_FORMAT = Prop("string", choices=("webp", "jpg", "png"))
_QUALITY = Prop("integer", 0, 100)
_MEGAPIXELS = Prop("string", choices=("1", "0.25"))
_OUTPUTS = Prop("integer", 1, 4)
_SIDE = Prop("integer", 256, 1440)

# Each model's input properties, from its published schema on Replicate (the model's API page,
# 2026-11). Anything else is refused the way Replicate refuses it (422, "Additional property X
# is not allowed"): FLUX 1.1 [pro] makes one image per prediction and has neither num_outputs
# nor num_inference_steps.
INPUTS: dict[str, dict[str, Prop]] = {
    "black-forest-labs/flux-schnell": {
        "prompt": _PROMPT, "seed": _SEED, "go_fast": _FLAG, "megapixels": _MEGAPIXELS,
        "num_outputs": _OUTPUTS, "aspect_ratio": Prop("string", choices=ASPECT_RATIOS),
        "output_format": _FORMAT, "output_quality": _QUALITY,
        "num_inference_steps": Prop("integer", 1, 4), "disable_safety_checker": _FLAG,
    },
    "black-forest-labs/flux-dev": {
        "prompt": _PROMPT, "seed": _SEED, "image": Prop("string"), "go_fast": _FLAG,
        "guidance": Prop("number", 0, 10), "megapixels": _MEGAPIXELS, "num_outputs": _OUTPUTS,
        "aspect_ratio": Prop("string", choices=ASPECT_RATIOS), "output_format": _FORMAT,
        "output_quality": _QUALITY, "prompt_strength": Prop("number", 0, 1),
        "num_inference_steps": Prop("integer", 1, 50), "disable_safety_checker": _FLAG,
    },
    "black-forest-labs/flux-1.1-pro": {
        "prompt": _PROMPT, "seed": _SEED, "width": _SIDE, "height": _SIDE,
        "aspect_ratio": Prop("string", choices=PRO_ASPECT_RATIOS), "image_prompt": Prop("string"),
        "output_format": _FORMAT, "output_quality": _QUALITY,
        "safety_tolerance": Prop("integer", 1, 6), "prompt_upsampling": _FLAG,
    },
}  # fmt: skip
# The models whose output schema is one URI (not an array of them).
SINGLE_OUTPUT = frozenset({"black-forest-labs/flux-1.1-pro"})


@attrs.define
class Scenario:
    """What the fake server plays. Fault lists are consumed in order, one per request."""

    predict_time: float = 0.0
    sync_cap: float = 60.0  # longest a ``Prefer: wait`` request is held
    outcome: str = "succeeded"  # succeeded | failed | canceled | aborted
    error: str | None = None  # the prediction's error text when it fails
    images: int | None = None  # images a success returns (default: num_outputs)
    output: str = "list"  # list | single | data
    seed_in_logs: int = 42  # the seed the "model" picks when the input has none
    prints_seed: bool = True  # FLUX logs "Using seed: N"; many other models log no seed
    # Real sync mode may answer a finished prediction as "processing" with its output already
    # set (the official client's run() notes this); True plays that on the held create.
    held_done_as_processing: bool = False
    create_faults: list[Fault] = attrs.field(factory=list)  # queued when the scenario is set
    poll_faults: list[Fault] = attrs.field(factory=list)
    download_faults: list[Fault] = attrs.field(factory=list)
    retry_after: str | None = None  # Retry-After header on 429 answers
    throttle_detail: str = (
        "Request was throttled. Your rate limit for creating predictions is reduced to 6 "
        "requests per minute with a burst of 1 requests until you add a payment method. "
        "Your rate limit resets in ~1s."
    )


@attrs.define
class _Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    scenario: Scenario
    created: float
    created_at: str
    cancel_after: float | None
    canceled: bool = False
    outputs: list[bytes] = attrs.field(factory=list)
    media_type: str = "image/png"

    def elapsed(self) -> float:
        return time.monotonic() - self.created

    def status(self) -> str:
        if self.canceled:
            return "canceled"
        elapsed = self.elapsed()
        if elapsed >= self.scenario.predict_time:
            return self.scenario.outcome
        if self.cancel_after is not None and elapsed >= self.cancel_after:
            self.canceled = True
            return "canceled"
        return "starting" if elapsed < min(0.05, self.scenario.predict_time / 2) else "processing"

    def remaining(self) -> float:
        return max(0.0, self.scenario.predict_time - self.elapsed())


class FakeReplicate(FakeServer):
    """The fake API. ``calls`` records every request; ``canceled`` the ids canceled by POST."""

    public_steps = frozenset({"download"})  # output files are served without the token

    def __init__(self, *, token: str = "r8_fake_token", scenario: Scenario | None = None) -> None:
        super().__init__(key=token)
        self.token = token
        self.canceled: list[str] = []
        self.predictions: dict[str, _Prediction] = {}
        self.expired = False  # answer 404 for every output file
        self._ids = itertools.count(1)
        self.scenario = scenario or Scenario()

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        """A new scenario replaces the faults still queued with its own."""
        self._scenario = scenario
        self.clear_faults()
        self.fail("create", *scenario.create_faults)
        self.fail("poll", *scenario.poll_faults)
        self.fail("download", *scenario.download_faults)

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("POST", "/v1/models/{owner}/{name}/predictions", self._create_by_model, name="create")
        add("POST", "/v1/predictions", self._create_by_version, name="create-version")
        add("GET", "/v1/predictions/{id}", self._get, name="poll")
        add("POST", "/v1/predictions/{id}/cancel", self._cancel, name="cancel")
        add("GET", "/files/{id}/{file}", self._file, name="download")

    def step_of(self, request: web.Request) -> str:
        # Both ways of creating a prediction share the create faults.
        step = super().step_of(request)
        return "create" if step == "create-version" else step

    def creates(self) -> list[Call]:
        """The create requests received (by model or by version)."""
        return self.calls_to("create")

    # -- the scaffold's hooks: Replicate's answers -----------------------------------------

    def authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth in (f"Bearer {self.token}", f"Token {self.token}")

    def refuse(self, request: web.Request) -> web.StreamResponse:
        return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")

    def fault(self, status: int, request: web.Request) -> web.StreamResponse:
        if status == 429:
            retry_after = self.scenario.retry_after
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _problem(429, "Request was throttled", self.scenario.throttle_detail, headers)
        if request.path.startswith("/files/"):
            return web.Response(status=status, text=f"{status}")
        title = "Internal Server Error" if status >= 500 else "Error"
        return _problem(status, title, "Something went wrong on our end, please try again.")

    def _object(self, prediction: _Prediction, base: str, *, held: bool = False) -> dict[str, Any]:
        status = prediction.status()
        output: Any = None
        error = None
        if status == "succeeded":
            output = self._output(prediction, base)
            if held and prediction.scenario.held_done_as_processing:
                status = "processing"
        elif status == "failed":
            error = prediction.scenario.error or "Prediction failed for an unknown reason"
        seed = prediction.input.get("seed", prediction.scenario.seed_in_logs)
        done = status in ("succeeded", "failed", "canceled", "aborted")
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version,
            "input": prediction.input,
            "logs": (f"Using seed: {seed}\n" if prediction.scenario.prints_seed else "")
            + "running quantized prediction\n",
            "output": output,
            "data_removed": False,
            "error": error,
            "source": "api",
            "status": status,
            "created_at": prediction.created_at,
            "started_at": prediction.created_at if status != "starting" else None,
            "completed_at": _now() if done else None,
            "urls": {
                "cancel": f"{base}/v1/predictions/{prediction.id}/cancel",
                "get": f"{base}/v1/predictions/{prediction.id}",
                "stream": f"{base}/v1/stream/{prediction.id}",
                "web": f"https://replicate.com/p/{prediction.id}",
            },
            "metrics": {"predict_time": round(prediction.scenario.predict_time, 3)} if done else {},
        }

    def _output(self, prediction: _Prediction, base: str) -> Any:
        ext = prediction.input.get("output_format", "webp")
        if prediction.scenario.output == "data":
            prefix = f"data:{prediction.media_type};base64,"
            urls = [prefix + base64.b64encode(data).decode() for data in prediction.outputs]
        else:
            count = len(prediction.outputs)
            urls = [f"{base}/files/{prediction.id}/out-{n}.{ext}" for n in range(count)]
        if prediction.scenario.output == "single" or prediction.model in SINGLE_OUTPUT:
            return urls[0] if urls else None
        return urls

    # -- endpoints -------------------------------------------------------------------------

    async def _create_by_model(self, request: web.Request) -> web.StreamResponse:
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in MODELS:
            return _problem(404, "Not found", "The requested resource could not be found.")
        return await self._create(request, model, "hidden")

    async def _create_by_version(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        version = str(body.get("version", "")).rsplit(":", 1)[-1]
        model = next((name for name, v in MODELS.items() if v == version), None)
        if model is None:
            detail = (
                "The specified version does not exist (or perhaps you don't have permission "
                "to use it?)"
            )
            return _problem(422, "Invalid version or not permitted", detail)
        return await self._create(request, model, version)

    async def _create(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = await request.json()
        values = body.get("input") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            invalid = [_invalid("required", "input", "input is required")]
        else:
            invalid = _validate(model, values)
        if invalid or not isinstance(values, dict):
            detail = "".join(f"- {item['field']}: {item['description']}\n" for item in invalid)
            extra = {"invalid_fields": invalid}
            return _problem(422, "Input validation failed", detail, extra=extra)
        scenario = attrs.evolve(self.scenario)  # later scenario changes do not touch this one
        prediction = _Prediction(
            id=f"fake{next(self._ids):04d}qk5rqprmsbx",
            model=model,
            version=version,
            input=values,
            scenario=scenario,
            created=time.monotonic(),
            created_at=_now(),
            cancel_after=_seconds(request.headers.get("Cancel-After")),
        )
        _render(prediction)
        self.predictions[prediction.id] = prediction
        wait = _prefer_wait(request.headers.get("Prefer"))
        if wait is not None:
            await asyncio.sleep(min(wait, scenario.sync_cap, prediction.remaining()))
        answer = self._object(prediction, _base(request), held=wait is not None)
        return web.json_response(answer, status=201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        prediction = self.predictions.get(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        return web.json_response(self._object(prediction, _base(request)))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        prediction = self.predictions.get(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if prediction.status() in ("starting", "processing"):
            prediction.canceled = True
        self.canceled.append(prediction.id)
        return web.json_response(self._object(prediction, _base(request)))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        prediction = self.predictions.get(request.match_info["id"])
        match = re.fullmatch(r"out-(\d+)\.\w+", request.match_info["file"])
        if self.expired or prediction is None or match is None:
            return web.Response(status=404, text="Not Found")
        index = int(match.group(1))
        if index >= len(prediction.outputs):
            return web.Response(status=404, text="Not Found")
        return web.Response(body=prediction.outputs[index], content_type=prediction.media_type)


def _validate(model: str, values: Mapping[str, Any]) -> list[dict[str, str]]:
    """Replicate's checks of a FLUX input against the model's schema, as ``invalid_fields``."""
    invalid = []
    known = INPUTS[model]
    for name in sorted(set(values) - set(known)):
        message = f"Additional property {name} is not allowed"
        invalid.append(_invalid("additional_property_not_allowed", "input", message))
    if "prompt" not in values:
        invalid.append(_invalid("required", "input", "prompt is required"))
    for name, prop in known.items():
        if name in values:
            invalid.extend(_check(f"input.{name}", values[name], prop))
    return invalid


def _check(field: str, value: Any, prop: Prop) -> list[dict[str, str]]:
    """JSON Schema's answer for one value (the wording of Replicate's validator)."""
    integer = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    typed = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": integer and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }[prop.kind]
    if not typed:
        given = {str: "string", bool: "boolean", int: "integer", float: "number"}
        message = f"Invalid type. Expected: {prop.kind}, given: {given.get(type(value), 'object')}"
        return [_invalid("invalid_type", field, message)]
    if prop.choices and value not in prop.choices:
        allowed = ", ".join(f'"{choice}"' for choice in prop.choices)
        name = field.removeprefix("input.")
        return [_invalid("enum", field, f"{name} must be one of the following: {allowed}")]
    if prop.low is not None and value < prop.low:
        return [_invalid("number_gte", field, f"Must be greater than or equal to {prop.low:g}")]
    if prop.high is not None and value > prop.high:
        return [_invalid("number_lte", field, f"Must be less than or equal to {prop.high:g}")]
    return []


def _invalid(kind: str, field: str, description: str) -> dict[str, str]:
    return {"type": kind, "field": field, "description": description}


def _render(prediction: _Prediction) -> None:
    """Small real images of the requested aspect ratio and format (64 px across a square)."""
    from PIL import Image

    values = prediction.input
    if values.get("aspect_ratio") == "custom":
        ratio = int(values.get("width", 1024)) / int(values.get("height", 1024))
    else:
        width_part, _, height_part = str(values.get("aspect_ratio", "1:1")).partition(":")
        ratio = float(width_part) / float(height_part)
    size = (round(64 * math.sqrt(ratio)), round(64 / math.sqrt(ratio)))
    pil_format, media_type = FORMATS[str(values.get("output_format", "webp"))]
    asked = int(values.get("num_outputs", 1))
    count = asked if prediction.scenario.images is None else prediction.scenario.images
    seed = int(values.get("seed", prediction.scenario.seed_in_logs))
    for n in range(count):
        colour = ((seed * 37 + n * 91) % 256, (seed * 17) % 256, (n * 53 + 99) % 256)
        buffer = io.BytesIO()
        Image.new("RGB", size, colour).save(buffer, format=pil_format)
        prediction.outputs.append(buffer.getvalue())
    prediction.media_type = media_type


def _problem(
    status: int,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    body = {"title": title, "detail": detail, "status": status, **(extra or {})}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def _prefer_wait(header: str | None) -> float | None:
    """``Prefer: wait`` (60 s) or ``Prefer: wait=N``; None without it."""
    if not header:
        return None
    match = re.search(r"\bwait(?:=(\d+))?", header)
    if match is None:
        return None
    return float(match.group(1)) if match.group(1) else 60.0


def _seconds(header: str | None) -> float | None:
    """A ``Cancel-After`` duration such as ``90s``, ``5m`` or ``1h30m``."""
    if not header:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)([smhd]?)", header):
        total += float(number) * units[unit or "s"]
    return total or None


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
