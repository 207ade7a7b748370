"""What the gemini backend sends: the endpoint, the key header, the body, the checks before it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io

import httpx
import pytest

from imagen.errors import InvalidRequest, NotConfigured
from imagen.models import Ref, Request


def make_ref(name: str, media_type: str = "image/png", size: tuple[int, int] = (64, 48)) -> Ref:
    from PIL import Image

    buffer = io.BytesIO()
    fmt = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}[media_type]
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format=fmt)
    data = buffer.getvalue()
    return Ref(name, data, media_type, hashlib.sha256(data).hexdigest())


def raw_ref(name: str, data: bytes, media_type: str) -> Ref:
    return Ref(name, data, media_type, hashlib.sha256(data).hexdigest())


def test_posts_to_generate_content_of_the_configured_model(fake, make_backend, generate):
    generate(make_backend(), Request("a lighthouse"))
    assert [seen["path"] for seen in fake.requests] == [
        "/v1beta/models/gemini-2.5-flash-image:generateContent"
    ]


def test_key_travels_in_the_header_and_never_in_the_url(fake, make_backend, generate, api_key):
    generate(make_backend(), Request("a lighthouse"))
    (seen,) = fake.requests
    assert seen["headers"]["x-goog-api-key"] == api_key
    assert "key" not in seen["query"]
    assert api_key not in seen["url"]


def test_body_asks_for_an_image_with_the_prompt_as_text(fake, make_backend, generate):
    generate(make_backend(), Request("a lighthouse at dusk"))
    body = fake.requests[0]["body"]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a lighthouse at dusk"}]}]
    assert body["generationConfig"]["responseModalities"] == ["IMAGE"]


def test_size_is_sent_as_the_nearest_supported_aspect_ratio(fake, make_backend, generate):
    result = generate(make_backend(), Request("a beach", width=1920, height=1080))
    assert fake.requests[0]["body"]["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    assert result.metadata["aspect_ratio"] == "16:9"
    assert result.metadata["requested_size"] == "1920x1080"
    assert (result.images[0].width, result.images[0].height) == (1344, 768)


def test_explicit_aspect_ratio_wins_over_size(fake, make_backend, generate):
    result = generate(
        make_backend(), Request("a tower", width=1000, height=1000, aspect_ratio="9:16")
    )
    assert fake.requests[0]["body"]["generationConfig"]["imageConfig"] == {"aspectRatio": "9:16"}
    assert (result.images[0].width, result.images[0].height) == (768, 1344)


def test_without_size_or_ratio_gemini_chooses(fake, make_backend, generate):
    result = generate(make_backend(), Request("a tower"))
    assert "imageConfig" not in fake.requests[0]["body"]["generationConfig"]
    assert result.metadata["aspect_ratio"] == "model default"


def test_aspect_ratio_that_is_not_w_h_is_invalid_before_any_call(fake, make_backend, generate):
    with pytest.raises(InvalidRequest, match="not W:H") as caught:
        generate(make_backend(), Request("a tower", aspect_ratio="wide"))
    assert caught.value.fields == {"aspect_ratio": caught.value.message}
    assert caught.value.backend == "gemini-test"
    assert fake.requests == []


def test_references_are_sent_as_inline_data_after_the_prompt(fake, make_backend, generate):
    refs = (
        make_ref("face.png"),
        make_ref("side.jpg", "image/jpeg"),
        make_ref("b.webp", "image/webp"),
    )
    generate(make_backend(), Request("make a portrait", refs=refs))
    parts = fake.requests[0]["body"]["contents"][0]["parts"]
    assert parts[0] == {"text": "make a portrait"}
    assert [part["inlineData"]["mimeType"] for part in parts[1:]] == [
        "image/png",
        "image/jpeg",
        "image/webp",
    ]
    assert [part["inlineData"]["data"] for part in parts[1:]] == [ref.data for ref in refs]


def test_more_than_three_references_are_refused_before_any_call(fake, make_backend, generate):
    refs = tuple(make_ref(f"ref{i}.png") for i in range(4))
    with pytest.raises(InvalidRequest, match="at most 3") as caught:
        generate(make_backend(), Request("portrait", refs=refs))
    assert list(caught.value.fields) == ["refs"]
    assert caught.value.backend == "gemini-test"
    assert str(caught.value).startswith("gemini-test: ")
    assert fake.requests == []


def test_reference_over_7_mb_is_refused_before_any_call(fake, make_backend, generate):
    big = raw_ref("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(7 * 1024 * 1024), "image/png")
    with pytest.raises(
        InvalidRequest, match=r"huge\.png is 7,340,040 bytes; .* at most 7 MB"
    ) as caught:
        generate(make_backend(), Request("portrait", refs=(big,)))
    assert list(caught.value.fields) == ["refs"]
    assert fake.requests == []


def test_a_reference_of_exactly_7_mb_is_sent(fake, make_backend, generate):
    largest = raw_ref("large.png", bytes(7 * 1024 * 1024), "image/png")
    result = generate(make_backend(), Request("portrait", aspect_ratio="1:1", refs=(largest,)))
    assert len(result.images) == 1
    assert fake.requests[0]["body"]["contents"][0]["parts"][1]["inlineData"]["data"] == (
        largest.data
    )


def test_references_over_20_mb_in_all_are_refused_before_any_call(fake, make_backend, generate):
    refs = tuple(
        raw_ref(f"r{i}.png", b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024), "image/png")
        for i in range(3)
    )
    with pytest.raises(InvalidRequest, match="at most 20 MB"):
        generate(make_backend(), Request("portrait", refs=refs))
    assert fake.requests == []


def test_reference_of_another_image_type_is_refused_before_any_call(fake, make_backend, generate):
    gif = raw_ref("anim.gif", b"GIF89a" + bytes(32), "image/gif")
    with pytest.raises(
        InvalidRequest,
        match=r"anim\.gif is image/gif; Gemini takes image/png, image/jpeg, image/webp$",
    ) as caught:
        generate(make_backend(), Request("portrait", refs=(gif,)))
    assert "refs" in caught.value.fields
    assert fake.requests == []


def test_negative_prompt_is_appended_and_recorded(fake, make_backend, generate):
    result = generate(make_backend(), Request("a garden", negative_prompt="people"))
    text = fake.requests[0]["body"]["contents"][0]["parts"][0]["text"]
    assert text == "a garden\n\nAvoid: people"
    assert result.metadata["negative_prompt"] == (
        "appended to the prompt (Gemini has no negative prompt)"
    )


def test_without_a_negative_prompt_the_prompt_is_sent_as_written(fake, make_backend, generate):
    result = generate(make_backend(), Request("a garden", negative_prompt=""))
    assert fake.requests[0]["body"]["contents"][0]["parts"][0]["text"] == "a garden"
    assert "negative_prompt" not in result.metadata


def test_count_makes_that_many_calls_at_once(fake, make_backend, generate):
    fake.hold("generate").open_when(3)  # answered only once all three are in flight
    result = generate(make_backend(), Request("a fox", count=3))
    assert len(fake.requests) == 3
    assert fake.max_in_flight == 3
    assert len(result.images) == 3


def test_missing_key_is_not_configured_and_calls_nothing(fake, make_backend, generate, monkeypatch):
    backend = make_backend()
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(NotConfigured, match="set GEMINI_API_KEY"):
        generate(backend, Request("a fox"))
    assert fake.requests == []


def test_key_is_read_from_the_configured_env_var(fake, make_backend, generate, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("STUDIO_GEMINI_KEY", fake.api_key)
    generate(make_backend(api_key_env="STUDIO_GEMINI_KEY"), Request("a fox"))
    assert fake.requests[0]["headers"]["x-goog-api-key"] == fake.api_key


def test_fake_accepts_snake_case_like_the_real_api(fake, gemini_url):
    """The fake parses proto-JSON names both ways, so the backend's camelCase is not luck."""
    data = base64.b64encode(make_ref("r.png").data).decode()
    body = {
        "contents": [
            {"parts": [{"text": "hi"}, {"inline_data": {"mime_type": "image/png", "data": data}}]}
        ],
        "generation_config": {
            "response_modalities": ["IMAGE"],
            "image_config": {"aspect_ratio": "3:2"},
        },
    }
    response = asyncio.run(_post(gemini_url, body, fake.api_key))
    assert response.status_code == 200
    assert fake.requests[0]["body"]["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"}


def test_fake_rejects_unknown_fields_like_the_real_api(fake, gemini_url):
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"aspect": "3:2"}}
    response = asyncio.run(_post(gemini_url, body, fake.api_key))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"][0]["field"] == "generation_config"
    assert 'Unknown name "aspect"' in error["message"]


async def _post(url: str, body: object, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as client:
        return await client.post(
            "/v1beta/models/gemini-2.5-flash-image:generateContent",
            json=body,
            headers={"x-goog-api-key": key},
        )


def test_fake_rejects_a_role_other_than_user_or_model_like_the_real_api(fake, gemini_url):
    body = {"contents": [{"role": "system", "parts": [{"text": "hi"}]}]}
    response = asyncio.run(_post(gemini_url, body, fake.api_key))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Please use a valid role: user, model."


MAX_REQUEST_BYTES = 20 * 1024 * 1024


def _refs_making_a_body_of(fake, make_backend, generate, size: int) -> tuple[str, tuple[Ref, ...]]:
    """A prompt and three references whose request body is ``size`` bytes, measured by the
    Content-Length the fake receives for a small probe of the same shape (base64 adds 4 bytes
    per 3, the rest of the body does not change with the references' size)."""
    probe = tuple(raw_ref(f"r{i}.png", b"\x89PN", "image/png") for i in range(3))
    generate(make_backend(), Request("portrait", aspect_ratio="1:1", refs=probe))
    around = int(fake.requests[-1]["headers"]["Content-Length"]) - 12
    padding = (size - around) % 4
    each = (size - around - padding) // 4  # three bytes of each ref are four in the body
    sizes = (3 * (each // 3), 3 * (each // 3), 3 * each - 6 * (each // 3))
    refs = tuple(raw_ref(f"r{i}.png", bytes(n), "image/png") for i, n in enumerate(sizes))
    return "portrait" + "!" * padding, refs


def test_a_request_of_exactly_20_mb_is_sent(fake, make_backend, generate):
    prompt, refs = _refs_making_a_body_of(fake, make_backend, generate, MAX_REQUEST_BYTES)
    result = generate(make_backend(), Request(prompt, aspect_ratio="1:1", refs=refs))
    assert len(result.images) == 1
    assert fake.requests[-1]["headers"]["Content-Length"] == str(MAX_REQUEST_BYTES)


def test_a_request_past_20_mb_with_its_prompt_is_refused_before_any_call(
    fake, make_backend, generate
):
    prompt, refs = _refs_making_a_body_of(fake, make_backend, generate, MAX_REQUEST_BYTES)
    calls = len(fake.requests)
    with pytest.raises(InvalidRequest, match=r"20,971,521 bytes; .* at most 20 MB") as caught:
        generate(make_backend(), Request(prompt + "!", aspect_ratio="1:1", refs=refs))
    assert list(caught.value.fields) == ["refs"]
    assert len(fake.requests) == calls


def test_fake_refuses_a_body_past_20_mb_like_the_real_api(fake, gemini_url):
    text = "x" * MAX_REQUEST_BYTES
    response = asyncio.run(_post(gemini_url, {"contents": [{"parts": [{"text": text}]}]}, "k"))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Request payload size exceeds the limit: 20971520 bytes."
    )
