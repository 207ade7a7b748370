"""The ``comfyui`` backend: runs a workflow on a ComfyUI server for each image asked for.

One image is one queued prompt with its own seed: build the graph, open the websocket under a
fresh ``client_id``, ``POST /prompt``, follow the socket until ``executing`` says ``node: null``
(or poll ``/history`` when there is no socket), then download what the ``SaveImage`` nodes
saved. The prompt's id is chosen before it is queued, so cancelling (or the timeout) at any
moment after ``POST /prompt`` was sent takes it off the queue and interrupts it.
"""

from __future__ import annotations

# asyncio and uuid are imported where they are used: this module loads for
# `imagen backends` (status only), where asyncio alone would cost about 20 ms.
import contextlib
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from imagen.adapters import TakeProgress, run_takes
from imagen.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InvalidRequest,
)
from imagen.models import Cost, Image, Progress, Request, Result, Status
from imagen.secrets import read_secret
from imagen.seeds import seeds_for
from imagen_comfyui import events
from imagen_comfyui.failures import (
    MissingFile,
    history_failure,
    missing_model_error,
    missing_models,
    vanished_prompt,
)
from imagen_comfyui.mapping import plan_request
from imagen_comfyui.settings import ComfyUISettings
from imagen_comfyui.workflow import Workflow, load_workflow

if TYPE_CHECKING:
    import asyncio

    import httpx

    from imagen_comfyui.api import ComfyAPI

#: Seconds between ``GET /history`` calls when the websocket is not available.
POLL_INTERVAL = 0.25
#: Seconds a cancelled run waits for the answer to its ``POST /prompt`` before withdrawing it
#: (a real server answers in milliseconds: it only validates and queues).
ANSWER_TIMEOUT = 2.0
#: Seconds allowed for taking a cancelled prompt off the server.
CANCEL_TIMEOUT = 5.0
#: Seconds ``imagen backends --check`` waits for the server to answer.
CHECK_TIMEOUT = 3.0
#: Loader node inputs ``imagen comfyui models`` lists.
LOADERS = (
    ("CheckpointLoaderSimple", "ckpt_name"),
    ("UNETLoader", "unet_name"),
    ("DualCLIPLoader", "clip_name1"),
    ("CLIPLoader", "clip_name"),
    ("VAELoader", "vae_name"),
    ("LoraLoader", "lora_name"),
)

FREE = Cost(Decimal(0), "your own ComfyUI server: no per-image charge")


class ComfyUIBackend:
    """A ComfyUI server and one workflow; ``name`` is the user's instance name."""

    def __init__(self, name: str, settings: ComfyUISettings) -> None:
        self.name = name
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._workflow: Workflow | None = None
        self._client: httpx.AsyncClient | None = None

    # -- the Backend protocol --------------------------------------------------------------

    def status(self) -> Status:
        try:
            self.workflow()
        except ConfigError as error:
            return Status(False, f"config error: {error.message}")
        if self.settings.headers_env and read_secret(self.settings.headers_env) is None:
            return Status.not_configured(self.settings.headers_env)
        return Status.unchecked(self.url)

    async def check(self) -> Status:
        """Whether the server answers ``GET /system_stats`` within ``CHECK_TIMEOUT`` seconds."""
        status = self.status()
        if not status.ok:
            return status
        from imagen.adapters.http import make_client

        client = make_client(
            base_url=self.url, timeout=CHECK_TIMEOUT, connect_timeout=CHECK_TIMEOUT
        )
        api = self._api_on(client)
        try:
            version = await api.version()
        except BackendError as error:
            unreachable = error.detail.get("unreachable")
            if unreachable:
                return Status.unreachable(self.url, str(unreachable))
            return Status(False, error.message)  # it answered, but not as ComfyUI does
        finally:
            await client.aclose()
        return Status.ready(f"{self.url}, ComfyUI {version}" if version else self.url)

    def estimate_cost(self, request: Request) -> Cost | None:
        return FREE

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def generate(self, request: Request, progress: Progress) -> Result:
        import asyncio

        started = time.perf_counter()
        workflow = self.workflow()
        plan = plan_request(request, workflow, backend=self.name)
        values = dict(plan.values)
        # Each take's seed, inside the range imagen takes back as --seed: drawn when the caller
        # gave none (the pipeline always gives one), refused before anything is sent if out of
        # range. At least one take runs, as run_takes does.
        seeds = seeds_for(request.seed, max(request.count, 1))
        api = self._api()
        if request.refs:
            values["image"] = await api.upload(request.refs[0])
        prompt_ids: list[str] = []

        async def take(part: TakeProgress) -> list[Image]:
            seed = seeds[part.index] if "seed" in workflow.points else None
            count = part.count
            part.note("queued" if count == 1 else f"queued image {part.index + 1}/{count}")
            graph = workflow.build({**values, "seed": seed}, plan.overrides)
            try:
                async with asyncio.timeout(self.settings.timeout):
                    images = await self._run(api, graph, part, prompt_ids)
            except TimeoutError:
                raise BackendTimeout(
                    f"ComfyUI at {self.url} did not finish an image within "
                    f"{self.settings.timeout:g} s; raise timeout or check the server's queue",
                    backend=self.name,
                ) from None
            return [attrs.evolve(image, seed=seed) for image in images]

        # One server works through one queue: the takes go one after another, and the first
        # failure ends the generation.
        takes = await run_takes(request.count, take, progress, limit=1, keep_going=False,
                                received="done")  # fmt: skip
        return Result(
            images=tuple(image for images in takes.results for image in images),
            model=workflow.model,
            latency=time.perf_counter() - started,
            cost=FREE,
            metadata={"server": self.url, **plan.metadata, "prompt_ids": prompt_ids},
            warnings=plan.warnings,
        )

    # -- what else the plugin offers -------------------------------------------------------

    def workflow(self) -> Workflow:
        """The instance's workflow, loaded and checked once (ConfigError naming what is wrong)."""
        if self._workflow is None:
            self._workflow = load_workflow(self.settings, self.name)
        return self._workflow

    async def list_models(self) -> dict[str, list[str]]:
        """The model files the server offers, per loader (``"UNETLoader.unet_name"``)."""
        api = self._api()
        return {
            f"{class_type}.{input_name}": await api.choices(class_type, input_name)
            for class_type, input_name in LOADERS
        }

    # -- one image -------------------------------------------------------------------------

    async def _run(
        self,
        api: ComfyAPI,
        graph: Mapping[str, Any],
        progress: TakeProgress,
        prompt_ids: list[str],
    ) -> list[Image]:
        import asyncio
        import uuid

        client_id = uuid.uuid4().hex
        # The id is chosen here, not by the server, so a cancel (Ctrl-C, the timeout) that
        # comes while the answer to POST /prompt is still on its way can name the prompt.
        prompt_id = str(uuid.uuid4())
        socket = await events.open_socket(self.url, client_id, self._headers())
        submitted: asyncio.Task[str] | None = None
        try:
            # Shielded: a cancel lets the POST finish (briefly), so the delete that follows
            # cannot overtake it; see _withdraw.
            submitted = asyncio.ensure_future(self._queue(api, graph, client_id, prompt_id))
            try:
                prompt_id = await asyncio.shield(submitted)
            except (BackendTimeout, BackendUnavailable):
                # No answer, or a lost one: the server may have queued the prompt all the same.
                posted, submitted = submitted, None
                await self._withdraw(api, prompt_id, posted)
                raise
            prompt_ids.append(prompt_id)
            queued = prompt_id

            async def vanished() -> bool:
                return not await api.in_queue(queued) and await api.history(queued) is None

            finished = socket is not None and await events.watch(
                socket, prompt_id, progress, backend=self.name, vanished=vanished
            )
            if finished:
                progress.note("fetching images")
                entry = await api.history(prompt_id)
            else:
                entry = await self._poll(api, prompt_id)
                progress.note("fetching images")
            if entry is None:
                raise BackendError(
                    f"ComfyUI finished prompt {prompt_id} but has no history of it; try again",
                    backend=self.name,
                )
            failure = history_failure(entry, backend=self.name)
            if failure is not None:
                raise failure
            return await self._download(api, entry, prompt_id)
        except asyncio.CancelledError:
            if submitted is not None:
                await self._withdraw(api, prompt_id, submitted)
            raise
        finally:
            if socket is not None:
                await socket.close()

    async def _withdraw(self, api: ComfyAPI, prompt_id: str, submitted: asyncio.Task[str]) -> None:
        """Take a prompt whose ``POST /prompt`` was sent off the server, answered or not.

        The answer is awaited first (briefly): a delete that overtook the POST on another
        connection would find nothing, and the prompt would then run with nobody waiting.
        Without an answer the delete and interrupt still go out under the id we chose.
        """
        import asyncio

        with contextlib.suppress(Exception):
            async with asyncio.timeout(ANSWER_TIMEOUT):
                prompt_id = await submitted
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await api.cancel(prompt_id)

    async def _queue(
        self, api: ComfyAPI, graph: Mapping[str, Any], client_id: str, prompt_id: str
    ) -> str:
        try:
            return await api.queue_prompt(graph, client_id, prompt_id)
        except InvalidRequest as error:
            missing = missing_models(error.detail)
            if not missing:
                raise
            available: dict[tuple[str, str], tuple[str, ...]] = {}
            for item in missing:
                loader = (item.class_type, item.input)
                if loader not in available:
                    available[loader] = tuple(await api.choices(*loader))
            found = [
                MissingFile(
                    item,
                    available[(item.class_type, item.input)],
                    self._model_setting(item.node, item.input),
                )
                for item in missing
            ]
            raise missing_model_error(found, backend=self.name) from None

    async def _poll(self, api: ComfyAPI, prompt_id: str) -> Mapping[str, Any]:
        import asyncio

        while True:
            entry = await api.history(prompt_id)
            if entry is not None:  # ComfyUI writes the history entry when the run is over
                return entry
            if not await api.in_queue(prompt_id):
                entry = await api.history(prompt_id)  # it may have finished in between
                if entry is None:
                    raise vanished_prompt(prompt_id, backend=self.name)
                return entry
            await asyncio.sleep(POLL_INTERVAL)

    async def _download(
        self, api: ComfyAPI, entry: Mapping[str, Any], prompt_id: str
    ) -> list[Image]:
        """Every image the workflow's SaveImage nodes saved (seed filled in by the caller)."""
        outputs = entry.get("outputs") or {}
        found = []
        for node in self.workflow().save_nodes:
            for image in (outputs.get(node) or {}).get("images") or []:
                data, media_type = await api.view(image)
                found.append(_decoded(data, media_type, backend=self.name))
        if not found:
            raise BackendError(
                f"ComfyUI finished prompt {prompt_id} but its SaveImage nodes saved nothing",
                backend=self.name,
            )
        return found

    # -- plumbing --------------------------------------------------------------------------

    def _model_setting(self, node: str, input_name: str) -> str | None:
        """The config key that sets the file a built-in workflow's node loads, if any."""
        workflow = self.workflow()
        for kind, point in workflow.model_points.items():
            if (point.node, point.input) == (node, input_name):
                return f"backends.{self.name}.models.{kind}"
        return None

    def _api(self) -> ComfyAPI:
        from imagen.adapters.http import make_client

        if self._client is None:
            # The proxy's headers are credentials: ComfyAPI sends them to this origin only.
            self._client = make_client(base_url=self.url, timeout=self.settings.timeout)
        return self._api_on(self._client)

    def _api_on(self, client: httpx.AsyncClient) -> ComfyAPI:
        from imagen_comfyui.api import ComfyAPI

        return ComfyAPI(
            client,
            url=self.url,
            backend=self.name,
            headers_env=self.settings.headers_env,
            credentials=self._headers(),
        )

    def _headers(self) -> dict[str, str]:
        """Extra headers from ``headers_env``: one ``Name: value`` per line."""
        if not self.settings.headers_env:
            return {}
        text = read_secret(self.settings.headers_env)
        if text is None:
            from imagen.errors import NotConfigured

            raise NotConfigured(
                f"{self.name}: set {self.settings.headers_env} to the proxy's headers "
                "(one 'Name: value' per line)",
                env_var=self.settings.headers_env,
            )
        headers = {}
        for line in text.splitlines():
            name, colon, value = line.partition(":")
            if not line.strip():
                continue
            if not colon or not name.strip():
                raise ConfigError(
                    f"{self.settings.headers_env} must hold 'Name: value' lines; "
                    "one line has no name",
                    path=f"backends.{self.name}.headers_env",
                )
            headers[name.strip()] = value.strip()
        return headers


def _decoded(data: bytes, media_type: str, *, backend: str) -> Image:
    """The image with its media type and pixel size read from the bytes themselves (the
    toolkit's header reader: Pillow stays off the command line's path)."""
    from imagen.adapters import inspect_image, remote_text

    try:
        info = inspect_image(data)
    except ValueError:
        raise BackendError(
            "ComfyUI returned an output that is not an image "
            f"({remote_text(media_type, limit=60) or 'no media type'})",
            backend=backend,
        ) from None
    return Image(data, info.media_type, info.width, info.height)
