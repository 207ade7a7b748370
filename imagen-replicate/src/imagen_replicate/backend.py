"""The ``replicate`` backend: create a prediction, wait for it, download its images at once.

    POST /v1/models/{owner}/{name}/predictions     (owner/name)
    POST /v1/predictions  {"version": ...}         (owner/name:version)
      Prefer: wait=N        the answer comes when the prediction is done, or after N seconds
      Cancel-After: Ns      Replicate stops it by itself if we cannot (we vanished mid-request)
    GET  urls.get           polled with a short, growing pause while not terminal
    POST urls.cancel        on our deadline, on caller cancellation, or when we give up
    GET  output URLs        right away: Replicate deletes outputs after an hour

Retries, backoff and deadlines are declared below, not looped by hand.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from imagen.adapters import (
    IMAGE_LIMIT,
    Deadline,
    Failure,
    HttpApi,
    Retry,
    RetryPolicy,
    bearer,
    decode_data_uri,
    describe_url,
    inspect_image,
    is_data_uri,
    json_or_none,
    run_takes,
)
from imagen.errors import BackendError, BackendTimeout, BackendUnavailable
from imagen.models import Image, Progress, Request, Result
from imagen_replicate import problems
from imagen_replicate.info import ReplicateInfo
from imagen_replicate.inputs import aspect_ratios_for, build_input
from imagen_replicate.outputs import output_urls
from imagen_replicate.pricing import price_per_image
from imagen_replicate.settings import ReplicateSettings

if TYPE_CHECKING:
    import httpx

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})

# API calls: 429 up to 3 retries with exponential backoff (or Replicate's own "~Ns" hint /
# Retry-After), 5xx once, a dropped connection once.
API_POLICY = RetryPolicy(
    Retry.on_status(429, attempts=3, backoff=1.0),
    Retry.on_status(*range(500, 600), attempts=1, backoff=0.5),
    Retry.on_transport(attempts=1),
    retry_after=problems.retry_after,
)
# Output downloads: once more on a transient failure; a 404 means the file expired.
DOWNLOAD_POLICY = RetryPolicy(
    Retry.on_status(429, *range(500, 600), attempts=1, backoff=0.5),
    Retry.on_transport(attempts=1),
)


@attrs.frozen
class PollBackoff:
    """Pauses between polls of a prediction still running after ``Prefer: wait`` returned."""

    first: float = 0.05
    factor: float = 2.0
    cap: float = 1.0

    def next(self, pause: float) -> float:
        return min(pause * self.factor, self.cap)


POLL = PollBackoff()
MAX_PREFER_WAIT = 60  # Replicate holds a create request open for at most 60 s
MIN_CANCEL_AFTER = 5  # the shortest Cancel-After Replicate takes
CANCEL_GRACE = 5.0  # how long a best-effort cancel may take while we are already leaving
READ_TIMEOUT = MAX_PREFER_WAIT + 15.0

_SEED_IN_LOGS = re.compile(r"Using seed:\s*(\d+)")


@attrs.define
class _Tracked:
    """The prediction in flight, so a deadline or cancellation can cancel it by URL."""

    id: str | None = None
    cancel_url: str | None = None
    status: str | None = None

    def update(self, prediction: Mapping[str, Any]) -> None:
        if prediction.get("id"):
            self.id = str(prediction["id"])
        urls = prediction.get("urls") or {}
        self.cancel_url = urls.get("cancel") or self.cancel_url
        self.status = prediction.get("status")

    @property
    def running(self) -> bool:
        return self.id is not None and self.status not in TERMINAL


class ReplicateBackend(ReplicateInfo):
    """One ``type: replicate`` instance. No network and no credential needed until ``generate``."""

    def __init__(
        self,
        name: str,
        settings: ReplicateSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(name, settings)
        # ``sleep`` replaces the retry backoff sleep (tests use a recording no-op).
        self.api = HttpApi(
            "Replicate",
            backend=name,
            base_url=settings.base_url,
            key_env=settings.api_token_env,
            auth=bearer,
            policy=API_POLICY if sleep is None else API_POLICY.with_sleep(sleep),
            timeout=READ_TIMEOUT,
            retry_after=problems.retry_after,
        )
        self._download_policy = (
            DOWNLOAD_POLICY if sleep is None else DOWNLOAD_POLICY.with_sleep(sleep)
        )

    # -- no network ------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.api.aclose()

    # -- generation ------------------------------------------------------------------------

    async def generate(self, request: Request, progress: Progress) -> Result:
        self.api.key()  # NotConfigured before any work is done
        started = time.monotonic()
        prepared = build_input(
            request,
            output_format=self.settings.output_format,
            defaults=self.settings.input,
            ratios=aspect_ratios_for(self.settings.model_name),
        )
        asked = _as_count(prepared.input.get("num_outputs", 1))

        def report(message: str) -> None:  # while no image is in: 0 of those asked for
            progress.update(0, asked, message)

        tracked = _Tracked()
        # The take's timeout bounds everything it does, the downloads included.
        deadline = Deadline.after(self.settings.deadline)
        try:
            async with deadline.scope():
                prediction = await self._predict(prepared.input, tracked, report, asked, deadline)
                urls = output_urls(prediction.get("output"))
                datas = await self._download_all(urls, progress, deadline)
        except BaseException as error:
            canceled = await self._cancel_quietly(tracked) if tracked.running else False
            if isinstance(error, TimeoutError | BackendTimeout):
                raise self._timeout_error(tracked, self.settings.deadline, canceled) from None
            raise

        seed = request.seed if request.seed is not None else _seed_from_logs(prediction)
        images = []
        for url, data in zip(urls, datas, strict=True):
            try:
                picture = inspect_image(data)
            except ValueError as error:
                raise BackendError(
                    f"output {describe_url(url)} of prediction {tracked.id} is not an image "
                    f"({error})",
                    backend=self.name,
                ) from None
            images.append(
                Image(
                    data,
                    picture.media_type,
                    picture.width,
                    picture.height,
                    # A batch shares one seed; no single image can be remade from it alone.
                    seed=seed if asked == 1 else None,
                )
            )
        if not images:
            raise BackendError(
                f"prediction {tracked.id} succeeded but returned no images", backend=self.name
            )

        warnings = list(prepared.warnings)
        if len(images) < asked:
            warnings.append(
                f"{len(images)} of {asked} images returned; Replicate's safety filter "
                "removes the images it flags"
            )
        price = price_per_image(self.settings.model)
        metrics = prediction.get("metrics") or {}
        metadata: dict[str, Any] = {
            "prediction_id": tracked.id,
            "version": prediction.get("version"),
            **prepared.decisions,
            "predict_time": metrics.get("predict_time"),
            "url": (prediction.get("urls") or {}).get("web"),
        }
        if seed is not None:
            metadata["seed"] = seed
        return Result(
            images=tuple(images),
            model=self.settings.model,
            latency=time.monotonic() - started,
            cost=price * len(images) if price is not None else None,
            metadata={key: value for key, value in metadata.items() if value is not None},
            warnings=tuple(warnings),
        )

    async def _predict(
        self,
        values: dict[str, Any],
        tracked: _Tracked,
        report: Callable[[str], None],
        asked: int,
        deadline: Deadline,
    ) -> dict[str, Any]:
        """Create the prediction and follow it to a terminal status; raise unless it succeeded."""
        import asyncio

        settings = self.settings
        body: dict[str, Any] = {"input": values}
        if settings.version is None:
            path = f"/v1/models/{settings.model_name}/predictions"
        else:
            path, body["version"] = "/v1/predictions", settings.version
        headers = {"Cancel-After": f"{max(MIN_CANCEL_AFTER, math.ceil(settings.deadline))}s"}
        # Leave a second of the deadline after the held request, to poll and cancel in.
        wait = min(MAX_PREFER_WAIT, math.floor(settings.deadline) - 1)
        if wait >= 1:
            headers["Prefer"] = f"wait={wait}"

        report("creating prediction")
        response = await self._call(
            "POST", path, "create the prediction", report, deadline, json=body, headers=headers
        )
        prediction = self._prediction_of(response)
        tracked.update(prediction)
        if _finished_while_held(prediction, asked):
            return prediction
        pause = POLL.first
        while prediction.get("status") not in TERMINAL:
            report(str(prediction.get("status") or "waiting"))
            await asyncio.sleep(pause)
            pause = POLL.next(pause)
            get_url = (prediction.get("urls") or {}).get("get") or f"/v1/predictions/{tracked.id}"
            response = await self._call("GET", get_url, "read the prediction", report, deadline)
            prediction = self._prediction_of(response)
            tracked.update(prediction)
        if prediction.get("status") != "succeeded":
            raise problems.error_for_prediction(prediction, backend=self.name, token=self.api.key())
        return prediction

    async def _download_all(
        self, urls: list[str], progress: Progress, deadline: Deadline
    ) -> list[bytes]:
        """Every output at once (they expire), progress counting finished downloads; the first
        failure stands for all."""
        if not urls:
            return []
        downloads = await run_takes(
            len(urls), lambda part: self._download(urls[part.index], deadline), progress,
            keep_going=False, received="downloaded",
        )  # fmt: skip
        return list(downloads.results)

    async def _download(self, url: str, deadline: Deadline) -> bytes:
        if is_data_uri(url):
            try:
                data, _ = decode_data_uri(url)
            except ValueError as error:
                raise BackendError(f"unreadable output ({error})", backend=self.name) from None
            return data
        if not self._may_download(url):
            raise BackendError(
                f"output {describe_url(url)} is not an https: or data: URL; not downloaded",
                backend=self.name,
            )
        # No token: output files live on another host and need none, so a CDN redirect is fine.
        response = await self.api.call(
            "GET", url, what=f"download output {describe_url(url)}", errors=_expired,
            policy=self._download_policy, deadline=deadline, limit=IMAGE_LIMIT,
            credentials=False, redirects="any",
        )  # fmt: skip
        return response.content

    def _may_download(self, url: str) -> bool:
        """https: always; plain http: only from the API's own host (a local or test server)."""
        parts = urlsplit(url)
        if parts.scheme == "https":
            return True
        api = urlsplit(self.settings.base_url)
        return parts.scheme == "http" == api.scheme and parts.netloc == api.netloc

    # -- HTTP plumbing ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        what: str,
        report: Callable[[str], None] | None = None,
        deadline: Deadline | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One API call under the retry policy, with the token on the API's origin only."""

        def on_retry(reason: str, seconds: float) -> None:
            if report is not None:
                report(f"{reason}, retrying in {seconds:.1f} s")

        return await self.api.call(method, url, what=what, errors=problems.api_errors,
                                   deadline=deadline, on_retry=on_retry, **kwargs)  # fmt: skip

    def _prediction_of(self, response: httpx.Response) -> dict[str, Any]:
        body = json_or_none(response)
        if not isinstance(body, dict) or "status" not in body:
            raise BackendUnavailable(
                f"Replicate answered HTTP {response.status_code} without a prediction object; "
                "try again",
                backend=self.name,
            )
        return body

    async def _cancel_quietly(self, tracked: _Tracked) -> bool:
        """Best effort, bounded: we are already leaving with another error or a cancellation."""
        import asyncio

        url = tracked.cancel_url or f"/v1/predictions/{tracked.id}/cancel"
        try:
            await asyncio.wait_for(self._call("POST", url, "cancel"), CANCEL_GRACE)
        except (BackendError, TimeoutError):
            return False
        tracked.status = "canceled"
        return True

    def _timeout_error(self, tracked: _Tracked, deadline: float, canceled: bool) -> BackendTimeout:
        slow = "model"
        if tracked.id is None:
            what = "Replicate did not answer the create request"
        elif tracked.status == "succeeded":
            what, slow = (
                f"prediction {tracked.id} finished but its images were not downloaded",
                "network",
            )
        elif canceled:
            what = f"prediction {tracked.id} did not finish and was canceled"
        else:
            what = f"prediction {tracked.id} did not finish (cancel failed; Cancel-After stops it)"
        return BackendTimeout(
            f"{what} within {deadline:g} s; raise `timeout` for this instance if the {slow} is "
            "slow",
            backend=self.name,
            detail={"prediction_id": tracked.id, "timeout": deadline},
        )


def _expired(response: httpx.Response, failure: Failure) -> BackendError | None:
    """Outputs are deleted after an hour: a 403/404/410 on a download means that."""
    if failure.status in (403, 404, 410):
        return BackendError(
            f"{failure.what.removeprefix('download ')} expired before it was downloaded "
            f"(HTTP {failure.status}); generate again",
            backend=failure.backend,
        )
    if failure.status >= 400:
        return BackendUnavailable(
            f"could not {failure.what} (HTTP {failure.status}); generate again",
            backend=failure.backend,
        )
    return None


def _as_count(value: Any) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _finished_while_held(prediction: Mapping[str, Any], asked: int) -> bool:
    """Sync mode can answer a finished prediction as ``processing`` with every output already
    there (Replicate's own client treats it as done); waiting for ``succeeded`` only adds a poll."""
    if prediction.get("status") != "processing":
        return False
    return len(output_urls(prediction.get("output"))) >= asked


def _seed_from_logs(prediction: Mapping[str, Any]) -> int | None:
    """The seed a model chose itself, from its logs (FLUX prints ``Using seed: N``)."""
    match = _SEED_IN_LOGS.search(str(prediction.get("logs") or ""))
    return int(match.group(1)) if match else None
