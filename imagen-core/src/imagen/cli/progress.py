"""What ``imagen generate`` shows while it runs: a progress display on a TTY, paths on stdout.

The display is drawn only while the takes run and is always taken down (``close``), however the
run ends: a failure, Ctrl-C, SIGTERM or SIGHUP leave no hidden cursor and no stale frame.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from imagen.cli import stdout
from imagen.console import terminal_safe
from imagen.errors import ImagenError
from imagen.models import Generation
from imagen.pipeline import Plan, absolute_path


class PathPrinter:
    """Prints each written path on stdout as soon as its take is on disk (nothing else).

    A stdout that goes away (a closed pipe, a full device) stops the printing, never a take.
    """

    def __init__(self, print_paths: bool, output_dir: str) -> None:
        self.print_paths = print_paths
        stdout.note_if_lost(f"the images are in {output_dir} (see: imagen log)")

    def take_started(self, take: int, total: int) -> None:
        return None

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        return None

    def take_finished(self, take: int, generation: Generation) -> None:
        if self.print_paths:
            stdout.print_result(absolute_path(generation))

    def take_failed(self, take: int, error: ImagenError) -> None:
        return None

    def warning(self, message: str) -> None:
        click.echo(f"imagen: warning: {terminal_safe(message)}", err=True)

    def close(self) -> None:
        return None


class RichReporter(PathPrinter):
    """A per-take progress display on stderr, with the backend's messages."""

    def __init__(self, plan: Plan, print_paths: bool) -> None:
        super().__init__(print_paths, plan.output_dir)
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"),
            BarColumn(),
            TextColumn("{task.fields[message]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            # stdout carries only paths and may be a pipe: never capture it into the display.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        total = len(plan.seeds)
        self.tasks: dict[int, Any] = {}
        for take in range(1, total + 1):
            label = f"{plan.instance.name} {take}/{total}" if total > 1 else plan.instance.name
            self.tasks[take] = self.progress.add_task(
                "", total=None, label=label, message="waiting", start=False
            )
        # Drawn from the first take on: from then on the run's cleanup always reaches close().
        self.drawing = False

    def _draw(self) -> None:
        if not self.drawing:
            self.drawing = True
            self.progress.start()

    def take_started(self, take: int, total: int) -> None:
        self._draw()
        self.progress.start_task(self.tasks[take])
        self.progress.update(self.tasks[take], message="starting")

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        self._draw()
        self.progress.update(self.tasks[take], completed=done, total=total, message=message)

    def take_finished(self, take: int, generation: Generation) -> None:
        self._draw()
        task = self.tasks[take]
        self.progress.update(task, completed=1, total=1, message="done")
        if not self.print_paths:
            return
        if sys.stdout.isatty():
            # Same terminal as the display: print above it so the redraw does not eat the line.
            self.progress.console.print(
                absolute_path(generation), soft_wrap=True, highlight=False, markup=False
            )
        else:
            stdout.print_result(absolute_path(generation))

    def take_failed(self, take: int, error: ImagenError) -> None:
        self._draw()
        self.progress.update(self.tasks[take], message="failed")

    def warning(self, message: str) -> None:
        if not self.drawing:
            super().warning(message)
            return
        # Printed above the display: a plain write would be torn by the next redraw.
        self.progress.console.print(
            f"imagen: warning: {terminal_safe(message)}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )

    def close(self) -> None:
        """Take the display down: clear its last frame and show the cursor again."""
        if not self.drawing:
            return
        self.drawing = False
        # A terminal that is gone (SIGHUP) has nothing left to restore.
        with contextlib.suppress(OSError):
            self.progress.stop()


def make_reporter(plan: Plan, *, print_paths: bool) -> PathPrinter:
    if sys.stderr.isatty():
        return RichReporter(plan, print_paths)
    return PathPrinter(print_paths, plan.output_dir)
