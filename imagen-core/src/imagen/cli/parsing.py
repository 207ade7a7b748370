"""Turning CLI input into library values, and library values into printable data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from imagen.errors import ConfigError
from imagen.models import Cost, Generation, Ref, Request
from imagen.pipeline import Plan, absolute_path

REF_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def parse_option(text: str) -> tuple[str, Any]:
    """``--opt KEY=VALUE``: numbers and true/false are typed, everything else is a string.

    ``nan`` and ``inf`` stay strings: they are not JSON numbers, and the option reaches the
    sidecar and the history as JSON.
    """
    import math

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
                number = cast(raw)
            except ValueError:
                continue
            if math.isfinite(number):
                value = number
            break
    return key, value


def media_type_of(data: bytes) -> str | None:
    for magic, media_type in REF_TYPES.items():
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_ref(path: str) -> Ref:
    """Read a reference image; a clear error if it is missing, not a regular file, larger than
    ``MAX_REF_BYTES`` (checked before reading), or not an image."""
    from imagen.adapters.images import read_image_file

    try:
        data = read_image_file(path)
    except OSError as error:
        raise ConfigError(f"cannot read --ref {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ConfigError(f"--ref {path} {error}") from None
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
    from imagen.seeds import check_seeds
    from imagen.sizes import parse_aspect, parse_size

    check_seeds(seed, count)
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


def money_json(cost: Cost | None) -> dict[str, str] | None:
    """A cost as JSON data: ``{"usd": "0.04", "basis": "..."}`` (the sidecar's shape)."""
    if cost is None:
        return None
    # format "f": digits and a point, never "4E-2"
    return {"usd": format(cost.amount, "f"), "basis": cost.basis}


def plan_json(plan: Plan) -> dict[str, Any]:
    """The resolved request of a dry run as JSON data (numbers, lists, nulls).

    ``seeds`` is null when the backend ignores seeds (``seeded`` false): drawing them would
    promise a reproducibility the provider does not give.
    """
    request = plan.request
    return {
        "backend": plan.instance.name,
        "backend_type": plan.instance.type,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "style": plan.style.name if plan.style else None,
        "width": request.width,
        "height": request.height,
        "aspect_ratio": request.aspect_ratio,
        "steps": request.steps,
        "takes": plan.takes,
        "seeded": plan.seeded,
        "seeds": list(plan.seeds) if plan.seeded else None,
        "cached_takes": sorted(plan.cached),
        # cached takes whose file is in another folder: execute copies them into output_dir
        "cache_copies": [
            {"take": take, "from": absolute_path(generation)}
            for take, generation in sorted(plan.cached.items())
            if generation.output_dir != plan.output_dir
        ],
        "refs": [
            {"path": ref.path, "media_type": ref.media_type, "sha256": ref.sha256}
            for ref in request.refs
        ],
        "options": dict(request.options),
        "output_dir": plan.output_dir,
        "concurrency": plan.concurrency,
        "caller": plan.caller,
        "cost_estimate": money_json(plan.cost_estimate),
    }


def plan_lines(plan: Plan) -> list[str]:
    """The resolved request of a dry run as ``key: value`` lines; ``-`` where nothing is set."""
    data = plan_json(plan)
    estimate = plan.cost_estimate

    def shown(value: Any) -> str:
        if value is None or value == [] or value == {}:
            return "-"
        if isinstance(value, list):
            return ", ".join(map(str, value))
        return str(value)

    seeds = (
        shown(data["seeds"])
        if plan.seeded
        else f"not used by {plan.instance.name} (the provider ignores seeds)"
    )
    fields = {
        "backend": f"{plan.instance.name} (type {plan.instance.type})",
        "prompt": request_text(data["prompt"]),
        "negative_prompt": request_text(data["negative_prompt"]),
        "style": shown(data["style"]),
        "size": f"{data['width']}x{data['height']}" if data["width"] else "-",
        "aspect_ratio": shown(data["aspect_ratio"]),
        "steps": shown(data["steps"]),
        "takes": shown(data["takes"]),
        "seeds": seeds,
        "cached_takes": shown(data["cached_takes"])
        + "".join(
            f"; take {copy['take']} is copied from {copy['from']}" for copy in data["cache_copies"]
        ),
        "refs": shown([ref.path for ref in plan.request.refs]),
        "options": ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}"
            for key, value in data["options"].items()
        )
        or "-",
        "output_dir": data["output_dir"],
        "concurrency": shown(data["concurrency"]),
        "caller": shown(data["caller"]),
        "cost_estimate": (
            f"{estimate.format()} ({estimate.basis})"
            if estimate is not None
            else f"unknown (no price for {plan.instance.name}; set cost_per_image in config)"
        ),
    }
    return [f"{key}: {value}" for key, value in fields.items()]


def request_text(text: str | None) -> str:
    """A prompt on one line: line breaks and other control characters shown escaped."""
    if not text:
        return "-"
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def generation_json(generation: Generation) -> dict[str, Any]:
    from imagen.pipeline import absolute_path

    def money(cost: Cost | None) -> str | None:
        return format(cost.amount, "f") if cost is not None else None

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
