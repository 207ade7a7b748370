"""One redaction rule: a token pasted into a config value or key never appears in a message.

The rule (``imagen.secrets.redact``) knows providers' token shapes and long high-entropy runs;
every config problem goes through it, plugins' included. Ordinary values (model refs, paths,
prompts, checkpoint names) are shown as written.
"""

from __future__ import annotations

import functools
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagen.config.load import parse_config
from imagen.secrets import looks_like_secret, redact
from imagen.testing.tokens import SHAPES, make_token, secret_part

B64URL = string.ascii_letters + string.digits + "_-"
LOWER_HEX = "0123456789abcdef"


def chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=size, max_size=max_size or size)


rngs = st.randoms(use_true_random=False)
TOKENS: dict[str, st.SearchStrategy[str]] = {
    shape: rngs.map(functools.partial(make_token, shape)) for shape in SHAPES
}
any_token = st.one_of(*TOKENS.values())
# Where a message might put a value: quoted, after a colon (owner/name:TOKEN), in a YAML path.
before = st.sampled_from(["", " ", "'", '"', ":", "/", ".", "=", "(", "_", "\n", "owner/name:"])
after = st.sampled_from(["", " ", "'", '"', ":", "/", ",", ")", "@", ".", "\n"])


@pytest.mark.parametrize("shape", sorted(TOKENS))
@given(data=st.data())
def test_a_token_of_every_shape_is_redacted_wherever_it_sits(
    shape: str, data: st.DataObject
) -> None:
    token = data.draw(TOKENS[shape])
    text = data.draw(before) + token + data.draw(after)
    shown = redact(text)
    assert token not in shown
    assert secret_part(token) not in shown


@pytest.mark.parametrize("shape", sorted(set(TOKENS) - {"generic"}))
@given(data=st.data())
def test_a_token_of_a_known_shape_is_refused_as_an_inline_secret(
    shape: str, data: st.DataObject
) -> None:
    assert looks_like_secret(data.draw(before) + data.draw(TOKENS[shape]) + data.draw(after))


def test_random_keys_without_a_prefix_are_redacted() -> None:
    """Measured on keys as a random generator makes them (not the tidy ones hypothesis draws):
    at least 99% of 32-character and all but a handful of 48-character base64url keys."""
    rng = random.Random(10)
    for length, at_least in ((32, 0.99), (48, 0.997)):
        keys = ["".join(rng.choice(B64URL) for _ in range(length)) for _ in range(2000)]
        hidden = sum(key not in redact(f"got {key!r}") for key in keys)
        assert hidden >= at_least * len(keys)


WORDS = ["flux", "schnell", "dev", "pro", "black", "forest", "labs", "sdxl", "stable", "v2"]
word = st.sampled_from(WORDS)
words = st.lists(word, min_size=1, max_size=6)
ORDINARY_EXAMPLES = [
    "black-forest-labs/flux-schnell",
    "stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b",
    "gemini-2.5-flash-image-preview",
    "Juggernaut_XL_v9_RunDiffusionPhoto_v2.safetensors",
    "epicrealismXL_v8KiSS_DPMpp2MKarras_v10.safetensors",
    "DreamShaperXL_Turbo_v2_1_DPMppSDE_Karras",
    "flux1-dev-fp8.safetensors",
    "~/Pictures/imagen/{date}/{time}-{slug}-{seed}",
    "/home/someone/.config/imagen/workflows/flux-dev-split.json",
    "task-generation-with-controlnet-v2",
    "sk-generation-workflow-v2",
    "a watercolor fox, soft light, 35mm, f/1.8",
    "http://127.0.0.1:8188",
    "https://your-project-ref.supabase.co",
    "1b0e4c5a-8f3d-4e6b-9a2c-7d1f0e3b5a69",
    "REPLICATE_API_TOKEN",
    "IMAGEN_SERVER_TOKEN_FOR_PRODUCTION_2024",
]


@pytest.mark.parametrize("value", ORDINARY_EXAMPLES)
def test_ordinary_values_are_shown_as_written(value: str) -> None:
    assert redact(value) == value
    assert not looks_like_secret(value)


@given(
    owner=words.map("-".join),
    name=words.map("-".join),
    version=st.none() | chars(LOWER_HEX, 64),
)
def test_model_refs_are_shown_as_written(owner: str, name: str, version: str | None) -> None:
    ref = f"{owner}/{name}" + (f":{version}" if version else "")
    assert redact(f"model {ref!r} is not a model ref") == f"model {ref!r} is not a model ref"


@given(
    prompt=st.lists(word | st.sampled_from(["a", "cat", "in", "the", "fishbowl,", "4k"])).map(
        " ".join
    ),
    folders=st.lists(word | st.sampled_from(["Pictures", "imagen", "2026-11-23"])).map("/".join),
)
def test_prompts_and_paths_are_shown_as_written(prompt: str, folders: str) -> None:
    assert redact(prompt) == prompt
    assert redact(f"~/{folders}") == f"~/{folders}"


def test_a_password_in_a_url_is_redacted() -> None:
    shown = redact("url 'postgresql://imagen:hunter2@db.example.com/jobs' is refused")
    assert shown == "url 'postgresql://imagen:***@db.example.com/jobs' is refused"


def test_a_hostile_value_is_redacted_in_linear_time() -> None:
    # Each would take minutes with a backtracking pattern run over the whole text.
    for text in ("sk-" * 30_000, "sk- " * 30_000, "aB1" * 30_000, "ab:" * 30_000, "r8_" * 30_000):
        assert len(redact(text)) <= len(text)
        looks_like_secret(text)


def _problem_text(text: str) -> str:
    _, problems = parse_config(text, file="imagen.yaml")
    return "\n".join(str(problem) for problem in problems.items)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(token=any_token, place=st.sampled_from(["value", "key", "instance", "style", "top"]))
def test_no_config_problem_quotes_a_token(token: str, place: str) -> None:
    quoted = json.dumps(token)
    text = {
        "value": f"backends:\n  m:\n    type: mock\n    width: {json.dumps('a/b:' + token)}\n",
        "key": f"output:\n  {quoted}: 1\n",
        "instance": f"default_backend: {quoted}\nbackends:\n  {quoted}:\n    type: mokc\n",
        "style": f"styles:\n  {quoted}:\n    size: {quoted}\n",
        "top": f"{quoted}: 1\n",
    }[place]
    shown = _problem_text(text)
    assert shown, "every one of these configs has a problem to report"
    assert token not in shown
    assert secret_part(token) not in shown


def test_a_token_used_as_a_key_is_an_inline_secret() -> None:
    shown = _problem_text("backends:\n  r8_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789:\n    type: mock\n")
    assert "backends.r8_***: this key looks like an inline secret" in shown


def test_plugins_problems_are_redacted_too() -> None:
    from imagen.config.problems import Problems

    problems = Problems()
    problems.error("sinks.r8_AbCdEfGhIjKlMnOpQrStUvWx.url", "bad 'sk-proj-Ab1Cd2Ef3Gh4Ij5Kl6Mn'")
    problems.warning("x", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 is odd")
    assert [str(p) for p in problems.items] == [
        "sinks.r8_***.url: bad 'sk-***'",
        "x: token ghp_*** is odd",
    ]


# imagen_process is a plain function (no state to reset between examples).
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tokens=st.fixed_dictionaries(TOKENS))
def test_the_cli_never_prints_a_token_used_as_a_key(
    imagen_process: Any, tmp_path_factory: pytest.TempPathFactory, tokens: dict[str, str]
) -> None:
    """Every shape at once, as a top-level key, an output key and a backend instance name."""
    config = tmp_path_factory.mktemp("cfg") / "imagen.yaml"
    lines = [f"{json.dumps(t)}: 1" for t in tokens.values()]
    lines += ["output:", *(f"  {json.dumps(t)}: 1" for t in tokens.values())]
    lines += ["backends:", *(f"  {json.dumps(t)}: {{type: mock}}" for t in tokens.values())]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in (["config", "validate"], ["backends"], ["generate", "x", "--dry-run"]):
        ran = imagen_process("--config", str(config), *command)
        assert ran.code == 2, ran.err
        for token in tokens.values():
            assert token not in ran.out + ran.err
            assert secret_part(token) not in ran.out + ran.err
    assert "unknown key" in imagen_process("--config", str(config), "config", "validate").err


def test_config_show_hides_a_high_entropy_value(imagen_process: Any, tmp_path: Path) -> None:
    token = "xK9pQ2mZ7vB4nL8wR3tY6uE1oI5aS0dFgH"
    config = tmp_path / "imagen.yaml"
    config.write_text(f"backends:\n  m:\n    type: mock\n    model: {token}\n", encoding="utf-8")
    ran = imagen_process("--config", str(config), "config", "show")
    assert ran.code == 0, ran.err
    assert token not in ran.out
    assert "model: '***'" in ran.out


def test_config_set_does_not_echo_a_token_typed_into_the_key() -> None:
    from imagen.config.edit import set_value
    from imagen.errors import ConfigError

    token = make_token("openai-project", random.Random(3))
    with pytest.raises(ConfigError, match=r"so output\.sk-\*\*\* cannot be set") as refused:
        set_value("output: 1\n", f"output.{token}", 1)
    assert secret_part(token) not in str(refused.value)


def mixed_case_word(pairs: int, switches: int) -> str:
    """A word of ``pairs + 1`` letters whose case changes at its first ``switches`` pairs."""
    letters, upper = [], False
    for index in range(pairs + 1):
        if 1 <= index <= switches:
            upper = not upper
        letter = "abcdefghijklmnopqrstuvwxyz"[index % 26]
        letters.append(letter.upper() if upper else letter)
    return "".join(letters)


@pytest.mark.parametrize(
    ("run", "hidden"),
    [
        (mixed_case_word(31, 11), False),  # 11 of 31 pairs switch: under the 0.36 line
        (mixed_case_word(31, 12), True),
        (mixed_case_word(25, 9) + "-a-b-c", True),  # 9 of 25: exactly on the line
        ("-".join("aBcDeFgHiJkLmNoPq"), False),  # no two letters side by side: nothing random
        ("aB" + "-c" * 15, True),  # its one pair switches
    ],
)
def test_a_long_run_is_hidden_when_its_case_switches_like_random_text(
    run: str, hidden: bool
) -> None:
    assert len(run) >= 32
    assert (run not in redact(f"got {run}")) is hidden


def test_a_run_longer_than_512_characters_is_hidden_whole() -> None:
    assert redact("a" * 512) == "a" * 512
    assert redact("a" * 513) == "***"


def test_a_secret_is_read_from_its_environment_variable_trimmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imagen.secrets import read_secret, require_secret

    monkeypatch.setenv("IMAGEN_TEST_KEY", "  r8_value \n")
    assert read_secret("IMAGEN_TEST_KEY") == "r8_value"
    assert require_secret("IMAGEN_TEST_KEY", what="backend 'x'") == "r8_value"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_unset_or_blank_variable_is_no_secret(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    from imagen.errors import NotConfigured
    from imagen.secrets import read_secret, require_secret

    if value is None:
        monkeypatch.delenv("IMAGEN_TEST_KEY", raising=False)
    else:
        monkeypatch.setenv("IMAGEN_TEST_KEY", value)
    assert read_secret("IMAGEN_TEST_KEY") is None
    assert read_secret(None) is None
    assert read_secret("") is None
    with pytest.raises(
        NotConfigured, match=r"^backend 'x' is not configured: set IMAGEN_TEST_KEY$"
    ) as raised:
        require_secret("IMAGEN_TEST_KEY", what="backend 'x'")
    assert raised.value.env_var == "IMAGEN_TEST_KEY"
