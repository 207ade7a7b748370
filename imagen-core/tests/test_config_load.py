"""Which config file is read, and what a user sees from a good or a bad one: the value that ends
up used, and one line naming the key and saying what to do."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen import hookimpl
from imagen.config.load import check_config, config_exists, load_config, parse_config
from imagen.config.model import Config, HistoryConfig, QueueInstance, ServerConfig
from imagen.errors import ConfigError
from imagen.sinks.builtin import WebhookSettings

# --- which file ------------------------------------------------------------------------------


def test_imagen_config_naming_a_missing_file_is_an_error_not_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "gone.yaml"
    monkeypatch.setenv("IMAGEN_CONFIG", str(missing))
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert str(missing) in str(raised.value)
    assert "create it with: imagen config init" in str(raised.value)


def test_an_explicit_file_wins_over_imagen_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = tmp_path / "env.yaml"
    from_env.write_text("output:\n  directory: /from/env\n")
    given = tmp_path / "given.yaml"
    given.write_text("output:\n  directory: /from/flag\n")
    monkeypatch.setenv("IMAGEN_CONFIG", str(from_env))
    config = load_config(given)
    assert config.output.directory == "/from/flag"
    assert config.source == str(given)


def test_a_path_starting_with_a_tilde_is_read_from_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "imagen.yaml").write_text("default_backend: mock\noutput:\n  directory: /x\n")
    assert config_exists("~/imagen.yaml")
    assert not config_exists("~/other.yaml")
    assert load_config("~/imagen.yaml").output.directory == "/x"


def test_config_exists_looks_at_the_default_path_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "c.yaml"
    monkeypatch.setenv("IMAGEN_CONFIG", str(file))
    assert not config_exists()
    file.write_text("")
    assert config_exists()


def test_a_file_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("output:\n  directory: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    message = str(raised.value)
    assert message.startswith(f"cannot read config file {file}: ")
    assert "\n" not in message


def test_validate_without_a_file_checks_the_default_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No config file: ``imagen config validate`` still says the default folder cannot be made."""
    from imagen.config.model import builtin_default

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IMAGEN_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = Path(builtin_default().output.directory).expanduser()
    assert tmp_path in folder.parents
    top = tmp_path / folder.relative_to(tmp_path).parts[0]
    top.write_text("a file where a folder should be")
    config, problems = check_config()
    assert config is not None
    [error] = problems.errors
    assert error.path == "output.directory"
    assert "point output.directory at a folder" in error.message
    # The other commands do not look at the disk: the default config loads.
    assert load_config().output.directory == builtin_default().output.directory


def test_a_utf8_file_reads_the_same_whatever_the_locale(tmp_path: Path) -> None:
    """A C locale (cron, a container) or a Windows code page must not change what is read."""
    import locale

    file = tmp_path / "imagen.yaml"
    file.write_text('styles:\n  cafe:\n    prompt: "{prompt} au café"\n', encoding="utf-8")
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        config = load_config(file)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert config.styles["cafe"].prompt == "{prompt} au café"


# --- the values used -------------------------------------------------------------------------


def loaded(text: str) -> Config:
    config, problems = parse_config(text, file="imagen.yaml")
    assert not problems.errors, [str(p) for p in problems.errors]
    assert config is not None
    return config


def test_history_and_server_blocks_are_used() -> None:
    config = loaded(
        "history:\n  enabled: false\n  store_prompt: false\nserver:\n  port: 9000\n"
        "output:\n  directory: /srv/out\n"
    )
    assert config.history == HistoryConfig(enabled=False, store_prompt=False)
    assert config.server.port == 9000
    assert config.output.directory == "/srv/out"


def test_a_backend_instance_keeps_its_name_type_and_framework_keys() -> None:
    config = loaded(
        "default_backend: fast\nbackends:\n  fast:\n    type: mock\n    concurrency: 1\n"
        "    cost_per_image: 0\n"
    )
    assert config.default_backend == "fast"
    instance = config.backends["fast"]
    assert (instance.name, instance.type, instance.concurrency) == ("fast", "mock", 1)
    # A free backend (a local server) costs 0: that is a price, not a mistake.
    assert instance.cost_per_image == Decimal(0)


@pytest.mark.parametrize(
    ("line", "enabled"),
    [("", "auto"), ("    enabled: true\n", "on"), ("    enabled: false\n", "off")]
    + [(f"    enabled: {mode}\n", mode) for mode in ("auto", "'on'", "'off'")],
)
def test_a_sink_is_structured_with_its_enabled_mode(line: str, enabled: str) -> None:
    config = loaded("sinks:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:9/x\n" + line)
    sink = config.sinks["hook"]
    assert (sink.name, sink.type, sink.enabled) == ("hook", "webhook", enabled.strip("'"))
    assert sink.settings == WebhookSettings(url="http://127.0.0.1:9/x")


def test_a_sink_whose_block_has_an_error_is_reported_not_dropped() -> None:
    _, problems = parse_config(
        "sinks:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:9/\n    retries: many\n"
    )
    [error] = problems.errors
    assert error.path == "sinks.hook.retries"


# --- one clear line per mistake --------------------------------------------------------------


def one_error(text: str) -> str:
    """The line a user sees for a config with one mistake."""
    _, problems = parse_config(text, file="imagen.yaml")
    [error] = problems.errors
    return str(error)


MOCK = "backends:\n  m:\n    type: mock\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "backends:\n  m: 5\n",
            "imagen.yaml:2: backends.m: expected a mapping with at least a type",
            id="backend block not a mapping",
        ),
        pytest.param(
            "sinks:\n  s: [webhook]\n",
            "imagen.yaml:2: sinks.s: expected a mapping with at least a type",
            id="sink block not a mapping",
        ),
        pytest.param(
            "queue: local\n",
            "imagen.yaml:1: queue: expected a mapping with a type (local, postgres, ...)",
            id="queue block not a mapping",
        ),
        pytest.param(
            "output: 3\n",
            "imagen.yaml:1: output: expected a mapping, got int",
            id="top-level block not a mapping",
        ),
        pytest.param(
            "styles:\n  s: [a]\n",
            "imagen.yaml:2: styles.s: expected a mapping, got list",
            id="style not a mapping",
        ),
        pytest.param(
            "backends: [m]\n",
            "imagen.yaml:1: backends: expected a mapping of instance names to blocks",
            id="backends not a mapping",
        ),
        pytest.param(
            "sinks: hook\n",
            "imagen.yaml:1: sinks: expected a mapping of instance names to blocks",
            id="sinks not a mapping",
        ),
        pytest.param(
            'backends:\n  "":\n    type: mock\n',
            "imagen.yaml:1: backends: a name under backends is empty; give the block a name, "
            'like "my-backend:"',
            id="empty backend name",
        ),
        pytest.param(
            'sinks:\n  " ":\n    type: webhook\n',
            "imagen.yaml:1: sinks: a name under sinks is empty; give the block a name, "
            'like "my-sink:"',
            id="empty sink name",
        ),
        pytest.param(
            "sinks:\n  s:\n    type: webhook\n    url: http://127.0.0.1:9/\n    enabled: maybe\n",
            "imagen.yaml:5: sinks.s.enabled: expected one of: auto, on, off",
            id="sink enabled not a mode",
        ),
        pytest.param(
            MOCK + "    concurrency: true\n",
            "imagen.yaml:4: backends.m.concurrency: expected a whole number of 1 or more",
            id="concurrency true",
        ),
        pytest.param(
            MOCK + "    concurrency: '2'\n",
            "imagen.yaml:4: backends.m.concurrency: expected a whole number of 1 or more",
            id="concurrency as text",
        ),
        pytest.param(
            MOCK + "    cost_per_image: -0.01\n",
            "imagen.yaml:4: backends.m.cost_per_image: a cost cannot be negative",
            id="negative cost",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_its_place(text: str, expected: str) -> None:
    assert one_error(text) == expected


def test_a_cost_that_is_not_a_number_is_reported_at_its_key() -> None:
    _, problems = parse_config(MOCK + "    cost_per_image: cheap\n", file="imagen.yaml")
    [error] = problems.errors
    assert (error.path, error.line) == ("backends.m.cost_per_image", 4)
    assert error.message.startswith("expected a number")


def installed(table: str = "backends") -> str:
    """The installed types of a kind as the messages list them (the workspace's plugins too)."""
    from imagen.plugins.loader import registry

    return ", ".join(sorted(getattr(registry(), table)))


def test_an_unknown_type_without_a_close_name_says_how_to_install_it() -> None:
    line = one_error("sinks:\n  s:\n    type: s3\n")
    assert line == (
        f"imagen.yaml:3: sinks.s.type: unknown sink type 's3' (installed: {installed('sinks')}; "
        "is the plugin installed? try: pip install imagen-s3)"
    )


def test_a_typo_in_a_type_ends_with_the_installed_types() -> None:
    line = one_error("sinks:\n  s:\n    type: webhok\n")
    assert line == (
        "imagen.yaml:3: sinks.s.type: unknown sink type 'webhok'; did you mean 'webhook'? "
        f"(installed: {installed('sinks')})"
    )


def test_a_type_left_empty_is_missing_and_the_known_types_are_listed() -> None:
    line = one_error("backends:\n  m:\n    type: ''\n")
    assert line == f"imagen.yaml:2: backends.m: missing type (known backend types: {installed()})"


def test_an_unknown_top_level_key_lists_the_known_ones() -> None:
    line = one_error("outptu: {}\n")
    assert line.startswith("imagen.yaml:1: outptu: unknown key; did you mean 'output'? (known: ")
    assert "(known: default_backend, output, history, backends, sinks, styles, server" in line


def test_an_unknown_key_in_a_block_lists_the_blocks_keys() -> None:
    line = one_error("server:\n  prot: 1\n")
    assert line == (
        "imagen.yaml:2: server.prot: unknown key; did you mean 'port'? "
        "(known: host, port, token_env, takes)"
    )


def test_a_secret_in_a_list_is_reported_at_the_items_line() -> None:
    _, problems = parse_config(
        MOCK + "    loras:\n      - plain\n      - r8_AbCdEfGhIjKlMnOpQrStUv\n", file="imagen.yaml"
    )
    error = problems.errors[0]
    assert (error.path, error.line) == ("backends.m.loras.1", 6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "- a\n",
            "imagen.yaml: the config file must be a mapping of keys (default_backend, ...)",
            id="not a mapping",
        ),
        pytest.param(
            'default_backend: ""\n',
            "imagen.yaml:1: default_backend: expected the name of a backend instance "
            "(leave the key out for the built-in 'mock')",
            id="empty default backend",
        ),
        pytest.param(
            "default_backend: 5\n",
            "imagen.yaml:1: default_backend: expected the name of a backend instance "
            "(leave the key out for the built-in 'mock')",
            id="default backend not a name",
        ),
        pytest.param(
            "default_backend: fluxx\nbackends:\n  flux:\n    type: mock\n  sdxl:\n    type: mock\n",
            "imagen.yaml:1: default_backend: no backend instance named 'fluxx'; did you mean "
            "'flux'? (defined: flux, mock, sdxl)",
            id="default backend not defined",
        ),
        pytest.param(
            'styles:\n  "":\n    prompt: "{prompt}"\n',
            "imagen.yaml:1: styles: a name under styles is empty; give the block a name, "
            'like "my-style:"',
            id="empty style name",
        ),
        pytest.param(
            "styles:\n  wide:\n    aspect_ratio: wide\n",
            "imagen.yaml:3: styles.wide.aspect_ratio: ",
            id="bad style aspect ratio alone",
        ),
        pytest.param(
            'output:\n  naming: "../{slug}"\n',
            "imagen.yaml:2: output.naming: the naming template '../{slug}' would write outside "
            "the output folder (it goes up with ..)",
            id="naming leaves the folder",
        ),
    ],
)
def test_a_mistake_at_the_top_is_one_line_saying_what_to_do(text: str, expected: str) -> None:
    assert one_error(text).startswith(expected)


def test_a_style_without_the_prompt_placeholder_is_a_warning_at_its_prompt() -> None:
    config, problems = parse_config(
        'styles:\n  fixed:\n    prompt: "a red barn"\n  framed:\n    prompt: "{prompt}, framed"\n',
        file="imagen.yaml",
    )
    assert config is not None
    assert [str(p) for p in problems.items] == [
        "imagen.yaml:3: styles.fixed.prompt: has no {prompt} placeholder, so the user's prompt "
        "is ignored"
    ]


# --- the output folder, checked by validate only ----------------------------------------------


def output_in(folder: Path) -> str:
    return f"output:\n  directory: {folder}\n  naming: '{{date}}/{{slug}}'\n"


def test_an_output_folder_that_is_a_file_is_reported_by_validate_only(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.write_text("")
    file = tmp_path / "imagen.yaml"
    file.write_text(output_in(folder))
    _, problems = check_config(file)
    assert [str(p) for p in problems.errors] == [
        f"{file}:2: output.directory: {folder} is a file, not a folder; point output.directory "
        "at a folder (or move that file away)"
    ]
    # Loading for any other command does not look at the disk.
    assert load_config(file).output.directory == str(folder)
    assert not parse_config(output_in(folder))[1].errors


def test_an_output_folder_under_a_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    folder = tmp_path / "out" / "images"
    file = tmp_path / "imagen.yaml"
    file.write_text(output_in(folder))
    _, problems = check_config(file)
    [error] = problems.errors
    assert error.message == (
        f"{folder} cannot be created: {tmp_path / 'out'} is a file; point output.directory at a "
        "folder (or move that file away)"
    )


def test_an_output_folder_that_is_a_broken_link_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.symlink_to(tmp_path / "gone")
    _, problems = parse_config(output_in(folder), file="imagen.yaml", check_paths=True)
    assert [str(p) for p in problems.errors] == [
        f"imagen.yaml:2: output.directory: {folder} is a link to something that does not exist; "
        "point output.directory at a folder, or fix the link"
    ]


def test_an_output_folder_that_links_to_a_file_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    folder = tmp_path / "out"
    folder.symlink_to(tmp_path / "target")
    _, problems = parse_config(output_in(folder), check_paths=True)
    [error] = problems.errors
    assert error.message.startswith(f"{folder} is a file, not a folder;")


@pytest.mark.parametrize("made", [True, False])
def test_an_output_folder_that_exists_or_can_be_made_is_fine(tmp_path: Path, made: bool) -> None:
    folder = tmp_path / "out" / "images"
    if made:
        folder.mkdir(parents=True)
    _, problems = parse_config(output_in(folder), check_paths=True)
    assert not problems.items


# --- what plugins add: settings blocks, queue types, naming fields, cross-field checks --------


@attrs.frozen
class Font:
    size: int = 12
    family: str = "sans"


@attrs.frozen
class WatermarkSettings:
    text: str = ""
    corner: str = "bottom-right"
    font: Font = Font()


@attrs.frozen
class SpoolSettings:
    folder: str = "/var/spool/imagen"


class Studio:
    """A plugin: a ``watermark:`` block with a nested font, a ``spool`` queue type, a
    ``{project}`` naming field, and a check that the ``studio`` backend has a concurrency."""

    seen: list[Config]

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def register_settings(self, register: Any) -> None:
        register("watermark", WatermarkSettings)

    @hookimpl
    def register_queues(self, register: Any) -> None:
        register("spool", "imagen.jobs.local:LocalQueue", SpoolSettings)

    @hookimpl
    def naming_fields(self, generation: Any) -> dict[str, Any]:
        return {"project": f"moon-{generation.seed}"}

    @hookimpl
    def validate_config(self, config: Config, problems: Any) -> None:
        self.seen.append(config)
        studio = config.backends.get("studio")
        if studio is not None and studio.concurrency is None:
            problems.error("backends.studio", "runs on one GPU: add concurrency: 1")


@pytest.fixture
def studio() -> Iterator[Studio]:
    from imagen.plugins import loader

    plugin = Studio()
    loader.manager().register(plugin, name="studio-plugin")
    loader.registry.cache_clear()
    yield plugin
    loader.manager().unregister(plugin)
    loader.registry.cache_clear()


def test_an_unknown_key_in_a_plugins_nested_block_lists_that_blocks_keys(studio: Studio) -> None:
    line = one_error("watermark:\n  font:\n    sise: 10\n")
    assert line == (
        "imagen.yaml:3: watermark.font.sise: unknown key; did you mean 'size'? "
        "(known: size, family)"
    )
    assert loaded("watermark:\n  font:\n    size: 10\n").plugin_blocks["watermark"] == (
        WatermarkSettings(font=Font(size=10))
    )


def test_a_naming_field_a_plugin_adds_can_be_used(studio: Studio) -> None:
    config = loaded('output:\n  naming: "{project}/{slug}"\n')
    assert config.output.naming == "{project}/{slug}"


def test_a_plugins_check_sees_the_config_and_its_problem_names_the_line(studio: Studio) -> None:
    text = "default_backend: studio\nbackends:\n  studio:\n    type: mock\n"
    assert one_error(text) == "imagen.yaml:3: backends.studio: runs on one GPU: add concurrency: 1"
    [seen] = studio.seen
    assert seen.default_backend == "studio"
    assert loaded(text.replace("mock\n", "mock\n    concurrency: 1\n")).backends["studio"]


def test_with_schema_errors_a_plugins_check_sees_what_did_load(studio: Studio) -> None:
    """Its problems come with the schema errors, and it never sees a block that had errors."""
    _, problems = parse_config(
        'default_backend: ""\nserver:\n  port: x\nqueue:\n  type: spool\n  depth: 3\n'
        "backends:\n  studio:\n    type: mock\n",
        file="imagen.yaml",
    )
    assert [p.path for p in problems.errors] == [
        "server.port",
        "queue.depth",
        "default_backend",
        "backends.studio",
    ]
    [seen] = studio.seen
    assert seen.default_backend == "mock"
    assert seen.server == ServerConfig()
    assert seen.queue == QueueInstance()
    assert "studio" in seen.backends


def test_a_queue_type_a_plugin_adds_gets_its_block(studio: Studio) -> None:
    config = loaded("queue:\n  type: spool\n  folder: /srv/spool\n")
    assert config.queue == QueueInstance("spool", SpoolSettings(folder="/srv/spool"))
