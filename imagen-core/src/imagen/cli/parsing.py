"""Turning CLI input into library values, and library values into printable data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagen.errors import ConfigError
from imagen.models import Generation, Ref, Request
from imagen.pipeline import Plan

REF_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def parse_option(text: str) -> tuple[str, Any]:
    """``--opt KEY=VALUE``: numbers and true/false are typed, everything else is a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"invalid --opt {text!r}; expected KEY=VALUE, like guidance=3.5")
    value: Any = raw
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        value = lowered == "true"
    else:
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
    return key, value


def media_type_of(data: bytes) -> str | None:
    for magic, media_type in REF_TYPES.items():
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_ref(path: str) -> Ref:
    """Read a reference image; a clear error if it is missing or not an image."""
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read --ref {path}: {error.strerror or error}") from None
    media_type = media_type_of(data)
    if media_type is None:
        raise ConfigError(f"--ref {path} is not a PNG, JPEG, WebP or GIF image")
    return Ref(
        path=str(path), data=data, media_type=media_type, sha256=hashlib.sha256(data).hexdigest()
    )


def build_request(
    prompt: str,
    *,
    style: str | None = None,
    size: str | None = None,
    aspect: str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    count: int = 1,
    negative: str | None = None,
    refs: Sequence[str] = (),
    options: dict[str, Any] | None = None,
) -> Request:
    from imagen.sizes import parse_aspect, parse_size

    if size and aspect:
        raise ConfigError("use either --size or --aspect, not both")
    width = height = None
    if size:
        width, height = parse_size(size)
    if aspect:
        parse_aspect(aspect)
    return Request(
        prompt=prompt,
        negative_prompt=negative or None,
        width=width,
        height=height,
        aspect_ratio=aspect.strip() if aspect else None,
        steps=steps,
        seed=seed,
        count=count,
        refs=tuple(load_ref(path) for path in refs),
        style=style,
        options=options or {},
    )


def describe_plan(plan: Plan) -> dict[str, Any]:
    """The resolved request of a dry run, as ordered printable fields."""
    request = plan.request
    estimate = plan.cost_estimate
    size = f"{request.width}x{request.height}" if request.width else None
    return {
        "backend": f"{plan.instance.name} ({plan.instance.type})",
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "style": plan.style.name if plan.style else None,
        "size": size,
        "aspect_ratio": request.aspect_ratio,
        "steps": request.steps,
        "takes": len(plan.seeds),
        "seeds": ", ".join(map(str, plan.seeds)),
        "cached_takes": ", ".join(map(str, sorted(plan.cached))) or None,
        "refs": ", ".join(ref.path for ref in request.refs) or None,
        "options": dict(request.options) or None,
        "output_dir": plan.output_dir,
        "concurrency": plan.concurrency,
        "caller": plan.caller,
        "cost_estimate": (f"{estimate.format()} ({estimate.basis})" if estimate else "unknown"),
    }


def generation_json(generation: Generation) -> dict[str, Any]:
    from imagen.pipeline import absolute_path

    def money(cost: Any) -> str | None:
        return str(cost.amount) if cost is not None else None

    return {
        "path": absolute_path(generation),
        "relative_path": generation.path,
        "sidecar": generation.sidecar_path,
        "backend": generation.backend,
        "backend_type": generation.backend_type,
        "model": generation.model,
        "seed": generation.seed,
        "take": generation.take,
        "width": generation.width,
        "height": generation.height,
        "media_type": generation.media_type,
        "sha256": generation.sha256,
        "latency_s": round(generation.latency, 3),
        "cost_estimate_usd": money(generation.cost_estimate),
        "cost_actual_usd": money(generation.cost_actual),
        "cache_hit": generation.cache_hit,
        "warnings": list(generation.warnings),
    }
