"""The YAML blocks of the two sink types, and their commented samples.

Each block carries its own connection (``url``, ``key_env``, ``timeout``), so a storage sink and a
usage sink may point at different projects. ``type`` and ``enabled`` belong to the framework.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from urllib.parse import SplitResult

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifier(instance: Any, attribute: Any, value: str) -> None:
    # It goes into the REST path (/rest/v1/<table>) and a Profile header as it is.
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not a plain SQL name (letters, digits and _)"
        )


def _bucket(instance: Any, attribute: Any, value: str) -> None:
    # It goes into every Storage URL: one path segment, nothing that could step out of it.
    stepping = any(char in value for char in "/\\%?#") or not value.isprintable()
    if value in ("", ".", "..") or stepping:
        raise ValueError(f"bucket: {value!r} is not a bucket name (one name, no / or %)")


def _url(instance: Any, attribute: Any, value: str) -> None:
    # Empty is "not configured yet" (the sink says so when it runs); anything else must be
    # reachable, or every sync would fail and keep the deliveries waiting for nothing.
    from urllib.parse import urlsplit

    if not value:
        return
    try:
        parts = urlsplit(value)
    except ValueError as error:  # an unclosed [IPv6 address
        problem = str(error)
    else:
        problem = ""
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "not an http:// or https:// address"
        elif not _port_in_range(parts):
            problem = "the port must be a number from 1 to 65535"
    if problem:
        raise ValueError(
            f"url: {value!r}: {problem[:1].lower()}{problem[1:]}; use the project URL, "
            "like https://<ref>.supabase.co"
        )


def _port_in_range(parts: SplitResult) -> bool:
    try:
        return parts.port != 0  # None: the scheme's own
    except ValueError:  # out of range, or not a number
        return False


@attrs.frozen
class StorageSettings:
    """``type: supabase-storage``: upload each image to a private bucket, record it in a table."""

    url: str = attrs.field(validator=_url)
    key_env: str = "SUPABASE_SERVICE_KEY"
    timeout: float = 30.0
    bucket: str = attrs.field(default="imagen-generated", validator=_bucket)
    schema: str = attrs.field(default="imagen", validator=_identifier)
    table: str = attrs.field(default="images", validator=_identifier)
    owner_user_id: str = ""
    signed_url_ttl: int = 3600


@attrs.frozen
class UsageSettings:
    """``type: supabase-usage``: one row per take (no prompt, only its sha256) in a usage table."""

    url: str = attrs.field(validator=_url)
    key_env: str = "SUPABASE_SERVICE_KEY"
    timeout: float = 30.0
    schema: str = attrs.field(default="mai", validator=_identifier)
    table: str = attrs.field(default="imagen_usage", validator=_identifier)


STORAGE_SAMPLE = """\
# Supabase Storage: record each image in imagen.images, then upload it to the private bucket
# imagen-generated as <owner_user_id>/<its relative path on disk>. Setup: docs/supabase.md
# (imagen supabase migrate). Needs the service key (sb_secret_... or the legacy service_role
# JWT) in SUPABASE_SERVICE_KEY, and owner_user_id: your user's id in auth.users
# (select id from auth.users where email = 'you@example.com'); only the owner can read the
# images. Set enabled: auto once the project is ready.
cloud:
  type: supabase-storage
  enabled: "off"
  url: https://your-project-ref.supabase.co
  key_env: SUPABASE_SERVICE_KEY
  owner_user_id: ""
  bucket: imagen-generated
  signed_url_ttl: 3600
"""

USAGE_SAMPLE = """\
# Supabase usage log: one row per take in mai.imagen_usage (backend, model, seed, latency,
# cost estimate, caller, and the sha256 of the prompt; the prompt itself never leaves this
# machine). Read it back with: imagen usage --source usage. Set enabled: auto once the
# migrations are applied.
usage:
  type: supabase-usage
  enabled: "off"
  url: https://your-project-ref.supabase.co
  key_env: SUPABASE_SERVICE_KEY
  schema: mai
  table: imagen_usage
"""

__all__ = ["STORAGE_SAMPLE", "USAGE_SAMPLE", "StorageSettings", "UsageSettings"]
