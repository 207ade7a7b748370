"""Sample values for tests of hooks and sinks: a finished take without running a backend."""

from __future__ import annotations

from typing import Any

import attrs

from imagen.models import Generation
from imagen.plugins.hookcalls import sample_generation as _stand_in


def sample_generation(**changes: Any) -> Generation:
    """A finished take as ``naming_fields``, ``sidecar_fields``, ``post_generate`` and sinks
    receive it, with ``changes`` applied (any ``Generation`` field)::

        generation = sample_generation(backend="acme-test", output_dir=str(tmp_path))

    The file it names is not written: a sink test that reads the image writes ``path`` under
    ``output_dir`` itself.
    """
    return attrs.evolve(_stand_in(), **changes)


__all__ = ["sample_generation"]
