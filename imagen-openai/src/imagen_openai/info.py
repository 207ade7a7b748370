"""What ``imagen backends`` shows for an ``openai`` instance: its status and price per image.

Registered as the type's ``info``, so listing instances never imports the backend module (the
HTTP client side, answers, streams). ``OpenAIBackend`` answers the same; the plugin's tests
hold both to it.
"""

from __future__ import annotations

from imagen.models import Cost, Request, Status
from imagen.secrets import read_secret
from imagen_openai import pricing
from imagen_openai.plan import size_for
from imagen_openai.protocol import options_for
from imagen_openai.settings import OpenAISettings


class OpenAIInfo:
    def __init__(self, name: str, settings: OpenAISettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        if read_secret(self.settings.api_key_env) is None:
            return Status.not_configured(self.settings.api_key_env)
        deployment = self.settings.azure_deployment
        return Status.ready(f"Azure deployment {deployment}" if deployment else self.settings.model)

    def estimate_cost(self, request: Request) -> Cost | None:
        try:
            quality = options_for(self.settings, request).quality
            size, _ = size_for(self.settings, request)
        except ValueError:
            return None
        return pricing.estimate(self.settings.model, quality, size)
