"""Config checks beyond the schema: each comfyui instance's workflow and injection points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen.errors import ConfigError
from imagen_comfyui.settings import ComfyUISettings
from imagen_comfyui.workflow import WorkflowMissing, load_workflow

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.config.problems import Problems


def check_workflows(config: Config, problems: Problems) -> None:
    """Load every comfyui instance's workflow; report what is wrong at its YAML path.

    A workflow file that does not exist is only a warning here (it may be written later, or
    the config shared with a machine that has it); using that instance is an error.
    """
    for name, instance in config.backends.items():
        if instance.type != "comfyui" or not isinstance(instance.settings, ComfyUISettings):
            continue
        if not instance.settings.url.startswith(("http://", "https://")):
            problems.error(
                f"backends.{name}.url",
                "url must start with http:// or https://, like http://127.0.0.1:8188",
            )
        try:
            load_workflow(instance.settings, name)
        except WorkflowMissing as missing:
            problems.warning(missing.path or f"backends.{name}", missing.message)
        except ConfigError as error:
            problems.error(error.path or f"backends.{name}", error.message)
