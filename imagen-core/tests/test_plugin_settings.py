"""Top-level config blocks a plugin owns (``register_settings``), like ``mcp:`` of imagen-mcp."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from imagen import hookimpl
from imagen.config.edit import setting_type, unstructure_config
from imagen.config.load import parse_config, plugin_settings
from imagen.config.model import builtin_default
from imagen.config.sample import assemble_sample
from imagen.errors import ConfigError
from imagen.plugins import loader as plugins


@attrs.frozen
class GadgetSettings:
    limit: int = 3
    label: str = "gadget"


@attrs.frozen
class BadgeLayout:
    _columns: int = 1


@attrs.frozen
class BadgeSettings:
    """A private attribute is written without its underscore, as attrs' ``__init__`` takes it."""

    _font: str = "sans"
    _margins: list[int] = attrs.Factory(list)
    _layouts: dict[str, BadgeLayout] = attrs.Factory(dict)


class GadgetPlugin:
    @hookimpl
    def register_settings(self, register: Any) -> None:
        register("gadget", GadgetSettings, sample="gadget:\n  limit: 3   # how many\n")
        register("badge", BadgeSettings)
        # The core's keys stay the core's: this one is refused with a warning.
        register("output", GadgetSettings)


@pytest.fixture
def gadget() -> Iterator[None]:
    plugin = GadgetPlugin()
    plugins.manager().register(plugin, name="gadget-plugin")
    plugins.registry.cache_clear()
    yield
    plugins.manager().unregister(plugin)
    plugins.registry.cache_clear()


@pytest.mark.usefixtures("gadget")
def test_a_plugin_block_is_structured_into_the_plugins_class() -> None:
    config, problems = parse_config("gadget:\n  limit: 7\n")
    assert not problems.errors
    assert config is not None
    assert plugin_settings(config, "gadget") == GadgetSettings(limit=7)


@pytest.mark.usefixtures("gadget")
def test_without_the_block_the_plugin_gets_its_defaults() -> None:
    config, _ = parse_config("default_backend: mock\n")
    assert config is not None
    assert plugin_settings(config, "gadget") == GadgetSettings()


@pytest.mark.usefixtures("gadget")
def test_a_bad_key_in_a_plugin_block_is_reported_at_its_path() -> None:
    _, problems = parse_config("gadget:\n  limitt: 7\n")
    [error] = problems.errors
    assert error.path == "gadget.limitt"
    assert "did you mean 'limit'" in error.message


@pytest.mark.usefixtures("gadget")
def test_a_plugin_block_round_trips_and_has_typed_keys_and_a_sample() -> None:
    config, _ = parse_config("gadget:\n  limit: 7\n")
    assert config is not None
    assert unstructure_config(config)["gadget"] == {"limit": 7, "label": "gadget"}
    assert setting_type({}, "gadget.limit") is int
    assert "gadget:\n  limit: 3" in assemble_sample()


@pytest.mark.usefixtures("gadget")
def test_a_plugin_cannot_take_over_a_core_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert "output" not in plugins.registry().settings
    assert "registers the core's config key 'output'" in capsys.readouterr().err


def test_without_the_plugin_its_block_is_an_unknown_key() -> None:
    _, problems = parse_config("gadget:\n  limit: 7\n")
    [error] = problems.errors
    assert error.path == "gadget"
    assert "unknown key" in error.message
    with pytest.raises(ConfigError, match="no installed plugin owns the config block 'gadget'"):
        plugin_settings(builtin_default(), "gadget")


@pytest.mark.usefixtures("gadget")
def test_a_private_field_is_written_as_its_alias() -> None:
    config, problems = parse_config("badge:\n  font: serif\n  margins: [1, 2]\n")
    assert not problems.errors
    assert config is not None
    assert plugin_settings(config, "badge") == BadgeSettings(font="serif", margins=[1, 2])
    assert unstructure_config(config)["badge"] == {
        "font": "serif",
        "margins": [1, 2],
        "layouts": {},
    }
    assert setting_type({}, "badge.font") is str


@pytest.mark.usefixtures("gadget")
@pytest.mark.parametrize(
    ("block", "path", "message"),
    [
        ("margins: [1, two]", "badge.margins.1", "expected a whole number"),
        ("_font: serif", "badge._font", "unknown key; did you mean 'font'?"),
        ("layouts: {wide: {columns: three}}", "badge.layouts.wide.columns", "expected a whole"),
        ("layouts: {wide: {colums: 3}}", "badge.layouts.wide.colums", "did you mean 'columns'?"),
    ],
)
def test_a_private_fields_problems_are_reported_at_the_keys_the_user_wrote(
    block: str, path: str, message: str
) -> None:
    _, problems = parse_config(f"badge:\n  {block}\n")
    [error] = problems.errors
    assert error.path == path
    assert message in error.message


@pytest.mark.usefixtures("gadget")
def test_a_nested_private_field_is_written_as_its_alias() -> None:
    config, problems = parse_config("badge:\n  layouts:\n    wide: {columns: 3}\n")
    assert not problems.errors
    assert config is not None
    wide = BadgeLayout(columns=3)
    assert plugin_settings(config, "badge") == BadgeSettings(layouts={"wide": wide})
