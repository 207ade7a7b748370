"""What the backend sends: sizes per model family, one request per take, edits, options, Azure."""

from __future__ import annotations

import pytest

from imagen.errors import InvalidRequest
from imagen.models import Progress, Ref, Request
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.testing import KEY, MakeBackend, generate


def _png(width: int = 32, height: int = 32) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_each_take_is_its_own_request_with_n_1(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(), Request("a red barn", count=3))

    assert len(result.images) == 3
    assert [call.fields["n"] for call in fake.calls] == [1, 1, 1]
    assert all(image.seed is None for image in result.images)


def test_batch_sends_one_request_with_n(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(batch=True), Request("a red barn", count=3))

    assert len(result.images) == 3
    assert [call.fields["n"] for call in fake.calls] == [3]


def test_batch_can_be_asked_per_request(fake: FakeOpenAI, make_backend: MakeBackend):
    generate(make_backend(), Request("a red barn", count=2, options={"batch": True}))

    assert [call.fields["n"] for call in fake.calls] == [2]


def test_the_key_goes_in_the_bearer_header(fake: FakeOpenAI, make_backend: MakeBackend):
    generate(make_backend(), Request("a red barn"))

    (call,) = fake.calls
    assert call.headers["Authorization"] == f"Bearer {KEY}"
    assert call.path == "/v1/images/generations"


@pytest.mark.parametrize(
    ("size", "sent"),
    [("1920x1080", "1536x1024"), ("800x1200", "1024x1536"), ("500x500", "1024x1024")],
)
def test_the_gpt_image_1_family_snaps_to_its_three_sizes(
    fake: FakeOpenAI, make_backend: MakeBackend, size: str, sent: str
):
    width, height = (int(side) for side in size.split("x"))
    result = generate(make_backend(model="gpt-image-1.5"), Request("x", width=width, height=height))

    assert fake.calls[0].fields["size"] == sent
    assert (result.images[0].width, result.images[0].height) == tuple(map(int, sent.split("x")))
    assert result.metadata["requested_size"] == size


@pytest.mark.parametrize(
    ("width", "height", "sent"),
    [
        (1920, 1080, "1920x1088"),  # sides snapped to multiples of 16
        (64, 64, "816x816"),  # grown to the 655,360-pixel minimum
        (4000, 1000, "3840x1280"),  # 3:1 at most, long edge 3840
        (3840, 3840, "2880x2880"),  # shrunk to 8,294,400 pixels at most
    ],
)
def test_gpt_image_2_takes_any_size_within_its_rules(
    fake: FakeOpenAI, make_backend: MakeBackend, width: int, height: int, sent: str
):
    result = generate(make_backend(), Request("x", width=width, height=height))

    assert fake.calls[0].fields["size"] == sent  # and the fake, checking the rules, accepted it
    image = result.images[0]
    assert f"{image.width}x{image.height}" == sent


def test_an_aspect_ratio_alone_becomes_about_a_megapixel(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    generate(make_backend(), Request("x", aspect_ratio="16:9"))

    assert fake.calls[0].fields["size"] == "1360x768"


def test_no_size_sends_the_blocks_size_or_auto(fake: FakeOpenAI, make_backend: MakeBackend):
    generate(make_backend(size="1536x1024"), Request("x"))
    generate(make_backend(size="auto"), Request("x"))

    assert [call.fields["size"] for call in fake.calls] == ["1536x1024", "auto"]


def test_an_unknown_model_gets_the_newest_rules_and_a_warning(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    backend = make_backend(model="gpt-image-2.5-flare", quality="xhigh")

    assert backend.estimate_cost(Request("x")) is None  # no price is guessed
    result = generate(backend, Request("x", width=1920, height=1080))

    assert fake.calls[0].fields["size"] == "1920x1088"
    assert fake.calls[0].fields["quality"] == "xhigh"
    (warning,) = result.warnings
    assert "gpt-image-2.5-flare" in warning
    assert "gpt-image-2" in warning
    assert result.cost is None


def test_a_dated_snapshot_is_its_models_family(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(model="gpt-image-2-2026-04-21"), Request("x"))

    assert result.warnings == ()
    assert result.cost is not None


def test_options_from_the_block_and_the_request_are_sent(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    backend = make_backend(output_format="webp", output_compression=80, moderation="low")
    result = generate(backend, Request("x", options={"quality": "low"}))

    fields = fake.calls[0].fields
    assert (fields["quality"], fields["output_format"], fields["output_compression"]) == (
        "low",
        "webp",
        80,
    )
    assert fields["moderation"] == "low"
    assert result.images[0].media_type == "image/webp"


def test_jpeg_output_is_reported_as_jpeg(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(output_format="jpeg"), Request("x"))

    assert result.images[0].media_type == "image/jpeg"


def test_transparent_background_on_the_gpt_image_1_family(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    generate(make_backend(model="gpt-image-1", background="transparent"), Request("x"))

    assert fake.calls[0].fields["background"] == "transparent"


def test_transparent_background_on_gpt_image_2_is_refused_before_spending(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest, match="transparent"):
        generate(make_backend(background="transparent"), Request("x"))

    assert fake.calls == []


def test_a_bad_option_type_is_refused_before_spending(fake: FakeOpenAI, make_backend: MakeBackend):
    with pytest.raises(InvalidRequest, match="partial_images"):
        generate(make_backend(), Request("x", options={"partial_images": 9}))

    assert fake.calls == []


def test_references_go_to_edits_as_image_parts(fake: FakeOpenAI, make_backend: MakeBackend):
    refs = tuple(Ref(f"ref{n}.png", _png(), "image/png", f"{n}" * 64) for n in range(3))
    result = generate(make_backend(), Request("the same cat, as a watercolour", refs=refs))

    (call,) = fake.calls
    assert call.path == "/v1/images/edits"
    assert [kind for _, kind, _ in call.images] == ["image/png"] * 3
    assert call.fields["prompt"] == "the same cat, as a watercolour"
    assert call.fields["n"] == 1
    assert len(result.images) == 1
    assert result.metadata["usage"][0]["input_tokens_details"]["image_tokens"] == 3 * 323


def test_more_than_16_references_are_refused_before_spending(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    refs = tuple(Ref(f"r{n}.png", b"x", "image/png", "0" * 64) for n in range(17))

    with pytest.raises(InvalidRequest, match="at most 16"):
        generate(make_backend(), Request("x", refs=refs))

    assert fake.calls == []


def test_a_negative_prompt_is_appended_and_noted(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(), Request("a beach", negative_prompt="people"))

    assert fake.calls[0].fields["prompt"] == "a beach\n\nAvoid: people"
    assert "negative_prompt" in result.metadata


def test_azure_uses_the_deployment_path_api_version_and_api_key_header(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    backend = make_backend(
        base_url=fake.url,  # type: ignore[attr-defined]
        azure_deployment="images",
        api_version="2025-04-01-preview",
    )
    result = generate(backend, Request("x"))

    (call,) = fake.calls
    assert call.path == "/openai/deployments/images/images/generations"
    assert call.query == {"api-version": "2025-04-01-preview"}
    assert call.headers["api-key"] == KEY
    assert "Authorization" not in call.headers
    assert len(result.images) == 1
    assert str(backend.status()) == "ok (Azure deployment images)"


def test_the_result_records_the_quality_the_revised_prompts_and_the_time_taken(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    result = generate(make_backend(quality="high"), Request("a red barn", count=2))

    assert result.metadata["quality"] == "high"
    assert result.metadata["revised_prompt"] == ["a red barn", "a red barn"]
    assert result.latency > 0


def test_a_bad_option_names_the_options_field(fake: FakeOpenAI, make_backend: MakeBackend):
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", options={"output_compression": 101}))

    assert str(caught.value) == "openai-test: --opt output_compression=101: expected 0 to 100"
    assert caught.value.fields == {"options": "--opt output_compression=101: expected 0 to 100"}
    assert fake.calls == []


def test_an_aspect_ratio_that_is_not_w_h_names_the_size_field(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest, match="'wide' is not W:H") as caught:
        generate(make_backend(), Request("x", aspect_ratio="wide"))

    assert list(caught.value.fields) == ["size"]
    assert fake.calls == []


def test_a_reference_of_another_type_names_the_refs_field(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    gif = Ref("anim.gif", b"GIF89a", "image/gif", "0" * 64)
    with pytest.raises(InvalidRequest, match=r"anim\.gif is image/gif") as caught:
        generate(make_backend(), Request("x", refs=(gif,)))

    assert list(caught.value.fields) == ["refs"]
    assert fake.calls == []


def test_a_transparent_background_refused_says_which_model_takes_one(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    message = "gpt-image-2 has no transparent background; use gpt-image-1.5 or background: auto"
    with pytest.raises(InvalidRequest) as caught:
        generate(
            make_backend(model="gpt-image-2"), Request("x", options={"background": "transparent"})
        )

    assert str(caught.value) == f"openai-test: {message}"
    assert caught.value.fields == {"background": message}


def test_an_opaque_background_on_gpt_image_2_is_sent(fake: FakeOpenAI, make_backend: MakeBackend):
    generate(make_backend(background="opaque"), Request("x"))

    assert fake.calls[0].fields["background"] == "opaque"


def test_a_transparent_background_on_a_model_the_table_does_not_know_is_left_to_openai(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest):
        generate(make_backend(model="gpt-image-2.5-flare", background="transparent"), Request("x"))

    # Sent: a new model may take what the newest known one does not, and OpenAI says if not.
    assert [call.fields["background"] for call in fake.calls] == ["transparent"]


def test_the_negative_prompt_note_says_where_it_went(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(), Request("a beach", negative_prompt="people"))

    assert result.metadata["negative_prompt"] == (
        "appended to the prompt (OpenAI has no negative prompt)"
    )


def test_without_a_negative_prompt_the_prompt_is_sent_as_written(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    result = generate(make_backend(), Request("a beach", negative_prompt=""))

    assert fake.calls[0].fields["prompt"] == "a beach"
    assert "negative_prompt" not in result.metadata


def test_an_unknown_models_warning_says_which_rules_were_used(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    result = generate(make_backend(model="gpt-image-2.5-flare"), Request("x"))

    assert result.warnings == (
        "model 'gpt-image-2.5-flare' is not in imagen-openai's table; used gpt-image-2's size "
        "rules and no price",
    )


def test_a_requests_aspect_ratio_wins_over_the_blocks_size(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    backend = make_backend(model="gpt-image-1", size="1024x1536")
    result = generate(backend, Request("x", aspect_ratio="3:2"))

    assert fake.calls[0].fields["size"] == "1536x1024"
    assert result.metadata["aspect_ratio"] == "3:2"


def test_the_blocks_size_is_snapped_to_the_models_sizes(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    result = generate(make_backend(model="gpt-image-1", size="1920x1080"), Request("x"))

    assert fake.calls[0].fields["size"] == "1536x1024"
    assert result.metadata["requested_size"] == "1920x1080"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("quality", 5, "--opt quality: expected str, got 5"),
        ("background", True, "--opt background: expected str, got True"),
        ("output_compression", "80", "--opt output_compression: expected int, got '80'"),
        ("partial_images", True, "--opt partial_images: expected int, got True"),
        ("batch", "yes", "--opt batch: expected bool, got 'yes'"),
    ],
)
def test_an_option_of_the_wrong_type_is_refused_naming_it(
    fake: FakeOpenAI, make_backend: MakeBackend, name: str, value: object, message: str
):
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", options={name: value}))

    assert caught.value.fields == {"options": message}
    assert fake.calls == []


def test_a_long_bad_option_value_is_cut_to_one_short_line(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", options={"quality": ["high" * 50]}))

    message = caught.value.fields["options"]
    assert message.startswith("--opt quality: expected str, got ['highhigh")
    assert len(message) == 120


def test_partial_images_0_asked_per_request_turns_the_blocks_streaming_off(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    generate(make_backend(partial_images=2), Request("x", options={"partial_images": 0}))

    fields = fake.calls[0].fields
    assert "stream" not in fields
    assert "partial_images" not in fields


def test_three_partial_images_asked_per_request_are_streamed(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    seen: list[str] = []
    generate(
        make_backend(),
        Request("x", options={"partial_images": 3}),
        Progress(lambda done, total, message: seen.append(message)),
    )

    assert fake.calls[0].fields["partial_images"] == 3
    assert "partial image 3 of 3" in seen


def test_four_partial_images_are_refused_before_spending(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", options={"partial_images": 4}))

    assert caught.value.fields == {"options": "--opt partial_images=4: expected 0 to 3"}
    assert fake.calls == []


def test_an_edit_sends_its_prompt_and_text_options_as_written(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    ref = Ref("cat.png", _png(), "image/png", "0" * 64)
    generate(make_backend(), Request("The Same Cat, in Paris", refs=(ref,)))

    (call,) = fake.calls
    assert call.fields["prompt"] == "The Same Cat, in Paris"


def test_sixteen_references_are_sent(fake: FakeOpenAI, make_backend: MakeBackend):
    refs = tuple(Ref(f"r{n}.png", _png(), "image/png", f"{n:064d}") for n in range(16))
    generate(make_backend(), Request("x", refs=refs))

    (call,) = fake.calls
    assert len(call.images) == 16


def test_a_reference_of_another_type_is_told_the_types_openai_takes(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    gif = Ref("anim.gif", b"GIF89a", "image/gif", "0" * 64)
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", refs=(gif,)))

    assert caught.value.fields["refs"] == (
        "anim.gif is image/gif; OpenAI takes image/png, image/jpeg, image/webp"
    )


def test_a_reference_of_50_mb_is_refused_before_spending(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    # OpenAI takes each image "less than 50MB": exactly 50 MB is already too much.
    big = Ref("huge.png", b"\0" * (50 * 1024 * 1024), "image/png", "0" * 64)
    with pytest.raises(InvalidRequest) as caught:
        generate(make_backend(), Request("x", refs=(big,)))

    assert caught.value.fields["refs"] == (
        "huge.png is 50 MB or more; OpenAI takes images of less than 50 MB"
    )
    assert fake.calls == []


def test_the_fake_refuses_a_reference_of_50_mb_as_openai_does(fake: FakeOpenAI):
    import httpx

    files = [("image[]", ("huge.png", b"\0" * (50 * 1024 * 1024), "image/png"))]
    data = {"model": "gpt-image-2", "prompt": "x"}
    answer = httpx.post(
        f"{fake.url}/v1/images/edits",  # type: ignore[attr-defined]
        data=data,
        files=files,
        headers={"Authorization": f"Bearer {KEY}"},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "image_too_large"


def test_a_deployment_name_is_one_path_segment(fake: FakeOpenAI, make_backend: MakeBackend):
    # A name with a slash reaches Azure as one (unknown) deployment, not as another path.
    backend = make_backend(base_url=fake.url, azure_deployment="images/x")  # type: ignore[attr-defined]

    with pytest.raises(InvalidRequest, match="deployment for this resource does not exist"):
        generate(backend, Request("x"))
