"""``imagen sync``: retry the deliveries sinks could not make, list them, or drop some."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from imagen.sinks.outbox import Outbox, PendingDelivery
    from imagen.sinks.sync import SyncResult


@click.command()
@click.option("--list", "list_only", is_flag=True, help="List pending deliveries; deliver nothing.")
@click.option("--drop", "drop_ids", type=int, multiple=True, metavar="ID",
              help="Remove a pending delivery without delivering it (repeatable).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.pass_obj
def sync(app: Any, /, list_only: bool, drop_ids: tuple[int, ...], as_json: bool) -> None:
    """Retry deliveries that sinks could not make (kept in the outbox).

    Exits 0 when nothing is left pending, 1 otherwise.
    """
    from imagen.sinks.outbox import Outbox

    with Outbox.open() as outbox:
        if drop_ids:
            _drop(outbox, drop_ids)
        if list_only:
            _list(outbox, as_json=as_json)
        elif not drop_ids:
            _sync(app, outbox, as_json=as_json)


def _drop(outbox: Outbox, ids: tuple[int, ...]) -> None:
    from imagen import console
    from imagen.errors import ConfigError

    for delivery_id in ids:
        if not outbox.drop(delivery_id):
            raise ConfigError(
                f"no pending delivery with id {delivery_id} (see: imagen sync --list)"
            )
        console.note(f"dropped delivery {delivery_id}")


def _list(outbox: Outbox, *, as_json: bool) -> None:
    from imagen import console
    from imagen.cli.output import echo_json, table

    pending = outbox.pending()
    if as_json:
        echo_json([delivery.to_dict() for delivery in pending])
        return
    if not pending:
        console.note("nothing pending")
        return
    rows = [
        [
            str(delivery.id),
            delivery.sink,
            str(delivery.attempts),
            delivery.generation.path + ("" if delivery.image_exists() else " (missing)"),
            ("" if delivery.retryable else "(needs a fix) ") + (delivery.last_error or ""),
        ]
        for delivery in pending
    ]
    click.echo(table(["ID", "SINK", "ATTEMPTS", "PATH", "LAST ERROR"], rows))


def _sync(app: Any, outbox: Outbox, *, as_json: bool) -> None:
    from imagen import console
    from imagen.cli.output import echo_json
    from imagen.cli.signals import run
    from imagen.sinks.sync import sync

    if not outbox.pending() and not as_json:
        console.note("nothing to sync")
        return
    config = app.config()
    results: list[SyncResult] = []

    def report(result: SyncResult) -> None:
        results.append(result)
        where = _where(result.delivery)
        if result.outcome != "synced":
            console.note(f"{result.delivery.sink}: {result.message} ({where})")
        elif not as_json:
            click.echo(f"synced {result.delivery.generation.path} -> {result.delivery.sink}")

    summary = run(sync(config, outbox, report=report))  # a signal cancels, then stops
    if as_json:
        echo_json(
            {
                "synced": summary.synced,
                "pending": summary.remaining,
                "deliveries": [
                    {
                        "id": r.delivery.id,
                        "sink": r.delivery.sink,
                        "path": r.delivery.generation.path,
                        "outcome": r.outcome,
                        "error": r.message,
                    }
                    for r in results
                ],
            }
        )
    else:
        console.note(summary.describe())
    if summary.remaining:
        sys.exit(1)


def _where(delivery: PendingDelivery) -> str:
    return f"delivery {delivery.id}, {delivery.generation.path}"
