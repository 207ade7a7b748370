"""How the gemini backend reads answers: images, text, blocks, and answers with no image."""

from __future__ import annotations

import base64
import time

import pytest

from imagen.errors import BackendError, ContentBlocked
from imagen.models import Progress, Request

from .conftest import png

BLOCKING_FINISH_REASONS = [
    "IMAGE_SAFETY",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
    "NO_IMAGE",
    "IMAGE_OTHER",
]


def test_image_is_decoded_with_its_size_and_media_type(make_backend, generate):
    result = generate(make_backend(), Request("a kite", aspect_ratio="3:2"))
    (image,) = result.images
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert (image.media_type, image.width, image.height) == ("image/png", 1248, 832)
    assert image.seed is None


def test_every_inline_image_of_an_answer_is_kept(fake, make_backend, generate):
    fake.images_per_answer = 2
    result = generate(make_backend(), Request("two kites"))
    assert len(result.images) == 2


def test_interim_thought_drafts_are_neither_images_nor_text(fake, make_backend, generate):
    fake.thought_drafts = 2
    result = generate(make_backend(), Request("a kite", aspect_ratio="3:2"))
    (image,) = result.images
    assert (image.width, image.height) == (1248, 832)
    assert "text" not in result.metadata


def test_result_names_the_model_and_the_response(make_backend, generate):
    result = generate(make_backend(), Request("a kite"))
    assert result.model == "gemini-2.5-flash-image"
    assert result.metadata["model_version"] == "gemini-2.5-flash-image"
    assert result.metadata["response_ids"] == ["fake-response-1"]


def test_text_beside_the_image_is_kept_as_metadata(fake, make_backend, generate):
    fake.caption = "Here is a kite over the sea."
    result = generate(make_backend(), Request("a kite"))
    assert result.metadata["text"] == ["Here is a kite over the sea."]


def test_text_only_answer_is_no_image_error_quoting_the_model(fake, make_backend, generate):
    fake.then(fake.finished_without_image("STOP", "I can't draw that,\nbut I can describe it."))
    with pytest.raises(BackendError, match="no image returned") as caught:
        generate(make_backend(), Request("a kite"))
    assert type(caught.value) is BackendError
    assert "the model said: I can't draw that, but I can describe it." in str(caught.value)
    assert "\n" not in str(caught.value)


def test_blocked_prompt_is_content_blocked_naming_the_reason(fake, make_backend, generate):
    fake.then(fake.prompt_blocked("PROHIBITED_CONTENT"))
    with pytest.raises(ContentBlocked, match="PROHIBITED_CONTENT") as caught:
        generate(make_backend(), Request("something forbidden"))
    assert caught.value.reason == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("reason", BLOCKING_FINISH_REASONS)
def test_safety_finish_reason_is_content_blocked(fake, make_backend, generate, reason):
    fake.then(fake.finished_without_image(reason))
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.reason == reason
    assert reason in str(caught.value)


def test_other_finish_reason_without_image_is_backend_error(fake, make_backend, generate):
    fake.then(fake.finished_without_image("MAX_TOKENS"))
    with pytest.raises(BackendError, match=r"no image returned \(MAX_TOKENS\)") as caught:
        generate(make_backend(), Request("a kite"))
    assert not isinstance(caught.value, ContentBlocked)


def test_answer_that_is_not_json_is_backend_error(fake, make_backend, generate):
    fake.then(fake.raw(200, "<html>proxy login</html>"))
    with pytest.raises(BackendError, match="could not be read"):
        generate(make_backend(), Request("a kite"))


def test_inline_data_that_is_not_an_image_is_backend_error(fake, make_backend, generate):
    from aiohttp import web

    not_png = {"inlineData": {"mimeType": "image/png", "data": "bm90IGFuIGltYWdl"}}
    answer = {"candidates": [{"finishReason": "STOP", "content": {"parts": [not_png]}}]}
    fake.then(lambda body: web.json_response(answer))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini returned image/png data that is not an image; try again"
    )


def _answer_with_parts(*parts):
    from aiohttp import web

    answer = {"candidates": [{"finishReason": "STOP", "content": {"parts": list(parts)}}]}
    return lambda body: web.json_response(answer)


def test_inline_data_without_its_mime_type_is_an_answer_that_cannot_be_read(
    fake, make_backend, generate
):
    data = base64.b64encode(png(64, 64)).decode()
    fake.then(_answer_with_parts({"inlineData": {"data": data}}))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini's answer could not be read (an inlineData part lacks mimeType or "
        "data); check base_url"
    )


def test_inline_data_that_is_not_base64_is_an_answer_that_cannot_be_read(
    fake, make_backend, generate
):
    fake.then(_answer_with_parts({"inlineData": {"mimeType": "image/png", "data": "%%%%"}}))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini's answer could not be read (an inlineData part is not valid "
        "base64); check base_url"
    )


def test_an_answer_that_is_json_but_no_object_cannot_be_read(fake, make_backend, generate):
    from aiohttp import web

    fake.then(lambda body: web.json_response(["not", "an", "answer"]))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini's answer could not be read (the answer is not a JSON object); "
        "check base_url"
    )


def test_a_withheld_image_quotes_geminis_finish_message(fake, make_backend, generate):
    fake.then(
        fake.finished_without_image(
            "IMAGE_SAFETY", message="Unable to show the generated image.", text="Here it is:"
        )
    )
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: Gemini withheld the image (IMAGE_SAFETY): Unable to show the generated "
        "image.; rephrase the prompt or change the reference images"
    )


def test_a_withheld_image_without_a_finish_message_quotes_the_model(fake, make_backend, generate):
    fake.then(fake.finished_without_image("IMAGE_SAFETY", text="Here it is:"))
    with pytest.raises(ContentBlocked, match=r"\(IMAGE_SAFETY\): Here it is:; rephrase"):
        generate(make_backend(), Request("a kite"))


def test_one_blocked_take_of_several_is_a_warning_not_a_failure(fake, make_backend, generate):
    fake.then(fake.finished_without_image("IMAGE_SAFETY"))
    result = generate(make_backend(), Request("kites", count=3))
    assert len(result.images) == 2
    (warning,) = result.warnings
    assert warning.startswith("1 of 3 Gemini calls returned no image")
    assert "IMAGE_SAFETY" in warning


def test_every_take_blocked_raises_the_block(fake, make_backend, generate):
    fake.then(fake.prompt_blocked("SAFETY"), fake.prompt_blocked("SAFETY"))
    with pytest.raises(ContentBlocked):
        generate(make_backend(), Request("kites", count=2))


def test_progress_counts_received_images_up_to_the_total(fake, make_backend, generate):
    seen: list[tuple[float, float | None]] = []
    progress = Progress(lambda done, total, message: seen.append((done, total)))
    generate(make_backend(), Request("kites", count=2), progress)
    assert seen[0] == (0, 2)
    assert seen[-1] == (2, 2)


def test_a_failing_progress_callback_does_not_stop_the_generation(make_backend, generate):
    def broken(done: float, total: float | None, message: str) -> None:
        raise RuntimeError("display gone")

    result = generate(make_backend(), Request("a kite"), Progress(broken))
    assert len(result.images) == 1


def test_an_answer_that_is_not_json_is_no_answer_and_says_to_check_base_url(
    fake, make_backend, generate
):
    fake.then(fake.raw(200, "<html>proxy login</html>"))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert type(caught.value) is BackendError
    assert caught.value.backend == "gemini-test"
    assert str(caught.value) == (
        "gemini-test: Gemini's answer could not be read (the answer is not a JSON object); "
        "check base_url"
    )


def test_a_blocked_prompt_says_what_to_change_and_keeps_what_gemini_said(
    fake, make_backend, generate
):
    fake.then(fake.prompt_blocked("PROHIBITED_CONTENT"))
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("something forbidden"))
    assert caught.value.backend == "gemini-test"
    assert str(caught.value) == (
        "gemini-test: Gemini withheld the image (PROHIBITED_CONTENT); rephrase the prompt or "
        "change the reference images"
    )
    assert caught.value.detail == {"text": "", "finish_reasons": []}


def test_a_withheld_image_keeps_the_models_text_and_the_finish_reasons(
    fake, make_backend, generate
):
    fake.then(
        fake.finished_without_image(
            "IMAGE_SAFETY", message="Unable to show the generated image.", text="Here it\nis:"
        )
    )
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.reason == "IMAGE_SAFETY"
    assert caught.value.detail == {"text": "Here it is:", "finish_reasons": ["IMAGE_SAFETY"]}


def test_a_finish_message_is_made_one_safe_line(fake, make_backend, generate):
    fake.then(
        fake.finished_without_image("IMAGE_SAFETY", message="Unable to show\nthe \x1b[31mimage.")
    )
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("a kite"))
    message = str(caught.value)
    assert "\n" not in message
    assert "\x1b" not in message
    assert message.startswith("gemini-test: Gemini withheld the image (IMAGE_SAFETY): Unable to")


def test_a_text_only_answer_says_how_to_rephrase_and_keeps_the_text(fake, make_backend, generate):
    fake.then(fake.finished_without_image("STOP", "I can only describe it."))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert type(caught.value) is BackendError
    assert caught.value.backend == "gemini-test"
    assert str(caught.value) == (
        "gemini-test: no image returned (STOP); the model said: I can only describe it.; try "
        "rephrasing the prompt as a request for an image"
    )
    assert caught.value.detail == {"text": "I can only describe it.", "finish_reasons": ["STOP"]}


def test_an_answer_without_candidates_or_text_says_so(fake, make_backend, generate):
    from aiohttp import web

    fake.then(lambda body: web.json_response({"candidates": [], "responseId": "r"}))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert type(caught.value) is BackendError
    assert str(caught.value) == (
        "gemini-test: no image returned (no candidates); try rephrasing the prompt as a request "
        "for an image"
    )
    assert caught.value.detail == {"text": "", "finish_reasons": []}


def test_every_text_part_and_finish_reason_of_an_imageless_answer_is_quoted(
    fake, make_backend, generate
):
    from aiohttp import web

    answer = {
        "candidates": [
            {"finishReason": "STOP", "content": {"parts": [{"text": "I can"}, {"text": "not."}]}},
            {"finishReason": "MAX_TOKENS", "content": {"parts": [{"text": "Sorry."}]}},
        ]
    }
    fake.then(lambda body: web.json_response(answer))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        "gemini-test: no image returned (STOP, MAX_TOKENS); the model said: I can not. Sorry.; "
        "try rephrasing the prompt as a request for an image"
    )
    assert caught.value.detail == {
        "text": "I can not. Sorry.",
        "finish_reasons": ["STOP", "MAX_TOKENS"],
    }


def test_a_blocking_reason_of_a_second_candidate_still_blocks(fake, make_backend, generate):
    from aiohttp import web

    answer = {
        "candidates": [
            {"finishReason": "STOP", "content": {"parts": [{"text": "Here:"}]}},
            {"finishReason": "IMAGE_SAFETY"},
        ]
    }
    fake.then(lambda body: web.json_response(answer))
    with pytest.raises(ContentBlocked) as caught:
        generate(make_backend(), Request("a kite"))
    assert caught.value.reason == "IMAGE_SAFETY"
    assert caught.value.detail == {"text": "Here:", "finish_reasons": ["STOP", "IMAGE_SAFETY"]}


def test_an_image_beside_a_blocking_finish_reason_is_kept(fake, make_backend, generate):
    """A candidate cut short after its image (SAFETY on a later part) still delivered one."""
    from aiohttp import web

    data = base64.b64encode(png(64, 48)).decode()
    answer = {
        "candidates": [
            {
                "finishReason": "SAFETY",
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]},
            }
        ]
    }
    fake.then(lambda body: web.json_response(answer))
    result = generate(make_backend(), Request("a kite"))
    (image,) = result.images
    assert (image.width, image.height) == (64, 48)


def test_a_long_media_type_of_data_that_is_no_image_is_cut_in_the_message(
    fake, make_backend, generate
):
    mime = "image/" + "x" * 100
    fake.then(_answer_with_parts({"inlineData": {"mimeType": mime, "data": "bm90IGFuIGltYWdl"}}))
    with pytest.raises(BackendError) as caught:
        generate(make_backend(), Request("a kite"))
    assert str(caught.value) == (
        f"gemini-test: Gemini returned {mime[:57]}... data that is not an image; try again"
    )


def test_a_jpeg_answer_is_read_as_jpeg_whatever_its_declared_type(fake, make_backend, generate):
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 30), (1, 2, 3)).save(buffer, format="JPEG")
    data = base64.b64encode(buffer.getvalue()).decode()
    fake.then(_answer_with_parts({"inlineData": {"mimeType": "image/png", "data": data}}))
    result = generate(make_backend(), Request("a kite"))
    (image,) = result.images
    assert (image.media_type, image.width, image.height) == ("image/jpeg", 40, 30)
    assert image.data == buffer.getvalue()


def test_the_result_gathers_every_takes_response_text_and_time(fake, make_backend, generate):
    fake.caption = "A kite."
    began = time.monotonic()
    result = generate(make_backend(), Request("kites", count=2))
    took = time.monotonic() - began
    assert sorted(result.metadata["response_ids"]) == ["fake-response-1", "fake-response-2"]
    assert result.metadata["text"] == ["A kite.", "A kite."]
    assert result.metadata["model_version"] == "gemini-2.5-flash-image"
    assert 0 < result.latency <= took


def test_an_answer_without_its_ids_records_none(fake, make_backend, generate):
    data = base64.b64encode(png(64, 48)).decode()
    fake.then(_answer_with_parts({"inlineData": {"mimeType": "image/png", "data": data}}))
    result = generate(make_backend(), Request("a kite"))
    assert result.metadata["response_ids"] == []
    assert "model_version" not in result.metadata
    assert "text" not in result.metadata
    assert "image_tokens" not in result.metadata
