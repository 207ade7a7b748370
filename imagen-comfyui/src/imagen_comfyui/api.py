"""ComfyUI's HTTP endpoints, one method each, every status mapped to an imagen error.

POST /prompt            {"prompt": graph, "client_id", "prompt_id"} -> {"prompt_id", "number",
                        "node_errors"}; the server keeps a prompt_id the client chose
GET  /history/{id}      {} until the run is finished, then {id: {"outputs", "status", ...}}
GET  /view              ?filename=&subfolder=&type= -> the image bytes
POST /upload/image      multipart "image" -> {"name", "subfolder", "type": "input"}
GET  /object_info/{cls} {cls: {"input": {"required": {name: [[choices...], {...}]}}}}
POST /queue             {"delete": [id]} removes a prompt that has not started
POST /interrupt         {"prompt_id": id} stops it if it is the one running
GET  /system_stats      {"system": {"comfyui_version", ...}, "devices": [...]}

A failed answer is mapped by the toolkit's table (429 RateLimited, 408 BackendTimeout, 413 and
400 InvalidRequest...) after ComfyUI's own wording: a proxy's 401/403 names ``headers_env``, a
404 asks whether ``url`` is a ComfyUI server, a 5xx points at the server's log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from imagen.adapters import (
    IMAGE_LIMIT,
    JSON_LIMIT,
    NO_RETRY,
    ErrorHook,
    Failure,
    HttpApi,
    ResponseTooLarge,
    Retry,
    RetryPolicy,
    json_object,
    remote_text,
    send,
)
from imagen.errors import AuthError, BackendError, BackendTimeout, BackendUnavailable
from imagen_comfyui.failures import rejected_prompt

if TYPE_CHECKING:
    import httpx

    from imagen.models import Ref

#: Reads are safe to repeat: one retry on a dropped connection or a proxy's 502/503/504.
READ_POLICY = RetryPolicy(
    Retry.on_transport(attempts=1),
    Retry.on_status(502, 503, 504, attempts=1, backoff=0.5),
)
#: A repeated POST /prompt could queue the same work twice, so it is sent once.
SUBMIT_POLICY = NO_RETRY

_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class ComfyAPI:
    """The HTTP side of one ComfyUI server, for the backend instance ``backend``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        backend: str,
        headers_env: str | None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.url = url
        self.backend = backend
        self.headers_env = headers_env
        # The proxy's auth headers: sent to the server's own origin only, and scrubbed from
        # anything the server says back (a proxy may echo them in an error page).
        self.credentials = dict(credentials or {})
        self.secrets = list(self.credentials.values())
        # Only its failure mapping is used: requests go through ``send`` on the shared client.
        self.mapping = HttpApi(f"ComfyUI at {url}", backend=backend, base_url=url)

    async def queue_prompt(self, graph: Mapping[str, Any], client_id: str, prompt_id: str) -> str:
        """Queue ``graph`` under ``prompt_id``; the id the server answers with (the same one).

        A 400 becomes ``InvalidRequest`` with node detail.
        """
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        response = await self._send("POST", "/prompt", policy=SUBMIT_POLICY, json=body)

        def rejected(response: httpx.Response, failure: Failure) -> BackendError | None:
            if failure.status != 400:
                return None
            return rejected_prompt(failure.body, backend=self.backend, secrets=self.secrets)

        self._check(response, "queue the workflow", rejected)
        answered = json_object(response).get("prompt_id")
        if not isinstance(answered, str):
            raise BackendError(
                f"ComfyUI at {self.url} answered POST /prompt without a prompt_id",
                backend=self.backend,
            )
        return answered

    async def history(self, prompt_id: str) -> Mapping[str, Any] | None:
        """The finished run's history entry, or None while it is queued or running."""
        response = await self._send("GET", f"/history/{prompt_id}", policy=READ_POLICY)
        self._check(response, "read the run's history")
        entry = json_object(response).get(prompt_id)
        return entry if isinstance(entry, Mapping) else None

    async def queue_state(self, prompt_id: str) -> Literal["running", "pending"] | None:
        """Whether ``prompt_id`` is running or waiting on the server (None: neither)."""
        response = await self._send("GET", "/queue", policy=READ_POLICY)
        self._check(response, "read the queue")
        body = json_object(response)
        states: tuple[tuple[Literal["running", "pending"], str], ...] = (
            ("running", "queue_running"),
            ("pending", "queue_pending"),
        )
        for state, key in states:
            items = body.get(key) or []
            if any(isinstance(item, list) and item[1:2] == [prompt_id] for item in items):
                return state
        return None

    async def in_queue(self, prompt_id: str) -> bool:
        return await self.queue_state(prompt_id) is not None

    async def view(self, image: Mapping[str, Any]) -> tuple[bytes, str]:
        """Download one output file; its bytes and the media type the server gave."""
        params = {
            "filename": str(image.get("filename", "")),
            "subfolder": str(image.get("subfolder", "")),
            "type": str(image.get("type", "output")),
        }
        response = await self._send(
            "GET", "/view", policy=READ_POLICY, params=params, limit=IMAGE_LIMIT
        )

        def gone(response: httpx.Response, failure: Failure) -> BackendError | None:
            if failure.status != 404:
                return None
            return BackendError(
                f"ComfyUI no longer has the output file {params['filename']!r}; try again",
                backend=self.backend,
            )

        self._check(response, "download an output image", gone)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return response.content, media_type

    async def upload(self, ref: Ref) -> str:
        """Upload a reference image to ComfyUI's input folder; the name ``LoadImage`` takes.

        The file is named after its hash, so the same image uploaded again is the same file
        (ComfyUI keeps one copy of identical bytes under one name).
        """
        name = f"imagen-{ref.sha256[:16]}{_EXTENSIONS.get(ref.media_type, '.png')}"
        files = {"image": (name, ref.data, ref.media_type)}
        response = await self._send(
            "POST", "/upload/image", policy=SUBMIT_POLICY, files=files, data={"type": "input"}
        )
        self._check(response, "upload the reference image")
        body = json_object(response)
        uploaded = str(body.get("name") or name)
        subfolder = str(body.get("subfolder") or "")
        return f"{subfolder}/{uploaded}" if subfolder else uploaded

    async def object_info(self, class_type: str) -> Mapping[str, Any]:
        """The node definition of ``class_type`` ({} when the server has no such node)."""
        response = await self._send("GET", f"/object_info/{class_type}", policy=READ_POLICY)
        self._check(response, "read the node definitions")
        info = json_object(response).get(class_type)
        return info if isinstance(info, Mapping) else {}

    async def choices(self, class_type: str, input_name: str) -> list[str]:
        """The values a combo input offers (a loader's model files); [] if unknown."""
        info = await self.object_info(class_type)
        inputs = info.get("input") or {}
        for group in ("required", "optional"):
            spec = (inputs.get(group) or {}).get(input_name)
            if not isinstance(spec, list) or not spec:
                continue
            if isinstance(spec[0], list):
                return [str(choice) for choice in spec[0]]
            # Newer nodes declare ["COMBO", {"options": [...]}].
            if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], Mapping):
                return [str(choice) for choice in spec[1].get("options", [])]
        return []

    async def version(self) -> str | None:
        """The server's ComfyUI version from ``GET /system_stats`` (None if it does not say).

        Sent once, without retries: ``imagen backends --check`` wants a quick answer.
        """
        response = await self._send("GET", "/system_stats", policy=NO_RETRY)
        self._check(response, "read the server's version")
        system = json_object(response).get("system")
        version = system.get("comfyui_version") if isinstance(system, Mapping) else None
        return str(version) if version else None

    async def cancel(self, prompt_id: str) -> None:
        """Take ``prompt_id`` off the queue if it has not started, and stop it if it has.

        The interrupt names the prompt and is only sent while it runs: older ComfyUI versions
        ignore the ``prompt_id`` and would stop whatever runs, someone else's work too.
        """
        await self._send("POST", "/queue", policy=NO_RETRY, json={"delete": [prompt_id]})
        if await self.queue_state(prompt_id) == "running":
            await self._send("POST", "/interrupt", policy=NO_RETRY, json={"prompt_id": prompt_id})

    # -- plumbing --------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, policy: RetryPolicy, limit: int = JSON_LIMIT, **kwargs: Any
    ) -> httpx.Response:
        import httpx

        try:
            return await send(self.client, method, path, policy=policy, limit=limit,
                              credentials=self.credentials, **kwargs)  # fmt: skip
        except ResponseTooLarge as error:
            raise BackendError(f"ComfyUI at {self.url} {error}; not read", backend=self.backend
                               ) from None  # fmt: skip
        except httpx.ConnectError as error:
            reason = _connect_failure(error)
            raise BackendUnavailable(
                f"cannot connect to ComfyUI at {self.url} ({reason}); "
                "is the server running and is url right?",
                backend=self.backend,
                detail={"unreachable": reason},
            ) from None
        except httpx.TimeoutException:
            raise BackendTimeout(
                f"ComfyUI at {self.url} did not answer {method} {path} in time",
                backend=self.backend,
                detail={"unreachable": f"no answer to {method} {path} in time"},
            ) from None
        except httpx.TransportError as error:
            reason = remote_text(error, secrets=self.secrets, limit=120) or type(error).__name__
            raise BackendUnavailable(
                f"lost the connection to ComfyUI at {self.url} during {method} {path}: {reason}",
                backend=self.backend,
                detail={"unreachable": reason},
            ) from None

    def _check(self, response: httpx.Response, what: str, errors: ErrorHook | None = None) -> None:
        """Nothing for a 2xx answer; else the error for it: ``errors``, ComfyUI's wording, then
        the toolkit's table. ``what`` completes "could not ...".
        """
        if response.is_success:
            return

        def mapped(response: httpx.Response, failure: Failure) -> BackendError | None:
            own = errors(response, failure) if errors is not None else None
            return own if own is not None else self._errors(response, failure)

        raise self.mapping.failure_error(response, what=what, errors=mapped, secrets=self.secrets)

    def _errors(self, response: httpx.Response, failure: Failure) -> BackendError | None:
        status = failure.status
        common: dict[str, Any] = {"backend": self.backend, "detail": failure.info}
        if status in (401, 403):
            fix = (
                f"check the headers in ${self.headers_env}"
                if self.headers_env
                else "set headers_env to the env var holding the proxy's auth headers"
            )
            return AuthError(
                f"ComfyUI at {self.url} refused to {failure.what} (HTTP {status}); {fix}", **common
            )
        if status == 404:
            path = remote_text(response.request.url.path, limit=120)
            return BackendUnavailable(
                f"{self.url} has no {path} (HTTP 404); is url a ComfyUI server?", **common
            )
        if status >= 500:
            return BackendUnavailable(
                f"ComfyUI at {self.url} could not {failure.what} (HTTP {status}); "
                "see the server's log",
                **common,
            )
        return None


def _connect_failure(error: BaseException) -> str:
    """Why a connection failed, as the system says it ("Connection refused").

    httpx's own text for an async connect is "All connection attempts failed"; the OS error
    it wraps says what happened.
    """
    import os
    import ssl

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            # Its errno is OpenSSL's (1 for most), not the system's: os.strerror would say
            # "Operation not permitted" for an https url on a plain-http server.
            return "TLS: " + str(cause.reason or cause.strerror).lower().replace("_", " ")
        if isinstance(cause, OSError) and isinstance(cause.errno, int):
            return os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    return remote_text(error, limit=120) or "refused"
