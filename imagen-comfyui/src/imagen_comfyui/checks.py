"""Config checks beyond the schema: each comfyui instance's workflow and injection points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen.errors import ConfigError
from imagen_comfyui.settings import ComfyUISettings
from imagen_comfyui.workflow import load_workflow

if TYPE_CHECKING:
    from imagen.config import Config
    from imagen.validation import Problems


def check_workflows(config: Config, problems: Problems) -> None:
    """Load every comfyui instance's workflow; report what is wrong at its YAML path."""
    for name, instance in config.backends.items():
        if instance.type != "comfyui" or not isinstance(instance.settings, ComfyUISettings):
            continue
        try:
            load_workflow(instance.settings, name)
        except ConfigError as error:
            problems.error(error.path or f"backends.{name}", error.message)
