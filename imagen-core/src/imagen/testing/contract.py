"""The contract every backend keeps, as a reusable pytest test class.

Subclass ``BackendContract`` in your adapter's tests and implement ``make_backend`` (and,
optionally, the other ``make_*`` methods). Each test runs its own event loop with
``asyncio.run``, so no async pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from imagen.backend import Backend
from imagen.errors import (
    AuthError,
    BackendUnavailable,
    ImagenError,
    QuotaExceeded,
    RateLimited,
)
from imagen.models import Cost, Progress, Request, Result

T = TypeVar("T")

_MAGIC = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/webp": b"RIFF",
}


def _open_sockets() -> int | None:
    """How many sockets this process holds open (Linux); None where that cannot be read."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


class BackendContract:
    """Behaviour every backend must show. Override the ``make_*`` hooks for your adapter."""

    #: Does the backend honour ``Request.seed`` and report the seed on each image?
    reports_seed: ClassVar[bool] = True
    #: Does the backend honour ``width``/``height`` exactly (False for aspect-ratio-only APIs)?
    honours_size: ClassVar[bool] = True
    #: Does one seed give the same bytes every time (a local renderer, or a fake server that
    #: stands for a seeded model)? Checked, with the seed each image reports, when the backend
    #: also reports seeds and does not set ``honors_seeds = False``.
    same_seed_same_bytes: ClassVar[bool] = True
    #: The error each HTTP status must become (``make_backend_for`` a server answering it).
    http_failures: ClassVar[Mapping[int, type[ImagenError]]] = {
        401: AuthError,
        403: AuthError,
        402: QuotaExceeded,
        429: RateLimited,
        500: BackendUnavailable,
        503: BackendUnavailable,
    }

    # -- hooks -----------------------------------------------------------------------------

    def make_backend(self) -> Backend:
        """A ready backend talking to your local test server."""
        raise NotImplementedError

    def make_request(self, **overrides: Any) -> Request:
        """A small request the test server answers quickly."""
        fields: dict[str, Any] = {
            "prompt": "a cat in a fishbowl",
            "width": 64,
            "height": 64,
            "seed": 7,
        }
        fields.update(overrides)
        return Request(**fields)

    def make_slow_backend(self) -> Backend | None:
        """A backend whose generation takes at least a second (for cancellation), or None."""
        return None

    def make_failing_backends(self) -> Iterable[tuple[str, Backend, type[ImagenError]]]:
        """``(label, backend, expected error type)`` for each failure your server can play."""
        return ()

    def make_backend_for(self, url: str) -> Backend | None:
        """A ready backend whose provider API is at ``url`` (for the error-mapping test), or
        None to skip it. Retry waits should be no-ops (the server sends ``Retry-After: 0``)."""
        return None

    # -- helpers ---------------------------------------------------------------------------

    def run(self, work: Callable[[Backend], Awaitable[T]], backend: Backend | None = None) -> T:
        async def main() -> T:
            chosen = backend if backend is not None else self.make_backend()
            try:
                return await work(chosen)
            finally:
                await chosen.aclose()

        return asyncio.run(main())

    def generate(self, request: Request, progress: Progress | None = None) -> Result:
        return self.run(lambda backend: backend.generate(request, progress or Progress()))

    def _claims_seeds(self) -> bool:
        if not (self.reports_seed and self.same_seed_same_bytes):
            return False
        backend = self.make_backend()
        asyncio.run(backend.aclose())
        return getattr(backend, "honors_seeds", True) is not False

    def _seeded_takes(self) -> list[list[Any]]:
        """``[seed, sha256]`` of each image of one seeded two-take request."""
        result = self.generate(self.make_request(seed=1234, count=2))
        return [[image.seed, hashlib.sha256(image.data).hexdigest()] for image in result.images]

    # -- the contract ----------------------------------------------------------------------

    def test_images_decode_and_match_media_type_and_size(self) -> None:
        from PIL import Image as PILImage

        request = self.make_request()
        result = self.generate(request)
        assert result.images, "a successful generation returns at least one image"
        for image in result.images:
            magic = _MAGIC.get(image.media_type)
            assert magic is not None, f"unexpected media type {image.media_type!r}"
            assert image.data.startswith(magic), "bytes do not match the media type"
            with PILImage.open(io.BytesIO(image.data)) as decoded:
                decoded.load()
                assert decoded.size == (image.width, image.height)
            if self.honours_size:
                assert (image.width, image.height) == (request.width, request.height)
        assert result.model, "the result names the model"
        assert result.latency >= 0

    def test_count_is_honoured(self) -> None:
        result = self.generate(self.make_request(count=2))
        assert len(result.images) == 2

    def test_seed_is_reported(self) -> None:
        if not self.reports_seed:
            return
        result = self.generate(self.make_request(seed=1234, count=1))
        assert result.images[0].seed == 1234

    def test_cost_estimate_is_non_negative_and_spends_nothing(self) -> None:
        backend = self.make_backend()
        before = _open_sockets()
        cost = backend.estimate_cost(self.make_request())
        assert before == _open_sockets(), "estimate_cost must not open connections"
        assert cost is None or (isinstance(cost, Cost) and cost.amount >= Decimal(0))
        if cost is not None:
            assert cost.basis, "a cost names its basis"
        asyncio.run(backend.aclose())

    def test_status_answers_without_network(self) -> None:
        backend = self.make_backend()
        before = _open_sockets()
        status = backend.status()
        assert before == _open_sockets(), "status must not open connections"
        assert str(status)
        asyncio.run(backend.aclose())

    def test_progress_moves_forward(self) -> None:
        seen: list[float] = []
        self.generate(self.make_request(), Progress(lambda done, total, message: seen.append(done)))
        assert seen == sorted(seen), f"progress went backwards: {seen}"

    def test_cancellation_leaves_no_task_or_connection_behind(self) -> None:
        import pytest

        backend = self.make_slow_backend()
        if backend is None:
            # Skipped, not passed: the report then says which part of the contract never ran.
            pytest.skip("make_slow_backend() is not given: cancellation is not tested")
        baseline = _open_sockets()

        async def main() -> None:
            task = asyncio.create_task(backend.generate(self.make_request(), Progress()))
            await asyncio.sleep(0.3)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            else:
                raise AssertionError("generate finished although it was cancelled")
            await backend.aclose()
            await asyncio.sleep(0.05)
            leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not leftover, f"tasks left behind: {leftover}"

        asyncio.run(main())
        if baseline is not None:
            # The local server closes its side a moment after ours; give it that moment.
            for _ in range(40):
                if (_open_sockets() or 0) <= baseline:
                    break
                import time

                time.sleep(0.05)
            assert (_open_sockets() or 0) <= baseline, "a connection was left open"

    def test_a_failing_progress_callback_does_not_stop_the_generation(self) -> None:
        def broken(done: float, total: float | None, message: str) -> None:
            raise RuntimeError("the progress display broke")

        result = self.generate(self.make_request(), Progress(broken))
        assert result.images, "a broken progress display must not cost the images"

    def test_a_seedless_backend_reports_no_seed(self) -> None:
        backend = self.make_backend()
        if getattr(backend, "honors_seeds", True):
            asyncio.run(backend.aclose())
            return
        result = self.run(lambda b: b.generate(self.make_request(seed=1234), Progress()), backend)
        seeds = [image.seed for image in result.images]
        assert seeds == [None] * len(seeds), "honors_seeds = False, yet an image has a seed"

    def test_http_failures_map_to_framework_errors(self) -> None:
        import pytest

        for status, expected in self.http_failures.items():
            with _answering(status) as url:
                backend = self.make_backend_for(url)
                if backend is None:
                    pytest.skip(
                        "make_backend_for(url) is not given: the HTTP error mapping is not tested"
                    )
                with pytest.raises(ImagenError) as raised:
                    self.run(lambda b: b.generate(self.make_request(), Progress()), backend)
            error = raised.value
            assert isinstance(error, expected), f"HTTP {status}: {type(error).__name__}: {error}"
            assert "\n" not in str(error), f"HTTP {status}: error message is not one line"

    def test_a_seed_gives_the_same_images_in_this_process(self) -> None:
        """Also the worker of the cross-process test: with ``BACKEND_CONTRACT_TAKES`` set it
        writes the takes it saw there."""
        if not self._claims_seeds():
            return
        takes = self._seeded_takes()
        assert takes == self._seeded_takes(), "the same seed gave different images"
        out = os.environ.get("BACKEND_CONTRACT_TAKES")
        if out:
            with open(out, "w", encoding="utf-8") as file:
                json.dump(takes, file)

    def test_a_seed_gives_the_same_images_in_another_process(self, request: Any) -> None:
        """Two fresh processes with differently salted ``hash()`` (``PYTHONHASHSEED``) must
        make the same images as this one: nothing may depend on per-process state."""
        import subprocess
        import sys
        import tempfile

        if not self._claims_seeds():
            return
        here = self._seeded_takes()
        node = request.node.nodeid.replace(
            "test_a_seed_gives_the_same_images_in_another_process",
            "test_a_seed_gives_the_same_images_in_this_process",
        )
        # The worker runs with this run's root and settings (a plugin's own project or a
        # workspace), so it collects the same conftest files and fixtures.
        config = request.config
        settings = ["--rootdir", str(config.rootpath)]
        if config.inipath is not None:
            settings += ["-c", str(config.inipath)]
        with tempfile.TemporaryDirectory() as scratch:
            for salt in ("1", "2"):
                out = os.path.join(scratch, f"takes-{salt}.json")
                env = {**os.environ, "PYTHONHASHSEED": salt, "BACKEND_CONTRACT_TAKES": out}
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        *settings,
                        node,
                    ],
                    cwd=config.rootpath,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
                assert os.path.exists(out), f"{node} ran but wrote no takes (env scrubbed?)"
                with open(out, encoding="utf-8") as file:
                    there = json.load(file)
                assert there == here, f"PYTHONHASHSEED={salt} made other images: {there} {here}"

    def test_each_image_comes_back_from_the_seed_it_reports(self) -> None:
        """The seed a take records must remake its image: regenerating with it alone gives the
        same bytes (a seedless request included: the seed the provider chose is reported)."""
        if not self._claims_seeds():
            return
        results = [
            self.generate(self.make_request(seed=1234, count=2)),
            self.generate(self.make_request(seed=None, count=1)),
        ]
        # Seed 0 is a seed like any other: only None means "not reported".
        reported = [
            image for result in results for image in result.images if image.seed is not None
        ]
        assert reported, "a backend that honours seeds reports the seed of a single take"
        for image in reported:
            again = self.generate(self.make_request(seed=image.seed, count=1))
            assert again.images[0].data == image.data, f"seed {image.seed} made another image"

    def test_errors_are_framework_errors(self) -> None:
        import pytest

        for label, backend, expected in self.make_failing_backends():
            with pytest.raises(ImagenError) as raised:
                self.run(lambda b: b.generate(self.make_request(), Progress()), backend)
            error = raised.value
            assert isinstance(error, expected), f"{label}: {type(error).__name__}: {error}"
            assert "\n" not in str(error), f"{label}: error message is not one line"


@contextmanager
def _answering(status: int) -> Iterator[str]:
    """A server answering every request with ``status`` and a JSON error (no wait asked)."""
    from aiohttp import web

    from imagen.testing.servers import serve_app

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        body = {"error": {"code": status, "message": f"scripted HTTP {status}"}}
        return web.json_response(body, status=status, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    with serve_app(app) as url:
        yield url
