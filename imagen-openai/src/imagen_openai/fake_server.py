"""A loopback stand-in for the OpenAI Images API (and an Azure OpenAI deployment), for tests and
benchmarks: ``with serve_app(FakeOpenAI(key=KEY).app()) as url: ...`` with ``base_url=url + "/v1"``.

It checks requests the way the API does, with its own copy of the published rules (not the
adapter's table, so the two check each other): the key (``Authorization: Bearer`` on OpenAI,
``api-key`` and ``api-version`` on Azure), known parameters and values, sizes per model family,
``n``, formats and compression, transparent backgrounds, multipart edits with ``image[]``. It
answers with real images of the asked size and format, ``usage`` tokens, and server-sent events
(partial images, then the final image) when ``stream`` is true; or, as some compatible servers
do, with image URLs (``fake.serve_urls()``) on its own origin or on a file host beside it
(``fake.files_app()`` on another port), recording the headers each download came with.
Errors have the API's shape, ``{"error": {"message", "type", "param", "code"}}``. Scripted
faults (``fake.then(...)``) play 429s with ``Retry-After``, ``insufficient_quota``, 5xx,
dropped connections, oversized and slow answers, and errors in the middle of a stream.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from aiohttp import web

FIXED = ("1024x1024", "1536x1024", "1024x1536", "auto")
QUALITIES = ("low", "medium", "high", "auto")
#: model -> (family, qualities); gpt-image-2.5-flare stands for a model newer than the adapter.
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gpt-image-1": ("fixed", QUALITIES),
    "gpt-image-1-mini": ("fixed", QUALITIES),
    "gpt-image-1.5": ("fixed", QUALITIES),
    "gpt-image-2": ("free", QUALITIES),
    "gpt-image-2-2026-04-21": ("free", QUALITIES),
    "gpt-image-2.5-flare": ("free", (*QUALITIES, "xhigh", "max")),
}
KNOWN = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "stream",
    "partial_images",
    "user",
    "input_fidelity",
}
#: GPT Image models take reference images of less than 50 MB each (the API reference).
MAX_IMAGE_BYTES = 50 * 1024 * 1024
#: output tokens of a 1024x1024 image per quality (OpenAI's published counts).
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}

Answer = Callable[["web.Request"], Awaitable["web.StreamResponse"]]
#: ``render(width, height, output_format, transparent)`` -> the image, base64-encoded.
Render = Callable[[int, int, str, bool], str]


@attrs.define
class Call:
    """One request as the fake received it: the path, headers and the parsed fields."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    fields: dict[str, Any]
    images: list[tuple[str, str, int]] = attrs.field(factory=list)  # name, type, size


class Invalid(Exception):
    def __init__(self, param: str | None, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param, self.code = param, code


def error(
    status: int,
    message: str,
    kind: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    from aiohttp import web

    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


class FakeOpenAI:
    """The fake. ``calls`` records every request; ``then(*answers)`` queues scripted answers
    played before the real one; ``delay`` holds each real answer that many seconds; ``render``
    draws the images (a benchmark passes one that hands back images made in advance)."""

    def __init__(
        self, *, key: str, deployments: tuple[str, ...] = ("images",), render: Render | None = None
    ) -> None:
        self.key, self.deployments = key, deployments
        self.calls: list[Call] = []
        self.scripted: deque[Answer] = deque()
        self.delay = 0.0
        self.render: Render = render or _render
        self.urls: str | None = None  # answer with URLs under this base ("" for the own origin)
        self.files: dict[str, bytes] = {}
        self.redirect_files: str | None = None  # the own origin's files redirect there
        self.downloads: list[dict[str, str]] = []  # the headers of each file request
        self.files_held: threading.Event | None = None  # files wait until it is set

    def app(self) -> web.Application:
        from aiohttp import web

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/images/{kind}", self.openai)
        app.router.add_post("/openai/deployments/{deployment}/images/{kind}", self.azure)
        app.router.add_get("/files/{name}", self.file)
        return app

    def files_app(self) -> web.Application:
        """The same files on their own (serve it on another port: another origin, a CDN)."""
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/files/{name}", self.file)
        return app

    def serve_urls(self, at: str = "") -> None:
        """Answer with ``data: [{"url": ...}]`` under ``at`` (this server's origin if empty)."""
        self.urls = at

    def then(self, *answers: Answer) -> None:
        self.scripted.extend(answers)

    async def file(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self.downloads.append(dict(request.headers))
        if self.files_held is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.files_held.wait, 30)
        name = request.match_info["name"]
        elsewhere = self.redirect_files
        if elsewhere is not None and str(request.url.origin()) != elsewhere.rstrip("/"):
            raise web.HTTPFound(f"{self.redirect_files}/files/{name}")
        if name not in self.files:
            return web.Response(status=404, text="no such file")
        kind = {"jpeg": "image/jpeg", "webp": "image/webp"}.get(name.rpartition(".")[2])
        return web.Response(body=self.files[name], content_type=kind or "image/png")

    # -- scripted answers -------------------------------------------------------------------

    @staticmethod
    def rate_limited(retry_after: str = "0", retry_after_ms: str | None = None) -> Answer:
        """A 429 with ``Retry-After`` in seconds and, as OpenAI and Azure send it, the finer
        ``retry-after-ms`` when given."""
        headers = {"Retry-After": retry_after}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms

        async def answer(request: web.Request) -> web.StreamResponse:
            return error(
                429,
                "Rate limit reached for gpt-image-2 on images per minute (IPM): "
                "Limit 5, Used 5, Requested 1.",
                "requests",
                None,
                "rate_limit_exceeded",
                headers,
            )

        return answer

    @staticmethod
    def out_of_quota() -> Answer:
        async def answer(request: web.Request) -> web.StreamResponse:
            return error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                None,
                "insufficient_quota",
                {"Retry-After": "0"},
            )

        return answer

    @staticmethod
    def server_error(status: int = 500) -> Answer:
        async def answer(request: web.Request) -> web.StreamResponse:
            return error(
                status,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )

        return answer

    @staticmethod
    def dropped() -> Answer:
        async def answer(request: web.Request) -> web.StreamResponse:
            from aiohttp import web

            await request.read()
            assert request.transport is not None
            request.transport.close()  # the connection goes away without an answer
            return web.Response()

        return answer

    @staticmethod
    def oversized(size: int) -> Answer:
        async def answer(request: web.Request) -> web.StreamResponse:
            from aiohttp import web

            filler = base64.b64encode(b"\0" * size).decode()
            return web.json_response({"created": 0, "data": [{"b64_json": filler}]})

        return answer

    @staticmethod
    def stream_failure(code: str, message: str, kind: str = "server_error") -> Answer:
        """A stream that sends one partial image, then an ``error`` event."""

        async def answer(request: web.Request) -> web.StreamResponse:
            from aiohttp import web

            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            kind_of_event = "image_generation.partial_image"
            partial = {
                "type": kind_of_event,
                "partial_image_index": 0,
                "b64_json": _render(64, 64, "png", False),
            }
            await _event(response, kind_of_event, partial)
            failure = {
                "type": "error",
                "error": {"message": message, "type": kind, "code": code, "param": None},
            }
            await _event(response, "error", failure)
            return response

        return answer

    # -- the API ----------------------------------------------------------------------------

    async def openai(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer "):
            return error(
                401,
                "You didn't provide an API key. You need to provide your API key "
                "in an Authorization header using Bearer auth.",
                "invalid_request_error",
            )
        if given != f"Bearer {self.key}":
            # The real API masks the key; this one echoes it whole, so tests prove it is hidden.
            return error(
                401,
                f"Incorrect API key provided: {given[7:]}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                "invalid_api_key",
            )
        return await self.images(request, request.match_info["kind"])

    async def azure(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        if request.headers.get("api-key") != self.key:
            body = {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid "
                    "subscription key or wrong API endpoint.",
                }
            }
            return web.json_response(body, status=401)
        if "api-version" not in request.query:
            body = {"error": {"code": "404", "message": "Resource not found"}}
            return web.json_response(body, status=404)
        if request.match_info["deployment"] not in self.deployments:
            body = {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            }
            return web.json_response(body, status=404)
        return await self.images(request, request.match_info["kind"])

    async def images(self, request: web.Request, kind: str) -> web.StreamResponse:
        from aiohttp import web

        if kind not in ("generations", "edits"):
            return error(404, f"Invalid URL (POST {request.path})", "invalid_request_error")
        call = Call(request.path, dict(request.query), dict(request.headers), {})
        self.calls.append(call)
        try:
            await (
                self._read_form(request, call)
                if kind == "edits"
                else self._read_json(request, call)
            )
            fields = _validate(call.fields, edits=kind == "edits", images=len(call.images))
        except Invalid as problem:
            return error(400, str(problem), "invalid_request_error", problem.param, problem.code)
        if self.scripted:
            return await self.scripted.popleft()(request)
        if "forbidden" in fields["prompt"].lower():
            return error(
                400,
                "Your request was rejected as a result of our safety system. "
                "Your request may contain content that is not allowed by our safety "
                "system.",
                "image_generation_user_error",
                None,
                "moderation_blocked",
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        width, height = _pixels(fields["size"])
        fmt, transparent = fields["output_format"], fields["background"] == "transparent"
        images = [
            await asyncio.to_thread(self.render, width, height, fmt, transparent)
            for _ in range(fields["n"])
        ]
        quality = "medium" if fields["quality"] == "auto" else fields["quality"]
        output = round(OUTPUT_TOKENS[quality] * width * height / 1024**2) * fields["n"]
        text = max(1, len(fields["prompt"].split()))
        image_in = 323 * len(call.images)
        usage = {
            "input_tokens": text + image_in,
            "output_tokens": output,
            "total_tokens": text + image_in + output,
            "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
        }
        if fields["stream"]:
            return await self._stream(request, kind, fields, images, usage)
        data = [{"b64_json": image, "revised_prompt": fields["prompt"]} for image in images]
        if self.urls is not None:
            base = self.urls or str(request.url.origin())
            for item in data:
                name = f"img-{len(self.files)}.{fmt}"
                self.files[name] = base64.b64decode(item.pop("b64_json"))
                item["url"] = f"{base}/files/{name}"
        return web.json_response(
            {
                "created": 1767225600,
                "data": data,
                "usage": usage,
                "size": f"{width}x{height}",
                "quality": quality,
                "output_format": fmt,
                "background": fields["background"],
            }
        )

    async def _stream(
        self,
        request: web.Request,
        kind: str,
        fields: dict[str, Any],
        images: list[str],
        usage: dict[str, Any],
    ) -> web.StreamResponse:
        from aiohttp import web

        prefix = "image_edit" if kind == "edits" else "image_generation"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        width, height = _pixels(fields["size"])
        for image in images:
            for index in range(fields["partial_images"]):
                partial = await asyncio.to_thread(
                    self.render, width // 4, height // 4, "png", False
                )
                await _event(
                    response,
                    f"{prefix}.partial_image",
                    {
                        "type": f"{prefix}.partial_image",
                        "partial_image_index": index,
                        "b64_json": partial,
                        "size": fields["size"],
                    },
                )
            await _event(
                response,
                f"{prefix}.completed",
                {
                    "type": f"{prefix}.completed",
                    "b64_json": image,
                    "usage": usage,
                    "size": f"{width}x{height}",
                    "output_format": fields["output_format"],
                },
            )
        return response

    async def _read_json(self, request: web.Request, call: Call) -> None:
        if request.content_type != "application/json":
            raise Invalid(None, "Invalid Content-Type header (expected application/json)")
        try:
            call.fields = await request.json()
        except ValueError:
            raise Invalid(None, "We could not parse the JSON body of your request.") from None

    async def _read_form(self, request: web.Request, call: Call) -> None:
        if not request.content_type.startswith("multipart/"):
            raise Invalid(None, "Invalid Content-Type header (expected multipart/form-data)")
        from aiohttp import BodyPartReader

        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: the API takes none
            name = part.name or ""
            data = await part.read()
            if name in ("image", "image[]"):
                kind = part.headers.get("Content-Type", "")
                if kind not in ("image/png", "image/jpeg", "image/webp"):
                    raise Invalid(
                        name,
                        f"Invalid file '{name}': unsupported mimetype ('{kind}'). "
                        "Supported file formats are 'image/jpeg', 'image/png', and "
                        "'image/webp'.",
                        "unsupported_file_mimetype",
                    )
                if len(data) >= MAX_IMAGE_BYTES:
                    raise Invalid(
                        name,
                        f"Invalid file '{name}': each image must be less than 50 MB.",
                        "image_too_large",
                    )
                call.images.append((getattr(part, "filename", "") or "", kind, len(data)))
            else:
                call.fields[name] = _form_value(name, data.decode())


def _form_value(name: str, text: str) -> Any:
    if name in ("n", "output_compression", "partial_images"):
        try:
            return int(text)
        except ValueError:
            raise Invalid(
                name, f"Invalid type for '{name}': expected an integer.", "invalid_type"
            ) from None
    if name == "stream":
        return text == "true"
    return text


def _validate(given: Mapping[str, Any], *, edits: bool, images: int) -> dict[str, Any]:
    """The request's fields with the API's defaults, or Invalid naming the first bad one."""
    for name in given:
        if name not in KNOWN:
            raise Invalid(name, f"Unknown parameter: '{name}'.", "unknown_parameter")
    fields = {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "output_format": "png",
        "background": "auto",
        "moderation": "auto",
        "stream": False,
        "partial_images": 0,
        **given,
    }
    model = fields.get("model")
    if model not in MODELS:
        raise Invalid(
            "model",
            f"Invalid value: '{model}'. Supported values are: "
            f"{', '.join(repr(m) for m in MODELS)}.",
        )
    family, qualities = MODELS[model]
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 32000:
        raise Invalid("prompt", "Invalid 'prompt': expected a string of 1 to 32000 characters.")
    if edits and not 1 <= images <= 16:
        raise Invalid("image", f"Expected 1 to 16 images, got {images}.")
    if not isinstance(fields["n"], int) or not 1 <= fields["n"] <= 10:
        raise Invalid(
            "n",
            f"Invalid 'n': integer below minimum value. Expected a value >= 1 "
            f"and <= 10, but got {fields['n']!r} instead.",
        )
    _one_of(fields, "quality", qualities)
    _one_of(fields, "output_format", ("png", "jpeg", "webp"))
    _one_of(fields, "background", ("auto", "opaque", "transparent"))
    _one_of(fields, "moderation", ("auto", "low"))
    if "output_compression" in given:
        if fields["output_format"] == "png":
            raise Invalid(
                "output_compression",
                "Compression is only supported for the jpeg and webp output formats.",
            )
        if not 0 <= fields["output_compression"] <= 100:
            raise Invalid("output_compression", "Invalid 'output_compression': expected 0-100.")
    if fields["background"] == "transparent":
        if family != "fixed":
            raise Invalid("background", f"Transparent background is not supported for {model}.")
        if fields["output_format"] == "jpeg":
            raise Invalid("background", "Transparent background needs png or webp output.")
    if (fields["partial_images"] and not fields["stream"]) or not 0 <= fields[
        "partial_images"
    ] <= 3:
        raise Invalid("partial_images", "Invalid 'partial_images': 0-3, with stream: true.")
    _check_size(str(fields["size"]), family)
    return fields


def _one_of(fields: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if fields[name] not in allowed:
        raise Invalid(
            name,
            f"Invalid value: '{fields[name]}'. Supported values are: "
            f"{', '.join(repr(value) for value in allowed)}.",
        )


def _check_size(size: str, family: str) -> None:
    if family == "fixed":
        if size not in FIXED:
            raise Invalid(
                "size",
                f"Invalid value: '{size}'. Supported values are: "
                f"{', '.join(repr(value) for value in FIXED)}.",
            )
        return
    if size == "auto":
        return
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if match is None:
        raise Invalid("size", f"Invalid size '{size}': expected WIDTHxHEIGHT or 'auto'.")
    width, height = int(match[1]), int(match[2])
    rules = [
        (width % 16 == 0 and height % 16 == 0, "both sides must be multiples of 16"),
        (max(width, height) <= 3840, "the long edge must be at most 3840 pixels"),
        (max(width, height) <= 3 * min(width, height), "the aspect ratio must be within 3:1"),
        (655_360 <= width * height <= 8_294_400, "it must have 655,360 to 8,294,400 pixels"),
    ]
    for ok, rule in rules:
        if not ok:
            raise Invalid("size", f"Invalid size '{size}': {rule}.")


def _pixels(size: str) -> tuple[int, int]:
    if size == "auto":
        return 1024, 1024
    width, _, height = size.partition("x")
    return int(width), int(height)


@functools.lru_cache(maxsize=64)
def _render(width: int, height: int, fmt: str, transparent: bool) -> str:
    """A real image of that size and format, base64-encoded (drawn once per kind: the fake's
    answers cost little time, so tests and benchmarks measure the client, not Pillow)."""
    from PIL import Image

    mode = "RGBA" if transparent else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (40, 90, 160, 0) if transparent else (40, 90, 160)).save(
        buffer, format={"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG")
    )
    return base64.b64encode(buffer.getvalue()).decode("ascii")


async def _event(response: web.StreamResponse, name: str, data: Mapping[str, Any]) -> None:
    await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
