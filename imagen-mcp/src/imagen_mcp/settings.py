"""The ``mcp:`` config block: spend caps, the HTTP transport's address and token, image size.

Every field has a default, so a config without the block runs with the small default caps.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs


def _not_negative(instance: Any, attribute: Any, value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise ValueError(f"{attribute.name}: expected an amount of dollars of 0 or more")


def _port(instance: Any, attribute: Any, value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"{attribute.name}: expected a port number (1-65535)")


@attrs.frozen
class McpSettings:
    """``mcp:`` - how ``imagen mcp`` guards spending and where it listens over HTTP.

    ``per_call_usd``: the most one tool call (generate_image, submit_job) may be estimated to
    spend. ``per_day_usd``: the most all of today's takes may cost together, counted from the
    history (CLI, studio and MCP spend alike; local midnight to midnight). ``image_max_px``:
    the longest side of an image returned inline; larger takes come back as thumbnails (the
    full image stays at its path). ``token_env`` names the variable holding the bearer token
    HTTP clients must send; it is required for any bind that is not loopback.
    ``allowed_origins`` lists browser origins besides loopback ones that may call the HTTP
    endpoint.
    """

    per_call_usd: Decimal = attrs.field(default=Decimal("0.50"), validator=_not_negative)
    per_day_usd: Decimal = attrs.field(default=Decimal("5.00"), validator=_not_negative)
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8751, validator=_port)
    token_env: str = "IMAGEN_MCP_TOKEN"
    allowed_origins: tuple[str, ...] = ()
    image_max_px: int = attrs.field(default=512, validator=attrs.validators.in_(range(64, 4097)))
    caller: str = "mcp"
    #: run queued jobs inside the server (False: leave them to ``imagen worker``)
    run_jobs: bool = True


SAMPLE = """\
# imagen mcp: the MCP server for assistants (docs/assistants.md). Every paid tool states its
# estimate before and its cost after; above a cap the tool refuses and says how to raise it.
mcp:
  per_call_usd: 0.50            # the most one generate_image or submit_job may spend
  per_day_usd: 5.00             # today's total from the history (CLI, studio and MCP)
  image_max_px: 512             # images returned inline are at most this wide or high
  run_jobs: true                # submit_job's jobs run inside the server
  host: 127.0.0.1               # imagen mcp --http
  port: 8751
  token_env: IMAGEN_MCP_TOKEN   # bearer token; required for a bind that is not loopback
  allowed_origins: []           # browser origins allowed besides http://localhost:*
"""

__all__ = ["SAMPLE", "McpSettings"]
