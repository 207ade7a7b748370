"""``imagen submit``, ``imagen jobs ...`` and ``imagen worker``: the job queue from a shell.

Each command parses its options and calls one library function (``imagen.jobs``); the queue
is the one ``queue:`` in config names (the built-in ``local`` one unless set).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from imagen.cli.generate import generate as _generate

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.model import Job, JobState
    from imagen.jobs.queue import Queue
    from imagen.jobs.worker import Worker

T = TypeVar("T")

#: generate's options that mean the same for a job (the rest: preview, dry run, json)
_SHARED = ("prompt", "backend", "style", "size", "aspect", "steps", "seed", "count", "negative",
           "refs", "opts", "output", "no_cache", "no_cloud", "max_cost", "caller")  # fmt: skip
_STATES = ("queued", "running", "done", "failed", "canceled", "interrupted")


def _with_queue(app: Any, work: Callable[[Queue], Awaitable[T]]) -> T:
    """Open the configured queue, run ``work`` with it (signals cancel it), close it."""
    from imagen.cli import signals
    from imagen.jobs.queue import open_queue

    config = app.config()

    async def run() -> T:
        queue = open_queue(config)
        try:
            return await work(queue)
        finally:
            await queue.aclose()

    return signals.run(run())


def _echo_err(line: str) -> None:
    click.echo(f"imagen: {line}", err=True)


# -- imagen submit -----------------------------------------------------------------------------


@click.command(params=[p for p in _generate.params if p.name in _SHARED])
@click.option("--wait", is_flag=True, help="Follow the job: progress on stderr, paths on stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON instead of its id.")
@click.pass_obj
def submit(app: Any, /, prompt: str, wait: bool, as_json: bool, **options: Any) -> None:
    """Queue PROMPT as a job; print its id and the cost estimate (a worker runs it)."""
    from decimal import Decimal

    from imagen.cli.generate import _options
    from imagen.cli.parsing import build_request
    from imagen.jobs.submit import submit as submit_job

    if not prompt.strip():
        raise click.UsageError("the prompt is empty; say what to draw")
    request = build_request(
        prompt,
        style=options["style"],
        size=options["size"],
        aspect=options["aspect"],
        steps=options["steps"],
        seed=options["seed"],
        count=options["count"],
        negative=options["negative"],
        refs=options["refs"],
        options=_options(options["opts"]),
    )
    config = app.config()
    max_cost = options["max_cost"]

    async def work(queue: Queue) -> Job:
        job = await submit_job(
            queue,
            config,
            request,
            backend=options["backend"],
            output_dir=options["output"],
            caller=options["caller"],
            use_cache=not options["no_cache"],
            no_cloud=options["no_cloud"],
            max_cost=Decimal(str(max_cost)) if max_cost is not None else None,
        )
        _echo_err(_queued_line(job))
        if not wait:
            return job
        return await _follow(queue, job.id, print_paths=not as_json)

    job = _with_queue(app, work)
    if as_json:
        _print_json(job)
    elif not wait:
        click.echo(job.id)
    if wait:
        _exit_for(job)


def _queued_line(job: Job) -> str:
    from imagen import cost

    takes = f"{job.takes_total} take{'s' if job.takes_total != 1 else ''}"
    notice = cost.notice(job.cost_estimate, job.takes_total, job.backend)
    if notice:
        return f"job {job.id} queued: {notice}"
    if job.cost_estimate is None:
        return f"job {job.id} queued: {takes} on {job.backend} (cost unknown)"
    return f"job {job.id} queued: {takes} on {job.backend}, free"


async def _follow(queue: Queue, job_id: str, *, print_paths: bool) -> Job:
    """Follow a job to its end: one stderr line per take event, each image path on stdout."""
    from imagen.jobs.submit import follow

    shown: dict[tuple[int, str], int] = {}

    def on_change(job: Job) -> None:
        for take in job.takes:
            key = (take.number, take.state)
            if take.state == "queued" or (key in shown and shown[key] >= len(take.images)):
                continue
            if take.state == "running" and key not in shown:
                _echo_err(f"job {job.id}: take {take.number}/{job.takes_total} running")
            elif take.state == "done":
                for image in take.images[shown.get(key, 0) :]:
                    if print_paths:
                        click.echo(image.path)
            elif take.state == "failed" and take.error is not None:
                _echo_err(f"job {job.id}: take {take.number} failed: {take.error.detail}")
            shown[key] = len(take.images)

    return await follow(queue, job_id, on_change=on_change)


def _print_json(job: Job) -> None:
    from imagen.cli.output import echo_json
    from imagen.jobs.model import job_to_dict

    echo_json(job_to_dict(job))


def _exit_for(job: Job) -> None:
    """Exit like ``imagen generate``: 0 when every take is done, else one line and 1."""
    if job.state == "done":
        return
    if job.finished:
        detail = job.error.detail if job.error is not None else job.state
        click.echo(f"imagen: error: job {job.id} {job.state}: {detail}", err=True)
    else:
        click.echo(f"imagen: job {job.id} is still {job.state}", err=True)
    sys.exit(1)


# -- imagen jobs -------------------------------------------------------------------------------


@click.group(invoke_without_command=True)
@click.option("--state", "states", multiple=True, type=click.Choice(_STATES),
              help="Only jobs in this state (repeatable).")  # fmt: skip
@click.option("--backend", help="Only jobs on this backend instance.")
@click.option("--caller", help="Only jobs of this caller.")
@click.option("--text", help="Only jobs whose prompt contains this text.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def jobs(
    ctx: click.Context,
    states: tuple[str, ...],
    backend: str | None,
    caller: str | None,
    text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List jobs, newest first (and show, cancel, pick or wait for one)."""
    if ctx.invoked_subcommand is not None:
        return
    from imagen.jobs.queue import JobQuery

    chosen = cast("tuple[JobState, ...]", states)
    query = JobQuery(states=chosen, caller=caller, backend=backend, text=text, limit=limit)
    found = _with_queue(ctx.obj, lambda queue: queue.list(query))
    if as_json:
        from imagen.cli.output import echo_json
        from imagen.jobs.model import job_to_dict

        echo_json([job_to_dict(job) for job in found])
        return
    if not found:
        _echo_err("no jobs" + (" match" if states or backend or caller or text else ""))
        return
    from imagen.console import align_columns

    rows = [["id", "state", "takes", "backend", "cost", "created", "prompt"]]
    for job in found:
        spent = job.cost_actual or job.cost_estimate
        rows.append(
            [
                job.id,
                job.state,
                f"{job.takes_done}/{job.takes_total}",
                job.backend,
                spent.format() if spent is not None else "-",
                job.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                _short(job.request.prompt, 40),
            ]
        )
    click.echo(align_columns(rows))


def _short(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@jobs.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.pass_obj
def show(app: Any, job_id: str, as_json: bool) -> None:
    """Show one job: its state, cost, eta and every take."""
    job = _with_queue(app, lambda queue: queue.get(job_id))
    if as_json:
        _print_json(job)
        return
    click.echo("\n".join(job_lines(job)))


def job_lines(job: Job) -> list[str]:
    """A job as ``key: value`` lines, then one line per take."""
    from imagen.cli.parsing import request_text
    from imagen.console import terminal_safe

    def when(moment: Any) -> str:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

    estimate, actual = job.cost_estimate, job.cost_actual
    lines = [
        f"id: {job.id}",
        f"state: {job.state}" + (" (cancel requested)" if job.cancel_requested
                                 and not job.finished else ""),
        f"backend: {job.backend}",
        f"prompt: {request_text(job.request.prompt)}",
        f"style: {job.style or '-'}",
        f"takes: {job.takes_done} of {job.takes_total} done",
        f"picked: {job.picked or '-'}",
        f"cost_estimate: {estimate.format() if estimate else 'unknown'}",
        f"cost_actual: {actual.format() if actual else '-'}",
        f"eta: {when(job.eta)}",
        f"created: {when(job.created_at)}",
        f"started: {when(job.started_at)}",
        f"finished: {when(job.finished_at)}",
        f"attempts: {job.attempts}",
        f"worker: {job.worker or '-'}",
        f"caller: {job.caller or '-'}",
    ]  # fmt: skip
    if job.error is not None:
        lines.append(f"error: {job.error.detail}")
    for take in job.takes:
        detail = take.path or (take.error.detail if take.error else "")
        if take.state == "running":
            detail = f"{take.progress:.0%} {take.message}".strip()
        lines.append(f"take {take.number}: {take.state}  seed {take.seed}  {detail}".rstrip())
    return [terminal_safe(line) for line in lines]


@jobs.command()
@click.argument("job_id")
@click.pass_obj
def cancel(app: Any, job_id: str) -> None:
    """Cancel a job: a queued one never starts, a running one stops (finished takes stay)."""

    async def work(queue: Queue) -> Job:
        job = await queue.cancel(job_id)
        if job.finished or not job.cancel_requested:
            return job
        # Running: its runner stops it; wait (bounded) to say how it ended.
        from imagen.jobs.submit import follow

        return await follow(queue, job_id, max_wait=10.0)

    job = _with_queue(app, work)
    if job.state == "canceled":
        _echo_err(f"job {job.id} canceled ({job.takes_done}/{job.takes_total} takes done)")
    elif job.finished:
        _echo_err(f"job {job.id} had already ended: {job.state}")
    else:
        _echo_err(f"job {job.id}: cancel requested; its runner stops it")


@jobs.command()
@click.argument("job_id")
@click.argument("take", type=click.IntRange(min=1))
@click.pass_obj
def pick(app: Any, job_id: str, take: int) -> None:
    """Pick take TAKE of a job (a done one); print its path.

    The pick is recorded in the job, the history and the take's sidecar (``"picked": true``).
    """
    from imagen.jobs.submit import pick as pick_take

    config = app.config()
    job = _with_queue(app, lambda queue: pick_take(queue, config, job_id, take))
    path = job.take(take).path
    if path:
        click.echo(path)


@jobs.command(name="wait")
@click.argument("job_id")
@click.option("--timeout", "max_wait", type=click.FloatRange(min=0), default=None,
              help="Give up after this many seconds (exit 1).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON instead of paths.")
@click.pass_obj
def wait_cmd(app: Any, job_id: str, max_wait: float | None, as_json: bool) -> None:
    """Wait for a job to end; print its images' paths like generate (exit 0 when done)."""
    from imagen.jobs.submit import follow

    job = _with_queue(app, lambda queue: follow(queue, job_id, max_wait=max_wait))
    if as_json:
        _print_json(job)
    else:
        for take in job.takes:
            for image in take.images:
                click.echo(image.path)
    _exit_for(job)


# -- imagen worker -----------------------------------------------------------------------------


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("give backend instance names, like flux,mock")
    return names


@click.command()
@click.option("-c", "--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Jobs run at once (each at its backend's concurrency).")  # fmt: skip
@click.option("--backends", help="Only claim jobs for these instances (comma-separated; "
              "default: every configured instance that is ready here).")  # fmt: skip
@click.option("--once", is_flag=True, help="Run the jobs that are queued now, then exit.")
@click.pass_obj
def worker(app: Any, concurrency: int, backends: str | None, once: bool) -> None:
    """Claim and run queued jobs until stopped (SIGTERM/SIGINT: finish running jobs, exit 0).

    A second SIGTERM or SIGINT hands the running jobs back to the queue: their finished takes
    stay, and another worker does the rest.
    """
    from imagen.errors import ConfigError
    from imagen.jobs.worker import Worker, ready_backends

    config = app.config()
    names = _names(backends)
    ready = ready_backends(config, names)
    if not ready:
        which = ", ".join(names) if names else "configured"
        raise ConfigError(
            f"no {which} backend instance is ready here (see: imagen backends); "
            "a worker needs at least one"
        )
    runner = Worker(config, backends=ready, concurrency=concurrency, once=once, log=_echo_err)
    import asyncio

    asyncio.run(_serve(config, runner))
    plural = "" if runner.jobs_run == 1 else "s"
    _echo_err(f"worker {runner.id} stopped ({runner.jobs_run} job{plural} run)")


async def _serve(config: Config, runner: Worker) -> None:
    import signal

    from imagen.jobs.queue import open_queue

    queue = open_queue(config)
    import asyncio

    loop = asyncio.get_running_loop()
    stops = [signal.SIGTERM, signal.SIGINT]
    if hasattr(signal, "SIGHUP"):
        stops.append(signal.SIGHUP)
    for signum in stops:
        loop.add_signal_handler(signum, _stopper(runner))
    _echo_err(
        f"worker {runner.id} claiming jobs for {', '.join(runner.backends)} "
        f"(concurrency {runner.concurrency})"
    )
    try:
        await runner.serve(queue)
    finally:
        for signum in stops:
            loop.remove_signal_handler(signum)
        await queue.aclose()


def _stopper(runner: Worker) -> Callable[[], None]:
    def stop() -> None:
        if runner.stopping.is_set():
            _echo_err("stopping now: handing the running jobs back to the queue")
        else:
            _echo_err("stopping: no new jobs; running jobs finish (signal again to hand them back)")
        runner.stop()

    return stop
