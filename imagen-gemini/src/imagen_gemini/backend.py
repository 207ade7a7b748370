"""The ``gemini`` backend: one generateContent call per take, images decoded from inlineData."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from imagen.adapters import (
    IMAGE_LIMIT,
    Deadline,
    HttpApi,
    SizeChoice,
    TakeProgress,
    Takes,
    header,
    inspect_image,
    json_or_none,
    remote_text,
    run_takes,
    snap_to_table,
)
from imagen.errors import BackendError, BackendTimeout, ContentBlocked, InvalidRequest
from imagen.models import Cost, Image, Progress, Request, Result
from imagen_gemini import pricing
from imagen_gemini.failures import RETRY_POLICY, error_for
from imagen_gemini.info import GeminiInfo
from imagen_gemini.protocol import (
    Answer,
    InlineImage,
    MalformedAnswer,
    read_answer,
    refs_problem,
    size_problem,
)
from imagen_gemini.protocol import request_body as build_body
from imagen_gemini.settings import GeminiSettings
from imagen_gemini.sizes import ASPECT_RATIOS

if TYPE_CHECKING:
    import httpx


@attrs.frozen
class _Take:
    """One generateContent call's images and what it said about them."""

    images: tuple[Image, ...]
    answer: Answer
    cost: Cost | None


class GeminiBackend(GeminiInfo):
    """A configured ``type: gemini`` instance. ``sleep`` replaces retry waits (tests)."""

    #: Gemini has no seed parameter: a seeded request is never a cache hit, and dry runs say so.
    honors_seeds = False

    def __init__(
        self,
        name: str,
        settings: GeminiSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(name, settings)
        self.api = HttpApi(
            "Gemini",
            backend=name,
            base_url=settings.base_url,
            key_env=settings.api_key_env,
            auth=header("x-goog-api-key"),
            policy=RETRY_POLICY if sleep is None else RETRY_POLICY.with_sleep(sleep),
            timeout=settings.timeout,
            headers={"Accept": "application/json"},
        )

    @property
    def model(self) -> str:
        return self.settings.model.removeprefix("models/")

    async def aclose(self) -> None:
        await self.api.aclose()

    async def generate(self, request: Request, progress: Progress) -> Result:
        aspect = self._aspect_for(request)
        body = build_body(_prompt_text(request), request.refs, aspect.ratio)
        problem = refs_problem(request.refs) or size_problem(body)
        if problem is not None:
            field, message = problem
            raise InvalidRequest(message, backend=self.name, fields={field: message})
        self.api.key()  # NotConfigured before anything is sent
        started = time.monotonic()
        # timeout: is the wall-clock bound of the whole take, however slowly bytes arrive.
        deadline = Deadline.after(self.settings.timeout)
        try:
            async with deadline.scope():
                takes = await run_takes(
                    request.count, functools.partial(self._take, body, deadline), progress
                )
        except TimeoutError:
            raise self._timed_out() from None
        return self._result(request, aspect, takes, time.monotonic() - started)

    def _timed_out(self) -> BackendTimeout:
        return BackendTimeout(
            f"Gemini did not answer within {self.settings.timeout:g} s; "
            "try again or raise timeout: in the config",
            backend=self.name,
        )

    def _aspect_for(self, request: Request) -> SizeChoice:
        return snap_to_table(request, ASPECT_RATIOS, backend=self.name)

    async def _take(self, body: dict[str, Any], deadline: Deadline, part: TakeProgress) -> _Take:
        path = f"/v1beta/models/{quote(self.model, safe='')}:generateContent"
        part.note("sent to Gemini")
        try:
            # Images come inline as base64: the answer may be as large as an image download.
            response = await self.api.call(
                "POST", path, what="generate the image", json=body, deadline=deadline,
                limit=IMAGE_LIMIT, on_retry=part.retrying,
                errors=functools.partial(error_for, model=self.model),
            )  # fmt: skip
        except BackendTimeout:
            if deadline.remaining() > 0:
                raise  # Gemini's own 408, or a read that stalled: the toolkit's words say which
            raise self._timed_out() from None
        return self._read(response)

    def _read(self, response: httpx.Response) -> _Take:
        try:
            # A proxy's page (not JSON: read as None) or JSON of another shape: MalformedAnswer.
            answer = read_answer(json_or_none(response))
        except MalformedAnswer as error:
            raise BackendError(
                f"Gemini's answer could not be read ({error}); check base_url",
                backend=self.name,
            ) from None
        said = remote_text(" ".join(answer.texts))
        blocked = answer.blocked_by
        if not answer.images and blocked is not None:
            explanation = answer.finish_message or said
            raise ContentBlocked(
                f"Gemini withheld the image ({blocked})"
                + (f": {remote_text(explanation)}" if explanation else "")
                + "; rephrase the prompt or change the reference images",
                backend=self.name,
                reason=blocked,
                detail={"text": said, "finish_reasons": list(answer.finish_reasons)},
            )
        if not answer.images:
            reasons = ", ".join(answer.finish_reasons) or "no candidates"
            raise BackendError(
                f"no image returned ({reasons})"
                + (f"; the model said: {said}" if said else "")
                + "; try rephrasing the prompt as a request for an image",
                backend=self.name,
                detail={"text": said, "finish_reasons": list(answer.finish_reasons)},
            )
        images = tuple(self._decode(image) for image in answer.images)
        cost = pricing.actual(self.model, images=len(images), image_tokens=answer.image_tokens)
        return _Take(images, answer, cost)

    def _decode(self, inline: InlineImage) -> Image:
        try:
            info = inspect_image(inline.data)
        except ValueError:
            raise BackendError(
                f"Gemini returned {remote_text(inline.mime_type, limit=60)} data that is not an "
                "image; try again",
                backend=self.name,
            ) from None
        return Image(inline.data, info.media_type, info.width, info.height, seed=None)

    def _result(
        self,
        request: Request,
        aspect: SizeChoice,
        outcome: Takes[_Take],
        latency: float,
    ) -> Result:
        takes = outcome.results
        metadata: dict[str, Any] = {"aspect_ratio": "model default", **aspect.metadata()}
        if request.negative_prompt:
            metadata["negative_prompt"] = "appended to the prompt (Gemini has no negative prompt)"
        answers = [take.answer for take in takes]
        metadata["response_ids"] = [a.response_id for a in answers if a.response_id]
        versions = {a.model_version for a in answers if a.model_version}
        if versions:
            metadata["model_version"] = sorted(versions)[0]
        texts = [text for a in answers for text in a.texts]
        if texts:
            metadata["text"] = texts
        tokens = [a.image_tokens for a in answers if a.image_tokens is not None]
        if tokens:
            metadata["image_tokens"] = sum(tokens)
        return Result(
            images=tuple(image for take in takes for image in take.images),
            model=self.model,
            latency=latency,
            cost=_total([take.cost for take in takes]),
            metadata=metadata,
            warnings=outcome.warnings("Gemini calls returned no image"),
        )


def _prompt_text(request: Request) -> str:
    if request.negative_prompt:
        return f"{request.prompt}\n\nAvoid: {request.negative_prompt}"
    return request.prompt


def _total(costs: list[Cost | None]) -> Cost | None:
    known = [cost for cost in costs if cost is not None]
    if len(known) != len(costs) or not known:
        return None
    total = known[0]
    for cost in known[1:]:
        total = total + cost
    return total
