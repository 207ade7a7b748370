"""Cross-field checks for ``imagen config validate`` that the sink schemas cannot express."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen.secrets import redact

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.config.problems import Problems

STORAGE_TYPE = "supabase-storage"
USAGE_TYPE = "supabase-usage"


def check(config: Config, problems: Problems) -> None:
    """Warn about a storage sink that may run (enabled on/auto) without an ``owner_user_id``;
    an ``owner_user_id`` that is not a UUID is an error (the column is ``uuid``)."""
    for name, instance in config.sinks.items():
        if instance.type != STORAGE_TYPE:
            continue
        owner = str(getattr(instance.settings, "owner_user_id", "")).strip()
        if owner and not _is_uuid(owner):
            problems.error(
                f"sinks.{name}.owner_user_id",
                f"{redact(repr(owner))} is not a UUID; use your user's id from auth.users "
                "(select id from auth.users where email = '...')",
            )
        if not owner and instance.enabled != "off":
            problems.warning(
                f"sinks.{name}.owner_user_id",
                f"sink {redact(repr(name))} is enabled ({instance.enabled}) but owner_user_id "
                "is empty, so nothing will be uploaded; set it to your user's id in auth.users "
                "(select id from auth.users where email = '...')",
            )


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
