"""The ``queue:`` block belongs to its queue type, like an instance block to its backend type."""

from __future__ import annotations

from imagen.config.load import parse_config
from imagen.config.model import QueueInstance, builtin_default
from imagen.jobs.settings import LocalQueueSettings
from imagen.plugins.loader import registry


def test_without_a_queue_block_the_local_queue_is_used() -> None:
    assert builtin_default().queue == QueueInstance("local", None)


def test_a_block_without_type_is_the_local_queue_with_its_settings() -> None:
    config, problems = parse_config("queue: {heartbeat: 1.5, stale_after: 10}\n")
    assert not problems.errors
    assert config is not None
    assert config.queue == QueueInstance("local", LocalQueueSettings(heartbeat=1.5, stale_after=10))


def test_an_unknown_queue_type_names_the_installed_ones() -> None:
    _, problems = parse_config("queue:\n  type: postgress\n")
    [error] = problems.errors
    assert error.path == "queue.type"
    assert "unknown queue type 'postgress'" in error.message
    assert "installed: local" in error.message


def test_a_key_the_queue_type_does_not_know_is_reported_with_the_known_ones() -> None:
    _, problems = parse_config("queue: {type: local, url: x}\n")
    [error] = problems.errors
    assert error.path == "queue.url"
    assert "unknown key" in error.message
    assert "heartbeat" in error.message


def test_the_local_queue_type_is_registered_through_the_register_queues_hook() -> None:
    local = registry().queues["local"]
    assert local.plugin == "queues"
    assert local.config_class is LocalQueueSettings
    assert "type: local" in local.sample
