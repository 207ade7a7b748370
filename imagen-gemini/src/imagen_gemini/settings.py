"""The ``gemini`` instance block: which model, where the key lives, where to send requests."""

from __future__ import annotations

import attrs

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-2.5-flash-image"


@attrs.frozen
class GeminiSettings:
    """One ``type: gemini`` block (``concurrency`` and ``cost_per_image`` belong to the framework).

    ``timeout`` is how many seconds to wait for one answer; a generation usually takes 5-20 s.
    """

    model: str = DEFAULT_MODEL
    api_key_env: str = "GEMINI_API_KEY"
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 120.0


SAMPLE = """\
# Gemini (Google AI Studio): gemini-2.5-flash-image, text-to-image and image-to-image from
# reference photos (--ref, up to 3). Needs GEMINI_API_KEY in the environment. Gemini picks the
# pixel size from the aspect ratio (1:1 is 1024x1024); it has no seed or negative prompt.
gemini:
  type: gemini
  model: gemini-2.5-flash-image
  api_key_env: GEMINI_API_KEY
  # base_url: https://generativelanguage.googleapis.com   # change for a proxy
  # timeout: 120          # seconds to wait for one image
  # concurrency: 4        # takes generated at once
  # cost_per_image: 0.039 # override the built-in price (USD)
"""
