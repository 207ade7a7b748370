"""``imagen config path | show | sample | validate | init``."""

from __future__ import annotations

from typing import Any

import click


@click.group()
def config() -> None:
    """Inspect, check and create the config file."""


@config.command()
@click.pass_obj
def path(app: Any) -> None:
    """Print the config file path (and say if it does not exist)."""
    from pathlib import Path

    from imagen.config.model import default_path

    chosen = Path(app.config_path).expanduser() if app.config_path else default_path()
    click.echo(str(chosen))
    if not chosen.exists():
        click.echo("imagen: (it does not exist yet; create it with: imagen config init)", err=True)


@config.command()
@click.pass_obj
def show(app: Any) -> None:
    """Print the effective config as YAML, defaults filled in and secrets redacted."""
    from imagen.config import yamlio
    from imagen.config.edit import redacted, unstructure_config

    click.echo(yamlio.dump(redacted(unstructure_config(app.config()))), nl=False)


@config.command()
def sample() -> None:
    """Print a commented sample config with a block for every installed plugin."""
    from imagen.config.sample import assemble_sample

    click.echo(assemble_sample(), nl=False)


@config.command()
@click.pass_obj
def validate(app: Any) -> None:
    """Check the config: schema errors, and warnings from plugins. Exit 2 on errors."""
    import sys

    from imagen.config.load import check_config
    from imagen.config.model import default_path

    source = app.config_path or str(default_path())
    _, problems = check_config(app.config_path)
    for problem in problems.items:
        click.echo(f"imagen: {problem.severity}: {problem}", err=True)
    if problems.errors:
        sys.exit(2)
    warnings = len(problems.warnings)
    click.echo(
        f"ok: {source}"
        + (f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else "")
    )


@config.command()
@click.pass_obj
def init(app: Any) -> None:
    """Write the commented sample to the config path; never overwrites an existing file."""
    import os
    from pathlib import Path

    from imagen.config.model import default_path
    from imagen.config.sample import assemble_sample
    from imagen.errors import ConfigError

    target = Path(app.config_path).expanduser() if app.config_path else default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{target} already exists; edit it, or compare with: imagen config sample"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(assemble_sample())
    click.echo(str(target))


@config.command(name="set")
@click.argument("key")
@click.argument("value")
@click.pass_obj
def set_(app: Any, key: str, value: str) -> None:
    """Set KEY (dotted, like output.directory) to VALUE, keeping comments and key order."""
    import os
    import tempfile
    from pathlib import Path

    from imagen.config import yamlio
    from imagen.config.edit import parse_value, set_value, setting_type
    from imagen.config.model import default_path

    target = Path(app.config_path).expanduser() if app.config_path else default_path()
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    root = yamlio.parse(text, file=str(target))
    current = yamlio.plain(root) if root is not None else {}
    # The setting's declared type decides: a text setting takes VALUE exactly as typed.
    typed = parse_value(value, setting_type(current, key))
    new_text = set_value(text, key, typed, file=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the file and rename over it: the config is never half-written.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".imagen-config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_text)
        if target.exists():
            os.chmod(temp, target.stat().st_mode & 0o777)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    click.echo(f"{key}: {value}", err=True)
