"""Seeds: the range every backend accepts, checked wherever a seed comes in.

A request's takes use ``seed``, ``seed + 1``, ... ``seed + count - 1``; random seeds are drawn
below ``SEED_RANGE``. Every take's seed must stay inside that range: providers take 32-bit
seeds, and the history stores them in SQLite's 64-bit integers.
"""

from __future__ import annotations

from typing import Any

from imagen.errors import ConfigError

#: seeds are 0 <= seed < SEED_RANGE (what ComfyUI, Replicate and the mock all accept)
SEED_RANGE = 2**32


def check_seeds(seed: Any, count: int) -> None:
    """Refuse (ConfigError, exit 2) a first seed whose ``count`` takes leave the seed range."""
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"the seed must be a whole number, got {seed!r}")
    last = SEED_RANGE - max(count, 1)
    if not 0 <= seed <= last:
        takes = f" with {count} takes" if count > 1 else ""
        raise ConfigError(
            f"seed {seed} is out of range{takes}; seeds run from 0 to {SEED_RANGE - 1}, "
            f"so the first seed{takes} can be at most {last}"
        )


def seeds_for(seed: int | None, count: int) -> tuple[int, ...]:
    """The seed of each take: consecutive from ``seed``, or drawn at random when it is None."""
    check_seeds(seed, count)
    if seed is None:
        import secrets

        return tuple(secrets.randbelow(SEED_RANGE) for _ in range(count))
    return tuple(seed + take for take in range(count))


__all__ = ["SEED_RANGE", "check_seeds", "seeds_for"]
