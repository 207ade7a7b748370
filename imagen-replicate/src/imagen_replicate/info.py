"""What ``imagen backends`` shows for a ``replicate`` instance: its status and price per image.

Registered as the type's ``info``, so listing instances never imports the backend module (the
HTTP toolkit, input building, output reading). ``ReplicateBackend`` answers the same; the
plugin's tests hold both to it.
"""

from __future__ import annotations

from imagen.models import Cost, Request, Status
from imagen.secrets import read_secret
from imagen_replicate.pricing import price_per_image
from imagen_replicate.settings import ReplicateSettings


class ReplicateInfo:
    def __init__(self, name: str, settings: ReplicateSettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        if read_secret(self.settings.api_token_env) is None:
            return Status.not_configured(self.settings.api_token_env)
        return Status.ready(self.settings.model)

    def estimate_cost(self, request: Request) -> Cost | None:
        """One take (one image) at the list price; None for a model without a known price."""
        return price_per_image(self.settings.model)
