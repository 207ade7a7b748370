"""The toolkit's server-sent events, image downloads, billing failures and base64 (issue 16).

Servers run on real loopback sockets; what they saw (headers, request counts) is recorded, and
a stream's second event is only sent once the client has acted on the first, so "read as they
arrive" is tested without timing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from imagen.adapters import (
    Deadline,
    EventParser,
    Failure,
    HttpApi,
    Retry,
    RetryPolicy,
    ServerEvent,
    bearer,
)
from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    QuotaExceeded,
    RateLimited,
)
from imagen.testing.servers import serve_app

KEY = "sk-live-b7Cg4lRa0YqM3nO8wS5uZ7xF2vJ1pQ6t"
KEY_ENV = "TOOLKIT_STREAM_KEY"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)


class Seen:
    """What the servers saw, and the gates a test opens."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # server, path, headers
        self.first_event_acted_on = threading.Event()
        self.release = threading.Event()
        self.script: list[web.StreamResponse | None] = []  # answers played before the real one

    def record(self, server: str, request: web.Request) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append((server, request.path, headers))

    def next_scripted(self, server: str, request: web.Request) -> web.StreamResponse | None:
        """Records ``request``; the next scripted answer, if one is left (None: the real one)."""
        self.record(server, request)
        return self.script.pop(0) if self.script else None

    def keys_at(self, server: str) -> int:
        return sum(
            KEY in value for name, _, headers in self.requests if name == server
            for value in headers.values()
        )  # fmt: skip

    def count(self, server: str, path: str) -> int:
        return sum(1 for name, seen, _ in self.requests if (name, seen) == (server, path))


async def _wait(event: threading.Event) -> bool:
    """Whether ``event`` was set within 30 s (waited on off the server's loop)."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, 30)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def cdn(seen: Seen) -> Iterator[str]:
    """Another origin serving image files, recording who asked with what."""

    async def image(request: web.Request) -> web.StreamResponse:
        seen.record("cdn", request)
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/files/{name}", image)
    with serve_app(app) as url:
        yield url


@pytest.fixture
def provider(seen: Seen, cdn: str) -> Iterator[str]:
    """The provider's own origin."""

    async def events(request: web.Request) -> web.StreamResponse:
        scripted = seen.next_scripted("home", request)
        if scripted is not None:
            return scripted
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b': keep-alive\n\nevent: partial\ndata: {"index": 0}\n\n')
        if not await _wait(seen.first_event_acted_on):  # the client acts before the rest comes
            await response.write(b"event: too-late\ndata: the first event was not delivered\n\n")
        await response.write(b'event: done\r\ndata: {"image":\r\ndata:  "x"}\r\n\r\n')
        return response

    async def plain_json(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        return web.json_response({"data": [{"b64_json": "eA=="}]})

    async def huge(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"data: " + b"x" * 65536 + b"\n")
        return response

    async def held(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: started\n\n")
        await _wait(seen.release)
        return response

    async def cut(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.content_length = 100_000  # promised, never sent: the connection just ends
        await response.prepare(request)
        await response.write(b"data: partial\n\n")
        assert request.transport is not None
        request.transport.close()
        return response

    async def own_file(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        return web.Response(body=PNG, content_type="image/png")

    async def to_cdn(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        raise web.HTTPFound(f"{cdn}/files/moved.png")

    async def big_file(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        return web.Response(body=PNG + b"\0" * 5000, content_type="image/png")

    async def slow_file(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        await _wait(seen.release)
        return web.Response(body=PNG, content_type="image/png")

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        said = {"body": await request.json(), "trace": request.headers.get("X-Acme-Trace")}
        return web.Response(body=b"data: " + json.dumps(said).encode() + b"\n\n",
                            content_type="text/event-stream")  # fmt: skip

    async def flaky_file(request: web.Request) -> web.StreamResponse:
        scripted = seen.next_scripted("home", request)
        if scripted is not None:
            return scripted
        return web.Response(body=PNG, content_type="image/png")

    async def missing(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        return web.json_response({"error": {"message": "no such file"}}, status=404)

    async def billing(request: web.Request) -> web.StreamResponse:
        seen.record("home", request)
        status = int(request.query.get("status", "429"))
        code = request.query.get("code", "insufficient_quota")
        return web.json_response({"error": {"message": "no money", "code": code}}, status=status)

    app = web.Application()
    routes = {"/events": events, "/plain": plain_json, "/huge": huge, "/held": held,
              "/cut": cut, "/files/own.png": own_file, "/files/to-cdn.png": to_cdn,
              "/files/big.png": big_file, "/files/slow.png": slow_file,
              "/billing": billing, "/echo": echo, "/files/flaky.png": flaky_file,
              "/missing/{name}": missing}  # fmt: skip
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    with serve_app(app) as url:
        yield url
        seen.release.set()
        seen.first_event_acted_on.set()


async def _no_sleep(seconds: float) -> None:
    return None


def _quota(response: Any, failure: Failure) -> BackendError | None:
    """A provider hook: its own billing code is QuotaExceeded, whatever the status."""
    body = failure.body if isinstance(failure.body, dict) else {}
    if (body.get("error") or {}).get("code") == "insufficient_quota":
        return QuotaExceeded("no credit left; check the account's billing", backend="t")
    return None


RETRY_ALL = RetryPolicy(
    Retry.on_status(429, 500, 503, attempts=3), Retry.on_transport(attempts=1), sleep=_no_sleep
)


def make_api(url: str, monkeypatch: pytest.MonkeyPatch, **options: Any) -> HttpApi:
    monkeypatch.setenv(KEY_ENV, KEY)
    settings: dict[str, Any] = {"backend": "t", "base_url": url, "key_env": KEY_ENV,
                                "auth": bearer, "policy": RETRY_ALL, "timeout": 10.0}  # fmt: skip
    settings.update(options)
    return HttpApi("Acme", **settings)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(api: HttpApi, path: str, seen: Seen | None = None, **kwargs: Any) -> Any:
    """Every event of a stream; the first one acted on before the server sends the rest."""
    got: list[ServerEvent] = []
    try:
        async with api.stream("POST", path, what="make the image", **kwargs) as events:
            async for event in events:
                got.append(event)
                if seen is not None:
                    seen.first_event_acted_on.set()
    finally:
        await api.aclose()
    return got


# -- the event parser -------------------------------------------------------------------------

STREAM = (
    b"\xef\xbb\xbf: a comment\n"
    b"event: first\ndata: one\ndata: two\nid: 7\n\n"
    b"retry: 100\nevent: no-data\n\n"
    b"data:tight\r\n\r\n"
    b"event: cr\rdata: three\r\r"
    b"data: unended"
)
EXPECTED = [
    ServerEvent("first", "one\ntwo", "7"),
    ServerEvent("message", "tight", "7"),
    ServerEvent("cr", "three", "7"),
    ServerEvent("message", "unended", "7"),
]


def _parse(pieces: list[bytes]) -> list[ServerEvent]:
    parser = EventParser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return events + parser.close()


def test_events_follow_the_whatwg_rules_for_every_line_ending() -> None:
    assert _parse([STREAM]) == EXPECTED


def test_events_are_the_same_however_the_bytes_are_split() -> None:
    for size in (1, 2, 3, 5, 64):
        pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert _parse(pieces) == EXPECTED, size


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    assert _parse([b"data: a\r", b"\n\r", b"\ndata: b\n\n"]) == [ServerEvent(data="a"),
                                                               ServerEvent(data="b")]  # fmt: skip


def test_a_data_line_of_megabytes_in_small_chunks_is_read_whole() -> None:
    line = b"data: " + b"A" * 3_000_000 + b"\n\n"
    (event,) = _parse([line[i : i + 65536] for i in range(0, len(line), 65536)])
    assert len(event.data) == 3_000_000


def test_event_json_reads_the_data() -> None:
    assert ServerEvent(data='{"a": 1}').json() == {"a": 1}
    with pytest.raises(ValueError, match="Expecting value"):
        ServerEvent(data="not json").json()


# -- HttpApi.stream ---------------------------------------------------------------------------


def test_events_arrive_while_the_answer_is_still_coming(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = run(collect(make_api(provider, monkeypatch), "/events", seen))

    assert [event.event for event in events] == ["partial", "done"]
    assert events[1].json() == {"image": "x"}
    (_, _, headers), = seen.requests  # fmt: skip
    assert headers["accept"] == "text/event-stream"
    assert headers["authorization"] == f"Bearer {KEY}"


def test_a_stream_is_retried_until_it_starts(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen.script = [
        web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "2"})
    ]
    retries: list[tuple[str, float]] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    api = make_api(provider, monkeypatch, policy=RETRY_ALL.with_sleep(sleep))
    events = run(collect(api, "/events", seen,
                         on_retry=lambda reason, wait: retries.append((reason, wait))))  # fmt: skip

    assert len(events) == 2
    assert seen.count("home", "/events") == 2
    assert retries == [("HTTP 429", 2.0)]  # the provider's Retry-After, not the backoff
    assert sleeps == [2.0]


def test_a_stream_sends_the_callers_body_and_headers(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = run(collect(make_api(provider, monkeypatch), "/echo", json={"prompt": "a cat"},
                         headers={"X-Acme-Trace": "t-1"}))  # fmt: skip

    assert [event.json() for event in events] == [{"body": {"prompt": "a cat"}, "trace": "t-1"}]


def test_a_stream_whose_provider_is_unreachable_is_retried_then_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    retries: list[str] = []

    with pytest.raises(BackendUnavailable, match="could not reach Acme to make the image"):
        run(collect(make_api(f"http://127.0.0.1:{port}", monkeypatch), "/events",
                    on_retry=lambda reason, wait: retries.append(reason)))  # fmt: skip

    assert retries == ["ConnectError"]


def test_a_stream_that_fails_to_start_names_what_it_was_for(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendUnavailable) as raised:
        run(collect(make_api(provider, monkeypatch), "/billing?status=500&code=x"))

    assert raised.value.message == (
        "Acme could not make the image (HTTP 500: no money); try again later"
    )
    assert seen.count("home", "/billing") == 4  # RETRY_ALL: three retries


def test_a_stream_refused_with_the_key_is_an_auth_error_without_it(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(provider, monkeypatch)
    monkeypatch.setenv(KEY_ENV, "sk-live-wrongWrongWrongWrong0123456789")

    with pytest.raises(AuthError, match=KEY_ENV) as raised:
        run(collect(api, "/events"))

    assert "wrongWrong" not in str(raised.value)


def test_a_stream_that_never_starts_is_rate_limited_after_the_retries(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen.script = [web.json_response({"error": "slow"}, status=429) for _ in range(4)]

    with pytest.raises(RateLimited):
        run(collect(make_api(provider, monkeypatch), "/events"))

    assert seen.count("home", "/events") == 4


def test_a_stream_past_its_limit_is_stopped_with_one_line(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError, match=r"more than 1 MiB .*not read"):
        run(collect(make_api(provider, monkeypatch), "/huge", limit=1024 * 1024))


def test_a_stream_held_past_the_deadline_is_a_backend_timeout(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendTimeout, match="raise timeout"):
        run(collect(make_api(provider, monkeypatch), "/held", deadline=Deadline.after(0.5)))


def test_a_connection_lost_mid_stream_is_backend_unavailable(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendUnavailable, match="check the network"):
        run(collect(make_api(provider, monkeypatch), "/cut"))


def test_a_stream_url_on_another_origin_is_refused_before_sending(
    provider: str, cdn: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError, match="the key is only sent to") as raised:
        run(collect(make_api(provider, monkeypatch), f"{cdn}/files/x.png"))

    assert f"{cdn} is not on {provider}; the key is only sent to {provider}" in str(raised.value)
    assert seen.requests == []


def test_an_answer_that_is_not_a_stream_can_be_read_whole(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> bytes:
        api = make_api(provider, monkeypatch)
        try:
            async with api.stream("POST", "/plain", what="make the image") as events:
                assert not events.is_events
                return await events.read()
        finally:
            await api.aclose()

    assert run(main()) == b'{"data": [{"b64_json": "eA=="}]}'


def test_a_stream_of_exactly_its_limit_is_read_and_one_byte_more_is_not(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = b'{"data": [{"b64_json": "eA=="}]}'

    async def read(limit: int) -> bytes:
        api = make_api(provider, monkeypatch)
        try:
            async with api.stream("POST", "/plain", what="make the image", limit=limit) as events:
                return await events.read()
        finally:
            await api.aclose()

    assert run(read(len(whole))) == whole
    with pytest.raises(BackendError, match=f"more than {len(whole) - 1} bytes for {provider}"):
        run(read(len(whole) - 1))


# -- billing failures are never retried -------------------------------------------------------


def test_402_is_quota_exceeded_saying_to_check_billing(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(provider, monkeypatch)

    with pytest.raises(QuotaExceeded, match="check the account's billing"):
        run(api.call("POST", "/billing?status=402&code=payment_required", what="pay"))


@pytest.mark.parametrize("status", [429, 503])
def test_an_answer_the_adapter_maps_to_quota_exceeded_is_never_retried(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    api = make_api(provider, monkeypatch)  # its policy retries 429 and 503 three times

    with pytest.raises(QuotaExceeded):
        run(api.call("POST", f"/billing?status={status}", what="pay", errors=_quota))

    assert seen.count("home", "/billing") == 1


def test_a_stream_the_adapter_maps_to_quota_exceeded_is_never_retried(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(QuotaExceeded):
        run(collect(make_api(provider, monkeypatch), "/billing", errors=_quota))

    assert seen.count("home", "/billing") == 1


def test_a_rate_limit_that_is_not_about_money_is_still_retried(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(provider, monkeypatch)

    with pytest.raises(RateLimited):
        run(api.call("POST", "/billing?code=rate_limit_exceeded", what="pay", errors=_quota))

    assert seen.count("home", "/billing") == 4


# -- HttpApi.download -------------------------------------------------------------------------


def test_a_download_on_another_origin_gets_no_key(
    provider: str, cdn: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(make_api(provider, monkeypatch).download(f"{cdn}/files/a.png")) == PNG
    assert seen.count("cdn", "/files/a.png") == 1
    assert seen.keys_at("cdn") == 0


def test_a_download_on_the_api_origin_carries_the_key(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(make_api(provider, monkeypatch).download(f"{provider}/files/own.png")) == PNG
    assert seen.keys_at("home") == 1


def test_a_download_redirected_to_another_origin_drops_the_key(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(make_api(provider, monkeypatch).download(f"{provider}/files/to-cdn.png")) == PNG
    assert seen.keys_at("home") == 1
    assert seen.count("cdn", "/files/moved.png") == 1
    assert seen.keys_at("cdn") == 0


def test_a_download_past_its_limit_is_refused(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(provider, monkeypatch)

    with pytest.raises(BackendError, match=r"more than 1000 bytes .*big.png"):
        run(api.download(f"{provider}/files/big.png", limit=1000))


def test_a_download_held_past_the_deadline_is_a_backend_timeout(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(provider, monkeypatch, timeout=120.0)  # only the deadline can end it

    with pytest.raises(BackendTimeout):
        run(api.download(f"{provider}/files/slow.png", deadline=Deadline.after(0.5)))


def test_a_data_uri_is_decoded_without_a_request(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()

    assert run(make_api(provider, monkeypatch).download(uri)) == PNG
    assert seen.requests == []


def test_an_unreadable_data_uri_is_a_backend_error_of_this_backend(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError) as raised:
        run(make_api(provider, monkeypatch).download("data:image/png;base64,!!!"))

    assert raised.value.message.startswith("Acme answered with an unreadable data: URL (")
    assert raised.value.backend == "t"


def test_a_download_without_a_base_url_sends_no_key_anywhere(
    cdn: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api("", monkeypatch)

    assert run(api.download(f"{cdn}/files/a.png")) == PNG
    assert seen.keys_at("cdn") == 0


def test_an_https_download_is_attempted(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens: the attempt fails to connect

    with pytest.raises(BackendUnavailable, match="could not reach Acme"):
        run(make_api("https://api.example", monkeypatch).download(f"https://127.0.0.1:{port}/a"))


def test_a_failed_download_names_what_and_the_file_in_at_most_120_characters(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError) as raised:
        run(make_api(provider, monkeypatch).download(f"{provider}/missing/a.png"))
    assert raised.value.message == (
        f"Acme could not download the image ({provider}/.../a.png) (HTTP 404: no such file); "
        "check the model name and base_url"
    )

    with pytest.raises(BackendError) as long:
        run(make_api(provider, monkeypatch).download(f"{provider}/missing/{'b' * 300}.png"))
    named = long.value.message.removeprefix("Acme could not download the image (")
    named = named.partition(") (HTTP 404")[0]
    assert named.startswith(f"{provider}/.../bbb")
    assert len(named) == 120


def test_a_download_uses_the_callers_policy_and_error_hook(
    provider: str, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    def api() -> HttpApi:  # its own policy never retries
        return make_api(provider, monkeypatch, policy=RetryPolicy(sleep=_no_sleep))

    seen.script = [web.json_response({"error": {"message": "busy"}}, status=503)]

    assert run(api().download(f"{provider}/files/flaky.png", policy=RETRY_ALL)) == PNG
    assert seen.count("home", "/files/flaky.png") == 2

    with pytest.raises(QuotaExceeded):
        run(api().download(f"{provider}/billing", errors=_quota))


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.example", "http://cdn.example/a.png"),  # no downgrade from https
        ("http://127.0.0.1:9", "file:///etc/passwd"),
        ("http://127.0.0.1:9", "ftp://files.example/a.png"),
    ],
)
def test_urls_that_are_not_https_or_a_downgrade_are_not_downloaded(
    base_url: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendError) as raised:
        run(make_api(base_url, monkeypatch).download(url))

    assert raised.value.message.endswith(", not an https: URL; not downloaded")
    assert raised.value.backend == "t"


def test_a_refused_url_is_named_in_at_most_120_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError) as raised:
        run(
            make_api("https://api.example", monkeypatch).download(f"http://cdn.example/{'c' * 300}")
        )

    named = raised.value.message.removeprefix("Acme answered with ")
    named = named.partition(", not an https: URL")[0]
    assert named.startswith("http://cdn.example/.../ccc")
    assert len(named) == 120


def test_an_error_reported_inside_an_answer_is_mapped_like_an_error_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_api("http://127.0.0.1:9", monkeypatch)  # nothing is sent

    billing = {"error": {"code": "insufficient_quota", "message": "no money"}}
    assert isinstance(api.body_error(400, billing, what="pay", errors=_quota), QuotaExceeded)
    broken = api.body_error(500, {"message": f"stream broke ({KEY})"}, what="make the image")
    assert isinstance(broken, BackendUnavailable)
    assert broken.message.startswith("Acme could not make the image (HTTP 500: stream broke")
    assert KEY not in str(broken)


# -- base64 answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "aGVsbG8gd29ybGQ=",  # clean: the one-pass path
        b"aGVsbG8gd29ybGQ=",
        "aGVsbG8gd29ybGQ",  # no padding
        "aGVs bG8g\nd29y bGQ=",  # wrapped
    ],
)
def test_base64_in_every_usual_shape_decodes_alike(text: str | bytes) -> None:
    from imagen.adapters import decode_base64

    assert decode_base64(text) == b"hello world"


def test_url_safe_base64_decodes_and_garbage_is_refused() -> None:
    from imagen.adapters import decode_base64

    assert decode_base64(base64.urlsafe_b64encode(b"\xfb\xff\xbf")) == b"\xfb\xff\xbf"
    with pytest.raises(ValueError, match="not valid base64"):
        decode_base64("héllo!")
