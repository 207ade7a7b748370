"""``imagen log`` and ``imagen usage``: what was generated, and what it cost."""

from __future__ import annotations

from typing import Any, cast

import click


@click.command()
@click.option("--since", help="Only takes since DATE (YYYY-MM-DD, ISO time, or 7d / 24h / 30m).")
@click.option("-b", "--backend", help="Only takes of this backend instance or type.")
@click.option("-q", "--query", "text", help="Only takes whose prompt contains TEXT.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many takes to show.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def log(app: Any, since: str | None, backend: str | None, text: str | None, limit: int,
        as_json: bool) -> None:  # fmt: skip
    """Show recent takes from the local history, newest first."""
    from imagen import console
    from imagen.store.history import History, format_log, log_json
    from imagen.store.usage import nothing_recorded, parse_since

    config = app.config(hint=False)
    when = parse_since(since) if since else None
    with History.open(config.history.path) as history:
        entries = history.query(
            since=when, backend=backend, text=text, limit=limit, on_damage=_warn_damage
        )
    if as_json:
        click.echo(log_json(entries))
    elif entries:
        click.echo(format_log(entries))
    if not entries:
        console.note(nothing_recorded(when, filtered=bool(backend or text)))


@click.command()
@click.option("--since", help="Only takes since DATE (YYYY-MM-DD, ISO time, or 7d / 24h / 30m).")
@click.option("--by", type=click.Choice(["backend", "model", "caller", "day"]), default="backend",
              show_default=True, help="How to group the table.")  # fmt: skip
@click.option("--raw", is_flag=True, help="One row per take instead of groups.")
@click.option(
    "--source",
    help="Read usage from this sink (e.g. a supabase-usage sink) instead of local history.",
)
@click.pass_obj
def usage(app: Any, since: str | None, by: str, raw: bool, source: str | None) -> None:
    """Takes and cost, grouped with totals (tab-aligned table)."""
    from imagen import console
    from imagen.store.usage import format_usage, nothing_recorded, parse_since, unknown_cost_note

    config = app.config(hint=False)
    when = parse_since(since) if since else None
    rows = _rows_from_source(config, source, when) if source else _local_rows(config, when)
    if rows:
        click.echo(format_usage(rows, by=by, raw=raw))
    else:
        console.note(nothing_recorded(when))
    unknown = unknown_cost_note(rows)
    if unknown:
        console.note(unknown)


def _warn_damage(damage: Any) -> None:
    """A damaged history still shows what it can: one warning says what was skipped."""
    from imagen import console

    console.warn(damage.message())


def _local_rows(config: Any, when: Any) -> Any:
    from imagen.store.history import History

    with History.open(config.history.path) as history:
        return history.usage_rows(when, on_damage=_warn_damage)


def _rows_from_source(config: Any, source: str, when: Any) -> Any:
    from imagen.cli.signals import run
    from imagen.config.problems import did_you_mean
    from imagen.errors import ConfigError
    from imagen.plugins.loader import registry
    from imagen.sinks.protocol import UsageSource

    instance = config.sinks.get(source)
    if instance is None:
        raise ConfigError(
            f"no sink named {source!r}{did_you_mean(source, config.sinks)} "
            f"(configured sinks: {', '.join(config.sinks) or 'none'})"
        )
    sink = registry().sinks[instance.type].factory(instance.name, instance.settings)
    reports_usage = isinstance(sink, UsageSource)
    if not reports_usage:
        raise ConfigError(f"sink {source!r} ({instance.type}) cannot report usage")

    reader = cast(UsageSource, sink)

    async def read() -> Any:
        try:
            return await reader.usage_rows(when)
        finally:
            await sink.aclose()

    return run(read())
