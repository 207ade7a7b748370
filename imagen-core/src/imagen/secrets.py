"""Secrets: read from environment variables named in config (``*_env`` keys), never from YAML;
and recognised by their shape, so that no message ever quotes one.

:func:`redact` is the one rule for every message that quotes a config value or key. The core
applies it to every config problem (plugins' ``validate_config`` problems and settings
validators included); a plugin that builds its own message from a user's value calls it too::

    from imagen.secrets import redact

    raise ValueError(f"model {redact(repr(value))} is not a model ref")

Shapes it knows (each replaced by its public prefix and ``***``, like ``r8_***``): Replicate
``r8_``, OpenAI and Anthropic ``sk-`` (``sk-proj-``, ``sk-ant-``...), Stripe ``sk_live_``,
Supabase ``sb_secret_`` and ``sb_publishable_``, JWTs (``eyJ...``), Google API keys
(``AIza...``), GitHub (``ghp_``, ``gho_``, ``github_pat_``...), Hugging Face ``hf_``, Slack
``xox?-``, AWS access key ids, passwords inside URLs, and any other long high-entropy run of
``[A-Za-z0-9_-]`` (replaced by ``***``).
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Final

from imagen.errors import NotConfigured

MASK: Final = "***"

# A token starts where a word does, so "task-generation-..." does not read as an "sk-" key,
# and everything after its prefix up to the end of the run of token characters is hidden.
_START: Final = r"(?<![A-Za-z0-9])"
_REST: Final = r"[A-Za-z0-9_-]*"

# (length of the public prefix shown in place of the token, pattern).
_SHAPES: Final[tuple[tuple[int, str], ...]] = (
    (3, r"r8_[A-Za-z0-9][A-Za-z0-9_-]{15,}"),  # Replicate
    (3, r"sk-(?:[a-z]{2,8}-)*[A-Za-z0-9_-]{16,}"),  # OpenAI, Anthropic, DeepSeek: see _plausible_sk
    (8, r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    (10, r"sb_secret_[A-Za-z0-9_-]{8,}"),  # Supabase
    (15, r"sb_publishable_[A-Za-z0-9_-]{8,}"),
    (3, r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_.-]*"),  # JWT (Supabase legacy keys)
    (4, r"AIza[A-Za-z0-9_-]{20,}"),  # Google API key
    (4, r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    (11, r"github_pat_[A-Za-z0-9_]{20,}"),
    (3, r"hf_[A-Za-z0-9]{20,}"),  # Hugging Face
    (5, r"xox[abeprs]-[A-Za-z0-9-]{10,}"),  # Slack
    (4, r"(?:AKIA|ASIA)[A-Z0-9]{16}"),  # AWS access key id
)
_KNOWN: Final = re.compile(
    "|".join(
        f"(?P<t{index}>{_START}{pattern}{_REST})" for index, (_, pattern) in enumerate(_SHAPES)
    )
)
_PREFIX_LENGTHS: Final = {f"t{index}": length for index, (length, _) in enumerate(_SHAPES)}
_URL_PASSWORD: Final = re.compile(
    r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^/@\s]+@"
)
# Words are scanned one at a time, so every pattern above sees at most _MAX_WORD characters
# and a hostile value cannot make a message slow to build.
_WORD: Final = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_WORD: Final = 512
_LONG_RUN: Final = re.compile(r"[A-Za-z0-9_-]{32,}")

# A generated token changes character class (lower, upper, digit) at about 60% of adjacent
# pairs; names people write (Juggernaut_XL_v9_RunDiffusionPhoto_v2, DPMpp2MKarras) at most
# about a third, since a class changes only where a word does. Measured over 10^5 random
# 32-character base64url strings, fewer than 0.3% fall below this line.
_MIN_SWITCH_SHARE: Final = 0.36


def read_secret(env_var: str | None) -> str | None:
    """The value of ``env_var`` if it is set and non-empty, else None."""
    if not env_var:
        return None
    value = os.environ.get(env_var, "").strip()
    return value or None


def require_secret(env_var: str, *, what: str) -> str:
    """The value of ``env_var``, or NotConfigured telling the user to set it."""
    value = read_secret(env_var)
    if value is None:
        raise NotConfigured(f"{what} is not configured: set {env_var}", env_var=env_var)
    return value


def looks_like_secret(text: str) -> bool:
    """True when ``text`` holds a token of a known provider's shape or a password in a URL.

    This is what config loading refuses as an inline secret. Long high-entropy runs without a
    known prefix are only redacted (:func:`redact`), never refused: a model or file name may
    look like one.
    """
    if _URL_PASSWORD.search(text):
        return True
    # A token starts near the front of its word; looking further only costs time.
    words = (word.group()[:_MAX_WORD] for word in _WORD.finditer(text))
    return any(_known_in(word) != word for word in words)


def has_url_password(text: str) -> bool:
    """True when ``text`` holds a URL with a password in it (``scheme://user:password@``)."""
    return _URL_PASSWORD.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every token-shaped run replaced by its public prefix and ``***``.

    Ordinary text is left alone: model refs (``black-forest-labs/flux-schnell``, a pinned
    64-hex version), paths, prompts and names such as ``Juggernaut_XL_v9`` are kept. A run of
    token characters longer than 512 is hidden whole: nothing that long is worth quoting.
    """
    text = _URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)
    return _WORD.sub(_redact_word, text)


def _redact_word(match: re.Match[str]) -> str:
    word = match.group()
    if len(word) > _MAX_WORD:
        return MASK
    return _LONG_RUN.sub(_generic_replacement, _known_in(word))


def _known_in(word: str) -> str:
    return _KNOWN.sub(_known_replacement, word)


def _known_replacement(match: re.Match[str]) -> str:
    token = match.group()
    if token.startswith("sk-") and not _plausible_sk(token):
        return token
    return token[: _PREFIX_LENGTHS[match.lastgroup or ""]] + MASK


def _plausible_sk(token: str) -> bool:
    """An ``sk-`` key has a digit, and both cases or a long unbroken run (DeepSeek's 32 hex);
    so a name such as ``sk-generation-with-controlnet-v2`` stays readable."""
    return any(c.isdigit() for c in token) and (
        any(c.isupper() for c in token) or re.search(r"[A-Za-z0-9]{24}", token) is not None
    )


def _generic_replacement(match: re.Match[str]) -> str:
    run = match.group()
    return MASK if _high_entropy(run) else run


def _high_entropy(run: str) -> bool:
    """True for a long run of mixed-case characters that changes class like random text."""
    if not (any(c.islower() for c in run) and any(c.isupper() for c in run)):
        return False  # hex digests (pinned model versions) and UPPER_SNAKE names are not secrets
    pairs = switches = 0
    for word in re.split(r"[_-]+", run):
        for left, right in itertools.pairwise(word):
            pairs += 1
            switches += _char_class(left) != _char_class(right)
    return pairs > 0 and switches >= _MIN_SWITCH_SHARE * pairs


def _char_class(char: str) -> int:
    return 0 if char.islower() else 1 if char.isupper() else 2


__all__ = [
    "MASK",
    "has_url_password",
    "looks_like_secret",
    "read_secret",
    "redact",
    "require_secret",
]
