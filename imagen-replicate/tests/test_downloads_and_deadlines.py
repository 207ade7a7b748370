"""Outputs, polls, cancels and deadlines as a caller sees them: whole messages, what is sent to
Replicate, and what is not (no cancel of a finished prediction, no hammering while polling)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from imagen.errors import BackendError, BackendTimeout, BackendUnavailable, RateLimited
from imagen.models import Progress, Request
from imagen.testing.servers import serve_app
from imagen_replicate import backend as backend_module

from .conftest import Replicate

NAME = "replicate-test"


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if noise:  # incompressible: the file is as large as its pixels
        picture = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        picture.save(buffer, format="PNG", compress_level=0)
    else:
        Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def created(output: Any, status: str = "succeeded") -> Any:
    """A scripted create answer: a prediction object with ``output``."""

    def reply(request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        body = {
            "id": "scripted1",
            "status": status,
            "output": output,
            "logs": "",
            "urls": {"get": f"{base}/v1/predictions/scripted1"},
        }
        return web.json_response(body, status=201)

    return reply


@pytest.fixture
def cdn() -> Iterator[str]:
    """Another host serving one output file, as a CDN behind a redirect would."""

    async def file(request: web.Request) -> web.Response:
        return web.Response(body=png(48, 32), content_type="image/png")

    app = web.Application()
    app.router.add_get("/out.png", file)
    with serve_app(app) as url:
        yield url


def test_the_seed_is_none_when_the_model_logs_none(replicate: Replicate) -> None:
    replicate.play(prints_seed=False)
    result = replicate.generate(Request("a cat"))
    assert result.images[0].seed is None
    assert "seed" not in result.metadata


def test_an_error_after_the_prediction_succeeded_cancels_nothing(replicate: Replicate) -> None:
    replicate.fake.expired = True
    with pytest.raises(BackendError, match="expired"):
        replicate.generate()
    assert replicate.fake.calls_to("cancel") == []


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_output_gone_from_the_file_host_is_expired(replicate: Replicate, status: int) -> None:
    replicate.play(download_faults=[status])
    with pytest.raises(BackendError) as caught:
        replicate.generate()
    (ident,) = replicate.fake.predictions
    assert type(caught.value) is BackendError
    assert str(caught.value) == (
        f"{NAME}: output http://{replicate.url.removeprefix('http://')}/.../out-0.png expired "
        f"before it was downloaded (HTTP {status}); generate again"
    )
    assert ident


def test_one_expired_output_of_several_fails_the_whole_take(replicate: Replicate) -> None:
    replicate.play(download_faults=[404])
    with pytest.raises(BackendError, match="expired before it was downloaded"):
        replicate.generate(Request("a cat", count=2, seed=1))


@pytest.mark.parametrize("status", [400, 401])
def test_an_output_refused_otherwise_is_unavailable(replicate: Replicate, status: int) -> None:
    replicate.play(download_faults=[status])
    with pytest.raises(BackendUnavailable) as caught:
        replicate.generate()
    assert str(caught.value) == (
        f"{NAME}: could not download output http://{replicate.url.removeprefix('http://')}"
        f"/.../out-0.png (HTTP {status}); generate again"
    )


def test_a_throttled_download_is_retried_once_after_half_a_second(replicate: Replicate) -> None:
    replicate.play(download_faults=[429])
    result = replicate.generate()
    assert len(result.images) == 1
    assert replicate.sleeps == [0.5]  # the download policy's, not the API's hint of ~1s


def test_an_output_redirected_to_another_host_is_followed(replicate: Replicate, cdn: str) -> None:
    def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{cdn}/out.png")

    replicate.play(download_faults=[moved])
    result = replicate.generate()
    assert (result.images[0].width, result.images[0].height) == (48, 32)


def test_an_output_larger_than_a_json_answer_is_downloaded(replicate: Replicate) -> None:
    big = png(1800, 1800, noise=True)  # about 9.7 MB: over the 8 MiB an API answer may be

    def large(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="image/png")

    replicate.play(download_faults=[large])
    result = replicate.generate()
    assert len(big) > 8 * 2**20
    assert result.images[0].data == big


def test_an_unreadable_data_url_output_names_the_problem(replicate: Replicate) -> None:
    replicate.play(create_faults=[created(["data:image/png;base64"])])
    with pytest.raises(BackendError) as caught:
        replicate.generate()
    assert str(caught.value).startswith(f"{NAME}: unreadable output (")


def test_a_plain_http_output_on_another_host_is_not_downloaded(replicate: Replicate) -> None:
    replicate.play(create_faults=[created(["http://files.example/abc/out-0.png"])])
    with pytest.raises(BackendError) as caught:
        replicate.generate()
    assert str(caught.value) == (
        f"{NAME}: output http://files.example/.../out-0.png is not an https: or data: URL; "
        "not downloaded"
    )


def test_an_answer_that_is_not_a_prediction_says_so(replicate: Replicate) -> None:
    def not_a_prediction(request: web.Request) -> web.Response:
        return web.Response(status=201, text=json.dumps({"detail": "ok"}))

    replicate.play(create_faults=[not_a_prediction])
    with pytest.raises(BackendUnavailable) as caught:
        replicate.generate()
    assert str(caught.value) == (
        f"{NAME}: Replicate answered HTTP 201 without a prediction object; try again"
    )


def test_a_long_prediction_is_polled_with_growing_pauses(replicate: Replicate) -> None:
    replicate.play(predict_time=0.8, sync_cap=0.05)
    replicate.generate()
    polls = replicate.fake.calls_to("poll")
    # 0.05, 0.1, 0.2, 0.4, 0.8 s apart: a handful, however slow the machine (shrinking pauses
    # would poll dozens of times in the same 0.8 s).
    assert 1 <= len(polls) <= 7


def test_a_create_that_never_answers_times_out_saying_so(replicate: Replicate) -> None:
    replicate.fake.hold("create")
    with pytest.raises(BackendTimeout) as caught:
        replicate.generate(timeout=0.5)
    assert str(caught.value) == (
        f"{NAME}: Replicate did not answer the create request within 0.5 s; raise `timeout` for "
        "this instance if the model is slow"
    )
    assert caught.value.detail == {"prediction_id": None, "timeout": 0.5}


def test_a_cancel_that_never_answers_is_given_up_and_said(
    replicate: Replicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "CANCEL_GRACE", 0.2)
    replicate.play(predict_time=30, sync_cap=0.05)
    replicate.fake.hold("cancel")
    with pytest.raises(BackendTimeout) as caught:
        replicate.generate(timeout=3)  # ample time for the prediction to be created first
    (ident,) = replicate.fake.predictions
    assert str(caught.value) == (
        f"{NAME}: prediction {ident} did not finish (cancel failed; Cancel-After stops it) within "
        "3 s; raise `timeout` for this instance if the model is slow"
    )
    assert caught.value.detail == {"prediction_id": ident, "timeout": 3}


def test_the_last_progress_says_the_images_are_downloaded(replicate: Replicate) -> None:
    seen: list[str] = []
    replicate.generate(progress=Progress(lambda done, total, message: seen.append(message)))
    assert seen[-1] == "downloaded"


def test_a_throttled_create_says_it_will_retry(replicate: Replicate) -> None:
    replicate.play(create_faults=[429])
    seen: list[str] = []
    replicate.generate(progress=Progress(lambda done, total, message: seen.append(message)))
    assert any(message.endswith("retrying in 1.0 s") for message in seen), seen


def test_a_throttled_create_asking_for_longer_than_the_timeout_is_not_waited_out(
    replicate: Replicate,
) -> None:
    replicate.play(create_faults=[429], retry_after="30")
    with pytest.raises(RateLimited) as caught:
        replicate.generate(timeout=5)

    assert caught.value.retry_after == 30
    assert len(replicate.fake.creates()) == 1
    assert replicate.sleeps == []


def test_a_throttled_poll_asking_for_longer_than_the_timeout_is_not_waited_out(
    replicate: Replicate,
) -> None:
    replicate.play(predict_time=0.3, sync_cap=0.05, poll_faults=[429], retry_after="30")
    with pytest.raises(RateLimited):
        replicate.generate(timeout=5)

    assert replicate.fake.canceled == list(replicate.fake.predictions)


def test_a_throttled_download_asking_for_longer_than_the_timeout_is_not_waited_out(
    replicate: Replicate,
) -> None:
    replicate.play(download_faults=[429], retry_after="30")
    with pytest.raises(BackendUnavailable, match=r"\(HTTP 429\); generate again"):
        replicate.generate(timeout=5)

    assert replicate.sleeps == []


def test_an_output_that_is_not_an_image_names_the_output_and_the_prediction(
    replicate: Replicate,
) -> None:
    def login_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>sign in</html>", content_type="text/html")

    replicate.play(download_faults=[login_page])
    with pytest.raises(BackendError) as caught:
        replicate.generate()

    (ident,) = replicate.fake.predictions
    message = str(caught.value)
    assert message.startswith(f"{NAME}: output http://127.0.0.1:")
    assert message.endswith(
        f"/.../out-0.png of prediction {ident} is not an image (not a PNG, JPEG, WebP or GIF image)"
    )


def test_a_requests_seed_is_recorded_when_the_model_logs_none(replicate: Replicate) -> None:
    replicate.play(prints_seed=False)
    result = replicate.generate(Request("a cat", seed=7))

    assert result.images[0].seed == 7
    assert result.metadata["seed"] == 7


def test_a_download_that_outlasts_the_timeout_says_the_prediction_finished(
    replicate: Replicate,
) -> None:
    replicate.fake.hold("download")
    with pytest.raises(BackendTimeout) as caught:
        replicate.generate(timeout=1)

    (ident,) = replicate.fake.predictions
    assert str(caught.value) == (
        f"{NAME}: prediction {ident} finished but its images were not downloaded within 1 s; "
        "raise `timeout` for this instance if the network is slow"
    )
    assert replicate.fake.canceled == []  # nothing left running to cancel
