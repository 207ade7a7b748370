"""The server's security rules, each over a real socket: bind, token, Origin, Host, uploads,
and ids that cannot name a path."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

from imagen_studio.testing import write_config

TOKEN = "studio-test-token-0123456789abcdef"


def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "IMAGEN_CONFIG": str(config)}
    started = subprocess.run(
        [sys.executable, "-m", "imagen", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert started.returncode == 2
    assert "IMAGEN_SERVER_TOKEN" in started.stderr
    assert "serving" not in started.stderr


def test_with_a_token_a_wrong_or_missing_one_is_401_and_it_is_never_printed(
    start_server: Any,
) -> None:
    server = start_server("--host", "0.0.0.0", env={"IMAGEN_SERVER_TOKEN": TOKEN})
    local = f"127.0.0.1:{server.url.rsplit(':', 1)[1].strip('/')}"
    base = f"http://{local}"
    import httpx

    with httpx.Client(base_url=base) as client:
        assert client.get("/v1/jobs").status_code == 401
        wrong = client.get("/v1/jobs", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        good = client.get("/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert (
            client.get("/v1/jobs", headers={"Cookie": f"imagen_token={TOKEN}"}).status_code == 200
        )
        assert client.get("/v1/health").status_code == 200  # public: says nothing secret
        assert TOKEN not in good.text
        assert TOKEN not in wrong.text
    server.stop()
    assert TOKEN not in "".join(server.lines)


def test_a_cross_origin_post_is_refused_and_the_own_origin_is_not(start_server: Any) -> None:
    server = start_server()
    body = {"prompt": "a kite", "takes": 1}
    evil = server.request("POST", "/v1/jobs", json=body, headers={"Origin": "http://evil.test"})
    assert evil.status_code == 403
    assert evil.headers["content-type"] == "application/problem+json"
    null = server.request("POST", "/v1/jobs", json=body, headers={"Origin": "null"})
    assert null.status_code == 403
    assert server.request("GET", "/v1/jobs").json()["jobs"] == []
    own = server.request("POST", "/v1/jobs", json=body, headers={"Origin": server.url.rstrip("/")})
    assert own.status_code == 202


def test_a_foreign_host_header_is_refused(start_server: Any) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1].strip("/")
    for host in (f"evil.test:{port}", "evil.test", f"127.0.0.1:{int(port) + 1}"):
        answer = server.request("GET", "/v1/backends", headers={"Host": host})
        assert answer.status_code == 403, host
    assert server.request("GET", "/v1/backends", headers={"Host": f"localhost:{port}"}).is_success


def test_an_oversized_upload_is_413_before_its_body_is_sent(start_server: Any) -> None:
    server = start_server()
    host, port = server.host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            "POST /v1/uploads HTTP/1.1\r\n"
            f"Host: {server.host}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {500 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode("ascii"))  # and not one byte of the 500 MB body
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "application/problem+json" in answer


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        check = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + check

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_a_decompression_bomb_is_422(start_server: Any) -> None:
    server = start_server()
    bomb = _png_header_only(40_000, 40_000)  # a few hundred bytes that claim 1.6 gigapixels
    files = {"file": ("bomb.png", bomb, "image/png")}
    answer = server.request("POST", "/v1/uploads", files=files)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "file"


def test_an_upload_is_sniffed_not_trusted(start_server: Any) -> None:
    server = start_server()
    files = {"file": ("cat.png", b"<svg onload=alert(1)>", "image/png")}
    assert server.request("POST", "/v1/uploads", files=files).status_code == 415


def test_paths_cannot_be_reached_through_ids(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve me")
    attempts = [
        "/v1/images/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/v1/images/{'%2e%2e%2f' * 6}etc%2fpasswd",
        f"/v1/images/{secret}",
        "/v1/images/" + "a" * 64,
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/v1/images/..",
    ]
    for path in attempts:
        answer = server.request("GET", path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "root:" not in answer.text
        assert "do not serve me" not in answer.text
