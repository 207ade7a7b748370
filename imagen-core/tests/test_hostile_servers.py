"""The shared HTTP layer and the toolkit against hostile local servers (issue 12).

Each server here misbehaves one way: it redirects to another origin, names a URL on another
host, streams more than the limit, drips bytes slower than any read timeout, echoes the
request's headers in its error, or puts terminal escapes in its error text. The promise under
test is the same every time: keys stay on their origin, bodies and time are bounded, and what
the server said reaches the user as one safe line.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from imagen.adapters import (
    Deadline,
    HttpApi,
    Retry,
    RetryPolicy,
    bearer,
    decode_data_uri,
    header,
    inspect_image,
    read_image_file,
    remote_text,
    snap_to_rules,
    snap_to_table,
)
from imagen.adapters.http import Deadline as HttpDeadline
from imagen.adapters.http import ResponseTooLarge, make_client, send
from imagen.errors import AuthError, BackendError, BackendTimeout, RateLimited
from imagen.models import Progress, Request
from imagen.testing.servers import serve_app

KEY = "sk-live-a8Bf3kQz9XpL2mN7vR4tY6wE1uI0oP5s"
KEY_ENV = "HOSTILE_TEST_KEY"


class Recorder:
    """What each server saw: the headers of every request, by server."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()

    def record(self, name: str, request: web.Request) -> None:
        self.seen.append((name, {k.lower(): v for k, v in request.headers.items()}))

    def keys_at(self, name: str) -> int:
        """How many header values carrying the key reached server ``name``."""
        return sum(
            KEY in value
            for server, headers in self.seen
            if server == name
            for value in headers.values()
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def elsewhere(recorder: Recorder) -> Iterator[str]:
    """Another origin, which records whether a key reached it."""

    async def anything(request: web.Request) -> web.StreamResponse:
        recorder.record("elsewhere", request)
        await request.read()
        return web.json_response({"stolen": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    with serve_app(app) as url:
        yield url


@pytest.fixture
def hostile(recorder: Recorder, elsewhere: str) -> Iterator[str]:
    """The provider's own origin, misbehaving per path."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        recorder.record("home", request)
        raise web.HTTPTemporaryRedirect(f"{elsewhere}/collect")

    async def redirect_home(request: web.Request) -> web.StreamResponse:
        recorder.record("home", request)
        raise web.HTTPPermanentRedirect("/ok")

    async def ok(request: web.Request) -> web.StreamResponse:
        recorder.record("home", request)
        return web.json_response({"ok": True})

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the limit must hold while reading
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(64):  # 4 MiB, against a 1 MiB limit
            await response.write(chunk)
        return response

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        while not recorder.release.is_set():  # one byte at a time, each well inside a read timeout
            await response.write(b" ")
            await asyncio.sleep(0.05)
        return response

    async def echo(request: web.Request) -> web.StreamResponse:
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.json_response({"message": "bad request; you sent:\n" + headers}, status=429)

    async def escapes(request: web.Request) -> web.StreamResponse:
        text = "model \x1b]0;pwned\x07 overloaded\x1b[2J\r\nretry later"
        return web.json_response({"error": {"message": text}}, status=503)

    app = web.Application()
    for path, handler in {"/redirect": redirect, "/redirect-home": redirect_home, "/ok": ok,
                          "/huge": huge, "/drip": drip, "/echo": echo,
                          "/escapes": escapes}.items():  # fmt: skip
        app.router.add_route("*", path, handler)
    with serve_app(app) as url:
        yield url
        recorder.release.set()


def api(url: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> HttpApi:
    monkeypatch.setenv(KEY_ENV, KEY)
    options: dict[str, Any] = {"backend": "hostile", "base_url": url, "key_env": KEY_ENV,
                               "auth": header("x-goog-api-key"), "timeout": 5.0}  # fmt: skip
    options.update(overrides)
    return HttpApi("Acme", **options)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def call_and_close(client: HttpApi, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return await client.call(method, path, what="test", **kwargs)
    finally:
        await client.aclose()


# -- 1. keys go only to their origin ---------------------------------------------------------


@pytest.mark.parametrize("auth", [header("x-goog-api-key"), header("apikey"), bearer])
def test_a_redirect_to_another_origin_is_not_followed_with_the_key(
    hostile: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, auth: Any
) -> None:
    with pytest.raises(BackendError, match=r"redirect .*not followed with a key"):
        run(call_and_close(api(hostile, monkeypatch, auth=auth), "POST", "/redirect",
                           json={"prompt": "private"}))  # fmt: skip
    assert recorder.keys_at("home") == 1
    assert not [name for name, _ in recorder.seen if name == "elsewhere"]


def test_a_download_may_cross_origins_but_without_any_credential(
    hostile: str, recorder: Recorder
) -> None:
    async def main() -> None:
        async with make_client(base_url=hostile) as client:
            response = await send(client, "GET", "/redirect", redirects="any",
                                  credentials={"x-goog-api-key": KEY, "apikey": KEY})  # fmt: skip
            assert response.json() == {"stolen": True}

    run(main())
    assert recorder.keys_at("elsewhere") == 0
    assert recorder.keys_at("home") == 2


def test_a_redirect_within_the_origin_keeps_the_key(
    hostile: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = run(call_and_close(api(hostile, monkeypatch), "GET", "/redirect-home"))
    assert response.json() == {"ok": True}
    assert recorder.keys_at("home") == 2


def test_a_url_on_another_origin_named_by_the_api_gets_no_key(
    hostile: str, elsewhere: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replicate's urls.get / urls.cancel: the answer names where to go next.
    with pytest.raises(BackendError, match="the key is only sent to"):
        run(call_and_close(api(hostile, monkeypatch, auth=bearer), "GET", f"{elsewhere}/x"))
    assert recorder.seen == []


def test_plain_http_on_the_same_host_is_another_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    client = api("https://api.example.test", monkeypatch, auth=bearer)
    with pytest.raises(BackendError, match=r"the key is only sent to https://api\.example\.test"):
        run(call_and_close(client, "GET", "http://api.example.test/v1/predictions/x"))


# -- 3, 4. error text: scrubbed, then cut; no terminal escapes --------------------------------


def test_an_error_that_echoes_the_headers_does_not_show_the_key(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RateLimited) as caught:
        run(call_and_close(api(hostile, monkeypatch), "POST", "/echo", json={}))
    assert KEY not in str(caught.value)
    assert KEY[:12] not in str(caught.value)
    assert KEY not in json.dumps(caught.value.detail)


def test_a_key_at_the_cutting_point_is_scrubbed_before_the_cut() -> None:
    text = "x" * 280 + " " + KEY
    shown = remote_text(text, secrets=[KEY])
    assert KEY[:8] not in shown
    assert len(shown) <= 300


def test_a_key_shaped_run_is_hidden_even_when_the_value_is_not_known() -> None:
    assert "a8Bf3kQz9XpL2mN7vR4tY6wE1" not in remote_text(f"token {KEY} rejected")


def test_terminal_escapes_in_an_error_never_reach_the_terminal(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError) as caught:
        run(call_and_close(api(hostile, monkeypatch), "GET", "/escapes"))
    message = str(caught.value)
    assert "\x1b" not in message
    assert "\x07" not in message
    assert "\n" not in message
    assert "overloaded" in message


# -- 7. bodies are bounded --------------------------------------------------------------------


def test_a_body_past_the_limit_stops_the_read_with_one_line(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError, match=r"answered more than 1 MiB .*not read"):
        run(call_and_close(api(hostile, monkeypatch), "GET", "/huge", limit=1024 * 1024))


def test_send_raises_response_too_large_while_streaming(hostile: str) -> None:
    async def main() -> None:
        async with make_client(base_url=hostile) as client:
            await send(client, "GET", "/huge", limit=100_000)

    with pytest.raises(ResponseTooLarge):
        run(main())


# -- 8. a take's timeout is a wall-clock bound ------------------------------------------------


def test_a_slow_drip_server_is_stopped_at_the_deadline(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    with pytest.raises(BackendTimeout):
        run(call_and_close(api(hostile, monkeypatch), "GET", "/drip",
                           deadline=Deadline.after(0.5)))  # fmt: skip
    # Each byte comes well inside the 5 s read timeout; only the deadline can stop it.
    assert time.monotonic() - started < 4.0


def test_a_retry_that_would_outlast_the_deadline_is_not_made() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> int:
        async def answer(request: Any) -> Any:
            import httpx

            return httpx.Response(429, headers={"Retry-After": "30"}, request=request)

        import httpx

        async with httpx.AsyncClient(transport=httpx.MockTransport(answer),
                                     base_url="http://x") as client:  # fmt: skip
            policy = RetryPolicy(Retry.on_status(429, attempts=3), sleep=sleep)
            response = await send(client, "GET", "/", policy=policy,
                                  deadline=HttpDeadline.after(5))  # fmt: skip
            return response.status_code

    assert run(main()) == 429
    assert waits == []


def test_a_retry_rule_can_read_the_body() -> None:
    calls: list[int] = []

    async def main() -> int:
        import httpx

        def answer(request: Any) -> Any:
            calls.append(1)
            return httpx.Response(429, json={"error": {"code": "insufficient_quota"}})

        async def no_sleep(seconds: float) -> None:
            return None

        policy = RetryPolicy(
            Retry.on_status(429, attempts=3, when=lambda r: "insufficient_quota" not in r.text),
            sleep=no_sleep,
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer),
                                     base_url="http://x") as client:  # fmt: skip
            return (await send(client, "GET", "/", policy=policy)).status_code

    assert run(main()) == 429
    assert calls == [1]


# -- the default mapping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, AuthError, f"set {KEY_ENV}"),
        (403, AuthError, f"set {KEY_ENV}"),
        (404, BackendError, "check the model name"),
        (408, BackendTimeout, "try again"),
        (413, BackendError, "too large"),
        (422, BackendError, "rejected the request"),
        (429, RateLimited, "rate limiting"),
        (503, BackendError, "try again later"),
    ],
)
def test_statuses_map_to_the_framework_errors(
    status: int, kind: type[BackendError], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    monkeypatch.setenv(KEY_ENV, KEY)
    client = HttpApi("Acme", backend="t", base_url="http://x", key_env=KEY_ENV, auth=bearer)
    response = httpx.Response(status, json={"message": f"no ({KEY})"},
                              request=httpx.Request("GET", "http://x/"))  # fmt: skip
    error = client.failure_error(response, what="test")
    assert isinstance(error, kind)
    assert words in str(error)
    assert KEY not in str(error)


# -- images and sizes -------------------------------------------------------------------------


def test_progress_survives_a_failing_callback_and_never_goes_backwards() -> None:
    seen: list[float] = []

    def callback(done: float, total: float | None, message: str) -> None:
        seen.append(done)
        raise RuntimeError("the display broke")

    progress = Progress(callback)
    progress.update(2, 4, "a")
    progress.update(1, 4, "b")
    assert seen == [2, 2]


def test_a_data_uri_and_its_media_type_are_decoded() -> None:
    assert decode_data_uri("data:image/png;base64,iVBORw0KGgo=") == (
        b"\x89PNG\r\n\x1a\n",
        "image/png",
    )
    with pytest.raises(ValueError, match="base64"):
        decode_data_uri("data:image/png;base64,@@@")


def test_an_image_header_says_its_type_and_size() -> None:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
           + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))  # fmt: skip
    info = inspect_image(png)
    assert (info.media_type, info.width, info.height) == ("image/png", 3, 2)


def test_sizes_snap_to_a_table_and_to_rules_and_say_what_changed() -> None:
    table = snap_to_table(Request("p", width=1000, height=560), {"1:1": (1024, 1024),
                                                                 "16:9": (1344, 768)})  # fmt: skip
    assert (table.ratio, table.width, table.asked, table.changed) == (
        "16:9", 1344, "1000x560", True)  # fmt: skip
    rules = snap_to_rules(Request("p", width=5000, height=100), multiple=64, max_ratio=4,
                          max_long_edge=2048)  # fmt: skip
    assert (rules.width, rules.height, rules.changed) == (2048, 512, True)


# -- 9. --ref: regular files only, size checked before reading --------------------------------


def test_a_fifo_is_refused_without_hanging(tmp_path: Any) -> None:
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_image_file(fifo)


def test_a_device_is_refused() -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        read_image_file("/dev/zero")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Any) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as file:
        file.truncate(10 * 1024 * 1024)  # sparse: large to stat, nothing on disk
    with pytest.raises(ValueError, match=r"more than the 1\.0 MiB allowed"):
        read_image_file(big, max_bytes=1024 * 1024)


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_generate_refuses_a_ref_that_is_not_a_regular_file(
    imagen_process: Any, tmp_path: Any, kind: str
) -> None:
    import os

    ref = "/dev/zero"
    if kind == "fifo":
        ref = str(tmp_path / "pipe.png")
        os.mkfifo(ref)
    ran = imagen_process("generate", "a cat", "--ref", ref, "-o", str(tmp_path / "out"))
    assert ran.code == 2
    assert f"--ref {ref} is not a regular file" in ran.err
