"""The ``supabase-storage`` sink: record the image in a table, then upload it to a private bucket.

The object key is the owner's id, then the relative path imagen wrote on disk
(``<owner>/2026-11-23/1201-cat-42.png``, see ``connection.owner_key``), so two owners never share
a key. Two steps, in this order, each retried on 5xx and transport errors only:

1. ``POST /rest/v1/{table}`` with ``Content-Profile: {schema}``: one row (owner, key, prompt,
   model, seed, size, sha256, cost estimate, the sidecar as jsonb, created_at). The table's
   unique ``(bucket, storage_path)`` makes the row the claim on the key: when another row
   already holds it, the sink reads that row; if it is this very image (same owner and sha256:
   a retry after a lost answer), the claim stands, otherwise the image takes the key with its
   sha256 in the name (``connection.with_digest``).
2. ``POST /storage/v1/object/{bucket}/{key}`` with ``x-upsert: true``. Overwriting is safe
   here: the only row that points at the key is this image's own.

So an upload never replaces an object another row points at. When step 1 landed and step 2
failed, the SinkError says so and carries ``state={"recorded": True, ...}``; the next attempt
from the outbox uploads without recording again.

A delivery returns where the image is (``Stored``): the object ``<bucket>/<key>`` and its
authenticated URL (``/storage/v1/object/authenticated/<bucket>/<key>``), which reads it with the
owner's session (the bucket's policy) or the service key; a job records both on the take.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagen.errors import SinkError
from imagen.models import Generation
from imagen.sinks.protocol import Delivery, Stored
from imagen_supabase.connection import (
    Connection,
    object_path,
    owner_key,
    storage_key,
    with_digest,
)
from imagen_supabase.errors import PostgrestAnswer, postgrest_error, storage_error
from imagen_supabase.settings import StorageSettings

if TYPE_CHECKING:
    import httpx


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

    async def deliver(self, delivery: Delivery) -> Stored:
        try:
            return await self._deliver(delivery)
        except SinkError as error:
            raise self.connection.scrubbed(error) from None
        except Exception as error:  # the contract: a sink raises SinkError and nothing else
            message = self.connection.scrub(f"unexpected {type(error).__name__}: {error}")
            raise SinkError(message) from error

    async def _deliver(self, delivery: Delivery) -> Stored:
        generation = delivery.generation
        settings = self.settings
        owner = settings.owner_user_id.strip()
        if not owner:
            raise SinkError(
                f"owner_user_id is not set: set sinks.{self.name}.owner_user_id to your user's "
                "id in auth.users",
                retryable=False,
            )
        self.connection.require_key()
        state = delivery.state
        key = state.get("storage_path")
        recorded = state.get("recorded") is True and state.get("bucket") == settings.bucket
        # Read first: an image gone from disk must not leave a row that points at nothing.
        data = await self._read(delivery.absolute_path())
        if not (recorded and isinstance(key, str)):
            key = await self._claim(generation, owner)
        progress = {"recorded": True, "bucket": settings.bucket, "storage_path": key}
        try:
            await self._upload(data, key, generation.media_type)
        except SinkError as error:
            raise SinkError(
                f"recorded {settings.bucket}/{key}, but the upload failed: {error}",
                state=progress,
                retryable=error.retryable,
            ) from None
        return Stored(f"{settings.bucket}/{key}", self.object_url(key))

    def object_url(self, key: str) -> str:
        """The URL that reads the object ``key`` with a key or a user's session (no expiry)."""
        bucket = self.settings.bucket
        return f"{self.connection.url}/storage/v1/object/authenticated/{bucket}/{object_path(key)}"

    async def _claim(self, generation: Generation, owner: str) -> str:
        """Record the image's row under a key no other image holds; returns that key."""
        wanted = owner_key(owner, generation.path)
        candidates = (wanted, with_digest(wanted, generation.sha256))
        for key in candidates:
            response = await self._insert(self.row(generation, key))
            if response.is_success:
                return key
            taken = PostgrestAnswer.of(response, self.settings.key_env).code == "23505"
            if not taken:
                raise self._postgrest_error(response, "insert into")
            holder = await self._row_at(key)
            if holder is not None and self._is_this_image(holder, generation, owner):
                return key  # recorded by an earlier attempt whose answer was lost
        raise SinkError(
            f"{self.settings.bucket}/{candidates[0]} and {candidates[1]} already hold other "
            "images, which imagen never overwrites; rename the local file and run `imagen sync`",
            retryable=False,
        )

    @staticmethod
    def _is_this_image(row: Mapping[str, Any], generation: Generation, owner: str) -> bool:
        return row.get("owner_user_id") == owner and row.get("sha256") == generation.sha256

    async def _insert(self, row: Mapping[str, Any]) -> httpx.Response:
        settings = self.settings
        return await self.connection.request(
            "POST",
            f"/rest/v1/{settings.table}",
            what=f"insert into {settings.schema}.{settings.table}",
            headers={
                "Content-Profile": settings.schema,
                "Content-Type": "application/json",
                "Prefer": "return=minimal",
            },
            content=json.dumps(row, ensure_ascii=False).encode(),
        )

    async def _row_at(self, key: str) -> dict[str, Any] | None:
        """The row that points at ``key`` in the bucket (owner and sha256), or None."""
        settings = self.settings
        response = await self.connection.request(
            "GET",
            f"/rest/v1/{settings.table}",
            what=f"reading {settings.schema}.{settings.table}",
            params={
                "select": "owner_user_id,sha256",
                "bucket": f"eq.{settings.bucket}",
                "storage_path": f"eq.{key}",
            },
            headers={"Accept-Profile": settings.schema},
        )
        if not response.is_success:
            raise self._postgrest_error(response, "reading")
        try:
            rows = json.loads(response.text)
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise SinkError(f"reading {settings.schema}.{settings.table}: PostgREST sent no rows")
        first = rows[0] if rows else None
        return first if isinstance(first, dict) else None

    def _postgrest_error(self, response: httpx.Response, what: str) -> SinkError:
        settings = self.settings
        return postgrest_error(
            response,
            what=what,
            schema=settings.schema,
            table=settings.table,
            key_env=settings.key_env,
        )

    @staticmethod
    async def _read(local_path: str) -> bytes:
        try:
            return await asyncio.to_thread(Path(local_path).read_bytes)
        except OSError as error:
            raise SinkError(
                f"cannot read {local_path} to upload it: {error.strerror or error}", retryable=False
            ) from None

    async def _upload(self, data: bytes, key: str, media_type: str) -> None:
        bucket = self.settings.bucket
        response = await self.connection.request(
            "POST",
            f"/storage/v1/object/{bucket}/{object_path(key)}",
            what="upload",
            headers={"Content-Type": media_type, "x-upsert": "true"},
            content=data,
        )
        if not response.is_success:
            raise storage_error(
                response,
                what=f"upload to {bucket}/{key}",
                bucket=bucket,
                key_env=self.settings.key_env,
                state={},
            )

    def row(self, generation: Generation, storage_path: str) -> dict[str, Any]:
        """The ``imagen.images`` row for one take, pointing at ``storage_path`` in the bucket."""
        request = generation.request
        estimate = generation.cost_estimate
        return {
            "owner_user_id": self.settings.owner_user_id.strip(),
            "bucket": self.settings.bucket,
            "storage_path": storage_path,
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

    async def key_of(self, relative_path: str, sha256: str) -> str:
        """The object key of a synced image, found by its row: the image's own key, its
        key with the sha256 in the name, or (synced by an imagen before owner prefixes) its
        bare relative path. SinkError when no row holds this image."""
        owner = self.settings.owner_user_id.strip()
        if not owner:
            raise SinkError(
                f"owner_user_id is not set: set sinks.{self.name}.owner_user_id, or give the "
                "image's storage_path from imagen.images"
            )
        wanted = owner_key(owner, relative_path)
        try:
            for key in (wanted, with_digest(wanted, sha256), storage_key(relative_path)):
                row = await self._row_at(key)
                if row is not None and row.get("sha256") == sha256:
                    return key
        except SinkError as error:
            raise self.connection.scrubbed(error) from None
        raise SinkError(
            f"{relative_path} is not in {self.settings.schema}.{self.settings.table}: it was "
            "not synced yet (imagen sync), or the file changed since"
        )

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
    # Storage's sign route answers {"signedURL": ...} (storage-js renames it signedUrl, on the
    # client side only).
    signed = body.get("signedURL") if isinstance(body, dict) else None
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
