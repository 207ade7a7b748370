"""Preview: mode precedence (config, env, flag), when to preview, and opening a real tmux window."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.errors import ConfigError, ImagenError
from imagen.output.preview import (
    PREVIEW_ENV,
    WINDOW_NAME,
    PreviewError,
    PreviewMode,
    open_preview,
    preview_mode,
    should_preview,
    viewer_argv,
)
from imagen.testing.processes import Watchdog

MODES: tuple[PreviewMode, ...] = ("auto", "on", "off")
HOSTILE_NAMES = [
    "plain.png",
    "two words.png",
    "it's mine.png",
    "$(touch PWNED).png",
    "`touch PWNED`.png",
    'say "cheese"; touch PWNED.png',
    "-rf star*.png",
    "back\\slash & pipe | amp.png",
    "{path} in the name.png",
    "caf\u00e9 \u732b.png",
    "line\nbreak.png",
]


# --- precedence: config, then IMAGEN_PREVIEW, then the flag ---------------------------------


@pytest.mark.parametrize("config_mode", MODES)
@pytest.mark.parametrize("env", [None, *MODES])
@pytest.mark.parametrize("flag", [None, True, False])
def test_the_last_given_of_config_env_and_flag_wins(
    config_mode: PreviewMode, env: str | None, flag: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is not None:
        monkeypatch.setenv(PREVIEW_ENV, env)
    expected = config_mode if env is None else env
    if flag is not None:
        expected = "on" if flag else "off"
    assert preview_mode(config_mode, flag=flag) == expected


def test_the_config_mode_holds_without_env_or_flag() -> None:
    assert preview_mode("off", flag=None) == "off"
    assert preview_mode("on", flag=None) == "on"


def test_the_env_overrides_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREVIEW_ENV, "off")
    assert preview_mode("on", flag=None) == "off"


def test_no_preview_overrides_an_env_that_says_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREVIEW_ENV, "on")
    assert preview_mode("on", flag=False) == "off"


@pytest.mark.parametrize(
    ("value", "mode"),
    [("ON", "on"), (" off ", "off"), ("Auto", "auto"), ("1", "on"), ("yes", "on"), ("0", "off")],
)
def test_the_env_takes_any_case_and_the_spellings_of_yes_and_no(
    value: str, mode: PreviewMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PREVIEW_ENV, value)
    assert preview_mode("auto", flag=None) == mode


def test_an_empty_env_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREVIEW_ENV, "")
    assert preview_mode("off", flag=None) == "off"


def test_a_bad_env_value_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PREVIEW_ENV, "sometimes")
    with pytest.raises(ConfigError) as caught:
        preview_mode("auto", flag=True)
    assert PREVIEW_ENV in str(caught.value)
    assert "sometimes" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_config_mode_is_a_config_error_naming_output_preview() -> None:
    with pytest.raises(ConfigError) as caught:
        preview_mode("always", flag=None)
    assert caught.value.path == "output.preview"


# --- when to preview -------------------------------------------------------------------------


@pytest.mark.parametrize("stdout_tty", [True, False])
@pytest.mark.parametrize("in_tmux", [True, False])
def test_off_never_previews(stdout_tty: bool, in_tmux: bool) -> None:
    assert should_preview("off", stdout_tty=stdout_tty, in_tmux=in_tmux) is False


@pytest.mark.parametrize(
    ("stdout_tty", "in_tmux", "expected"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_auto_previews_only_on_a_terminal_inside_tmux(
    stdout_tty: bool, in_tmux: bool, expected: bool
) -> None:
    assert should_preview("auto", stdout_tty=stdout_tty, in_tmux=in_tmux) is expected


@pytest.mark.parametrize("stdout_tty", [True, False])
def test_on_previews_inside_tmux_even_when_stdout_is_piped(stdout_tty: bool) -> None:
    assert should_preview("on", stdout_tty=stdout_tty, in_tmux=True) is True


def test_on_outside_tmux_is_a_preview_error() -> None:
    with pytest.raises(PreviewError) as caught:
        should_preview("on", stdout_tty=True, in_tmux=False)
    assert "tmux" in str(caught.value)
    assert isinstance(caught.value, ImagenError)


# --- the viewer's argv -----------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_path_is_one_argv_word_and_survives_shell_quoting(name: str) -> None:
    path = f"/pictures/{name}"
    argv = viewer_argv("tmux-img --hold {path}", path)
    assert argv == ["tmux-img", "--hold", path]
    assert shlex.split(shlex.join(argv)) == argv


def test_the_path_is_substituted_inside_a_word() -> None:
    assert viewer_argv("viewer --file={path} --title 'a b'", "/x y.png") == [
        "viewer",
        "--file=/x y.png",
        "--title",
        "a b",
    ]


def test_a_template_without_path_gets_the_path_appended() -> None:
    assert viewer_argv("feh -F", "/x.png") == ["feh", "-F", "/x.png"]


def test_a_path_containing_the_placeholder_is_not_substituted_again() -> None:
    assert viewer_argv("v {path}", "/a/{path}.png") == ["v", "/a/{path}.png"]


@given(st.text(alphabet=st.characters(exclude_characters="\x00"), min_size=1))
def test_any_path_arrives_unchanged_through_split_and_join(name: str) -> None:
    argv = viewer_argv("tmux-img --hold {path}", name)
    assert argv[-1] == name
    assert shlex.split(shlex.join(argv)) == argv


@pytest.mark.parametrize("command", ["", "   ", "viewer 'unclosed {path}"])
def test_an_empty_or_unsplittable_template_is_a_preview_error(command: str) -> None:
    with pytest.raises(PreviewError) as caught:
        viewer_argv(command, "/x.png")
    assert "preview_command" in str(caught.value)


# --- a real tmux server ----------------------------------------------------------------------


@attrs.frozen
class TmuxServer:
    socket: str
    directory: Path

    def tmux(self, *args: str) -> str:
        argv = ["tmux", "-S", self.socket, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process look as if it runs in the server's first pane, as tmux sets it up."""
        pid = self.tmux("display-message", "-p", "#{pid}").strip()
        monkeypatch.setenv("TMUX", f"{self.socket},{pid},0")

    def window_names(self) -> list[str]:
        return self.tmux("list-windows", "-F", "#{window_name}").split()


@pytest.fixture
def tmux_server() -> Iterator[TmuxServer]:
    """A real tmux server on a private socket with one detached session; windows stay open."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    # A short directory: a unix socket path must stay under ~100 bytes.
    # The watchdog stops the (daemonised) tmux server if the test run is killed before the end.
    with (
        tempfile.TemporaryDirectory(prefix="imp", dir="/tmp") as directory,
        Watchdog() as watchdog,
    ):
        watchdog.remove(directory)
        socket = str(Path(directory) / "s")
        base = ["tmux", "-S", socket, "-f", "/dev/null"]
        subprocess.run(
            [*base, "new-session", "-d", "-x", "80", "-y", "24", "-c", directory], check=True
        )
        try:
            server = TmuxServer(socket, Path(directory))
            watchdog.guard(int(server.tmux("display-message", "-p", "#{pid}")))
            server.tmux("set-option", "-g", "default-shell", "/bin/sh")
            server.tmux("set-option", "-g", "remain-on-exit", "on")
            yield server
        finally:
            subprocess.run([*base, "kill-server"], capture_output=True, check=False)


def recording_viewer(directory: Path) -> tuple[Path, Path]:
    """A viewer script that writes its first argument to a file; returns (script, that file)."""
    received = directory / "received"
    script = directory / "viewer"
    script.write_text(
        '#!/bin/sh\nprintf %s "$1" > "$2.part" && mv "$2.part" "$2"\n', encoding="utf-8"
    )
    script.chmod(0o755)
    return script, received


def wait_for(path: Path) -> str:
    """The file's text once the viewer has written it (it runs in the tmux window)."""
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the viewer never wrote {path}")
        time.sleep(0.05)
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["two words and it's mine.png", '$(touch PWNED) `touch PWNED`; "x".png', "plain.png"],
)
def test_the_viewer_in_a_new_tmux_window_gets_the_exact_path(
    name: str, tmux_server: TmuxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_server.enter(monkeypatch)
    script, received = recording_viewer(tmux_server.directory)
    image = tmp_path / name
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.chdir(tmp_path)
    command = f"{shlex.quote(str(script))} {{path}} {shlex.quote(str(received))}"

    argv = open_preview(name, command=command)

    assert wait_for(received) == str(image)
    assert argv[1:4] == ["new-window", "-n", WINDOW_NAME]
    assert WINDOW_NAME in tmux_server.window_names()
    assert not (tmp_path / "PWNED").exists()
    assert not (tmux_server.directory / "PWNED").exists()
    assert not Path(os.path.expanduser("~"), "PWNED").exists()


@pytest.mark.slow
def test_tmux_refusing_is_a_preview_error_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    monkeypatch.setenv("TMUX", f"{tmp_path / 'no-server'},1,0")
    with pytest.raises(PreviewError) as caught:
        open_preview(str(tmp_path / "a.png"), command="sh -c true")
    assert "tmux new-window failed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_tmux_is_a_preview_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to("/bin/sh")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(PreviewError) as caught:
        open_preview(str(tmp_path / "a.png"), command="sh -c true")
    assert "tmux is not on PATH" in str(caught.value)


def test_a_missing_viewer_is_a_preview_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tmux = bin_dir / "tmux"
    marker = tmp_path / "tmux-ran"
    fake_tmux.write_text(f"#!/bin/sh\ntouch {shlex.quote(str(marker))}\n", encoding="utf-8")
    fake_tmux.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(PreviewError) as caught:
        open_preview(str(tmp_path / "a.png"), command="tmux-img --hold {path}")
    assert "'tmux-img' is not on PATH" in str(caught.value)
    assert "preview_command" in str(caught.value)
    assert not marker.exists()
