"""The ``imagen`` command line. Thin: each command parses options and calls one library function.

Only click is imported at start; every command imports what it needs when it runs, so
``imagen --help`` stays fast with every plugin installed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from imagen._version import __version__
from imagen.console import terminal_safe

CORE_COMMANDS = {
    "generate": "imagen.cli.generate:generate",
    "backends": "imagen.cli.info:backends",
    "plugins": "imagen.cli.info:plugins",
    "styles": "imagen.cli.info:styles",
    "config": "imagen.cli.config_cmd:config",
    "log": "imagen.cli.history_cmd:log",
    "usage": "imagen.cli.history_cmd:usage",
    "sync": "imagen.cli.sync_cmd:sync",
    "submit": "imagen.cli.jobs_cmd:submit",
    "jobs": "imagen.cli.jobs_cmd:jobs",
    "worker": "imagen.cli.jobs_cmd:worker",
}


class ImagenGroup(click.Group):
    """Core commands load on demand; plugin commands are added through ``register_commands``."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        from imagen.plugins.loader import call_each

        call_each("register_commands", lambda function: function(cli=self))

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted({*CORE_COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in CORE_COMMANDS:
            import importlib

            module, attr = CORE_COMMANDS[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        self._add_plugin_commands()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command with signals handled and stdout watched (``signals``, ``stdout``).

        Here rather than in ``main``: click's own handler would print a blank line before
        ``imagen: interrupted`` and end a closed pipe with code 1, not imagen's 141.
        """
        from imagen.cli import signals, stdout

        with signals.handled(), stdout.guarded():
            return super().invoke(ctx)


class App:
    """Per-invocation state shared by the commands: the config path and debug flag."""

    def __init__(self, config_path: str | None, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self._config: Any = None

    def config(self, *, hint: bool = True) -> Any:
        """The loaded config; without a config file, the built-in default and a one-line hint.

        The hint comes after loading: a file that was asked for (``--config``,
        ``IMAGEN_CONFIG``) and is missing is an error, never also "using the built-in" one.
        Commands that only read what was made (``log``, ``usage``) pass ``hint=False``: no
        backend runs there, so which one would is beside the point.
        """
        if self._config is None:
            from imagen.config.load import load_config
            from imagen.config.model import default_path

            try:
                config = load_config(self.config_path)
            finally:
                started()
            if config.source is None and hint:
                click.echo(
                    f"imagen: no config file at {default_path()}; using the built-in mock "
                    "backend (create one with: imagen config init)",
                    err=True,
                )
            self._config = config
        return self._config


def _not_empty_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # --config "" would otherwise name the current directory
    if value is not None and not value.strip():
        raise click.BadParameter("the config file path is empty; leave out --config", ctx, param)
    return value


@click.group(cls=ImagenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="imagen", message="%(prog)s %(version)s")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $IMAGEN_CONFIG or ~/.config/imagen/imagen.yaml).",
    callback=_not_empty_path,
)
@click.option("--debug", is_flag=True, default=False, help="Show tracebacks (also IMAGEN_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """imagen: one command for image generation, on whatever backend your config names.

    \b
    Quick start:
      imagen generate "a cat in a fishbowl"        (built-in mock backend, offline)
      imagen config init                           (write a config file to edit)
      imagen backends                              (what is configured, and its status)
    """
    if debug:
        from imagen import debug as debugging

        debugging.enable()
    ctx.obj = App(config_path, debug or os.environ.get("IMAGEN_DEBUG", "") not in ("", "0"))


def _skip_httpx_cli() -> None:
    """Keep ``import httpx`` from importing httpx's own command-line client.

    httpx's ``__init__`` imports ``httpx._main`` (click, rich, pygments) whenever those are
    installed, as they are here: about 150 ms on every generation with an HTTP backend, for a
    client imagen never runs. A stand-in module with the one name httpx takes from it avoids that.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    import types

    stand_in = types.ModuleType("httpx._main")

    def main() -> None:
        raise SystemExit("httpx's command line is not available inside imagen")

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


def usage_error_line(error: click.ClickException) -> str:
    """Click's own errors in imagen's style: ``imagen: error: ...`` on one line, with a hint.

    Click prints a three-line block (usage, "Try ...", "Error: ...") and capitalised sentences;
    imagen prints one line for every error, whoever raised it.
    """
    message = " ".join(error.format_message().split())
    message = message.replace(". (Did you mean", " (did you mean")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    message = message.removesuffix(".")
    context = error.ctx if isinstance(error, click.UsageError) else None
    hint = f" (see: {context.command_path} --help)" if context is not None else ""
    return f"imagen: error: {message}{hint}"


#: The collector's thresholds from before start-up, while ``main`` holds them raised.
_thresholds: tuple[int, int, int] | None = None


def _start_quietly() -> None:
    """Let the cyclic garbage collector run rarely until the config has loaded (``started``).

    Start-up (the plugins, the config's and the settings' classes) makes tens of thousands of
    objects that live as long as the process and next to no garbage, and the collector, at its
    default threshold of 700 new objects, walked them about 40 times on the way: some 5 ms of
    ``imagen backends`` (bench/startup.py). A command that never loads a config still gets a
    collection every 100,000 new objects, so nothing piles up unbounded.
    """
    global _thresholds
    import gc

    if _thresholds is None:
        _thresholds = gc.get_threshold()
        gc.set_threshold(100_000, *_thresholds[1:])


def started() -> None:
    """Start-up is over: the collector's own thresholds again (a no-op outside ``main``)."""
    global _thresholds
    import gc

    if _thresholds is not None:
        gc.set_threshold(*_thresholds)
        _thresholds = None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn errors into one line and an exit code."""
    _start_quietly()
    try:
        _run(argv)
    finally:
        started()


def _run(argv: list[str] | None) -> None:
    import atexit
    import gc

    from imagen.errors import ImagenError

    _skip_httpx_cli()
    # A short-lived process: the collector's pass over every object at exit only costs time.
    atexit.register(gc.freeze)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get(
        "IMAGEN_DEBUG", ""
    ) not in ("", "0")
    try:
        cli.main(args=argv, prog_name="imagen", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort) as stop:
        from imagen.cli.signals import exit_for

        exit_for(stop)
    except click.ClickException as error:
        if isinstance(error, click.exceptions.NoArgsIsHelpError):
            error.show()  # a group run bare: its help, not an error line
        else:
            click.echo(terminal_safe(usage_error_line(error)), err=True)
        sys.exit(error.exit_code)
    except ImagenError as error:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"imagen: error: {terminal_safe(str(error))}", err=True)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        # stdout closed early (imagen ... | head): not an error worth a traceback
        from imagen.cli.stdout import CLOSED_PIPE

        sys.stderr.close()
        sys.exit(CLOSED_PIPE)
    except Exception as error:
        if debug:
            raise
        click.echo(
            f"imagen: error: internal error: {type(error).__name__}: {terminal_safe(str(error))} "
            "(run with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
