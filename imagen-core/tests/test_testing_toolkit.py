"""imagen.testing for adapter authors: the fake-server scaffold, the CLI in a scratch home and
the sample take behave as documented."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from imagen.testing import ANY, FakeServer, ScratchHome, sample_generation, serve_app

KEY = "acme-test-key-0123"


class FakeEcho(FakeServer):
    public_steps = frozenset({"health"})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/echo", self.echo, name="echo")
        app.router.add_get("/health", self.health, name="health")

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response({"got": (await request.json())["say"]})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


@pytest.fixture
def served() -> Iterator[tuple[FakeEcho, str]]:
    fake = FakeEcho(key=KEY)
    with serve_app(fake.app()) as url:
        yield fake, url


def post(url: str, key: str = KEY, say: str = "hi") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/echo", json={"say": say}, headers=headers, timeout=30)


def test_every_call_is_recorded_with_its_step_and_body(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    assert post(url).json() == {"got": "hi"}
    (call,) = fake.calls_to("echo")
    assert (call.method, call.path, call.json()) == ("POST", "/v1/echo", {"say": "hi"})
    assert call.headers["Authorization"] == f"Bearer {KEY}"


def test_a_wrong_key_is_refused_and_public_steps_need_none(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    assert post(url, key="wrong").status_code == 401
    assert httpx.get(f"{url}/health").json() == {"ok": True}
    assert [call.step for call in fake.calls] == ["echo", "health"]


def test_scripted_faults_play_in_order_then_the_real_answer(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    fake.fail("echo", 429, 503, lambda request: web.json_response({"own": 1}, status=418))
    first, second, third, fourth = (post(url) for _ in range(4))
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "0"
    assert second.status_code == 503
    assert (third.status_code, third.json()) == (418, {"own": 1})
    assert fourth.json() == {"got": "hi"}
    assert fake.pending_faults("echo") == 0


def test_a_fault_for_any_step_applies_to_every_route(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    fake.fail(ANY, 500)
    assert httpx.get(f"{url}/health").status_code == 500
    assert post(url).status_code == 200


def test_a_dropped_request_closes_the_connection_unanswered(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    fake.fail("echo", "drop")
    with pytest.raises(httpx.TransportError):
        post(url, say="x" * 100_000)
    assert post(url).status_code == 200


def test_a_held_step_waits_for_the_test_to_open_its_gate(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    gate = fake.hold("echo")
    answers: list[httpx.Response] = []
    senders = [threading.Thread(target=lambda: answers.append(post(url))) for _ in range(2)]
    for sender in senders:
        sender.start()
    gate.wait_for(2)
    assert answers == []
    assert fake.in_flight == 2
    gate.open()
    for sender in senders:
        sender.join(30)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert fake.max_in_flight == 2


def test_a_held_request_nobody_releases_ends_with_the_server() -> None:
    fake = FakeEcho(key=KEY)
    with serve_app(fake.app()) as url:
        fake.hold()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/echo", json={"say": "x"}, timeout=0.2,
                       headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
    assert fake.in_flight == 0


# -- the CLI in a scratch home ---------------------------------------------------------------


def test_scratch_home_runs_imagen_with_its_own_config_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_CONFIG", str(tmp_path / "the-developers.yaml"))
    home = ScratchHome(tmp_path)
    home.configure("""
        default_backend: drawn
        backends:
          drawn: {type: mock}
    """)
    ran = home.imagen("generate", "a cat", "--seed", "3")
    assert ran.code == 0, ran.err
    (printed,) = ran.lines
    assert Path(printed).is_relative_to(home.output)
    assert home.runs == [ran]
    assert (home.home / ".local" / "share" / "imagen").is_dir()


def test_scratch_home_without_config_uses_the_built_in_mock(tmp_path: Path) -> None:
    ran = ScratchHome(tmp_path).imagen("backends", "--json")
    assert ran.code == 0, ran.err
    assert "no config file at" in ran.err
    assert str(tmp_path / "home") in ran.err


# -- the sample take ---------------------------------------------------------------------------


def test_sample_generation_takes_changes_to_any_field(tmp_path: Path) -> None:
    generation = sample_generation(backend="acme-test", output_dir=str(tmp_path), seed=None)
    assert (generation.backend, generation.output_dir, generation.seed) == (
        "acme-test", str(tmp_path), None,
    )  # fmt: skip
    assert sample_generation().path == "sample.png"


def test_a_gate_opens_by_itself_once_enough_requests_wait(served: tuple[FakeEcho, str]) -> None:
    fake, url = served
    fake.hold("echo").open_when(3)
    senders = [threading.Thread(target=post, args=(url,)) for _ in range(3)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    assert fake.max_in_flight == 3
    assert fake.in_flight == 0
