"""The YAML block of a ``comfyui`` backend instance, and its commented sample.

The framework owns ``type``, ``concurrency`` and ``cost_per_image``; everything else here is
ours. Injection points are written ``"NODE_ID.INPUT_NAME"`` (``"6.text"``), the way a node's
input looks in ComfyUI's API-format workflow JSON.
"""

from __future__ import annotations

import attrs

DEFAULT_URL = "http://127.0.0.1:8188"


@attrs.frozen
class Inject:
    """Where a custom workflow receives each part of the request (``"NODE_ID.INPUT"``)."""

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: str | None = None
    width: str | None = None
    height: str | None = None
    steps: str | None = None
    batch_size: str | None = None
    image: str | None = None


@attrs.frozen
class Models:
    """Model file names for the built-in workflows; None keeps the workflow's default."""

    checkpoint: str | None = None
    unet: str | None = None
    clip_l: str | None = None
    t5xxl: str | None = None
    vae: str | None = None


@attrs.frozen
class ComfyUISettings:
    """A ComfyUI server and the workflow imagen runs on it."""

    url: str = DEFAULT_URL
    workflow: str = "flux-schnell"
    inject: Inject = Inject()
    models: Models = Models()
    timeout: float = 600.0
    headers_env: str | None = None


SAMPLE = """\
# ComfyUI on your own GPU box (or this machine): runs FLUX through a built-in workflow.
# Built-in workflows: flux-schnell, flux-dev (one checkpoint file) and flux-schnell-split,
# flux-dev-split (UNET + two CLIP files + VAE). `imagen comfyui models` lists the server's
# model files.
flux-schnell-local:
  type: comfyui
  url: http://127.0.0.1:8188
  workflow: flux-schnell
  # models:                      # file names the built-in workflow loads (these are defaults)
  #   checkpoint: flux1-schnell-fp8.safetensors
  timeout: 600                   # seconds for one image, queue time included
  # concurrency: 2               # images queued on the server at once
  # cost_per_image: 0.002        # your electricity or GPU-hour rate per image (default 0)
  # headers_env: COMFYUI_HEADERS # env var with "Name: value" lines for an authenticating proxy
# Your own workflow, exported from ComfyUI with "Export (API)": say which node inputs get what.
# my-workflow:
#   type: comfyui
#   workflow: ~/comfy/my-workflow-api.json
#   inject:
#     prompt: "6.text"
#     negative_prompt: "7.text"
#     seed: "3.seed"
#     width: "5.width"
#     height: "5.height"
#     steps: "3.steps"
#     batch_size: "5.batch_size"
"""
