"""Config round trips, for the core and every installed plugin's block (hypothesis).

For any valid config: unstructure -> dump -> load -> structure gives an equal config. A rewrite
of a user's file (``imagen config set``) keeps its comments and key order. The assembled sample
(``imagen config sample``) is itself a valid config.
"""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imagen.config import yamlio
from imagen.config.edit import set_value, unstructure_config
from imagen.config.load import parse_config
from imagen.config.model import (
    Config,
    HistoryConfig,
    Instance,
    OutputConfig,
    QueueInstance,
    ServerConfig,
    SinkInstance,
    StyleConfig,
)
from imagen.plugins.loader import registry

# Plain words: no characters that could make a value look like a token or a URL password.
WORDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789äöüé", min_size=1, max_size=12
)
ENV_NAMES = st.from_regex(r"\A[A-Z][A-Z0-9]{0,10}\Z")
NAMES = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z")


def strategy_for(kind: Any, name: str) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return st.one_of(*(strategy_for(arg, name) for arg in args))
    if kind is type(None):
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(args)
    if kind is str:
        return ENV_NAMES if name.endswith("_env") else WORDS
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=1, max_value=5000)
    if kind is float:
        return st.floats(min_value=0, max_value=1000, allow_nan=False).map(lambda f: round(f, 3))
    if kind is Decimal:
        return st.decimals(min_value=0, max_value=100, places=4)
    if origin in (list, tuple):
        items = st.lists(strategy_for(args[0] if args else str, name), max_size=3)
        return items if origin is list else items.map(tuple)
    if origin is dict or kind is dict:
        return st.dictionaries(
            NAMES, st.one_of(WORDS, st.integers(0, 99), st.booleans()), max_size=3
        )
    if attrs.has(kind):
        return settings_strategy(kind)
    if kind is typing.Any:
        return st.one_of(WORDS, st.integers(0, 99))
    raise NotImplementedError(f"no strategy for {kind!r} ({name})")


def settings_strategy(cls: type) -> st.SearchStrategy[Any]:
    attrs.resolve_types(cls)
    fields = {
        field.alias or field.name: st.one_of(
            st.just(attrs.NOTHING), strategy_for(field.type, field.name)
        )
        for field in attrs.fields(cls)
        if field.init
    }

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        values = {key: draw(strategy) for key, strategy in fields.items()}
        chosen = {key: value for key, value in values.items() if value is not attrs.NOTHING}
        try:
            return cls(**chosen)
        except (ValueError, TypeError):
            assume(False)

    return build()


@st.composite
def configs(draw: st.DrawFn) -> Config:
    reg = registry()
    backends = {}
    for kind in draw(st.lists(st.sampled_from(sorted(reg.backends)), max_size=3)):
        name = draw(NAMES)
        backends[name] = Instance(
            name,
            kind,
            draw(settings_strategy(reg.backends[kind].config_class)),
            draw(st.none() | st.integers(1, 8)),
            draw(st.none() | st.decimals(min_value=0, max_value=1, places=4)),
        )
    sinks = {}
    for kind in draw(st.lists(st.sampled_from(sorted(reg.sinks)), max_size=2)):
        name = draw(NAMES)
        sinks[name] = SinkInstance(
            name,
            kind,
            draw(settings_strategy(reg.sinks[kind].config_class)),
            draw(st.sampled_from(["auto", "on", "off"])),
        )
    output = draw(settings_strategy(OutputConfig))
    output = attrs.evolve(
        output, naming=draw(st.sampled_from(["{date}/{slug}-{seed}", "{n:03d}-{hash}"]))
    )
    return Config(
        default_backend=draw(st.sampled_from([*backends, "mock"])),
        output=output,
        history=draw(settings_strategy(HistoryConfig)),
        backends=backends,
        sinks=sinks,
        styles=draw(
            st.dictionaries(
                NAMES,
                settings_strategy(StyleConfig).filter(
                    lambda s: s.size is None and s.aspect_ratio is None
                ),
                max_size=2,
            )
        ),
        server=draw(settings_strategy(ServerConfig)),
        queue=QueueInstance("local", draw(settings_strategy(reg.queues["local"].config_class))),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(configs())
def test_unstructure_dump_load_structure_gives_an_equal_config(config: Config) -> None:
    text = yamlio.dump(unstructure_config(config))
    loaded, problems = parse_config(text)
    assume(
        not [p for p in problems.errors if not p.path.startswith(("backends", "sinks"))] or loaded
    )
    if problems.errors:
        # Only a plugin's own cross-field check may refuse a generated block; never the core.
        assert all(p.path.startswith(("backends.", "sinks.")) for p in problems.errors), (
            problems.errors
        )
        assume(False)
    assert loaded == config


KEYS = st.from_regex(r"\A[a-z][a-z_]{0,8}\Z").filter(
    lambda k: k not in {"y", "n", "on", "off", "yes", "no"}
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(KEYS, WORDS), min_size=1, max_size=5, unique_by=lambda kv: kv[0]), WORDS)
def test_config_set_keeps_comments_and_key_order(
    styles: list[tuple[str, str]], comment: str
) -> None:
    text = f"# {comment}\ndefault_backend: mock  # stays\nstyles:\n"
    for key, prompt in styles:
        text += f"  {key}:  # about {key}\n    prompt: '{prompt} {{prompt}}'\n"
    rewritten = set_value(text, "output.directory", "/srv/images")
    assert rewritten.startswith(f"# {comment}\ndefault_backend: mock  # stays\n")
    for key, _ in styles:
        assert f"# about {key}" in rewritten
    positions = [rewritten.index(f"  {key}:  # about {key}") for key, _ in styles]
    assert positions == sorted(positions)
    config, problems = parse_config(rewritten)
    assert not problems.errors
    assert config is not None
    assert config.output.directory == "/srv/images"


def test_assembled_sample_is_a_valid_config_with_every_plugin_block() -> None:
    from imagen.config.sample import assemble_sample

    text = assemble_sample()
    config, problems = parse_config(text)
    assert not problems.errors, problems.errors
    assert config is not None
    assert {instance.type for instance in config.backends.values()} == set(registry().backends)
    assert {sink.type for sink in config.sinks.values()} == set(registry().sinks)


@pytest.mark.parametrize("kind", sorted(registry().backends))
def test_every_backend_sample_is_commented(kind: str) -> None:
    sample = registry().backends[kind].sample
    assert sample.lstrip().startswith("#"), f"{kind}'s sample should open with a comment"
