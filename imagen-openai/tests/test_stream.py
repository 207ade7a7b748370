"""Streamed generations: partial images reported as progress as they arrive."""

from __future__ import annotations

import json

import pytest

from imagen.errors import (
    BackendError,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
    QuotaExceeded,
    RateLimited,
)
from imagen.models import Progress, Ref, Request
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.testing import MakeBackend, generate


def _recorder() -> tuple[Progress, list[tuple[float, float | None, str]]]:
    seen: list[tuple[float, float | None, str]] = []
    return Progress(lambda done, total, message: seen.append((done, total, message))), seen


def test_partial_images_are_progress_steps_before_the_final_image(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    progress, seen = _recorder()
    result = generate(make_backend(partial_images=2), Request("x"), progress)

    assert fake.calls[0].fields["stream"] is True
    assert fake.calls[0].fields["partial_images"] == 2
    assert seen == [
        (0, 3, "sent to OpenAI"),
        (1, 3, "partial image 1 of 2"),
        (2, 3, "partial image 2 of 2"),
        (3, 3, "image received"),
    ]
    (image,) = result.images
    assert (image.width, image.height) == (1024, 1024)  # the final image, not a partial
    assert result.cost is not None  # from the completed event's usage


def test_streamed_edits_read_image_edit_events(fake: FakeOpenAI, make_backend: MakeBackend):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    ref = Ref("cat.png", buffer.getvalue(), "image/png", "0" * 64)
    progress, seen = _recorder()

    result = generate(make_backend(partial_images=1), Request("x", refs=(ref,)), progress)

    assert fake.calls[0].path == "/v1/images/edits"
    assert fake.calls[0].fields["stream"] is True
    assert [message for _, _, message in seen][1:] == ["partial image 1 of 1", "image received"]
    assert len(result.images) == 1


def test_several_streamed_takes_share_one_progress_total(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    progress, seen = _recorder()
    generate(make_backend(partial_images=1), Request("x", count=2), progress)

    assert seen[-1][:2] == (4, 4)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)


def test_a_refusal_in_the_stream_is_content_blocked(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(fake.stream_failure("moderation_blocked", "rejected", "image_generation_user_error"))

    with pytest.raises(ContentBlocked):
        generate(make_backend(partial_images=1), Request("x"))


def test_a_server_failure_in_the_stream_is_a_backend_error(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.stream_failure("server_error", "the stream broke"))

    with pytest.raises(BackendError, match="the stream broke"):
        generate(make_backend(partial_images=1), Request("x"))


def test_a_rate_limited_stream_is_retried(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(fake.rate_limited())

    assert len(generate(make_backend(partial_images=1), Request("x")).images) == 1
    assert len(fake.calls) == 2


def test_a_stream_rate_limited_every_time_is_rate_limited(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(*(fake.rate_limited() for _ in range(4)))

    with pytest.raises(RateLimited):
        generate(make_backend(partial_images=1), Request("x"))


def test_a_stream_without_a_final_image_is_a_backend_error(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    async def cut(request: object) -> object:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)  # type: ignore[arg-type]
        await response.write(
            b'event: image_generation.partial_image\ndata: {"type": '
            b'"image_generation.partial_image", "partial_image_index": 0}\n\n'
        )
        return response

    fake.then(cut)  # type: ignore[arg-type]

    with pytest.raises(BackendError) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert str(raised.value) == (
        "openai-test: OpenAI's stream ended before the final image; try again"
    )


def test_a_stream_past_the_limit_is_refused(fake: FakeOpenAI, make_backend: MakeBackend):
    backend = make_backend(partial_images=1)
    backend.answer_limit = 1000

    with pytest.raises(BackendError, match="more than"):
        generate(backend, Request("x"))


def test_a_slow_stream_past_the_timeout_is_a_backend_timeout(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from imagen.errors import BackendTimeout

    fake.delay = 30.0

    with pytest.raises(BackendTimeout):
        generate(make_backend(partial_images=1, timeout=0.3), Request("x"))


def test_a_stream_out_of_quota_is_quota_exceeded_and_not_retried(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.out_of_quota(), fake.out_of_quota())

    with pytest.raises(QuotaExceeded, match="billing"):
        generate(make_backend(partial_images=1), Request("x"))

    assert len(fake.calls) == 1


def test_a_server_that_answers_a_stream_request_with_json_still_gives_the_image(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from imagen_openai.fake_server import _render

    async def unstreamed(request: object) -> object:
        from aiohttp import web

        image = _render(64, 32, "png", False)
        return web.json_response({"created": 0, "data": [{"b64_json": image}]})

    fake.then(unstreamed)  # type: ignore[arg-type]

    (image,) = generate(make_backend(partial_images=2), Request("x")).images

    assert (image.width, image.height) == (64, 32)


def test_partial_images_arrive_as_progress_before_the_stream_ends(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    import threading

    shown = threading.Event()

    async def held_after_partial(request: object) -> object:
        import asyncio

        from aiohttp import web

        from imagen_openai.fake_server import _event, _render

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)  # type: ignore[arg-type]
        kind = "image_generation.partial_image"
        partial = {"type": kind, "partial_image_index": 0, "b64_json": _render(8, 8, "png", False)}
        await _event(response, kind, partial)
        # The final image only comes once the client has shown the partial one.
        if await asyncio.get_running_loop().run_in_executor(None, shown.wait, 30):
            done = "image_generation.completed"
            final = {"type": done, "b64_json": _render(64, 64, "png", False), "usage": None}
            await _event(response, done, final)
        return response

    fake.then(held_after_partial)  # type: ignore[arg-type]

    def on_progress(done: float, total: float | None, message: str) -> None:
        if message.startswith("partial image"):
            shown.set()

    result = generate(make_backend(partial_images=1), Request("x"), Progress(on_progress))

    assert shown.is_set()
    assert len(result.images) == 1


def _stream_error(error: dict[str, object]):
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        data = json.dumps({"type": "error", **error})
        await response.write(f"event: error\ndata: {data}\n\n".encode())
        return response

    return answer


def test_a_server_failure_in_the_stream_is_unavailable_quoting_it(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.stream_failure("server_error", "the stream broke"))

    with pytest.raises(BackendUnavailable) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI's stream failed (the stream broke); try again"
    assert raised.value.detail == {"code": "server_error", "type": "server_error"}


def test_a_stream_error_without_a_message_says_so(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(_stream_error({}))

    with pytest.raises(BackendUnavailable) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI's stream failed (no message); try again"


def test_a_content_filter_in_the_stream_is_content_blocked_whatever_its_type(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(_stream_error({"error": {"code": "content_filter", "message": "filtered"}}))

    with pytest.raises(ContentBlocked) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert raised.value.reason == "content_filter"


@pytest.mark.parametrize("kind", ["invalid_request_error", "image_generation_user_error"])
def test_a_bad_value_in_the_stream_is_an_invalid_request_like_its_400(
    fake: FakeOpenAI, make_backend: MakeBackend, kind: str
):
    error = {"message": "Invalid size.", "type": kind, "param": "size", "code": "invalid_value"}
    fake.then(_stream_error({"error": error}))

    with pytest.raises(InvalidRequest) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI rejected size: Invalid size."


def _stream_of(*events: str):
    """A stream answer sending ``events`` as they are written (raw server-sent event text)."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(f"{event}\n\n".encode())
        return response

    return answer


def _data(*, image: bool = False, **fields: object) -> str:
    """A ``data:`` line of ``fields``, with a 64x48 image when ``image``."""
    from imagen_openai.fake_server import _render

    if image:
        fields["b64_json"] = _render(64, 48, "png", False)
    return f"data: {json.dumps(fields)}"


COMPLETED = "image_generation.completed"
PARTIAL = "image_generation.partial_image"


def test_a_stream_ending_with_done_still_gives_the_image(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _stream_of(f"event: {COMPLETED}\n{_data(type=COMPLETED, image=True)}", "data: [DONE]")
    )

    (image,) = generate(make_backend(partial_images=1), Request("x")).images

    assert (image.width, image.height) == (64, 48)


def test_a_stream_without_event_names_is_read_by_each_events_type(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _stream_of(_data(type=PARTIAL, partial_image_index=0), _data(type=COMPLETED, image=True))
    )
    progress, seen = _recorder()

    (image,) = generate(make_backend(partial_images=1), Request("x"), progress).images

    assert (image.width, image.height) == (64, 48)
    assert "partial image 1 of 1" in [message for _, _, message in seen]


def test_a_stream_whose_data_carry_no_type_is_read_by_the_event_names(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _stream_of(
            f"event: {PARTIAL}\n{_data(partial_image_index=0)}",
            f"event: {COMPLETED}\n{_data(image=True)}",
        )
    )
    progress, seen = _recorder()

    (image,) = generate(make_backend(partial_images=1), Request("x"), progress).images

    assert (image.width, image.height) == (64, 48)
    assert "partial image 1 of 1" in [message for _, _, message in seen]


def test_events_of_other_kinds_and_data_that_is_no_object_are_skipped(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _stream_of(
            'event: image_generation.started\ndata: {"type": "image_generation.started"}',
            "data: [1, 2]",
            f"event: {COMPLETED}\n{_data(type=COMPLETED, image=True)}",
        )
    )

    (image,) = generate(make_backend(partial_images=1), Request("x")).images

    assert (image.width, image.height) == (64, 48)


def test_an_error_object_in_an_event_of_another_name_fails_the_take(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    error = {"error": {"message": "the GPU fell over", "type": "server_error"}}
    fake.then(_stream_of(f"data: {json.dumps(error)}", f"data: {json.dumps({'x': 1})}"))

    with pytest.raises(BackendUnavailable) as raised:
        generate(make_backend(partial_images=1), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI's stream failed (the GPU fell over); try again"


def test_a_partial_image_without_its_index_counts_as_the_first(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(_stream_of(_data(type=PARTIAL), _data(type=COMPLETED, image=True)))
    progress, seen = _recorder()

    generate(make_backend(partial_images=2), Request("x"), progress)

    assert seen[1] == (1, 3, "partial image 1 of 2")
