"""imagen plugin for ComfyUI: the ``comfyui`` backend and ``imagen comfyui`` commands.

Only hookimpls live here; the backend, httpx, websockets and Pillow load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click

    from imagen.config.model import Config
    from imagen.config.problems import Problems
    from imagen.plugins.registry import BackendRegister


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen_comfyui.settings import SAMPLE, ComfyUISettings

    # By name: the backend module loads only when an instance is built; `imagen backends`
    # asks the light info module for status and price instead.
    register(
        "comfyui",
        "imagen_comfyui.backend:ComfyUIBackend",
        ComfyUISettings,
        sample=SAMPLE,
        concurrency=2,
        info="imagen_comfyui.info:ComfyUIInfo",
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_comfyui.cli import comfyui

    cli.add_command(comfyui)


@hookimpl
def validate_config(config: Config, problems: Problems) -> None:
    from imagen_comfyui.checks import check_workflows

    check_workflows(config, problems)
