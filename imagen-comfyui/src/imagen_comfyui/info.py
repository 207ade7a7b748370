"""What ``imagen backends`` shows for a ``comfyui`` instance: its status and price per image.

Registered as the type's ``info``, so listing instances never imports the backend module (the
HTTP and websocket side, request mapping, failure reading). ``ComfyUIBackend`` answers the
same; the plugin's tests hold both to it.
"""

from __future__ import annotations

from decimal import Decimal

from imagen.errors import ConfigError
from imagen.models import Cost, Request, Status
from imagen.secrets import read_secret
from imagen_comfyui.settings import ComfyUISettings
from imagen_comfyui.workflow import load_workflow

#: Your own server charges nothing per image; ``cost_per_image`` in the block sets a rate.
FREE = Cost(Decimal(0), "your own ComfyUI server: no per-image charge")


class ComfyUIInfo:
    def __init__(self, name: str, settings: ComfyUISettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        try:
            load_workflow(self.settings, self.name)
        except ConfigError as error:
            return Status(False, f"config error: {error.message}")
        if self.settings.headers_env and read_secret(self.settings.headers_env) is None:
            return Status.not_configured(self.settings.headers_env)
        return Status.unchecked(self.settings.url.rstrip("/"))

    def estimate_cost(self, request: Request) -> Cost | None:
        return FREE
