"""The two sinks built into imagen: ``command`` (run a program) and ``webhook`` (POST JSON).

``command`` runs a configured argv for each take, with placeholders filled in per element and
no shell in between, so a prompt or a path can never become shell syntax. Its program gets
imagen's environment minus every variable a ``*_env`` key of the config names (provider keys,
the service key, webhook secrets), plus the ones its ``env:`` list passes through.

``webhook`` POSTs the Generation (``serialize.generation_to_dict``) as JSON, signed with
HMAC-SHA256 when a secret is named, over the timestamp and the body (the Stripe and Slack
scheme), so a captured delivery cannot be replayed later under a new timestamp::

    X-Imagen-Timestamp: <unix seconds>
    X-Imagen-Signature: sha256=<hex of HMAC(secret, timestamp + "." + exact body bytes)>
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from imagen.errors import SinkError
from imagen.secrets import read_secret

if TYPE_CHECKING:
    import asyncio

    import httpx

    from imagen.models import Generation
    from imagen.sinks.protocol import Delivery

# shutil, hashlib and hmac are imported where they are used: every command that reads a config
# loads this module for the settings classes, and those imports cost it about 3 ms.

PLACEHOLDERS = ("path", "sidecar", "relpath", "backend", "model", "seed")

COMMAND_SAMPLE = """\
# Run a program for each take (no shell: each list item is one argument). Placeholders:
# {path} image (absolute), {sidecar} its .json (absolute, or empty), {relpath} image relative
# to the output directory (the working directory), {backend} {model} {seed}.
backup:
  type: command
  enabled: "off"                # auto | on | off (auto: when the program is on PATH)
  argv: ["cp", "{path}", "/mnt/backup/imagen/"]
  timeout: 60                   # seconds before the program is stopped
  env: []                       # variables named by *_env keys to pass through anyway
"""

WEBHOOK_SAMPLE = """\
# POST each take's record as JSON to a URL. With secret_env, each delivery is signed:
# X-Imagen-Timestamp: <unix seconds> and X-Imagen-Signature: sha256=<hex HMAC-SHA256 of
# timestamp + "." + body>; receivers verify both (docs/security.md).
notify:
  type: webhook
  enabled: "off"                # auto | on | off (auto: when url and the secret are set)
  url: "https://example.com/hooks/imagen"
  secret_env: IMAGEN_WEBHOOK_SECRET
  timeout: 30                   # seconds per request
  retries: 3                    # retries on 5xx, 429 and connection errors
"""


def _check_argv(instance: Any, attribute: Any, argv: list[str]) -> None:
    if not argv or not argv[0]:
        raise ValueError('argv: give the program and its arguments, like ["cp", "{path}", ...]')
    for element in argv:
        try:
            parsed = list(string.Formatter().parse(element))
        except ValueError as error:
            hint = "write {{ and }} for literal braces"
            raise ValueError(f"argv: {element!r}: {error} ({hint})") from None
        for _, field, spec, conversion in parsed:
            if field is not None and (field not in PLACEHOLDERS or spec or conversion):
                known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
                raise ValueError(
                    f"argv: {element!r} has a placeholder imagen does not fill (known: {known}; "
                    "write {{ and }} for literal braces)"
                )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_env_names(instance: Any, attribute: Any, names: list[str]) -> None:
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(
                f"env: {name!r} is not an environment variable name; list names only, "
                "like [RCLONE_CONFIG_PASS]"
            )


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name}: must be more than 0 seconds")


@attrs.frozen
class CommandSettings:
    argv: list[str] = attrs.field(validator=_check_argv)
    timeout: float = attrs.field(default=60.0, validator=_positive)
    #: variables to pass to the program although a ``*_env`` key names them
    env: list[str] = attrs.field(factory=list, validator=_check_env_names)


def render_argv(argv: list[str], generation: Generation) -> list[str]:
    """``argv`` with the placeholders of each element filled in from ``generation``."""
    import os

    def absolute(relative: str) -> str:
        return os.path.join(generation.output_dir, *relative.split("/"))

    values = {
        "path": absolute(generation.path),
        "sidecar": absolute(generation.sidecar_path) if generation.sidecar_path else "",
        "relpath": generation.path,
        "backend": generation.backend,
        "model": generation.model,
        "seed": "" if generation.seed is None else str(generation.seed),
    }
    # Only bare names pass _check_argv, so format_map does no attribute or index lookups.
    return [element.format_map(values) for element in argv]


class CommandSink:
    """One ``command`` instance: runs its argv once per take, in the output directory.

    ``open_sink`` calls ``withhold_env`` with the variables the config names in ``*_env``
    keys; the program gets the environment without them (``sinks.child_environment``).
    """

    def __init__(self, name: str, settings: CommandSettings) -> None:
        self.name = name
        self.settings = settings
        self.withheld: frozenset[str] = frozenset()

    def withhold_env(self, names: frozenset[str]) -> None:
        self.withheld = self.withheld | names

    def enabled_auto(self) -> bool:
        import shutil

        return shutil.which(self.settings.argv[0]) is not None

    async def deliver(self, delivery: Delivery) -> None:
        import asyncio
        import subprocess

        from imagen.sinks.run import child_environment

        argv = render_argv(self.settings.argv, delivery.generation)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                # imagen's stdout carries only image paths; the program's output is not ours
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=delivery.generation.output_dir,
                env=child_environment(self.withheld, allow=self.settings.env),
                # its own process group, so a stop reaches what it started too (rsync's ssh)
                start_new_session=True,
            )
        except OSError as error:
            raise SinkError(f"cannot run {argv[0]!r}: {error.strerror or error}") from None
        try:
            async with asyncio.timeout(self.settings.timeout):
                _, stderr = await process.communicate()
        except BaseException as error:
            # Timed out or cancelled: the program must not outlive the delivery.
            if process.returncode is None:
                _stop(process)
                await asyncio.shield(process.wait())
            if isinstance(error, TimeoutError):
                raise SinkError(
                    f"{argv[0]} did not finish within {self.settings.timeout:g} s and was stopped"
                ) from None
            raise
        if process.returncode != 0:
            raise SinkError(_exit_message(argv[0], process.returncode, stderr))

    async def aclose(self) -> None:
        return None


def _stop(process: asyncio.subprocess.Process) -> None:
    import contextlib
    import os
    import signal

    if not hasattr(os, "killpg"):  # no process groups (Windows)
        process.kill()
        return
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)


def _exit_message(program: str, code: int | None, stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if len(last) > 200:
        last = last[:197] + "..."
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
    return f"{program} {how}" + (f": {last}" if last else "")


def _check_url(instance: Any, attribute: Any, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url: expected an http:// or https:// address, got {url!r}")


def _non_negative(instance: Any, attribute: Any, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must be 0 or more")


@attrs.frozen
class WebhookSettings:
    url: str = attrs.field(validator=_check_url)
    secret_env: str | None = None
    timeout: float = attrs.field(default=30.0, validator=_positive)
    retries: int = attrs.field(default=3, validator=_non_negative)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Imagen-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of
    ``timestamp + "." + body``, where ``timestamp`` is the ``X-Imagen-Timestamp`` header."""
    import hashlib
    import hmac

    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


class WebhookSink:
    """One ``webhook`` instance. Builds no connection until the first delivery.

    ``sleep`` waits between retries (tests pass a recording one).
    """

    def __init__(
        self,
        name: str,
        settings: WebhookSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.sleep = sleep
        self._client: httpx.AsyncClient | None = None
        # Only scheme, host and port in messages: webhook URLs often carry a token in the path.
        parts = urlsplit(settings.url)
        self.where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def enabled_auto(self) -> bool:
        return self.settings.secret_env is None or read_secret(self.settings.secret_env) is not None

    async def deliver(self, delivery: Delivery) -> None:
        import httpx

        from imagen.adapters.http import Retry, RetryPolicy, make_client, send
        from imagen.sinks.serialize import generation_json

        body = generation_json(delivery.generation)
        # One timestamp per delivery attempt; the HTTP retries below resend it within seconds.
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Imagen-Timestamp": timestamp}
        secret_env = self.settings.secret_env
        if secret_env is not None:
            secret = read_secret(secret_env)
            if secret is None:
                raise SinkError(f"the signing secret is not set: set {secret_env}")
            headers["X-Imagen-Signature"] = signature(secret, timestamp, body)
        retries = self.settings.retries
        policy = RetryPolicy(
            Retry.on_status(429, *range(500, 600), attempts=retries, backoff=0.25),
            Retry.on_transport(attempts=retries, backoff=0.25),
        )
        if self.sleep is not None:
            policy = policy.with_sleep(self.sleep)
        if self._client is None:
            self._client = make_client(timeout=self.settings.timeout)
        try:
            response = await send(
                self._client,
                "POST",
                self.settings.url,
                policy=policy,
                content=body,
                headers=headers,
                follow_redirects=False,
            )
        except httpx.TransportError as error:
            raise SinkError(f"cannot reach {self.where}: {type(error).__name__}") from None
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        answer = f"{self.where} answered HTTP {status}"
        if status < 400:
            raise SinkError(
                f"{answer} (a redirect); set url to the address it points to", retryable=False
            )
        detail = " ".join(response.text.split())[:200]
        retryable = status >= 500 or status in (408, 429)
        raise SinkError(f"{answer}" + (f": {detail}" if detail else ""), retryable=retryable)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


__all__ = [
    "COMMAND_SAMPLE",
    "PLACEHOLDERS",
    "WEBHOOK_SAMPLE",
    "CommandSettings",
    "CommandSink",
    "WebhookSettings",
    "WebhookSink",
    "render_argv",
    "signature",
]
