"""What ``imagen backends`` (and the server's ``GET /v1/backends``) reports per instance.

``describe_backends`` never touches the network: each status is the backend's own ``status()``,
asked of the light ``info`` its plugin registered when there is one (so listing imports no
backend module). ``check_backends`` builds every backend and also asks every instance that has
a ``check()`` (its server answers, its credential is accepted), all at once, each within
``CHECK_TIMEOUT`` seconds (``seconds``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from imagen.config.model import MOCK_INSTANCE, Config
from imagen.errors import ImagenError
from imagen.models import Request, Status

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.plugins.registry import BackendInfo

Answering = TypeVar("Answering", bound="BackendInfo")

#: Seconds one instance's check may take; a backend's own check uses a shorter timeout.
CHECK_TIMEOUT = 10.0


def describe_backends(config: Config) -> list[dict[str, Any]]:
    """One row per instance: name, type, status (no network) and price per image."""
    from imagen.instances import backend_info

    return [
        _row(config, name, info, status) for name, info, status in _opened(config, backend_info)
    ]


async def check_backends(config: Config, seconds: float = CHECK_TIMEOUT) -> list[dict[str, Any]]:
    """Like ``describe_backends``, with the status of each instance's ``check()``.

    A backend without ``check`` keeps its ``status()``; so does one whose ``status()`` already
    says it cannot run. Every backend opened here is closed again.
    """
    import asyncio

    from imagen.instances import open_backend

    opened = _opened(config, open_backend)

    async def checked(backend: Backend | None, status: Status) -> Status:
        check = getattr(backend, "check", None)
        if backend is None or check is None or not status.ok:
            return status
        try:
            async with asyncio.timeout(seconds):
                answer = await check()
        except TimeoutError:
            return Status(False, f"check did not finish within {seconds:g} s")
        except ImagenError as error:
            return Status(False, f"error: {error}")
        except Exception as error:  # a plugin's bug must not hide the other instances
            return Status(False, f"check failed: {type(error).__name__}: {error}")
        finally:
            await _close(backend)
        return answer if isinstance(answer, Status) else status

    statuses = await asyncio.gather(*(checked(backend, status) for _, backend, status in opened))
    return [
        _row(config, name, backend, status)
        for (name, backend, _), status in zip(opened, statuses, strict=True)
    ]


def _opened(
    config: Config, build: Callable[[Config, str], Answering]
) -> list[tuple[str, Answering | None, Status]]:
    """Every instance (mock included) with what ``build`` made of it (None if it cannot be)."""
    names = list(config.backends)
    if MOCK_INSTANCE not in names:
        names.append(MOCK_INSTANCE)
    opened: list[tuple[str, Answering | None, Status]] = []
    for name in names:
        try:
            answering = build(config, name)
            opened.append((name, answering, answering.status()))
        except ImagenError as error:
            opened.append((name, None, Status(False, f"error: {error}")))
    return opened


def _row(config: Config, name: str, backend: BackendInfo | None, status: Status) -> dict[str, Any]:
    from imagen.instances import default_concurrency, instance_for

    instance = instance_for(config, name)
    price = "unknown"
    if backend is not None:
        try:
            if instance.cost_per_image is not None:
                price = f"${instance.cost_per_image}/image (config)"
            else:
                cost = backend.estimate_cost(Request(prompt="price check"))
                price = f"{cost.format()}/image" if cost is not None else "unknown"
        except ImagenError as error:
            status = Status(False, f"error: {error}")
    return {
        "name": name,
        "type": instance.type,
        "status": str(status),
        "price": price,
        "concurrency": default_concurrency(instance),
        "default": name == config.default_backend,
    }


async def _close(backend: Backend) -> None:
    try:
        await backend.aclose()
    except Exception:  # closing is best effort: the check's answer is what counts
        return
