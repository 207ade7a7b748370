"""The YAML blocks of the two sink types, and their commented samples.

Each block carries its own connection (``url``, ``key_env``, ``timeout``), so a storage sink and a
usage sink may point at different projects. ``type`` and ``enabled`` belong to the framework.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class StorageSettings:
    """``type: supabase-storage``: upload each image to a private bucket, record it in a table."""

    url: str
    key_env: str = "SUPABASE_SERVICE_KEY"
    timeout: float = 30.0
    bucket: str = "imagen-generated"
    schema: str = "imagen"
    table: str = "images"
    owner_user_id: str = ""
    signed_url_ttl: int = 3600


@attrs.frozen
class UsageSettings:
    """``type: supabase-usage``: one row per take (no prompt, only its sha256) in a usage table."""

    url: str
    key_env: str = "SUPABASE_SERVICE_KEY"
    timeout: float = 30.0
    schema: str = "mai"
    table: str = "imagen_usage"


STORAGE_SAMPLE = """\
# Supabase Storage: upload every image to the private bucket imagen-generated at the same
# relative path as on disk, and insert a row into imagen.images. Needs the project's service key
# (legacy service_role JWT or sb_secret_...) in SUPABASE_SERVICE_KEY, and the migrations applied
# (imagen supabase migrate). owner_user_id is your id in auth.users (Dashboard > Authentication >
# Users, or: select id from auth.users where email = 'you@example.com'); the row-level security
# policy shows each image only to its owner.
cloud:
  type: supabase-storage
  enabled: auto
  url: https://your-project-ref.supabase.co
  key_env: SUPABASE_SERVICE_KEY
  owner_user_id: ""
  bucket: imagen-generated
  signed_url_ttl: 3600
"""

USAGE_SAMPLE = """\
# Supabase usage tracking: one row per take in mai.imagen_usage (backend, model, seed, latency,
# cost estimate, caller and the sha256 of the prompt; the prompt itself never leaves this
# machine). Also answers `imagen usage --source usage`.
usage:
  type: supabase-usage
  enabled: auto
  url: https://your-project-ref.supabase.co
  key_env: SUPABASE_SERVICE_KEY
  schema: mai
  table: imagen_usage
"""

__all__ = ["STORAGE_SAMPLE", "USAGE_SAMPLE", "StorageSettings", "UsageSettings"]
