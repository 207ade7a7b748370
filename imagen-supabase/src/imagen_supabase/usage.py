"""The ``supabase-usage`` sink: one row per take in a usage table, and ``imagen usage --source``.

The prompt never leaves the machine: the row carries ``prompt_hash``, the sha256 of the prompt
as the user typed it (before the style template), so equal asks group together.
Each row's id is derived from the take, so a retried insert (after a lost answer, or from the
outbox) is ignored as a duplicate instead of counted twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from imagen.errors import SinkError
from imagen.models import Generation
from imagen.sinks.protocol import Delivery, UsageRow
from imagen_supabase.connection import Connection
from imagen_supabase.errors import postgrest_error
from imagen_supabase.settings import UsageSettings

# Fixed namespace for the ids of usage rows (uuid5 of the take's identity).
_ROW_NAMESPACE = uuid.UUID("5f0c8a36-8f0e-4b53-9a55-2f3f7f1d6c11")
_PAGE = 1000  # Supabase's default PostgREST max-rows


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def user_prompt(generation: Generation) -> str:
    """The prompt as the user typed it (before any style template)."""
    return (
        generation.user_prompt if generation.user_prompt is not None else generation.request.prompt
    )


def row_id(generation: Generation) -> str:
    identity = "|".join(
        [generation.backend, generation.path, generation.sha256, generation.created_at.isoformat()]
    )
    return str(uuid.uuid5(_ROW_NAMESPACE, identity))


class SupabaseUsageSink:
    """One ``supabase-usage`` instance; also a ``UsageSource``."""

    def __init__(
        self,
        name: str,
        settings: UsageSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.connection = Connection(settings.url, settings.key_env, settings.timeout, sleep=sleep)

    def enabled_auto(self) -> bool:
        return self.connection.configured()

    def row(self, generation: Generation) -> dict[str, Any]:
        estimate = generation.cost_estimate
        return {
            "id": row_id(generation),
            "created_at": generation.created_at.isoformat(),
            "backend": generation.backend,
            "model": generation.model,
            "seed": generation.seed,
            "prompt_hash": prompt_hash(user_prompt(generation)),
            "latency_ms": round(generation.latency * 1000),
            "cost_usd_estimate": str(estimate.amount) if estimate is not None else None,
            "caller": generation.caller,
        }

    async def deliver(self, delivery: Delivery) -> None:
        settings = self.settings
        try:
            response = await self.connection.request(
                "POST",
                f"/rest/v1/{settings.table}",
                what=f"insert into {settings.schema}.{settings.table}",
                headers={
                    "Content-Profile": settings.schema,
                    "Content-Type": "application/json",
                    "Prefer": "return=minimal,resolution=ignore-duplicates",
                },
                content=json.dumps(self.row(delivery.generation), ensure_ascii=False).encode(),
            )
            if not response.is_success:
                raise postgrest_error(
                    response,
                    what="insert into",
                    schema=settings.schema,
                    table=settings.table,
                    key_env=settings.key_env,
                )
        except SinkError as error:
            raise self.connection.scrubbed(error) from None
        except Exception as error:  # the contract: a sink raises SinkError and nothing else
            message = self.connection.scrub(f"unexpected {type(error).__name__}: {error}")
            raise SinkError(message) from error

    async def usage_rows(self, since: dt.datetime | None) -> Sequence[UsageRow]:
        """Every row since ``since`` (all when None), oldest first, read page by page."""
        settings = self.settings
        rows: list[UsageRow] = []
        params: dict[str, str] = {
            "select": "created_at,backend,model,seed,latency_ms,cost_usd_estimate,caller",
            "order": "created_at.asc,id.asc",
            "limit": str(_PAGE),
        }
        if since is not None:
            params["created_at"] = f"gte.{since.isoformat()}"
        try:
            while True:
                response = await self.connection.request(
                    "GET",
                    f"/rest/v1/{settings.table}",
                    what=f"reading {settings.schema}.{settings.table}",
                    params={**params, "offset": str(len(rows))},
                    headers={"Accept-Profile": settings.schema, "Accept": "application/json"},
                )
                if not response.is_success:
                    raise postgrest_error(
                        response,
                        what="reading",
                        schema=settings.schema,
                        table=settings.table,
                        key_env=settings.key_env,
                    )
                page = _parse_rows(response.text, f"{settings.schema}.{settings.table}")
                rows.extend(page)
                if len(page) < _PAGE:
                    return rows
        except SinkError as error:
            raise self.connection.scrubbed(error) from None

    async def aclose(self) -> None:
        await self.connection.aclose()


def _parse_rows(text: str, where: str) -> list[UsageRow]:
    try:
        body = json.loads(text, parse_float=Decimal)
        return [_usage_row(item) for item in body]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise SinkError(f"reading {where}: unexpected answer from PostgREST ({error})") from None


def _usage_row(item: Mapping[str, Any]) -> UsageRow:
    created_at = dt.datetime.fromisoformat(item["created_at"])
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    cost = item.get("cost_usd_estimate")
    return UsageRow(
        created_at=created_at,
        backend=str(item["backend"]),
        model=str(item["model"]),
        caller=item.get("caller"),
        seed=item.get("seed"),
        latency_ms=item.get("latency_ms"),
        cost_usd=Decimal(str(cost)) if cost is not None else None,
    )


__all__ = ["SupabaseUsageSink", "prompt_hash", "row_id"]
