"""What ``imagen comfyui models`` does: ask a configured server which model files it has."""

from __future__ import annotations

from collections.abc import Mapping

from imagen.errors import ConfigError


async def server_models(config_path: str | None, backend_name: str | None) -> dict[str, list[str]]:
    """The model files per loader of the comfyui instance ``backend_name`` (default: the first)."""
    from imagen.config.load import load_config
    from imagen.pipeline import open_backend
    from imagen_comfyui.backend import ComfyUIBackend

    config = load_config(config_path)
    name = backend_name or next(
        (key for key, instance in config.backends.items() if instance.type == "comfyui"), None
    )
    if name is None:
        raise ConfigError("no comfyui backend in the config; add one (imagen config sample)")
    backend = open_backend(config, name)
    try:
        if not isinstance(backend, ComfyUIBackend):
            raise ConfigError(
                f"backend {name} is not a comfyui backend; pass --backend with a comfyui instance"
            )
        return await backend.list_models()
    finally:
        await backend.aclose()


def format_models(listing: Mapping[str, list[str]]) -> str:
    """One heading per loader input, its files indented below (``(none)`` when empty)."""
    lines = []
    for loader, files in listing.items():
        lines.append(f"{loader}:")
        lines.extend(f"  {name}" for name in files or ["(none)"])
    return "\n".join(lines) + "\n"
