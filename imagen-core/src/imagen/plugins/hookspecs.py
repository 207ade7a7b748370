"""The plugin contract: every hook imagen calls, when, with what, and what a return means.

A plugin is a module registered under the ``imagen`` entry-point group that defines functions
decorated with ``@hookimpl`` and named like the specs below. Keep the module light: import
heavy parts (httpx, SDKs, your backend class) inside the hook bodies, so ``imagen --help`` stays
fast. Hooks that add things receive a ``register`` callback; the core merges, de-duplicates and
reports conflicts in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from imagen.config.model import Config
    from imagen.config.problems import Problems
    from imagen.models import Generation
    from imagen.plugins.registry import (
        BackendRegister,
        QueueRegister,
        SettingsRegister,
        SinkRegister,
        StyleRegister,
    )

hookspec = pluggy.HookspecMarker("imagen")
hookimpl = pluggy.HookimplMarker("imagen")


@hookspec
def register_backends(register: BackendRegister) -> None:
    """Add backend types.

    Called once, the first time a command needs backends (not for ``--help``). Call
    ``register(type, factory, config_class, sample=..., concurrency=...)`` for each type:

    - ``type``: the ``type:`` value users write in their YAML block (``"replicate"``);
    - ``factory(name, settings) -> Backend``: builds an instance; ``settings`` is an instance of
      ``config_class``; must not touch the network or fail for a missing credential. Pass it
      as a ``"package.module:Class"`` string to have it imported only when an instance of this
      type is built (``imagen backends`` stays fast however many plugins are installed);
    - ``config_class``: an attrs class describing the block (minus ``type``, ``concurrency`` and
      ``cost_per_image``, which the framework owns); unknown keys are rejected for you;
    - ``sample``: a commented YAML snippet of one or more instances, shown by ``imagen config
      sample``;
    - ``concurrency``: how many takes may run at once by default;
    - ``info(name, settings)``: optional, built like ``factory`` (a callable or a
      ``"package.module:Class"`` string) into an object with only the backend's ``status()``
      and ``estimate_cost(request)``, from a module lighter than the backend's. ``imagen
      backends`` lists an instance with it and never imports the backend module; without it,
      the backend is built to answer. Both must give the same answers.

    Return value: ignored.
    """


@hookspec
def register_sinks(register: SinkRegister) -> None:
    """Add sink types (cloud sync, usage tracking, webhooks).

    ``register(type, factory, config_class, sample=...)``; ``factory(name, settings) -> Sink``.
    Sinks run after an image and its history row are written. Return value: ignored.
    """


@hookspec
def register_queues(register: QueueRegister) -> None:
    """Add job queue types (what ``queue: {type: ...}`` in config chooses).

    ``register(type, factory, config_class, sample=...)``: ``factory(type, settings) -> Queue``
    opens the queue (``imagen.jobs.queue.Queue``); ``settings`` is an instance of
    ``config_class``, the attrs class of the ``queue:`` block minus ``type``. Pass the factory
    as a ``"package.module:Class"`` string so it is imported only when a queue is opened.
    Opening must not fail for a missing credential until the queue is used. Called the first
    time a queue or the ``queue:`` block is needed. Return value: ignored.
    """


@hookspec
def register_settings(register: SettingsRegister) -> None:
    """Add top-level config blocks a plugin owns (``mcp:`` for imagen-mcp).

    ``register(key, config_class, sample=...)``: ``key`` is the top-level YAML key, which must
    not be one of the core's; ``config_class`` an attrs class with a default for every field
    (a missing block means its defaults); ``sample`` a commented YAML snippet of the block for
    ``imagen config sample``. Read the block with ``imagen.config.load.plugin_settings(config,
    key)``. Called the first time a config is loaded. Return value: ignored.
    """


@hookspec
def register_styles(register: StyleRegister) -> None:
    """Add style presets: ``register(name, prompt, negative=None, aspect_ratio=None, size=None,
    steps=None, description="")``. ``prompt`` is a template containing ``{prompt}``. User styles
    from config override plugin styles, which override the built-in ones. Return value: ignored.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``imagen`` CLI (``cli.add_command(...)``).

    Called at every start, so keep it cheap: define the commands, import heavy code inside them.
    Return value: ignored.
    """


@hookspec
def naming_fields(generation: Generation) -> Mapping[str, Any] | None:
    """Extra fields for ``output.naming`` templates, for this take.

    Return a mapping of field name to value (str or int), or None. Called once with a sample
    generation at config load so unknown fields can be reported early; return the same keys
    every time.
    """


@hookspec
def sidecar_fields(generation: Generation) -> Mapping[str, Any] | None:
    """Extra data for the JSON sidecar (and embedded metadata), namespaced under the plugin name.

    Return a JSON-serialisable mapping or None. Never return secrets.
    """


@hookspec
def post_generate(generation: Generation) -> Any:
    """Observe every finished take, after its files and history row are written.

    May return an awaitable, which is awaited. An exception is reported as one warning line
    (``imagen: <plugin>: <error>``) and never changes the exit code or loses a file.
    """


@hookspec
def validate_config(config: Config, problems: Problems) -> None:
    """Report cross-field problems the schema cannot see.

    Call ``problems.error(path, message)`` or ``problems.warning(path, message)``; ``path`` is a
    dotted YAML path (``sinks.cloud.owner_user_id``) so the line can be shown. Return value:
    ignored.
    """
