"""The toolkit's HttpApi: what an adapter gets back for every way a provider call can go.

Each test calls a real loopback server (or maps a response the way ``call`` would) and checks
what the adapter, and so the user, sees: the error class, its one line, its ``detail``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from imagen.adapters.api import (
    Failure,
    HttpApi,
    bearer,
    body_message,
    header,
    json_object,
    json_or_none,
)
from imagen.adapters.http import NO_RETRY, Deadline, Retry, RetryPolicy
from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    NotConfigured,
    QuotaExceeded,
    RateLimited,
)
from imagen.testing.servers import serve_app

KEY = "acme-key-0123456789"
KEY_ENV = "ACME_TEST_KEY"


class Provider:
    """Answers each request with the next scripted reply (else 200 {"ok": true}); records
    each request's path and headers. ``hold`` keeps a request unanswered until the server
    stops."""

    def __init__(self) -> None:
        self.replies: list[web.StreamResponse | web.HTTPException | str] = []
        self.seen: list[tuple[str, dict[str, str]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, {k.lower(): v for k, v in request.headers.items()}))
        reply = self.replies.pop(0) if self.replies else web.json_response({"ok": True})
        if reply == "hold":
            await asyncio.Event().wait()
        if isinstance(reply, web.HTTPException):
            raise reply
        assert not isinstance(reply, str)
        return reply


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    script = Provider()
    with serve_app(script.app()) as url:
        yield script, url


def make_api(url: str, **overrides: Any) -> HttpApi:
    options: dict[str, Any] = {"backend": "acme-1", "base_url": url, "key_env": KEY_ENV,
                               "auth": bearer, "timeout": 10.0}  # fmt: skip
    options.update(overrides)
    return HttpApi("Acme", **options)


def call(api: HttpApi, method: str = "POST", path: str = "/v1/images", **kwargs: Any) -> Any:
    async def main() -> Any:
        try:
            return await api.call(method, path, what="create the image", **kwargs)
        finally:
            await api.aclose()

    return asyncio.run(main())


def recording_sleep() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    """A retry policy's sleep that waits for nothing and records each wait asked for."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return waits, sleep


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://acme.test/v1/images")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def mapped(response: httpx.Response, **overrides: Any) -> BackendError:
    return make_api("http://acme.test", **overrides).failure_error(
        response, what="create the image"
    )


# -- the status table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (400, InvalidRequest, "Acme rejected the request (HTTP 400: no such size)"),
        (422, InvalidRequest, "Acme rejected the request (HTTP 422: no such size)"),
        (401, AuthError, f"Acme refused the key (HTTP 401: no such size); set {KEY_ENV} to a "
                         "valid key"),
        (403, AuthError, f"Acme refused the key (HTTP 403: no such size); set {KEY_ENV} to a "
                         "valid key"),
        (404, InvalidRequest, "Acme could not create the image (HTTP 404: no such size); check "
                              "the model name and base_url"),
        (408, BackendTimeout, "Acme could not create the image (HTTP 408: no such size); try "
                              "again"),
        (413, InvalidRequest, "Acme could not create the image (HTTP 413: no such size); the "
                              "request is too large: use smaller --ref images"),
        (409, BackendError, "Acme could not create the image (HTTP 409: no such size)"),
        (418, BackendError, "Acme could not create the image (HTTP 418: no such size)"),
        (402, QuotaExceeded, "Acme wants payment (HTTP 402: no such size); check the "
                             "account's billing"),
        (429, RateLimited, "Acme is rate limiting (HTTP 429: no such size); wait and try again"),
        (500, BackendUnavailable, "Acme could not create the image (HTTP 500: no such size); "
                                  "try again later"),
        (503, BackendUnavailable, "Acme could not create the image (HTTP 503: no such size); "
                                  "try again later"),
    ],
)  # fmt: skip
def test_each_status_maps_to_its_error_with_one_line_saying_what_to_do(
    status: int, kind: type[BackendError], message: str
) -> None:
    error = mapped(answer(status, {"message": "no such size"}))
    assert type(error) is kind
    assert error.message == message
    assert str(error) == f"acme-1: {message}"
    assert error.backend == "acme-1"
    assert error.detail == {"status": status, "detail": "no such size"}


def test_a_refused_key_without_a_key_variable_says_to_check_the_credentials() -> None:
    error = mapped(answer(401, {"message": "bad token"}), key_env=None)
    assert type(error) is AuthError
    assert error.message == "Acme refused the key (HTTP 401: bad token); check the credentials"


def test_an_answer_without_a_message_leaves_the_status_alone() -> None:
    error = mapped(answer(404, ""))
    assert error.message == (
        "Acme could not create the image (HTTP 404); check the model name and base_url"
    )


def test_a_redirect_answer_names_where_it_pointed_and_is_not_followed() -> None:
    error = mapped(answer(302, "", location=f"https://elsewhere.test/collect?key={KEY}"))
    assert type(error) is BackendError
    assert error.message.startswith(
        "Acme could not create the image (HTTP 302: redirect to https://elsewhere.test/collect"
    )
    assert error.message.endswith("); redirects are not followed with a key")
    assert KEY not in error.message
    assert error.backend == "acme-1"
    assert error.detail["status"] == 302


def test_a_redirect_without_a_location_says_so() -> None:
    error = mapped(answer(302, ""))
    assert error.message == (
        "Acme could not create the image (HTTP 302: redirect without a Location header); "
        "redirects are not followed with a key"
    )


def test_a_long_redirect_target_is_named_in_at_most_120_characters() -> None:
    error = mapped(answer(302, "", location="https://elsewhere.test/" + "a" * 300))
    named = error.detail["detail"].removeprefix("redirect to ")
    assert named.startswith("https://elsewhere.test/aaa")
    assert named.endswith("...")
    assert len(named) == 120


@pytest.mark.parametrize("status", [300, 399])
def test_every_3xx_is_a_redirect_answer(status: int) -> None:
    error = mapped(answer(status, "", location="/v2/images"))
    assert type(error) is BackendError
    assert error.message.endswith(
        f"(HTTP {status}: redirect to /v2/images); redirects are not followed with a key"
    )


def test_a_4xx_is_not_taken_for_a_redirect() -> None:
    error = mapped(answer(400, "bad", location="/elsewhere"))
    assert error.message == "Acme rejected the request (HTTP 400: bad)"


def test_429_carries_the_providers_retry_after() -> None:
    error = mapped(answer(429, {"message": "slow down"}, **{"Retry-After": "7"}))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_429_reads_retry_after_the_adapters_way() -> None:
    def in_text(response: httpx.Response) -> float | None:
        return 12.0 if "12s" in response.text else None

    error = mapped(answer(429, {"message": "retry in 12s"}), retry_after=in_text)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0


def test_only_a_429_is_given_a_retry_after() -> None:
    seen: list[Failure] = []

    def hook(response: httpx.Response, failure: Failure) -> BackendError | None:
        seen.append(failure)
        return None

    api = make_api("http://acme.test", retry_after=lambda response: 5.0)
    api.failure_error(answer(503, {"message": "x"}), what="create the image", errors=hook)
    api.failure_error(answer(429, {"message": "x"}), what="create the image", errors=hook)
    assert [failure.retry_after for failure in seen] == [None, 5.0]


# -- the adapter's own errors first -------------------------------------------------------------


def test_the_adapters_hook_sees_the_answer_made_safe_and_its_error_wins() -> None:
    seen: list[Failure] = []
    blocked = BackendError("the content filter refused the prompt", backend="acme-1")

    def hook(response: httpx.Response, failure: Failure) -> BackendError | None:
        seen.append(failure)
        return blocked

    body = {"error": {"message": f"filtered\nfor {KEY}", "type": "content_filter"}}
    api = make_api("http://acme.test")
    error = api.failure_error(answer(400, body), what="create the image", errors=hook)
    assert error is blocked
    [failure] = seen
    assert failure == Failure(
        provider="Acme",
        backend="acme-1",
        what="create the image",
        status=400,
        detail="filtered for ***",
        key_env=KEY_ENV,
        body=body,
        retry_after=None,
    )


def test_the_adapters_hook_reads_the_answer_itself() -> None:
    def by_header(response: httpx.Response, failure: Failure) -> BackendError | None:
        if response.headers.get("x-acme-reason") == "credit":
            return QuotaExceeded("Acme is out of credit", backend=failure.backend)
        return None

    api = make_api("http://acme.test")
    credit = answer(429, {"message": "slow"}, **{"x-acme-reason": "credit"})
    assert type(api.failure_error(credit, what="pay", errors=by_header)) is QuotaExceeded
    busy = answer(429, {"message": "slow"})
    assert type(api.failure_error(busy, what="pay", errors=by_header)) is RateLimited


def test_an_error_inside_an_answer_hides_the_key_in_its_sent_form() -> None:
    import base64

    def basic(key: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"user:{key}".encode()).decode()}

    sent = base64.b64encode(b"user:hunter2").decode()  # not shaped like a key: only the
    with pytest.MonkeyPatch.context() as env:  # API's own secrets can hide it
        env.setenv(KEY_ENV, "hunter2")
        error = make_api("http://acme.test", auth=basic).body_error(
            500, {"message": f"bad credentials {sent} for hunter2"}, what="make the image"
        )
    assert "hunter2" not in str(error)
    assert sent not in str(error)
    assert "bad credentials *** for ***" in str(error)


def test_the_hook_of_an_error_inside_an_answer_sees_it_as_the_apis_answer() -> None:
    hosts: list[str] = []

    def hook(response: httpx.Response, failure: Failure) -> BackendError | None:
        hosts.append(response.request.url.host)
        return None

    error = make_api("http://acme.test/v1").body_error(
        503, {"message": "stream broke"}, what="make the image", errors=hook
    )
    assert error.message == (
        "Acme could not make the image (HTTP 503: stream broke); try again later"
    )
    make_api("").body_error(503, {}, what="make the image", errors=hook)  # no base_url
    assert hosts == ["acme.test", "localhost"]


def test_a_retry_rule_asks_its_own_condition_first(provider: tuple[Provider, str]) -> None:
    script, url = provider

    async def sleep(seconds: float) -> None:
        return None

    when = Retry.on_status(503, attempts=2, when=lambda r: r.headers.get("x-retry") == "yes")
    api = make_api(url, policy=RetryPolicy(when, sleep=sleep))
    script.replies = [web.json_response({"message": "down"}, status=503)]
    with pytest.raises(BackendUnavailable):
        call(api)
    assert len(script.seen) == 1
    script.replies = [
        web.json_response({"message": "down"}, status=503, headers={"x-retry": "yes"}),
        web.json_response({"ok": 2}),
    ]
    assert call(api).json() == {"ok": 2}
    assert len(script.seen) == 3


def test_the_apis_policy_keeps_its_retry_after_reading_and_its_longest_wait(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    waits, sleep = recording_sleep()

    # The provider's own reading says 30 s (its header says 1 s); the policy waits 2 s at most.
    policy = RetryPolicy(Retry.on_status(429, attempts=1), retry_after=lambda r: 30.0,
                         max_wait=2.0, sleep=sleep)  # fmt: skip
    script.replies = [
        web.json_response({"message": "slow"}, status=429, headers={"Retry-After": "1"}),
        web.json_response({"ok": 1}),
    ]
    assert call(make_api(url, policy=policy)).json() == {"ok": 1}
    assert waits == [2.0]


def test_a_hook_that_returns_none_leaves_the_answer_to_the_table() -> None:
    api = make_api("http://acme.test")
    error = api.failure_error(answer(503, {"message": "busy"}), what="create the image",
                              errors=lambda response, failure: None)  # fmt: skip
    assert type(error) is BackendUnavailable


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"message": "m", "detail": "d"}, "m"),
        ({"detail": "d", "error": "e"}, "d"),
        ({"error": "e", "title": "t"}, "e"),
        ({"error": {"message": "nested", "type": "kind"}}, "nested"),
        ({"error": {"type": "invalid_request_error"}}, "invalid_request_error"),
        ({"message": "", "title": "t"}, "t"),
        ({"code": 7}, '{"code": 7}'),
        (["not", "an", "object"], '["not", "an", "object"]'),
        # an errors list (JSON:API and others): its texts, or its objects' own message, joined;
        # the first three entries only, and the entries that say nothing left out
        ({"errors": ["size", {"message": "m"}, {"detail": "d"}, {"title": "t"}]}, "size; m; d"),
        ({"errors": [{}, "seed"]}, "seed"),
        ({"errors": [{}, ""]}, '{"errors": [{}, ""]}'),
    ],
)
def test_the_human_part_of_an_error_body_is_found(body: Any, said: str) -> None:
    import json

    assert body_message(body, json.dumps(body)) == said


# -- calls over a real socket -------------------------------------------------------------------


def test_a_success_is_returned_and_the_key_and_headers_are_sent(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    response = call(make_api(url + "/", headers={"X-Client": "imagen-test"}), json={"n": 1})
    assert response.json() == {"ok": True}
    [(path, headers)] = script.seen
    assert path == "/v1/images"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-client"] == "imagen-test"


def test_a_call_without_credentials_sends_no_key(provider: tuple[Provider, str]) -> None:
    script, url = provider
    call(make_api(url), "GET", f"{url}/files/out.png", credentials=False)
    [(_, headers)] = script.seen
    assert "authorization" not in headers


def test_a_call_without_credentials_needs_no_key_even_when_it_fails(
    provider: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = provider
    monkeypatch.delenv(KEY_ENV)
    assert call(make_api(url), "GET", "/public.png", credentials=False).status_code == 200
    script.replies = [web.json_response({"message": "gone"}, status=404)]
    with pytest.raises(InvalidRequest, match="HTTP 404: gone"):
        call(make_api(url), "GET", "/public.png", credentials=False)


def test_a_download_may_follow_a_redirect_to_another_origin(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    with serve_app(Provider().app()) as cdn:
        script.replies = [web.HTTPFound(f"{cdn}/file.png")]
        response = call(make_api(url), "GET", "/out/1", credentials=False, redirects="any")
    assert response.json() == {"ok": True}
    assert str(response.request.url) == f"{cdn}/file.png"


def test_a_key_the_auth_transforms_is_hidden_in_its_sent_form_too(
    provider: tuple[Provider, str],
) -> None:
    import base64

    script, url = provider
    sent = base64.b64encode(f"user:{KEY}".encode()).decode()
    script.replies = [web.json_response({"message": f"bad credentials {sent}"}, status=401)]

    def basic(key: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"user:{key}".encode()).decode()}

    with pytest.raises(AuthError) as caught:
        call(make_api(url, auth=basic))
    assert sent not in str(caught.value)


def test_the_adapters_hook_maps_a_failed_call(provider: tuple[Provider, str]) -> None:
    script, url = provider
    script.replies = [web.json_response({"message": "over budget"}, status=402)]
    billing = BackendError("Acme says the account is out of credit", backend="acme-1")
    with pytest.raises(BackendError) as caught:
        call(make_api(url), errors=lambda response, failure: billing)
    assert caught.value is billing


def test_an_api_without_auth_sends_no_key(provider: tuple[Provider, str]) -> None:
    script, url = provider
    call(make_api(url, auth=None))
    assert "authorization" not in script.seen[0][1]


def test_the_key_goes_in_the_header_the_provider_names(provider: tuple[Provider, str]) -> None:
    script, url = provider
    call(make_api(url, auth=header("x-goog-api-key")))
    assert script.seen[0][1]["x-goog-api-key"] == KEY


def test_a_missing_key_says_which_variable_to_set(
    provider: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = provider
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(NotConfigured) as caught:
        call(make_api(url))
    assert str(caught.value) == f"backend 'acme-1' is not configured: set {KEY_ENV}"
    assert script.seen == []


def test_an_error_answer_over_the_wire_is_mapped(provider: tuple[Provider, str]) -> None:
    script, url = provider
    script.replies = [web.json_response({"message": f"bad key {KEY}"}, status=401)]
    with pytest.raises(AuthError) as caught:
        call(make_api(url))
    assert KEY not in str(caught.value)
    assert caught.value.detail == {"status": 401, "detail": "bad key ***"}

    script.replies = [web.json_response({"message": "no such model"}, status=404)]
    with pytest.raises(InvalidRequest) as missing:
        call(make_api(url))
    assert missing.value.message.startswith("Acme could not create the image (HTTP 404")


def test_the_apis_retry_policy_applies_and_a_calls_own_policy_replaces_it(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    waits, sleep = recording_sleep()

    policy = RetryPolicy(Retry.on_status(503, attempts=2, backoff=0.5), sleep=sleep)
    retried: list[tuple[str, float]] = []
    script.replies = [web.json_response({}, status=503), web.json_response({"ok": 2})]
    response = call(make_api(url, policy=policy),
                    on_retry=lambda reason, wait: retried.append((reason, wait)))  # fmt: skip
    assert response.json() == {"ok": 2}
    assert (waits, retried) == ([0.5], [("HTTP 503", 0.5)])

    script.replies = [web.json_response({}, status=503)]
    with pytest.raises(BackendUnavailable):
        call(make_api(url, policy=policy), policy=NO_RETRY)
    assert waits == [0.5]


def test_an_unreachable_provider_is_unavailable_saying_to_check_the_network() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailable) as caught:
        call(make_api(f"http://127.0.0.1:{port}"))
    assert caught.value.message == (
        "could not reach Acme to create the image (All connection attempts failed); check the "
        "network and base_url"
    )
    assert caught.value.backend == "acme-1"
    assert caught.value.detail == {"unreachable": "All connection attempts failed"}


class Unreachable(HttpApi):
    """An API whose every request fails in transport with ``said`` (a proxy's words)."""

    said = ""

    def client(self) -> httpx.AsyncClient:
        def fail(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(self.said, request=request)

        return httpx.AsyncClient(transport=httpx.MockTransport(fail), base_url=self.base_url)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("", "ConnectError"),
        (" \n ", "ConnectError"),  # words that are only blanks say nothing either
        (f"proxy refused key {KEY}", "proxy refused key ***"),
        ("tunnel failed: " + "z" * 200, ("tunnel failed: " + "z" * 200)[:117] + "..."),
    ],
)
def test_a_transport_error_is_shown_short_without_the_key_or_by_its_kind(
    said: str, shown: str
) -> None:
    api = Unreachable("Acme", backend="acme-1", base_url="http://acme.test", key_env=KEY_ENV,
                      auth=bearer)  # fmt: skip
    api.said = said
    with pytest.raises(BackendUnavailable) as caught:
        call(api)
    assert caught.value.message == (
        f"could not reach Acme to create the image ({shown}); check the network and base_url"
    )
    assert caught.value.detail == {"unreachable": shown}


def test_a_provider_that_does_not_answer_within_the_read_timeout_is_a_timeout(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    script.replies = ["hold"]
    with pytest.raises(BackendTimeout) as caught:
        call(make_api(url, timeout=0.3))
    assert caught.value.message == (
        "Acme did not answer in time to create the image; raise timeout: for 'acme-1' or try again"
    )
    assert caught.value.backend == "acme-1"


def test_a_provider_still_answering_at_the_deadline_is_a_timeout(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    script.replies = ["hold"]
    with pytest.raises(BackendTimeout, match="did not answer in time to create the image"):
        call(make_api(url), deadline=Deadline.after(0.3))


def test_a_body_past_the_limit_is_refused_unread(provider: tuple[Provider, str]) -> None:
    script, url = provider
    script.replies = [web.Response(body=b"x" * 5000)]
    with pytest.raises(BackendError) as caught:
        call(make_api(url), limit=1000)
    assert caught.value.message == (
        f"Acme answered more than 1000 bytes for {url} (create the image); not read"
    )
    assert caught.value.backend == "acme-1"


def test_a_url_on_another_origin_is_refused_before_it_is_sent(
    provider: tuple[Provider, str],
) -> None:
    script, url = provider
    with pytest.raises(BackendError) as caught:
        call(make_api(url), "GET", "https://elsewhere.test/v1/x")
    assert caught.value.message == (
        "Acme named a URL to create the image that https://elsewhere.test is not on "
        f"{url.replace('localhost', '127.0.0.1')}; the key is only sent to "
        f"{url.replace('localhost', '127.0.0.1')}"
    )
    assert caught.value.backend == "acme-1"
    assert script.seen == []


def test_a_redirect_loop_is_a_backend_error(provider: tuple[Provider, str]) -> None:
    script, url = provider
    script.replies = [web.HTTPFound("/v1/images") for _ in range(6)]
    with pytest.raises(BackendError) as caught:
        call(make_api(url))
    assert caught.value.message == "Acme redirected too many times to create the image"
    assert caught.value.backend == "acme-1"
    assert len(script.seen) == 6


def test_after_aclose_the_next_call_opens_a_new_client(provider: tuple[Provider, str]) -> None:
    script, url = provider
    api = make_api(url)

    async def main() -> None:
        await api.call("GET", "/a", what="read")
        await api.aclose()
        await api.aclose()  # twice is fine
        await api.call("GET", "/b", what="read")
        await api.aclose()

    asyncio.run(main())
    assert [path for path, _ in script.seen] == ["/a", "/b"]


def test_an_api_strips_the_trailing_slash_of_its_base_url_and_reads_for_60_s() -> None:
    api = HttpApi("Acme", backend="acme-1", base_url="http://acme.test/v1/")
    assert api.base_url == "http://acme.test/v1"
    assert HttpApi("Acme", backend="a", base_url="", timeout=5.0).client().timeout.read == 5.0
    assert HttpApi("Acme", backend="a", base_url="http://acme.test/X/").base_url == (
        "http://acme.test/X"
    )
    assert api.client().timeout == httpx.Timeout(60.0, connect=10.0)


# -- small helpers --------------------------------------------------------------------------------


def test_clean_hides_the_key_and_keeps_one_short_line() -> None:
    api = make_api("http://acme.test")
    assert api.clean(f"refused\n{KEY}") == "refused ***"
    assert api.clean("x" * 50, limit=20) == "x" * 17 + "..."


def test_key_without_a_key_variable_is_a_plugin_authors_mistake_named_as_such() -> None:
    with pytest.raises(AssertionError, match=r"^HttpApi.key\(\) needs key_env$"):
        make_api("http://acme.test", key_env=None).key()


def test_clean_cuts_a_providers_words_to_300_characters() -> None:
    said = make_api("http://acme.test").clean("y" * 400)
    assert said == "y" * 297 + "..."


def test_clean_without_a_key_variable_reads_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    assert make_api("http://acme.test", key_env=None).clean("plain text") == "plain text"


def test_json_helpers_read_what_is_json_and_nothing_else() -> None:
    assert json_or_none(answer(200, {"a": 1})) == {"a": 1}
    assert json_or_none(answer(200, "not json")) is None
    assert json_or_none(httpx.Response(200, content=b"\xff\xfe")) is None
    assert json_object(answer(200, [1, 2])) == {}
    assert json_object(answer(200, {"a": 1})) == {"a": 1}


def test_a_port_out_of_range_is_unreachable_naming_the_port() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        call(make_api("http://127.0.0.1:99999", policy=NO_RETRY))
    assert caught.value.message == (
        "could not reach Acme to create the image (port 99999 is out of range (1 to 65535)); "
        "check the network and base_url"
    )
