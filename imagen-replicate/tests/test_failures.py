"""Every way a generation can fail maps to one imagen error, retried as declared."""

from __future__ import annotations

import asyncio

import pytest

from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
    NotConfigured,
    RateLimited,
)
from imagen.models import Progress, Request

from .conftest import TOKEN, Replicate


def test_refused_token_is_an_auth_error_naming_the_env_var_without_the_token(
    replicate: Replicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_REPLICATE_TOKEN", "r8_wrong_but_secret")
    with pytest.raises(AuthError) as caught:
        replicate.generate(api_token_env="MY_REPLICATE_TOKEN")

    message = str(caught.value)
    assert "MY_REPLICATE_TOKEN" in message
    assert "r8_wrong_but_secret" not in message
    assert "\n" not in message
    assert len(replicate.fake.creates()) == 1  # a 401 is not retried


def test_missing_token_is_not_configured_before_any_request(
    replicate: Replicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    with pytest.raises(NotConfigured, match="REPLICATE_API_TOKEN"):
        replicate.generate()
    assert replicate.fake.calls == []


def test_validation_error_carries_replicates_field_messages(replicate: Replicate) -> None:
    with pytest.raises(InvalidRequest) as caught:
        replicate.generate(Request("a cat", steps=28))

    assert caught.value.fields == {"num_inference_steps": "Must be less than or equal to 4"}
    assert "num_inference_steps: Must be less than or equal to 4" in str(caught.value)
    assert len(replicate.fake.creates()) == 1


def test_unreadable_aspect_ratio_goes_through_and_replicate_explains(replicate: Replicate) -> None:
    with pytest.raises(InvalidRequest) as caught:
        replicate.generate(Request("a cat", aspect_ratio="wide"))

    assert "aspect_ratio must be one of" in caught.value.fields["aspect_ratio"]


def test_unknown_model_is_an_invalid_request_saying_to_check_the_model(
    replicate: Replicate,
) -> None:
    with pytest.raises(InvalidRequest, match="check the model name"):
        replicate.generate(model="someone/no-such-model")


def test_throttling_retries_three_times_honouring_the_hint_in_detail(replicate: Replicate) -> None:
    replicate.play(create_faults=[429, 429, 429])
    result = replicate.generate()

    assert len(result.images) == 1
    assert len(replicate.fake.creates()) == 4
    assert replicate.sleeps == [1.0, 1.0, 1.0]  # "Your rate limit resets in ~1s."


def test_throttling_honours_retry_after_over_the_detail(replicate: Replicate) -> None:
    replicate.play(create_faults=[429], retry_after="7")
    replicate.generate()

    assert replicate.sleeps == [7.0]


def test_throttling_without_a_hint_backs_off_exponentially(replicate: Replicate) -> None:
    replicate.play(create_faults=[429, 429, 429], throttle_detail="Request was throttled.")
    replicate.generate()

    assert replicate.sleeps == [1.0, 2.0, 4.0]


def test_throttling_past_three_retries_is_rate_limited(replicate: Replicate) -> None:
    replicate.play(create_faults=[429, 429, 429, 429])
    with pytest.raises(RateLimited) as caught:
        replicate.generate()

    assert caught.value.retry_after == 1.0
    assert len(replicate.fake.creates()) == 4


def test_a_server_error_is_retried_once(replicate: Replicate) -> None:
    replicate.play(create_faults=[503])
    replicate.generate()

    assert len(replicate.fake.creates()) == 2


def test_a_second_server_error_is_backend_unavailable(replicate: Replicate) -> None:
    replicate.play(create_faults=[500, 502])
    with pytest.raises(BackendUnavailable, match="HTTP 502"):
        replicate.generate()
    assert len(replicate.fake.creates()) == 2


def test_a_dropped_connection_is_retried_once(replicate: Replicate) -> None:
    replicate.play(create_faults=["drop"])
    result = replicate.generate()

    assert len(result.images) == 1
    assert len(replicate.fake.creates()) == 2


def test_a_connection_dropped_twice_is_backend_unavailable(replicate: Replicate) -> None:
    replicate.play(create_faults=["drop", "drop"])
    with pytest.raises(BackendUnavailable, match="could not reach Replicate"):
        replicate.generate()


def test_polling_survives_one_server_error(replicate: Replicate) -> None:
    replicate.play(predict_time=0.3, sync_cap=0.05, poll_faults=[500])
    result = replicate.generate()

    assert len(result.images) == 1


def test_a_poll_retried_after_a_server_error_shows_in_progress(replicate: Replicate) -> None:
    replicate.play(predict_time=0.3, sync_cap=0.05, poll_faults=[503])
    seen: list[str] = []
    replicate.generate(progress=Progress(lambda done, total, message: seen.append(message)))

    assert any("HTTP 503" in message and "retrying in" in message for message in seen)


def test_polling_that_keeps_failing_gives_up_and_cancels_the_prediction(
    replicate: Replicate,
) -> None:
    replicate.play(predict_time=5, sync_cap=0.05, poll_faults=[500, 500])
    with pytest.raises(BackendUnavailable, match="could not read the prediction"):
        replicate.generate()

    assert replicate.fake.canceled == list(replicate.fake.predictions)


def test_failed_prediction_is_a_backend_error_with_its_error_text(replicate: Replicate) -> None:
    replicate.play(outcome="failed", error="CUDA out of memory.\nTried to allocate 2.00 GiB")
    with pytest.raises(BackendError) as caught:
        replicate.generate()

    assert type(caught.value) is BackendError
    assert "CUDA out of memory. Tried to allocate 2.00 GiB" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_all_images_nsfw_is_content_blocked(replicate: Replicate) -> None:
    replicate.play(
        outcome="failed",
        error="All generated images contained NSFW content. Try running it again with a "
        "different prompt.",
    )
    with pytest.raises(ContentBlocked) as caught:
        replicate.generate()

    assert caught.value.reason == "nsfw"


def test_aborted_prediction_is_backend_unavailable(replicate: Replicate) -> None:
    replicate.play(outcome="aborted")
    with pytest.raises(BackendUnavailable, match="aborted"):
        replicate.generate()


def test_prediction_canceled_elsewhere_is_a_backend_error(replicate: Replicate) -> None:
    replicate.play(outcome="canceled")
    with pytest.raises(BackendError, match="canceled"):
        replicate.generate()


def test_expired_output_url_is_reported_as_expired(replicate: Replicate) -> None:
    replicate.fake.expired = True
    with pytest.raises(BackendError, match=r"expired .*HTTP 404"):
        replicate.generate()
    assert len([c for c in replicate.fake.calls if c.path.startswith("/files/")]) == 1


def test_a_failed_download_is_retried_once(replicate: Replicate) -> None:
    replicate.play(download_faults=[500])
    result = replicate.generate()

    assert len(result.images) == 1
    assert len([c for c in replicate.fake.calls if c.path.startswith("/files/")]) == 2


def test_a_download_dropped_twice_is_backend_unavailable(replicate: Replicate) -> None:
    replicate.play(download_faults=["drop", "drop"])
    with pytest.raises(BackendUnavailable, match="could not reach Replicate to download output"):
        replicate.generate()


def test_deadline_cancels_the_prediction_and_raises_timeout(replicate: Replicate) -> None:
    replicate.play(predict_time=30)
    with pytest.raises(BackendTimeout) as caught:
        replicate.generate(timeout=0.5)

    (prediction_id,) = replicate.fake.predictions
    assert replicate.fake.canceled == [prediction_id]
    assert "canceled" in str(caught.value)
    assert "timeout" in str(caught.value)
    # Too short a deadline to hold the create request: it returned at once and was polled.
    assert "Prefer" not in replicate.fake.creates()[0].headers


def test_deadline_leaves_time_after_a_held_create_to_cancel(replicate: Replicate) -> None:
    replicate.play(predict_time=30)
    with pytest.raises(BackendTimeout):
        replicate.generate(timeout=2.5)

    assert replicate.fake.creates()[0].headers["Prefer"] == "wait=1"
    assert replicate.fake.canceled == list(replicate.fake.predictions)


def test_caller_cancellation_cancels_the_prediction(replicate: Replicate) -> None:
    replicate.play(predict_time=30, sync_cap=0.05)
    polled = replicate.fake.hold("poll")  # the prediction exists once it is polled
    backend = replicate.backend()

    async def main() -> None:
        task = asyncio.create_task(backend.generate(Request("a cat", seed=1), Progress()))
        await asyncio.to_thread(polled.wait_for)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    asyncio.run(main())
    assert replicate.fake.canceled == list(replicate.fake.predictions)
    assert replicate.fake.canceled  # there was one to cancel


def test_every_create_asks_replicate_to_stop_the_prediction_at_the_deadline(
    replicate: Replicate,
) -> None:
    # If we vanish while the create request is held open we cannot name the prediction;
    # Cancel-After makes Replicate cancel it at our deadline anyway.
    replicate.play(predict_time=30)
    held = replicate.fake.hold("create")
    backend = replicate.backend(timeout=6)

    async def main() -> None:
        task = asyncio.create_task(backend.generate(Request("a cat", seed=1), Progress()))
        await asyncio.to_thread(held.wait_for)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    asyncio.run(main())
    assert replicate.fake.creates()[0].headers["Cancel-After"] == "6s"
    assert not replicate.fake.predictions  # we left before Replicate could name it


def test_http_output_from_a_foreign_host_is_refused(replicate: Replicate) -> None:
    from imagen_replicate.backend import ReplicateBackend
    from imagen_replicate.settings import ReplicateSettings

    backend = ReplicateBackend("x", ReplicateSettings(model="a/b", base_url=replicate.url))
    assert not backend._may_download("http://198.51.100.7/out-0.png")
    assert backend._may_download("https://replicate.delivery/xezq/out-0.png")
    assert backend._may_download(f"{replicate.url}/files/p/out-0.png")


def test_token_never_appears_in_error_messages(replicate: Replicate) -> None:
    replicate.play(outcome="failed", error=f"upstream said Bearer {TOKEN}")
    with pytest.raises(BackendError) as caught:
        replicate.generate()
    assert TOKEN not in str(caught.value)
    assert "upstream said Bearer ***" in str(caught.value)
