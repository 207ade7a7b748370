"""How Gemini's error answers map to imagen's errors, and which of them are retried."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    RateLimited,
)
from imagen.models import Request
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.settings import GeminiSettings


def test_invalid_key_is_auth_error_naming_the_env_var(fake, make_backend, generate, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-a-wrong-key-0000000000000")
    with pytest.raises(AuthError, match="GEMINI_API_KEY") as caught:
        generate(make_backend(), Request("a kite"))
    assert "API key not valid" in str(caught.value)
    assert "AIza-a-wrong-key" not in str(caught.value)
    assert len(fake.requests) == 1


def test_permission_denied_is_auth_error(fake, make_backend, generate):
    fake.then(fake.error(403, "PERMISSION_DENIED", "Your API key was reported as leaked."))
    with pytest.raises(AuthError, match=r"reported as leaked.*GEMINI_API_KEY"):
        generate(make_backend(), Request("a kite"))


def test_unknown_model_is_invalid_request_naming_the_model(make_backend, generate):
    with pytest.raises(InvalidRequest, match="no model 'gemini-9-image'") as caught:
        generate(make_backend(model="gemini-9-image"), Request("a kite"))
    assert "model" in caught.value.fields
    assert str(caught.value).endswith(
        "; set model: to an image model such as gemini-2.5-flash-image"
    )


def test_bad_request_carries_the_field_violations(fake, make_backend, generate):
    fake.then(
        fake.error(
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'generation_config.image_config.aspect_ratio'",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "field": "generation_config.image_config.aspect_ratio",
                            "description": "Unsupported aspect ratio",
                        }
                    ],
                }
            ],
        )
    )
    with pytest.raises(InvalidRequest, match="Gemini rejected the request") as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.fields == {
        "generation_config.image_config.aspect_ratio": "Unsupported aspect ratio"
    }


def test_rate_limit_is_retried_three_times_after_the_hinted_wait(
    fake, make_backend, generate, sleeps
):
    fake.then(*(fake.rate_limited(retry_in="7.5") for _ in range(4)))
    with pytest.raises(
        RateLimited, match=r"^gemini[^:]*: Gemini is rate limiting this key"
    ) as caught:
        generate(make_backend(), Request("a kite"))
    assert sleeps == [7.5, 7.5, 7.5]
    assert len(fake.requests) == 4
    assert caught.value.retry_after == 7.5
    assert "\n" not in str(caught.value)
    assert str(caught.value).endswith("; wait and try again, or lower concurrency")


def test_rate_limit_hint_falls_back_to_retry_info(fake, make_backend, generate, sleeps):
    fake.then(fake.rate_limited(retry_in=None, retry_delay="12s"))
    result = generate(make_backend(), Request("a kite"))
    assert sleeps == [12.0]
    assert len(result.images) == 1


def test_rate_limit_without_hints_backs_off_exponentially(fake, make_backend, generate, sleeps):
    fake.then(*(fake.rate_limited(retry_in=None, retry_delay=None) for _ in range(3)))
    generate(make_backend(), Request("a kite"))
    assert sleeps == [2.0, 4.0, 8.0]


def test_server_error_is_retried_once_then_unavailable(fake, make_backend, generate, sleeps):
    overloaded = fake.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    fake.then(overloaded, overloaded)
    with pytest.raises(BackendUnavailable, match="HTTP 503 UNAVAILABLE twice"):
        generate(make_backend(), Request("a kite"))
    assert len(fake.requests) == 2


def test_server_error_once_then_an_image(fake, make_backend, generate):
    fake.then(fake.error(500, "INTERNAL", "An internal error has occurred."))
    result = generate(make_backend(), Request("a kite"))
    assert len(result.images) == 1
    assert len(fake.requests) == 2


def test_slow_answer_past_the_timeout_is_backend_timeout(fake, make_backend, generate):
    fake.hold()
    with pytest.raises(BackendTimeout, match=r"within 0\.2 s"):
        generate(make_backend(timeout=0.2), Request("a kite"))


def test_a_take_past_the_timeout_names_the_instance_and_the_setting_to_raise(
    fake, make_backend, generate
):
    fake.hold()
    with pytest.raises(BackendTimeout) as caught:
        generate(make_backend(timeout=0.25), Request("a kite"))
    assert caught.value.backend == "gemini-test"
    assert str(caught.value) == (
        "gemini-test: Gemini did not answer within 0.25 s; try again or raise timeout: in the "
        "config"
    )


def test_unreachable_server_is_backend_unavailable(generate, api_key):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = GeminiBackend("gemini-test", GeminiSettings(base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(BackendUnavailable, match="could not reach Gemini"):
        generate(backend, Request("a kite"))


def test_key_echoed_in_an_error_never_reaches_the_message(fake, make_backend, generate, api_key):
    fake.then(fake.error(400, "INVALID_ARGUMENT", f"Bad request for key={api_key}\nsee docs"))
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("a kite"))
    assert api_key not in str(caught.value)
    assert api_key not in repr(caught.value.detail)
    assert "key=***" in str(caught.value)


def test_errors_name_the_backend_instance(fake, make_backend, generate):
    fake.then(fake.error(403, "PERMISSION_DENIED", "denied"))
    with pytest.raises(AuthError) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.backend == "gemini-test"


@pytest.mark.parametrize(
    ("code", "status", "answers", "error"),
    [
        (403, "PERMISSION_DENIED", 1, AuthError),
        (404, "NOT_FOUND", 1, InvalidRequest),
        (429, "RESOURCE_EXHAUSTED", 4, RateLimited),
        (400, "FAILED_PRECONDITION", 1, InvalidRequest),
        (503, "UNAVAILABLE", 2, BackendUnavailable),
    ],
)
def test_a_caller_reads_the_http_status_and_googles_status_and_message_from_the_error(
    fake, make_backend, generate, code, status, answers, error
):
    fake.then(*(fake.error(code, status, "said by Google") for _ in range(answers)))
    with pytest.raises(error) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.backend == "gemini-test"
    assert caught.value.detail == {
        "http_status": code,
        "status": status,
        "message": "said by Google",
    }


def test_a_conflict_is_invalid_request_quoting_gemini(fake, make_backend, generate):
    fake.then(fake.error(409, "ABORTED", "The request was aborted."))
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini rejected the request: The request was aborted."
    )
    assert len(fake.requests) == 1


def test_a_request_timeout_answer_is_backend_timeout(fake, make_backend, generate):
    fake.then(fake.error(408, "DEADLINE_EXCEEDED", "Request timed out."))
    with pytest.raises(BackendTimeout) as caught:
        generate(make_backend(), Request("a kite"))
    assert len(fake.requests) == 1
    # Gemini's own deadline, at once: not imagen's timeout, which raising would not help.
    assert "Request timed out." in str(caught.value)
    assert "did not answer within" not in str(caught.value)


def test_a_request_too_large_answer_says_to_use_smaller_references(fake, make_backend, generate):
    fake.then(fake.raw(413, "<html><title>413 Request Entity Too Large</title></html>"))
    with pytest.raises(InvalidRequest, match="too large: use smaller --ref images"):
        generate(make_backend(), Request("a kite"))


def test_internal_error_twice_is_unavailable_naming_googles_status(fake, make_backend, generate):
    internal = fake.error(500, "INTERNAL", "An internal error has occurred.")
    fake.then(internal, internal)
    with pytest.raises(BackendUnavailable, match="Gemini answered HTTP 500 INTERNAL twice"):
        generate(make_backend(), Request("a kite"))


def test_a_proxys_error_page_twice_is_unavailable_with_the_http_status_alone(
    fake, make_backend, generate
):
    page = fake.raw(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    fake.then(page, page)
    with pytest.raises(BackendUnavailable) as caught:
        generate(make_backend(), Request("a kite"))
    assert "Gemini answered HTTP 502 twice (" in str(caught.value)
    assert caught.value.detail["status"] is None


def test_a_proxys_rate_limit_page_is_retried_after_its_retry_after_header(
    fake, make_backend, generate, sleeps
):
    fake.then(
        lambda body: web.Response(
            status=429,
            text="<html><body>Too Many Requests</body></html>",
            content_type="text/html",
            headers={"Retry-After": "3"},
        )
    )
    result = generate(make_backend(), Request("a kite"))
    assert sleeps == [3.0]
    assert len(result.images) == 1


def test_an_answer_the_toolkit_maps_still_names_the_instance(fake, make_backend, generate):
    fake.then(fake.raw(418, "I'm a teapot", content_type="text/plain"))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.backend == "gemini-test"


def test_progress_says_when_a_take_is_sent_and_why_it_waits_to_retry(
    fake, make_backend, generate, sleeps
):
    from imagen.models import Progress

    messages: list[str] = []
    progress = Progress(lambda done, total, message: messages.append(message))
    fake.then(fake.rate_limited(retry_in="7.5"))
    generate(make_backend(), Request("a kite"), progress)
    assert messages[0] == "sent to Gemini"
    assert "HTTP 429; retrying in 7.5 s" in messages


def test_an_unreachable_server_says_what_could_not_be_done(generate, api_key):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = GeminiBackend("gemini-test", GeminiSettings(base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(BackendUnavailable) as caught:
        generate(backend, Request("a kite"))
    message = str(caught.value)
    assert message.startswith("gemini-test: could not reach Gemini to generate the image (")
    assert message.endswith("); check the network and base_url")


def test_an_answer_past_8_mib_is_read(fake, make_backend, generate):
    """Images come inline: a large image's answer is bigger than a JSON answer's usual bound."""
    import base64

    from .conftest import png

    # A real image followed by 9 MiB the PNG reader ignores: an answer of about 12 MiB.
    data = png(64, 48) + bytes(9 * 1024 * 1024)
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
    answer = {"candidates": [{"finishReason": "STOP", "content": {"parts": [part]}}]}
    fake.then(lambda body: web.json_response(answer))
    result = generate(make_backend(), Request("a kite"))
    (image,) = result.images
    assert image.data == data
    assert (image.width, image.height) == (64, 48)


def test_a_retry_wait_past_the_timeout_is_not_waited_for(fake, make_backend, generate, sleeps):
    fake.then(fake.rate_limited(retry_in="30", retry_delay=None))
    with pytest.raises(RateLimited) as caught:
        generate(make_backend(timeout=5), Request("a kite"))
    # Waiting 30 s would outlast the take's 5 s: Gemini's answer is the answer, at once.
    assert sleeps == []
    assert len(fake.requests) == 1
    assert caught.value.retry_after == 30.0


def test_a_model_name_with_a_slash_stays_one_path_segment(fake, make_backend, generate):
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(model="tuned/kite"), Request("a kite"))
    (seen,) = fake.requests
    assert seen["url"].endswith("/v1beta/models/tuned%2Fkite:generateContent")
    # Gemini's own answer about that model, not a 404 page of some other path.
    assert caught.value.detail["status"] == "NOT_FOUND"


def test_a_backend_made_without_a_test_sleep_waits_out_a_retry_hint(
    fake, generate, gemini_url, api_key
):
    # Configured as a user's is (no sleep= hook): the hinted 0.01 s is really waited, then retried.
    fake.then(fake.rate_limited(retry_in="0.01", retry_delay=None))
    backend = GeminiBackend("gemini-test", GeminiSettings(base_url=gemini_url))
    result = generate(backend, Request("a kite"))
    assert len(result.images) == 1
    assert len(fake.requests) == 2
