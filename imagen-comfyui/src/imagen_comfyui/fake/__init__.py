"""A fake ComfyUI server for tests and benchmarks (needs aiohttp, a dev dependency)."""

from imagen_comfyui.fake.server import FakeComfyUI

__all__ = ["FakeComfyUI"]
