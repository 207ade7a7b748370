"""Inline secrets are refused wherever they sit in a config file (mappings, lists, lists of
mappings, keys), each with one line that names its place and says what to do instead."""

from __future__ import annotations

import pytest

from imagen.config.load import parse_config

TOKEN = "r8_AbCdEfGhIjKlMnOpQrStUv"
VALUE = (
    "this looks like an inline secret (API key or token); put it in an environment variable "
    "and name it with a *_env key"
)
URL = (
    "this URL contains a password; put the URL in an environment variable and name it with a "
    "*_env key"
)
KEY = (
    "this key looks like an inline secret (API key or token); keys are names: put the secret "
    "in an environment variable and name it with a *_env key"
)


def inline(name: str) -> str:
    return (
        "inline secret not allowed; put it in an environment variable and name that variable "
        f"with {name}_env"
    )


def env_value(name: str, example: str) -> str:
    return (
        f"{name} names an environment variable (like {example}); put the secret itself in that "
        "variable, not in the config"
    )


def secret_problems(text: str) -> list[str]:
    """The problems that are about secrets, as ``path: message`` (other problems left out)."""
    _, problems = parse_config(text)
    return [
        f"{problem.path}: {problem.message}"
        for problem in problems.errors
        if "secret" in problem.message or "password" in problem.message
    ]


BACKEND = "backends:\n  m:\n    type: mock\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            BACKEND + f"    loras:\n      - plain-name\n      - {TOKEN}\n",
            [f"backends.m.loras.1: {VALUE}"],
            id="token in a list in a backend block",
        ),
        pytest.param(
            BACKEND + "    extra:\n      - name: x\n        api_key: abc123\n"
            "      - url: https://me:hunter2@example.com/x\n",
            [f"backends.m.extra.0.api_key: {inline('api_key')}", f"backends.m.extra.1.url: {URL}"],
            id="secrets in a list of mappings",
        ),
        pytest.param(
            f"sinks:\n  s:\n    type: webhook\n    headers:\n      - [Authorization, {TOKEN}]\n",
            [f"sinks.s.headers.0.1: {VALUE}"],
            id="token in a nested list in a sink block",
        ),
        pytest.param(
            BACKEND + "    token: 5\n    secret: abc\n",
            [f"backends.m.token: {inline('token')}", f"backends.m.secret: {inline('secret')}"],
            id="every inline secret of a block is reported, not only the first",
        ),
        pytest.param(
            BACKEND + f"    {TOKEN}: 1\n    sk-AbCdEfGhIjKlMnOpQrStUv12: 2\n",
            [f"backends.m.r8_***: {KEY}", f"backends.m.sk-***: {KEY}"],
            id="tokens used as keys",
        ),
        pytest.param(
            BACKEND + f"    api_key_env: {TOKEN}\n    token_env: not a name\n",
            [
                f"backends.m.api_key_env: {env_value('api_key_env', 'API_KEY')}",
                f"backends.m.token_env: {env_value('token_env', 'TOKEN')}",
            ],
            id="env keys holding a value",
        ),
        pytest.param(
            BACKEND + "    _env: not a name\n",
            [f"backends.m._env: {env_value('_env', 'MY_SECRET')}"],
            id="a bare _env key gets a generic example",
        ),
        pytest.param(
            "queue:\n  url: postgresql://user:hunter2@db/imagen\n",
            [f"queue.url: {URL}"],
            id="password in a URL",
        ),
    ],
)
def test_an_inline_secret_is_refused_where_it_sits(text: str, expected: list[str]) -> None:
    assert secret_problems(text) == expected


def test_an_empty_secret_key_is_not_a_secret() -> None:
    assert secret_problems(BACKEND + '    api_key: ""\n') == []


def test_env_keys_naming_variables_are_accepted() -> None:
    assert secret_problems(BACKEND + "    api_key_env: MY_KEY\n    token_env: TOKEN_2\n") == []
