"""``imagen backends``, ``imagen plugins``, ``imagen styles``: what is installed and configured."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option(
    "--check", is_flag=True, help="Ask each server whether it answers (a few seconds at most)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def backends(app: Any, check: bool, as_json: bool) -> None:
    """List backend instances: type, status and price per image.

    Without --check nothing is sent over the network: a backend that needs a server says
    "server not checked".
    """
    from imagen.cli.output import echo_json, table

    if check:
        import asyncio

        from imagen.backends_info import check_backends

        rows = asyncio.run(check_backends(app.config()))
    else:
        from imagen.backends_info import describe_backends

        rows = describe_backends(app.config())
    if as_json:
        echo_json(rows)
        return
    click.echo(
        table(
            ["NAME", "TYPE", "STATUS", "PRICE"],
            [
                [("* " if r["default"] else "  ") + r["name"], r["type"], r["status"], r["price"]]
                for r in rows
            ],
        )
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List loaded plugins: name, distribution, version and the hooks they implement."""
    from imagen.cli.output import echo_json, table
    from imagen.plugins.loader import plugin_infos

    infos = plugin_infos()
    if as_json:
        echo_json([info._asdict() for info in infos])
        return
    click.echo(
        table(
            ["NAME", "DISTRIBUTION", "VERSION", "HOOKS"],
            [[i.name, i.distribution, i.version, ", ".join(i.hooks)] for i in infos],
        )
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def styles(app: Any, as_json: bool) -> None:
    """List style presets (built-in, from plugins, and from your config)."""
    import attrs

    from imagen.cli.output import echo_json, table
    from imagen.pipeline import styles_for

    merged = styles_for(app.config())
    if as_json:
        echo_json([attrs.asdict(style) for style in merged.values()])
        return
    rows = []
    for style in sorted(merged.values(), key=lambda s: s.name):
        defaults = ", ".join(
            f"{key} {value}"
            for key, value in (
                ("aspect", style.aspect_ratio),
                ("size", style.size),
                ("steps", style.steps),
            )
            if value
        )
        rows.append([style.name, style.source, defaults or "-", style.description or style.prompt])
    click.echo(table(["NAME", "SOURCE", "DEFAULTS", "DESCRIPTION"], rows))
