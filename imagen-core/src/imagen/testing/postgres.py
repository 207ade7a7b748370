"""A throw-away PostgreSQL server for tests, gone when the test run ends, however it ends.

    with postgres_cluster() as server:        # PostgresUnavailable: no binaries, no user
        url = server.url()                    # postgresql://postgres@127.0.0.1:<port>/postgres
        server.restart()                      # the same data and port, new connections only

It finds the server binaries (PATH, then /usr/lib/postgresql/*/bin), ``initdb``s a cluster in a
temp dir and runs ``postgres`` in the foreground on a free loopback port, trusting local
connections, with its unix socket in that dir. As root it runs initdb and the server as the
``postgres`` user (PostgreSQL refuses to run as root). The server runs as this process's child
in its own process group with SIGQUIT (immediate shutdown, which also frees its shared memory)
as its parent-death signal, and a watchdog stops the group and removes the directory where that
signal cannot help (see ``imagen.testing.processes``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imagen.testing.processes import Watchdog, start_tied

# The postmaster's log line once it accepts connections (messages are in English: lc_messages=C).
READY_LINE = b"database system is ready to accept connections"
#: seconds a start or stop may take on a busy machine
PATIENCE = 60.0


class PostgresUnavailable(Exception):
    """No server can be started here (say why in a test's skip)."""


def server_bin_dir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: PATH first, then Debian's versioned folders."""
    found = shutil.which("initdb") and shutil.which("postgres")
    if found:
        return Path(os.path.realpath(str(shutil.which("postgres")))).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _follow_log(server: subprocess.Popen[bytes], log: Path, ready: threading.Event) -> None:
    """Copy the server's output to ``log``; set ``ready`` when it accepts connections or ends."""
    assert server.stdout is not None
    with log.open("ab") as sink:
        for line in server.stdout:
            sink.write(line)
            sink.flush()
            if READY_LINE in line:
                ready.set()
    ready.set()


class Postgres:
    """A running test cluster (see the module docstring)."""

    user = "postgres"

    def __init__(
        self, bin_dir: Path, directory: Path, run_as: str | None, watchdog: Watchdog
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        #: the cluster's data, socket and log directory, removed at the end
        self.directory = directory
        self._bin_dir = bin_dir
        self._run_as = run_as
        self._watchdog = watchdog
        self._server: subprocess.Popen[bytes] | None = None
        self._follower: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The postmaster's process id; it leads the server's process group."""
        assert self._server is not None
        return self._server.pid

    @property
    def watchdog_pid(self) -> int:
        """The process that stops the server and removes ``directory`` if the run is killed."""
        return self._watchdog.pid

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def _run(self, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        return start_tied(
            argv,
            user=self._run_as,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **popen,
        )

    def init(self) -> None:
        sockets = self.directory / "sockets"
        sockets.mkdir()
        if self._run_as is not None:
            shutil.chown(self.directory, self._run_as)
            shutil.chown(sockets, self._run_as)
        initdb = self._run(
            [str(self._bin_dir / "initdb"), "-D", str(self.directory / "data"), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
        )  # fmt: skip
        output, _ = initdb.communicate(timeout=PATIENCE)
        if initdb.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({initdb.returncode}):\n{output.decode(errors='replace')}"
            )

    def start(self) -> None:
        """Start the server on its port and return once it accepts connections."""
        server = self._run(
            [str(self._bin_dir / "postgres"), "-D", str(self.directory / "data"),
             "-p", str(self.port), "-k", str(self.directory / "sockets"),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "lc_messages=C"],
            death_signal=signal.SIGQUIT,
        )  # fmt: skip
        self._server = server
        self._watchdog.guard(server.pid, signal.SIGQUIT)
        ready = threading.Event()
        log = self.directory / "log"
        self._follower = threading.Thread(
            target=_follow_log, args=(server, log, ready), name="postgres-log", daemon=True
        )
        self._follower.start()
        ready.wait(PATIENCE)
        if server.poll() is not None or not ready.is_set():
            raise RuntimeError(
                f"PostgreSQL did not start (exit {server.poll()}):\n"
                + log.read_text(encoding="utf-8", errors="replace")
            )

    def stop(self, stop_signal: int = signal.SIGQUIT) -> None:
        """Stop the server: SIGQUIT (immediate, the default: nothing here needs a clean stop)
        or SIGINT (fast: clients are disconnected, the data is checkpointed)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.send_signal(stop_signal)
        try:
            server.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if self._follower is not None:
            self._follower.join(timeout=10)

    def restart(self) -> None:
        """Stop the server as an administrator would (fast shutdown) and start it again: every
        client connection is cut, the data stays."""
        self.stop(signal.SIGINT)
        self.start()


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A started cluster for the block, stopped and removed after it (see the module doc)."""
    bin_dir = server_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (initdb/postgres on PATH or in "
            "/usr/lib/postgresql/*/bin); install them with: apt-get install -y postgresql"
        )
    run_as: str | None = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root without a 'postgres' user to run PostgreSQL as"
            ) from None
        run_as = "postgres"
    with Watchdog() as watchdog:
        base = Path(tempfile.mkdtemp(prefix="imagen-pg-"))
        watchdog.remove(base)
        server = Postgres(bin_dir, base, run_as, watchdog)
        try:
            server.init()
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(base, ignore_errors=True)


__all__ = ["Postgres", "PostgresUnavailable", "free_port", "postgres_cluster", "server_bin_dir"]
