"""Compatible servers that answer ``data: [{"url": ...}]``: the images are downloaded within the
take's deadline and limit, and the key never reaches another host."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from imagen.errors import BackendError, BackendTimeout
from imagen.models import Request
from imagen.testing.servers import serve_app
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.testing import KEY, MakeBackend, generate


@pytest.fixture
def cdn(fake: FakeOpenAI) -> Iterator[str]:
    """The fake's files served from another origin (another port: another host to a browser
    and to imagen's key check alike)."""
    with serve_app(fake.files_app()) as url:
        yield url


def _carries_key(headers: dict[str, str]) -> bool:
    return any(KEY in value for value in headers.values())


def _answer_with(url: str) -> Any:
    async def answer(request: object) -> object:
        from aiohttp import web

        return web.json_response({"created": 0, "data": [{"url": url}]})

    return answer


def test_a_url_on_the_servers_own_origin_is_downloaded(fake: FakeOpenAI, make_backend: MakeBackend):
    fake.serve_urls()

    result = generate(make_backend(model="gpt-image-1"), Request("x", width=1536, height=1024))

    (image,) = result.images
    assert (image.media_type, image.width, image.height) == ("image/png", 1536, 1024)
    assert image.data == fake.files["img-0.png"]
    (download,) = fake.downloads
    assert download["Authorization"] == f"Bearer {KEY}"  # its own origin: the key's home


def test_a_url_on_another_host_is_downloaded_without_the_key(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    fake.serve_urls(at=cdn)

    result = generate(make_backend(), Request("x", count=2))

    assert len(result.images) == 2
    assert len(fake.downloads) == 2
    assert not any("Authorization" in headers for headers in fake.downloads)
    assert not any(_carries_key(headers) for headers in fake.downloads)


def test_a_redirect_from_the_own_origin_to_another_host_drops_the_key(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    fake.serve_urls()
    fake.redirect_files = cdn

    (image,) = generate(make_backend(), Request("x")).images

    assert image.media_type == "image/png"
    home, elsewhere = fake.downloads
    assert _carries_key(home)
    assert not _carries_key(elsewhere)


def test_a_download_past_the_limit_is_refused_with_one_line(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    fake.serve_urls(at=cdn)
    backend = make_backend()
    backend.answer_limit = 1000  # the answer's JSON fits; the image does not

    with pytest.raises(BackendError, match=r"more than 1000 bytes .*not read") as raised:
        generate(backend, Request("x"))

    assert "\n" not in str(raised.value)


def test_a_download_held_past_the_timeout_is_a_backend_timeout(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    fake.serve_urls(at=cdn)
    fake.files_held = threading.Event()  # never set: the file never comes
    try:
        with pytest.raises(BackendTimeout):
            generate(make_backend(timeout=0.5), Request("x"))
    finally:
        fake.files_held.set()


def test_a_data_uri_in_url_is_decoded(fake: FakeOpenAI, make_backend: MakeBackend):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 8)).save(buffer, "PNG")
    fake.then(_answer_with("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()))

    (image,) = generate(make_backend(), Request("x")).images

    assert (image.width, image.height) == (16, 8)
    assert fake.downloads == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://files.example/a.png"])
def test_a_url_that_is_not_http_is_not_downloaded(
    fake: FakeOpenAI, make_backend: MakeBackend, url: str
):
    fake.then(_answer_with(url))

    with pytest.raises(BackendError, match="not an https: URL; not downloaded"):
        generate(make_backend(), Request("x"))


def test_a_url_to_something_that_is_not_an_image_is_a_backend_error(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    fake.files["login.png"] = b"<html>proxy login</html>"
    fake.then(_answer_with(f"{cdn}/files/login.png"))

    with pytest.raises(BackendError, match=r"could not be read \(not a PNG, JPEG"):
        generate(make_backend(), Request("x"))


def test_an_item_with_both_base64_and_a_url_is_read_from_its_base64(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    from imagen_openai.fake_server import _render

    fake.files["img.png"] = base64.b64decode(_render(32, 32, "png", False))
    item = {"b64_json": _render(64, 64, "png", False), "url": f"{cdn}/files/img.png"}

    async def answer(request: object) -> object:
        from aiohttp import web

        return web.json_response({"created": 0, "data": [item]})

    fake.then(answer)  # type: ignore[arg-type]

    (image,) = generate(make_backend(), Request("x")).images

    assert image.width == 64
    assert fake.downloads == []


def test_an_answer_mixing_base64_and_url_items_keeps_both_images(
    fake: FakeOpenAI, make_backend: MakeBackend, cdn: str
):
    from imagen_openai.fake_server import _render

    fake.files["img.png"] = base64.b64decode(_render(32, 32, "png", False))
    items = [{"b64_json": _render(64, 64, "png", False)}, {"url": f"{cdn}/files/img.png"}]

    async def answer(request: object) -> object:
        from aiohttp import web

        return web.json_response({"created": 0, "data": items})

    fake.then(answer)  # type: ignore[arg-type]

    images = generate(make_backend(), Request("x")).images

    assert [image.width for image in images] == [64, 32]


def test_a_download_asked_to_retry_after_the_timeout_fails_at_once(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from aiohttp import web

    from imagen.errors import BackendUnavailable

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy", headers={"Retry-After": "30"})

    files = web.Application()
    files.router.add_get("/files/{name}", busy)
    with serve_app(files) as host:
        fake.then(_answer_with(f"{host}/files/img.png"))

        with pytest.raises(BackendUnavailable, match="HTTP 503"):
            generate(make_backend(timeout=3), Request("x"))
