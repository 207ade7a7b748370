"""The ``openai`` instance block: model, key, where requests go (OpenAI, Azure, a compatible
server), and the Images API options every take sends."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from imagen.secrets import redact

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-image-2"
AZURE_API_VERSION = "2025-04-01-preview"
_SIZE = re.compile(r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")


def _check_size(instance: Any, attribute: Any, value: str) -> None:
    if not _SIZE.match(value):
        raise ValueError(
            f"size: expected WIDTHxHEIGHT (like 1024x1024) or auto, got {redact(repr(value))}"
        )


def _between(low: float, high: float) -> Any:
    def check(instance: Any, attribute: Any, value: float | None) -> None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"{attribute.name}: expected {low:g} to {high:g}, got {value!r}")

    return check


def _check_timeout(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"timeout: expected seconds above 0, got {value!r}")


@attrs.frozen
class OpenAISettings:
    """One ``type: openai`` block (``concurrency`` and ``cost_per_image`` are the framework's).

    With ``azure_deployment`` set, requests go to Azure OpenAI: ``{base_url}/openai/deployments/
    {azure_deployment}/images/...?api-version={api_version}`` with the key in ``api-key``.
    """

    model: str = DEFAULT_MODEL
    api_key_env: str = "OPENAI_API_KEY"
    base_url: str = DEFAULT_BASE_URL
    #: the size sent when the request gives neither --size nor --aspect (or ``auto``)
    size: str = attrs.field(default="1024x1024", validator=_check_size)
    #: low | medium | high | auto (newer models add tiers; the API checks the name)
    quality: str = "medium"
    output_format: Literal["png", "jpeg", "webp"] = "png"
    #: 0-100, for jpeg and webp
    output_compression: int | None = attrs.field(default=None, validator=_between(0, 100))
    background: Literal["auto", "opaque", "transparent"] | None = None
    moderation: Literal["auto", "low"] | None = None
    #: 1-3 streams the answer and reports each partial image as progress (each costs tokens)
    partial_images: int = attrs.field(default=0, validator=_between(0, 3))
    #: true: a count of N is one request with n=N; false: N requests, each landing on its own
    batch: bool = False
    #: seconds one take may last in all; high-quality renders take minutes
    timeout: float = attrs.field(default=300.0, validator=_check_timeout)
    azure_deployment: str | None = None
    api_version: str = AZURE_API_VERSION


SAMPLE = """\
# OpenAI Images API (GPT Image models): text-to-image, and edits from up to 16 reference images
# (--ref). Needs OPENAI_API_KEY in the environment. No seed: every take is a new image.
openai:
  type: openai
  model: gpt-image-2
  api_key_env: OPENAI_API_KEY
  # quality: medium         # low | medium | high | auto
  # size: 1024x1024         # when neither --size nor --aspect is given; or auto
  # output_format: png      # png | jpeg | webp
  # background: auto        # auto | opaque | transparent (gpt-image-1 family only)
  # moderation: auto        # auto | low
  # partial_images: 0       # 1-3: stream previews, reported as progress
  # batch: false            # true: -n N is one request with n=N
  # timeout: 300            # seconds per take
  # base_url: https://api.openai.com/v1   # an OpenAI-compatible server
  # concurrency: 4          # takes generated at once
  # cost_per_image: 0.053   # override the built-in price (USD)
# Azure OpenAI is the same block with a deployment:
#   base_url: https://RESOURCE.openai.azure.com
#   azure_deployment: gpt-image-1
#   api_version: 2025-04-01-preview
#   api_key_env: AZURE_OPENAI_API_KEY
"""
