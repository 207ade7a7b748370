"""``imagen generate``: parse options, build a Request, run the pipeline, print the paths."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from imagen.console import terminal_safe
from imagen.seeds import SEED_RANGE

if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

    from imagen.models import Request
    from imagen.output.preview import PreviewMode
    from imagen.pipeline import Outcome, Plan


def _options(values: tuple[str, ...]) -> dict[str, Any]:
    from imagen.cli.parsing import parse_option

    return dict(parse_option(value) for value in values)


def _not_empty(what: str, instead: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback refusing ``""``: an empty value must not quietly mean the default."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise click.BadParameter(f"{what} is empty; {instead}", ctx, param)
        return value

    return check


class _Dollars(click.ParamType["Decimal", Any]):
    """A finite, non-negative amount in US dollars (``0.50``, ``$2``), as a Decimal."""

    name = "usd"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        from decimal import Decimal, InvalidOperation

        if isinstance(value, Decimal):
            return value
        try:
            amount: Decimal | None = Decimal(str(value).strip().removeprefix("$"))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} is not an amount of dollars; give one like 0.50", param, ctx)
        return amount


@click.command()
@click.argument("prompt")
@click.option(
    "-b",
    "--backend",
    help="Backend instance (default: default_backend in config).",
    callback=_not_empty("the backend name", "leave out -b for default_backend"),
)
@click.option(
    "-s",
    "--style",
    help="Style preset (see: imagen styles).",
    callback=_not_empty("the style name", "leave out -s for no style"),
)
@click.option(
    "--size",
    help="Image size WIDTHxHEIGHT, like 1024x768.",
    callback=_not_empty("the size", "give WIDTHxHEIGHT, like 1024x768"),
)
@click.option(
    "--aspect",
    help="Aspect ratio W:H, like 16:9 (instead of --size).",
    callback=_not_empty("the aspect ratio", "give W:H, like 16:9"),
)
@click.option(
    "--steps", type=click.IntRange(min=1), help="Sampling steps, where the model has them."
)
@click.option("--seed", type=click.IntRange(0, SEED_RANGE - 1),
              help="Seed of the first take (then seed+1, ...).")  # fmt: skip
@click.option("-n", "--count", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Number of takes.")  # fmt: skip
@click.option("--negative", help="Negative prompt (added to the style's).")
@click.option("--ref", "refs", multiple=True, type=click.Path(dir_okay=False),
              help="Reference image for image-to-image (repeatable).")  # fmt: skip
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Backend option passed through untouched (repeatable).")  # fmt: skip
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Output directory.",
    callback=_not_empty("the output directory", "give a folder, or leave out -o"),
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Always generate, even when the same seeded request ran before.",
)
@click.option(
    "--no-cloud", is_flag=True, help="Run no sinks (cloud sync, webhooks) for this generation."
)
@click.option(
    "--max-cost",
    type=_Dollars(),
    metavar="USD",
    help="Refuse (exit 2) when the estimate is higher than this.",
)
@click.option(
    "--preview/--no-preview",
    default=None,
    help="Open each image in a tmux window (default: output.preview, IMAGEN_PREVIEW).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the resolved request and the cost estimate; spend nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result instead of paths.")
@click.option(
    "--caller",
    help="Who is asking (recorded with each take).",
    callback=_not_empty("the caller", "leave out --caller for the default"),
)
@click.pass_obj
def generate(app: Any, /, prompt: str, **options: Any) -> None:
    """Generate images for PROMPT and print the path of each, one per line."""
    from imagen.cli.parsing import build_request

    if not prompt.strip():
        raise click.UsageError("the prompt is empty; say what to draw")
    # The command line first: bad input is one error line, without the config's hint before it.
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
    run(app.config(), request, options)


def run(config: Any, request: Request, options: dict[str, Any]) -> None:
    from decimal import Decimal

    from imagen import cost
    from imagen.caller import resolve_caller
    from imagen.output.preview import preview_mode
    from imagen.pipeline import execute, open_backend, prepare

    preview = preview_mode(config.output.preview, flag=options["preview"])
    backend = open_backend(config, options["backend"])
    plan = prepare(
        config,
        request,
        backend=options["backend"],
        output_dir=options["output"],
        caller=resolve_caller(options["caller"]),
        estimator=backend,
        use_cache=not options["no_cache"],
        no_cloud=options["no_cloud"],
    )
    if options["dry_run"]:
        from imagen.cli import signals

        signals.run(backend.aclose())
        _print_dry_run(plan, as_json=options["as_json"])
        return
    from imagen.pipeline import check_ready

    takes = len(plan.to_run)
    max_cost = options["max_cost"]
    cost.check_budget(
        plan.cost_estimate,
        takes,
        plan.instance.name,
        Decimal(str(max_cost)) if max_cost is not None else None,
    )
    # Refuse before the cost notice and before any spend: not configured, unwritable output.
    check_ready(plan, backend)
    if plan.cached:
        click.echo(f"imagen: {_cached_note(plan)}", err=True)
    notice = cost.notice(plan.cost_estimate, takes, plan.instance.name)
    if notice:
        click.echo(f"imagen: {notice}", err=True)
    from imagen.cli.progress import make_reporter

    reporter = make_reporter(plan, print_paths=not options["as_json"])
    from imagen.cli import signals

    try:  # SIGINT, SIGTERM and SIGHUP cancel the takes (and the provider's jobs)
        outcome = signals.run(execute(plan, backend=backend, reporter=reporter))
    finally:  # the terminal is restored however the run ends
        reporter.close()
    if options["as_json"]:
        _print_json(outcome)
    _preview(outcome, preview)
    _exit_for(outcome)


def _cached_note(plan: Plan) -> str:
    """``cached: no new spend ...``: a cache hit is said, never silent."""
    cached = sorted(plan.cached)
    elsewhere = any(g.output_dir != plan.output_dir for g in plan.cached.values())
    copy = f", copied into {plan.output_dir}" if elsewhere else ""
    if len(cached) == plan.takes:
        which = "this seeded request" if plan.takes == 1 else f"all {plan.takes} takes"
        return f"cached: no new spend ({which} ran before{copy}; --no-cache generates again)"
    numbers = ", ".join(map(str, cached))
    return (
        f"cached: take{'s' if len(cached) > 1 else ''} {numbers} of {plan.takes} ran before, "
        f"no new spend for {'them' if len(cached) > 1 else 'it'}{copy}"
    )


def _preview(outcome: Outcome, mode: PreviewMode) -> None:
    """Step 10: show the images in tmux when asked; a failure is one warning line."""
    from imagen.output.preview import PreviewError, inside_tmux, open_preview, should_preview
    from imagen.output.write import absolute_path

    if not outcome.generations or mode == "off":
        return
    try:
        if not should_preview(mode, stdout_tty=sys.stdout.isatty(), in_tmux=inside_tmux()):
            return
        for generation in outcome.generations:
            open_preview(
                absolute_path(generation), command=outcome.plan.config.output.preview_command
            )
    except PreviewError as error:
        click.echo(f"imagen: warning: preview: {terminal_safe(str(error))}", err=True)


def _print_dry_run(plan: Plan, *, as_json: bool) -> None:
    from imagen.cli.output import echo_json
    from imagen.cli.parsing import plan_json, plan_lines

    if as_json:
        echo_json(plan_json(plan))
        return
    click.echo("\n".join(plan_lines(plan)))


def _print_json(outcome: Outcome) -> None:
    from imagen.cli.output import echo_json
    from imagen.cli.parsing import generation_json, money_json

    echo_json(
        {
            "images": [generation_json(g) for g in outcome.generations],
            "errors": [
                {"take": f.take, "error": str(f.error), "kind": type(f.error).__name__}
                for f in outcome.failures
            ],
            "cost_estimate": money_json(outcome.plan.cost_estimate),
        }
    )


def _exit_for(outcome: Outcome) -> None:
    if outcome.ok:
        return
    messages: dict[str, list[int]] = {}
    for failure in outcome.failures:
        messages.setdefault(str(failure.error), []).append(failure.take)
    total = len(outcome.plan.seeds)
    for message, takes in messages.items():
        if total == 1:
            where = ""
        elif len(takes) == total:
            where = f" (all {total} takes)"
        else:
            where = (
                f" (take{'s' if len(takes) > 1 else ''} {', '.join(map(str, takes))} of {total})"
            )
        click.echo(f"imagen: error: {terminal_safe(message)}{where}", err=True)
    sys.exit(max(failure.error.exit_code for failure in outcome.failures))
