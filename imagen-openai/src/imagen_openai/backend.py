"""The ``openai`` backend: one Images API request per take (``n=1``), images read from base64
(or downloaded, for compatible servers that answer with URLs)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from imagen.adapters import (
    IMAGE_LIMIT,
    Deadline,
    HttpApi,
    TakeProgress,
    bearer,
    decode_base64,
    header,
    inspect_image,
    json_or_none,
    run_takes,
)
from imagen.errors import BackendError, BackendTimeout, InvalidRequest
from imagen.models import Image, Progress, Request, Result
from imagen_openai.failures import POLICY, error_for, retry_hint, stream_failure
from imagen_openai.info import OpenAIInfo
from imagen_openai.plan import PlanError, plan_for
from imagen_openai.protocol import multipart, path_for, read_answer
from imagen_openai.results import Take, assemble
from imagen_openai.settings import OpenAISettings


class OpenAIBackend(OpenAIInfo):
    """A configured ``type: openai`` instance. ``sleep`` replaces retry waits (tests)."""

    honors_seeds = False  # the Images API has no seed: every take is a new image
    answer_limit = IMAGE_LIMIT  # base64 images come inside the JSON answer; downloads alike

    def __init__(
        self,
        name: str,
        settings: OpenAISettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(name, settings)
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

    async def aclose(self) -> None:
        await self.api.aclose()

    async def generate(self, request: Request, progress: Progress) -> Result:
        try:
            plan = plan_for(self.settings, request)
        except PlanError as error:
            fields = {error.field: str(error)}
            raise InvalidRequest(str(error), backend=self.name, fields=fields) from None
        self.api.key()  # NotConfigured before anything is sent
        bodies, partials = plan.bodies(max(1, request.count)), plan.options.partial_images
        started, deadline = time.monotonic(), Deadline.after(self.settings.timeout)

        async def take(step: TakeProgress) -> Take:
            return await self._take(bodies[step.index], request, deadline, step)

        try:
            async with deadline.scope():
                takes = await run_takes(len(bodies), take, progress,
                                        steps=partials + 1 if partials else None)  # fmt: skip
        except TimeoutError:
            raise BackendTimeout(
                f"OpenAI did not finish within {self.settings.timeout:g} s; raise timeout: in "
                "the config or try again",
                backend=self.name,
            ) from None
        return assemble(plan, takes, time.monotonic() - started)

    async def _take(
        self, fields: dict[str, Any], request: Request, deadline: Deadline, step: TakeProgress
    ) -> Take:
        import asyncio

        refs = request.refs
        what = "edit the images" if refs else "generate the image"
        path = path_for(self.settings, "edits" if refs else "generations")
        sent = multipart(fields, refs) if refs else {"json": fields}
        common = {"what": what, "deadline": deadline, "errors": error_for,
                  "limit": self.answer_limit, "on_retry": step.retrying, **sent}  # fmt: skip
        step.note("sent to OpenAI")
        try:
            if fields.get("stream"):
                payload = await self._streamed(path, fields["partial_images"], step, common)
            else:
                payload = json_or_none(await self.api.call("POST", path, **common))
            answer = read_answer(payload)
            datas = [decode_base64(text) for text in answer.images]
            if answer.urls:  # compatible servers may answer with URLs: fetched, key kept home
                datas += await asyncio.gather(*(
                    self.api.download(url, deadline=deadline, limit=self.answer_limit)
                    for url in answer.urls
                ))  # fmt: skip
            images = [_image(data) for data in datas]
        except ValueError as error:
            raise BackendError(
                f"OpenAI's answer could not be read ({error}); check base_url", backend=self.name
            ) from None
        if not images:
            raise BackendError("OpenAI answered with no image; check base_url", backend=self.name)
        return images, answer

    async def _streamed(
        self, path: str, partials: int, step: TakeProgress, common: dict[str, Any]
    ) -> Any:
        """The final images and usage of a streamed take, shaped like an unstreamed answer.

        ``image_generation.partial_image`` (``image_edit.*`` for edits) events are progress
        steps; ``*.completed`` carries the image and usage; ``error`` fails the take.
        """
        what = common["what"]
        answer: dict[str, Any] = {"data": []}
        async with self.api.stream("POST", path, **common) as events:
            if not events.is_events:  # a compatible server that does not stream
                return json.loads(await events.read())
            async for event in events:
                data = event.json() if event.data != "[DONE]" else {}
                kind = str(data.get("type", event.event)) if isinstance(data, dict) else ""
                if kind.endswith(".partial_image"):
                    index = data.get("partial_image_index")
                    index = index if isinstance(index, int) else 0
                    step.update(index + 1, partials + 1, f"partial image {index + 1} of {partials}")
                elif kind.endswith(".completed"):
                    answer["data"].append({"b64_json": data.get("b64_json")})
                    answer["usage"] = data.get("usage")
                elif kind == "error" or (isinstance(data, dict) and "error" in data):
                    raise stream_failure(self.api, data, what)
        if not answer["data"]:
            raise BackendError(
                "OpenAI's stream ended before the final image; try again", backend=self.name
            )
        return answer


def _image(data: bytes) -> Image:
    info = inspect_image(data)  # the bytes say what they are, whatever output_format asked
    return Image(data, info.media_type, info.width, info.height, seed=None)
