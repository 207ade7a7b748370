"""The shared HTTP layer over a real loopback socket: retries declared, hints honoured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from imagen.adapters.http import (
    Retry,
    RetryPolicy,
    hint_in_text,
    make_client,
    retry_after_header,
    scrub,
    send,
)
from imagen.testing.servers import serve_app


class Script:
    """A server that answers each request with the next scripted reply."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.seen: list[web.Request] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        reply = self.replies.pop(0) if self.replies else web.json_response({"ok": True})
        if reply == "hold":  # no answer until the server stops
            await asyncio.Event().wait()
        if reply == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        return reply  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    with serve_app(app) as url:
        yield script, url


def call(url: str, policy: RetryPolicy, waits: list[float] | None = None) -> Any:
    recorded = waits if waits is not None else []

    async def no_sleep(seconds: float) -> None:
        recorded.append(seconds)

    async def main() -> Any:
        async with make_client(base_url=url, timeout=10) as client:
            return await send(client, "POST", "/thing", policy=policy.with_sleep(no_sleep), json={})

    return asyncio.run(main())


def test_429_is_retried_honouring_retry_after(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [
        web.json_response({}, status=429, headers={"Retry-After": "7"}) for _ in range(2)
    ]
    waits: list[float] = []
    response = call(url, RetryPolicy(Retry.on_status(429, attempts=3)), waits)
    assert response.status_code == 200
    assert waits == [7.0, 7.0]
    assert len(script.seen) == 3


def test_retries_stop_after_the_declared_attempts(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503) for _ in range(5)]
    response = call(url, RetryPolicy(Retry.on_status(503, attempts=1)))
    assert response.status_code == 503
    assert len(script.seen) == 2


def test_backoff_doubles_without_a_hint(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=500) for _ in range(3)]
    waits: list[float] = []
    call(url, RetryPolicy(Retry.on_status(500, attempts=3, backoff=0.5)), waits)
    assert waits == [0.5, 1.0, 2.0]


def test_hint_in_the_body_is_read(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({"detail": "throttled, retry in ~4s"}, status=429)]
    waits: list[float] = []
    policy = RetryPolicy(Retry.on_status(429, attempts=2), retry_after=hint_in_text(r"~(\d+)s"))
    assert call(url, policy, waits).status_code == 200
    assert waits == [4.0]


def test_statuses_not_declared_are_not_retried(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=422)]
    response = call(url, RetryPolicy(Retry.on_status(429, 503, attempts=3)))
    assert response.status_code == 422
    assert len(script.seen) == 1


def test_dropped_connection_is_retried_as_a_transport_error(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = ["drop"]
    assert call(url, RetryPolicy(Retry.on_transport(attempts=1))).status_code == 200
    assert len(script.seen) == 2


def test_transport_error_is_raised_when_retries_run_out(server: tuple[Script, str]) -> None:
    import httpx

    script, url = server
    script.replies = ["drop", "drop"]
    with pytest.raises(httpx.TransportError):
        call(url, RetryPolicy(Retry.on_transport(attempts=1)))


def test_client_sends_the_imagen_user_agent(server: tuple[Script, str]) -> None:
    script, url = server
    call(url, RetryPolicy())
    assert script.seen[0].headers["User-Agent"].startswith("imagen/")


def test_retry_after_accepts_an_http_date() -> None:
    import email.utils

    import httpx

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    response = httpx.Response(429, headers={"Retry-After": when})
    seconds = retry_after_header(response)
    assert seconds is not None
    assert 25 <= seconds <= 31


def test_scrub_removes_every_secret() -> None:
    text = "401 for token r8_secretvalue at https://x/?key=r8_secretvalue"
    assert scrub(text, ["r8_secretvalue", None, ""]) == "401 for token *** at https://x/?key=***"


def test_retry_after_zero_retries_at_once_and_a_past_date_too() -> None:
    import email.utils

    import httpx

    assert retry_after_header(httpx.Response(429, headers={"Retry-After": "0"})) == 0.0
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_header(httpx.Response(429, headers={"Retry-After": past})) == 0.0
    assert retry_after_header(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_header(httpx.Response(429)) is None


def test_a_hint_in_the_text_is_read_in_any_case_and_the_header_comes_first() -> None:
    import httpx

    read = hint_in_text(r"retry in (\d+(?:\.\d+)?)s")
    assert read(httpx.Response(429, text="Please Retry In 2.5s")) == 2.5
    assert read(httpx.Response(429, text="retry in 9s", headers={"Retry-After": "3"})) == 3.0
    assert read(httpx.Response(429, text="slow down")) is None


def test_the_default_policy_sleeps_for_real_between_retries(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503)]

    async def main() -> Any:
        async with make_client(base_url=url) as client:
            policy = RetryPolicy(Retry.on_status(503, attempts=1, backoff=0.01))
            return await send(client, "GET", "/x", policy=policy)

    assert asyncio.run(main()).status_code == 200
    assert len(script.seen) == 2


def test_each_retry_is_told_its_reason_and_wait(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503), "drop"]
    told: list[tuple[str, float]] = []

    async def no_sleep(seconds: float) -> None:
        return None

    async def main() -> Any:
        policy = RetryPolicy(
            Retry.on_status(503, attempts=1, backoff=0.5),
            Retry.on_transport(attempts=1, backoff=0.2),
            sleep=no_sleep,
        )
        async with make_client(base_url=url) as client:
            return await send(
                client,
                "GET",
                "/x",
                policy=policy,
                on_retry=lambda reason, wait: told.append((reason, wait)),
            )

    assert asyncio.run(main()).status_code == 200
    assert told == [("HTTP 503", 0.5), ("RemoteProtocolError", 0.2)]


def test_a_retry_sends_the_same_headers_again(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503)]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> Any:
        policy = RetryPolicy(Retry.on_status(503, attempts=1), sleep=sleep)
        async with make_client(base_url=url) as client:
            return await send(client, "POST", "/x", policy=policy, headers={"X-Request": "7"},
                              credentials={"Authorization": "Bearer k-123"}, json={})  # fmt: skip

    asyncio.run(main())
    assert [(r.headers["X-Request"], r.headers["Authorization"]) for r in script.seen] == [
        ("7", "Bearer k-123"),
        ("7", "Bearer k-123"),
    ]


def test_a_client_without_base_url_sends_credentials_to_the_first_urls_origin(
    server: tuple[Script, str],
) -> None:
    script, url = server

    async def main() -> Any:
        async with make_client() as client:
            return await send(client, "GET", f"{url}/x", credentials={"Authorization": "k-1"})

    assert asyncio.run(main()).status_code == 200
    assert script.seen[0].headers["Authorization"] == "k-1"


def test_within_a_deadline_the_answer_comes_back_and_the_key_is_sent(
    server: tuple[Script, str],
) -> None:
    from imagen.adapters.http import Deadline

    script, url = server

    async def main() -> Any:
        async with make_client(base_url=url) as client:
            return await send(client, "GET", "/x", credentials={"Authorization": "k-2"},
                              deadline=Deadline.after(30))  # fmt: skip

    assert asyncio.run(main()).json() == {"ok": True}
    assert script.seen[0].headers["Authorization"] == "k-2"


def test_a_deadline_that_passes_names_the_request_without_its_path(
    server: tuple[Script, str],
) -> None:
    from imagen.adapters.http import Deadline, DeadlineExceeded

    script, url = server
    script.replies = ["hold"]

    async def main(path: str) -> Any:
        async with make_client(base_url=url) as client:
            return await send(client, "GET", path, deadline=Deadline.after(0.2))

    with pytest.raises(DeadlineExceeded) as caught:
        asyncio.run(main(f"{url.replace('://', '://user:pw@')}/secret-path"))
    assert str(caught.value) == f"no answer from {url} in time"
    script.replies = ["hold"]
    relative = "/v1/" + "x" * 100
    with pytest.raises(DeadlineExceeded) as caught:
        asyncio.run(main(relative))
    assert str(caught.value) == f"no answer from {relative[:60]} in time"


def test_the_client_has_imagens_time_limits() -> None:
    import httpx

    assert make_client().timeout == httpx.Timeout(60.0, connect=10.0)
    assert make_client(timeout=5, connect_timeout=2).timeout == httpx.Timeout(5.0, connect=2.0)


def test_origins_spell_out_the_default_port() -> None:
    from imagen.adapters.http import origin_of

    assert origin_of("https://api.example.test/v1") == "https://api.example.test:443"
    assert origin_of("http://api.example.test/v1") == "http://api.example.test:80"
    assert origin_of("https://api.example.test:8443/") == "https://api.example.test:8443"


@pytest.mark.parametrize(
    ("secret", "text", "shown"),
    [
        ("abcd", "key abcd here", "key *** here"),
        ("abc", "key abc here", "key abc here"),
        ("X-Token: 12345678\nX-Other: 1234567", "sent 12345678 and 1234567",
         "sent *** and 1234567"),
        ("X-Token: abc:defghijk\nX-B: y", "echo abc:defghijk", "echo ***"),
    ],
)  # fmt: skip
def test_scrub_hides_secrets_and_each_long_header_value(secret: str, text: str, shown: str) -> None:
    assert scrub(text, [secret]) == shown


# --- redirects, followed by send itself ---------------------------------------------------------


class Redirector:
    """Answers per path: redirects with any status, chains, odd answers and bodies of any size."""

    def __init__(self, name: str, seen: list[dict[str, Any]]) -> None:
        self.name = name
        self.seen = seen  # shared by the servers of a test
        self.other = ""  # another origin's base URL, for redirects that leave

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append({"server": self.name, "method": request.method, "path": request.path,
                          "body": body, "headers": headers})  # fmt: skip
        parts = request.path.strip("/").split("/")
        if parts[0] == "go":  # /go/<status>: to /echo here
            raise _redirect(int(parts[1]), "/echo")
        if parts[0] == "away":  # /away/<status>: to /echo on the other origin
            raise _redirect(int(parts[1]), f"{self.other}/echo")
        if parts[0] == "chain":  # /chain/<n>: n more redirects, then an answer
            left = int(parts[1])
            if left:
                raise _redirect(302, f"/chain/{left - 1}")
        if parts[0] == "created":
            return web.json_response({"id": 1}, status=201, headers={"Location": "/echo"})
        if parts[0] == "nowhere":
            return web.Response(status=302)
        if parts[0] in ("exact", "error"):  # /exact/<bytes>/<chunks>: streamed in chunks
            size, chunks = int(parts[1]), int(parts[2])
            status = 200 if parts[0] == "exact" else 500
            response = web.StreamResponse(status=status)
            if chunks == 1:
                response.content_length = size
            await response.prepare(request)
            step = -(-size // chunks)
            for start in range(0, size, step):
                await response.write(bytes([65 + start // step]) * min(step, size - start))
            return response
        if parts[0] == "announce":  # a huge Content-Length, then silence
            response = web.StreamResponse(headers={"Content-Length": "10000000"})
            await response.prepare(request)
            await asyncio.Event().wait()
        if parts[0] == "endless":
            response = web.StreamResponse()
            await response.prepare(request)
            while True:
                await response.write(b"x" * 65536)
        if parts[0] == "gzip":
            response = web.json_response({"text": "squeezed " * 100})
            response.enable_compression(web.ContentCoding.gzip)
            return response
        return web.json_response({"method": request.method, "path": request.path})


def _redirect(status: int, location: str) -> web.HTTPException:
    error = web.HTTPException(headers={"Location": location})
    error.set_status(status)
    return error


@pytest.fixture
def redirector() -> Iterator[tuple[Redirector, str]]:
    seen: list[dict[str, Any]] = []
    home, other = Redirector("home", seen), Redirector("other", seen)
    with serve_app(home.app()) as url, serve_app(other.app(), host="127.0.0.2") as other_url:
        home.other = other_url
        yield home, url


def fetch(url: str, method: str, path: str, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with make_client(base_url=url) as client:
            return await send(client, method, path, **kwargs)

    return asyncio.run(main())


@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_sends_the_same_method_and_body_again(
    redirector: tuple[Redirector, str], status: int
) -> None:
    script, url = redirector
    response = fetch(url, "POST", f"/go/{status}", json={"prompt": "a cat"})
    assert response.json() == {"method": "POST", "path": "/echo"}
    first, again = script.seen
    assert again["body"] == first["body"] == b'{"prompt":"a cat"}'
    assert again["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("status", [301, 302])
def test_a_put_moved_by_301_or_302_stays_a_put_with_its_body(
    redirector: tuple[Redirector, str], status: int
) -> None:
    script, url = redirector
    fetch(url, "PUT", f"/go/{status}", content=b"image bytes")
    assert [(seen["method"], seen["body"]) for seen in script.seen] == [
        ("PUT", b"image bytes"),
        ("PUT", b"image bytes"),
    ]


def test_a_multipart_post_moved_by_307_is_sent_again_whole(
    redirector: tuple[Redirector, str],
) -> None:
    script, url = redirector
    fetch(url, "POST", "/go/307", files={"image": ("a.png", b"\x89PNG")}, data={"prompt": "p"})
    first, again = script.seen
    assert again["body"] == first["body"]
    assert b"\x89PNG" in again["body"]


@pytest.mark.parametrize(("status", "method"), [(301, "POST"), (302, "POST"), (303, "POST"),
                                                (303, "PUT"), (303, "HEAD")])  # fmt: skip
def test_a_post_moved_by_301_302_or_anything_by_303_becomes_a_bodiless_get(
    redirector: tuple[Redirector, str], status: int, method: str
) -> None:
    script, url = redirector
    fetch(url, method, f"/go/{status}", json={"prompt": "a cat"})
    again = script.seen[1]
    assert again["method"] == ("HEAD" if method == "HEAD" else "GET")
    assert again["body"] == b""
    assert not {"content-type", "content-length", "transfer-encoding"} & set(again["headers"])


def test_a_redirect_across_origins_drops_credentials_cookies_and_the_old_host(
    redirector: tuple[Redirector, str],
) -> None:
    script, url = redirector
    headers = {"Cookie": "session=1", "Proxy-Authorization": "Basic eA==",
               "Authorization": "Bearer plain", "X-Trace": "t-1"}  # fmt: skip
    fetch(url, "GET", "/away/302", redirects="any", headers=headers,
          credentials={"X-Api-Key": "k-3"})  # fmt: skip
    [there] = [seen for seen in script.seen if seen["server"] == "other"]
    assert there["headers"]["host"] == script.other.removeprefix("http://")
    assert there["headers"]["x-trace"] == "t-1"
    gone = {"cookie", "proxy-authorization", "authorization", "x-api-key"}
    assert not gone & set(there["headers"])


def test_five_redirects_are_followed_and_a_sixth_is_too_many(
    redirector: tuple[Redirector, str],
) -> None:
    import httpx

    _, url = redirector
    assert fetch(url, "GET", "/chain/5").json()["path"] == "/chain/0"
    with pytest.raises(httpx.TooManyRedirects) as caught:
        fetch(url, "GET", "/chain/6")
    assert str(caught.value) == "more than 5 redirects"
    assert caught.value.request.url.path == "/chain/0"


def test_a_location_outside_a_redirect_or_a_redirect_without_one_is_the_answer(
    redirector: tuple[Redirector, str],
) -> None:
    _, url = redirector
    assert fetch(url, "POST", "/created", json={}).status_code == 201
    assert fetch(url, "GET", "/nowhere").status_code == 302


# --- bodies are bounded -------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [1, 4])
def test_a_body_exactly_at_the_limit_is_read_whole(
    redirector: tuple[Redirector, str], chunks: int
) -> None:
    _, url = redirector
    response = fetch(url, "GET", f"/exact/1000/{chunks}", limit=1000)
    expected = b"".join(bytes([65 + n]) * 250 for n in range(4)) if chunks == 4 else b"A" * 1000
    assert response.content == expected


@pytest.mark.parametrize("chunks", [1, 4])
def test_one_byte_past_the_limit_is_refused(
    redirector: tuple[Redirector, str], chunks: int
) -> None:
    from imagen.adapters.http import ResponseTooLarge

    _, url = redirector
    with pytest.raises(ResponseTooLarge) as caught:
        fetch(url, "GET", f"/exact/1001/{chunks}", limit=1000)
    assert str(caught.value) == f"answered more than 1000 bytes for {url}"


def test_an_announced_size_past_the_limit_is_refused_before_any_body(
    redirector: tuple[Redirector, str],
) -> None:
    from imagen.adapters.http import ResponseTooLarge

    _, url = redirector
    with pytest.raises(ResponseTooLarge, match=r"answered more than 1 MiB for http://"):
        fetch(url, "GET", "/announce", limit=1024 * 1024)


def test_an_endless_body_is_cut_off_at_the_limit(redirector: tuple[Redirector, str]) -> None:
    from imagen.adapters.http import ResponseTooLarge

    _, url = redirector
    with pytest.raises(ResponseTooLarge):
        fetch(url, "GET", "/endless", limit=100_000)


def test_an_error_body_is_kept_past_the_success_limit_and_cut_at_its_own(
    redirector: tuple[Redirector, str],
) -> None:
    from imagen.adapters.http import ERROR_BODY_LIMIT

    _, url = redirector
    small = fetch(url, "GET", "/error/5000/1", limit=100)
    assert (small.status_code, len(small.content)) == (500, 5000)
    huge = fetch(url, "GET", f"/error/{ERROR_BODY_LIMIT + 70000}/4", limit=100)
    assert (huge.status_code, len(huge.content)) == (500, ERROR_BODY_LIMIT)


def test_a_compressed_answer_reads_as_its_text(redirector: tuple[Redirector, str]) -> None:
    _, url = redirector
    response = fetch(url, "GET", "/gzip")
    assert response.json() == {"text": "squeezed " * 100}
    assert response.headers.get("content-length", str(len(response.content))) == str(
        len(response.content)
    )
    assert "content-encoding" not in response.headers


def test_a_streamed_answer_says_nothing_of_how_it_travelled(
    redirector: tuple[Redirector, str],
) -> None:
    _, url = redirector
    response = fetch(url, "GET", "/exact/1000/4")
    assert "transfer-encoding" not in response.headers
    assert response.headers["content-length"] == "1000"


def test_the_answer_keeps_its_request_and_protocol(redirector: tuple[Redirector, str]) -> None:
    _, url = redirector
    response = fetch(url, "GET", "/go/302")
    assert response.request.url == f"{url}/echo"
    assert response.http_version == "HTTP/1.1"


# --- what a caller reads off a failure, defaults it relies on ----------------------------------


def test_a_body_past_the_limit_says_which_url_and_limit_to_a_caller(
    redirector: tuple[Redirector, str],
) -> None:
    from imagen.adapters.http import ResponseTooLarge

    _, url = redirector
    for path, limit in (("/exact/1001/1", 1000), ("/exact/2000/4", 1500)):
        with pytest.raises(ResponseTooLarge) as caught:
            fetch(url, "GET", path, limit=limit)
        assert (caught.value.url, caught.value.limit) == (f"{url}{path}", limit)


def test_a_url_on_another_origin_is_refused_naming_both_to_a_caller(
    redirector: tuple[Redirector, str],
) -> None:
    from imagen.adapters.http import ForeignOrigin

    script, url = redirector
    with pytest.raises(ForeignOrigin) as caught:
        fetch(url, "GET", f"{script.other}/echo?k=1", credentials={"X-Api-Key": "k-4"})
    assert (caught.value.url, caught.value.origin) == (f"{script.other}/echo?k=1", f"{url}")
    assert str(caught.value) == f"{script.other} is not on {url}; the key is only sent to {url}"
    assert script.seen == []


def test_a_deadline_scope_ends_a_block_once_the_deadline_has_passed() -> None:
    from imagen.adapters.http import Deadline

    async def block(deadline: Deadline) -> str:
        async with deadline.scope():
            await asyncio.sleep(0)  # the first wait: a passed deadline ends the block here
            return "finished"

    with pytest.raises(TimeoutError):
        asyncio.run(block(Deadline(time.monotonic() - 5)))
    assert asyncio.run(block(Deadline.after(60))) == "finished"


def test_a_streamed_post_moved_by_303_becomes_a_get_without_its_transfer_encoding(
    redirector: tuple[Redirector, str],
) -> None:
    script, url = redirector

    async def upload() -> Any:
        yield b"image "
        yield b"bytes"

    response = fetch(url, "POST", "/go/303", content=upload())
    assert response.json() == {"method": "GET", "path": "/echo"}
    first, again = script.seen
    assert (first["body"], first["headers"]["transfer-encoding"]) == (b"image bytes", "chunked")
    assert again["body"] == b""
    assert "transfer-encoding" not in again["headers"]


def test_a_status_rule_by_default_retries_once_after_half_a_second(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503) for _ in range(3)]
    waits: list[float] = []
    assert call(url, RetryPolicy(Retry.on_status(503)), waits).status_code == 503
    assert (waits, len(script.seen)) == ([0.5], 2)


def test_a_transport_rule_by_default_retries_once_after_a_fifth_of_a_second(
    server: tuple[Script, str],
) -> None:
    import httpx

    script, url = server
    script.replies = ["drop", "drop", "drop"]
    waits: list[float] = []
    with pytest.raises(httpx.TransportError):
        call(url, RetryPolicy(Retry.on_transport()), waits)
    assert (waits, len(script.seen)) == ([0.2], 2)


def test_backoff_stops_doubling_at_thirty_seconds(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=500) for _ in range(4)]
    waits: list[float] = []
    call(url, RetryPolicy(Retry.on_status(500, attempts=4, backoff=10)), waits)
    assert waits == [10.0, 20.0, 30.0, 30.0]


def test_transport_backoff_stops_doubling_at_thirty_seconds(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = ["drop"] * 4
    waits: list[float] = []
    call(url, RetryPolicy(Retry.on_transport(attempts=4, backoff=10)), waits)
    assert waits == [10.0, 20.0, 30.0, 30.0]


def test_a_hint_longer_than_a_minute_is_waited_a_minute(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=429, headers={"Retry-After": "600"})]
    waits: list[float] = []
    assert call(url, RetryPolicy(Retry.on_status(429)), waits).status_code == 200
    assert waits == [60.0]


def test_a_policy_given_another_sleep_keeps_its_longest_wait(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=429, headers={"Retry-After": "600"})]
    waits: list[float] = []
    policy = RetryPolicy(Retry.on_status(429), max_wait=5)
    assert call(url, policy, waits).status_code == 200  # call gives the policy its own sleep
    assert waits == [5.0]


class Peers:
    """Answers every request at once (or when ``hold`` requests wait together), noting the
    client's port of each: one port is one connection."""

    def __init__(self, hold: int = 0) -> None:
        self.ports: list[int] = []
        self.hold = hold
        self.waiting: list[asyncio.Event] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        self.ports.append(request.transport.get_extra_info("peername")[1])
        if self.hold:
            self.waiting.append(asyncio.Event())
            if len(self.waiting) == self.hold:  # all there at once: answer them all
                for event in self.waiting:
                    event.set()
                self.waiting = []
            else:
                await self.waiting[-1].wait()
        return web.json_response({})


def at_once(peers: Peers, count: int, rounds: int = 1, **options: Any) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peers.handle)

    async def main(url: str) -> None:
        async with make_client(base_url=url, **options) as client:
            for _ in range(rounds):
                await asyncio.gather(*(send(client, "GET", "/x") for _ in range(count)))

    with serve_app(app) as url:
        asyncio.run(main(url))


def test_requests_at_once_share_the_clients_connections() -> None:
    one = Peers()
    at_once(one, 3, max_connections=1)
    assert len(one.ports) == 3
    assert len(set(one.ports)) == 1
    ten = Peers()
    at_once(ten, 11)  # ten connections by default: the eleventh request waits for one
    assert len(set(ten.ports)) == 10


def test_every_connection_is_kept_for_the_next_requests() -> None:
    many = Peers(hold=21)  # 21 requests in flight together, twice
    at_once(many, 21, rounds=2, max_connections=21)
    first, second = many.ports[:21], many.ports[21:]
    assert len(set(first)) == 21
    assert set(second) == set(first)


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_a_port_out_of_range_is_a_connection_error_naming_the_port(port: int) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError) as caught:
        fetch(f"http://127.0.0.1:{port}", "GET", "/x")
    assert str(caught.value) == f"port {port} is out of range (1 to 65535)"
    assert caught.value.request.url == f"http://127.0.0.1:{port}/x"


@pytest.mark.parametrize("where", ["127.0.0.1:1", "127.0.0.1:65535", "127.0.0.1"])
def test_a_port_in_range_or_the_default_one_is_tried(where: str) -> None:
    import httpx

    def outcome() -> str:
        try:
            fetch(f"http://{where}", "GET", "/x")
        except httpx.TransportError as error:  # nothing listens there, most likely
            return str(error)
        return "answered"

    assert "out of range" not in outcome()


def test_the_answer_keeps_the_servers_reason_phrase(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503, reason="Back Soon")]
    assert call(url, RetryPolicy()).reason_phrase == "Back Soon"  # a sink's message shows it


@pytest.mark.parametrize(("status", "method"), [(307, "POST"), (308, "POST"), (301, "PUT")])
def test_a_redirect_that_would_send_a_streamed_body_again_is_the_answer(
    redirector: tuple[Redirector, str], status: int, method: str
) -> None:
    script, url = redirector

    async def upload() -> Any:
        yield b"image bytes"

    response = fetch(url, method, f"/go/{status}", content=upload())  # read once, sent once
    assert (response.status_code, response.headers["location"]) == (status, "/echo")
    assert [(seen["method"], seen["body"]) for seen in script.seen] == [(method, b"image bytes")]
