"""The ``replicate`` instance block: what a user writes under ``backends:``."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from imagen.secrets import redact

DEFAULT_BASE_URL = "https://api.replicate.com"

# owner/name, optionally pinned to a version id: owner/name:version, where a version id is
# 64 lower-case hex digits (what the API's versions endpoint lists and predictions accept)
_MODEL_REF = re.compile(r"^[\w.-]+/[\w.-]+(:[0-9a-f]{64})?$")

# Whole-prediction deadlines by model family (seconds), longest match wins over the fallback.
_TIMEOUTS_BY_FAMILY = (("schnell", 60.0), ("dev", 120.0))
FALLBACK_TIMEOUT = 180.0


def _check_model(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not _MODEL_REF.match(value):
        # A token pasted after the colon is a common slip: never quote it back.
        raise ValueError(
            f"model {redact(repr(value))} is not a Replicate model ref: write owner/name "
            "(black-forest-labs/flux-schnell) or owner/name:version with the model's 64-digit "
            "version id"
        )


def _check_positive(_: Any, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value}")


@attrs.frozen
class ReplicateSettings:
    """One ``type: replicate`` instance.

    ``input`` holds model inputs merged into every prediction (``go_fast``, ``output_quality``,
    ``megapixels``...); the request's own fields and ``--opt`` values win over them.
    """

    model: str = attrs.field(validator=_check_model)
    api_token_env: str = "REPLICATE_API_TOKEN"
    timeout: float | None = attrs.field(default=None, validator=_check_positive)
    output_format: Literal["png", "jpg", "webp"] = "png"
    input: dict[str, Any] = attrs.field(factory=dict)
    base_url: str = DEFAULT_BASE_URL

    @property
    def model_name(self) -> str:
        """``owner/name`` without the version."""
        return self.model.split(":", 1)[0]

    @property
    def version(self) -> str | None:
        """The pinned version id, if the ref has one."""
        return self.model.split(":", 1)[1] if ":" in self.model else None

    @property
    def deadline(self) -> float:
        """Seconds a whole prediction may take: ``timeout`` or the model family's default."""
        if self.timeout is not None:
            return self.timeout
        name = self.model_name.rsplit("/", 1)[-1].lower()
        for family, seconds in _TIMEOUTS_BY_FAMILY:
            if family in name.split("-"):
                return seconds
        return FALLBACK_TIMEOUT


SAMPLE = """\
# Replicate: hosted FLUX models; needs REPLICATE_API_TOKEN in the environment.
# model is owner/name (latest version) or owner/name:version (pinned).
# timeout defaults by model: 60 s for schnell, 120 s for dev, 180 s otherwise.
flux-schnell-replicate:
  type: replicate
  model: black-forest-labs/flux-schnell
  api_token_env: REPLICATE_API_TOKEN
  output_format: png          # png | jpg | webp
  # concurrency: 4            # takes running at once
  # cost_per_image: 0.003     # override the built-in price (USD)
flux-dev-replicate:
  type: replicate
  model: black-forest-labs/flux-dev
  api_token_env: REPLICATE_API_TOKEN
  timeout: 120
  # input:                    # model inputs merged into every prediction
  #   go_fast: true
  #   output_quality: 90
"""
