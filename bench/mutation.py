"""Mutation testing (mutmut 3) on the modules where a wrong branch costs a user money, a file or
a secret; the results go to bench/MUTATION.md.

    uv run python bench/mutation.py --list                 # the modules and the tests each uses
    uv run python bench/mutation.py imagen.cost            # one module (incremental: only changed
                                                           # functions' mutants run again)
    uv run python bench/mutation.py --all                  # every module below, one after another
    uv run python bench/mutation.py imagen.cost --retest   # run the mutants not killed again, after
                                                           # adding tests
    uv run python bench/mutation.py imagen.cost --show     # the diff of each mutant not killed

Why this shape: mutmut derives a mutant's module name from its path relative to where it runs
(``src/imagen/cost.py`` -> ``imagen.cost``) and imports the mutated copy from ``mutants/src``, which
does not fit a uv workspace whose packages live in ``imagen-core/src``, ``imagen-replicate/src``...
So each module gets a sandbox under ``.mutation/<module>/`` (git-ignored): ``src`` is a link to its
package's ``src``, the test folders are linked at their repo paths (mutmut copies them into
``mutants/``), and a generated pyproject.toml carries the root's pytest settings (importlib import
mode, the isolating root conftest.py) and the mutmut settings. ``PYTHONPATH`` points at the mutated
copy so the CLI tests that start ``python -m imagen`` run the mutant too.

Test selection: each module names the test files that can reach it; mutmut's first pass records
which of those tests call each function, and a mutant then runs only the tests that reach its
function (``-x``, forked from an already-imported process). A mutant no selected test reaches is
counted as "no tests", that is not killed. Two cores are shared, so one worker by default.

Equivalent mutants (no behaviour can tell them from the original) are listed in EQUIVALENT with a
line of the mutated code and the reason; they are left out of the score and listed in
MUTATION.md. If the code moves so the name no longer shows that line, it counts as a survivor
again and the script says so.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANDBOXES = ROOT / ".mutation"
RESULTS = ROOT / "bench" / "MUTATION.md"
BEGIN = "<!-- mutation results: written by bench/mutation.py -->"
END = "<!-- end of mutation results -->"
EQ_BEGIN = "<!-- equivalent mutants: written by bench/mutation.py -->"
EQ_END = "<!-- end of equivalent mutants -->"

CORE_TESTS = "imagen-core/tests"


@dataclass(frozen=True)
class Target:
    package: str  # the workspace member whose src/ holds the module
    tests: tuple[str, ...]  # test files (repo paths) that can reach the module
    # Mutant-name patterns when only part of a large module is in scope (empty: all of it).
    only: tuple[str, ...] = ()
    # Extra pytest arguments, e.g. ``-k`` to leave out tests that only start subprocesses the
    # mutant cannot reach (each surviving mutant runs every selected test).
    pytest_args: tuple[str, ...] = ()

    def source(self, module: str) -> str:
        """``src/imagen/jobs/local.py`` for ``imagen.jobs.local``."""
        return "src/" + module.replace(".", "/") + ".py"


def core(*files: str, only: tuple[str, ...] = (), pytest_args: tuple[str, ...] = ()) -> Target:
    return Target("imagen-core", tuple(f"{CORE_TESTS}/{name}" for name in files), only, pytest_args)


def adapter(package: str, *files: str, pytest_args: tuple[str, ...] = ()) -> Target:
    """A module of the workspace member ``package`` (``imagen-replicate``), tested by its tests.

    The contract kit's cross-process determinism test starts two pytest processes (about 20 s)
    and checks the fake server's rendering, not the adapter: it is left out."""
    tests = tuple(f"{package}/tests/{name}" for name in files)
    return Target(package, tests, pytest_args=("-k", "not another_process", *pytest_args))


REPLICATE = "imagen-replicate"
REPLICATE_CALLS = (
    "test_generate.py",
    "test_failures.py",
    "test_error_mapping.py",
    "test_downloads_and_deadlines.py",
    "test_fake_schema.py",
    "test_contract.py",
)
GEMINI = "imagen-gemini"
GEMINI_CALLS = (
    "test_requests.py",
    "test_answers.py",
    "test_errors.py",
    "test_cost.py",
    "test_contract.py",
)
OPENAI = "imagen-openai"
# test_cli.py is left out: its subprocesses reach the same code as test_requests.py in-process.
OPENAI_CALLS = (
    "test_requests.py",
    "test_errors.py",
    "test_stream.py",
    "test_urls.py",
    "test_cost.py",
    "test_contract.py",
)
COMFYUI = "imagen-comfyui"
COMFYUI_CALLS = ("test_generate.py", "test_mapping.py", "test_failures.py", "test_contract.py")
COMFYUI_CONFIG = ("test_workflow.py", "test_plugin.py")
SUPABASE = "imagen-supabase"
SUPABASE_SINKS = ("test_storage_sink.py", "test_usage_sink.py", "test_plugin.py")
SUPABASE_LEFT_OUT = tuple(
    arg
    for test in (
        "test_url_command_refuses_a_bucket_path_that_leaves_the_bucket",
        "test_importing_the_plugin_and_its_sinks_loads_no_http_or_database_library",
    )
    for arg in ("--deselect", f"{SUPABASE}/tests/test_plugin.py::{test}")
)
POSTGRES = "imagen-postgres"
POSTGRES_LEFT_OUT = tuple(
    arg
    for test in (
        "test_migrate_prints_the_sql_and_applies_it_from_url_env",
        "test_an_inline_url_with_a_password_is_refused_without_showing_it",
        "test_an_unmigrated_database_is_one_line_that_says_what_to_run",
        "test_an_unreachable_server_is_one_line_without_the_password",
    )
    for arg in ("--deselect", f"{POSTGRES}/tests/test_queue.py::{test}")
)

# The queue's file and the runner: claims, cancels, picks, hand-backs, recovery after a crash.
# test_worker_processes.py is left out: its workers are subprocesses, which mutmut's stats pass
# does not see, so none of its tests would be picked for a mutant.
JOB_TESTS = (
    "test_job_runner_records.py",
    "test_jobs_local_file.py",
    "test_jobs_local.py",
    "test_jobs_pick.py",
    "test_jobs_local_reads.py",
    "test_job_stored.py",
    "test_job_runner.py",
)
# A mutant that stops a job from ending leaves its test waiting out its bound (60 s in some):
# each of these tests takes a few seconds, so 20 s is a hang.
JOB_TIMEOUT = ("--timeout", "20")

TARGETS: dict[str, Target] = {
    "imagen.cost": core(
        "test_cost.py", "test_pipeline.py", "test_cli_input.py", "test_paid_takes.py"
    ),
    "imagen.store.cache": core("test_cache.py", "test_pipeline.py", "test_paid_takes.py"),
    "imagen.output.naming": core("test_naming.py", "test_config.py"),
    "imagen.output.files": core("test_output.py", "test_paid_takes.py", "test_file_modes.py"),
    "imagen.output.write": core(
        "test_write.py", "test_output.py", "test_file_modes.py", "test_sidecar.py"
    ),
    "imagen.secrets": core("test_secrets.py", "test_config.py"),
    # config loading: which file is read, structuring, the inline-secret check, the output
    # folder and style checks (the first rows ran as imagen.config while config was one module).
    # test_config_plugin_problems.py is left out: its tests only start `imagen config validate`
    # processes, which mutmut's stats pass does not see.
    "imagen.config.load": core(
        "test_config_load.py",
        "test_config_secrets.py",
        "test_config.py",
        "test_secrets.py",
        "test_config_validate.py",
        "test_config_parsed.py",
        "test_config_direct.py",
        "test_queue_config.py",
        "test_plugin_settings.py",
    ),
    "imagen.output.pngmeta": core("test_pngmeta.py"),
    "imagen.output.sidecar": core("test_sidecar.py", "test_write.py"),
    "imagen.sinks.outbox": core("test_outbox.py", "test_sync_cli.py", "test_sinks.py"),
    "imagen.sinks.run": core(
        "test_sinks.py",
        "test_outbox.py",
        "test_sync_cli.py",
        "test_job_stored.py",
        "test_sync_stored.py",
    ),
    "imagen.sinks.builtin": core("test_builtin_sinks.py", "test_sinks.py"),
    # imagen sync's retrying (moved out of the outbox; run with it as imagen.outbox before)
    "imagen.sinks.sync": core("test_outbox.py", "test_sync_cli.py"),
    "imagen.sinks.serialize": core("test_serialize.py", "test_outbox.py", "test_builtin_sinks.py"),
    # the shared HTTP layer: retries, redirects by origin, bounded bodies, deadlines
    "imagen.adapters.http": core(
        "test_http.py", "test_hostile_servers.py", "test_http_api.py", "test_builtin_sinks.py"
    ),
    # the toolkit's HttpApi: sending within the deadline, the retry policy, status mapping
    "imagen.adapters.api": core(
        "test_http_api.py", "test_hostile_servers.py", "test_toolkit_streams.py"
    ),
    # The mock's contract: size, count, seeds, the failure modes, and the random source that
    # makes an image depend on prompt, seed and size alone. How the placeholder is drawn
    # (shapes, colours, text placement: render and _palette) is left out: nothing relies on it.
    # the toolkit's request building shared by adapters: sizes snapped to what a provider
    # takes, and several takes run as one (their warnings, their combined progress)
    "imagen.adapters.sizes": core(
        "test_adapter_sizes_pixels.py", "test_adapter_error_bodies.py", "test_cli_input.py"
    ),
    # --size and --aspect as typed, and the size an aspect becomes (the CLI's tests of them run
    # in subprocesses, which mutmut's stats pass does not see)
    "imagen.sizes": core("test_sizes.py", "test_mock.py"),
    "imagen.adapters.takes": core("test_adapter_takes.py"),
    "imagen.mock": core(
        "test_mock.py",
        "test_determinism.py",
        only=("imagen.mock.xǁMockBackendǁ*", "imagen.mock.x__rng__mutmut_*"),
    ),
    "imagen.seeds": core("test_seeds.py", "test_generate.py", "test_cli_input.py"),
    "imagen.pipeline": core(
        "test_pipeline.py",
        "test_pipeline_records.py",
        "test_paid_takes.py",
        "test_sinks.py",
        "test_job_stored.py",
        "test_cache.py",
        "test_generate.py",
        "test_file_modes.py",
        "test_cli_input.py",
    ),
    "imagen.store.usage": core("test_usage.py", "test_usage_report.py", "test_history.py"),
    "imagen.jobs.local": core(*JOB_TESTS, pytest_args=JOB_TIMEOUT),
    "imagen.jobs.runner": core(*JOB_TESTS, pytest_args=JOB_TIMEOUT),
    # submit's max-cost refusal before anything is queued, follow, and picks written into the
    # sidecars and history (test_jobs_pick.py, in JOB_TESTS, runs the CLI in subprocesses;
    # test_jobs_submit.py calls them in-process)
    "imagen.jobs.submit": core(*JOB_TESTS, "test_jobs_submit.py", pytest_args=JOB_TIMEOUT),
    "imagen_replicate.pricing": adapter(REPLICATE, "test_plugin.py", "test_generate.py"),
    "imagen_replicate.inputs": adapter(REPLICATE, "test_inputs.py", *REPLICATE_CALLS),
    "imagen_replicate.problems": adapter(REPLICATE, *REPLICATE_CALLS),
    # test_signals.py is left out: its CLI subprocess does not get the signal in mutmut's
    # stats pass; cancellation is covered in-process by test_failures.py.
    "imagen_replicate.backend": adapter(REPLICATE, *REPLICATE_CALLS, "test_plugin.py"),
    "imagen_gemini.pricing": adapter(GEMINI, "test_cost.py", "test_plugin.py"),
    # imagen_gemini.sizes is only the aspect-ratio table, no function: mutmut makes no mutant of
    # it (test_sizes.py and the fake, which answers with the table's sizes, check it).
    "imagen_gemini.protocol": adapter(GEMINI, *GEMINI_CALLS),
    "imagen_gemini.failures": adapter(GEMINI, *GEMINI_CALLS),
    "imagen_gemini.backend": adapter(GEMINI, *GEMINI_CALLS),
    "imagen_openai.pricing": adapter(OPENAI, "test_cost.py", "test_info.py", "test_requests.py"),
    "imagen_openai.families": adapter(OPENAI, "test_requests.py", "test_info.py", "test_cost.py"),
    "imagen_openai.plan": adapter(OPENAI, *OPENAI_CALLS, "test_info.py"),
    "imagen_openai.protocol": adapter(OPENAI, *OPENAI_CALLS),
    "imagen_openai.failures": adapter(OPENAI, *OPENAI_CALLS),
    "imagen_openai.results": adapter(OPENAI, *OPENAI_CALLS),
    "imagen_openai.backend": adapter(OPENAI, *OPENAI_CALLS),
    "imagen_comfyui.sizing": adapter(COMFYUI, "test_sizing.py", "test_generate.py"),
    "imagen_comfyui.mapping": adapter(COMFYUI, "test_sizing.py", *COMFYUI_CALLS),
    "imagen_comfyui.failures": adapter(COMFYUI, "test_failure_messages.py", *COMFYUI_CALLS),
    "imagen_comfyui.events": adapter(COMFYUI, "test_events_socket.py", *COMFYUI_CALLS),
    "imagen_comfyui.workflow": adapter(COMFYUI, *COMFYUI_CONFIG, *COMFYUI_CALLS),
    "imagen_comfyui.api": adapter(COMFYUI, "test_info.py", "test_plugin.py", *COMFYUI_CALLS),
    # test_workflow.py checks status() on a backend with a broken workflow; test_sizing.py
    # sends requests whose size the backend refuses before queueing.
    "imagen_comfyui.backend": adapter(
        COMFYUI,
        "test_info.py",
        "test_plugin.py",
        "test_workflow.py",
        "test_sizing.py",
        *COMFYUI_CALLS,
    ),
    # test_end_to_end.py is left out: its tests only start `python -m imagen` subprocesses, which
    # mutmut's stats pass does not see; test_plugin.py's CLI tests run in-process (CliRunner),
    # but for the two that start a subprocess (it fails to import the mutated package there).
    "imagen_supabase.storage": adapter(
        SUPABASE, "test_storage_sink.py", "test_plugin.py", pytest_args=SUPABASE_LEFT_OUT
    ),
    # the service key (scrubbed from errors, sent to the project's origin alone), object paths
    # and storage keys, the retry policy, transport failures as SinkError
    "imagen_supabase.connection": adapter(
        SUPABASE,
        "test_connection.py",
        "test_storage_key.py",
        *SUPABASE_SINKS,
        pytest_args=SUPABASE_LEFT_OUT,
    ),
    "imagen_supabase.errors": adapter(
        SUPABASE, "test_errors.py", *SUPABASE_SINKS, pytest_args=SUPABASE_LEFT_OUT
    ),
    # test_workers.py and test_queue.py's CLI tests are left out (subprocesses, as above);
    # test_queue_worker.py runs a worker in-process. A mutant that stops a job from ending
    # waits out a test's bound.
    "imagen_postgres.queue": adapter(
        POSTGRES,
        "test_queue.py",
        "test_queue_worker.py",
        pytest_args=(*JOB_TIMEOUT, *POSTGRES_LEFT_OUT),
    ),
    # The job records: a claim that skips finished takes, a save by a worker that lost its job,
    # cancels and picks (a wrong branch pays a take twice or loses a pick).
    "imagen_postgres.records": adapter(
        POSTGRES,
        "test_queue.py",
        "test_queue_worker.py",
        pytest_args=(*JOB_TIMEOUT, *POSTGRES_LEFT_OUT),
    ),
}

SQL_CASE = "SQLite reads keywords and table and column names in any letter case"
ROW_KEY_CASE = "sqlite3.Row finds a column by its name in any letter case"
JSON_KEY_ORDER = (
    "the stored JSON is only read back by json.loads: the order of an object's keys carries no "
    "meaning"
)
REDIRECTS_DEFAULT = (
    'redirects is only compared with "none" and "any": any other value means same-origin'
)
CODEC_CASE = "Python finds a codec by its name in any letter case"
POSIX_SPLIT = (
    "on POSIX joining the unsplit relative path gives the same path; the split is for Windows"
)


def alike(why: str, *mutants: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """Several mutants equivalent for one reason: (mutant name, a fragment of its line) each."""
    return {name: (fragment, why) for name, fragment in mutants}


# mutant name -> (a fragment of the mutated line, why no behaviour can tell it from the original)
EQUIVALENT: dict[str, tuple[str, str]] = {
    **alike(
        "None is falsy like False: the statement runs in autocommit either way",
        ("imagen_postgres.queue.xǁPostgresQueueǁlist__mutmut_2", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_run_task__mutmut_8", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_check_cancels__mutmut_5", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_announce__mutmut_10", "atomic=None"),
        ("imagen_postgres.queue.xǁ_Storeǁsave__mutmut_4", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁget__mutmut_2", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_patiently__mutmut_7", "atomic=None"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_until_reachable__mutmut_4", "atomic=None"),
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁ_patiently__mutmut_1": (
        "atomic: bool = False",
        "every caller of _patiently passes atomic: the default is never used",
    ),
    **alike(
        "PostgreSQL reads keywords and function names in any letter case",
        ("imagen_postgres.queue.xǁPostgresQueueǁ_check__mutmut_13", '"select to_regclass('),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_until_reachable__mutmut_10", '"select 1"'),
    ),
    **alike(
        "PostgreSQL reads keywords in any letter case, and folds unquoted names (columns, "
        "tables) to lower case",
        (
            "imagen_postgres.records.x__write__mutmut_12",
            "where id = %s and (%s::bigint is null or version = %s)",
        ),
        ("imagen_postgres.records.x__write__mutmut_15", '" returning version, cancel_requested"'),
        ("imagen_postgres.records.x__write__mutmut_16", '" RETURNING VERSION, CANCEL_REQUESTED"'),
        (
            "imagen_postgres.records.x_cancel__mutmut_41",
            '"update imagen.jobs set cancel_requested = true',
        ),
        (
            "imagen_postgres.records.x_cancel__mutmut_42",
            '"UPDATE IMAGEN.JOBS SET CANCEL_REQUESTED = TRUE',
        ),
        ("imagen_postgres.records.x_cancel__mutmut_44", 'where id = %s returning version"'),
        (
            "imagen_postgres.records.x_cancel_requests__mutmut_8",
            '"select id from imagen.jobs where id = any(%s)',
        ),
        ("imagen_postgres.records.x_insert__mutmut_12", '"insert into imagen.jobs (id, state'),
        ("imagen_postgres.records.x_insert__mutmut_15", "values (%s, %s, %s"),
        ("imagen_postgres.records.x_pick__mutmut_34", '"update imagen.jobs set record = %s'),
        ("imagen_postgres.records.x_pick__mutmut_37", '" where id = %s returning version"'),
        ("imagen_postgres.records.x_query__mutmut_5", '"state = any(%s)"'),
        ("imagen_postgres.records.x_query__mutmut_10", '("CALLER", query.caller)'),
        ("imagen_postgres.records.x_query__mutmut_12", '("BACKEND", query.backend)'),
        ("imagen_postgres.records.x_query__mutmut_37", '"prompt ilike %s"'),
        ("imagen_postgres.records.x_query__mutmut_45", "' and '.join(where)"),
        ("imagen_postgres.records.x_save__mutmut_7", '"update imagen.jobs set state = %s'),
        (
            "imagen_postgres.records.x_save__mutmut_12",
            "where id = %s and worker = %s returning version",
        ),
    ),
    "imagen_postgres.records.x_query__mutmut_46": (
        '"XXXX"',
        "with no condition the clause is only a word after the table name: PostgreSQL takes it "
        "as the table's alias, and the query is the same",
    ),
    "imagen_postgres.records.x__write__mutmut_32": (
        'version=row["version"], )',
        "every caller's job already carries the row's cancel_requested: a claim writes over the "
        "version it read (a cancel moves the version), a cancel passes True",
    ),
    "imagen_postgres.records.x_cancel__mutmut_32": (
        "cancel_requested=False))",
        "a job's cancel_requested is read from its column (set true just before), never from "
        "its record, and _write returns the column's",
    ),
    **alike(
        "nothing follows work()'s loop inside its try: leaving the loop by return or by break "
        "goes to the same finally",
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_69", "return"),
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_73", "return"),
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_81": (
        "await asyncio.gather(sweeper, return_exceptions=True)",
        "the stopping task's cancel is scheduled after the sweeper's and needs one step (an "
        "Event.wait): it has ended before gather's wake-up for the sweeper reaches work()",
    ),
    **alike(
        "work() only awaits _until_reachable: its own loop then looks at worker.stopping",
        ("imagen_postgres.queue.xǁPostgresQueueǁ_until_reachable__mutmut_19", "return False"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_until_reachable__mutmut_20", "return True"),
    ),
    "imagen_postgres.queue.x__quiet_libraries__mutmut_9": (
        "logger.propagate = None",
        "logging reads propagate for its truth: None stops a record as False does",
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁwait__mutmut_22": (
        "left < 0:",
        "with exactly 0 s left, wait_for(..., 0) times out at once and the next round returns "
        "the job: the same answer",
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁ__init____mutmut_3": (
        'self._task: Any = ""',
        "_task is read only after _open, which sets it",
    ),
    "imagen_postgres.queue.x_queue_name__mutmut_9": (
        "_MAX_QUEUE_NAME - 14",
        "a cut name has only to fit, keep a readable head and stay distinct (its digest): one "
        "byte less of head does all three",
    ),
    "imagen_postgres.queue.xǁRequeueǁ__init____mutmut_1": (
        "super().__init__(None)",
        "the retry strategy reads only delay; the text would show only in procrastinate's log, "
        "which the worker quiets",
    ),
    **alike(
        "unreachable: procrastinate runs the task only inside work(), which sets _worker before "
        "its task worker starts and clears it after that ended",
        ("imagen_postgres.queue.xǁPostgresQueueǁ_run_task__mutmut_3", "raise Requeue(None)"),
        ("imagen_postgres.queue.xǁPostgresQueueǁ_run_task__mutmut_4", "raise Requeue(1)"),
        (
            "imagen_postgres.queue.xǁPostgresQueueǁ__init____mutmut_6",
            'self._worker: Worker | None = ""',
        ),
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_84", 'self._worker = ""'),
    ),
    **alike(
        "procrastinate's worker name shows only in its own log records, which the worker quiets",
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_23", "name=None"),
        (
            "imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_34",
            '-                name="imagen",',
        ),
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_43", '"XXimagenXX"'),
        ("imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_44", '"IMAGEN"'),
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_26": (
        "install_signal_handlers=None",
        "None is falsy like False: procrastinate installs no signal handlers either way",
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁwork__mutmut_38": (
        "-                listen_notify=True,",
        "procrastinate's worker listens by default (listen_notify=True)",
    ),
    "imagen_postgres.queue.xǁPostgresQueueǁ_announce__mutmut_19": (
        '"select pg_notify(%s, %s)"',
        "PostgreSQL reads keywords and function names in any letter case",
    ),
    "imagen_supabase.errors.x_postgrest_error__mutmut_35": (
        '"XX42501XX"',
        "PostgREST answers 42501 with 401 (anon) or 403 (a signed-in role) only, which the "
        "status check catches",
    ),
    **alike(
        "a body without statusCode keeps the HTTP status either way: int('None') fails and the "
        "status stays",
        ("imagen_supabase.errors.xǁStorageAnswerǁof__mutmut_9", 'get("statusCode", None)'),
        ("imagen_supabase.errors.xǁStorageAnswerǁof__mutmut_11", 'get("statusCode", )'),
    ),
    **alike(
        "HTTP header names are case-insensitive: a server reads Accept in any case",
        ("imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_4", '"accept"'),
        ("imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_5", '"ACCEPT"'),
    ),
    "imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_44": (
        "_read_bounded(response, None)",
        "only a non-2xx gets here, and the limit applies to a 2xx alone",
    ),
    **alike(
        "when no rule takes the answer it is raised before its count or wait is used",
        ("imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_51", "(rule is not None) or True"),
        ("imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_60", "if rule is not None else 1"),
        ("imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_76", "if rule else 1"),
    ),
    "imagen.adapters.api.xǁHttpApiǁ_open_stream__mutmut_82": (
        "wait > deadline.remaining()",
        "the time left is a clock reading: a wait equal to it to the nanosecond cannot be arranged",
    ),
    "imagen.adapters.api.xǁHttpApiǁdownload__mutmut_38": (
        "(self.base_url) or True",
        "with no base_url the origin compared is origin_of('') (\"://:0\"), no URL's origin",
    ),
    "imagen.adapters.api.xǁHttpApiǁdownload__mutmut_70": (
        '"get", url',
        "httpx upper-cases a request's method",
    ),
    "imagen.adapters.api.x_body_message__mutmut_28": (
        "body_message(item, None)",
        'an entry that says nothing gives None instead of "": both are left out of the join',
    ),
    **alike(
        "400 is mapped above (InvalidRequest), so no 400 reaches the redirect check",
        ("imagen.adapters.api.x_error_for_status__mutmut_66", "300 <= status <= 400"),
        ("imagen.adapters.api.x_error_for_status__mutmut_67", "status < 401"),
    ),
    **alike(
        "the retry decision only asks whether the mapped error is QuotaExceeded; what words its "
        "message alone",
        ("imagen.adapters.api.xǁHttpApiǁ_policy__mutmut_10", "what=None"),
        ("imagen.adapters.api.xǁHttpApiǁcall__mutmut_28", "self._policy(policy, None, errors)"),
    ),
    "imagen.adapters.api.xǁHttpApiǁ_policy__mutmut_17": (
        "(rule.statuses) or True",
        "a rule with no statuses takes transport errors alone, and `when` is only asked of answers",
    ),
    **alike(
        "the stand-in request's method: httpx upper-cases it, and no mapping or hook decides on it",
        ("imagen.adapters.api.xǁHttpApiǁbody_error__mutmut_6", '"XXPOSTXX"'),
        ("imagen.adapters.api.xǁHttpApiǁbody_error__mutmut_7", '"post"'),
    ),
    "imagen.adapters.api.xǁHttpApiǁ_secrets__mutmut_6": (
        'sent.rpartition(" ")',
        "a credential is a scheme, one space and a token (RFC 9110's token68 has no space)",
    ),
    "imagen.adapters.api.xǁHttpApiǁfailure_error__mutmut_23": (
        '"LOCATION"',
        "HTTP header names are case-insensitive: httpx finds them in any case",
    ),
    **alike(
        "the default is the value given: size_for_aspect's megapixels is 1.0",
        (
            "imagen.mock.xǁMockBackendǁ_size__mutmut_6",
            "size_for_aspect(request.aspect_ratio, multiple=16)",
        ),
    ),
    **alike(
        "with steps declared every take's total starts at steps, so no take lacks one and the "
        "unit for such a take is never used",
        ("imagen.adapters.takes.xǁ_Combinedǁ__init____mutmut_3", "self.steps = None"),
        ("imagen.adapters.takes.xǁ_Combinedǁemit__mutmut_9", "(self.steps is not None) and False"),
    ),
    **alike(
        "the four lists zipped are all `count` long (made so in __init__)",
        ("imagen.adapters.takes.xǁ_Combinedǁemit__mutmut_31", "strict=None"),
        ("imagen.adapters.takes.xǁ_Combinedǁemit__mutmut_36", "self.totals, )"),
        ("imagen.adapters.takes.xǁ_Combinedǁemit__mutmut_37", "strict=False"),
    ),
    "imagen.adapters.sizes.x_parse_ratio__mutmut_3": (
        'text.rpartition(":")',
        "with one colon both splits agree; with none or several one side is empty or keeps a "
        "colon, and float() refuses it either way",
    ),
    "imagen.adapters.sizes.x_snap_to_rules__mutmut_80": (
        "if w >= h:",
        "with w == h the long side is never more than max_ratio (at least 1) times the short one",
    ),
    "imagen.adapters.sizes.x_snap_to_rules__mutmut_44": (
        "else height or 1)",
        "height is positive here (a side that is not positive is dropped above): `or` never "
        "takes its default",
    ),
    **alike(
        "after `request.width and`, a side that is truthy is never 0",
        ("imagen.adapters.sizes.x_snap_to_table__mutmut_33", "request.width >= 0"),
        ("imagen.adapters.sizes.x_snap_to_table__mutmut_35", "request.height >= 0"),
    ),
    "imagen.adapters.api.xǁHttpApiǁbody_error__mutmut_10": (
        '"HTTP://LOCALHOST"',
        "httpx lower-cases a URL's scheme and host",
    ),
    **alike(
        "httpx sends the method upper-cased",
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_13", '"post"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_row_at__mutmut_14", '"get"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_upload__mutmut_14", '"post"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁsigned_url__mutmut_12", '"post"'),
    ),
    **alike(
        "HTTP header names are case-insensitive: a server reads them in any case",
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_18", '"content-type"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_19", '"CONTENT-TYPE"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_row_at__mutmut_24", '"accept-profile"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_row_at__mutmut_25", '"ACCEPT-PROFILE"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_upload__mutmut_19", '"content-type"'),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_upload__mutmut_20", '"CONTENT-TYPE"'),
    ),
    "imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_17": (
        '"XXContent-TypeXX"',
        "PostgREST reads a body sent without Content-Type as JSON",
    ),
    "imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_21": (
        '"APPLICATION/JSON"',
        "media type names are case-insensitive: PostgREST reads APPLICATION/JSON as JSON",
    ),
    **alike(
        "a \\u escape in JSON decodes to the same character: PostgREST stores the same row",
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_28", "ensure_ascii=None"),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_30", "json.dumps(row, )"),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_insert__mutmut_31", "ensure_ascii=True"),
    ),
    "imagen_supabase.storage.xǁSupabaseStorageSinkǁ_claim__mutmut_19": (
        "PostgrestAnswer.of(response, None)",
        "key_env only scrubs the key from the answer's texts; the claim reads only its code, "
        "which is 23505 or not either way",
    ),
    "imagen_supabase.storage.xǁSupabaseStorageSinkǁ_row_at__mutmut_35": (
        'rows = ""',
        "text that is not JSON is no list of rows either way: '' is not a list, as None is not",
    ),
    **alike(
        "SinkError keeps dict(state or {}): a state of None is {}",
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁ_upload__mutmut_30", "state=None"),
        ("imagen_supabase.storage.xǁSupabaseStorageSinkǁsigned_url__mutmut_25", "state=None"),
    ),
    "imagen_supabase.storage.xǁSupabaseStorageSinkǁsigned_url__mutmut_41": (
        "lstrip('XX/XX')",
        "Storage's signed path starts with /object/: stripping X as well as / takes the same",
    ),
    "imagen_supabase.storage.x__signed_path__mutmut_3": (
        'body = ""',
        "an answer that is not JSON has no signedURL either way: '' is not a dict, as None is not",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_75": (
        '"XXwaitingXX"',
        "a prediction object always has a status (_prediction_of refuses one without)",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_76": (
        '"WAITING"',
        "a prediction object always has a status (_prediction_of refuses one without)",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_81": (
        '.get("get") and f"/v1',
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_82": (
        '.get(None) or f"/v1',
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_83": (
        'prediction.get("urls") and {}',
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_84": (
        "prediction.get(None) or {}",
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_85": (
        '"XXurlsXX"',
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_86": (
        '"URLS"',
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
    ),
    "imagen_replicate.inputs.x__aspect_ratio__mutmut_8": (
        '"XXXX"',
        "snap_to_table raises only for an aspect ratio given (truthy): the fallback never runs",
    ),
    "imagen_replicate.inputs.x__aspect_ratio__mutmut_9": (
        "choice.ratio is None and choice.asked is None",
        "snap_to_table sets ratio and asked together or neither",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_9": (
        'prediction.get("urls") and {}',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_10": (
        "prediction.get(None) or {}",
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_11": (
        '"XXurlsXX"',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_12": (
        '"URLS"',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_13": (
        "self.cancel_url = None",
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_14": (
        'urls.get("cancel") and self.cancel_url',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_15": (
        "urls.get(None)",
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_16": (
        '"XXcancelXX"',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁ_Trackedǁupdate__mutmut_17": (
        '"CANCEL"',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_2": (
        'tracked.cancel_url and f"/v1',
        "Replicate's urls.cancel is always its API's /v1/predictions/{id}/cancel, the fallback URL",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_9": (
        'self._call("POST", url, None)',
        "a failed cancel's error text is never shown: the cancel is best effort, its error dropped",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_15": (
        '"XXcancelXX"',
        "a failed cancel's error text is never shown: the cancel is best effort, its error dropped",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_16": (
        '"CANCEL"',
        "a failed cancel's error text is never shown: the cancel is best effort, its error dropped",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_14": (
        '"post"',
        "httpx sends the method upper-cased",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_download__mutmut_35": (
        '"get"',
        "httpx sends the method upper-cased",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_18": (
        "tracked.status = None",
        "the status set after a cancel is never read again (the take is already ending)",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_19": (
        '"XXcanceledXX"',
        "the status set after a cancel is never read again (the take is already ending)",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_cancel_quietly__mutmut_20": (
        '"CANCELED"',
        "the status set after a cancel is never read again (the take is already ending)",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_download__mutmut_23": (
        "credentials=None",
        "None and False are both falsy: no key is sent either way",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_download_all__mutmut_6": (
        "keep_going=None",
        "None and False are both falsy: the first failed download stops the others either way",
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_54": (
        '"post", path',
        "httpx sends the method upper-cased",
    ),
    **alike(
        "Replicate's urls.get is always its API's /v1/predictions/{id}, the fallback URL",
        ("imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_87", '.get("XXgetXX")'),
        ("imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_88", '.get("GET")'),
    ),
    "imagen_replicate.backend.xǁReplicateBackendǁ_predict__mutmut_101": (
        '_call("get", get_url',
        "httpx sends the method upper-cased",
    ),
    "imagen_replicate.backend.x__seed_from_logs__mutmut_8": (
        '"XXXX"',
        "logs missing or empty: neither text holds a seed line",
    ),
    "imagen_replicate.pricing.x_price_per_image__mutmut_7": (
        'split(":", )',
        "a model ref has at most one colon (the settings check it): any maxsplit cuts the same",
    ),
    "imagen_replicate.pricing.x_price_per_image__mutmut_8": (
        'rsplit(":", 1)',
        "a model ref has at most one colon (the settings check it): either end cuts the same",
    ),
    "imagen_replicate.pricing.x_price_per_image__mutmut_10": (
        'split(":", 2)',
        "a model ref has at most one colon (the settings check it): any maxsplit cuts the same",
    ),
    "imagen.config.load.x_load_config__mutmut_3": (
        "check_paths=None",
        "None is falsy like False: the disk is not looked at either way",
    ),
    "imagen.config.load.x__check__mutmut_23": ('encoding="UTF-8"', CODEC_CASE),
    "imagen.config.load.x__split__mutmut_2": (
        "if (dotted) or True",
        'an empty path splits into [""], which the "if p" filter empties: no parts either way',
    ),
    "imagen.config.load.xǁ_Structurerǁ__init____mutmut_3": (
        'self.partial: Config | None = ""',
        "partial is read only after config() returned None, which sets it first",
    ),
    **alike(
        "an unknown key is reported only while structuring an attrs class (forbid_extra_keys), "
        "and the path up to it leads there through types kind_at follows: kind is one",
        ("imagen.config.load.x__fields_at__mutmut_7", "attrs.has(kind)) or True"),
        ("imagen.config.load.x__fields_at__mutmut_9", "isinstance(kind, type) or attrs.has"),
    ),
    **alike(
        "the built-in plugins always load and register backend (mock), sink and queue types: no "
        "table is ever empty",
        ("imagen.config.load.xǁ_Structurerǁkind__mutmut_10", '"XXnoneXX"'),
        ("imagen.config.load.xǁ_Structurerǁkind__mutmut_11", '"NONE"'),
    ),
    "imagen.secrets.x__char_class__mutmut_7": (
        "else 3",
        "character classes are only compared for equality: any third value works",
    ),
    "imagen.secrets.x__known_replacement__mutmut_10": (
        '"XXXX"',
        "a match of an alternation of named groups always has a lastgroup: the fallback never runs",
    ),
    "imagen.secrets.x__plausible_sk__mutmut_10": (
        "[a-za-z0-9]{24}",
        "only reached when the token has no upper-case letter, where A-Z can match nothing",
    ),
    "imagen.output.naming.xǁNamingTemplateǁparse__mutmut_34": (
        'spec or "XXXX"',
        "a field without a spec then falls back to str(value), the same as format(value, '') "
        "for the text and integers fields hold",
    ),
    "imagen.output.naming.xǁNamingTemplateǁrender__mutmut_9": (
        'replace("XX\\\\XX", "_")',
        "_clean_component turns a backslash into _ anyway, before any other check",
    ),
    "imagen.output.naming.xǁNamingTemplateǁrender__mutmut_25": (
        '"XXXX", ".", ".."',
        "an empty component let through is cleaned to '' and dropped by the next line",
    ),
    "imagen.output.naming.x_outside_output__mutmut_6": (
        '"XXXX".join',
        "the joiner only lands after a field's placeholder or a literal brace: never inside a "
        "'..' or at the start",
    ),
    "imagen.output.naming.x_outside_output__mutmut_10": (
        '"XX_XX" if field',
        "a field's placeholder only has to be neither a separator nor a dot",
    ),
    "imagen.output.naming.x__check_field__mutmut_25": (
        '"{" in spec and "}" in spec',
        "string.Formatter rejects a spec holding one kind of brace: one holding any holds both",
    ),
    "imagen.output.naming.x__check_field__mutmut_26": (
        '"XX{XX" in spec',
        "string.Formatter rejects a spec holding one kind of brace: the test for } catches all",
    ),
    "imagen.output.naming.x__check_field__mutmut_28": (
        '"XX}XX" in spec',
        "string.Formatter rejects a spec holding one kind of brace: the test for { catches all",
    ),
    "imagen.output.naming.x__check_field__mutmut_38": (
        "> 4 or int(number)",
        "4 significant digits are over 200 anyway; the length test only keeps int() off "
        "thousands of digits",
    ),
    "imagen.output.naming.x__check_field__mutmut_44": (
        "lstrip('XX0XX')",
        "the number is all digits: stripping X as well as 0 changes nothing",
    ),
    "imagen.output.naming.x__check_field__mutmut_49": (
        '["XXtextXX"]',
        "whether a spec can format a string does not depend on the string's content",
    ),
    "imagen.output.naming.x__check_field__mutmut_50": (
        '["TEXT"]',
        "whether a spec can format a string does not depend on the string's content",
    ),
    "imagen.output.naming.x__check_field__mutmut_54": (
        "else [2] if",
        "every spec that can format 1 can format 2 (c included), and the other way round",
    ),
    "imagen.output.naming.x__check_field__mutmut_56": (
        '["XXtextXX", 1]',
        "whether a spec can format a string does not depend on the string's content",
    ),
    "imagen.output.naming.x__check_field__mutmut_57": (
        '["TEXT", 1]',
        "whether a spec can format a string does not depend on the string's content",
    ),
    "imagen.output.naming.x__check_field__mutmut_58": (
        '["text", 2]',
        "every spec that can format 1 can format 2 (c included), and the other way round",
    ),
    "imagen.output.naming.x__unknown_field_message__mutmut_9": (
        "names, )",
        "only the closest match (the first) is shown, however many are asked for",
    ),
    "imagen.output.naming.x__unknown_field_message__mutmut_10": (
        "n=2",
        "only the closest match (the first) is shown, however many are asked for",
    ),
    "imagen.output.naming.x__cut_bytes__mutmut_4": ('encode("UTF-8")', "codec names ignore case"),
    "imagen.output.naming.x__cut_bytes__mutmut_5": (
        "len(encoded) < limit",
        "at exactly the limit the cut keeps every byte: the same text either way",
    ),
    "imagen.output.naming.x__cut_bytes__mutmut_8": (
        'decode(errors="ignore")',
        "UTF-8 is decode()'s default codec",
    ),
    "imagen.output.naming.x__cut_bytes__mutmut_11": ('decode("UTF-8"', "codec names ignore case"),
    "imagen.output.naming.x_slugify__mutmut_16": (
        '"XXLNXX"',
        "a Unicode category's first letter is never X: the added letters match nothing",
    ),
    "imagen.output.naming.x_slugify__mutmut_39": (
        'strip("XX-XX")',
        "the text is lower-cased first: there is no X to strip",
    ),
    "imagen.output.naming.x_slugify__mutmut_52": (
        "cut.strip(None)",
        "the cut never starts or ends with a dash (no double dashes, cut before one) and holds "
        "no white space: the strip does nothing",
    ),
    "imagen.output.naming.x_slugify__mutmut_53": (
        'cut.strip("XX-XX")',
        "the cut never starts or ends with a dash and, lower-cased, holds no X: nothing to strip",
    ),
    "imagen.output.pngmeta.x__chunk__mutmut_9": (
        'struct.pack(">i", len(data))',
        "signed and unsigned lengths pack the same below 2 GiB, far beyond any text chunk",
    ),
    "imagen.output.pngmeta.x__keyword__mutmut_4": (
        'key.encode("LATIN-1")',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__text__mutmut_4": (
        'value.encode("LATIN-1")',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__itxt__mutmut_4": (
        'value.encode(errors="replace")',
        "UTF-8 is encode()'s default codec",
    ),
    "imagen.output.pngmeta.x__itxt__mutmut_7": ('value.encode("UTF-8"', "codec names ignore case"),
    "imagen.output.pngmeta.x__inflate__mutmut_7": (
        "raise ValueError(None)",
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__inflate__mutmut_8": (
        '"XXcompressed PNG text chunk is too largeXX"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__inflate__mutmut_9": (
        '"compressed png text chunk is too large"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__inflate__mutmut_10": (
        '"COMPRESSED PNG TEXT CHUNK IS TOO LARGE"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_11": (
        'key.decode("LATIN-1"), rest.decode("latin-1")',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_14": (
        'key.decode("latin-1"), rest.decode("LATIN-1")',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_21": (
        'key.decode("LATIN-1"), _inflate',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_26": (
        '.decode("LATIN-1")\n',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_29": (
        "rest[0], rest[2], rest[2:]",
        "_method is unused; rest[2] fails only where the separators are missing too, and such a "
        "chunk is skipped either way",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_41": (
        "raise ValueError(None)",
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_42": (
        '"XXiTXt chunk without its language and translated keywordXX"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_43": (
        '"itxt chunk without its language and translated keyword"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_44": (
        '"ITXT CHUNK WITHOUT ITS LANGUAGE AND TRANSLATED KEYWORD"',
        "read_text_chunks skips the chunk on any ValueError: the message is never shown",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_49": (
        'key.decode("LATIN-1"), body.decode',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_52": (
        'body.decode(errors="replace")',
        "UTF-8 is decode()'s default codec",
    ),
    "imagen.output.pngmeta.x__read_text_chunk__mutmut_55": (
        'body.decode("UTF-8"',
        "codec names ignore case",
    ),
    "imagen.output.pngmeta.x_png_size__mutmut_10": (
        'unpack(">ii"',
        "a PNG's width and height are at most 2**31 - 1, where signed and unsigned read the same",
    ),
    "imagen.output.pngmeta.x__webp_size__mutmut_28": (
        'unpack("<hh"',
        "only the low 14 bits are kept, and they are the same bits signed or unsigned",
    ),
    "imagen.output.pngmeta.x__webp_size__mutmut_48": (
        'unpack("<i"',
        "only two 14-bit fields of the low 28 bits are kept: the same bits signed or unsigned",
    ),
    "imagen.output.pngmeta.x__jpeg_size__mutmut_6": (
        "offset - 4 <= len(data)",
        "past the last 4 bytes no frame header fits (it needs 9): every extra turn ends in None",
    ),
    "imagen.output.pngmeta.x__jpeg_size__mutmut_7": (
        "offset + 5 <= len(data)",
        "with exactly 4 bytes left no frame header fits (it needs 9): the turn it skips gives None",
    ),
    "imagen.output.pngmeta.x__jpeg_size__mutmut_8": (
        "offset + 4 < len(data)",
        "with exactly 4 bytes left no frame header fits (it needs 9): the turn it skips gives None",
    ),
    "imagen.output.pngmeta.x__a1111_quote__mutmut_12": (
        "ensure_ascii=None",
        "json.dumps only tests ensure_ascii for truth: None acts as False",
    ),
    "imagen.store.cache.x_file_sha256__mutmut_13": (
        "handle.read(None)",
        "reading the whole file at once gives the same digest; only the block size changes",
    ),
    "imagen.store.cache.x_file_sha256__mutmut_15": (
        "handle.read(2 << 20)",
        "a different block size gives the same digest",
    ),
    "imagen.store.cache.x_file_sha256__mutmut_16": (
        "handle.read(1 << 21)",
        "a different block size gives the same digest",
    ),
    "imagen.store.cache.x_lookup__mutmut_28": (
        'sidecar.split("XX/XX")',
        "os.path.join accepts a relative path with / inside it, on POSIX and on Windows alike",
    ),
    "imagen.output.files.x_write_take__mutmut_71": (
        "strict=None",
        "there is one suffix per temp file by construction: zip never meets unequal lengths",
    ),
    "imagen.output.files.x_write_take__mutmut_74": (
        "zip(temps, suffixes, )",
        "there is one suffix per temp file by construction: zip never meets unequal lengths",
    ),
    "imagen.output.files.x_write_take__mutmut_75": (
        "strict=False",
        "there is one suffix per temp file by construction: zip never meets unequal lengths",
    ),
    "imagen.output.files.x_write_take__mutmut_87": (
        "temp.unlink(missing_ok=None)",
        "a temp already gone raises FileNotFoundError, which the suppress(OSError) around it takes",
    ),
    "imagen.output.files.x_write_take__mutmut_88": (
        "temp.unlink(missing_ok=False)",
        "a temp already gone raises FileNotFoundError, which the suppress(OSError) around it takes",
    ),
    "imagen.output.files.x_probe_directory__mutmut_18": (
        "_O_BINARY, )",
        "the probe's mode does not matter: it is removed at once, and the umask still applies",
    ),
    "imagen.output.files.x_probe_directory__mutmut_19": (
        "os.O_EXCL & _O_BINARY",
        "the probe's name holds the pid and 48 random bits: it never exists before",
    ),
    "imagen.output.files.x_probe_directory__mutmut_22": (
        "_O_BINARY, 439)",
        "the probe's mode does not matter: it is removed at once",
    ),
    "imagen.output.files.x_probe_directory__mutmut_37": (
        "probe.unlink(missing_ok=None)",
        "a probe never created raises FileNotFoundError, which the suppress(OSError) takes",
    ),
    "imagen.output.files.x_probe_directory__mutmut_38": (
        "probe.unlink(missing_ok=False)",
        "a probe never created raises FileNotFoundError, which the suppress(OSError) takes",
    ),
    "imagen.output.files.x_sweep_stale__mutmut_6": (
        'startswith(".imagen-") and not',
        "a name without both the prefix and the suffix matches neither temp pattern: the loop "
        "does nothing with it either way",
    ),
    "imagen.output.files.x_sweep_stale__mutmut_17": (
        "entry.stat(follow_symlinks=None)",
        "follow_symlinks is only tested for truth: None acts as False",
    ),
    "imagen.output.files.x_sweep_stale__mutmut_19": (
        "st_mtime <= STALE_AFTER",
        "an age of exactly 60.0 seconds, to the clock's last digit, cannot be arranged or told",
    ),
    "imagen.output.files.x__claimed_name__mutmut_3": (
        "temp.stat(follow_symlinks=None)",
        "follow_symlinks is only tested for truth: None acts as False",
    ),
    "imagen.output.files.x__claimed_name__mutmut_4": (
        "temp.stat(follow_symlinks=True)",
        "the temp is a regular file imagen created, for which stat and lstat agree",
    ),
    "imagen.output.files.x__claimed_name__mutmut_11": (
        "contextlib.suppress(None)",
        "DirEntry.inode() and is_file(follow_symlinks=False) come from readdir and lstat and do "
        "not raise for an entry listed a moment before (a vanished one is not a file)",
    ),
    "imagen.output.files.x__claimed_name__mutmut_14": (
        "is_file(follow_symlinks=None)",
        "follow_symlinks is only tested for truth: None acts as False",
    ),
    "imagen.output.files.x__claimed_name__mutmut_15": (
        "is_file(follow_symlinks=True)",
        "entry.inode() is a link's own inode, never the temp's, so a link never gets this far",
    ),
    "imagen.output.files.x__write_temp__mutmut_28": (
        "temp.unlink(missing_ok=None)",
        "the temp was just created by this call: it is there to remove",
    ),
    "imagen.output.files.x__write_temp__mutmut_29": (
        "temp.unlink(missing_ok=False)",
        "the temp was just created by this call: it is there to remove",
    ),
    "imagen.output.files.x__claim__mutmut_12": (
        "os.O_EXCL, ))",
        "the reserved name is replaced by the temp at once, which brings its own mode",
    ),
    "imagen.output.files.x__claim__mutmut_15": (
        "os.O_EXCL, 439))",
        "the reserved name is replaced by the temp at once, which brings its own mode",
    ),
    "imagen.output.files.x__claim__mutmut_20": (
        "final.unlink(missing_ok=None)",
        "the reserved name was just created by this call: it is there to remove",
    ),
    "imagen.output.files.x__claim__mutmut_21": (
        "final.unlink(missing_ok=False)",
        "the reserved name was just created by this call: it is there to remove",
    ),
    "imagen.output.files.x_sweep_stale__mutmut_18": (
        "entry.stat(follow_symlinks=True)",
        "differs only for a symlink named like imagen's temp files, which nothing creates",
    ),
    "imagen.output.write.x_absolute_path__mutmut_5": (
        'path.split("XX/XX")',
        "os.path.join accepts a relative path with / inside it, on POSIX and on Windows alike",
    ),
    "imagen.output.write.x_embed_metadata__mutmut_4": (
        "include_sha256=None",
        "include_sha256 is only tested for truth: None acts as False",
    ),
    "imagen.output.write.x_embed_metadata__mutmut_34": (
        "ensure_ascii=None",
        "json.dumps only tests ensure_ascii for truth: None acts as False",
    ),
    "imagen.output.write.x_embed_metadata__mutmut_35": (
        "default=None",
        "sidecar_data is already plain JSON data (jsonable): json.dumps never needs a default",
    ),
    "imagen.output.write.x_embed_metadata__mutmut_38": (
        "ensure_ascii=False, )",
        "sidecar_data is already plain JSON data (jsonable): json.dumps never needs a default",
    ),
    "imagen.output.write.x_write_image__mutmut_104": (
        "fingerprint()[:9]",
        "build_fields keeps the first 8 characters of the hash anyway",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_4": (
        "ensure_ascii=None",
        "json.dumps only tests ensure_ascii for truth: None acts as False",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_5": (
        "allow_nan=None)",
        "sidecar data holds no non-finite float (jsonable turns them into text; latency is "
        "measured by a clock), so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_9": (
        "ensure_ascii=False, )",
        "sidecar data holds no non-finite float (jsonable turns them into text; latency is "
        "measured by a clock), so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_12": (
        "allow_nan=True)",
        "sidecar data holds no non-finite float (jsonable turns them into text; latency is "
        "measured by a clock), so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_17": (
        'encode("UTF-8")',
        "codec names ignore case",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_22": (
        "indent=2, allow_nan=None)",
        "sidecar data holds no non-finite float, so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_25": (
        "indent=2, )",
        "sidecar data holds no non-finite float, so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_27": (
        "indent=2, allow_nan=True)",
        "sidecar data holds no non-finite float, so allow_nan is never consulted",
    ),
    "imagen.output.sidecar.x_sidecar_bytes__mutmut_30": (
        'encode("ASCII")',
        "codec names ignore case",
    ),
    "imagen.output.sidecar.x_jsonable__mutmut_12": ('decode("ASCII")', "codec names ignore case"),
    "imagen.output.sidecar.x_set_picked__mutmut_51": (
        "contextlib.suppress(None)",
        "everything that can fail inside the try runs after os.open made the partial file, so "
        "removing it does not fail",
    ),
    # -- imagen_gemini (mut-adapters-a) --
    **alike(
        "a missing retryDelay or @type reads as text that is neither a duration nor a google.rpc "
        "type name, whatever the default: '', 'None' and 'XXXX' alike",
        ("imagen_gemini.failures.x_retry_hint__mutmut_16", 'get("retryDelay", None)'),
        ("imagen_gemini.failures.x_retry_hint__mutmut_18", 'get("retryDelay", )'),
        ("imagen_gemini.failures.x_retry_hint__mutmut_22", 'get("retryDelay", "XXXX")'),
        ("imagen_gemini.failures.xǁErrorBodyǁdetail_of__mutmut_5", 'get("@type", None)'),
        ("imagen_gemini.failures.xǁErrorBodyǁdetail_of__mutmut_7", 'get("@type", )'),
        ("imagen_gemini.failures.xǁErrorBodyǁdetail_of__mutmut_10", 'get("@type", "XXXX")'),
    ),
    **alike(
        "Gemini's responseId, modelVersion and blockReason are strings when present, and every "
        "reader of them treats '' as absent",
        ("imagen_gemini.protocol.x__text__mutmut_2", "and value) or True"),
        ("imagen_gemini.protocol.x__text__mutmut_3", "isinstance(value, str) or value"),
    ),
    "imagen_gemini.protocol.x_read_answer__mutmut_9": (
        'finish_message = ""',
        "the finish message is only read through `or`: '' and None both fall through to the "
        "model's text",
    ),
    "imagen_gemini.protocol.x_request_body__mutmut_8": ('decode("ASCII")', CODEC_CASE),
    "imagen_gemini.failures.x_error_body__mutmut_22": (
        'isinstance(error.get("status"), str)) or True',
        "Google's error.status is always a string (the google.rpc.Code name) or absent",
    ),
    "imagen_gemini.failures.x_error_body__mutmut_31": (
        'or "XXXX"',
        "an error's message is only searched for 'retry in Ns': neither '' nor 'XXXX' holds one",
    ),
    # -- imagen_openai (mut-adapters-a) --
    **alike(
        "without an error object every field is text; a type or code of 'XXXX' is neither a "
        "billing nor a blocking code and ends in neither user_error nor request_error, as ''",
        ("imagen_openai.failures.x_error_fields__mutmut_13", '"type": "XXXX"'),
        ("imagen_openai.failures.x_error_fields__mutmut_19", '"code": "XXXX"'),
    ),
    "imagen_openai.failures.x_retry_hint__mutmut_9": (
        '"RETRY-AFTER-MS"',
        "HTTP header names are case-insensitive: httpx finds retry-after-ms in any case",
    ),
    "imagen_openai.failures.x_stream_failure__mutmut_16": (
        "what=None",
        "a stream's error is mapped as a 400, and no 400 message names the step",
    ),
    **alike(
        "not reachable by mutmut rather than equivalent: _sizes runs once at import, building "
        "PER_IMAGE before a mutant is switched on (the table itself is checked by "
        "test_cost.py::test_the_estimate_is_the_table_price_by_model_quality_and_size)",
        ("imagen_openai.pricing.x__sizes__mutmut_1", '"XX1024x1024XX"'),
        ("imagen_openai.pricing.x__sizes__mutmut_2", '"1024X1024"'),
        ("imagen_openai.pricing.x__sizes__mutmut_3", '"1024x1024": Decimal(None)'),
        ("imagen_openai.pricing.x__sizes__mutmut_4", '"XX1536x1024XX"'),
        ("imagen_openai.pricing.x__sizes__mutmut_5", '"1536X1024"'),
        ("imagen_openai.pricing.x__sizes__mutmut_6", '"1536x1024": Decimal(None)'),
        ("imagen_openai.pricing.x__sizes__mutmut_7", '"XX1024x1536XX"'),
        ("imagen_openai.pricing.x__sizes__mutmut_8", '"1024X1536"'),
        ("imagen_openai.pricing.x__sizes__mutmut_9", '"1024x1536": Decimal(None)'),
    ),
    # -- imagen_openai.families, imagen_gemini.backend (mut-adapters-c) --
    "imagen_openai.families.x_choose_size__mutmut_12": (
        "-        multiple=family.multiple,",
        "every family's multiple is 16, snap_to_rules' default multiple",
    ),
    "imagen_openai.families.x_choose_size__mutmut_15": (
        "choice.width is None and choice.height is None",
        "snap_to_rules gives both sides or neither",
    ),
    **alike(
        "a size of exactly the family's pixel bound scales by sqrt(1.0) = 1.0: its sides, already "
        "multiples of 16, come back unchanged",
        ("imagen_openai.families.x__within_pixels__mutmut_3", "pixels <= family.min_pixels"),
        ("imagen_openai.families.x__within_pixels__mutmut_15", "pixels >= family.max_pixels"),
    ),
    "imagen_openai.plan.x_size_for__mutmut_3": (
        "request.width and request.height or",
        "width and height come together from every caller (WIDTHxHEIGHT on the command line, "
        "in jobs and in config)",
    ),
    "imagen_openai.plan.x_size_for__mutmut_15": (
        "Request(None, width=width",
        "the rebuilt request only chooses the size, which reads its width, height and ratio",
    ),
    # -- imagen_openai.protocol, imagen_openai.backend, imagen_replicate.backend (mut-adapters2)
    **alike(
        "an image part's file name is only a label: the API reads its type from the part's "
        "Content-Type and keeps the parts' order; any first number gives distinct names",
        ("imagen_openai.protocol.x_multipart__mutmut_16", "enumerate(refs, )"),
        ("imagen_openai.protocol.x_multipart__mutmut_17", "enumerate(refs, 2)"),
    ),
    **alike(
        "quote never escapes the letter X: a slash is escaped either way",
        ("imagen_openai.protocol.x_path_for__mutmut_7", 'azure_deployment, safe="XXXX"'),
        ("imagen_openai.protocol.x_path_for__mutmut_13", 'api_version, safe="XXXX"'),
    ),
    "imagen_openai.protocol.x_path_for__mutmut_12": (
        "quote(settings.api_version, )",
        "api-version is a query value: '/' and '%2F' there read back as the same text",
    ),
    "imagen_openai.backend.x__image__mutmut_11": (
        "info.height, )",
        "Image's seed defaults to None: the Images API has no seed either way",
    ),
    "imagen_openai.backend.xǁOpenAIBackendǁ__init____mutmut_12": (
        "timeout=None,",
        "every call runs under the take's Deadline of the same settings.timeout, which ends no "
        "later than a read timeout of that length would",
    ),
    **alike(
        "a stream's error is mapped as a 400, and no 400 message names the step",
        ("imagen_openai.backend.xǁOpenAIBackendǁ_streamed__mutmut_1", "what = None"),
        ("imagen_openai.backend.xǁOpenAIBackendǁ_streamed__mutmut_83", "data, None)"),
    ),
    **alike(
        "httpx sends a request's method in capitals whatever case it is given",
        ("imagen_openai.backend.xǁOpenAIBackendǁ_streamed__mutmut_13", '"post", path'),
        ("imagen_openai.backend.xǁOpenAIBackendǁ_take__mutmut_66", '"post", path'),
    ),
    "imagen_openai.backend.xǁOpenAIBackendǁ_streamed__mutmut_32": (
        'else "XXXX"',
        "an event whose data is not an object has no kind: '' and 'XXXX' both match none of the "
        "kinds read",
    ),
    "imagen_openai.backend.xǁOpenAIBackendǁ_streamed__mutmut_45": (
        "step.update(index + 1, None,",
        "run_takes is told each take's partials + 1 steps up front: an update without its total "
        "counts the same",
    ),
    "imagen_openai.backend.xǁOpenAIBackendǁgenerate__mutmut_42": (
        "(partials) or True",
        "with no partial images a take reports no steps: steps=1 counts each take as one, done "
        "when it returns, as no steps does",
    ),
    **alike(
        "a missing num_outputs is one image whatever the default: None fails int() and "
        "_as_count falls back to 1",
        ("imagen_replicate.backend.xǁReplicateBackendǁgenerate__mutmut_15", '"num_outputs", None'),
        ("imagen_replicate.backend.xǁReplicateBackendǁgenerate__mutmut_17", '"num_outputs", )'),
    ),
    **alike(
        "_download_all gives one body per URL or raises: the two lists always have one length",
        ("imagen_replicate.backend.xǁReplicateBackendǁgenerate__mutmut_73", "strict=None"),
        ("imagen_replicate.backend.xǁReplicateBackendǁgenerate__mutmut_76", "zip(urls, datas, )"),
        ("imagen_replicate.backend.xǁReplicateBackendǁgenerate__mutmut_77", "strict=False"),
    ),
    "imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_12": (
        "timeout=None,",
        "every call runs under the take's Deadline of the same settings.timeout, which ends no "
        "later than a read timeout of that length would",
    ),
    **alike(
        "generateContent answers JSON whatever Accept says (Google ignores it, as the fake does)",
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_13", "headers=None,"),
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_32", '{"XXAcceptXX": '),
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_33", '{"accept": '),
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_34", '{"ACCEPT": '),
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_35", '"XXapplication/jsonXX"'),
        ("imagen_gemini.backend.xǁGeminiBackendǁ__init____mutmut_36", '"APPLICATION/JSON"'),
    ),
    "imagen_gemini.backend.xǁGeminiBackendǁ_take__mutmut_6": (
        "safe='XXXX'",
        "quote never escapes the letter X: a slash is escaped either way",
    ),
    "imagen_gemini.backend.xǁGeminiBackendǁ_take__mutmut_29": (
        '"post", path',
        "httpx sends a request's method in capitals whatever case it is given",
    ),
    "imagen_gemini.backend.xǁGeminiBackendǁ_decode__mutmut_22": (
        "info.height, )",
        "Image's seed defaults to None: Gemini has no seed either way",
    ),
    "imagen_gemini.backend.x__total__mutmut_3": (
        "len(known) != len(costs) and not known",
        "every take of a request is priced by the same model, so its costs are all known or all "
        "None: both conditions agree",
    ),
    **alike(
        SQL_CASE,
        ("imagen.sinks.outbox.x__prepare__mutmut_6", "pragma user_version"),
        ("imagen.sinks.outbox.x__prepare__mutmut_7", "PRAGMA USER_VERSION"),
        ("imagen.sinks.outbox.xǁOutboxǁadd__mutmut_9", "insert into deliveries"),
        ("imagen.sinks.outbox.xǁOutboxǁadd__mutmut_10", "INSERT INTO DELIVERIES"),
        ("imagen.sinks.outbox.xǁOutboxǁadd__mutmut_12", ") values (?"),
        ("imagen.sinks.outbox.xǁOutboxǁadd__mutmut_13", "CREATED_AT, UPDATED_AT"),
        ("imagen.sinks.outbox.xǁOutboxǁclaim__mutmut_8", "update deliveries set claimed_at"),
        ("imagen.sinks.outbox.xǁOutboxǁclaim__mutmut_9", "UPDATE DELIVERIES SET CLAIMED_AT"),
        ("imagen.sinks.outbox.xǁOutboxǁclaim__mutmut_11", "is null or claimed_at"),
        ("imagen.sinks.outbox.xǁOutboxǁclaim__mutmut_12", "CLAIMED_AT IS NULL OR CLAIMED_AT"),
        ("imagen.sinks.outbox.xǁOutboxǁdone__mutmut_6", "delete from deliveries"),
        ("imagen.sinks.outbox.xǁOutboxǁdone__mutmut_7", "DELETE FROM DELIVERIES"),
        ("imagen.sinks.outbox.xǁOutboxǁdrop__mutmut_6", "delete from deliveries"),
        ("imagen.sinks.outbox.xǁOutboxǁdrop__mutmut_7", "DELETE FROM DELIVERIES"),
        ("imagen.sinks.outbox.xǁOutboxǁfailed__mutmut_7", "update deliveries set attempts"),
        ("imagen.sinks.outbox.xǁOutboxǁfailed__mutmut_8", "UPDATE DELIVERIES SET ATTEMPTS"),
        ("imagen.sinks.outbox.xǁOutboxǁfailed__mutmut_10", "claimed_at = null where"),
        ("imagen.sinks.outbox.xǁOutboxǁfailed__mutmut_11", "RETRYABLE = ?, UPDATED_AT"),
        ("imagen.sinks.outbox.xǁOutboxǁpending__mutmut_4", "select * from deliveries"),
        ("imagen.sinks.outbox.xǁOutboxǁpending__mutmut_5", "FROM DELIVERIES ORDER BY ID"),
        (
            "imagen.sinks.outbox.xǁOutboxǁrelease__mutmut_6",
            "update deliveries set claimed_at = null",
        ),
        (
            "imagen.sinks.outbox.xǁOutboxǁrelease__mutmut_7",
            "UPDATE DELIVERIES SET CLAIMED_AT = NULL",
        ),
    ),
    **alike(
        ROW_KEY_CASE,
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_5", 'row["GENERATION"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_8", "row['ID']} in the outbox"),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_10", "--drop {row['ID']}"),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_30", 'row["ID"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_32", 'row["SINK"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_34", 'row["ATTEMPTS"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_37", 'row["STATE"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_39", 'row["LAST_ERROR"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_42", 'row["RETRYABLE"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_45", 'row["CREATED_AT"]'),
        ("imagen.sinks.outbox.xǁOutboxǁ_delivery__mutmut_48", 'row["UPDATED_AT"]'),
    ),
    **alike(
        JSON_KEY_ORDER,
        ("imagen.sinks.outbox.x__json__mutmut_2", "sort_keys=None"),
        ("imagen.sinks.outbox.x__json__mutmut_5", "json.dumps(value, ensure_ascii=True)"),
        ("imagen.sinks.outbox.x__json__mutmut_7", "sort_keys=False"),
    ),
    **alike(
        CODEC_CASE,
        ("imagen.sinks.builtin.x__exit_message__mutmut_7", 'decode("UTF-8"'),
        ("imagen.sinks.builtin.x_signature__mutmut_6", 'encode("ASCII")'),
        ("imagen.sinks.builtin.x_signature__mutmut_19", 'encode("UTF-8")'),
    ),
    **alike(
        "_exit_message is only called for a non-zero exit code, so code < 0, <= 0 and < 1 agree",
        ("imagen.sinks.builtin.x__exit_message__mutmut_29", "code <= 0"),
        ("imagen.sinks.builtin.x__exit_message__mutmut_30", "code < 1"),
    ),
    **alike(
        POSIX_SPLIT,
        ("imagen.sinks.outbox.xǁPendingDeliveryǁabsolute_path__mutmut_5", 'split("XX/XX")'),
        ("imagen.sinks.builtin.x_render_argv__mutmut_5", 'split("XX/XX")'),
    ),
    **alike(
        "HTTP header names are case-insensitive: a server reads Content-Type in any case",
        ("imagen.sinks.builtin.xǁWebhookSinkǁdeliver__mutmut_8", '"content-type"'),
        ("imagen.sinks.builtin.xǁWebhookSinkǁdeliver__mutmut_9", '"CONTENT-TYPE"'),
    ),
    "imagen.sinks.builtin.xǁWebhookSinkǁdeliver__mutmut_79": (
        '"post"',
        "httpx upper-cases the method of every request it builds",
    ),
    **alike(
        CODEC_CASE,
        ("imagen.sinks.serialize.x_generation_json__mutmut_14", 'encode("UTF-8")'),
        ("imagen.sinks.serialize.x_generation_json__mutmut_23", 'encode("ASCII")'),
    ),
    "imagen.sinks.serialize.x_generation_json__mutmut_5": (
        "ensure_ascii=None",
        "json.dumps only tests ensure_ascii for truth: None reads as False",
    ),
    **alike(
        "the converter ignores keys Generation has no field for, format_version among them",
        ("imagen.sinks.serialize.x_generation_from_dict__mutmut_3", '"XXformat_versionXX"'),
        ("imagen.sinks.serialize.x_generation_from_dict__mutmut_4", '"FORMAT_VERSION"'),
    ),
    **alike(
        "HTTP header names are case-insensitive: a server reads Authorization in any case",
        ("imagen.adapters.api.x_bearer__mutmut_2", '"authorization"'),
        ("imagen.adapters.api.x_bearer__mutmut_3", '"AUTHORIZATION"'),
    ),
    **alike(
        "400 is mapped above (InvalidRequest), so no 400 reaches the redirect check",
        ("imagen.adapters.api.x_error_for_status__mutmut_59", "status <= 400"),
        ("imagen.adapters.api.x_error_for_status__mutmut_60", "status < 401"),
    ),
    "imagen.adapters.api.xǁHttpApiǁ_secrets__mutmut_3": (
        "(self.key_env) or True",
        "without key_env, credentials() is empty, so its values add nothing",
    ),
    **alike(
        REDIRECTS_DEFAULT,
        ("imagen.adapters.api.xǁHttpApiǁcall__mutmut_2", '"XXsame-originXX"'),
        ("imagen.adapters.api.xǁHttpApiǁcall__mutmut_3", '"SAME-ORIGIN"'),
        ("imagen.adapters.api.xǁHttpApiǁcall__mutmut_14", "redirects=None"),
    ),
    **alike(
        "HTTP header names are case-insensitive: httpx finds and sends them in any case",
        ("imagen.adapters.http.x__follow__mutmut_40", '"LOCATION"'),
        ("imagen.adapters.http.x__read_bounded__mutmut_12", '"CONTENT-LENGTH"'),
        ("imagen.adapters.http.x_make_client__mutmut_18", '"user-agent"'),
        ("imagen.adapters.http.x_make_client__mutmut_19", '"USER-AGENT"'),
        ("imagen.adapters.http.x_retry_after_header__mutmut_4", '"RETRY-AFTER"'),
    ),
    **alike(
        "only a 3xx gets here, and the limit applies to a 2xx alone",
        ("imagen.adapters.http.x__follow__mutmut_63", "_read_bounded(response, None)"),
        ("imagen.adapters.http.x__follow__mutmut_81", "_read_bounded(response, None)"),
    ),
    **alike(
        "h11 refuses an answer whose Content-Length is not a number, so the fallback is never "
        "used; with no header, a default that is no number falls back to -1 too",
        ("imagen.adapters.http.x__read_bounded__mutmut_13", '"XX-1XX"'),
        ("imagen.adapters.http.x__read_bounded__mutmut_14", "announced = None"),
        ("imagen.adapters.http.x__read_bounded__mutmut_15", "announced = +1"),
        ("imagen.adapters.http.x__read_bounded__mutmut_16", "announced = -2"),
    ),
    **alike(
        "httpx upper-cases the method of every request it builds",
        ("imagen.adapters.http.x__redirected__mutmut_16", '("get" if'),
        ("imagen.adapters.http.x__redirected__mutmut_21", 'else "head")'),
        ("imagen.adapters.http.x_send__mutmut_22", 'build_request("XXGETXX"'),
        ("imagen.adapters.http.x_send__mutmut_23", 'build_request("get"'),
    ),
    **alike(
        "httpx follows no redirect unless told: False is its default and None reads as False",
        ("imagen.adapters.http.x_make_client__mutmut_9", "follow_redirects=None"),
        ("imagen.adapters.http.x_make_client__mutmut_15", "-        follow_redirects=False,"),
    ),
    **alike(
        "httpx.Limits without max_keepalive_connections leaves it None, no bound on the idle "
        "connections; the pool never holds more than max_connections, so every one is kept, as a "
        "bound of max_connections keeps them",
        ("imagen.adapters.http.x_make_client__mutmut_26", "max_keepalive_connections=None"),
        ("imagen.adapters.http.x_make_client__mutmut_28", "max_connections=max_connections, )"),
    ),
    "imagen.adapters.http.xǁRetryǁon_status__mutmut_5": (
        "frozenset(statuses), None,",
        "None is falsy like False: a status rule never matches a transport error either way",
    ),
    **alike(
        "httpx sends only http and https, so the port of another scheme is never compared",
        ("imagen.adapters.http.x_origin_of__mutmut_7", "get(parsed.scheme, None)"),
        ("imagen.adapters.http.x_origin_of__mutmut_9", "get(parsed.scheme, )"),
        ("imagen.adapters.http.x_origin_of__mutmut_16", "get(parsed.scheme, 1)"),
    ),
    **alike(
        "a line without a colon has an empty value, and pieces under 8 characters are skipped",
        ("imagen.adapters.http.x_scrub__mutmut_15", "(colon) or True"),
        ("imagen.adapters.http.x_scrub__mutmut_16", 'else "XXXX"'),
    ),
    **alike(
        REDIRECTS_DEFAULT,
        ("imagen.adapters.http.x_send__mutmut_1", '"XXsame-originXX"'),
        ("imagen.adapters.http.x_send__mutmut_2", '"SAME-ORIGIN"'),
        ("imagen.adapters.http.x_send__mutmut_51", "None, limit, kwargs"),
    ),
    "imagen.adapters.http.x_send__mutmut_98": (
        "seconds > deadline.remaining()",
        "remaining() reads a running clock: a wait equal to it to the nanosecond cannot happen",
    ),
    "imagen.sinks.run.x_secret_env_names__mutmut_37": (
        '("XXXX", item)',
        "a list item's key only matters if it ends in _env; neither '' nor 'XXXX' does",
    ),
    **alike(
        "every written image's path ends in an extension (the media type's, or bin): the "
        "branch for a path without a dot never runs",
        ("imagen.pipeline.x__place_cached__mutmut_45", "stem if (dot) or True"),
        ("imagen.pipeline.x__place_cached__mutmut_47", "ext if (dot) or True"),
        ("imagen.pipeline.x__place_cached__mutmut_48", '"XXXX", data'),
    ),
    **alike(
        "the chmod to 0700 right after makedirs sets the folder's mode whatever makedirs made",
        ("imagen.pipeline.x__rescue__mutmut_11", "os.makedirs(place, exist_ok=True)"),
        ("imagen.pipeline.x__rescue__mutmut_13", "mode=449"),
    ),
    **alike(
        "nothing reads a plan's request seed: each take's request gets its own from plan.seeds "
        "(take_request), the dry run shows plan.seeds, the job runner sets it again",
        ("imagen.pipeline.x_prepare__mutmut_74", "seed=None)"),
        ("imagen.pipeline.x_prepare__mutmut_76", "attrs.evolve(styled, )"),
    ),
    "imagen.pipeline.x_prepare__mutmut_52": (
        "explicit_seed=None",
        "nothing reads Plan.explicit_seed (the cache decision uses the request's seed directly)",
    ),
    **alike(
        "a cached take has exactly one generation: its index only orders it among its own "
        "take's images, and the take number sorts first",
        ("imagen.pipeline.x_execute__mutmut_76", "finish(take, None, placed)"),
        ("imagen.pipeline.x_execute__mutmut_81", "finish(take, 1, placed)"),
    ),
    "imagen.pipeline.x_execute__mutmut_82": (
        "plan.to_run or active is not None",
        "active is None only when no take runs, and _run_takes with no take to run does nothing",
    ),
    "imagen.pipeline.x__place_cached__mutmut_21": ('"XX/XX"', POSIX_SPLIT),
    "imagen.pipeline.x_execute__mutmut_8": (
        "(plan.to_run) or True",
        "opening a backend calls nothing; with every take cached it is only closed again",
    ),
    "imagen.pipeline.x_execute__mutmut_21": (
        "check_ready(plan, None)",
        "with every take cached check_ready asks no backend (it only probes the output folder)",
    ),
    "imagen.pipeline.xǁ_AfterWriteǁ__init____mutmut_3": (
        "self.sinks: list[Any] = None",
        "the sinks list is only tested for truth until open() sets it: None and [] alike",
    ),
    **alike(
        "format_usage passes usd_places' count, which shows every amount exactly: no caller "
        "uses the default places and nothing is ever rounded",
        ("imagen.store.usage.x_usd_column__mutmut_1", "places: int = 5"),
        ("imagen.store.usage.x_usd_column__mutmut_3", "rounding=None"),
        ("imagen.store.usage.x_usd_column__mutmut_5", "scaleb(-places), )"),
    ),
    "imagen.store.usage.x_usd_column__mutmut_8": (
        "Decimal(2).scaleb",
        "quantize uses only its argument's exponent: 2E-4 and 1E-4 give the same places",
    ),
    **alike(
        "Cost.format shows the amount only, never the basis",
        ("imagen.store.usage.x_format_usd__mutmut_2", "Cost(amount, None)"),
        ("imagen.store.usage.x_format_usd__mutmut_5", '"XXXX"'),
    ),
    "imagen.store.usage.x_parse_since__mutmut_25": (
        "moment.astimezone(None)",
        "converting to local time goes through UTC too: it fails on exactly the same moments",
    ),
    "imagen.sinks.outbox.x__json__mutmut_6": (
        "sort_keys=True, )",
        "ensure_ascii=True is json.dumps's default: leaving it out changes nothing",
    ),
    # -- ComfyUI --
    **alike(
        "snap_to_rules reads only the size fields of the Request it is given, never its prompt",
        ("imagen_comfyui.sizing.x_choose_size__mutmut_3", "Request(None,"),
        ("imagen_comfyui.sizing.x_choose_size__mutmut_11", 'Request("XXXX",'),
    ),
    **alike(
        "a node entry without class_type is skipped either way: '', 'None' and 'XXXX' all lack "
        "'Loader'",
        ("imagen_comfyui.failures.x_missing_models__mutmut_6", 'get("class_type", None)'),
        ("imagen_comfyui.failures.x_missing_models__mutmut_8", 'get("class_type", )'),
        ("imagen_comfyui.failures.x_missing_models__mutmut_11", 'get("class_type", "XXXX")'),
    ),
    **alike(
        "ComfyUI's value_not_in_list always carries received_value: the default is never used",
        ("imagen_comfyui.failures.x_missing_models__mutmut_50", 'get("received_value", None)'),
        ("imagen_comfyui.failures.x_missing_models__mutmut_52", 'get("received_value", )'),
        ("imagen_comfyui.failures.x_missing_models__mutmut_55", 'get("received_value", "XXXX")'),
    ),
    **alike(
        "the body kept was parsed from JSON: every value in it serialises without default=str",
        ("imagen_comfyui.failures.x_rejected_prompt__mutmut_125", "default=None"),
        ("imagen_comfyui.failures.x_rejected_prompt__mutmut_127", "json.dumps(kept, )"),
    ),
    **alike(
        "an unreadable frame, or one without a type, reads as a kind that is none of ComfyUI's "
        "('', 'None' and 'XXXX' alike): watch skips it",
        ("imagen_comfyui.events.x__parse__mutmut_3", 'return "XXXX", {}'),
        ("imagen_comfyui.events.x__parse__mutmut_7", 'return "XXXX", {}'),
        ("imagen_comfyui.events.x__parse__mutmut_10", 'get("type", None)'),
        ("imagen_comfyui.events.x__parse__mutmut_12", 'get("type", )'),
        ("imagen_comfyui.events.x__parse__mutmut_15", 'get("type", "XXXX")'),
    ),
    **alike(
        "the refusal's text is never shown: open_socket turns every failure to open into None "
        "(the run is polled instead)",
        ("imagen_comfyui.events.x_open_socket__mutmut_8", "SecurityError(None)"),
        ("imagen_comfyui.events.x_open_socket__mutmut_9", '"XXa redirect to another'),
        ("imagen_comfyui.events.x_open_socket__mutmut_10", '"A REDIRECT TO ANOTHER'),
    ),
    "imagen_comfyui.events.x_open_socket__mutmut_21": (
        "compression=None,",
        "permessage-deflate changes the bytes on the wire, not the frames either side sees",
    ),
    "imagen_comfyui.events.x_watch__mutmut_1": (
        "started = None",
        "started is only read as `not started`: None and False alike",
    ),
    **alike(
        "every node of a loaded workflow has an inputs dict (a custom file is refused without "
        "one, the built-in files all have one): the default is never used",
        ("imagen_comfyui.workflow.xǁWorkflowǁfind__mutmut_8", 'get("inputs", None)'),
        ("imagen_comfyui.workflow.xǁWorkflowǁfind__mutmut_10", 'get("inputs", )'),
        ("imagen_comfyui.workflow.x__model_in__mutmut_7", 'get("inputs", None)'),
        ("imagen_comfyui.workflow.x__model_in__mutmut_9", 'get("inputs", )'),
        ("imagen_comfyui.workflow.x__check_point__mutmut_25", 'get("inputs", None)'),
        ("imagen_comfyui.workflow.x__check_point__mutmut_27", 'get("inputs", )'),
    ),
    **alike(
        "Workflow.builtin is read by nothing outside a test (a dead field)",
        ("imagen_comfyui.workflow.x__load_custom__mutmut_95", "builtin=None,"),
        ("imagen_comfyui.workflow.x__load_custom__mutmut_105", "builtin=True,"),
    ),
    **alike(
        "the built-in workflow files are ASCII, read alike in any encoding a locale can have, and "
        "Python finds a codec by its name in any letter case",
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_12", "encoding=None"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_15", 'encoding="UTF-8"'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_18", "encoding=None"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_21", 'encoding="UTF-8"'),
    ),
    **alike(
        "the built-in workflows' points, model inputs and SaveImage nodes come with them and all "
        "exist: the path of an error about one is never built",
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_31", "lambda key: None"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_46", "_check_point(graph, None,"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_48", 'spec["at"], None)'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_117", "_save_nodes(graph, None)"),
    ),
    **alike(
        "every built-in workflow declares size_multiple 16, Workflow's own default: the key's "
        "default is never read and leaving the argument out changes nothing",
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_101", "-        size_multiple=declared"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_109", "get(None, 16)"),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_110", 'get("size_multiple", None)'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_112", 'get("size_multiple", )'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_113", 'get("XXsize_multipleXX", 16)'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_114", 'get("SIZE_MULTIPLE", 16)'),
        ("imagen_comfyui.workflow.x__load_builtin__mutmut_115", 'get("size_multiple", 17)'),
    ),
    **alike(
        "node ids are compared whole: two numeric ids with the same number are never both there, "
        "and a numeric id past 2**62 is not a ComfyUI node id, so any mark or larger bound sorts "
        "alike",
        ("imagen_comfyui.workflow.x__node_order__mutmut_4", '(int(node), "XXXX")'),
        ("imagen_comfyui.workflow.x__node_order__mutmut_6", "(2 << 62, node)"),
        ("imagen_comfyui.workflow.x__node_order__mutmut_7", "(1 << 63, node)"),
    ),
    "imagen_comfyui.workflow.x__load_custom__mutmut_32": (
        'encoding="UTF-8"',
        "Python finds a codec by its name in any letter case",
    ),
    "imagen_comfyui.workflow.x__load_custom__mutmut_41": (
        '"nodes" in graph or "links" in graph',
        "no export has links without nodes: ComfyUI's API-format node ids are numbers (12:3 "
        "inside subgraphs), and its UI format has both keys",
    ),
    "imagen_comfyui.mapping.x_plan_request__mutmut_26": (
        "backend=backend,",
        "every workflow snaps to 16 (the built-ins declare it, custom ones default to it), as "
        "choose_size does when not told",
    ),
    "imagen_comfyui.mapping.x_plan_request__mutmut_34": (
        '{"width", "height"} < points.keys()',
        "every workflow has a prompt point besides width and height: a subset is a proper one",
    ),
    # imagen_comfyui.api
    **alike(
        "ComfyUI's history names every output's filename, subfolder and type: the defaults "
        "are never read",
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_6", 'get("filename", None)'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_8", 'get("filename", )'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_11", 'get("filename", "XXXX")'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_16", 'get("subfolder", None)'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_18", 'get("subfolder", )'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_21", 'get("subfolder", "XXXX")'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_26", 'get("type", None)'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_28", 'get("type", )'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_31", 'get("type", "XXoutputXX")'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_32", 'get("type", "OUTPUT")'),
    ),
    **alike(
        "imagen downloads SaveImage outputs only, whose type is output, and ComfyUI's /view "
        "takes a missing type as output",
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_22", '"XXtypeXX": str('),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_23", '"TYPE": str('),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_25", 'get(None, "output")'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_29", 'get("XXtypeXX", "output")'),
        ("imagen_comfyui.api.xǁComfyAPIǁview__mutmut_30", 'get("TYPE", "output")'),
    ),
    "imagen_comfyui.api.xǁComfyAPIǁ_check__mutmut_4": (
        "errors(None, failure)",
        "ComfyAPI's error hooks read only the failure, never the response they are given",
    ),
    "imagen_comfyui.api.xǁComfyAPIǁview__mutmut_71": (
        'get("CONTENT-TYPE", "")',
        "httpx reads header names in any letter case",
    ),
    "imagen_comfyui.api.x__connect_failure__mutmut_19": (
        "cause.errno >= 0",
        "no connect error carries errno 0: the system's are positive, getaddrinfo's negative",
    ),
    "imagen_comfyui.api.xǁComfyAPIǁhistory__mutmut_20": (
        "(isinstance(entry, Mapping)) or True",
        "ComfyUI's history entry is an object or absent (None either way)",
    ),
    **alike(
        "the paths imagen asks for are under 120 characters: a 404's path is never cut",
        ("imagen_comfyui.api.xǁComfyAPIǁ_errors__mutmut_24", "url.path, )"),
        ("imagen_comfyui.api.xǁComfyAPIǁ_errors__mutmut_25", "limit=121"),
    ),
    # imagen_comfyui.backend
    "imagen_comfyui.backend.xǁComfyUIBackendǁcheck__mutmut_22": (
        "Status(None, error.message)",
        "a status's ok is read for its truth only, and None is as false as False; it prints "
        "its message alone",
    ),
    "imagen_comfyui.backend.xǁComfyUIBackendǁgenerate__mutmut_75": (
        "keep_going=None,",
        "run_takes reads keep_going for its truth only: None stops at the first failure as "
        "False does",
    ),
    "imagen_comfyui.backend.xǁComfyUIBackendǁ_run__mutmut_11": (
        '| None = ""',
        "submitted is set before the first await inside the try: its first value is never read",
    ),
    "imagen_comfyui.backend.xǁComfyUIBackendǁ_run__mutmut_27": (
        "_withdraw(api, prompt_id, None)",
        "the POST it names has already failed: awaiting it again only raises, which _withdraw "
        "suppresses, as it does awaiting None",
    ),
    # imagen.jobs.runner
    **alike(
        "execute ends every take it runs done or failed with its error, so a take not done "
        "always has one and the 'no image' fallback is never used",
        ("imagen.jobs.runner.x__ended__mutmut_21", "(errors) or True"),
        ("imagen.jobs.runner.x__ended__mutmut_23", 'Problem(None, "Failed"'),
        ("imagen.jobs.runner.x__ended__mutmut_24", '"urn:imagen:failed", None,'),
        ("imagen.jobs.runner.x__ended__mutmut_25", '"Failed", None)'),
        ("imagen.jobs.runner.x__ended__mutmut_26", 'Problem("Failed", "no image")'),
        ("imagen.jobs.runner.x__ended__mutmut_27", 'Problem("urn:imagen:failed", "no image")'),
        ("imagen.jobs.runner.x__ended__mutmut_28", '"Failed", )'),
        ("imagen.jobs.runner.x__ended__mutmut_29", '"XXurn:imagen:failedXX"'),
        ("imagen.jobs.runner.x__ended__mutmut_30", '"URN:IMAGEN:FAILED"'),
        ("imagen.jobs.runner.x__ended__mutmut_31", '"XXFailedXX"'),
        ("imagen.jobs.runner.x__ended__mutmut_32", '"failed", "no image"'),
        ("imagen.jobs.runner.x__ended__mutmut_33", '"FAILED"'),
        ("imagen.jobs.runner.x__ended__mutmut_34", '"XXno imageXX"'),
        ("imagen.jobs.runner.x__ended__mutmut_35", '"NO IMAGE"'),
    ),
    "imagen.jobs.runner.x__ended__mutmut_11": (
        'state="done", finished_at=now(), eta=None',
        "only a job's end sets its error and an ended job never runs again: a job ending done "
        "has none to clear",
    ),
    "imagen.jobs.runner.xǁ_Recorderǁtake_progress__mutmut_27": (
        "self._last_progress > PROGRESS_EVERY",
        "the loop's clock is a float: a report exactly PROGRESS_EVERY after the last saved one "
        "cannot be arranged or told",
    ),
    **alike(
        POSIX_SPLIT,
        ("imagen.jobs.runner.x__recovered_take__mutmut_24", 'entry.path.split("XX/XX")'),
        ("imagen.jobs.runner.x__recovered_take__mutmut_40", 'sidecar.split("XX/XX")'),
    ),
    # imagen.jobs.local
    **alike(
        SQL_CASE,
        ("imagen.jobs.local.xǁJobFileǁquery__mutmut_9", '("CALLER", query.caller)'),
        ("imagen.jobs.local.xǁJobFileǁquery__mutmut_11", '("BACKEND", query.backend)'),
        ("imagen.jobs.local.xǁJobFileǁquery__mutmut_36", '"prompt like ? escape'),
        ("imagen.jobs.local.xǁJobFileǁquery__mutmut_37", '"PROMPT LIKE ? ESCAPE'),
        ("imagen.jobs.local.xǁJobFileǁquery__mutmut_44", "' and '.join(where)"),
        (
            "imagen.jobs.local.xǁJobFileǁcancel__mutmut_38",
            '"update jobs set cancel_requested = 1 where',
        ),
        (
            "imagen.jobs.local.xǁJobFileǁcancel__mutmut_39",
            '"UPDATE JOBS SET CANCEL_REQUESTED = 1 WHERE',
        ),
        (
            "imagen.jobs.local.xǁJobFileǁcancel__mutmut_47",
            '"update jobs set cancel_requested = 1, version',
        ),
        (
            "imagen.jobs.local.xǁJobFileǁcancel__mutmut_48",
            '"UPDATE JOBS SET CANCEL_REQUESTED = 1, VERSION',
        ),
        ("imagen.jobs.local.xǁJobFileǁcancel__mutmut_50", '" returning version"'),
        ("imagen.jobs.local.xǁJobFileǁcancel__mutmut_51", '" RETURNING VERSION"'),
        ("imagen.jobs.local.xǁJobFileǁpick__mutmut_29", '"update jobs set record = ?'),
        ("imagen.jobs.local.xǁJobFileǁpick__mutmut_30", '"UPDATE JOBS SET RECORD = ?'),
    ),
    **alike(
        ROW_KEY_CASE,
        ("imagen.jobs.local.x__orphaned__mutmut_2", 'row["STATE"]'),
        ("imagen.jobs.local.x__orphaned__mutmut_9", 'row["HEARTBEAT"] is None'),
        ("imagen.jobs.local.x__orphaned__mutmut_12", 'or row["HEARTBEAT"] <'),
        ("imagen.jobs.local.x__orphaned__mutmut_18", 'row["WORKER_PID"]'),
        ("imagen.jobs.local.x__orphaned__mutmut_22", 'row["WORKER_HOST"]'),
    ),
    "imagen.jobs.local.xǁJobFileǁquery__mutmut_45": (
        'else "XXXX"',
        "SQLite reads a word after the table name as the table's alias: no filter still selects "
        "every job",
    ),
    **alike(
        "the column, set just before the write, is what _write returns and _job reads; the "
        "record never carries cancel_requested",
        ("imagen.jobs.local.xǁJobFileǁcancel__mutmut_20", "cancel_requested=None,"),
        (
            "imagen.jobs.local.xǁJobFileǁcancel__mutmut_25",
            "-                cancel_requested=True,\n-            )",
        ),
        ("imagen.jobs.local.xǁJobFileǁcancel__mutmut_32", "cancel_requested=False,"),
    ),
    "imagen.jobs.local.x__orphaned__mutmut_6": (
        "return True",
        "only running rows are asked about: claim selects them, cancel returns earlier for "
        "queued and finished jobs",
    ),
    "imagen.jobs.local.x__orphaned__mutmut_13": (
        "<= time.time() - settings.stale_after",
        "time.time() is a float clock: a heartbeat exactly stale_after old cannot be arranged "
        "or told",
    ),
    **alike(
        "a task in state X (dead) is already gone from /proc: its stat cannot be read as X",
        ("imagen.jobs.local.x_process_alive__mutmut_23", '"XXXXX"'),
        ("imagen.jobs.local.x_process_alive__mutmut_24", '("Z", "x")'),
    ),
    **alike(
        "in the queue's own loop, waking now or at the loop's next turn wakes the same waiters: "
        "they run at a later turn either way",
        ("imagen.jobs.local.xǁ_Changesǁ_wake_soon__mutmut_3", "| None = None"),
        ("imagen.jobs.local.xǁ_Changesǁ_wake_soon__mutmut_4", 'here = ""'),
    ),
    **alike(
        SQL_CASE,
        ("imagen.jobs.local.xǁJobFileǁheartbeat__mutmut_6", '"update jobs set heartbeat = ?'),
        ("imagen.jobs.local.xǁJobFileǁheartbeat__mutmut_14", '"select id from jobs where worker'),
        ("imagen.jobs.local.xǁJobFileǁheartbeat__mutmut_17", '" and cancel_requested = 1"'),
        ("imagen.jobs.local.xǁJobFileǁheartbeat__mutmut_18", '" AND CANCEL_REQUESTED = 1"'),
        ("imagen.jobs.local.xǁJobFileǁcancel_requests__mutmut_7", '"select id from jobs where'),
        ("imagen.jobs.local.xǁJobFileǁcancel_requests__mutmut_10", '" and cancel_requested = 1"'),
        ("imagen.jobs.local.xǁJobFileǁcancel_requests__mutmut_11", '" AND CANCEL_REQUESTED = 1"'),
    ),
    "imagen.jobs.local.xǁLocalQueueǁwork__mutmut_2": (
        "seen = None",
        "the first idle wait then returns at once and the loop claims again, finding the same "
        "nothing; from then on it waits from the counter",
    ),
    **alike(
        "a cancelled waiter runs its cancellation at the loop's next turn, awaited or not; the "
        "worker's loop awaits again before anything reads what it changes",
        ("imagen.jobs.local.xǁLocalQueueǁ_idle__mutmut_16", "gather(news, return_exceptions"),
        ("imagen.jobs.local.xǁLocalQueueǁ_idle__mutmut_17", "gather(change, return_exceptions"),
    ),
    # imagen.jobs.local, the run at bf5af35 (the rest of the module)
    **alike(
        SQL_CASE,
        ("imagen.jobs.local.xǁJobFileǁclaim__mutmut_13", '"select * from jobs where state'),
        ("imagen.jobs.local.xǁJobFileǁclaim__mutmut_16", '" and format_version <= ? order by'),
        ("imagen.jobs.local.xǁJobFileǁclaim__mutmut_17", '" AND FORMAT_VERSION <= ? ORDER BY'),
        ("imagen.jobs.local.xǁJobFileǁclaim__mutmut_85", "\"select * from jobs where state = 'q"),
        ("imagen.jobs.local.xǁJobFileǁ_row__mutmut_7", '"select * from jobs where id = ?"'),
        ("imagen.jobs.local.xǁJobFileǁ_row__mutmut_8", '"SELECT * FROM JOBS WHERE ID = ?"'),
        ("imagen.jobs.local.xǁJobFileǁinsert__mutmut_12", '"insert into jobs (id, state'),
        ("imagen.jobs.local.xǁJobFileǁinsert__mutmut_15", "version) values (?, ?, ?"),
        ("imagen.jobs.local.xǁJobFileǁinsert__mutmut_16", '" FORMAT_VERSION, VERSION) VALUES'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_17", '"update jobs set state = ?, record'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_18", '"UPDATE JOBS SET STATE = ?, RECORD'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_20", '" WORKER = ?, WORKER_HOST = ?,'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_22", '" heartbeat = case when ? then'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_23", '" HEARTBEAT = CASE WHEN ? THEN'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_25", '" where id = ? returning version'),
        ("imagen.jobs.local.xǁJobFileǁ_write__mutmut_26", '" WHERE ID = ? RETURNING VERSION'),
        ("imagen.jobs.local.xǁ_Changesǁstamp__mutmut_4", '"pragma data_version"'),
        ("imagen.jobs.local.xǁ_Changesǁstamp__mutmut_5", '"PRAGMA DATA_VERSION"'),
        ("imagen.jobs.local.x__prepare__mutmut_3", '"pragma synchronous = normal"'),
        ("imagen.jobs.local.x__prepare__mutmut_4", '"PRAGMA SYNCHRONOUS = NORMAL"'),
        ("imagen.jobs.local.x__prepare__mutmut_10", '"pragma user_version"'),
        ("imagen.jobs.local.x__prepare__mutmut_11", '"PRAGMA USER_VERSION"'),
    ),
    **alike(
        "the record is read back only by json.loads: spaces between items change its size alone",
        ("imagen.jobs.local.x__json__mutmut_3", "separators=None"),
        ("imagen.jobs.local.x__json__mutmut_6", "ensure_ascii=True, )"),
    ),
    "imagen.jobs.local.x__json__mutmut_5": (
        'json.dumps(value, separators=(",", ":"))',
        "ensure_ascii is True by default",
    ),
    "imagen.jobs.local.x__host_pid__mutmut_3": (
        '.rpartition(":")[0].partition(":")',
        "a host name holds no colon: the first and the last colon of host:pid are one",
    ),
    **alike(
        ROW_KEY_CASE,
        ("imagen.jobs.local.xǁJobFileǁsave__mutmut_5", 'row["WORKER"]'),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_2", 'row["FORMAT_VERSION"]'),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_6", "row['ID']} was written"),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_8", "row['FORMAT_VERSION']"),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_15", 'row["RECORD"]'),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_18", "row['ID']} in"),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_26", 'row["VERSION"]'),
        ("imagen.jobs.local.xǁJobFileǁ_job__mutmut_29", 'row["CANCEL_REQUESTED"]'),
    ),
    "imagen.jobs.local.xǁLocalQueueǁwork__mutmut_35": (
        "time.monotonic() > next_beat",
        "time.monotonic() is a float clock: a loop turn exactly at next_beat cannot be arranged "
        "or told",
    ),
    "imagen.jobs.local.xǁLocalQueueǁwait__mutmut_22": (
        "or left < 0:",
        "time.monotonic() is a float clock: a deadline met exactly cannot be arranged or told",
    ),
    "imagen.jobs.local.xǁJobFileǁclaim__mutmut_18": (
        "time.time() + settings.stale_after",
        "the query only pre-selects the rows _orphaned then judges with the same stale_after "
        "test: a wider pre-selection claims the same jobs",
    ),
    "imagen.jobs.local.xǁJobFileǁ_write__mutmut_1": (
        "beat: bool = True",
        "every write that does not say beat ends the job (canceled, interrupted): the "
        "heartbeat is read only for running jobs",
    ),
    "imagen.jobs.local.xǁJobFileǁ_write__mutmut_10": (
        "if running or worker else",
        "a worker is given only by claims and saves; the host and pid of a job not running are "
        "read by nothing (claims and _orphaned look at running rows only)",
    ),
    "imagen.jobs.local.xǁ_Changesǁ__init____mutmut_4": (
        "self.counter = 1",
        "the counter is only compared with values read from it (mark, wait's answer)",
    ),
    "imagen.jobs.local.xǁ_Changesǁ__init____mutmut_10": (
        'self._last: int | None = ""',
        "_poll sets _last before it first compares it",
    ),
    **alike(
        "every tracker registers its file's key when made and no key is ever removed: the "
        "default is never used",
        ("imagen.jobs.local.xǁ_Changesǁbump__mutmut_3", "_TRACKERS.get(self._key, None)"),
        ("imagen.jobs.local.xǁ_Changesǁbump__mutmut_5", "_TRACKERS.get(self._key, )"),
        ("imagen.jobs.local.xǁ_Changesǁaclose__mutmut_3", "_TRACKERS.get(self._key, None)"),
        ("imagen.jobs.local.xǁ_Changesǁaclose__mutmut_5", "_TRACKERS.get(self._key, )"),
    ),
    "imagen.jobs.local.xǁ_Changesǁaclose__mutmut_9": (
        'self._conn = ""',
        "a closed queue is out of the trackers and its file is closed: nothing asks its "
        "watcher again",
    ),
    "imagen.jobs.local.xǁ_Changesǁ_watcher__mutmut_6": (
        "sqlite3.connect(self._path, timeout=0.5)",
        "the watcher only reads a pragma: Python's sqlite3 opens a transaction only before "
        "INSERT, UPDATE, DELETE or REPLACE",
    ),
    "imagen.jobs.local.xǁ_Readsǁ__init____mutmut_3": (
        'self._stamp: int | None = ""',
        "a stamp is an int: the first differs from None and from an empty text alike",
    ),
    "imagen.jobs.local.xǁ_Readsǁ__init____mutmut_7": (
        "self.count = 1",
        "the read count is only read as a difference (the reads since a moment)",
    ),
    "imagen.sinks.run.x__attempt__mutmut_30": (
        "(isinstance(stored, Stored)) or True",
        "a sink that returns something other than Stored or None breaks the Sink protocol; "
        "what it returns reaches only the reporter's take_stored (run by _safely), which finds "
        "no object on it and records nothing either way",
    ),
    **alike(
        "execute opens the job's instance itself when given no backend, and closes it; the "
        "estimate of the runner's plan is never used (the job's was made at submit)",
        ("imagen.jobs.runner.x__plan__mutmut_1", "backend = None"),
        ("imagen.jobs.runner.x__plan__mutmut_17", "estimator=None,"),
        ("imagen.jobs.runner.x__plan__mutmut_25", "-        estimator=backend,"),
        ("imagen.jobs.runner.x_run_job__mutmut_57", "_execute(plan, None, recorder)"),
        ("imagen.jobs.runner.x__execute__mutmut_9", "execute(plan, backend=None,"),
        ("imagen.jobs.runner.x__execute__mutmut_12", "execute(plan, reporter=recorder)"),
    ),
    "imagen.jobs.runner.x__plan__mutmut_10": (
        "attrs.evolve(job.request, )",
        "a job's seeds were drawn for its request's count at submit: the count is len(seeds)",
    ),
    "imagen.jobs.runner.x_run_job__mutmut_10": (
        "concurrency = 2",
        "with an instance the config does not have, _plan fails at once: no take lands, so no "
        "ETA reads the concurrency",
    ),
    **alike(
        "estimate_eta reads the config only when the latency is unknown, and take_finished sets "
        "it from the first fresh take before asking; a cache hit needs the history, which then "
        "has the instance's latencies",
        ("imagen.jobs.runner.x_run_job__mutmut_14", "_Recorder(job, store, None, concurrency)"),
        ("imagen.jobs.runner.xǁ_Recorderǁtake_finished__mutmut_28", "estimate_eta(None, self"),
    ),
    "imagen.jobs.runner.x__recovered__mutmut_1": (
        "job.started_at is None and not config.history.enabled",
        "with the history disabled nothing of this job is written there: looking finds none "
        "of its takes",
    ),
    "imagen.jobs.runner.x__recovered__mutmut_10": (
        "dt.timedelta(seconds=2)",
        "only a clock tells one second of slack before the job's start from two: the takes of "
        "an identical job finished in that second cannot be arranged",
    ),
    "imagen.jobs.local.xǁLocalQueueǁwork__mutmut_4": (
        "next_beat = 1.0",
        "time.monotonic() is past 1.0 on any running system: the first heartbeat is sent at "
        "once either way",
    ),
    **alike(
        "claimed is only read when the worker is idle, and a job just claimed is running: "
        "None reads as False, and the iteration that claimed never asks",
        ("imagen.jobs.local.xǁLocalQueueǁwork__mutmut_6", "claimed = None"),
        ("imagen.jobs.local.xǁLocalQueueǁwork__mutmut_21", "claimed = None"),
        ("imagen.jobs.local.xǁLocalQueueǁwork__mutmut_22", "claimed = False"),
    ),
    "imagen.jobs.runner.xǁ_Recorderǁ__init____mutmut_3": (
        "self.config = None",
        "estimate_eta reads the config only when the latency is unknown, and take_finished sets "
        "it from the first fresh take before asking; a cache hit needs the history, which then "
        "has the instance's latencies",
    ),
    "imagen.jobs.runner.xǁ_Recorderǁ__init____mutmut_5": (
        'self.latency: float | None = ""',
        "run_job sets the recorder's latency right after building it",
    ),
    "imagen.jobs.runner.xǁ_Recorderǁ__init____mutmut_8": (
        "self._last_progress = 1.0",
        "the loop's clock is past 1.25 s on any running system: the first report is saved "
        "either way",
    ),
    **alike(
        "only tested for truth: None reads as False",
        ("imagen.jobs.runner.xǁ_Recorderǁ__init____mutmut_9", "self._saving = None"),
        ("imagen.jobs.runner.xǁ_Recorderǁ__init____mutmut_11", "self._closing = None"),
        ("imagen.jobs.runner.xǁ_Recorderǁkeep_saving__mutmut_16", "self._saving = None"),
    ),
    **alike(
        "find_cached's output_dir only admits cache-hit rows, which the filter below drops",
        ("imagen.jobs.runner.x__recovered__mutmut_22", "output_dir=None"),
        ("imagen.jobs.runner.x__recovered__mutmut_25", "request.fingerprint(), )"),
    ),
    "imagen.jobs.runner.x__recovered__mutmut_33": (
        "entry.created_at > since",
        "a take written exactly one second, to the microsecond, before the job first started "
        "cannot be arranged or told",
    ),
    "imagen.jobs.runner.x_run_job__mutmut_9": (
        "concurrency = None",
        "with an instance the config does not have, _plan fails at once: no take lands, so no "
        "ETA reads the concurrency",
    ),
    **alike(
        "quote() keeps / and letters unescaped by default: safe='/' is its default, and X is "
        "always safe",
        ("imagen_supabase.connection.x_object_path__mutmut_12", "quote(key, )"),
        ("imagen_supabase.connection.x_object_path__mutmut_13", 'safe="XX/XX"'),
    ),
    "imagen.jobs.submit.x_follow__mutmut_8": (
        'seen: int | None = ""',
        'a job\'s version is an int, never equal to None or to "": the first version is heard '
        "either way",
    ),
    "imagen.jobs.submit.x_follow__mutmut_24": (
        "if left < 0:",
        "the time left is a clock reading: a deadline reached to the nanosecond cannot be "
        "arranged (and a wait of 0 s returns the job as it is)",
    ),
}

MUTMUT = Path(sys.executable).parent / "mutmut"


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def pytest_settings() -> dict[str, object]:
    """The root's pytest settings, less testpaths (the sandbox names its tests)."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {key: value for key, value in settings.items() if key != "testpaths"}


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def link(target: Path, at: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if at.is_symlink() or at.exists():
        at.unlink()
    at.symlink_to(target)


def prepare(module: str, target: Target) -> Path:
    """The module's sandbox, set up afresh (the mutants/ folder and its results are kept)."""
    missing = [test for test in target.tests if not (ROOT / test).exists()]
    if missing:
        raise SystemExit(f"{module}: test files not found: {', '.join(missing)}; fix TARGETS")
    box = SANDBOXES / module
    box.mkdir(parents=True, exist_ok=True)
    link(ROOT / target.package / "src", box / "src")
    test_dirs = sorted({str(Path(test).parent) for test in target.tests})
    for test_dir in test_dirs:
        link(ROOT / test_dir, box / test_dir)
    link(ROOT / "docs", box / "docs")
    shutil.copy2(ROOT / "conftest.py", box / "conftest.py")
    package_dir = "src/" + module.split(".")[0]
    mutmut = {
        "source_paths": [package_dir],
        "only_mutate": [target.source(module)],
        "also_copy": ["conftest.py", "docs", *test_dirs],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", *target.pytest_args],
        "pytest_add_cli_args_test_selection": list(target.tests),
        # The suite's files are not the code under test: a change to them must not throw the
        # recorded results away (a new test is picked up by mutmut's new-test check).
        "use_git_change_detection": False,
    }
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in mutmut.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in pytest_settings().items()]
    (box / "pyproject.toml").write_text("\n".join(lines) + "\n")
    # PYTHONPATH names mutants/src before it exists on a first run; Python caches a missing
    # folder as "nothing here", so it must exist before mutmut starts.
    (box / "mutants" / "src").mkdir(parents=True, exist_ok=True)
    return box


def mutmut_env(box: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(box / "mutants" / "src")
    return env


def statuses(module: str, target: Target, box: Path) -> dict[str, str]:
    from mutmut.stats import status_by_exit_code

    meta = box / "mutants" / (target.source(module) + ".meta")
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return {
        name: status_by_exit_code[code]
        for name, code in codes.items()
        if not target.only or any(fnmatch.fnmatchcase(name, pattern) for pattern in target.only)
    }


def diff(box: Path, name: str) -> str:
    return run([str(MUTMUT), "show", name], box, mutmut_env(box)).stdout


def classify(box: Path, found: dict[str, str]) -> tuple[dict[str, int], set[str], list[str]]:
    """Counts per outcome, the names taken as equivalent, and warnings about stale ones."""
    counts = {"killed": 0, "survived": 0, "no tests": 0, "timeout": 0, "equivalent": 0, "other": 0}
    equivalent: set[str] = set()
    warnings = []
    for name, status in found.items():
        if status in ("survived", "no tests") and name in EQUIVALENT:
            fragment = EQUIVALENT[name][0]
            if fragment in diff(box, name):
                counts["equivalent"] += 1
                equivalent.add(name)
                continue
            warnings.append(f"{name} no longer shows {fragment!r}: counted as {status}")
        counts[status if status in counts else "other"] += 1
    return counts, equivalent, warnings


def revision(target: Target, module: str) -> str:
    head = run(["git", "rev-parse", "--short", "HEAD"], ROOT).stdout.strip()
    paths = [f"{target.package}/{target.source(module)}", *target.tests]
    dirty = run(["git", "status", "--porcelain", "--", *paths], ROOT).stdout.strip()
    return head + ("+changes" if dirty else "")


def record(module: str, counts: dict[str, int], rev: str, command: str) -> None:
    scored = sum(counts.values()) - counts["equivalent"]
    caught = counts["killed"] + counts["timeout"]
    score = f"{100 * caught / scored:.1f}%" if scored else "-"
    row = (
        f"| `{module}` | {counts['killed']} | {counts['survived']} | {counts['no tests']} | "
        f"{counts['timeout']} | {counts['equivalent']} | {score} | {rev} | "
        f"{datetime.now(UTC):%Y-%m-%d} | `{command}` |"
    )
    text = RESULTS.read_text() if RESULTS.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    table, _, tail = rest.partition(END)
    header = [
        "| module | killed | survived | no tests | timeout | equivalent | score | revision | date "
        "| command |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    rows = [line for line in table.strip().splitlines() if line.startswith("| `")]
    rows = [line for line in rows if not line.startswith(f"| `{module}` |")] + [row]
    body = "\n".join(header + sorted(rows))
    text = f"{head}{BEGIN}\n{body}\n{END}{tail}"
    equivalents = "\n".join(
        f"- `{name}` (`{fragment.strip()}`): {why}"
        for name, (fragment, why) in sorted(EQUIVALENT.items())
    )
    head, _, rest = text.partition(EQ_BEGIN)
    if rest:
        _, _, tail = rest.partition(EQ_END)
        text = f"{head}{EQ_BEGIN}\n{equivalents or '(none)'}\n{EQ_END}{tail}"
    RESULTS.write_text(text)


def mutmut_run(module: str, box: Path, children: int, names: list[str]) -> bool:
    print(
        f"{module}: mutmut run {' '.join(names[:3])}{' ...' if len(names) > 3 else ''}", flush=True
    )
    done = run([str(MUTMUT), "run", "--max-children", str(children), *names], box, mutmut_env(box))
    log = box / "mutmut-run.log"
    log.write_text(done.stdout + done.stderr)
    if done.returncode == 0:
        return True
    print(f"{module}: mutmut failed (exit {done.returncode}); see {log}", file=sys.stderr)
    print("\n".join(done.stdout.replace("\r", "\n").splitlines()[-25:]), file=sys.stderr)
    return False


def mutate(module: str, *, retest: bool, show: bool, children: int, write: bool) -> bool:
    target = TARGETS[module]
    box = prepare(module, target)
    # A plain run tests the mutants not tested yet (new, changed, or reset by new tests);
    # mutmut runs a mutant with a recorded result again only when it is named.
    if not mutmut_run(module, box, children, list(target.only)):
        return False
    if retest and not target.only:
        names = [
            name for name, status in statuses(module, target, box).items() if status != "killed"
        ]
        if names and not mutmut_run(module, box, children, names):
            return False
    found = statuses(module, target, box)
    counts, equivalent, warnings = classify(box, found)
    for warning in warnings:
        print(f"{module}: {warning}", file=sys.stderr)
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    print(f"{module}: {summary}")
    left = sorted(
        name
        for name, status in found.items()
        if status not in ("killed", "timeout") and name not in equivalent
    )
    for name in left:
        print(f"  {found[name]}: {name}")
        if show:
            print(diff(box, name))
    if write:
        command = f"uv run python bench/mutation.py {module}"
        if target.only:
            module = f"{module} ({', '.join(target.only)})"
        record(module, counts, revision(target, module), command)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="dotted module names (see --list)")
    parser.add_argument("--all", action="store_true", help="every module in the list")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--retest", action="store_true", help="run the mutants not killed again")
    parser.add_argument("--show", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (default 1)")
    parser.add_argument("--no-record", action="store_true", help="do not update MUTATION.md")
    args = parser.parse_args(argv)
    if args.list:
        for module, target in TARGETS.items():
            print(f"{module}: {' '.join(target.tests)}")
        return 0
    modules = list(TARGETS) if args.all else args.modules
    unknown = [module for module in modules if module not in TARGETS]
    if unknown or not modules:
        parser.error(f"name modules from --list (unknown: {', '.join(unknown) or 'none given'})")
    ok = True
    for module in modules:
        ok = (
            mutate(
                module,
                retest=args.retest,
                show=args.show,
                children=args.max_children,
                write=not args.no_record,
            )
            and ok
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
