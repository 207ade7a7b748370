"""What ``imagen backends`` shows for a ``gemini`` instance: its status and price per image.

Registered as the type's ``info``, so listing instances never imports the backend module (the
HTTP toolkit, the protocol). ``GeminiBackend`` answers the same; the plugin's tests hold both
to it.
"""

from __future__ import annotations

from imagen.models import Cost, Request, Status
from imagen.secrets import read_secret
from imagen_gemini import pricing
from imagen_gemini.settings import GeminiSettings


class GeminiInfo:
    def __init__(self, name: str, settings: GeminiSettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        if read_secret(self.settings.api_key_env) is None:
            return Status.not_configured(self.settings.api_key_env)
        return Status.ready(self.settings.model.removeprefix("models/"))

    def estimate_cost(self, request: Request) -> Cost | None:
        return pricing.estimate(self.settings.model.removeprefix("models/"))
