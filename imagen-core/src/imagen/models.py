"""The value types that flow through imagen: config -> Request -> Backend -> Result -> Generation.

All are frozen attrs classes. They are trusted inside the framework: validation happens at the
boundary (config loading, CLI parsing, HTTP input), not here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen
class Ref:
    """A reference image for image-to-image: where it came from, its bytes and their hash."""

    path: str
    data: bytes = attrs.field(repr=False)
    media_type: str
    sha256: str


@attrs.frozen
class Request:
    """The provider-neutral ask.

    Either ``width``/``height`` or ``aspect_ratio`` (``"16:9"``) may be set; a backend maps what it
    gets to what its provider accepts and records the choice in ``Result.metadata``.
    ``count`` is the number of takes; the pipeline asks a backend for one take at a time, but a
    backend called directly honours ``count``. ``options`` go to the adapter untouched.
    """

    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    steps: int | None = None
    seed: int | None = None
    count: int = 1
    refs: tuple[Ref, ...] = ()
    style: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)

    def fingerprint(self) -> str:
        """sha256 hex of everything that changes the output (refs by hash, not bytes)."""
        payload = {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": self.width,
            "height": self.height,
            "aspect_ratio": self.aspect_ratio,
            "steps": self.steps,
            "seed": self.seed,
            "refs": [ref.sha256 for ref in self.refs],
            "options": self.options,
        }
        text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
        import hashlib  # on first use: imagen backends never hashes a ref

        return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class Cost:
    """An amount of money in USD with the basis it was computed on."""

    amount: Decimal
    basis: str
    currency: str = "USD"

    def __mul__(self, factor: int) -> Cost:
        return Cost(self.amount * factor, self.basis, self.currency)

    def __add__(self, other: Cost) -> Cost:
        basis = self.basis if self.basis == other.basis else f"{self.basis}; {other.basis}"
        return Cost(self.amount + other.amount, basis, self.currency)

    def format(self) -> str:
        """``$0.012`` style: at least two decimals, up to four significant ones."""
        text = f"{self.amount:.4f}".rstrip("0")
        if len(text.split(".")[1]) < 2:
            text = f"{self.amount:.2f}"
        return f"${text}"

    @classmethod
    def free(cls, basis: str) -> Cost:
        return cls(Decimal(0), basis)


@attrs.frozen
class Image:
    """One generated image: encoded bytes, their media type, pixel size and the seed used."""

    data: bytes = attrs.field(repr=False)
    media_type: str
    width: int
    height: int
    seed: int | None = None


@attrs.frozen
class Result:
    """What a backend returns: the images, the model, latency, and anything worth keeping.

    ``cost`` is the actual cost where the provider reports one. ``metadata`` holds provider
    identifiers (prediction id, prompt id) and mapping decisions (``{"aspect_ratio": "16:9"}``).
    ``warnings`` are one-line notes the user should see (``"2 of 4 images were filtered"``).
    """

    images: tuple[Image, ...]
    model: str
    latency: float = 0.0
    cost: Cost | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    warnings: tuple[str, ...] = ()


@attrs.frozen
class Status:
    """Whether a backend can run, without any network call: ``ok`` or a reason and what to do.

    ``ok`` is False only when something known stops a run. A backend that needs a server it has
    not asked (ComfyUI) is ``unchecked``: ok, but it does not claim the server is up.
    """

    ok: bool
    message: str = "ok"

    def __str__(self) -> str:
        return self.message

    @classmethod
    def ready(cls, detail: str | None = None) -> Status:
        return cls(True, f"ok ({detail})" if detail else "ok")

    @classmethod
    def not_configured(cls, env_var: str) -> Status:
        return cls(False, f"not configured (set {env_var})")

    @classmethod
    def unchecked(cls, detail: str | None = None) -> Status:
        """Configured; whether its server answers is not known (``backends --check`` asks)."""
        where = f"{detail}; " if detail else ""
        return cls(True, f"configured ({where}server not checked)")

    @classmethod
    def unreachable(cls, url: str, reason: str) -> Status:
        """A ``check()`` that could not reach the server at ``url``; ``reason`` is one line."""
        return cls(False, f"server not reachable at {url} ({reason})")


class Progress:
    """A small callback object a backend reports progress through.

    ``update(done, total, message)``: ``done`` of ``total`` steps (``total`` may be None when the
    provider does not say), and a short message such as ``"sampling"`` or ``"queued"``.
    Progress never goes backwards: while ``total`` stays the same, a smaller ``done`` is
    reported as the largest seen. A callback that raises is logged (``imagen.progress``, at
    debug level) and otherwise ignored: a broken display must never cost a paid image, so a
    backend calls ``update`` without guarding it.
    """

    def __init__(self, callback: Callable[[float, float | None, str], None] | None = None) -> None:
        self._callback = callback
        self._done = 0.0
        self._total: float | None = None

    def update(self, done: float, total: float | None = None, message: str = "") -> None:
        if total != self._total:
            self._total, self._done = total, done
        else:
            self._done = max(self._done, done)
        if self._callback is None:
            return
        try:
            self._callback(self._done, total, message)
        except Exception:
            import logging

            logging.getLogger("imagen.progress").debug("progress callback failed", exc_info=True)


@attrs.frozen
class Generation:
    """The record of one finished take. Sidecars, history, sinks and the job API read this.

    ``path`` and ``sidecar_path`` are relative to ``output_dir`` (posix separators), so sinks can
    reuse them as remote names.
    """

    request: Request
    backend: str
    backend_type: str
    model: str
    seed: int | None
    path: str
    output_dir: str
    sha256: str
    media_type: str
    width: int
    height: int
    size_bytes: int
    latency: float
    created_at: dt.datetime
    take: int = 1
    takes: int = 1
    sidecar_path: str | None = None
    cost_estimate: Cost | None = None
    cost_actual: Cost | None = None
    caller: str | None = None
    cache_hit: bool = False
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    warnings: tuple[str, ...] = ()
    plugin_fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    #: the prompt as the user typed it, before the style template (``request.prompt`` is after)
    user_prompt: str | None = None
    #: the style preset applied, if any
    style: str | None = None


__all__ = ["Cost", "Generation", "Image", "Progress", "Ref", "Request", "Result", "Status"]
