"""Which sinks run (cloud-sync mode and each sink's ``enabled``) and how a delivery runs."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.config.load import parse_config
from imagen.config.model import Config, Instance, OutputConfig, QueueInstance, SinkInstance
from imagen.errors import ConfigError, OutputError, SinkError
from imagen.models import Generation, Request
from imagen.plugins import loader as plugins
from imagen.plugins.hookspecs import hookimpl
from imagen.sinks.builtin import CommandSink
from imagen.sinks.outbox import Outbox
from imagen.sinks.protocol import Delivery
from imagen.sinks.run import (
    attempt,
    build_sinks,
    child_environment,
    close_sinks,
    cloud_mode,
    deliver,
    open_sink,
    secret_env_names,
)


@pytest.fixture(autouse=True)
def no_env_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGEN_CLOUD_SYNC", raising=False)


# --- cloud_mode: config, then IMAGEN_CLOUD_SYNC, then --no-cloud ------------------------------


@pytest.mark.parametrize("configured", ["auto", "on", "off"])
@pytest.mark.parametrize("env", [None, "auto", "on", "off"])
@pytest.mark.parametrize("no_cloud", [False, True])
def test_cloud_mode_takes_config_then_env_then_flag(
    monkeypatch: pytest.MonkeyPatch, configured: str, env: str | None, no_cloud: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("IMAGEN_CLOUD_SYNC", env)
    config = Config(output=OutputConfig(cloud_sync=configured))  # type: ignore[arg-type]
    expected = "off" if no_cloud else (env or configured)
    assert cloud_mode(config, no_cloud=no_cloud) == expected


def test_an_empty_env_value_leaves_the_config_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_CLOUD_SYNC", "")
    assert cloud_mode(Config(output=OutputConfig(cloud_sync="on"))) == "on"


def test_the_env_value_is_read_without_case_or_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_CLOUD_SYNC", " Off ")
    assert cloud_mode(Config()) == "off"


def test_a_bad_env_value_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGEN_CLOUD_SYNC", "yes please")
    with pytest.raises(ConfigError, match=r"IMAGEN_CLOUD_SYNC='yes please'.*auto, on or off"):
        cloud_mode(Config())


def test_a_bad_env_value_is_reported_even_with_no_cloud(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A typo in the environment is still worth hearing about, flag or not.
    monkeypatch.setenv("IMAGEN_CLOUD_SYNC", "sometimes")
    with pytest.raises(ConfigError):
        cloud_mode(Config(), no_cloud=True)


# --- the environment of programs a sink runs ---------------------------------------------------


@attrs.frozen
class PluginAuth:
    headers_env: str | None = "PROXY_HEADERS"


@attrs.frozen
class PluginSettings:
    """A plugin's settings: its own *_env keys, nested, in a list, in a mapping."""

    api_key_env: str = "PLUGIN_API_KEY"
    auth: PluginAuth = PluginAuth()
    mirrors: list[dict[str, str]] = attrs.field(factory=lambda: [{"token_env": "MIRROR_TOKEN"}])
    url: str = "https://api.example.test/"


@dataclasses.dataclass
class DataclassSettings:
    password_env: str = "DB_PASSWORD"
    label: str = "not-a-variable"


def test_secret_env_names_finds_every_env_key_of_backends_sinks_server_and_queue() -> None:
    config = attrs.evolve(
        load("sinks:\n  hook: {type: webhook, url: 'https://x.test/', secret_env: HOOK_SECRET}\n"),
        backends={
            "plugin": Instance("plugin", "p", PluginSettings()),
            "other": Instance("other", "d", DataclassSettings()),
            "unset": Instance("unset", "p", PluginSettings(auth=PluginAuth(headers_env=None))),
        },
        queue=QueueInstance("postgres", {"dsn_env": "QUEUE_URL"}),
    )
    assert secret_env_names(config) == {
        "QUEUE_URL",
        "HOOK_SECRET",
        "IMAGEN_SERVER_TOKEN",  # server.token_env's default
        "PLUGIN_API_KEY",
        "PROXY_HEADERS",
        "MIRROR_TOKEN",
        "DB_PASSWORD",
    }


def test_an_env_key_holding_a_list_names_each_variable_and_a_flag_names_none() -> None:
    settings = {"keys_env": ["KEY_ONE", ["KEY_TWO"]], "inherit_env": True, "empty_env": ""}
    config = attrs.evolve(Config(), backends={"p": Instance("p", "p", settings)})
    assert secret_env_names(config) == {"KEY_ONE", "KEY_TWO", "IMAGEN_SERVER_TOKEN"}


def test_settings_that_refer_to_themselves_are_walked_once() -> None:
    # YAML aliases can make free-form settings contain themselves.
    settings: dict[str, object] = {"token_env": "TOKEN"}
    settings["again"] = settings
    names_list: list[object] = ["LIST_KEY"]
    names_list.append(names_list)
    settings["more"] = {"keys_env": names_list}
    config = attrs.evolve(Config(), backends={"p": Instance("p", "p", settings)})
    assert secret_env_names(config) == {"TOKEN", "LIST_KEY", "IMAGEN_SERVER_TOKEN"}


def test_an_env_key_deep_in_plugin_settings_is_found() -> None:
    settings: dict[str, object] = {"token_env": "DEEP_TOKEN"}
    for _ in range(100):
        settings = {"nested": [settings]}
    config = attrs.evolve(Config(), backends={"p": Instance("p", "p", settings)})
    assert "DEEP_TOKEN" in secret_env_names(config)


def test_child_environment_withholds_names_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_KEY", "1")
    monkeypatch.setenv("B_KEY", "2")
    monkeypatch.setenv("PLAIN", "3")
    env = child_environment({"A_KEY", "B_KEY"}, allow=["B_KEY"])
    assert "A_KEY" not in env
    assert (env["B_KEY"], env["PLAIN"]) == ("2", "3")


def test_open_sink_tells_a_sink_that_runs_programs_what_to_withhold() -> None:
    config = load(
        "server: {token_env: SERVER_TOKEN}\nsinks:\n  copy: {type: command, argv: ['true']}\n"
    )
    sink = open_sink(config, "copy")
    assert isinstance(sink, CommandSink)
    assert sink.withheld == {"SERVER_TOKEN"}


# --- build_sinks: the global mode against each sink's own enabled -----------------------------

# "true" is on PATH, so that command sink is configured; the other one is not.
SINKS = """\
sinks:
  always: {type: command, enabled: on, argv: ["no-such-imagen-program-x"]}
  ready: {type: command, enabled: auto, argv: ["true"]}
  missing: {type: command, enabled: auto, argv: ["no-such-imagen-program-y"]}
  never: {type: command, enabled: off, argv: ["true"]}
"""


def load(text: str) -> Config:
    config, problems = parse_config(text)
    problems.raise_first()
    assert config is not None
    return config


def names(mode: str) -> list[str]:
    return [sink.name for sink in build_sinks(load(SINKS), mode)]


def test_mode_off_runs_no_sink() -> None:
    assert names("off") == []


def test_mode_auto_runs_sinks_that_are_on_or_configured(capsys: pytest.CaptureFixture[str]) -> None:
    assert names("auto") == ["always", "ready"]
    assert capsys.readouterr().err == ""


def test_mode_on_runs_every_sink_not_off_and_warns_about_an_unconfigured_auto_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert names("on") == ["always", "ready"]
    err = capsys.readouterr().err
    assert err.startswith("imagen: warning: sink 'missing' (command) is skipped")
    assert len(err.splitlines()) == 1


def test_mode_auto_skips_an_off_sink_and_still_runs_the_ones_after_it() -> None:
    text = "sinks:\n  never: {type: command, enabled: off, argv: ['true']}\n"
    text += "  ready: {type: command, enabled: auto, argv: ['true']}\n"
    assert [sink.name for sink in build_sinks(load(text), "auto")] == ["ready"]


def test_a_sink_name_not_in_the_config_lists_the_configured_ones() -> None:
    config = load(SINKS)
    with pytest.raises(ConfigError) as raised:
        open_sink(config, "zzz")
    assert str(raised.value) == (
        "no sink named 'zzz' in the config (configured: always, missing, never, ready)"
    )
    with pytest.raises(ConfigError) as raised:
        open_sink(Config(), "zzz")
    assert str(raised.value) == "no sink named 'zzz' in the config (configured: none)"


def test_a_sink_whose_type_is_not_installed_is_a_config_error_at_its_key() -> None:
    config = attrs.evolve(Config(), sinks={"cloud": SinkInstance("cloud", "supabase-x", {})})
    with pytest.raises(ConfigError) as raised:
        open_sink(config, "cloud")
    assert (raised.value.message, raised.value.path) == (
        "sink type 'supabase-x' is not installed",
        "sinks.cloud",
    )


# A sink type from a plugin whose code fails: at build time, or when asked if it is configured.
@attrs.frozen
class BrokenSettings:
    fails_in: str = "build"


class BrokenSink:
    def __init__(self, name: str, settings: BrokenSettings) -> None:
        if settings.fails_in == "build":
            raise RuntimeError("missing bucket")
        self.name = name

    def enabled_auto(self) -> bool:
        raise RuntimeError("cannot read the environment")

    async def deliver(self, delivery: Delivery) -> None:
        return None

    async def aclose(self) -> None:
        return None


class BrokenPlugin:
    @hookimpl
    def register_sinks(self, register: Any) -> None:
        register("broken", BrokenSink, BrokenSettings)


@pytest.fixture
def broken_plugin() -> Iterator[None]:
    plugin = BrokenPlugin()
    plugins.manager().register(plugin, name="test-broken-sinks")
    plugins.registry.cache_clear()
    yield
    plugins.manager().unregister(plugin)
    plugins.registry.cache_clear()


BROKEN = """\
sinks:
  first: {type: broken, fails_in: build}
  second: {type: broken, fails_in: enabled_auto}
  ready: {type: command, enabled: auto, argv: ["true"]}
"""


@pytest.mark.usefixtures("broken_plugin")
def test_a_sink_that_cannot_be_built_is_a_config_error_naming_it_and_its_type() -> None:
    with pytest.raises(ConfigError) as raised:
        open_sink(load(BROKEN), "first")
    assert str(raised.value) == "sink 'first' (broken) could not be built: missing bucket"


@pytest.mark.usefixtures("broken_plugin")
def test_sinks_that_fail_to_build_or_answer_are_skipped_with_a_warning_and_the_rest_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert [sink.name for sink in build_sinks(load(BROKEN), "auto")] == ["ready"]
    assert capsys.readouterr().err.splitlines() == [
        "imagen: warning: sink 'first' skipped: sink 'first' (broken) could not be built: "
        "missing bucket",
        "imagen: warning: sink 'second' skipped: enabled_auto failed: cannot read the environment",
    ]


# --- deliver: concurrently, within the time limit, failures kept -----------------------------


def make_generation(directory: Path) -> Generation:
    (directory / "cat.png").write_bytes(b"\x89PNG")
    return Generation(
        request=Request("a cat"),
        backend="mock",
        backend_type="mock",
        model="placeholder",
        seed=3,
        path="cat.png",
        output_dir=str(directory),
        sha256="00" * 32,
        media_type="image/png",
        width=8,
        height=8,
        size_bytes=4,
        latency=0.0,
        created_at=dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC),
    )


class FakeSink:
    def __init__(self, name: str, behaviour: str = "ok") -> None:
        self.name = name
        self.behaviour = behaviour
        self.deliveries: list[Delivery] = []
        self.closed = False

    def enabled_auto(self) -> bool:
        return True

    async def deliver(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self.behaviour == "fail":
            raise SinkError("HTTP 503 from the bucket", state={"uploaded": True})
        if self.behaviour == "refused":
            raise SinkError("HTTP 403: wrong owner", retryable=False)
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        if self.behaviour == "bug":
            raise KeyError("oops")
        if self.behaviour == "own-timeout":  # a library's own time limit, not imagen's
            raise TimeoutError("read timed out")
        if self.behaviour == "imagen-error":
            raise OutputError("cannot read cat.png")

    async def aclose(self) -> None:
        self.closed = True
        if self.behaviour == "bad-close":
            raise RuntimeError("socket already gone")


class MeetingSink(FakeSink):
    """Finishes only once every other MeetingSink has started: proves they run together."""

    def __init__(self, name: str, barrier: asyncio.Barrier) -> None:
        super().__init__(name)
        self.barrier = barrier

    async def deliver(self, delivery: Delivery) -> None:
        await self.barrier.wait()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox.open(str(tmp_path / "outbox.sqlite3")) as box:
        yield box


def test_a_successful_delivery_prints_nothing_and_keeps_nothing(
    outbox: Outbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = FakeSink("cloud")
    generation = make_generation(tmp_path)
    failures = asyncio.run(deliver([sink], generation, timeout=5, outbox=outbox))
    assert failures == []
    assert [(d.generation, d.sink, d.attempt, d.state) for d in sink.deliveries] == [
        (generation, "cloud", 1, {})
    ]
    assert outbox.pending() == []
    assert capsys.readouterr().err == ""


def test_a_failing_sink_is_printed_kept_with_its_state_and_returned(
    outbox: Outbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generation = make_generation(tmp_path)
    failures = asyncio.run(
        deliver([FakeSink("cloud", "fail"), FakeSink("ok")], generation, timeout=5, outbox=outbox)
    )
    assert failures == [("cloud", "HTTP 503 from the bucket")]
    assert capsys.readouterr().err == (
        "imagen: cloud: HTTP 503 from the bucket (kept for retry: imagen sync)\n"
    )
    [pending] = outbox.pending()
    assert (pending.sink, pending.state, pending.last_error) == (
        "cloud",
        {"uploaded": True},
        "HTTP 503 from the bucket",
    )
    assert pending.generation == generation


def test_a_failure_a_retry_cannot_fix_is_kept_with_a_hint_to_fix_it_first(
    outbox: Outbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = asyncio.run(
        deliver([FakeSink("cloud", "refused")], make_generation(tmp_path), timeout=5,
                outbox=outbox)
    )  # fmt: skip
    assert failures == [("cloud", "HTTP 403: wrong owner")]
    assert capsys.readouterr().err == (
        "imagen: cloud: HTTP 403: wrong owner (kept; a retry alone will not help: fix the "
        "cause, then run imagen sync)\n"
    )
    assert [p.retryable for p in outbox.pending()] == [False]


def test_sinks_run_at_the_same_time(outbox: Outbox, tmp_path: Path) -> None:
    async def run() -> list[tuple[str, str]]:
        barrier = asyncio.Barrier(2)
        sinks = [MeetingSink("a", barrier), MeetingSink("b", barrier)]
        return await deliver(sinks, make_generation(tmp_path), timeout=10, outbox=outbox)

    assert asyncio.run(run()) == []


def test_a_sink_that_hangs_is_cut_off_at_the_time_limit_and_kept(
    outbox: Outbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quick = FakeSink("quick")
    failures = asyncio.run(
        deliver([FakeSink("slow", "hang"), quick], make_generation(tmp_path), timeout=0.2,
                outbox=outbox)
    )  # fmt: skip
    assert failures == [("slow", "timed out after 0.2 s")]
    assert len(quick.deliveries) == 1
    assert [p.sink for p in outbox.pending()] == ["slow"]
    assert "imagen: slow: timed out after 0.2 s" in capsys.readouterr().err


def test_a_sink_bug_becomes_a_failure_not_an_exception(
    outbox: Outbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = asyncio.run(
        deliver([FakeSink("buggy", "bug")], make_generation(tmp_path), timeout=5, outbox=outbox)
    )
    assert failures == [
        ("buggy", "internal error: KeyError: 'oops' (run with --debug for details)")
    ]
    assert [p.sink for p in outbox.pending()] == ["buggy"]


def test_with_debug_a_sink_bug_shows_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_DEBUG", "1")
    asyncio.run(deliver([FakeSink("buggy", "bug")], make_generation(tmp_path), timeout=5,
                        outbox=None))  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'raise KeyError("oops")' in err


def test_a_sink_that_times_out_on_its_own_is_a_bug_not_imagens_time_limit(
    tmp_path: Path,
) -> None:
    failure = asyncio.run(
        attempt(FakeSink("slow", "own-timeout"), Delivery(make_generation(tmp_path), "slow"),
                timeout=60)
    )  # fmt: skip
    assert failure is not None
    assert failure.message == (
        "internal error: TimeoutError: read timed out (run with --debug for details)"
    )


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("hang", "timed out after 0.2 s"),
        ("bug", "internal error: KeyError: 'oops' (run with --debug for details)"),
        (
            "own-timeout",
            "internal error: TimeoutError: read timed out (run with --debug for details)",
        ),
        ("imagen-error", "cannot read cat.png"),
    ],
)
def test_a_failed_retry_keeps_the_steps_earlier_attempts_finished(
    tmp_path: Path, behaviour: str, message: str
) -> None:
    delivery = Delivery(make_generation(tmp_path), "cloud", 2, {"uploaded": True})
    failure = asyncio.run(attempt(FakeSink("cloud", behaviour), delivery, timeout=0.2))
    assert failure is not None
    assert (failure.message, dict(failure.state), failure.retryable) == (
        message,
        {"uploaded": True},
        True,
    )


def test_a_failure_that_cannot_be_kept_is_printed_with_why_and_no_retry_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = tmp_path / "damaged.sqlite3"
    with sqlite3.connect(path) as conn:  # a current schema version, but its table is gone
        conn.execute("PRAGMA user_version = 1")
    with Outbox.open(str(path)) as damaged:
        failures = asyncio.run(
            deliver([FakeSink("cloud", "fail")], make_generation(tmp_path), timeout=5,
                    outbox=damaged)
        )  # fmt: skip
    assert failures == [("cloud", "HTTP 503 from the bucket")]
    assert capsys.readouterr().err.splitlines() == [
        "imagen: warning: cloud: the delivery could not be kept for a retry: cannot write the "
        f"outbox file {path}: no such table: deliveries",
        "imagen: cloud: HTTP 503 from the bucket",
    ]


def test_without_an_outbox_a_failure_is_still_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = asyncio.run(
        deliver([FakeSink("cloud", "fail")], make_generation(tmp_path), timeout=5, outbox=None)
    )
    assert failures == [("cloud", "HTTP 503 from the bucket")]
    assert capsys.readouterr().err == "imagen: cloud: HTTP 503 from the bucket\n"


def test_cancelling_a_delivery_cancels_it_instead_of_keeping_it(
    outbox: Outbox, tmp_path: Path
) -> None:
    async def run() -> None:
        task = asyncio.create_task(
            deliver([FakeSink("slow", "hang")], make_generation(tmp_path), timeout=60,
                    outbox=outbox)
        )  # fmt: skip
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    assert outbox.pending() == []


def test_closing_sinks_closes_each_and_warns_about_one_that_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sinks = [FakeSink("a", "bad-close"), FakeSink("b")]
    asyncio.run(close_sinks(sinks))
    assert [sink.closed for sink in sinks] == [True, True]
    assert capsys.readouterr().err == (
        "imagen: warning: sink 'a' did not close cleanly: RuntimeError: socket already gone\n"
    )


# --- through imagen generate ------------------------------------------------------------------

APPEND_ARG = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


@pytest.fixture
def generate_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    monkeypatch.setenv("IMAGEN_HISTORY", str(tmp_path / "history.sqlite3"))
    return tmp_path


def recording_config(directory: Path, *, cloud_sync: str = "auto", fail: bool = False) -> str:
    import json
    import sys

    argv = [sys.executable, "-c", APPEND_ARG, str(directory / "delivered"), "{relpath}"]
    if fail:
        argv = [sys.executable, "-c", "import sys; sys.exit('bucket is read-only')"]
    path = directory / "imagen.yaml"
    path.write_text(
        f"output: {{directory: {json.dumps(str(directory / 'out'))}, cloud_sync: {cloud_sync}}}\n"
        f"sinks:\n  rec: {{type: command, enabled: 'on', argv: {json.dumps(argv)}}}\n"
    )
    return str(path)


def delivered(directory: Path) -> list[str]:
    record = directory / "delivered"
    return record.read_text().splitlines() if record.exists() else []


def test_generate_hands_each_take_to_the_sinks(imagen, generate_env: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("--config", recording_config(generate_env), "generate", "a cat", "-n", "2")
    assert ran.code == 0, ran.err
    written = sorted(Path(line).relative_to(generate_env / "out").as_posix() for line in ran.lines)
    assert sorted(delivered(generate_env)) == written


def test_no_cloud_runs_no_sink(imagen, generate_env: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("--config", recording_config(generate_env), "generate", "a cat", "--no-cloud")
    assert ran.code == 0, ran.err
    assert delivered(generate_env) == []


def test_the_env_overrides_the_config_mode(  # type: ignore[no-untyped-def]
    imagen, generate_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = recording_config(generate_env, cloud_sync="off")
    imagen("--config", config, "generate", "a cat")
    assert delivered(generate_env) == []
    monkeypatch.setenv("IMAGEN_CLOUD_SYNC", "on")
    imagen("--config", config, "generate", "a cat")
    assert len(delivered(generate_env)) == 1


def test_a_failing_sink_leaves_the_exit_code_and_the_image_alone(  # type: ignore[no-untyped-def]
    imagen, generate_env: Path
) -> None:
    ran = imagen("--config", recording_config(generate_env, fail=True), "generate", "a cat")
    assert ran.code == 0
    [image] = [Path(line) for line in ran.lines]
    assert image.is_file()
    assert "imagen: rec: " in ran.err
    assert "exited 1: bucket is read-only (kept for retry: imagen sync)" in ran.err
    with Outbox.open(str(generate_env / "outbox.sqlite3")) as outbox:
        assert [(p.sink, p.absolute_path()) for p in outbox.pending()] == [("rec", str(image))]
