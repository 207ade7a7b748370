"""Key headers and Storage object paths; a Connection's key, retry policy and failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imagen.errors import SinkError
from imagen.testing.servers import serve_app
from imagen_supabase import connection as connection_module
from imagen_supabase.connection import (
    Connection,
    auth_headers,
    key_problem,
    object_path,
    owner_key,
    with_digest,
)
from imagen_supabase.testing import OWNER_ID, SECRET_KEY, SERVICE_JWT, RecordingSleep


def test_jwt_key_is_sent_as_apikey_and_bearer() -> None:
    assert auth_headers(SERVICE_JWT) == {
        "apikey": SERVICE_JWT,
        "Authorization": f"Bearer {SERVICE_JWT}",
    }


def test_secret_key_is_sent_as_apikey_only() -> None:
    assert auth_headers(SECRET_KEY) == {"apikey": SECRET_KEY}


segment = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1
)


@given(st.lists(segment, min_size=1, max_size=4))
def test_object_path_keeps_every_segment_and_decodes_back(segments: list[str]) -> None:
    path = "/".join(segments)
    assume(key_problem(path) is None)

    encoded = object_path(path)

    assert encoded.count("/") == path.count("/")
    assert unquote(encoded) == path
    assert all(ch not in encoded for ch in "?# ")


def fully_decoded(text: str) -> str:
    while unquote(text) != text:
        text = unquote(text)
    return text


@given(st.text(st.sampled_from("./%2eEfF5cC\\a"), max_size=14))
def test_no_key_object_path_accepts_can_step_out_of_the_bucket(key: str) -> None:
    # Made of the pieces of ../ and its encodings: either refused, or every segment stays a
    # name however often a server decodes it.
    try:
        encoded = object_path(key)
    except SinkError:
        return
    segments = fully_decoded(encoded).replace("\\", "/").split("/")
    assert not {".", "..", ""} & set(segments)


@pytest.mark.parametrize(
    "key",
    [
        "../other-bucket/x.png",
        "a/../../b.png",
        "a/./b.png",
        "/etc/passwd",
        "%2e%2e/x.png",
        "%2E%2E%2Fx.png",
        "..%2fx.png",
        "%252e%252e/x.png",
        "a\\..\\b.png",
        "a//b.png",
        "a/b/",
        "a\nb.png",
        "",
    ],
)
def test_object_names_that_could_leave_the_bucket_are_refused_before_any_request(
    key: str,
) -> None:
    assert key_problem(key) is not None
    with pytest.raises(SinkError, match="refusing the object name"):
        object_path(key)


def test_an_owners_key_starts_with_the_owner_and_maps_the_path_by_the_storage_rule() -> None:
    owner = "ac6c9501-3757-4a6d-8b97-2cff4288382b"
    assert owner_key(owner, "2026-11-23/café.png") == f"{owner}/2026-11-23/caf(u00e9).png"


def test_the_digest_goes_before_the_extension() -> None:
    digest = "1f2e3d4c5b6a" + "0" * 52
    assert with_digest("o/2026/cat.png", digest) == "o/2026/cat-1f2e3d4c5b6a.png"
    assert with_digest("o/noext", digest) == "o/noext-1f2e3d4c5b6a"


# -- a Connection against a scripted server ------------------------------------------------------

KEY_ENV = "TEST_CONNECTION_KEY"


class Script:
    """A project whose answers the test scripts: (status, headers) each, then 200s."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.body = b"{}"

    def app(self) -> Any:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            self.seen.append((request.method, request.path, dict(request.headers)))
            status, headers = self.answers.pop(0) if self.answers else (200, {})
            return web.Response(status=status, headers=headers, body=self.body)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    served = Script()
    with serve_app(served.app()) as url:
        yield served, url


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SERVICE_JWT)
    return SERVICE_JWT


def ask(conn: Connection, path: str = "/rest/v1/images", **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        try:
            return await conn.request("GET", path, what="reading imagen.images", **kwargs)
        finally:
            await conn.aclose()

    return asyncio.run(main())


def closed_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_5xx_is_tried_three_more_times_with_doubling_waits(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    served.answers = [(503, {})] * 5
    sleeps = RecordingSleep()

    answer = ask(Connection(url, KEY_ENV, 5, sleep=sleeps))

    assert answer.status_code == 503
    assert len(served.seen) == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("status", [500, 502, 599])
def test_every_5xx_is_retried(script: tuple[Script, str], key: str, status: int) -> None:
    served, url = script
    served.answers = [(status, {})]

    answer = ask(Connection(url, KEY_ENV, 5, sleep=RecordingSleep()))

    assert answer.status_code == 200
    assert len(served.seen) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 429, 499])
def test_no_4xx_is_retried(script: tuple[Script, str], key: str, status: int) -> None:
    served, url = script
    served.answers = [(status, {})]
    sleeps = RecordingSleep()

    answer = ask(Connection(url, KEY_ENV, 5, sleep=sleeps))

    assert answer.status_code == status
    assert len(served.seen) == 1
    assert sleeps.waits == []


def test_a_retry_after_hint_is_waited_but_never_more_than_30_seconds(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    served.answers = [(503, {"Retry-After": "12"}), (503, {"Retry-After": "3600"})]
    sleeps = RecordingSleep()

    answer = ask(Connection(url, KEY_ENV, 5, sleep=sleeps))

    assert answer.status_code == 200
    assert sleeps.waits == [12.0, 30.0]


def test_the_key_goes_to_the_project_in_the_headers_it_takes(
    script: tuple[Script, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = script
    monkeypatch.setenv(KEY_ENV, SERVICE_JWT)
    ask(Connection(url, KEY_ENV, 5))
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    ask(Connection(url, KEY_ENV, 5))

    (_, path, jwt), (_, _, secret) = served.seen
    assert path == "/rest/v1/images"
    assert (jwt["apikey"], jwt["Authorization"]) == (SERVICE_JWT, f"Bearer {SERVICE_JWT}")
    assert secret["apikey"] == SECRET_KEY
    assert "Authorization" not in secret


def test_a_redirect_to_another_origin_is_answered_as_it_is_and_the_key_never_goes_there(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    elsewhere = Script()
    with serve_app(elsewhere.app()) as other:
        served.answers = [(307, {"Location": f"{other}/steal"})]
        answer = ask(Connection(url, KEY_ENV, 5))
        # On the project's own origin a redirect is followed, with the key.
        served.answers = [(307, {"Location": f"{url}/rest/v1/moved"})]
        moved = ask(Connection(url, KEY_ENV, 5))

    assert answer.status_code == 307
    assert elsewhere.seen == []
    assert moved.status_code == 200
    assert served.seen[-1][1] == "/rest/v1/moved"
    assert served.seen[-1][2]["apikey"] == SERVICE_JWT


def test_a_url_with_a_trailing_slash_reaches_the_same_paths(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    conn = Connection(url + "/", KEY_ENV, 5)

    assert conn.host == url.removeprefix("http://")
    assert ask(conn, "/storage/v1/object/b/k.png").status_code == 200
    assert served.seen[0][1] == "/storage/v1/object/b/k.png"


def test_a_connection_without_its_key_says_which_variable_to_set_and_sends_nothing(
    script: tuple[Script, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = script
    monkeypatch.delenv(KEY_ENV, raising=False)
    conn = Connection(url, KEY_ENV, 5)

    assert conn.configured() is False
    with pytest.raises(SinkError) as refused:
        ask(conn)
    assert str(refused.value) == f"not configured: set {KEY_ENV} to the project's service key"
    assert served.seen == []


def test_a_connection_without_a_url_says_to_set_it(key: str) -> None:
    conn = Connection("", KEY_ENV, 5)

    assert conn.configured() is False
    assert conn.host == ""
    with pytest.raises(SinkError) as refused:
        ask(conn)
    assert str(refused.value) == (
        "not configured: set url to the project URL (https://<ref>.supabase.co)"
    )


def test_a_connection_with_url_and_key_is_configured(key: str) -> None:
    assert Connection("https://abc.supabase.co", KEY_ENV, 5).configured() is True


def test_an_unreachable_project_is_retried_then_one_line_naming_the_host_and_what(
    key: str,
) -> None:
    port = closed_port()
    sleeps = RecordingSleep()

    with pytest.raises(SinkError) as failed:
        ask(Connection(f"http://127.0.0.1:{port}", KEY_ENV, 5, sleep=sleeps))

    assert sleeps.waits == [0.5, 1.0, 2.0]
    message = str(failed.value)
    assert message.startswith(f"reading imagen.images: could not reach 127.0.0.1:{port} (")
    assert "ConnectError: " in message
    assert message.endswith("); run `imagen sync` when the network is back")
    assert failed.value.retryable
    assert failed.value.__cause__ is None


class Failing(httpx.AsyncBaseTransport):
    """A transport whose every request fails with ``error`` (as a proxy's words might)."""

    def __init__(self, error: httpx.TransportError) -> None:
        self.error = error
        self.tries = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.tries += 1
        raise self.error


def failing_client(monkeypatch: pytest.MonkeyPatch, error: httpx.TransportError) -> Failing:
    transport = Failing(error)

    def make_client(*, base_url: str, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    monkeypatch.setattr(connection_module, "make_client", make_client)
    return transport


def test_a_transport_failure_that_repeats_the_key_does_not_show_it(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_client(monkeypatch, httpx.ProxyError(f"proxy refused apikey: {key}"))

    with pytest.raises(SinkError) as failed:
        ask(Connection("https://abc.supabase.co", KEY_ENV, 5, sleep=RecordingSleep()))

    message = str(failed.value)
    assert key not in message
    assert message == (
        "reading imagen.images: could not reach abc.supabase.co (ProxyError: proxy refused "
        "apikey: ***); run `imagen sync` when the network is back"
    )


def test_a_transport_failure_without_words_is_named_by_its_kind(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = failing_client(monkeypatch, httpx.ReadError(""))

    with pytest.raises(SinkError) as failed:
        ask(Connection("https://abc.supabase.co", KEY_ENV, 5, sleep=RecordingSleep()))

    assert str(failed.value) == (
        "reading imagen.images: could not reach abc.supabase.co (ReadError: ReadError); run "
        "`imagen sync` when the network is back"
    )
    assert transport.tries == 4


def test_an_answer_over_the_limit_is_not_read(script: tuple[Script, str], key: str) -> None:
    served, url = script
    served.body = b"x" * 64

    with pytest.raises(SinkError) as failed:
        ask(Connection(url, KEY_ENV, 5), limit=16)

    host = url.removeprefix("http://")
    assert str(failed.value) == (
        f"reading imagen.images: {host} answered more than 16 bytes for {url}; not read"
    )
    assert failed.value.__cause__ is None


def test_an_error_scrubbed_keeps_its_state_and_retryability(key: str) -> None:
    conn = Connection("https://abc.supabase.co", KEY_ENV, 5)
    error = SinkError(f"echoed {key}", state={"uploaded": True}, retryable=False)

    scrubbed = conn.scrubbed(error)

    assert str(scrubbed) == "echoed ***"
    assert scrubbed.state == {"uploaded": True}
    assert scrubbed.retryable is False


def test_a_connection_closed_opens_a_new_client_for_its_next_request(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    conn = Connection(url, KEY_ENV, 5)

    async def main() -> list[int]:
        statuses = []
        for _ in range(2):
            answer = await conn.request("GET", "/rest/v1/images", what="reading")
            statuses.append(answer.status_code)
            await conn.aclose()
        await conn.aclose()  # closing twice is fine
        return statuses

    assert asyncio.run(main()) == [200, 200]
    assert len(served.seen) == 2


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "it is empty"),
        ("/etc/passwd", "it is absolute"),
        ("%2Fetc/passwd", "it is absolute"),
        ("a\\b.png", "it contains a backslash"),
        ("a%5Cb.png", "it contains a backslash"),
        ("a\x7fb.png", "it contains a control character"),
        ("a\x1fb.png", "it contains a control character"),
        ("a%0Ab.png", "it contains a control character"),
        ("a/../b.png", "it has a . or .. segment"),
        ("./b.png", "it has a . or .. segment"),
        ("%252e%252e/b.png", "it has a . or .. segment"),
        ("a//b.png", "it has an empty segment (//, or a trailing /)"),
        ("a/b/", "it has an empty segment (//, or a trailing /)"),
    ],
)
def test_a_refused_object_name_says_why_and_is_not_retried(key: str, problem: str) -> None:
    assert key_problem(key) == problem
    with pytest.raises(SinkError) as refused:
        object_path(key)
    assert str(refused.value) == f"refusing the object name {key!r}: {problem}"
    assert refused.value.retryable is False


@pytest.mark.parametrize("key", ["a/b.png", "a b/c~d.png", "\x80x.png", "%25x.png", "a.b/..c"])
def test_names_that_stay_in_the_bucket_are_accepted(key: str) -> None:
    assert key_problem(key) is None
    assert unquote(object_path(key)) == key


@pytest.mark.parametrize(
    ("key", "moved"),
    [
        ("o/2026/cat.v2.png", "o/2026/cat.v2-1f2e3d4c5b6a.png"),
        ("o/v1.2/cat", "o/v1.2/cat-1f2e3d4c5b6a"),
        ("cat.png", "cat-1f2e3d4c5b6a.png"),
        ("Xmas.png", "Xmas-1f2e3d4c5b6a.png"),
        ("o/.hidden", "o/.hidden-1f2e3d4c5b6a"),
    ],
)
def test_the_digest_goes_before_the_last_extension_of_the_name_alone(key: str, moved: str) -> None:
    assert with_digest(key, "1f2e3d4c5b6a" + "0" * 52) == moved


@pytest.mark.parametrize(
    "project", ["https://abc.supabase.co", "http://SANDBOX:8000", "http://BOX"]
)
def test_an_objects_link_has_no_double_slash_when_the_project_url_ends_with_one(
    project: str,
) -> None:
    # The sinks build the links they record from the connection's url.
    from imagen_supabase.settings import StorageSettings
    from imagen_supabase.storage import SupabaseStorageSink

    settings = StorageSettings(url=project + "/", key_env=KEY_ENV, owner_user_id=OWNER_ID)
    sink = SupabaseStorageSink("cloud", settings)

    assert sink.object_url("o/cat.png") == (
        f"{project}/storage/v1/object/authenticated/imagen-generated/o/cat.png"
    )


def test_a_connection_built_without_a_sleep_waits_for_real_between_tries(
    script: tuple[Script, str], key: str
) -> None:
    served, url = script
    served.answers = [(503, {"Retry-After": "0"})]

    assert ask(Connection(url, KEY_ENV, 5)).status_code == 200
    assert len(served.seen) == 2
