"""``imagen comfyui ...``: commands for ComfyUI backends. Thin: each calls one library function."""

from __future__ import annotations

import click


@click.group()
def comfyui() -> None:
    """Commands for ComfyUI backends."""


@comfyui.command()
@click.option("--backend", "backend_name", metavar="NAME",
              help="A comfyui instance from the config (default: the first one).")  # fmt: skip
@click.pass_context
def models(ctx: click.Context, backend_name: str | None) -> None:
    """List the model files the ComfyUI server offers, per loader."""
    import asyncio

    from imagen_comfyui.listing import format_models, server_models

    # --config is an option of the root `imagen` group; without it load_config reads
    # $IMAGEN_CONFIG or the default file.
    config_path = ctx.find_root().params.get("config_path")
    listing = asyncio.run(server_models(config_path, backend_name))
    click.echo(format_models(listing), nl=False)
