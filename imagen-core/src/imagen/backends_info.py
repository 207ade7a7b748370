"""What ``imagen backends`` (and the server's ``GET /v1/backends``) reports per instance."""

from __future__ import annotations

from typing import Any

from imagen.config import MOCK_INSTANCE, Config
from imagen.errors import ImagenError
from imagen.models import Request


def describe_backends(config: Config) -> list[dict[str, Any]]:
    """One row per instance: name, type, status (no network) and price per image."""
    from imagen.instances import default_concurrency, instance_for, open_backend

    names = list(config.backends)
    if MOCK_INSTANCE not in names:
        names.append(MOCK_INSTANCE)
    rows = []
    for name in names:
        instance = instance_for(config, name)
        try:
            backend = open_backend(config, name)
            status = str(backend.status())
            if instance.cost_per_image is not None:
                price = f"${instance.cost_per_image}/image (config)"
            else:
                cost = backend.estimate_cost(Request(prompt="price check"))
                price = f"{cost.format()}/image" if cost is not None else "unknown"
        except ImagenError as error:
            status, price = f"error: {error}", "unknown"
        rows.append(
            {
                "name": name,
                "type": instance.type,
                "status": status,
                "price": price,
                "concurrency": default_concurrency(instance),
                "default": name == config.default_backend,
            }
        )
    return rows
