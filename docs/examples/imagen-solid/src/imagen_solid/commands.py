"""``imagen solid ...``: the commands this plugin adds to the CLI."""

from __future__ import annotations

import click


@click.group()
def solid() -> None:
    """Solid-colour backend: helper commands."""


@solid.command()
@click.argument("prompt")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def color(prompt: str, seed: int) -> None:
    """Print the colour that "color: prompt" draws for PROMPT and SEED."""
    from imagen_solid.backend import prompt_color

    click.echo(prompt_color(prompt, seed))
