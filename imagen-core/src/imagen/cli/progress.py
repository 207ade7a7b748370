"""What ``imagen generate`` shows while it runs: a progress display on a TTY, paths on stdout."""

from __future__ import annotations

import sys
from typing import Any

import click

from imagen.errors import ImagenError
from imagen.models import Generation
from imagen.pipeline import Plan, absolute_path


class PathPrinter:
    """Prints each written path on stdout as soon as its take is on disk (nothing else)."""

    def __init__(self, print_paths: bool) -> None:
        self.print_paths = print_paths

    def take_started(self, take: int, total: int) -> None:
        return None

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        return None

    def take_finished(self, take: int, generation: Generation) -> None:
        if self.print_paths:
            click.echo(absolute_path(generation))

    def take_failed(self, take: int, error: ImagenError) -> None:
        return None

    def warning(self, message: str) -> None:
        click.echo(f"imagen: warning: {message}", err=True)

    def close(self) -> None:
        return None


class RichReporter(PathPrinter):
    """A per-take progress display on stderr, with the backend's messages."""

    def __init__(self, plan: Plan, print_paths: bool) -> None:
        super().__init__(print_paths)
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
        self.progress.start()

    def take_started(self, take: int, total: int) -> None:
        self.progress.start_task(self.tasks[take])
        self.progress.update(self.tasks[take], message="starting")

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        self.progress.update(self.tasks[take], completed=done, total=total, message=message)

    def take_finished(self, take: int, generation: Generation) -> None:
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
            click.echo(absolute_path(generation))

    def take_failed(self, take: int, error: ImagenError) -> None:
        self.progress.update(self.tasks[take], message="failed")

    def close(self) -> None:
        self.progress.stop()


def make_reporter(plan: Plan, *, print_paths: bool) -> PathPrinter:
    if sys.stderr.isatty():
        return RichReporter(plan, print_paths)
    return PathPrinter(print_paths)
