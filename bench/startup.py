"""How long ``imagen --help`` and ``imagen backends`` take to start, with every plugin installed.

Each command runs as a subprocess from the workspace venv (its ``python`` and its ``imagen``
script), HOME and the XDG dirs at an empty temp dir, once without a config file and once with
the full sample config (``imagen config sample``, every plugin's instances) at the default
path. A config that loaded cleanly is kept parsed in the cache dir, so the timed runs read it
from there, as every run after the first does; one more case empties that store before each
run, as the first run after an edit finds it. ``python -c pass`` and
``python -c "import click"`` run in the same rounds as the floor. The cases take turns, round
after round, so a busy moment on the machine hits them alike.

Then ``python -X importtime -m imagen ...`` shows where the time goes: the ten largest
imports by cumulative time, each with the chain that pulled it in, and whether the heavy
libraries (httpx, Pillow, ruamel.yaml, cattrs, aiohttp, websockets, psycopg) are imported by
``--help``. None may be: the script exits 1 when one is, after recording the results.

Last, each phase of ``imagen --help`` and ``imagen backends`` is timed in-process (import,
plugin loading, every hook implementation, the rest), so a miss can be traced to a plugin.

Target: median at most 100 ms for ``--help`` and ``backends``.

    uv run python bench/startup.py [--runs 20]
"""

from __future__ import annotations

# Only what imagen itself loads at once is imported here: this file also runs as the child
# that times imagen's phases in-process (``--phases``), where anything it had imported first
# would be missing from imagen's numbers. The rest is imported where it is used.
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

TARGET_MS = 100.0
HEAVY = ("httpx", "PIL", "ruamel", "cattrs", "aiohttp", "websockets", "psycopg")
BIN = os.path.dirname(sys.executable)
PYTHON = os.path.join(BIN, "python")
IMAGEN = os.path.join(BIN, "imagen")


class Case(NamedTuple):
    label: str
    argv: tuple[str, ...]
    with_config: bool = False
    target: bool = False
    #: the config's parsed copy removed before each run (the first run after an edit)
    edited: bool = False


CASES = (
    Case("`python -c pass`", (PYTHON, "-c", "pass")),
    Case('`python -c "import click"`', (PYTHON, "-c", "import click")),
    Case("`imagen --help`, no config", (IMAGEN, "--help"), target=True),
    Case("`imagen backends`, no config", (IMAGEN, "backends"), target=True),
    Case("`imagen --help`, sample config", (IMAGEN, "--help"), with_config=True, target=True),
    Case("`imagen backends`, sample config", (IMAGEN, "backends"), with_config=True, target=True),
    Case(
        "`imagen backends`, sample config just edited",
        (IMAGEN, "backends"),
        with_config=True,
        edited=True,
    ),
)


class Homes(NamedTuple):
    empty: dict[str, str]
    configured: dict[str, str]

    def env(self, case: Case) -> dict[str, str]:
        return self.configured if case.with_config else self.empty


def user_env(home: Path) -> dict[str, str]:
    """A user's environment with HOME at ``home``: no imagen settings, no tmux."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("IMAGEN_", "PYTHON")) and name not in ("TMUX", "TMUX_PANE")
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
    )
    return env


def make_homes(root: Path) -> Homes:
    import subprocess

    empty = user_env(root / "empty")
    configured = user_env(root / "configured")
    sample = subprocess.run(
        [IMAGEN, "config", "sample"], capture_output=True, text=True, env=empty, check=True
    ).stdout
    config_file = root / "configured" / ".config" / "imagen" / "imagen.yaml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(sample, encoding="utf-8")
    check = subprocess.run(
        [IMAGEN, "config", "validate"], capture_output=True, text=True, env=configured
    )
    if check.returncode != 0:
        sys.exit(f"the sample config does not validate:\n{check.stdout}{check.stderr}")
    return Homes(empty, configured)


def run_once(case: Case, env: dict[str, str]) -> float:
    import shutil
    import subprocess

    if case.edited:  # where imagen.config.parsed keeps the config files it parsed
        shutil.rmtree(os.path.join(env["XDG_CACHE_HOME"], "imagen", "config"), ignore_errors=True)
    start = time.perf_counter()
    completed = subprocess.run(
        case.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"{case.label} failed ({completed.returncode}): {completed.stderr.decode()}")
    return elapsed


def time_cases(homes: Homes, runs: int) -> dict[Case, list[float]]:
    samples: dict[Case, list[float]] = {case: [] for case in CASES}
    for case in CASES:  # warm-up: page cache, .pyc files
        run_once(case, homes.env(case))
    for _ in range(runs):
        for case in CASES:
            samples[case].append(run_once(case, homes.env(case)))
    return samples


class Import(NamedTuple):
    module: str
    cumulative_us: int
    chain: tuple[str, ...]


def parse_importtime(stderr: str) -> list[Import]:
    """Every module in ``-X importtime`` output with the chain of imports that pulled it in.

    The output is post-order: a module's own imports are listed, one level deeper, before it.
    """
    rows: list[tuple[int, str, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, label = line.removeprefix("import time:").split("|")
        depth = (len(label) - len(label.lstrip(" ")) - 1) // 2
        rows.append((depth, label.strip(), int(cumulative)))
    parent: dict[int, int] = {}
    pending: list[int] = []
    for index, (depth, _, _) in enumerate(rows):
        children = [i for i in pending if rows[i][0] == depth + 1]
        for child in children:
            parent[child] = index
        pending = [i for i in pending if rows[i][0] <= depth] + [index]
    result = []
    for index, (_, module, total) in enumerate(rows):
        chain = [module]
        at = index
        while at in parent:
            at = parent[at]
            chain.append(rows[at][1])
        result.append(Import(module, total, tuple(reversed(chain))))
    return result


def importtime(args: Sequence[str], env: dict[str, str], repeats: int = 5) -> list[Import]:
    """The imports of ``python -m imagen ARGS``, each with its median cumulative time."""
    import statistics
    import subprocess

    runs = []
    for _ in range(repeats + 1):
        completed = subprocess.run(
            [PYTHON, "-X", "importtime", "-m", "imagen", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            check=True,
        )
        runs.append(parse_importtime(completed.stderr))
    first = runs[1]
    by_run = [{i.module: i.cumulative_us for i in run} for run in runs[1:]]
    return [
        item._replace(cumulative_us=int(statistics.median(r.get(item.module, 0) for r in by_run)))
        for item in first
    ]


def top_imports(imports: list[Import], count: int = 10, *, direct_only: bool = False) -> str:
    """The ``count`` largest imports by cumulative time, as a table.

    A chain of one (``direct``) is an import made by the entry point or, at run time, by a
    function body: that is where a lazy import or a cheaper module would go.
    """
    seen: set[str] = set()
    ranked = []
    for item in sorted(imports, key=lambda i: i.cumulative_us, reverse=True):
        if item.module in seen or (direct_only and len(item.chain) > 1):
            continue
        seen.add(item.module)
        ranked.append(item)
    lines = ["| import | cumulative ms | pulled in by |", "| --- | --- | --- |"]
    for item in ranked[:count]:
        via = " > ".join(item.chain[:-1]) or "direct"
        lines.append(f"| `{item.module}` | {item.cumulative_us / 1000:.1f} | {via} |")
    return "\n".join(lines)


def heavy_report(imports: list[Import]) -> tuple[list[str], list[str]]:
    """(a line for each heavy library, the names of those imported).

    An imported library is shown by its costliest module and the chain that pulled it in.
    """
    lines, found = [], []
    for name in HEAVY:
        hits = [i for i in imports if i.module.split(".")[0] == name]
        if not hits:
            lines.append(f"- `{name}`: not imported")
            continue
        found.append(name)
        top = max(hits, key=lambda i: i.cumulative_us)
        via = " > ".join(top.chain[:-1]) or "directly (entry point or a function at run time)"
        lines.append(
            f"- `{name}`: IMPORTED, `{top.module}` {top.cumulative_us / 1000:.1f} ms, via {via}"
        )
    return lines, found


PHASE_RUNS = 7


def phases_child(args: list[str]) -> None:
    """Run ``imagen ARGS`` in this process; print how long each phase took, as JSON (ms).

    Every hook implementation is timed on its own (exclusive of hooks it calls), so plugin
    registration, config validation and command registration show up per plugin.
    """
    import atexit
    import contextlib
    import functools
    import gc
    import io

    # As imagen.cli.main does: the exit phase then measures what a real run's exit costs.
    atexit.register(gc.freeze)
    started_wall = time.time()
    start = time.perf_counter()
    import imagen.cli

    imported = time.perf_counter()
    from imagen.plugins import loader as plugins

    manager = plugins.manager()
    loaded = time.perf_counter()
    spent: dict[str, float] = {}
    stack: list[float] = []  # time spent in nested hooks, per level

    def timed(label: str, function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack.append(0.0)
            begin = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                total = time.perf_counter() - begin
                nested = stack.pop()
                spent[label] = spent.get(label, 0.0) + total - nested
                if stack:
                    stack[-1] += total

        return wrapper

    for hook_name, caller in vars(manager.hook).items():
        for impl in caller.get_hookimpls():
            impl.function = timed(f"{impl.plugin_name} {hook_name}", impl.function)
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.suppress(SystemExit),
    ):
        imagen.cli.cli.main(args=args, prog_name="imagen", standalone_mode=False)
    done = time.perf_counter()
    phases = {
        "import imagen.cli (click, the command group)": imported - start,
        "plugin manager (entry points, plugin top modules)": loaded - imported,
        **{f"hook: {label}": seconds for label, seconds in spent.items()},
        "the rest of the command (config, work, output)": done - loaded - sum(spent.values()),
    }
    import json

    ms = {label: seconds * 1000 for label, seconds in phases.items()}
    print(json.dumps({"phases": ms, "started_wall": started_wall, "done_wall": time.time()}))


def time_phases(args: Sequence[str], env: dict[str, str]) -> str:
    """A table of the median time of each phase of ``imagen ARGS`` (see ``phases_child``)."""
    import json
    import statistics
    import subprocess

    runs: list[dict[str, float]] = []
    walls: list[float] = []
    for _ in range(PHASE_RUNS + 1):
        begin = time.time()
        completed = subprocess.run(
            [PYTHON, __file__, "--phases", *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        end = time.time()
        child = json.loads(completed.stdout.splitlines()[-1])
        runs.append(
            {
                "interpreter start, site, the driver's imports": (child["started_wall"] - begin)
                * 1000,
                **child["phases"],
                "interpreter exit (module teardown, final garbage collection)": (
                    end - child["done_wall"]
                )
                * 1000,
            }
        )
        walls.append((end - begin) * 1000)
    runs, walls = runs[1:], walls[1:]
    labels = list(runs[0])
    medians = {label: statistics.median(run.get(label, 0.0) for run in runs) for label in labels}
    lines = ["| phase | median ms |", "| --- | --- |"]
    for label in sorted(labels, key=lambda label: medians[label], reverse=True):
        if medians[label] >= 0.05:
            lines.append(f"| {label} | {medians[label]:.1f} |")
    lines.append(f"| **total (wall)** | {statistics.median(walls):.1f} |")
    return "\n".join(lines)


def _load(averages: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in averages)


def main() -> None:
    if sys.argv[1:2] == ["--phases"]:  # the child of time_phases: nothing else is imported
        phases_child(sys.argv[2:])
        return
    import argparse
    import statistics
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import record

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    if not Path(IMAGEN).exists():
        sys.exit(f"no imagen script at {IMAGEN}; run: uv sync --all-packages")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="imagen-startup-") as root:
        homes = make_homes(Path(root))
        samples = time_cases(homes, options.runs)
        help_imports = importtime(["--help"], homes.empty)
        backends_imports = importtime(["backends"], homes.configured)
        help_phases = time_phases(["--help"], homes.empty)
        backends_phases = time_phases(["backends"], homes.configured)
    load_after = os.getloadavg()

    rows = ["| command | median ms | min ms | target |", "| --- | --- | --- | --- |"]
    missed = []
    for case in CASES:
        median = statistics.median(samples[case]) * 1000
        fastest = min(samples[case]) * 1000
        verdict = "-"
        if case.target:
            verdict = "met" if median <= TARGET_MS else "MISSED"
            if median > TARGET_MS:
                missed.append(f"{case.label} ({median:.0f} ms)")
        rows.append(f"| {case.label} | {median:.1f} | {fastest:.1f} | {verdict} |")
    heavy_lines, heavy_found = heavy_report(help_imports)
    heavy_backends, _ = heavy_report(backends_imports)
    summary = f"Target (median at most {TARGET_MS:.0f} ms): " + (
        "met by every imagen command." if not missed else "MISSED by " + "; ".join(missed)
    )
    heavy_verdict = (
        "OK: `imagen --help` imports none of them."
        if not heavy_found
        else f"FAIL: `imagen --help` imports {', '.join(heavy_found)}."
    )
    body = "\n".join(
        [
            f"{options.runs} runs of each after one warm-up, cases in turn; HOME at an empty temp "
            "dir; the sample config is `imagen config sample` at the default path. Load average "
            f"(1, 5, 15 min) {_load(load_before)} at the start and {_load(load_after)} at the "
            f"end, on {os.cpu_count()} cores: on a shared machine, compare the cases with each "
            "other and with `python -c pass` more than with a target.",
            "",
            *rows,
            "",
            summary,
            "",
            "Heavy libraries imported by `imagen --help` (no config):",
            "",
            *heavy_lines,
            "",
            heavy_verdict,
            "",
            "Heavy libraries imported by `imagen backends` (sample config):",
            "",
            *heavy_backends,
            "",
            "Top 10 imports of `python -X importtime -m imagen --help` (no config), "
            "median of 5 runs:",
            "",
            top_imports(help_imports),
            "",
            "Top 10 imports of `python -X importtime -m imagen backends` (sample config), "
            "median of 5 runs:",
            "",
            top_imports(backends_imports),
            "",
            "Direct imports of `imagen backends` (sample config), the ten largest "
            "(made by the entry point, or at run time inside a function):",
            "",
            top_imports(backends_imports, direct_only=True),
            "",
            f"Phases of `imagen --help` (no config), in-process, median of {PHASE_RUNS} runs:",
            "",
            help_phases,
            "",
            f"Phases of `imagen backends` (sample config), in-process, median of {PHASE_RUNS} "
            "runs (a hook's time excludes the hooks it calls):",
            "",
            backends_phases,
        ]
    )
    record("startup", f"uv run python bench/startup.py --runs {options.runs}", body)
    if heavy_found:
        sys.exit(1)


if __name__ == "__main__":
    main()
