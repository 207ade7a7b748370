"""Creating predictions, waiting for them, and what a successful Result carries."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import pytest
from PIL import Image as PILImage

from imagen.errors import BackendError, InvalidRequest
from imagen.models import Progress, Request
from imagen_replicate.fake_server import MODELS

from .conftest import TOKEN, Replicate


def test_model_ref_creates_through_the_models_endpoint_with_prefer_wait(
    replicate: Replicate,
) -> None:
    result = replicate.generate(Request("a cat in a fishbowl", seed=7))

    (create,) = replicate.fake.creates()
    assert create.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    assert create.headers["Prefer"] == "wait=59"
    assert create.headers["Cancel-After"] == "60s"
    assert create.json() == {
        "input": {"prompt": "a cat in a fishbowl", "output_format": "png", "seed": 7}
    }
    assert [call.method for call in replicate.fake.calls] == ["POST", "GET"]  # create, download
    assert len(result.images) == 1
    assert result.model == "black-forest-labs/flux-schnell"
    assert result.metadata["prediction_id"] == next(iter(replicate.fake.predictions))


def test_version_ref_creates_through_predictions_with_the_version(replicate: Replicate) -> None:
    version = MODELS["black-forest-labs/flux-dev"]
    result = replicate.generate(model=f"black-forest-labs/flux-dev:{version}")

    (create,) = replicate.fake.creates()
    assert create.path == "/v1/predictions"
    assert create.json()["version"] == version
    assert create.json()["input"]["prompt"] == "a cat in a fishbowl"
    assert create.headers["Prefer"] == "wait=60"  # dev's 120 s deadline allows the full hold
    assert result.metadata["version"] == version


def test_images_carry_decoded_size_media_type_and_seed(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", width=1920, height=1080, seed=5))

    (image,) = result.images
    with PILImage.open(io.BytesIO(image.data)) as decoded:
        assert decoded.format == "PNG"
        assert (image.width, image.height) == decoded.size
    assert image.width > image.height
    assert image.media_type == "image/png"
    assert image.seed == 5


def test_size_is_reduced_to_the_nearest_supported_ratio_and_recorded(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", width=1000, height=1480))

    (create,) = replicate.fake.creates()
    assert create.json()["input"]["aspect_ratio"] == "2:3"
    assert result.metadata["aspect_ratio"] == "2:3"
    assert result.metadata["aspect_ratio_from"] == "1000x1480"


def test_supported_aspect_ratio_is_sent_as_is(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", aspect_ratio="21:9"))

    assert replicate.fake.creates()[0].json()["input"]["aspect_ratio"] == "21:9"
    assert result.metadata["aspect_ratio"] == "21:9"
    assert "aspect_ratio_from" not in result.metadata


def test_count_steps_and_output_format_map_to_replicate_inputs(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", count=3, steps=4, seed=9), output_format="webp")

    sent = replicate.fake.creates()[0].json()["input"]
    assert sent["num_outputs"] == 3
    assert sent["num_inference_steps"] == 4
    assert sent["output_format"] == "webp"
    assert [image.media_type for image in result.images] == ["image/webp"] * 3
    # One seed drives a whole batch, so no single image claims it.
    assert [image.seed for image in result.images] == [None] * 3
    assert result.metadata["seed"] == 9


def test_instance_input_defaults_merge_and_options_win(replicate: Replicate) -> None:
    replicate.generate(
        Request("a cat", options={"output_quality": 95, "megapixels": "0.25"}),
        input={"go_fast": True, "output_quality": 80},
    )

    sent = replicate.fake.creates()[0].json()["input"]
    assert sent["go_fast"] is True
    assert sent["output_quality"] == 95
    assert sent["megapixels"] == "0.25"


def test_seed_chosen_by_the_model_is_read_from_its_logs(replicate: Replicate) -> None:
    replicate.play(seed_in_logs=31337)
    result = replicate.generate(Request("a cat"))

    assert result.images[0].seed == 31337


def test_prediction_still_running_after_prefer_wait_is_polled_until_done(
    replicate: Replicate,
) -> None:
    replicate.play(predict_time=0.6, sync_cap=0.1)
    result = replicate.generate()

    polls = [c for c in replicate.fake.calls if c.method == "GET" and "/v1/predictions/" in c.path]
    assert len(polls) >= 2
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in polls)
    assert len(result.images) == 1
    assert result.metadata["predict_time"] == 0.6


def test_outputs_are_downloaded_without_the_api_token(replicate: Replicate) -> None:
    replicate.generate()

    (download,) = [c for c in replicate.fake.calls if c.path.startswith("/files/")]
    assert "Authorization" not in download.headers


def test_a_single_url_output_is_accepted(replicate: Replicate) -> None:
    replicate.play(output="single")
    result = replicate.generate()

    assert len(result.images) == 1
    assert result.images[0].data.startswith(b"\x89PNG")


def test_data_url_outputs_are_decoded_without_a_download(replicate: Replicate) -> None:
    replicate.play(output="data")
    result = replicate.generate(Request("a cat", count=2, seed=1))

    assert len(result.images) == 2
    assert not [c for c in replicate.fake.calls if c.path.startswith("/files/")]


def test_fewer_images_than_asked_is_reported_as_a_warning(replicate: Replicate) -> None:
    replicate.play(images=2)
    result = replicate.generate(Request("a cat", count=4, seed=1))

    assert len(result.images) == 2
    assert result.warnings == (
        "2 of 4 images returned; Replicate's safety filter removes the images it flags",
    )
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.006")


def test_actual_cost_is_the_price_times_images_returned(replicate: Replicate) -> None:
    result = replicate.generate(
        Request("a cat", count=2, seed=1), model="black-forest-labs/flux-dev"
    )

    assert result.cost is not None
    assert result.cost.amount == Decimal("0.050")
    assert "2026-11" in result.cost.basis


def test_negative_prompt_is_not_sent_and_says_so(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", negative_prompt="dogs"))

    assert "negative_prompt" not in replicate.fake.creates()[0].json()["input"]
    assert any("negative prompt" in warning for warning in result.warnings)


def test_progress_reports_status_then_downloads(replicate: Replicate) -> None:
    replicate.play(predict_time=0.6, sync_cap=0.05)
    seen: list[tuple[float, float | None, str]] = []
    replicate.generate(
        Request("a cat", count=2, seed=1), Progress(lambda d, t, m: seen.append((d, t, m)))
    )

    messages = [message for _, _, message in seen]
    assert messages[0] == "creating prediction"
    assert "processing" in messages
    # While the prediction runs, none of the two images asked for is in.
    assert seen[0] == (0, 2, "creating prediction")
    assert (0, 2, "processing") in seen
    assert seen[-1][:2] == (2, 2)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)


def test_a_failing_progress_callback_does_not_stop_generation(replicate: Replicate) -> None:
    def broken(done: float, total: float | None, message: str) -> None:
        raise RuntimeError("terminal went away")

    result = replicate.generate(progress=Progress(broken))

    assert len(result.images) == 1


def test_client_is_reused_across_generations_and_closed_once(replicate: Replicate) -> None:
    backend = replicate.backend()

    async def main() -> int:
        await backend.generate(Request("one", seed=1), Progress())
        await backend.generate(Request("two", seed=2), Progress())
        await backend.aclose()
        await backend.aclose()
        return len(replicate.fake.creates())

    assert asyncio.run(main()) == 2


def test_held_create_answering_processing_with_all_outputs_needs_no_poll(
    replicate: Replicate,
) -> None:
    replicate.play(predict_time=0.2, held_done_as_processing=True)
    result = replicate.generate(Request("a cat", count=2, seed=1))

    assert len(result.images) == 2
    assert not [c for c in replicate.fake.calls if c.path.startswith("/v1/predictions/")]


def test_a_wide_size_on_a_model_without_21_9_is_sent_as_a_ratio_it_takes(
    replicate: Replicate,
) -> None:
    # 2560x1080 is nearest 21:9, which FLUX 1.1 [pro] refuses (422); its nearest is 16:9.
    result = replicate.generate(
        Request("a cat", width=2560, height=1080, seed=2), model="black-forest-labs/flux-1.1-pro"
    )

    assert replicate.fake.creates()[0].json()["input"]["aspect_ratio"] == "16:9"
    assert result.metadata["aspect_ratio"] == "16:9"
    assert result.metadata["aspect_ratio_from"] == "2560x1080"
    assert result.images[0].width > result.images[0].height


def test_an_asked_ratio_the_model_lacks_is_reduced_to_one_it_takes(replicate: Replicate) -> None:
    result = replicate.generate(
        Request("a cat", aspect_ratio="9:21", seed=2), model="black-forest-labs/flux-1.1-pro"
    )

    assert replicate.fake.creates()[0].json()["input"]["aspect_ratio"] == "9:16"
    assert result.metadata["aspect_ratio_from"] == "9:21"


def test_a_pinned_version_of_a_model_keeps_its_ratios(replicate: Replicate) -> None:
    version = MODELS["black-forest-labs/flux-1.1-pro"]
    replicate.generate(
        Request("a cat", aspect_ratio="21:9", seed=2),
        model=f"black-forest-labs/flux-1.1-pro:{version}",
    )

    assert replicate.fake.creates()[0].json()["input"]["aspect_ratio"] == "16:9"


def test_an_unreadable_num_outputs_counts_as_one_image_until_replicate_refuses_it(
    replicate: Replicate,
) -> None:
    seen: list[tuple[float, float | None, str]] = []
    with pytest.raises(InvalidRequest, match="num_outputs"):
        replicate.generate(
            Request("a cat", seed=1, options={"num_outputs": "many"}),
            Progress(lambda done, total, message: seen.append((done, total, message))),
        )

    assert seen[0] == (0, 1, "creating prediction")


def test_a_full_batch_has_no_warning_and_links_the_prediction_page(replicate: Replicate) -> None:
    import time

    started = time.monotonic()
    result = replicate.generate(Request("a cat", count=2, seed=1))

    (ident,) = replicate.fake.predictions
    assert result.warnings == ()
    assert result.metadata["url"] == f"https://replicate.com/p/{ident}"
    assert 0 < result.latency <= time.monotonic() - started


def test_a_success_without_images_says_so(replicate: Replicate) -> None:
    replicate.play(images=0)
    with pytest.raises(BackendError) as caught:
        replicate.generate()

    (ident,) = replicate.fake.predictions
    assert (
        str(caught.value) == f"replicate-test: prediction {ident} succeeded but returned no images"
    )
