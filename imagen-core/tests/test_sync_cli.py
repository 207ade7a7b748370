"""``imagen sync``: list, retry and drop the deliveries kept in the outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web

from imagen.models import Generation, Request
from imagen.sinks.outbox import Outbox
from imagen.testing.servers import serve_app


@pytest.fixture
def outbox_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "outbox.sqlite3")
    monkeypatch.setenv("IMAGEN_OUTBOX", path)
    monkeypatch.setenv("IMAGEN_HISTORY", str(tmp_path / "history.sqlite3"))
    return path


def make_generation(directory: Path, name: str = "2026-11-23/cat 1.png") -> Generation:
    image = directory / name
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(b"\x89PNG")
    return Generation(
        request=Request("a cat", seed=5),
        backend="mock",
        backend_type="mock",
        model="placeholder",
        seed=5,
        path=name,
        output_dir=str(directory),
        sha256="ab" * 32,
        media_type="image/png",
        width=8,
        height=8,
        size_bytes=4,
        latency=0.1,
        created_at=dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC),
    )


def keep(outbox_path: str, sink: str, generation: Generation, error: str = "offline") -> int:
    with Outbox.open(outbox_path) as box:
        return box.add(sink, generation, error=error)


def pending(outbox_path: str) -> list[Any]:
    with Outbox.open(outbox_path) as box:
        return box.pending()


def config_file(tmp_path: Path, url: str) -> str:
    path = tmp_path / "imagen.yaml"
    path.write_text(f"sinks:\n  notify: {{type: webhook, url: '{url}', retries: 0}}\n")
    return str(path)


class Receiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        return web.json_response({}, status=self.status)


def test_list_with_nothing_pending_says_so_and_succeeds(imagen: Any, outbox_path: str) -> None:
    ran = imagen("sync", "--list")
    assert (ran.code, ran.out, ran.err) == (0, "", "imagen: nothing pending\n")


def test_list_shows_id_sink_attempts_path_and_last_error(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    first = keep(outbox_path, "notify", make_generation(tmp_path), "HTTP 503 from x")
    ran = imagen("sync", "--list")
    assert ran.code == 0
    assert ran.lines[0].split() == ["ID", "SINK", "ATTEMPTS", "PATH", "LAST", "ERROR"]
    assert ran.lines[1].split() == [str(first), "notify", "1", "2026-11-23/cat", "1.png", "HTTP",
                                    "503", "from", "x"]  # fmt: skip


def test_list_marks_a_delivery_a_retry_alone_cannot_fix(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    with Outbox.open(outbox_path) as box:
        box.add("notify", make_generation(tmp_path), error="HTTP 403", retryable=False)
    assert imagen("sync", "--list").lines[1].endswith("(needs a fix) HTTP 403")


def test_list_marks_a_delivery_whose_image_is_gone(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    generation = make_generation(tmp_path)
    keep(outbox_path, "notify", generation)
    (tmp_path / generation.path).unlink()
    assert "1.png (missing)" in imagen("sync", "--list").lines[1]


def test_list_json_gives_every_field(imagen: Any, outbox_path: str, tmp_path: Path) -> None:
    generation = make_generation(tmp_path)
    with Outbox.open(outbox_path) as box:
        delivery_id = box.add(
            "notify", generation, state={"uploaded": True}, error="HTTP 403", retryable=False
        )
        [kept] = box.pending()
    [item] = json.loads(imagen("sync", "--list", "--json").out)
    assert item == {
        "id": delivery_id,
        "sink": "notify",
        "path": generation.path,
        "absolute_path": str(tmp_path / generation.path),
        "image_exists": True,
        "backend": "mock",
        "attempts": 1,
        "state": {"uploaded": True},
        "last_error": "HTTP 403",
        "retryable": False,
        "created_at": kept.created_at.isoformat(),
        "updated_at": kept.updated_at.isoformat(),
    }
    assert dt.datetime.fromisoformat(item["created_at"]).tzinfo is not None


def test_sync_delivers_each_pending_delivery_and_empties_the_outbox(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    generation = make_generation(tmp_path)
    keep(outbox_path, "notify", generation)
    receiver = Receiver()
    with serve_app(receiver.app()) as base:
        ran = imagen("--config", config_file(tmp_path, f"{base}/hook"), "sync")
    assert ran.code == 0, ran.err
    assert ran.out == "synced 2026-11-23/cat 1.png -> notify\n"
    assert ran.err.endswith("imagen: 1 synced\n")
    assert [body["path"] for body in receiver.bodies] == [generation.path]
    assert pending(outbox_path) == []


def test_a_failed_retry_is_reported_on_stderr_counted_and_exits_1(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    delivery_id = keep(outbox_path, "notify", make_generation(tmp_path))
    receiver = Receiver(status=503)
    with serve_app(receiver.app()) as base:
        ran = imagen("--config", config_file(tmp_path, f"{base}/hook"), "sync")
    assert ran.code == 1
    assert ran.out == ""
    assert f"imagen: notify: {base} answered HTTP 503" in ran.err
    assert f"(delivery {delivery_id}, 2026-11-23/cat 1.png)" in ran.err
    assert "1 still pending" in ran.err
    [left] = pending(outbox_path)
    assert left.attempts == 2
    assert "HTTP 503" in left.last_error


def test_a_delivery_for_a_sink_no_longer_configured_stays_and_says_so(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    keep(outbox_path, "old-cloud", make_generation(tmp_path))
    ran = imagen("--config", config_file(tmp_path, "http://127.0.0.1:9/hook"), "sync")
    assert ran.code == 1
    assert "imagen: old-cloud: no sink named 'old-cloud' in the config" in ran.err
    assert len(pending(outbox_path)) == 1


def test_sync_json_reports_each_outcome(imagen: Any, outbox_path: str, tmp_path: Path) -> None:
    keep(outbox_path, "notify", make_generation(tmp_path))
    with serve_app(Receiver().app()) as base:
        ran = imagen("--config", config_file(tmp_path, f"{base}/hook"), "sync", "--json")
    report = json.loads(ran.out)
    assert (report["synced"], report["pending"]) == (1, 0)
    assert [d["outcome"] for d in report["deliveries"]] == ["synced"]


def test_drop_removes_a_delivery_without_delivering_it(
    imagen: Any, outbox_path: str, tmp_path: Path
) -> None:
    first = keep(outbox_path, "notify", make_generation(tmp_path))
    second = keep(outbox_path, "notify", make_generation(tmp_path))
    ran = imagen("sync", "--drop", str(first))
    assert ran.code == 0
    assert ran.err == f"imagen: dropped delivery {first}\n"
    assert [p.id for p in pending(outbox_path)] == [second]


def test_dropping_an_unknown_id_is_an_error_pointing_at_the_list(
    imagen: Any, outbox_path: str
) -> None:
    ran = imagen("sync", "--drop", "41")
    assert ran.code == 2
    assert ran.err == ("imagen: error: no pending delivery with id 41 (see: imagen sync --list)\n")


# --- end to end: a generate whose sink is down, then a sync once it is back -----------------


class HookHandler(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def hook_server(port: int) -> Iterator[list[tuple[dict[str, str], bytes]]]:
    """A plain HTTP endpoint on a chosen port (the one the config already names)."""
    HookHandler.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), HookHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HookHandler.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_delivery_missed_by_generate_is_listed_and_then_delivered_by_sync(
    imagen_process: Any, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "imagen.yaml"
    config.write_text(
        f"output:\n  directory: {json.dumps(str(tmp_path / 'pictures'))}\n"
        "sinks:\n"
        f"  notify: {{type: webhook, url: 'http://127.0.0.1:{port}/hook', "
        "secret_env: E2E_HOOK_SECRET, retries: 0}\n"
    )
    env = {
        "IMAGEN_OUTBOX": str(tmp_path / "outbox.sqlite3"),
        "IMAGEN_HISTORY": str(tmp_path / "history.sqlite3"),
        "IMAGEN_CLOUD_SYNC": "",
        "E2E_HOOK_SECRET": "e2e-secret",
    }
    made = imagen_process("--config", str(config), "generate", "a cat", "--seed", "9", env=env)
    assert made.code == 0, made.err
    [image] = [Path(line) for line in made.lines]
    assert image.is_file()
    assert f"imagen: notify: cannot reach http://127.0.0.1:{port}" in made.err

    listed = imagen_process("sync", "--list", "--json", env=env)
    [pending] = json.loads(listed.out)
    assert (pending["sink"], pending["absolute_path"]) == ("notify", str(image))

    with hook_server(port) as received:
        synced = imagen_process("--config", str(config), "sync", env=env)
    assert synced.code == 0, synced.err
    relpath = image.relative_to(tmp_path / "pictures").as_posix()
    assert synced.out == f"synced {relpath} -> notify\n"
    [(headers, body)] = received
    stamped = headers["X-Imagen-Timestamp"].encode() + b"." + body
    signed = hmac.new(b"e2e-secret", stamped, hashlib.sha256).hexdigest()
    assert headers["X-Imagen-Signature"] == f"sha256={signed}"
    sent = json.loads(body)
    assert (sent["path"], sent["seed"], sent["backend"]) == (relpath, 9, "mock")
    assert sent["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert json.loads(imagen_process("sync", "--list", "--json", env=env).out) == []
