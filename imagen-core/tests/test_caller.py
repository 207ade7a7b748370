"""Caller identity: --caller, IMAGEN_CALLER, MAI_FROM_ID, the tmux pane's @mai-name, the OS user."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from imagen.caller import resolve_caller
from imagen.testing.processes import Watchdog

IDENTITY_ENV = ("IMAGEN_CALLER", "MAI_FROM_ID", "TMUX", "TMUX_PANE")


@pytest.fixture(autouse=True)
def clean_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from no identity at all, whatever the shell running pytest has set."""
    for name in IDENTITY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGNAME", "os-login")


@attrs.frozen
class TmuxPane:
    socket: str
    server_pid: str
    pane: str

    def tmux(self, *args: str) -> str:
        argv = ["tmux", "-S", self.socket, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process look as if it runs inside the pane, as tmux sets it up."""
        monkeypatch.setenv("TMUX", f"{self.socket},{self.server_pid},0")
        monkeypatch.setenv("TMUX_PANE", self.pane)


@pytest.fixture
def tmux_pane() -> Iterator[TmuxPane]:
    """A real tmux server on a private socket, with one detached session, named agent-7."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    # A short directory: a unix socket path must stay under ~100 bytes.
    # The watchdog stops the (daemonised) tmux server if the test run is killed before the end.
    with (
        tempfile.TemporaryDirectory(prefix="imx", dir="/tmp") as directory,
        Watchdog() as watchdog,
    ):
        watchdog.remove(directory)
        socket = str(Path(directory) / "s")
        base = ["tmux", "-S", socket, "-f", "/dev/null"]
        subprocess.run([*base, "new-session", "-d", "-x", "80", "-y", "24"], check=True)
        try:
            server = TmuxPane(socket, "", "")
            pane = server.tmux("list-panes", "-F", "#{pane_id}")
            pid = server.tmux("display-message", "-p", "-t", pane, "#{pid}")
            watchdog.guard(int(pid))
            ready = TmuxPane(socket, pid, pane)
            ready.tmux("set-option", "-p", "-t", pane, "@mai-name", "agent-7")
            yield ready
        finally:
            subprocess.run([*base, "kill-server"], capture_output=True, check=False)


@pytest.mark.slow
def test_the_explicit_value_wins_over_everything(
    tmux_pane: TmuxPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_pane.enter(monkeypatch)
    monkeypatch.setenv("IMAGEN_CALLER", "from-imagen-env")
    monkeypatch.setenv("MAI_FROM_ID", "from-mai-env")
    assert resolve_caller("from-flag") == "from-flag"


def test_a_blank_explicit_value_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_CALLER", "from-imagen-env")
    assert resolve_caller("   ") == "from-imagen-env"
    assert resolve_caller("") == "from-imagen-env"


def test_imagen_caller_comes_before_mai_from_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_CALLER", "from-imagen-env")
    monkeypatch.setenv("MAI_FROM_ID", "from-mai-env")
    assert resolve_caller() == "from-imagen-env"


@pytest.mark.slow
def test_mai_from_id_comes_before_the_tmux_pane(
    tmux_pane: TmuxPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_pane.enter(monkeypatch)
    monkeypatch.setenv("IMAGEN_CALLER", "  ")
    monkeypatch.setenv("MAI_FROM_ID", "from-mai-env")
    assert resolve_caller() == "from-mai-env"


@pytest.mark.slow
def test_the_tmux_panes_mai_name_comes_before_the_os_user(
    tmux_pane: TmuxPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_pane.enter(monkeypatch)
    assert resolve_caller() == "agent-7"


@pytest.mark.slow
def test_a_pane_without_mai_name_falls_through_to_the_os_user(
    tmux_pane: TmuxPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_pane.tmux("set-option", "-p", "-u", "-t", tmux_pane.pane, "@mai-name")
    tmux_pane.enter(monkeypatch)
    assert resolve_caller() == "os-login"


@pytest.mark.slow
def test_tmux_is_not_asked_without_tmux_pane(
    tmux_pane: TmuxPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_pane.enter(monkeypatch)
    monkeypatch.delenv("TMUX_PANE")
    assert resolve_caller() == "os-login"


def test_an_unreachable_tmux_server_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", f"{tmp_path / 'no-such-socket'},1,0")
    monkeypatch.setenv("TMUX_PANE", "%0")
    assert resolve_caller() == "os-login"


def test_a_missing_tmux_binary_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMUX", "/tmp/whatever,1,0")
    monkeypatch.setenv("TMUX_PANE", "%0")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_caller() == "os-login"


def test_the_os_user_is_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert resolve_caller() == "someone-else"


def test_unknown_when_there_is_no_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert resolve_caller() == "unknown"
