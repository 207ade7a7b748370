"""A real ``imagen serve`` for tests: a subprocess on a free loopback port that dies with the
test run (own process group, parent-death signal), in the caller's environment (HOME).

    server = Server(write_config(tmp_path))
    job = server.until(job_id, lambda job: job["state"] == "done")   # long polls, no sleeps
    server.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from imagen.testing.processes import start_tied

#: a gemini instance whose key variable is never set: "not configured (set ...)"
UNSET_KEY = "STUDIO_TEST_GEMINI_KEY_NEVER_SET"


def write_config(folder: Path, *, latency: float = 0.0, extra: str = "") -> Path:
    config = folder / "imagen.yaml"
    config.write_text(
        f"""\
output:
  directory: {folder / "out"}
backends:
  slow:
    type: mock
    latency: {latency}
    concurrency: 1
  priced:
    type: mock
    cost_per_image: 0.04
  gem:
    type: gemini
    api_key_env: {UNSET_KEY}
{extra}"""
    )
    return config


class Server:
    """A running ``imagen serve``; ``lines`` is everything it printed on stderr so far.

    ``program`` is what runs ``imagen`` (a script that registers a test plugin first, say).
    """

    def __init__(
        self,
        config: Path,
        *args: str,
        env: dict[str, str] | None = None,
        program: Sequence[str] = (sys.executable, "-m", "imagen"),
    ) -> None:
        self.config = config
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        command = [*program, "serve", "--port", "0", *args]
        environment = {**os.environ, "IMAGEN_CONFIG": str(config), **(env or {})}
        self.process = start_tied(
            command, death_signal=signal.SIGKILL, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ready.wait(60)
        if not self.url:
            self.stop()
            raise AssertionError("imagen serve did not start:\n" + "".join(self.lines))
        self.host = self.url.removeprefix("http://").rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "serving the studio at " in line and not self.url:
                self.url = line.split("serving the studio at ", 1)[1].split()[0].rstrip(";")
                self._ready.set()
        self._ready.set()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def job(self, job_id: str, *, wait: float | None = None, version: int | None = None) -> Any:
        params: dict[str, Any] = {}
        if wait is not None:
            params["wait"] = wait
        if version is not None:
            params["version"] = version
        answer = self.client.get(f"/v1/jobs/{job_id}", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def until(self, job_id: str, check: Any) -> Any:
        """Long-poll the job until ``check(job)`` holds (each poll returns on a change)."""
        job = self.job(job_id)
        while not check(job):
            assert job["state"] not in ("failed", "canceled", "interrupted") or check(job), job
            job = self.job(job_id, wait=30, version=job["version"])
        return job

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if hasattr(self, "client"):
            self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)
        return self.process.returncode


__all__ = ["UNSET_KEY", "Server", "write_config"]
