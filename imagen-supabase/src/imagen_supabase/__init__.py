"""imagen plugin for Supabase: the ``supabase-storage`` and ``supabase-usage`` sinks and the
``imagen supabase`` commands (hookimpls only; everything else is imported inside the hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click

    from imagen.config.model import Config
    from imagen.config.problems import Problems
    from imagen.plugins.registry import SinkRegister


@hookimpl
def register_sinks(register: SinkRegister) -> None:
    from imagen_supabase.settings import (
        STORAGE_SAMPLE,
        USAGE_SAMPLE,
        StorageSettings,
        UsageSettings,
    )

    # By name: the sink modules (and httpx) load only when a sink of that type is built.
    register(
        "supabase-storage",
        "imagen_supabase.storage:SupabaseStorageSink",
        StorageSettings,
        sample=STORAGE_SAMPLE,
    )
    register(
        "supabase-usage",
        "imagen_supabase.usage:SupabaseUsageSink",
        UsageSettings,
        sample=USAGE_SAMPLE,
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_supabase.cli import supabase

    cli.add_command(supabase)


@hookimpl
def validate_config(config: Config, problems: Problems) -> None:
    from imagen_supabase.validation import check

    check(config, problems)
