"""A sink that stores images says where (``Stored``), and a job records it on the take.

So a front end on another machine, reading the job, can show the image from the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from imagen import hookimpl
from imagen.config.model import Config, QueueInstance, SinkInstance
from imagen.errors import SinkError
from imagen.jobs.local import LocalQueue
from imagen.jobs.model import Job
from imagen.jobs.queue import open_queue
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.submit import submit
from imagen.jobs.worker import Worker
from imagen.models import Request
from imagen.plugins import loader as plugins
from imagen.plugins.registry import SinkRegister
from imagen.sinks.protocol import Delivery, Stored
from imagen.sinks.run import deliver
from imagen.testing.samples import sample_generation


@attrs.frozen
class ShelfSettings:
    #: "store", "pass" (deliver, store nothing) or "fail"
    does: str = "store"


class ShelfSink:
    """Keeps each take's path as its object, at a made-up URL."""

    def __init__(self, name: str, settings: ShelfSettings) -> None:
        self.name = name
        self.settings = settings

    def enabled_auto(self) -> bool:
        return True

    async def deliver(self, delivery: Delivery) -> Stored | None:
        if self.settings.does == "fail":
            raise SinkError("the shelf is full")
        if self.settings.does == "pass":
            return None
        path = delivery.generation.path
        return Stored(f"{self.name}/{path}", f"https://{self.name}.example/{path}")

    async def aclose(self) -> None:
        return None


class ShelfPlugin:
    @hookimpl
    def register_sinks(self, register: SinkRegister) -> None:
        register("shelf", ShelfSink, ShelfSettings)


@pytest.fixture
def shelf() -> Iterator[None]:
    plugins.manager().register(ShelfPlugin(), name="shelf-sink")
    plugins.registry.cache_clear()
    yield
    plugins.manager().unregister(name="shelf-sink")
    plugins.registry.cache_clear()


def test_deliver_hears_where_each_storing_sink_put_the_take(tmp_path: Path) -> None:
    generation = sample_generation(output_dir=str(tmp_path))
    heard: list[tuple[str, Stored]] = []
    sinks = [
        ShelfSink("a", ShelfSettings()),
        ShelfSink("b", ShelfSettings("pass")),
        ShelfSink("c", ShelfSettings("fail")),
    ]

    failures = asyncio.run(
        deliver(sinks, generation, timeout=5, outbox=None, stored=lambda *it: heard.append(it))
    )

    assert failures == [("c", "the shelf is full")]
    path = generation.path
    assert heard == [("a", Stored(f"a/{path}", f"https://a.example/{path}"))]


def run_job(tmp_path: Path, sinks: dict[str, str]) -> Job:
    config = Config(
        queue=QueueInstance("local", LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))),
        sinks={
            name: SinkInstance(name, "shelf", ShelfSettings(does), enabled="on")
            for name, does in sinks.items()
        },
    )

    async def scenario() -> Job:
        queue = open_queue(config)
        assert isinstance(queue, LocalQueue)
        try:
            request = Request("a cat", count=2, seed=5)
            job = await submit(queue, config, request, backend="mock", output_dir=tmp_path / "o")
            await Worker(config, backends=["mock"], once=True).serve(queue)
            return await queue.get(job.id)
        finally:
            await queue.aclose()

    return asyncio.run(scenario())


def test_a_job_records_the_object_and_url_of_each_take_from_the_first_storing_sink(
    tmp_path: Path, shelf: None
) -> None:
    job = run_job(tmp_path, {"passer": "pass", "first": "store", "second": "store"})

    assert job.state == "done"
    for take in job.takes:
        [image] = take.images
        relative = Path(image.path).relative_to(tmp_path / "o").as_posix()
        assert image.remote_object in (f"first/{relative}", f"second/{relative}")
        shelf_name = image.remote_object.split("/", 1)[0]
        assert image.remote_url == f"https://{shelf_name}.example/{relative}"
        assert take.remote_url == image.remote_url


def test_a_take_no_sink_stored_has_no_remote_object(tmp_path: Path, shelf: None) -> None:
    job = run_job(tmp_path, {"passer": "pass", "broken": "fail"})

    assert job.state == "done"
    for take in job.takes:
        [image] = take.images
        assert (image.remote_object, image.remote_url, take.remote_url) == (None, None, None)
