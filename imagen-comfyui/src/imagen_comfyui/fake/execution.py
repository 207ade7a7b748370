"""How the fake ComfyUI "executes" a prompt: the messages of a run, in ComfyUI's order.

Values flow along the graph's links as ComfyUI's do, reduced to what a test can check: an
IMAGE or LATENT is a size, a batch count and a fill colour. Samplers take the server's
``run_time`` over their steps; ``SaveImage`` and ``PreviewImage`` write real PNG files.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from imagen_comfyui.fake.server import FakeComfyUI, Queued

SAMPLERS = ("KSampler",)
PREVIEW_IMAGE = 1  # binary frame event type; the format word 2 means PNG
INPUT_DIR = "/srv/comfyui/input"


def now_ms() -> int:
    return int(time.time() * 1000)


class Interrupted(Exception):
    """``POST /interrupt`` reached the running prompt (checked between nodes and steps)."""


class NodeFailed(Exception):
    """A node raised while running; ``exception_type`` is what ComfyUI would report."""

    def __init__(self, exception_type: str, message: str) -> None:
        self.exception_type = exception_type
        super().__init__(message)


@attrs.frozen
class Pixels:
    """An IMAGE or LATENT batch as the fake knows it: size, batch, fill colour."""

    width: int
    height: int
    batch: int = 1
    color: tuple[int, int, int] = (0, 0, 0)


class Run:
    """One prompt being executed: the node order, messages sent, outputs and history."""

    def __init__(self, server: FakeComfyUI, item: Queued) -> None:
        self.server = server
        self.item = item
        self.prompt = item.prompt
        self.sid = item.client_id
        self.values: dict[str, tuple[Any, ...]] = {}
        self.finished: list[str] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.messages: list[list[Any]] = []
        self.status = "success"
        self.steps_sent = 0
        self.has_sampler = any(node["class_type"] in SAMPLERS for node in self.prompt.values())

    async def message(self, kind: str, data: dict[str, Any], *, record: bool = False) -> None:
        if record:
            self.messages.append([kind, data])
        # ComfyUI sends a prompt's events only to the socket that queued it; a prompt queued
        # without a client_id gets no events at all, only progress_state broadcasts.
        if self.sid is not None or kind == "progress_state":
            await self.server.send(kind, data, self.sid)

    async def progress_state(
        self, running: str | None, value: float = 0.0, maximum: float = 1.0
    ) -> None:
        nodes = {}
        for node in [*self.finished, *([running] if running else [])]:
            done = node != running
            nodes[node] = {
                "value": 1.0 if done else value, "max": 1.0 if done else maximum,
                "state": "finished" if done else "running", "node_id": node,
                "prompt_id": self.item.prompt_id, "display_node_id": node,
                "parent_node_id": None, "real_node_id": node,
            }  # fmt: skip
        await self.message("progress_state", {"prompt_id": self.item.prompt_id, "nodes": nodes})

    async def execute(self) -> None:
        prompt_id = self.item.prompt_id
        await self.message("execution_start", {"prompt_id": prompt_id, "timestamp": now_ms()},
                           record=True)  # fmt: skip
        await self.message("execution_cached", {"nodes": [], "prompt_id": prompt_id,
                                                "timestamp": now_ms()}, record=True)  # fmt: skip
        node = ""
        try:
            for node in self.order():
                if self.server.interrupt_requested:
                    raise Interrupted
                await self.progress_state(node)
                self.server.last_node = node
                self.server.changed()
                await self.message("executing", {"node": node, "display_node": node,
                                                 "prompt_id": prompt_id})  # fmt: skip
                await self.run_node(node)
                self.finished.append(node)
                await self.progress_state(None)
        except Interrupted:
            self.status = "error"
            await self.message("execution_interrupted", {
                "prompt_id": prompt_id, "node_id": node,
                "node_type": self.prompt[node]["class_type"],
                "executed": list(reversed(self.finished)), "timestamp": now_ms(),
            }, record=True)  # fmt: skip
            return
        except NodeFailed as failure:
            self.status = "error"
            await self.message("execution_error", {
                "prompt_id": prompt_id, "node_id": node,
                "node_type": self.prompt[node]["class_type"],
                "executed": list(reversed(self.finished)),
                "exception_message": f"{failure}\n", "exception_type": failure.exception_type,
                "traceback": ["  File \"execution.py\", in execute\n"],
                "current_inputs": {}, "current_outputs": [*self.item.outputs, node],
                "timestamp": now_ms(),
            }, record=True)  # fmt: skip
            return
        await self.message("execution_success", {"prompt_id": prompt_id, "timestamp": now_ms()},
                           record=True)  # fmt: skip

    def order(self) -> list[str]:
        """Dependencies before the nodes that use them, output nodes in the order given."""
        seen: list[str] = []

        def visit(node: str) -> None:
            if node in seen:
                return
            for value in self.prompt[node].get("inputs", {}).values():
                if isinstance(value, list) and len(value) == 2:
                    visit(str(value[0]))
            seen.append(node)

        for output in self.item.outputs:
            visit(output)
        return seen

    def linked(self, node: str, name: str) -> Any:
        value = self.prompt[node]["inputs"].get(name)
        if isinstance(value, list) and len(value) == 2:
            outputs = self.values.get(str(value[0]), ())
            return outputs[value[1]] if value[1] < len(outputs) else None
        return value

    async def run_node(self, node: str) -> None:
        class_type = self.prompt[node]["class_type"]
        inputs = self.prompt[node]["inputs"]
        result: tuple[Any, ...] = (None,) * len(self.server.definitions[class_type]["output"])
        if class_type in ("EmptySD3LatentImage", "EmptyLatentImage"):
            result = (
                Pixels(int(inputs["width"]), int(inputs["height"]), int(inputs["batch_size"])),
            )
        elif class_type == "EmptyImage":
            color = int(inputs["color"])
            rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
            result = (
                Pixels(int(inputs["width"]), int(inputs["height"]), int(inputs["batch_size"]), rgb),
            )
        elif class_type in SAMPLERS:
            latent = self.linked(node, "latent_image")
            await self.sample(node, int(inputs["steps"]))
            seed = hashlib.sha256(f"{inputs['seed']}".encode()).digest()
            if isinstance(latent, Pixels):
                result = (attrs.evolve(latent, color=(seed[0], seed[1], seed[2])),)
        elif class_type in ("VAEDecode", "VAEEncode", "ImageInvert"):
            source = self.linked(
                node, {"VAEDecode": "samples", "VAEEncode": "pixels"}.get(class_type, "image")
            )
            if isinstance(source, Pixels) and class_type == "ImageInvert":
                red, green, blue = source.color
                source = attrs.evolve(source, color=(255 - red, 255 - green, 255 - blue))
            result = (source,)
        elif class_type == "LoadImage":
            result = (self.load_image(str(inputs["image"])), None)
        elif class_type in ("SaveImage", "PreviewImage"):
            # No sampler: the run time goes here.
            if not self.has_sampler and await self.server.interrupted_within(self.server.run_time):
                raise Interrupted
            pixels = self.linked(node, "images")
            if not isinstance(pixels, Pixels):
                raise NodeFailed("AttributeError", "'NoneType' object has no attribute 'cpu'")
            kind = "output" if class_type == "SaveImage" else "temp"
            prefix = str(inputs.get("filename_prefix", "ComfyUI"))
            images = self.save_png(pixels, kind, prefix, self.prompt)
            self.outputs[node] = {"images": images}
            await self.message("executed", {"node": node, "display_node": node,
                                            "output": {"images": images},
                                            "prompt_id": self.item.prompt_id})  # fmt: skip
        self.values[node] = result

    async def sample(self, node: str, steps: int) -> None:
        for step in range(1, steps + 1):
            if await self.server.interrupted_within(self.server.run_time / steps):
                raise Interrupted
            progress = {"value": step, "max": steps, "prompt_id": self.item.prompt_id, "node": node}
            await self.message("progress", progress)
            if self.server.previews:
                await self.server.send_binary(_PREVIEW_FRAME, self.sid)
            self.steps_sent += 1
            self.server.changed()
            if (
                self.server.drop_socket_after is not None
                and self.steps_sent >= self.server.drop_socket_after
            ):
                self.server.drop_sockets(self.sid)

    def save_png(
        self, pixels: Pixels, kind: str, prefix: str, prompt: Mapping[str, Any]
    ) -> list[dict[str, str]]:
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        saved = []
        for _ in range(pixels.batch):
            if kind == "temp":
                prefix = "ComfyUI_temp_" + "".join(
                    random.choices("abcdefghijklmnopqrstuvwxyz", k=5)
                )
            counter = self.server.counters.get(prefix, 0) + 1
            self.server.counters[prefix] = counter
            # As ComfyUI's get_save_image_path: a prefix's folders are the file's subfolder.
            subfolder, _, base = prefix.rpartition("/")
            name = f"{base}_{counter:05}_.png"
            info = PngInfo()
            info.add_text("prompt", json.dumps(prompt))
            buffer = io.BytesIO()
            Image.new("RGB", (pixels.width, pixels.height), pixels.color).save(
                buffer, format="PNG", pnginfo=info, compress_level=1
            )
            self.server.files[(kind, subfolder, name)] = buffer.getvalue()
            saved.append({"filename": name, "subfolder": subfolder, "type": kind})
        return saved

    def load_image(self, name: str) -> Pixels:
        from PIL import Image, UnidentifiedImageError

        subfolder, _, filename = name.rpartition("/")
        data = self.server.files[("input", subfolder, filename)]
        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = image.convert("RGB")
                color = rgb.getpixel((0, 0))
                assert isinstance(color, tuple)
                return Pixels(image.width, image.height, 1, (color[0], color[1], color[2]))
        except UnidentifiedImageError:
            raise NodeFailed(
                "PIL.UnidentifiedImageError", f"cannot identify image file '{INPUT_DIR}/{name}'"
            ) from None

    def history_entry(self) -> dict[str, Any]:
        succeeded = self.status == "success"
        return {
            "prompt": self.item.as_list(),
            "outputs": self.outputs if succeeded else {},
            "status": {
                "status_str": self.status,
                "completed": succeeded,
                "messages": self.messages,
            },
            "meta": {node: _meta(node) for node in self.outputs} if succeeded else {},
        }


def _meta(node: str) -> dict[str, Any]:
    return {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}


def _preview_frame() -> bytes:
    """A binary preview frame: event type 1, image format 2 (PNG), then a small PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(buffer, format="PNG")
    return PREVIEW_IMAGE.to_bytes(4, "big") + (2).to_bytes(4, "big") + buffer.getvalue()


_PREVIEW_FRAME = _preview_frame()
