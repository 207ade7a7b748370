"""The ``openai`` backend: one Images API request per take (``n=1``), images read from base64."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from imagen.adapters import (
    IMAGE_LIMIT,
    Deadline,
    HttpApi,
    bearer,
    decode_base64,
    header,
    inspect_image,
    json_or_none,
)
from imagen.errors import BackendError, BackendTimeout, InvalidRequest
from imagen.models import Cost, Image, Progress, Ref, Request, Result, Status
from imagen.secrets import read_secret
from imagen_openai import pricing
from imagen_openai.failures import POLICY, error_for, retry_hint
from imagen_openai.plan import PlanError, plan_for, size_for
from imagen_openai.protocol import multipart, options_for, path_for, read_answer
from imagen_openai.results import Steps, Take, assemble
from imagen_openai.settings import OpenAISettings
from imagen_openai.stream import post_streaming


class OpenAIBackend:
    """A configured ``type: openai`` instance. ``sleep`` replaces retry waits (tests)."""

    honors_seeds = False  # the Images API has no seed: every take is a new image
    answer_limit = IMAGE_LIMIT  # base64 images come inside the JSON answer

    def __init__(
        self,
        name: str,
        settings: OpenAISettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name, self.settings = name, settings
        self.api = HttpApi(
            "OpenAI",
            backend=name,
            base_url=settings.base_url,
            key_env=settings.api_key_env,
            auth=bearer if settings.azure_deployment is None else header("api-key"),
            policy=POLICY if sleep is None else POLICY.with_sleep(sleep),
            timeout=settings.timeout,
            retry_after=retry_hint,
        )

    def status(self) -> Status:
        if read_secret(self.settings.api_key_env) is None:
            return Status.not_configured(self.settings.api_key_env)
        deployment = self.settings.azure_deployment
        return Status.ready(f"Azure deployment {deployment}" if deployment else self.settings.model)

    def estimate_cost(self, request: Request) -> Cost | None:
        try:
            quality = options_for(self.settings, request).quality
            size, _ = size_for(self.settings, request)
        except ValueError:
            return None
        return pricing.estimate(self.settings.model, quality, size)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def generate(self, request: Request, progress: Progress) -> Result:
        import asyncio

        try:
            plan = plan_for(self.settings, request)
        except PlanError as error:
            fields = {error.field: str(error)}
            raise InvalidRequest(str(error), backend=self.name, fields=fields) from None
        self.api.key()  # NotConfigured before anything is sent
        bodies = plan.bodies(max(1, request.count))
        steps = Steps(progress, max(1, request.count) * (plan.options.partial_images + 1))
        steps.update("sent to OpenAI")
        started, deadline = time.monotonic(), Deadline.after(self.settings.timeout)
        try:
            async with deadline.scope():
                outcomes = await asyncio.gather(
                    *(self._take(fields, request.refs, deadline, steps) for fields in bodies),
                    return_exceptions=True,
                )
        except TimeoutError:
            raise BackendTimeout(
                f"OpenAI did not finish within {self.settings.timeout:g} s; raise timeout: in "
                "the config or try again",
                backend=self.name,
            ) from None
        return assemble(plan, outcomes, time.monotonic() - started)

    async def _take(
        self, fields: dict[str, Any], refs: Sequence[Ref], deadline: Deadline, steps: Steps
    ) -> Take:
        what = "edit the images" if refs else "generate the image"
        path = path_for(self.settings, "edits" if refs else "generations")
        sent = multipart(fields, refs) if refs else {"json": fields}
        partials = fields.get("partial_images", 0)
        seen = 0

        def partial(index: int) -> None:
            nonlocal seen
            seen += 1
            steps.update(f"partial image {index + 1} of {partials}", 1)

        common = {"what": what, "deadline": deadline, "errors": error_for,
                  "limit": self.answer_limit, **sent}  # fmt: skip
        if partials:
            payload = await post_streaming(self.api, path, on_partial=partial, **common)
        else:
            response = await self.api.call("POST", path, on_retry=steps.retrying, **common)
            payload = json_or_none(response)
        try:
            answer = read_answer(payload)
            images = [_image(decode_base64(text)) for text in answer.images]
        except ValueError as error:
            raise BackendError(
                f"OpenAI's answer could not be read ({error}); check base_url", backend=self.name
            ) from None
        if not images:
            found = "only image URLs" if answer.urls else "no image"
            raise BackendError(f"OpenAI answered with {found}; a server at base_url must answer "
                               "with b64_json images", backend=self.name)  # fmt: skip
        steps.update("image received", len(images) * (partials + 1) - seen)
        return images, answer


def _image(data: bytes) -> Image:
    info = inspect_image(data)  # the bytes say what they are, whatever output_format asked
    return Image(data, info.media_type, info.width, info.height, seed=None)
