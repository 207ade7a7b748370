"""Secrets come from environment variables named in config (``*_env`` keys), never from YAML."""

from __future__ import annotations

import os

from imagen.errors import NotConfigured


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
