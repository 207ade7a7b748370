"""The ``supabase-storage`` sink: upload the image to a private bucket, then record it in a table.

Two steps, in this order, each retried on 5xx and transport errors only:

1. ``POST /storage/v1/object/{bucket}/{path}`` with ``x-upsert: true``, at exactly the relative
   path imagen wrote on disk, so the remote name mirrors the local one;
2. ``POST /rest/v1/{table}`` with ``Content-Profile: {schema}``: one row (owner, path, prompt,
   model, seed, size, sha256, cost estimate, the sidecar as jsonb, created_at). The insert
   ignores a duplicate (bucket, storage_path), so a retry after a lost answer is harmless.

When step 1 landed and step 2 failed, the SinkError says exactly that and carries
``state={"uploaded": True, ...}``; the next attempt from the outbox skips the upload.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from imagen.errors import SinkError
from imagen.models import Generation
from imagen.sink import Delivery
from imagen_supabase.connection import Connection, object_path, storage_key
from imagen_supabase.errors import postgrest_error, storage_error
from imagen_supabase.settings import StorageSettings


class SupabaseStorageSink:
    """One ``supabase-storage`` instance. Builds no connection until the first delivery."""

    def __init__(
        self,
        name: str,
        settings: StorageSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.connection = Connection(settings.url, settings.key_env, settings.timeout, sleep=sleep)

    def enabled_auto(self) -> bool:
        return self.connection.configured() and bool(self.settings.owner_user_id.strip())

    async def deliver(self, delivery: Delivery) -> None:
        try:
            await self._deliver(delivery)
        except SinkError as error:
            raise self.connection.scrubbed(error) from None
        except Exception as error:  # the contract: a sink raises SinkError and nothing else
            message = self.connection.scrub(f"unexpected {type(error).__name__}: {error}")
            raise SinkError(message) from error

    async def _deliver(self, delivery: Delivery) -> None:
        generation = delivery.generation
        settings = self.settings
        if not settings.owner_user_id.strip():
            raise SinkError(
                f"owner_user_id is not set: set sinks.{self.name}.owner_user_id to your user's "
                "id in auth.users",
                retryable=False,
            )
        self.connection.require_key()
        storage_path = storage_key(generation.path)
        uploaded = {"uploaded": True, "bucket": settings.bucket, "storage_path": storage_path}
        already = all(delivery.state.get(key) == value for key, value in uploaded.items())
        if not already:
            await self._upload(delivery.absolute_path(), storage_path, generation.media_type)
        try:
            await self._insert(self.row(generation))
        except SinkError as error:
            raise SinkError(
                f"uploaded {settings.bucket}/{storage_path}, but the row was not recorded: {error}",
                state=uploaded,
                retryable=error.retryable,
            ) from None

    async def _upload(self, local_path: str, storage_path: str, media_type: str) -> None:
        try:
            data = await asyncio.to_thread(Path(local_path).read_bytes)
        except OSError as error:
            raise SinkError(
                f"cannot read {local_path} to upload it: {error.strerror or error}", retryable=False
            ) from None
        bucket = self.settings.bucket
        response = await self.connection.request(
            "POST",
            f"/storage/v1/object/{bucket}/{object_path(storage_path)}",
            what="upload",
            headers={"Content-Type": media_type, "x-upsert": "true"},
            content=data,
        )
        if not response.is_success:
            raise storage_error(
                response,
                what=f"upload to {bucket}/{storage_path}",
                bucket=bucket,
                key_env=self.settings.key_env,
                state={},
            )

    async def _insert(self, row: Mapping[str, Any]) -> None:
        settings = self.settings
        response = await self.connection.request(
            "POST",
            f"/rest/v1/{settings.table}",
            what=f"insert into {settings.schema}.{settings.table}",
            params={"on_conflict": "bucket,storage_path"},
            headers={
                "Content-Profile": settings.schema,
                "Content-Type": "application/json",
                "Prefer": "return=minimal,resolution=ignore-duplicates",
            },
            content=json.dumps(row, ensure_ascii=False).encode(),
        )
        if not response.is_success:
            raise postgrest_error(
                response,
                what="insert into",
                schema=settings.schema,
                table=settings.table,
                key_env=settings.key_env,
            )

    def row(self, generation: Generation) -> dict[str, Any]:
        """The ``imagen.images`` row for one take."""
        request = generation.request
        estimate = generation.cost_estimate
        return {
            "owner_user_id": self.settings.owner_user_id.strip(),
            "bucket": self.settings.bucket,
            "storage_path": storage_key(generation.path),
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "style": generation.style or request.style,
            "backend": generation.backend,
            "model": generation.model,
            "seed": generation.seed,
            "width": generation.width,
            "height": generation.height,
            "sha256": generation.sha256,
            "cost_usd_estimate": str(estimate.amount) if estimate is not None else None,
            "sidecar": read_sidecar(generation),
            "created_at": generation.created_at.isoformat(),
        }

    async def signed_url(self, storage_path: str, ttl: int | None = None) -> str:
        """A time-limited URL that reads ``storage_path`` from the bucket without a key."""
        bucket = self.settings.bucket
        try:
            response = await self.connection.request(
                "POST",
                f"/storage/v1/object/sign/{bucket}/{object_path(storage_path)}",
                what="signing",
                json={"expiresIn": ttl or self.settings.signed_url_ttl},
            )
            if not response.is_success:
                raise storage_error(
                    response,
                    what=f"signing {bucket}/{storage_path}",
                    bucket=bucket,
                    key_env=self.settings.key_env,
                    state={},
                )
            signed = _signed_path(response.text)
        except SinkError as error:
            raise self.connection.scrubbed(error) from None
        if signed.startswith(("http://", "https://")):
            return signed
        return f"{self.connection.url}/storage/v1/{signed.lstrip('/')}"

    async def aclose(self) -> None:
        await self.connection.aclose()


def _signed_path(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    signed = body.get("signedURL") or body.get("signedUrl") if isinstance(body, dict) else None
    if not isinstance(signed, str) or not signed:
        raise SinkError("signing failed: Storage answered without a signedURL")
    return signed


def read_sidecar(generation: Generation) -> Any:
    """The take's JSON sidecar as data, or None when there is none (or it is not JSON)."""
    if not generation.sidecar_path:
        return None
    try:
        with open(os.path.join(generation.output_dir, generation.sidecar_path), "rb") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


__all__ = ["SupabaseStorageSink", "read_sidecar"]
