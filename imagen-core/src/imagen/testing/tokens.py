"""Made-up tokens of every shape :func:`imagen.secrets.redact` knows, for tests that check a
message never quotes one::

    from hypothesis import given, strategies as st
    from imagen.testing.tokens import SHAPES, make_token, secret_part

    @given(rng=st.randoms(use_true_random=False), shape=st.sampled_from(SHAPES))
    def test_my_check_never_quotes_a_token(rng, shape):
        token = make_token(shape, rng)
        message = my_check(f"owner/name:{token}")
        assert secret_part(token) not in message

The tokens have the real providers' prefixes, lengths and alphabets; none is a real key.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
HEX = "0123456789abcdef"


def _chars(rng: random.Random, alphabet: str, low: int, high: int | None = None) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high or low)))


def _mixed(rng: random.Random, alphabet: str, low: int, high: int | None = None) -> str:
    """Random text that has an upper-case letter and a digit, as real keys of these sizes do."""
    body = list(_chars(rng, alphabet, low, high))
    for needed in (string.ascii_uppercase, string.digits):
        body.insert(rng.randint(0, len(body)), rng.choice(needed))
    return "".join(body)


def _generated(rng: random.Random) -> str:
    """A key without a known prefix: each character of another class (lower, upper, digit)
    than the one before it, as in random keys far more often than in names people write."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    out, current = [], rng.randrange(3)
    for _ in range(rng.randint(32, 64)):
        out.append(rng.choice(classes[current]))
        current = (current + rng.randint(1, 2)) % 3
    return "".join(out)


_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "replicate": lambda rng: "r8_" + _chars(rng, ALNUM, 37),
    "openai": lambda rng: "sk-" + _mixed(rng, ALNUM, 46),
    "openai-project": lambda rng: (
        "sk-" + rng.choice(["proj-", "svcacct-", "admin-"]) + _mixed(rng, B64URL, 40, 150)
    ),
    "anthropic": lambda rng: "sk-ant-api03-" + _mixed(rng, B64URL, 80, 95),
    "deepseek": lambda rng: "sk-" + rng.choice(string.digits) + _chars(rng, HEX, 31),
    "stripe": lambda rng: (
        rng.choice(["sk", "rk"]) + rng.choice(["_live_", "_test_"]) + _chars(rng, ALNUM, 24, 99)
    ),
    "supabase-secret": lambda rng: "sb_secret_" + _chars(rng, B64URL, 8, 60),
    "supabase-publishable": lambda rng: "sb_publishable_" + _chars(rng, B64URL, 8, 60),
    "jwt": lambda rng: (
        f"eyJ{_chars(rng, B64URL, 10, 40)}.eyJ{_chars(rng, B64URL, 10, 120)}."
        + _chars(rng, B64URL, 0, 86)
    ),
    "google": lambda rng: "AIza" + _chars(rng, B64URL, 35),
    "github": lambda rng: f"gh{rng.choice('pousr')}_" + _chars(rng, ALNUM, 36),
    "github-fine-grained": lambda rng: "github_pat_" + _chars(rng, ALNUM + "_", 22, 82),
    "huggingface": lambda rng: "hf_" + _chars(rng, ALNUM, 34),
    "slack": lambda rng: f"xox{rng.choice('abpr')}-" + _chars(rng, ALNUM + "-", 20, 60),
    "generic": _generated,
}

#: Every shape :func:`make_token` makes; all but "generic" are also refused in config values.
SHAPES: tuple[str, ...] = tuple(_MAKERS)

_PREFIXES = (
    "sk-ant-api03-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-proj-",
    "sb_publishable_",
    "sb_secret_",
    "github_pat_",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "AIza",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "r8_",
    "sk-",
    "eyJ",
    "hf_",
)


def make_token(shape: str, rng: random.Random) -> str:
    """A made-up token of ``shape`` (one of :data:`SHAPES`)."""
    return _MAKERS[shape](rng)


def secret_part(token: str) -> str:
    """``token`` without its public prefix: the part no message may show."""
    for prefix in _PREFIXES:
        if token.startswith(prefix):
            return token[len(prefix) :]
    return token


__all__ = ["SHAPES", "make_token", "secret_part"]
