"""Every error the API answers, mapped to one of imagen's, one line, without the key."""

from __future__ import annotations

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

    with pytest.raises(BackendError, match="could not be read"):
        generate(make_backend(), Request("x"))


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
