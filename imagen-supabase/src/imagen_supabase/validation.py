"""Cross-field checks for ``imagen config validate`` that the sink schemas cannot express."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagen.config import Config
    from imagen.validation import Problems

STORAGE_TYPE = "supabase-storage"
USAGE_TYPE = "supabase-usage"


def check(config: Config, problems: Problems) -> None:
    """Warn about a storage sink that may run (enabled on/auto) without an ``owner_user_id``."""
    for name, instance in config.sinks.items():
        if instance.type != STORAGE_TYPE or instance.enabled == "off":
            continue
        owner = getattr(instance.settings, "owner_user_id", "")
        if not str(owner).strip():
            problems.warning(
                f"sinks.{name}.owner_user_id",
                f"sink {name!r} is enabled ({instance.enabled}) but owner_user_id is empty, so "
                "nothing will be uploaded; set it to your user's id in auth.users "
                "(select id from auth.users where email = '...')",
            )
