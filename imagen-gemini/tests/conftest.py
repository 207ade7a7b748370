"""A loopback stand-in for generativelanguage.googleapis.com's generateContent, and fixtures.

The fake checks requests the way the real API does (the key in ``x-goog-api-key`` or ``?key=``;
proto-JSON field names in camelCase or snake_case; unknown names, bad base64 and bad enums
answered with Google's 400 error shape and BadRequest field violations), answers with real PNGs
sized by Gemini's aspect-ratio table, and plays scripted answers queued by a test (blocked
prompts, text-only answers, 429 with retry hints, 5xx, held answers). The record of calls,
the key check, the queue of scripted answers and holds come from ``imagen.testing.FakeServer``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from aiohttp import web

from imagen.models import Progress, Request, Result
from imagen.testing import FakeServer, serve_app
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.settings import GeminiSettings

API_KEY = "AIza-test-key-for-the-fake-0123456789"
MODEL = "gemini-2.5-flash-image"

SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGE_TOKENS = 1290
#: Gemini refuses a request body past 20 MB (inline data included) before reading it.
MAX_REQUEST_BYTES = 20 * 1024 * 1024
MODALITIES = ("MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO")
INPUT_MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")

# The proto messages of a GenerateContentRequest this fake understands: camelCase field name ->
# (kind, message type for "message" fields, repeated).
SCHEMA: dict[str, dict[str, tuple[str, str | None, bool]]] = {
    "GenerateContentRequest": {
        "model": ("string", None, False),
        "contents": ("message", "Content", True),
        "systemInstruction": ("message", "Content", False),
        "generationConfig": ("message", "GenerationConfig", False),
        "safetySettings": ("message", "SafetySetting", True),
        "cachedContent": ("string", None, False),
    },
    "Content": {"role": ("string", None, False), "parts": ("message", "Part", True)},
    "Part": {
        "text": ("string", None, False),
        "inlineData": ("message", "Blob", False),
        "fileData": ("message", "FileData", False),
        "thought": ("bool", None, False),
    },
    "Blob": {"mimeType": ("string", None, False), "data": ("bytes", None, False)},
    "FileData": {"mimeType": ("string", None, False), "fileUri": ("string", None, False)},
    "GenerationConfig": {
        "responseModalities": ("modality", None, True),
        "imageConfig": ("message", "ImageConfig", False),
        "candidateCount": ("int", None, False),
        "temperature": ("number", None, False),
        "topP": ("number", None, False),
        "topK": ("int", None, False),
        "seed": ("int", None, False),
        "maxOutputTokens": ("int", None, False),
        "stopSequences": ("string", None, True),
    },
    "ImageConfig": {"aspectRatio": ("string", None, False), "imageSize": ("string", None, False)},
    "SafetySetting": {"category": ("string", None, False), "threshold": ("string", None, False)},
}

Reply = Callable[[Mapping[str, Any]], web.Response]
# Where the handler keeps the checked body for a scripted reply to read.
BODY = web.RequestKey("gemini-body", dict)


def _answer_with(reply: Reply) -> Callable[[web.Request], web.StreamResponse]:
    return lambda request: reply(request[BODY])


def _key_of(request: web.Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query.get("key")


def _checked(raw: bytes) -> dict[str, Any] | None:
    """The body as the handler checked it, or None where it was not valid JSON of the schema."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    violations: list[tuple[str, str]] = []
    body = _normalise(payload, "GenerateContentRequest", "", violations)
    return None if violations else body


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=code)


def png(width: int, height: int, shade: int = 90) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


class FakeGemini(FakeServer):
    """The fake's state: what it accepts, what it saw, and what it will answer next."""

    # Scripted answers come after the request's checks, as the real service's errors do.
    plays_faults_in_handler = True

    def __init__(self, *, api_key: str = API_KEY, models: tuple[str, ...] = (MODEL,)) -> None:
        super().__init__(key=api_key)
        self.api_key = api_key
        self.models = models
        self.caption: str | None = None
        self.images_per_answer = 1
        self.report_usage = True
        # Without it, usageMetadata has the token totals but no per-modality breakdown.
        self.report_image_tokens = True
        # Thinking image models (Gemini 3 Pro Image) send interim drafts first, as parts marked
        # "thought": a thought text and this many draft images, before the answer's own parts.
        self.thought_drafts = 0
        self._ids = itertools.count(1)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request: path, query, url, headers and its body as checked (None if refused)."""
        return [
            {"path": call.path, "query": call.query, "headers": call.headers,
             "url": call.url, "body": _checked(call.body)}
            for call in self.calls
        ]  # fmt: skip

    # -- scripting: answers played in order before the normal ones ---------------------------

    def then(self, *replies: Reply) -> None:
        self.fail("generate", *(_answer_with(reply) for reply in replies))

    def error(
        self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> Reply:
        return lambda body: google_error(code, status, message, details)

    def rate_limited(
        self, *, retry_in: str | None = "7.5", retry_delay: str | None = "7s"
    ) -> Reply:
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.\n"
            "* Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10"
        )
        if retry_in is not None:
            message += f"\nPlease retry in {retry_in}s."
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas",
                           "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}],
            },
        ]  # fmt: skip
        if retry_delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        return self.error(429, "RESOURCE_EXHAUSTED", message, details)

    def prompt_blocked(self, reason: str = "PROHIBITED_CONTENT") -> Reply:
        return lambda body: web.json_response(
            {
                "promptFeedback": {"blockReason": reason},
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                "modelVersion": MODEL,
                "responseId": self._response_id(),
            }
        )

    def finished_without_image(
        self, reason: str, text: str | None = None, message: str | None = None
    ) -> Reply:
        """A candidate that ended without an image; ``message`` is its ``finishMessage``, which
        Gemini fills in for some reasons (an image withheld for safety)."""

        def reply(body: Mapping[str, Any]) -> web.Response:
            candidate: dict[str, Any] = {"finishReason": reason, "index": 0}
            if message is not None:
                candidate["finishMessage"] = message
            if text is not None:
                candidate["content"] = {"parts": [{"text": text}], "role": "model"}
            return web.json_response(
                {
                    "candidates": [candidate],
                    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                    "modelVersion": MODEL,
                    "responseId": self._response_id(),
                }
            )

        return reply

    def raw(self, status: int, text: str, content_type: str = "text/html") -> Reply:
        return lambda body: web.Response(status=status, text=text, content_type=content_type)

    # -- the server ----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{target}", self._answer, name="generate")

    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.",
            )
        return await super()._middleware(request, handler)

    def authorized(self, request: web.Request) -> bool:
        return _key_of(request) == self.api_key

    def refuse(self, request: web.Request) -> web.StreamResponse:
        if not _key_of(request):
            return google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )

    def fault(self, status: int, request: web.Request) -> web.StreamResponse:
        name = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "")
        return google_error(status, name or "UNKNOWN", f"scripted HTTP {status}")

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        raw = await request.read()
        if method != "generateContent":
            return google_error(404, "NOT_FOUND", f"Method not found: {method}")
        if model not in self.models:
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, or is not supported for "
                "generateContent. Call ListModels to see the list of available models and their "
                "supported methods.",
            )
        try:
            payload = json.loads(raw)
        except ValueError:
            return google_error(
                400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token."
            )
        violations: list[tuple[str, str]] = []
        body = _normalise(payload, "GenerateContentRequest", "", violations)
        if violations:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "\n".join(description for _, description in violations),
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [
                            {"field": field, "description": description}
                            for field, description in violations
                        ],
                    }
                ],
            )
        problem = _semantic_problem(body)
        if problem is not None:
            return google_error(400, "INVALID_ARGUMENT", problem)
        request[BODY] = body
        scripted = await self.scripted(request)
        if scripted is not None:
            return scripted
        return web.json_response(self._images_answer(body))

    def _images_answer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        width, height = SIZES[_aspect_for(body)]
        parts: list[dict[str, Any]] = []
        if self.thought_drafts:
            parts.append({"text": "**Composing the scene**", "thought": True})
        for index in range(self.thought_drafts):
            draft = base64.b64encode(png(width // 4, height // 4, shade=200 + index)).decode()
            parts.append({"inlineData": {"mimeType": "image/png", "data": draft}, "thought": True})
        if self.caption is not None:
            parts.append({"text": self.caption})
        for index in range(self.images_per_answer):
            data = base64.b64encode(png(width, height, shade=40 * index)).decode("ascii")
            parts.append({"inlineData": {"mimeType": "image/png", "data": data}})
        answer: dict[str, Any] = {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
            ],
            "modelVersion": MODEL,
            "responseId": self._response_id(),
        }
        if self.report_usage:
            tokens = IMAGE_TOKENS * self.images_per_answer
            answer["usageMetadata"] = {
                "promptTokenCount": 12,
                "candidatesTokenCount": tokens,
                "totalTokenCount": 12 + tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
            }
            if self.report_image_tokens:
                answer["usageMetadata"]["candidatesTokensDetails"] = [
                    {"modality": "IMAGE", "tokenCount": tokens}
                ]
        return answer

    def _response_id(self) -> str:
        return f"fake-response-{next(self._ids)}"


def _normalise(
    value: Any, message: str, path: str, violations: list[tuple[str, str]]
) -> dict[str, Any]:
    """``value`` with camelCase names, checked against SCHEMA the way proto-JSON parsing is."""
    where = f" at '{path}'" if path else ""
    if not isinstance(value, dict):
        violations.append((path, f"Invalid JSON payload received. Expected an object{where}."))
        return {}
    fields = SCHEMA[message]
    by_name = {name: name for name in fields} | {snake(name): name for name in fields}
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = by_name.get(key)
        if name is None:
            violations.append(
                (
                    path,
                    f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                    "Cannot find field.",
                )
            )
            continue
        kind, type_name, repeated = fields[name]
        field_path = f"{path}.{snake(name)}" if path else snake(name)
        if repeated:
            if not isinstance(item, list):
                violations.append(
                    (field_path, f"Invalid value at '{field_path}', expected a list.")
                )
                continue
            result[name] = [
                _value(element, kind, type_name, f"{field_path}[{index}]", violations)
                for index, element in enumerate(item)
            ]
        else:
            result[name] = _value(item, kind, type_name, field_path, violations)
    return result


def _value(
    value: Any, kind: str, type_name: str | None, path: str, violations: list[tuple[str, str]]
) -> Any:
    def invalid(proto_type: str) -> None:
        shown = json.dumps(value)
        violations.append((path, f"Invalid value at '{path}' ({proto_type}), {shown}"))

    if kind == "message":
        assert type_name is not None
        return _normalise(value, type_name, path, violations)
    if kind == "string" and not isinstance(value, str):
        invalid("TYPE_STRING")
    elif kind == "bool" and not isinstance(value, bool):
        invalid("TYPE_BOOL")
    elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        invalid("TYPE_INT32")
    elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        invalid("TYPE_FLOAT")
    elif kind == "modality" and value not in MODALITIES:
        invalid("type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality")
    elif kind == "bytes":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            violations.append(
                (path, f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed")
            )
    return value


def _semantic_problem(body: Mapping[str, Any]) -> str | None:
    contents = body.get("contents") or []
    if not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    for index, content in enumerate(contents):
        if content.get("role") not in (None, "", "user", "model"):
            return "Please use a valid role: user, model."
        parts = content.get("parts") or []
        if not parts:
            return f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"  # noqa: E501
        for part in parts:
            inline = part.get("inlineData")
            if inline is not None and inline.get("mimeType") not in INPUT_MIME_TYPES:
                return f"Unsupported MIME type: {inline.get('mimeType')}"
    config = body.get("generationConfig") or {}
    modalities = config.get("responseModalities") or ["TEXT"]
    if "IMAGE" not in modalities:
        return "Model does not support the requested response modalities: text"
    ratio = (config.get("imageConfig") or {}).get("aspectRatio")
    if ratio is not None and ratio not in SIZES:
        return f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(SIZES)}"
    return None


def _aspect_for(body: Mapping[str, Any]) -> str:
    """The requested ratio; without one, the first reference image's shape; else square."""
    ratio = ((body.get("generationConfig") or {}).get("imageConfig") or {}).get("aspectRatio")
    if ratio:
        return str(ratio)
    from PIL import Image

    for part in body["contents"][0]["parts"]:
        inline = part.get("inlineData")
        if inline is not None:
            with Image.open(io.BytesIO(inline["data"])) as ref:
                shape = ref.width / ref.height
            return min(SIZES, key=lambda name: abs(SIZES[name][0] / SIZES[name][1] - shape))
    return "1:1"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini()


@pytest.fixture
def gemini_url(fake: FakeGemini) -> Iterator[str]:
    with serve_app(fake.app()) as url:
        yield url


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    return API_KEY


@pytest.fixture
def sleeps() -> list[float]:
    """The retry waits a backend asked for (none are really slept)."""
    return []


@pytest.fixture
def make_backend(
    gemini_url: str, api_key: str, sleeps: list[float]
) -> Callable[..., GeminiBackend]:
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    def make(**settings: Any) -> GeminiBackend:
        return GeminiBackend("gemini-test", GeminiSettings(base_url=gemini_url, **settings),
                             sleep=record)  # fmt: skip

    return make


@pytest.fixture
def generate() -> Callable[..., Result]:
    """``generate(backend, request, progress=None)``: one generation in its own event loop,
    closing the backend afterwards."""

    def run(backend: GeminiBackend, request: Request, progress: Progress | None = None) -> Result:
        async def main() -> Result:
            try:
                return await backend.generate(request, progress or Progress())
            finally:
                await backend.aclose()

        return asyncio.run(main())

    return run
