"""Config blocks are built without cattrs when they are right, into exactly what cattrs builds;
anything else goes to cattrs, which says what is wrong where."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any, Literal

import attrs
import pytest

from imagen.config import convert
from imagen.config.load import parse_config
from imagen.config.model import TOP_LEVEL, StyleConfig
from imagen.config.sample import assemble_sample
from imagen.plugins.loader import registry


def config_classes() -> list[type[Any]]:
    reg = registry()
    kinds = [*reg.backends.values(), *reg.sinks.values(), *reg.queues.values()]
    classes = {kind.config_class for kind in [*kinds, *reg.settings.values()]}
    classes |= {cls for cls in TOP_LEVEL.values() if attrs.has(cls)} | {StyleConfig}
    return sorted(classes, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_every_registered_config_class_is_built_directly() -> None:
    # A plugin's settings class of another shape still works (cattrs), only slower: this says
    # when one of ours stops being fast.
    slow = [cls.__qualname__ for cls in config_classes() if convert._direct(cls) is None]
    assert slow == []


def test_the_full_sample_config_builds_what_cattrs_builds() -> None:
    config, problems = parse_config(assemble_sample())
    assert config is not None
    assert not problems.errors
    blocks = [
        *(instance.settings for instance in config.backends.values()),
        *(sink.settings for sink in config.sinks.values()),
        *config.plugin_blocks.values(),
        config.output,
        config.history,
        config.server,
        *config.styles.values(),
    ]
    assert len(blocks) > 10
    for block in blocks:
        data = convert.unstructure(block)
        assert convert.structure(data, type(block)) == convert.converter().structure(
            data, type(block)
        )


def _positive(instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError("must be 1 or more")


@attrs.frozen
class Inner:
    name: str = "x"
    level: int | None = None


@attrs.frozen
class Block:
    size: int = attrs.field(default=1, validator=_positive)
    ratio: float = 1.0
    on: bool = False
    price: Decimal = Decimal(0)
    mode: Literal["a", "b"] = "a"
    label: str | None = None
    tags: list[str] = attrs.field(factory=list)
    origins: tuple[str, ...] = ()
    extra: dict[str, Any] = attrs.field(factory=dict)
    inner: Inner = Inner()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"size": 3, "ratio": 2, "on": True, "price": "0.25", "mode": "b"},
        {"ratio": 0.5, "price": 1, "label": None, "tags": ["x", "y"], "origins": ["o"]},
        {"extra": {"k": [1, {"a": None}]}, "inner": {"name": "n", "level": 2}},
        {"label": "l", "inner": {}},
    ],
)
def test_right_values_build_what_cattrs_builds(data: dict[str, Any]) -> None:
    built = convert._direct(Block)
    assert built is not None
    value = built(data)
    assert value == convert.converter().structure(data, Block)
    assert type(value.ratio) is float
    assert type(value.price) is Decimal


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"size": True}, ("size",), "expected a whole number, got True"),
        ({"size": "5"}, ("size",), "expected a whole number, got '5'"),
        ({"size": 0}, ("size",), "must be 1 or more"),
        ({"ratio": "1.5"}, ("ratio",), "expected a number, got '1.5'"),
        ({"on": "yes"}, ("on",), "expected true or false, got 'yes'"),
        ({"price": "lots"}, ("price",), "expected a number, got 'lots'"),
        ({"mode": "c"}, ("mode",), "expected one of: a, b; got 'c'"),
        ({"label": 5}, ("label",), "expected a string, got 5 (quote it in YAML)"),
        ({"tags": "x"}, ("tags",), "expected a list, got 'x'"),
        ({"tags": ["x", 1]}, ("tags", 1), "expected a string, got 1 (quote it in YAML)"),
        ({"origins": "o"}, ("origins",), "expected a list, got 'o'"),
        ({"extra": ["k"]}, ("extra",), "expected a mapping, got ['k']"),
        ({"inner": {"level": False}}, ("inner", "level"), "expected a whole number, got False"),
        ({"inner": {"colour": 1}}, ("inner", "colour"), "unknown key"),
        ({"colour": 1}, ("colour",), "unknown key"),
    ],
)
def test_wrong_values_are_refused_and_cattrs_says_where(
    data: dict[str, Any], path: tuple[str | int, ...], message: str
) -> None:
    built = convert._direct(Block)
    assert built is not None
    assert built(data) is convert._REFUSED
    with pytest.raises(convert.FieldError) as raised:
        convert.structure(data, Block)
    assert (raised.value.path, raised.value.message) == (path, message)


def test_a_missing_required_key_is_refused() -> None:
    @attrs.frozen
    class Needs:
        model: str

    built = convert._direct(Needs)
    assert built is not None
    assert built({}) is convert._REFUSED
    with pytest.raises(convert.FieldError) as raised:
        convert.structure({}, Needs)
    assert raised.value.message == "required key is missing"


def test_a_shape_it_does_not_know_is_left_to_cattrs() -> None:
    @attrs.frozen
    class Odd:
        kinds: frozenset[str] = frozenset()

    assert convert._direct(Odd) is None
    assert convert.structure({"kinds": ["x"]}, Odd) == Odd(kinds=frozenset({"x"}))


def test_loading_the_sample_config_does_not_import_cattrs() -> None:
    code = textwrap.dedent(
        """
        import sys
        from imagen.config.load import parse_config
        from imagen.config.sample import assemble_sample
        config, problems = parse_config(assemble_sample())
        assert config is not None and not problems.errors, problems.errors
        print("cattrs" in sys.modules)
        """
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


def test_a_class_with_private_fields_is_built_directly_by_their_aliases() -> None:
    @attrs.frozen
    class Private:
        _font: str = "sans"
        size: int = 1

    built = convert._direct(Private)
    assert built is not None
    assert built({"font": "serif", "size": 2}) == Private(font="serif", size=2)
    assert built({"_font": "serif"}) is convert._REFUSED
    assert convert.structure({"font": "serif"}, Private) == Private(font="serif")
