"""Test helpers for the OpenAI adapter: a fake key, backends without retry waits, one-shot runs.

Used by this package's tests and usable by anyone testing against ``imagen_openai.fake_server``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from imagen.models import Progress, Request, Result
from imagen_openai.backend import OpenAIBackend

#: the fake server's key: shaped like a real project key, so redaction is tested for real
KEY = "sk-proj-fakeKeyForTheLoopbackServer0123456789abcdef"

MakeBackend = Callable[..., OpenAIBackend]


async def no_wait(seconds: float) -> None:
    """Retry waits recorded by nobody: tests never wait on time."""


def generate(backend: OpenAIBackend, request: Request, progress: Progress | None = None) -> Result:
    """One generation in its own event loop, the backend closed after."""

    async def main() -> Result:
        try:
            return await backend.generate(request, progress or Progress())
        finally:
            await backend.aclose()

    return asyncio.run(main())
