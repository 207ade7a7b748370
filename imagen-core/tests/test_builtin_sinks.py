"""The built-in ``command`` and ``webhook`` sinks, against real programs and a real HTTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from imagen.config.load import parse_config
from imagen.config.model import Config
from imagen.errors import ConfigError, SinkError
from imagen.models import Generation, Request
from imagen.sinks.builtin import (
    COMMAND_SAMPLE,
    WEBHOOK_SAMPLE,
    CommandSettings,
    CommandSink,
    WebhookSettings,
    WebhookSink,
)
from imagen.sinks.outbox import Outbox
from imagen.sinks.protocol import Delivery
from imagen.sinks.run import deliver
from imagen.sinks.serialize import generation_to_dict
from imagen.testing.servers import serve_app


def make_generation(directory: Path, name: str = "cat.png") -> Generation:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"\x89PNG")
    (directory / Path(name).with_suffix(".json")).write_text("{}")
    return Generation(
        request=Request("a cat in a fishbowl", seed=42),
        backend="flux-local",
        backend_type="comfyui",
        model="flux1-schnell",
        seed=42,
        path=name,
        output_dir=str(directory),
        sha256="ab" * 32,
        media_type="image/png",
        width=1024,
        height=768,
        size_bytes=4,
        latency=1.5,
        created_at=dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC),
        sidecar_path=str(Path(name).with_suffix(".json")),
    )


def load(text: str) -> Config:
    config, problems = parse_config(text)
    problems.raise_first()
    assert config is not None
    return config


def run_command(generation: Generation, argv: list[str], timeout: float = 30) -> None:
    sink = CommandSink("backup", CommandSettings(argv=argv, timeout=timeout))
    asyncio.run(sink.deliver(Delivery(generation, "backup")))


# --- command ---------------------------------------------------------------------------------

RECORD_ARGV = (
    "import json, os, sys; json.dump([os.getcwd(), *sys.argv[1:]], open(os.environ['OUT'], 'w'))"
)


def test_command_gets_each_placeholder_as_one_literal_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "it's a dir"
    generation = make_generation(directory, "cat's photo 1.png")
    record = tmp_path / "argv.json"
    monkeypatch.setenv("OUT", str(record))
    injected = tmp_path / "injected"
    hostile = [f"$(touch {injected})", f"`touch {injected}`", f"; touch {injected}", "*"]
    argv = [sys.executable, "-c", RECORD_ARGV, "{path}", "{sidecar}", "{relpath}", "{backend}",
            "{model}", "{seed}", "seed={seed}.png", "{{literal}}", *hostile]  # fmt: skip
    run_command(generation, argv)
    assert json.loads(record.read_text()) == [
        str(directory),
        str(directory / "cat's photo 1.png"),
        str(directory / "cat's photo 1.json"),
        "cat's photo 1.png",
        "flux-local",
        "flux1-schnell",
        "42",
        "seed=42.png",
        "{literal}",
        *hostile,
    ]
    assert not injected.exists()


def test_a_placeholder_value_that_looks_like_a_placeholder_is_not_expanded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = make_generation(tmp_path / "{backend}", "{seed}.png")
    record = tmp_path / "argv.json"
    monkeypatch.setenv("OUT", str(record))
    run_command(generation, [sys.executable, "-c", RECORD_ARGV, "{relpath}"])
    assert json.loads(record.read_text())[1:] == ["{seed}.png"]


def test_a_failing_command_is_a_sink_error_with_its_status_and_last_stderr_line(
    tmp_path: Path,
) -> None:
    script = (
        "import sys; print('copying', file=sys.stderr); print('disk full', file=sys.stderr); "
        "sys.exit(3)"
    )
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script])
    assert str(caught.value) == f"{sys.executable} exited 3: disk full"
    assert caught.value.retryable


def test_a_missing_program_is_a_sink_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), ["no-such-imagen-program", "{path}"])
    assert str(caught.value) == "cannot run 'no-such-imagen-program': No such file or directory"


def test_a_command_that_fails_silently_is_reported_by_its_status_alone(tmp_path: Path) -> None:
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", "raise SystemExit(4)"])
    assert str(caught.value) == f"{sys.executable} exited 4"


def test_a_command_killed_by_a_signal_says_which(tmp_path: Path) -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script])
    assert str(caught.value) == f"{sys.executable} was killed by signal 9"


def test_stderr_that_is_not_utf8_is_shown_with_replacement_characters(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.buffer.write(b'disk \\xff full\\n'); sys.exit(1)"
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script])
    assert str(caught.value) == f"{sys.executable} exited 1: disk \ufffd full"


@pytest.mark.parametrize(
    ("length", "shown"), [(200, "x" * 200), (201, "x" * 197 + "..."), (500, "x" * 197 + "...")]
)
def test_a_long_stderr_line_is_cut_to_200_characters(
    tmp_path: Path, length: int, shown: str
) -> None:
    script = f"import sys; print('x' * {length}, file=sys.stderr); sys.exit(1)"
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script])
    assert str(caught.value) == f"{sys.executable} exited 1: {shown}"


def test_the_program_never_reads_imagens_stdin(tmp_path: Path) -> None:
    # imagen's stdin may carry the prompt (imagen generate -): a program must not eat it.
    record = tmp_path / "stdin.txt"
    script = f"import sys; open({str(record)!r}, 'w').write(sys.stdin.read())"
    read_end, write_end = os.pipe()
    os.write(write_end, b"a prompt for imagen\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script])
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert record.read_text() == ""


def test_a_command_without_seed_or_sidecar_gets_empty_arguments_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = attrs.evolve(make_generation(tmp_path), seed=None, sidecar_path=None)
    record = tmp_path / "argv.json"
    monkeypatch.setenv("OUT", str(record))
    run_command(generation, [sys.executable, "-c", RECORD_ARGV, "{seed}", "{sidecar}"])
    assert json.loads(record.read_text())[1:] == ["", ""]


def test_stopping_a_program_that_has_already_gone_is_no_error(tmp_path: Path) -> None:
    from imagen.sinks.builtin import _stop

    async def run() -> None:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        await process.wait()
        _stop(process)

    asyncio.run(run())


def test_a_command_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    with pytest.raises(SinkError) as caught:
        run_command(make_generation(tmp_path), [sys.executable, "-c", script], timeout=0.5)
    assert str(caught.value) == f"{sys.executable} did not finish within 0.5 s and was stopped"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


SPAWN_AND_WAIT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def is_dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_stopping_a_command_also_stops_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child-pid"
    argv = [sys.executable, "-c", SPAWN_AND_WAIT, str(pid_file)]
    try:
        # A child left running would also hold the stderr pipe open and stall the delivery.
        with pytest.raises(SinkError, match="was stopped"):
            run_command(make_generation(tmp_path), argv, timeout=1)
        child = int(pid_file.read_text())
        # SIGKILL is delivered at once, but the kernel takes a moment to finish the process.
        for _ in range(500):
            if is_dead(child):
                break
            time.sleep(0.01)
        assert is_dead(child)
    finally:
        if pid_file.exists() and not is_dead(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_the_command_output_never_reaches_imagen_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run_command(make_generation(tmp_path), [sys.executable, "-c", "print('/not/an/image.png')"])
    assert capfd.readouterr().out == ""


# --- command: the program's environment -------------------------------------------------------

DUMP_ENV = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"

ENV_CONFIG = """\
output: {{directory: {out}}}
server: {{token_env: MY_SERVER_TOKEN}}
sinks:
  hook: {{type: webhook, enabled: "off", url: "https://x.test/", secret_env: HOOK_SECRET}}
  rclone: {{type: webhook, enabled: "off", url: "https://x.test/", secret_env: RCLONE_PASS}}
  dump: {{type: command, enabled: "on", argv: {argv}, env: [RCLONE_PASS, NOT_SET_ANYWHERE]}}
"""


def test_the_command_gets_imagens_environment_minus_every_variable_a_config_env_key_names(
    imagen: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "env.json"
    config = tmp_path / "imagen.yaml"
    argv = json.dumps([sys.executable, "-c", DUMP_ENV, str(dump)])
    config.write_text(ENV_CONFIG.format(out=json.dumps(str(tmp_path / "out")), argv=argv))
    secrets = {
        "MY_SERVER_TOKEN": "server-token",
        "HOOK_SECRET": "hook-secret",
        "IMAGEN_SERVER_TOKEN": "default-name",  # server.token_env's default, now overridden
        "RCLONE_PASS": "wanted-by-the-program",
        "UNRELATED_SETTING": "kept",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    ran = imagen("--config", str(config), "generate", "a cat")
    assert ran.code == 0, ran.err
    seen = json.loads(dump.read_text())
    for withheld in ("MY_SERVER_TOKEN", "HOOK_SECRET"):
        assert withheld not in seen
    # Passed through by env:, an unnamed variable kept, the replaced default no longer secret.
    assert seen["RCLONE_PASS"] == "wanted-by-the-program"
    assert seen["UNRELATED_SETTING"] == "kept"
    assert seen["IMAGEN_SERVER_TOKEN"] == "default-name"
    assert "NOT_SET_ANYWHERE" not in seen


def test_a_default_env_key_counts_even_when_the_config_does_not_write_it(
    imagen: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "env.json"
    config = tmp_path / "imagen.yaml"
    argv = json.dumps([sys.executable, "-c", DUMP_ENV, str(dump)])
    config.write_text(f"sinks:\n  dump: {{type: command, enabled: 'on', argv: {argv}}}\n")
    monkeypatch.setenv("IMAGEN_SERVER_TOKEN", "server-token")  # server.token_env's default
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    ran = imagen("--config", str(config), "generate", "a cat", "-o", str(tmp_path / "out"))
    assert ran.code == 0, ran.err
    assert "IMAGEN_SERVER_TOKEN" not in json.loads(dump.read_text())


def test_a_command_built_by_hand_passes_the_whole_environment_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_KEY", "value")
    dump = tmp_path / "env.json"
    sink = CommandSink("dump", CommandSettings(argv=[sys.executable, "-c", DUMP_ENV, str(dump)]))
    asyncio.run(sink.deliver(Delivery(make_generation(tmp_path), "dump")))
    assert json.loads(dump.read_text())["SOME_KEY"] == "value"
    sink.withhold_env(frozenset({"SOME_KEY"}))
    asyncio.run(sink.deliver(Delivery(make_generation(tmp_path), "dump")))
    assert "SOME_KEY" not in json.loads(dump.read_text())


def test_env_lists_variable_names_only() -> None:
    with pytest.raises(ConfigError, match=r"sinks\.backup") as caught:
        load('sinks:\n  backup: {type: command, argv: ["true"], env: ["A=1"]}\n')
    assert str(caught.value).endswith(
        "env: 'A=1' is not an environment variable name; list names only, like [RCLONE_CONFIG_PASS]"
    )


def test_command_auto_enables_only_when_the_program_is_on_path() -> None:
    assert CommandSink("a", CommandSettings(argv=["true"])).enabled_auto()
    assert not CommandSink("b", CommandSettings(argv=["no-such-imagen-program"])).enabled_auto()


UNFILLED = (
    "has a placeholder imagen does not fill (known: {path}, {sidecar}, {relpath}, {backend}, "
    "{model}, {seed}; write {{ and }} for literal braces)"
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ('["cp", "{file}", "/b/"]', f"argv: '{{file}}' {UNFILLED}"),
        ('["cp", "{seed:05d}"]', f"argv: '{{seed:05d}}' {UNFILLED}"),
        ('["cp", "{path!r}"]', f"argv: '{{path!r}}' {UNFILLED}"),
        ('["cp", "{path.name}"]', f"argv: '{{path.name}}' {UNFILLED}"),
        (
            '["cp", "{path"]',
            "argv: '{path': expected '}' before end of string (write {{ and }} for literal braces)",
        ),
        ("[]", 'argv: give the program and its arguments, like ["cp", "{path}", ...]'),
    ],
)
def test_bad_argv_is_a_config_error_at_load_time(argv: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"sinks\.backup") as caught:
        load(f"sinks:\n  backup: {{type: command, argv: {argv}}}\n")
    assert str(caught.value).endswith(message)


def test_a_timeout_of_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="more than 0 seconds"):
        load('sinks:\n  backup: {type: command, argv: ["true"], timeout: 0}\n')


@pytest.mark.parametrize("sample", [COMMAND_SAMPLE, WEBHOOK_SAMPLE])
def test_each_sample_loads_as_valid_config_and_starts_disabled(sample: str) -> None:
    config = load("sinks:\n" + textwrap.indent(sample, "  "))
    [instance] = config.sinks.values()
    assert instance.enabled == "off"


# --- webhook ---------------------------------------------------------------------------------


#: scripted "statuses" that are no answer: the connection dropped, or held open in silence
DROP, HOLD = -1, -2


class Receiver:
    """A webhook endpoint that answers with scripted statuses and records every request."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, Any]] = []
        #: the body of an error answer, when not the default JSON one
        self.text: str | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hooks/{token}", self.handle)
        app.router.add_post("/moved", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            {"path": request.path, "headers": dict(request.headers), "body": await request.read()}
        )
        status = self.statuses.pop(0) if self.statuses else 200
        if status == DROP and request.transport is not None:
            request.transport.close()  # the connection ends with no answer
            return web.Response()
        if status == HOLD:
            await asyncio.Event().wait()  # no answer until the server stops
        if status == 301:
            raise web.HTTPMovedPermanently("/moved")
        if status >= 400 and self.text is not None:
            return web.Response(text=self.text, status=status)
        if status >= 400:
            return web.json_response({"error": f"status {status} on purpose"}, status=status)
        if status == 300:
            return web.Response(status=300)
        return web.json_response({"ok": True}, status=status)


def post(
    url: str, generation: Generation, waits: list[float] | None = None, **settings: Any
) -> None:
    async def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    async def run() -> None:
        sink = WebhookSink("notify", WebhookSettings(url=url, **settings), sleep=sleep)
        try:
            await sink.deliver(Delivery(generation, "notify"))
        finally:
            await sink.aclose()

    asyncio.run(run())


def signed_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One real signed delivery, as the receiver got it."""
    monkeypatch.setenv("HOOK_SECRET", "s3cret-value")
    receiver = Receiver(200)
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path), secret_env="HOOK_SECRET")
    [request] = receiver.requests
    return request


def test_webhook_posts_the_generation_as_json_signed_over_timestamp_and_exact_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = int(time.time())
    request = signed_delivery(tmp_path, monkeypatch)
    body: bytes = request["body"]
    generation = make_generation(tmp_path)
    assert json.loads(body) == json.loads(json.dumps(generation_to_dict(generation)))
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    timestamp = headers["X-Imagen-Timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(b"s3cret-value", signed, hashlib.sha256).hexdigest()
    assert headers["X-Imagen-Signature"] == f"sha256={expected}"


def docs_verifier() -> Any:
    """The receiver's check exactly as docs/security.md prints it."""
    docs = Path(__file__).parents[2] / "docs" / "security.md"
    blocks = re.findall(r"```python\n(.*?)```", docs.read_text(), re.DOTALL)
    [code] = [block for block in blocks if "def verify_imagen_signature" in block]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["verify_imagen_signature"]


def test_the_documented_receiver_check_accepts_a_real_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify = docs_verifier()
    request = signed_delivery(tmp_path, monkeypatch)
    headers, body = request["headers"], request["body"]
    assert verify(
        "s3cret-value", headers["X-Imagen-Timestamp"], headers["X-Imagen-Signature"], body
    )


def test_the_documented_receiver_check_refuses_a_replay_under_a_new_timestamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify = docs_verifier()
    request = signed_delivery(tmp_path, monkeypatch)
    headers, body = request["headers"], request["body"]
    timestamp, sig = headers["X-Imagen-Timestamp"], headers["X-Imagen-Signature"]
    fresh = str(int(timestamp) + 3600)
    assert not verify("s3cret-value", fresh, sig, body, now=int(fresh))
    # The captured delivery itself, an hour later: too old.
    assert not verify("s3cret-value", timestamp, sig, body, now=int(timestamp) + 3600)
    assert not verify("s3cret-value", timestamp, sig, body + b" ")
    assert not verify("another-secret", timestamp, sig, body)
    assert not verify("s3cret-value", "not-a-number", sig, body)


def test_webhook_without_a_secret_sends_no_signature(tmp_path: Path) -> None:
    receiver = Receiver(204)
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path))
    assert "X-Imagen-Signature" not in receiver.requests[0]["headers"]


def test_webhook_retries_a_5xx_and_then_succeeds_with_the_same_body(tmp_path: Path) -> None:
    receiver = Receiver(503, 502, 200)
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=3)
    assert len(receiver.requests) == 3
    assert len({request["body"] for request in receiver.requests}) == 1


def test_webhook_waits_a_quarter_second_then_doubles_between_retries(tmp_path: Path) -> None:
    receiver = Receiver(503, 502, 200)
    waits: list[float] = []
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path), waits, retries=3)
    assert waits == [0.25, 0.5]


def test_webhook_retries_a_429(tmp_path: Path) -> None:
    receiver = Receiver(429, 200)
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=1)
    assert len(receiver.requests) == 2


def test_webhook_retries_a_dropped_connection_as_often_as_its_retries_say(
    tmp_path: Path,
) -> None:
    receiver = Receiver(DROP, DROP, 200)
    waits: list[float] = []
    with serve_app(receiver.app()) as base:
        post(f"{base}/hooks/abc", make_generation(tmp_path), waits, retries=2)
    assert len(receiver.requests) == 3
    assert waits == [0.25, 0.5]


def test_webhook_does_not_retry_a_status_past_the_5xx_range(tmp_path: Path) -> None:
    receiver = Receiver(600)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError, match="answered HTTP 600"):
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=3)
    assert len(receiver.requests) == 1


def test_webhook_that_never_answers_is_cut_off_at_its_timeout(tmp_path: Path) -> None:
    receiver = Receiver(HOLD)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path), timeout=0.3, retries=0)
    assert str(caught.value) == f"cannot reach {base}: ReadTimeout"
    assert caught.value.retryable


def test_webhook_gives_up_after_its_retries_with_a_retryable_error(tmp_path: Path) -> None:
    receiver = Receiver(500, 500, 500)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=1)
    assert len(receiver.requests) == 2
    assert caught.value.retryable
    assert "answered HTTP 500" in str(caught.value)


def test_webhook_does_not_retry_a_4xx_and_says_a_retry_cannot_help(tmp_path: Path) -> None:
    receiver = Receiver(400)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=3)
    assert len(receiver.requests) == 1
    assert not caught.value.retryable
    assert "answered HTTP 400" in str(caught.value)
    assert "status 400 on purpose" in str(caught.value)


def test_webhook_errors_never_show_the_url_path_which_may_hold_a_token(tmp_path: Path) -> None:
    receiver = Receiver(404)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/T0KEN-IN-PATH", make_generation(tmp_path))
    assert "T0KEN-IN-PATH" not in str(caught.value)
    assert base in str(caught.value)


def test_webhook_does_not_follow_a_redirect(tmp_path: Path) -> None:
    receiver = Receiver(301)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError, match="redirect") as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path))
    assert [request["path"] for request in receiver.requests] == ["/hooks/abc"]
    assert caught.value.retryable is False


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/abc"


def test_webhook_to_a_dead_port_is_a_retryable_error_naming_the_host(tmp_path: Path) -> None:
    url = dead_url()
    with pytest.raises(SinkError, match=r"cannot reach http://127\.0\.0\.1:\d+: ConnectError"):
        post(url, make_generation(tmp_path), retries=1)


def test_webhook_to_a_dead_port_through_deliver_lands_in_the_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generation = make_generation(tmp_path)
    sink = WebhookSink("notify", WebhookSettings(url=dead_url(), retries=0))
    with Outbox.open(str(tmp_path / "outbox.sqlite3")) as outbox:
        failures = asyncio.run(deliver([sink], generation, timeout=10, outbox=outbox))
        [pending] = outbox.pending()
    assert failures[0][0] == "notify"
    assert capsys.readouterr().err.startswith("imagen: notify: cannot reach http://127.0.0.1:")
    assert (pending.sink, pending.generation) == ("notify", generation)


def test_webhook_with_its_secret_unset_fails_saying_which_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    with pytest.raises(SinkError, match="set HOOK_SECRET"):
        post("http://127.0.0.1:9/hooks/x", make_generation(tmp_path), secret_env="HOOK_SECRET")


def test_webhook_auto_enables_when_its_secret_is_set_or_not_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    signed = WebhookSink("a", WebhookSettings(url="https://x.test/", secret_env="HOOK_SECRET"))
    assert not signed.enabled_auto()
    monkeypatch.setenv("HOOK_SECRET", "value")
    assert signed.enabled_auto()
    assert WebhookSink("b", WebhookSettings(url="https://x.test/")).enabled_auto()


def test_webhook_retries_below_zero_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"sinks\.notify") as caught:
        load("sinks:\n  notify: {type: webhook, url: 'https://x.test/', retries: -1}\n")
    assert str(caught.value).endswith("retries: must be 0 or more")


@pytest.mark.parametrize(
    ("status", "retryable"), [(408, True), (409, False), (429, True), (430, False)]
)
def test_webhook_says_a_retry_may_help_a_timeout_or_rate_limit_but_not_another_4xx(
    tmp_path: Path, status: int, retryable: bool
) -> None:
    receiver = Receiver(status)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path), retries=0)
    assert caught.value.retryable is retryable


def test_webhook_300_is_not_a_success(tmp_path: Path) -> None:
    receiver = Receiver(300)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path))
    assert str(caught.value) == (
        f"{base} answered HTTP 300 (a redirect); set url to the address it points to"
    )
    assert caught.value.retryable is False


def test_webhook_error_shows_the_answer_on_one_line_cut_at_200_characters(
    tmp_path: Path,
) -> None:
    receiver = Receiver(400)
    receiver.text = "bad\n  payload " + "y" * 300
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path))
    said = ("bad payload " + "y" * 300)[:200]
    assert str(caught.value) == f"{base} answered HTTP 400: {said}"


def test_webhook_error_with_an_empty_answer_is_the_status_alone(tmp_path: Path) -> None:
    receiver = Receiver(404)
    receiver.text = ""
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(f"{base}/hooks/abc", make_generation(tmp_path))
    assert str(caught.value) == f"{base} answered HTTP 404"


def test_webhook_errors_never_show_credentials_in_the_url(tmp_path: Path) -> None:
    receiver = Receiver(404)
    with serve_app(receiver.app()) as base, pytest.raises(SinkError) as caught:
        post(base.replace("://", "://hook-user:pa55word@") + "/hooks/abc",
             make_generation(tmp_path))  # fmt: skip
    assert "pa55word" not in str(caught.value)
    assert "hook-user" not in str(caught.value)
    assert str(caught.value).startswith(f"{base} answered HTTP 404")


@pytest.mark.parametrize("url", ["ftp://x.test/", "x.test/hook", "http:///path"])
def test_webhook_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ConfigError, match=r"sinks\.notify.*http:// or https://"):
        load(f"sinks:\n  notify: {{type: webhook, url: '{url}'}}\n")
