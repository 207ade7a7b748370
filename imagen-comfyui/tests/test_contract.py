"""The shared backend contract, against the fake ComfyUI over real sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator

import pytest

from imagen.backend import Backend
from imagen.errors import BackendTimeout, BackendUnavailable, ImagenError, InvalidRequest
from imagen.testing import BackendContract
from imagen.testing.servers import serve_app
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import ComfyUISettings, Models


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class TestComfyUIContract(BackendContract):
    @pytest.fixture(autouse=True)
    def servers(self) -> Iterator[None]:
        with (
            serve_app(FakeComfyUI(run_time=0.05).app()) as quick,
            serve_app(FakeComfyUI(run_time=5.0).app()) as slow,
            serve_app(FakeComfyUI(silent=True).app()) as silent,
        ):
            self.quick, self.slow, self.silent = quick, slow, silent
            yield

    def make_backend(self) -> Backend:
        return ComfyUIBackend("local", ComfyUISettings(url=self.quick))

    def make_backend_for(self, url: str) -> Backend | None:
        return ComfyUIBackend("local", ComfyUISettings(url=url))

    def make_slow_backend(self) -> Backend | None:
        return ComfyUIBackend("local", ComfyUISettings(url=self.slow))

    def make_failing_backends(self) -> Iterable[tuple[str, Backend, type[ImagenError]]]:
        missing = ComfyUISettings(url=self.quick, models=Models(checkpoint="nope.safetensors"))
        return [
            ("refused", ComfyUIBackend("a", ComfyUISettings(url=closed_port_url())),
             BackendUnavailable),
            ("never answers", ComfyUIBackend("b", ComfyUISettings(url=self.silent, timeout=0.5)),
             BackendTimeout),
            ("missing model", ComfyUIBackend("c", missing), InvalidRequest),
        ]  # fmt: skip
