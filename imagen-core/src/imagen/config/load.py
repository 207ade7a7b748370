"""Loading the config file: YAML with line numbers, structured into attrs classes with cattrs.

The core owns the top level (``default_backend``, ``output``, ``history``, ``styles``,
``server``, ``queue``) and the framework keys of each instance block (``type``,
``concurrency``, ``cost_per_image``; ``enabled`` for sinks). Everything else in a block belongs
to the plugin that registered its ``type`` and is structured into that plugin's attrs class.
Every problem names its YAML path and line; secrets are only ever env var *names*.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from imagen.config.model import (
    BACKEND_KEYS,
    DEFAULT_NAMING,
    MOCK_INSTANCE,
    SINK_KEYS,
    TOP_LEVEL,
    Config,
    Instance,
    OutputConfig,
    QueueInstance,
    SinkInstance,
    StyleConfig,
    builtin_default,
    default_path,
)
from imagen.config.problems import Problems, did_you_mean
from imagen.errors import ConfigError
from imagen.secrets import has_url_password, looks_like_secret

_SECRET_KEY = re.compile(
    r"^(api_?key|api_?token|token|secret|password|passwd|key|service_?key|access_?token|"
    r"auth_?token|bearer|client_?secret|private_?key|.*_(secret|token|password|key))$",
    re.IGNORECASE,
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load ``path`` (or the default path). No file at the default path: the built-in default.

    Raises ConfigError (with file, line and YAML path) for the first problem found.
    """
    config, problems = _check(path, check_paths=False)
    problems.raise_first()
    assert config is not None
    return config


def config_exists(path: str | os.PathLike[str] | None = None) -> bool:
    return Path(path).expanduser().exists() if path else default_path().exists()


def check_config(path: str | os.PathLike[str] | None = None) -> tuple[Config | None, Problems]:
    """Load and validate, collecting every problem (for ``imagen config validate``).

    Unlike :func:`load_config` this also looks at the disk: an ``output.directory`` that is a
    file, or lies under one, is an error here (other commands do not need the folder).
    """
    return _check(path, check_paths=True)


def _check(
    path: str | os.PathLike[str] | None, *, check_paths: bool
) -> tuple[Config | None, Problems]:
    explicit = path is not None or bool(os.environ.get("IMAGEN_CONFIG"))
    file = Path(path).expanduser() if path is not None else default_path()
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"config file {file} does not exist; create it with: imagen config init"
            )
        # Nothing user-written to check: plugins' cross-field checks have nothing to see.
        problems = Problems()
        if check_paths:
            _check_directory(builtin_default().output.directory, problems)
        return builtin_default(), problems
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {file}: {error}") from None
    return parse_config(text, file=str(file), check_paths=check_paths)


def parse_config(
    text: str, *, file: str | None = None, check_paths: bool = False
) -> tuple[Config | None, Problems]:
    """Parse and validate config text; ``check_paths`` also checks the output folder on disk.

    Text from a ``file`` that loaded without errors before is not parsed again (see
    :mod:`imagen.config.parsed`); every check runs on every load all the same.
    """
    from imagen.config.parsed import Document

    document = Document.read(text, file=file)
    problems = Problems(file=file, line_of=lambda dotted: document.line_of(_split(dotted)))
    data = document.data
    if not isinstance(data, dict):
        problems.error("", "the config file must be a mapping of keys (default_backend, ...)")
        return None, problems
    structurer = _Structurer(problems, check_paths)
    config = structurer.config(data, source=file)
    # With schema errors the hooks see the config without the blocks that had them.
    checked = config if config is not None else structurer.partial
    if checked is not None:
        _validate_hooks(checked, problems)
    if not problems.errors:
        document.remember()
    return config, problems


def _split(dotted: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in dotted.split(".") if p] if dotted else []


def _join(*parts: str | int) -> str:
    return ".".join(str(p) for p in parts if p != "")


class _Structurer:
    # A plain class: an attrs class costs more to make than this one's whole work.
    def __init__(self, problems: Problems, check_paths: bool) -> None:
        self.problems = problems
        self.check_paths = check_paths
        #: the config without the blocks that had errors (set when ``config`` returns None)
        self.partial: Config | None = None

    def config(self, data: dict[str, Any], *, source: str | None) -> Config | None:
        from imagen.plugins.loader import registry

        reg = registry()
        self.secrets(data, "")
        keys = [*TOP_LEVEL, *reg.settings]
        for key in data:
            if key not in keys:
                self.problems.error(
                    key, f"unknown key{did_you_mean(key, keys)} (known: {', '.join(keys)})"
                )
        fields: dict[str, Any] = {}
        blocks = {
            key: block
            for key, kind in reg.settings.items()
            if data.get(key) is not None
            and (block := self.block(data[key], kind.config_class, key)) is not None
        }
        if blocks:
            fields["plugin_blocks"] = blocks
        for key in ("output", "history", "server"):
            if key in data and data[key] is not None:
                value = self.block(data[key], TOP_LEVEL[key], key)
                if value is not None:
                    fields[key] = value
        if data.get("queue") is not None:
            queue = self.queue(data["queue"], reg)
            if queue is not None:
                fields["queue"] = queue
        backends = {
            name: inst
            for name, block in self.mapping(data.get("backends"), "backends").items()
            if (inst := self.instance(name, block, reg)) is not None
        }
        sinks = {
            name: sink
            for name, block in self.mapping(data.get("sinks"), "sinks").items()
            if (sink := self.sink(name, block, reg)) is not None
        }
        styles = {
            name: style
            for name, block in self.mapping(data.get("styles"), "styles").items()
            if (style := self.block(block, StyleConfig, f"styles.{name}")) is not None
        }
        # Every instance the file names, also those whose block has errors (reported there).
        raw_backends = data.get("backends")
        defined = raw_backends if isinstance(raw_backends, dict) else {}
        default = data.get("default_backend", MOCK_INSTANCE)
        if not isinstance(default, str) or not default.strip():
            self.problems.error(
                "default_backend",
                "expected the name of a backend instance (leave the key out for the built-in "
                f"{MOCK_INSTANCE!r})",
            )
            default = MOCK_INSTANCE
        elif default not in defined and default != MOCK_INSTANCE:
            known = ", ".join(sorted({*backends, MOCK_INSTANCE}))
            self.problems.error(
                "default_backend",
                f"no backend instance named {default!r}{did_you_mean(default, backends)} "
                f"(defined: {known})",
            )
        self.check_output(fields.get("output"))
        self.check_styles(styles)
        config = Config(
            default_backend=default,
            backends=backends,
            sinks=sinks,
            styles=styles,
            source=source,
            **fields,
        )
        if self.problems.errors:
            # What did load, for plugins' validate_config: their problems are then reported
            # with the schema errors instead of only once those are fixed.
            self.partial = config
            return None
        return config

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        """The named blocks under ``path``; a block whose name is empty is reported and left out."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.error(path, "expected a mapping of instance names to blocks")
            return {}
        named = {}
        for name, block in value.items():
            if name.strip():
                named[name] = block
            else:
                # A blank name cannot be chosen with --backend or told apart in a YAML path.
                self.problems.error(
                    path,
                    f"a name under {path} is empty; give the block a name, "
                    f'like "my-{path.removesuffix("s")}:"',
                )
        return named

    def block(self, value: Any, cls: type[Any], path: str) -> Any:
        from imagen.config.convert import FieldError, structure

        if not isinstance(value, dict):
            self.problems.error(path, f"expected a mapping, got {type(value).__name__}")
            return None
        try:
            return structure(value, cls)
        except FieldError as error:
            where = _join(path, *error.path)
            message = error.message
            if message == "unknown key" and error.path:
                known = _fields_at(cls, error.path[:-1])
                message = (
                    f"unknown key{did_you_mean(str(error.path[-1]), known)} "
                    f"(known: {', '.join(known)})"
                )
            self.problems.error(where, message)
            return None

    def instance(self, name: str, block: Any, reg: Any) -> Instance | None:
        path = f"backends.{name}"
        if not isinstance(block, dict):
            self.problems.error(path, "expected a mapping with at least a type")
            return None
        kind = self.kind(block, path, reg.backends, "backend")
        if kind is None:
            return None
        own = {k: v for k, v in block.items() if k not in BACKEND_KEYS}
        concurrency = block.get("concurrency")
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            self.problems.error(f"{path}.concurrency", "expected a whole number of 1 or more")
            return None
        cost = self.cost(block.get("cost_per_image"), f"{path}.cost_per_image")
        settings = self.block(own, reg.backends[kind].config_class, path)
        if settings is None:
            return None
        return Instance(name, kind, settings, concurrency, cost)

    def sink(self, name: str, block: Any, reg: Any) -> SinkInstance | None:
        path = f"sinks.{name}"
        if not isinstance(block, dict):
            self.problems.error(path, "expected a mapping with at least a type")
            return None
        kind = self.kind(block, path, reg.sinks, "sink")
        if kind is None:
            return None
        enabled = block.get("enabled", "auto")
        if enabled is True or enabled is False:
            enabled = "on" if enabled else "off"
        if enabled not in ("auto", "on", "off"):
            self.problems.error(f"{path}.enabled", "expected one of: auto, on, off")
            return None
        own = {k: v for k, v in block.items() if k not in SINK_KEYS}
        settings = self.block(own, reg.sinks[kind].config_class, path)
        if settings is None:
            return None
        return SinkInstance(name, kind, settings, enabled)

    def queue(self, block: Any, reg: Any) -> QueueInstance | None:
        if not isinstance(block, dict):
            self.problems.error("queue", "expected a mapping with a type (local, postgres, ...)")
            return None
        block = {"type": QueueInstance().type, **block}
        kind = self.kind(block, "queue", reg.queues, "queue")
        if kind is None:
            return None
        own = {k: v for k, v in block.items() if k != "type"}
        settings = self.block(own, reg.queues[kind].config_class, "queue")
        return None if settings is None else QueueInstance(kind, settings)

    def kind(
        self, block: dict[str, Any], path: str, table: Mapping[str, Any], what: str
    ) -> str | None:
        kind = block.get("type")
        known = ", ".join(sorted(table)) or "none"
        if not isinstance(kind, str) or not kind:
            self.problems.error(path, f"missing type (known {what} types: {known})")
            return None
        if kind not in table:
            hint = did_you_mean(kind, table)
            # With a close match it is a typo: no pip hint (that name may not be ours).
            install = "" if hint else f"; is the plugin installed? try: pip install imagen-{kind}"
            self.problems.error(
                f"{path}.type",
                f"unknown {what} type {kind!r}{hint} (installed: {known}{install})",
            )
            return None
        return kind

    def cost(self, value: Any, path: str) -> Decimal | None:
        from imagen.config.convert import FieldError, structure_scalar

        if value is None:
            return None
        try:
            amount: Decimal = structure_scalar(value, Decimal)
        except FieldError as error:
            self.problems.error(path, error.message)
            return None
        if amount < 0:
            self.problems.error(path, "a cost cannot be negative")
            return None
        return amount

    def secrets(self, value: Any, path: str) -> None:
        """Reject inline secrets: by key name, by token shape, and passwords inside URLs."""
        if isinstance(value, dict):
            for key, item in value.items():
                where = _join(path, key)
                if looks_like_secret(key):
                    self.problems.error(
                        where,
                        "this key looks like an inline secret (API key or token); keys are "
                        "names: put the secret in an environment variable and name it with a "
                        "*_env key",
                    )
                    continue
                if key.endswith("_env"):
                    if isinstance(item, str) and (
                        not _ENV_NAME.match(item) or looks_like_secret(item)
                    ):
                        self.problems.error(
                            where,
                            f"{key} names an environment variable (like {_env_example(key)}); "
                            "put the secret itself in that variable, not in the config",
                        )
                    continue
                if _SECRET_KEY.match(key) and isinstance(item, str | int) and item != "":
                    self.problems.error(
                        where,
                        f"inline secret not allowed; put it in an environment variable and "
                        f"name that variable with {key}_env",
                    )
                    continue
                self.secrets(item, where)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.secrets(item, _join(path, index))
        elif isinstance(value, str) and looks_like_secret(value):
            if not has_url_password(value):
                self.problems.error(
                    path,
                    "this looks like an inline secret (API key or token); put it in an "
                    "environment variable and name it with a *_env key",
                )
            else:
                self.problems.error(
                    path,
                    "this URL contains a password; put the URL in an environment variable "
                    "and name it with a *_env key",
                )

    def check_output(self, output: OutputConfig | None) -> None:
        output = output or OutputConfig()
        if output.naming == DEFAULT_NAMING:
            # Built-in fields only, inside the folder: right whatever plugins add (a test
            # holds it so); checking it would load the naming code and ask every plugin.
            self.check_directory(output)
            return
        from imagen.output.naming import NamingTemplate, outside_output

        try:
            NamingTemplate.parse(output.naming, naming_field_names())
        except ConfigError as error:
            self.problems.error("output.naming", error.message)
        else:
            # Rendering keeps names inside the folder anyway; this says so instead of
            # silently dropping the "..".
            escape = outside_output(output.naming)
            if escape:
                self.problems.error("output.naming", escape)
        self.check_directory(output)

    def check_directory(self, output: OutputConfig) -> None:
        if self.check_paths:
            _check_directory(output.directory, self.problems)

    def check_styles(self, styles: Mapping[str, StyleConfig]) -> None:
        from imagen.sizes import parse_aspect, parse_size

        for name, style in styles.items():
            for key, parse, value in (
                ("size", parse_size, style.size),
                ("aspect_ratio", parse_aspect, style.aspect_ratio),
            ):
                if value is None:
                    continue
                try:
                    parse(value)
                except ConfigError as error:
                    self.problems.error(f"styles.{name}.{key}", error.message)
            if "{prompt}" not in style.prompt:
                self.problems.warning(
                    f"styles.{name}.prompt",
                    "has no {prompt} placeholder, so the user's prompt is ignored",
                )


def plugin_settings(config: Config, key: str) -> Any:
    """The block ``key`` a plugin registered with ``register_settings``, as its attrs class;
    the class's defaults when the file has no such block. ConfigError when no installed plugin
    owns ``key``."""
    found = config.plugin_blocks.get(key)
    if found is not None:
        return found
    from imagen.plugins.loader import registry

    kind = registry().settings.get(key)
    if kind is None:
        raise ConfigError(f"no installed plugin owns the config block {key!r}")
    return kind.config_class()


def _check_directory(directory: str, problems: Problems) -> None:
    """Report an ``output.directory`` that is a file or lies under one (it could never be
    created); a folder that does not exist yet is fine: the first write creates it."""
    folder = Path(os.path.expanduser(directory))
    try:
        for candidate in (folder, *folder.parents):
            if candidate.is_dir():
                return
            if candidate.is_symlink() and not candidate.exists():
                problems.error(
                    "output.directory",
                    f"{candidate} is a link to something that does not exist; point "
                    "output.directory at a folder, or fix the link",
                )
                return
            if candidate.exists():
                what = (
                    f"{folder} is a file, not a folder"
                    if candidate == folder
                    else f"{folder} cannot be created: {candidate} is a file"
                )
                problems.error(
                    "output.directory",
                    f"{what}; point output.directory at a folder (or move that file away)",
                )
                return
    except OSError:
        # Unreadable parents: the write's own check before any paid work says what is wrong.
        return


def _env_example(key: str) -> str:
    return key.removesuffix("_env").upper() or "MY_SECRET"


def _fields_at(cls: type[Any], path: tuple[str | int, ...]) -> list[str]:
    from imagen.config.convert import field_names, kind_at

    kind = kind_at(cls, path)
    return field_names(kind) if isinstance(kind, type) and attrs.has(kind) else []


def naming_field_names() -> list[str]:
    """Names of the naming fields plugins add (asked once with a sample generation)."""
    from imagen.plugins.hookcalls import plugin_naming_fields, sample_generation

    return sorted(plugin_naming_fields(sample_generation()))


def _validate_hooks(config: Config, problems: Problems) -> Problems:
    from imagen.plugins.loader import call_each

    call_each("validate_config", lambda function: function(config=config, problems=problems))
    return problems
