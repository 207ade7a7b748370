"""The generateContent wire format: the request body imagen sends and the answer it reads.

POST /v1beta/models/{model}:generateContent      x-goog-api-key: <key>
{"contents": [{"role": "user", "parts": [{"text": ...}, {"inlineData": {mimeType, data}}]}],
 "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "16:9"}}}

200 {"candidates": [{"content": {"parts": [{"inlineData": ...}, {"text": ...}]},
                     "finishReason": "STOP"}],
     "promptFeedback": {"blockReason": "SAFETY"},          # only when the prompt was refused
     "usageMetadata": {"candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]},
     "modelVersion": "gemini-2.5-flash-image", "responseId": "..."}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from imagen.models import Ref

REF_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_REFS = 3
MAX_REF_BYTES = 7 * 1024 * 1024
#: The whole request (prompt, references base64-encoded, the JSON around them) must stay
#: within 20 MB (else: the Files API).
MAX_REQUEST_BYTES = 20 * 1024 * 1024

#: finishReason values that mean a safety or policy system withheld the image.
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "NO_IMAGE",
        "IMAGE_OTHER",
    }
)


def refs_problem(refs: Sequence[Ref]) -> tuple[str, str] | None:
    """``(field, message)`` for references Gemini would refuse, else None (checked before any
    call, so a bad reference costs nothing)."""
    if len(refs) > MAX_REFS:
        return "refs", f"{len(refs)} reference images given; Gemini takes at most {MAX_REFS}"
    for ref in refs:
        if ref.media_type not in REF_MEDIA_TYPES:
            allowed = ", ".join(REF_MEDIA_TYPES)
            return "refs", f"{ref.path} is {ref.media_type}; Gemini takes {allowed}"
        if len(ref.data) > MAX_REF_BYTES:
            return "refs", (
                f"{ref.path} is {len(ref.data):,} bytes; Gemini takes at most 7 MB "
                f"({MAX_REF_BYTES:,} bytes) per image; use a smaller image"
            )
    return None


def size_problem(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(field, message)`` when the request ``body`` is past Gemini's 20 MB, else None (checked
    before the call: Gemini would refuse it). Measured as httpx sends it: compact UTF-8 JSON."""
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_REQUEST_BYTES:
        return "refs", (
            f"the request with its reference images is {size:,} bytes; Gemini takes at most "
            f"20 MB ({MAX_REQUEST_BYTES:,} bytes) per request; use fewer or smaller images"
        )
    return None


def request_body(prompt: str, refs: Sequence[Ref], aspect_ratio: str | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": prompt}]
    for ref in refs:
        data = base64.b64encode(ref.data).decode("ascii")
        parts.append({"inlineData": {"mimeType": ref.media_type, "data": data}})
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if aspect_ratio is not None:
        config["imageConfig"] = {"aspectRatio": aspect_ratio}
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


@attrs.frozen
class InlineImage:
    data: bytes = attrs.field(repr=False)
    mime_type: str


@attrs.frozen
class Answer:
    """What one generateContent answer says, read leniently (every field may be missing)."""

    images: tuple[InlineImage, ...] = ()
    texts: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()
    finish_message: str | None = None
    block_reason: str | None = None
    image_tokens: int | None = None
    response_id: str | None = None
    model_version: str | None = None

    @property
    def blocked_by(self) -> str | None:
        """The provider's reason when a safety/policy system withheld the image, else None."""
        if self.block_reason:
            return self.block_reason
        return next((r for r in self.finish_reasons if r in BLOCKING_FINISH_REASONS), None)


class MalformedAnswer(ValueError):
    """The answer is JSON but not a generateContent response (a proxy error page, a bad image)."""


def read_answer(payload: Any) -> Answer:
    if not isinstance(payload, Mapping):
        raise MalformedAnswer("the answer is not a JSON object")
    images: list[InlineImage] = []
    texts: list[str] = []
    reasons: list[str] = []
    finish_message = None
    for candidate in _objects(payload.get("candidates")):
        if isinstance(candidate.get("finishReason"), str):
            reasons.append(candidate["finishReason"])
        if isinstance(candidate.get("finishMessage"), str):
            finish_message = candidate["finishMessage"]
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in _objects(parts):
            if part.get("thought"):
                continue  # interim "thinking" drafts, not the answer
            inline = part.get("inlineData")
            if isinstance(inline, Mapping):
                images.append(_inline_image(inline))
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
    feedback = payload.get("promptFeedback")
    feedback = feedback if isinstance(feedback, Mapping) else {}
    return Answer(
        images=tuple(images),
        texts=tuple(texts),
        finish_reasons=tuple(reasons),
        finish_message=finish_message,
        block_reason=_text(feedback.get("blockReason")),
        image_tokens=_image_tokens(payload.get("usageMetadata")),
        response_id=_text(payload.get("responseId")),
        model_version=_text(payload.get("modelVersion")),
    )


def _inline_image(inline: Mapping[str, Any]) -> InlineImage:
    mime_type = inline.get("mimeType")
    data = inline.get("data")
    if not isinstance(data, str) or not isinstance(mime_type, str):
        raise MalformedAnswer("an inlineData part lacks mimeType or data")
    try:
        return InlineImage(base64.b64decode(data, validate=True), mime_type)
    except (binascii.Error, ValueError) as error:
        raise MalformedAnswer("an inlineData part is not valid base64") from error


def _image_tokens(usage: Any) -> int | None:
    if not isinstance(usage, Mapping):
        return None
    counts = [
        detail.get("tokenCount")
        for detail in _objects(usage.get("candidatesTokensDetails"))
        if detail.get("modality") == "IMAGE"
    ]
    tokens = [count for count in counts if isinstance(count, int)]
    return sum(tokens) if tokens else None


def _objects(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
