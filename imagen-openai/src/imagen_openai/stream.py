"""A streamed generation (``stream: true``): server-sent events read as they arrive.

    event: image_generation.partial_image
    data: {"type": "image_generation.partial_image", "partial_image_index": 0, "b64_json": ...}

    event: image_generation.completed
    data: {"type": "image_generation.completed", "b64_json": "...", "usage": {...}}

(``image_edit.*`` for edits.) ``HttpApi.call`` reads a whole body before it returns, so partial
images could not be reported while they arrive; this module sends on the same client, with the
same key, retry policy, deadline and error mapping, and bounds the events it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagen.adapters import ERROR_BODY_LIMIT, Deadline, ErrorHook, HttpApi, Retry
from imagen.errors import BackendError, BackendTimeout, BackendUnavailable
from imagen_openai.failures import BLOCKED, error_fields

if TYPE_CHECKING:
    import httpx


async def post_streaming(
    api: HttpApi,
    path: str,
    *,
    what: str,
    deadline: Deadline,
    errors: ErrorHook,
    on_partial: Callable[[int], None],
    limit: int,
    **kwargs: Any,
) -> dict[str, Any]:
    """The final images and usage, shaped like an unstreamed answer (``{"data", "usage"}``)."""
    import httpx

    client, used = api.client(), dict[Retry, int]()
    headers = {**api.credentials(), "Accept": "text/event-stream"}
    try:
        async with deadline.scope():
            while True:
                request = client.build_request("POST", path, headers=headers, **kwargs)
                response = await client.send(request, stream=True)
                try:
                    if response.is_success:
                        return await _read_events(response, api, what, errors, on_partial, limit)
                    failed = await _error_response(response)
                finally:
                    await response.aclose()
                rule = api.policy.rule_for(failed)
                if rule is None or used.get(rule, 0) >= rule.attempts:
                    raise api.failure_error(failed, what=what, errors=errors)
                used[rule] = used.get(rule, 0) + 1
                hint = api.policy.retry_after(failed)
                wait = hint if hint is not None else rule.delay(used[rule])
                await api.policy.sleep(min(wait, api.policy.max_wait))
    except (TimeoutError, httpx.TimeoutException):
        raise BackendTimeout(
            f"OpenAI did not finish the stream in time to {what}; raise "
            f"timeout: for {api.backend!r} or try again",
            backend=api.backend,
        ) from None
    except httpx.TransportError as error:
        reason = api.clean(str(error) or type(error).__name__, limit=120)
        raise BackendUnavailable(
            f"lost OpenAI's stream while trying to {what} ({reason}); "
            "check the network and base_url",
            backend=api.backend,
        ) from None


async def _error_response(response: httpx.Response) -> httpx.Response:
    import httpx

    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > ERROR_BODY_LIMIT:
            break
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(body[:ERROR_BODY_LIMIT]),
        request=response.request,
    )


async def _read_events(
    response: httpx.Response,
    api: HttpApi,
    what: str,
    errors: ErrorHook,
    on_partial: Callable[[int], None],
    limit: int,
) -> dict[str, Any]:
    pending, data, size = bytearray(), list[bytes](), 0
    answer: dict[str, Any] = {"data": []}

    def dispatch() -> None:
        text = b"\n".join(data).decode("utf-8", "replace")
        data.clear()
        try:
            event = json.loads(text) if text and text != "[DONE]" else {}
            kind = str(event.get("type", "")) if isinstance(event, dict) else ""
            index = int(event.get("partial_image_index") or 0) if kind else 0
        except (ValueError, TypeError):
            raise BackendError(
                "OpenAI sent a stream event that is not an Images API event; check base_url",
                backend=api.backend,
            ) from None
        if kind.endswith(".partial_image"):
            on_partial(index)
        elif kind.endswith(".completed"):
            answer["data"].append({"b64_json": event.get("b64_json")})
            answer["usage"] = event.get("usage")
        elif kind == "error" or (isinstance(event, dict) and "error" in event):
            raise _stream_error(event, response, api, what, errors)

    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BackendError(
                f"OpenAI streamed more than {limit // 2**20} MiB to {what}; not read",
                backend=api.backend,
            )
        start, scan = 0, len(pending)
        pending += chunk
        while (end := pending.find(b"\n", scan)) >= 0:
            line = bytes(pending[start:end]).rstrip(b"\r")
            start = scan = end + 1
            if not line:
                dispatch()
            elif line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
        del pending[:start]
    if data:
        dispatch()
    if not answer["data"]:
        raise BackendError(
            "OpenAI's stream ended before the final image; try again", backend=api.backend
        )
    return answer


def _stream_error(
    event: Any, response: httpx.Response, api: HttpApi, what: str, errors: ErrorHook
) -> BackendError:
    """An ``error`` event mapped like an error answer: a refusal or bad value as 400, else 500."""
    import httpx

    fields = error_fields(event)
    if fields["code"] in BLOCKED or fields["type"].endswith(("user_error", "request_error")):
        refused = httpx.Response(400, json=event, request=response.request)
        return api.failure_error(refused, what=what, errors=errors)
    said = api.clean(fields["message"]) or "no message"
    return BackendError(
        f"OpenAI's stream failed ({said}); try again",
        backend=api.backend,
        detail={"code": fields["code"], "type": fields["type"]},
    )
