"""Every error the API answers, mapped to one of imagen's, one line, without the key."""

from __future__ import annotations

import base64

import pytest

from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
    NotConfigured,
    QuotaExceeded,
    RateLimited,
)
from imagen.models import Request
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.testing import KEY, MakeBackend, generate

WRONG = "sk-proj-wrongKeyThatMustNeverBePrinted0123456789"


def test_a_refused_key_is_an_auth_error_naming_the_variable_not_the_key(
    fake: FakeOpenAI, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENAI_API_KEY", WRONG)  # the fake echoes it in its message

    with pytest.raises(AuthError) as raised:
        generate(make_backend(), Request("x"))

    message = str(raised.value)
    assert "OPENAI_API_KEY" in message
    assert WRONG not in message
    assert WRONG not in repr(raised.value.detail)
    assert "\n" not in message


def test_an_unset_key_is_not_configured_and_nothing_is_sent(
    fake: FakeOpenAI, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("OPENAI_API_KEY")

    with pytest.raises(NotConfigured, match="OPENAI_API_KEY"):
        generate(make_backend(), Request("x"))

    assert fake.calls == []


def test_a_moderation_block_is_content_blocked_with_the_code(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(ContentBlocked) as raised:
        generate(make_backend(), Request("something forbidden"))

    assert raised.value.reason == "moderation_blocked"
    assert len(fake.calls) == 1  # a refusal is not retried


def test_a_rejected_value_is_an_invalid_request_naming_the_parameter(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest) as raised:
        generate(make_backend(quality="ultra"), Request("x"))

    assert list(raised.value.fields) == ["quality"]
    assert "ultra" in str(raised.value)


def test_a_rate_limit_is_retried_after_retry_after_then_succeeds(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.rate_limited("2"), fake.rate_limited("1"))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    backend = OpenAIBackend(
        "t",
        OpenAISettings(base_url=f"{fake.url}/v1"),
        sleep=record,  # type: ignore[attr-defined]
    )
    result = generate(backend, Request("x"))

    assert len(result.images) == 1
    assert waits == [2.0, 1.0]
    assert len(fake.calls) == 3


def test_a_rate_limit_that_persists_is_rate_limited_after_three_retries(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(*(fake.rate_limited() for _ in range(5)))

    with pytest.raises(RateLimited):
        generate(make_backend(), Request("x"))

    assert len(fake.calls) == 4


def test_insufficient_quota_is_quota_exceeded_and_never_retried(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.out_of_quota(), fake.out_of_quota())

    with pytest.raises(QuotaExceeded) as raised:
        generate(make_backend(), Request("x"))

    assert "quota" in str(raised.value)
    assert "billing" in str(raised.value)
    assert len(fake.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retried_once(fake: FakeOpenAI, make_backend: MakeBackend, status: int):
    fake.then(fake.server_error(status))

    assert len(generate(make_backend(), Request("x")).images) == 1
    assert len(fake.calls) == 2


def test_two_server_errors_are_backend_unavailable(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(fake.server_error(), fake.server_error())

    with pytest.raises(BackendUnavailable):
        generate(make_backend(), Request("x"))


def test_a_dropped_connection_is_unavailable_and_not_retried(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.dropped())

    with pytest.raises(BackendUnavailable):
        generate(make_backend(), Request("x"))

    assert len(fake.calls) == 1  # the lost answer may have been billed


def test_a_slow_answer_past_the_timeout_is_a_backend_timeout(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.delay = 30.0

    with pytest.raises(BackendTimeout, match="timeout"):
        generate(make_backend(timeout=0.3), Request("x"))


def test_an_answer_past_the_limit_is_refused_unread(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(fake.oversized(200_000))
    backend = make_backend()
    backend.answer_limit = 100_000

    with pytest.raises(BackendError, match="more than"):
        generate(backend, Request("x"))


def test_an_answer_that_is_not_the_images_api_is_a_backend_error(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    async def html(request: object) -> object:
        from aiohttp import web

        return web.Response(text="<html>proxy login</html>", content_type="text/html")

    fake.then(html)  # type: ignore[arg-type]

    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("x"))

    assert str(caught.value) == (
        "openai-test: OpenAI's answer could not be read (the answer has no data list); "
        "check base_url"
    )


def test_an_answer_item_without_an_image_is_an_answer_with_no_image(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(_answer(200, {"created": 0, "data": [{"revised_prompt": "a cat"}]}))

    with pytest.raises(BackendError) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI answered with no image; check base_url"


def test_usage_that_is_not_an_object_leaves_the_cost_unknown(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from imagen_openai.fake_server import _render

    payload = {"created": 0, "data": [{"b64_json": _render(64, 64, "png", False)}], "usage": [1]}
    fake.then(_answer(200, payload))

    result = generate(make_backend(), Request("x"))

    assert len(result.images) == 1
    assert result.cost is None
    assert "usage" not in result.metadata


def test_a_failed_take_among_several_is_a_warning(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(fake.out_of_quota())

    result = generate(make_backend(), Request("x", count=3))

    assert len(result.images) == 2
    (warning,) = result.warnings
    assert warning.startswith("1 of 3 OpenAI requests failed")


def test_azure_unknown_deployment_is_an_invalid_request(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    backend = make_backend(base_url=fake.url, azure_deployment="nope")  # type: ignore[attr-defined]

    with pytest.raises(InvalidRequest, match="404"):
        generate(backend, Request("x"))


@pytest.mark.parametrize("failure", ["server_error", "rate_limited", "out_of_quota", "dropped"])
def test_the_key_is_in_no_message_of_any_failure(
    fake: FakeOpenAI, make_backend: MakeBackend, failure: str
):
    fake.then(*[getattr(fake, failure)() for _ in range(5)])

    with pytest.raises(BackendError) as raised:
        generate(make_backend(), Request("x"))

    assert KEY not in str(raised.value)
    assert KEY not in repr(raised.value.detail)


def _answer(status: int, body: object, content_type: str = "application/json"):
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        if content_type == "application/json":
            return web.json_response(body, status=status)
        return web.Response(status=status, text=str(body), content_type=content_type)

    return answer


def _openai_error(status: int, message: str, kind: str, param: object, code: object):
    return _answer(
        status, {"error": {"message": message, "type": kind, "param": param, "code": code}}
    )


def test_a_billing_code_is_quota_exceeded_whatever_its_type(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _openai_error(
            400,
            "Billing hard limit has been reached",
            "invalid_request_error",
            None,
            "billing_hard_limit_reached",
        )
    )

    with pytest.raises(QuotaExceeded) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value) == (
        "openai-test: OpenAI has no quota left for this key (billing_hard_limit_reached: "
        "Billing hard limit has been reached); check the account's billing: add credit or "
        "raise the spend limit at https://platform.openai.com/settings/organization/billing "
        "(retrying will not help)"
    )
    assert raised.value.detail == {
        "status": 400,
        "type": "invalid_request_error",
        "code": "billing_hard_limit_reached",
        "message": "Billing hard limit has been reached",
    }
    assert len(fake.calls) == 1


def test_a_moderation_block_says_to_rephrase_and_names_the_instance(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(ContentBlocked) as raised:
        generate(make_backend(), Request("something forbidden"))

    assert str(raised.value).startswith("openai-test: OpenAI's safety system refused the request (")
    assert str(raised.value).endswith("); rephrase the prompt or change the reference images")
    assert raised.value.detail["code"] == "moderation_blocked"


def test_a_persisting_rate_limit_says_to_wait_and_keeps_the_last_hint(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(*(fake.rate_limited("3") for _ in range(4)))

    with pytest.raises(RateLimited) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value) == (
        "openai-test: OpenAI is rate limiting this key (Rate limit reached for "
        "gpt-image-2 on images per minute (IPM): Limit 5, Used 5, Requested 1.); wait and try "
        "again, or lower concurrency"
    )
    assert raised.value.retry_after == 3.0
    assert raised.value.detail["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(("millis", "wait"), [("1500", 1.5), ("250", 0.25), ("-5", 0.0)])
def test_retry_after_ms_wins_over_retry_after(fake: FakeOpenAI, millis: str, wait: float):
    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    fake.then(fake.rate_limited("7", retry_after_ms=millis))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    url = f"{fake.url}/v1"  # type: ignore[attr-defined]
    generate(OpenAIBackend("t", OpenAISettings(base_url=url), sleep=record), Request("x"))

    assert waits == [wait]


@pytest.mark.parametrize("status", [400, 422])
def test_a_rejected_parameter_is_named_with_the_instance(
    fake: FakeOpenAI, make_backend: MakeBackend, status: int
):
    fake.then(_openai_error(status, "Invalid size.", "invalid_request_error", "size", "bad"))

    with pytest.raises(InvalidRequest) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value) == "openai-test: OpenAI rejected size: Invalid size."
    assert raised.value.fields == {"size": "Invalid size."}
    assert raised.value.detail["status"] == status


def test_a_long_parameter_name_is_cut_to_60_characters(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.then(_openai_error(400, "Invalid.", "invalid_request_error", "p" * 100, None))

    with pytest.raises(InvalidRequest) as raised:
        generate(make_backend(), Request("x"))

    assert list(raised.value.fields) == ["p" * 57 + "..."]


def test_a_rejection_without_a_parameter_gets_the_toolkits_wording(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(_openai_error(400, "Invalid prompt.", "invalid_request_error", None, None))

    with pytest.raises(InvalidRequest) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value) == (
        "openai-test: OpenAI rejected the request (HTTP 400: Invalid prompt.)"
    )


def test_an_unknown_model_naming_its_parameter_is_still_a_model_problem(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(
        _openai_error(
            404, "The model does not exist.", "invalid_request_error", "model", "model_not_found"
        )
    )

    with pytest.raises(InvalidRequest, match="check the model name and base_url"):
        generate(make_backend(), Request("x"))


@pytest.mark.parametrize(
    ("status", "error", "start"),
    [
        (400, InvalidRequest, "OpenAI rejected the request (HTTP 400: "),
        (502, BackendUnavailable, "OpenAI could not generate the image (HTTP 502: "),
    ],
)
def test_a_proxys_error_page_gets_the_toolkits_wording(
    fake: FakeOpenAI, make_backend: MakeBackend, status: int, error: type, start: str
):
    page = _answer(status, "<html><h1>Bad Gateway</h1></html>", content_type="text/html")
    fake.then(page, page)

    with pytest.raises(error) as raised:
        generate(make_backend(), Request("x"))

    assert str(raised.value).startswith(f"openai-test: {start}")


def test_an_edit_that_keeps_failing_says_it_could_not_edit_the_images(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from imagen.models import Ref
    from imagen_openai.fake_server import _render

    ref = Ref("cat.png", base64.b64decode(_render(8, 8, "png", False)), "image/png", "0" * 64)
    fake.then(fake.server_error(), fake.server_error())

    with pytest.raises(BackendUnavailable) as raised:
        generate(make_backend(), Request("x", refs=(ref,)))

    assert str(raised.value) == (
        "openai-test: OpenAI could not edit the images (HTTP 500: The server had an error while "
        "processing your request. Sorry about that!); try again later"
    )


def test_a_take_stopped_by_its_timeout_says_to_raise_timeout(fake: FakeOpenAI):
    import asyncio

    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    async def outlasting(seconds: float) -> None:  # a retry wait the timeout ends first
        await asyncio.Event().wait()

    settings = OpenAISettings(base_url=f"{fake.url}/v1", timeout=0.3)  # type: ignore[attr-defined]
    fake.then(fake.rate_limited("0"))

    with pytest.raises(BackendTimeout) as raised:
        generate(OpenAIBackend("openai-test", settings, sleep=outlasting), Request("x"))

    assert str(raised.value) == (
        "openai-test: OpenAI did not finish within 0.3 s; raise timeout: in the config or try again"
    )


def test_a_rate_limit_asking_for_longer_than_the_timeout_is_not_waited_out(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(fake.rate_limited("30"))

    with pytest.raises(RateLimited) as raised:
        generate(make_backend(timeout=5), Request("x"))

    assert raised.value.retry_after == 30
    assert len(fake.calls) == 1


def test_a_rate_limit_tells_the_caller_openais_finer_retry_after_ms(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    fake.then(*(fake.rate_limited("2", retry_after_ms="1500") for _ in range(4)))

    with pytest.raises(RateLimited) as raised:
        generate(make_backend(), Request("x"))

    assert raised.value.retry_after == 1.5


def test_a_backend_made_without_a_sleep_waits_between_retries_itself(fake: FakeOpenAI):
    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    fake.then(fake.rate_limited("0"))
    backend = OpenAIBackend("openai-test", OpenAISettings(base_url=f"{fake.url}/v1"))  # type: ignore[attr-defined]

    result = generate(backend, Request("x"))

    assert len(result.images) == 1
    assert len(fake.calls) == 2


def test_the_latency_is_the_time_the_generation_took(fake: FakeOpenAI, make_backend: MakeBackend):
    import time

    started = time.monotonic()
    result = generate(make_backend(), Request("x"))

    assert 0 < result.latency <= time.monotonic() - started
