"""``imagen supabase sql | migrate | url``: thin commands over migrate.py and the storage sink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import click

from imagen.errors import ConfigError, NotConfigured

if TYPE_CHECKING:
    from imagen.config.model import Config, SinkInstance


@click.group("supabase")
def supabase() -> None:
    """Supabase: apply the SQL migrations, sign URLs for synced images."""


@supabase.command("sql")
def sql() -> None:
    """Print the SQL migrations, in order.

    Paste the output into the Supabase SQL editor; every statement is safe to run twice.
    """
    from imagen_supabase.migrate import script

    click.echo(script(), nl=False)


@supabase.command("migrate")
@click.option("--db-url", metavar="URL", help="Postgres connection URL (prefer --db-url-env).")
@click.option(
    "--db-url-env",
    metavar="NAME",
    default="SUPABASE_DB_URL",
    show_default=True,
    help="Environment variable holding the connection URL.",
)
def migrate(db_url: str | None, db_url_env: str) -> None:
    """Apply the migrations this database lacks.

    Applied migrations are recorded in imagen_private.schema_migrations (a schema the API
    never serves); each runs in its own transaction. The URL holds the database password:
    prefer the environment variable.
    """
    from imagen_supabase.migrate import TRACKING_TABLE, apply, migrations

    url = db_url or os.environ.get(db_url_env, "").strip()
    if not url:
        raise NotConfigured(
            f"no database URL: set {db_url_env} to the project's connection string "
            "(Dashboard > Connect > Session pooler) or pass --db-url",
            env_var=db_url_env,
        )
    applied = apply(url)
    for name in applied:
        click.echo(f"applied {name}")
    if not applied:
        click.echo(f"up to date: all {len(migrations())} migrations are in {TRACKING_TABLE}")


@supabase.command("url")
@click.argument("path")
@click.option("--sink", "sink_name", metavar="NAME", help="Which supabase-storage sink to use.")
@click.option("--ttl", type=click.IntRange(min=1), help="Seconds the URL stays valid.")
@click.pass_context
def url(ctx: click.Context, path: str, sink_name: str | None, ttl: int | None) -> None:
    """Print a signed URL for a synced image.

    PATH is the image on disk (under output.directory), or its object name in the bucket
    (the storage_path column of imagen.images).
    """
    import asyncio

    from imagen_supabase.storage import SupabaseStorageSink

    config = _config(ctx)
    instance = storage_instance(config, sink_name)
    sink = SupabaseStorageSink(instance.name, instance.settings)
    if sink.connection.key() is None:
        env = instance.settings.key_env
        raise NotConfigured(f"sink {instance.name!r} is not configured: set {env}", env_var=env)
    target = remote_path(path, config.output.directory)

    async def sign() -> str:
        try:
            if isinstance(target, LocalImage):
                key = await sink.key_of(target.relative, target.sha256())
            else:
                key = target
            return await sink.signed_url(key, ttl)
        finally:
            await sink.aclose()

    click.echo(asyncio.run(sign()))


class LocalImage(NamedTuple):
    """An image on disk, by its path relative to the output directory."""

    file: Path
    relative: str

    def sha256(self) -> str:
        import hashlib

        try:
            with self.file.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as error:
            raise ConfigError(f"cannot read {self.file}: {error.strerror or error}") from None


def _config(ctx: click.Context) -> Config:
    """The config the ``imagen`` group loads (its ``--config``), or the default one."""
    app = ctx.find_root().obj
    if app is not None and hasattr(app, "config"):
        loaded: Config = app.config()
        return loaded
    from imagen.config.load import load_config

    return load_config()


def storage_instance(config: Config, name: str | None) -> SinkInstance:
    """The ``supabase-storage`` sink named ``name``, or the only one configured."""
    from imagen_supabase.validation import STORAGE_TYPE

    candidates = {n: i for n, i in config.sinks.items() if i.type == STORAGE_TYPE}
    if name is not None:
        if name not in config.sinks:
            known = ", ".join(sorted(candidates)) or "none"
            raise ConfigError(f"no sink named {name!r} (supabase-storage sinks: {known})")
        if name not in candidates:
            raise ConfigError(
                f"sink {name!r} is of type {config.sinks[name].type}, not {STORAGE_TYPE}"
            )
        return candidates[name]
    if not candidates:
        raise ConfigError(
            f"no {STORAGE_TYPE} sink in the config: add one under sinks: (imagen config sample)"
        )
    if len(candidates) > 1:
        raise ConfigError(
            f"several {STORAGE_TYPE} sinks ({', '.join(sorted(candidates))}): "
            "choose one with --sink"
        )
    return next(iter(candidates.values()))


def remote_path(path: str, output_directory: str) -> LocalImage | str:
    """What ``imagen supabase url PATH`` signs: a local image, or an object name in the bucket.

    A path that exists on disk (or is absolute) must lie under the output directory; anything
    else is taken as the object name already (``<owner>/2026-11-23/1201-cat-42.png``) and must
    stay inside the bucket: no ``..`` or ``.`` segment, as given or percent-decoded.
    """
    local = Path(path).expanduser()
    if not (local.is_absolute() or local.exists()):
        from imagen_supabase.connection import key_problem

        problem = key_problem(path)
        if problem is not None:
            raise ConfigError(
                f"{path!r} is not an object name inside the bucket ({problem}); give the image "
                "on disk, or its storage_path from imagen.images"
            )
        return path
    root = Path(output_directory).expanduser().resolve()
    resolved = local.resolve()
    try:
        relative = resolved.relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(
            f"{path} is not under the output directory {root}; give its path in the bucket"
        ) from None
    return LocalImage(resolved, relative)
