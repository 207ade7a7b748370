"""A local fake of the Supabase endpoints the sinks use, for tests over real loopback sockets.

It speaks the real wire shapes: the gateway's key checks (``apikey``; a JWT also as
``Authorization: Bearer``; ``sb_secret_...`` keys in ``apikey`` only), Storage's habit of answering
client errors as HTTP 400 with the real status in the body, PostgREST's
``{"code","details","hint","message"}`` errors and status codes, ``Content-Profile`` /
``Accept-Profile`` schema switching and ``Prefer: return=minimal, resolution=ignore-duplicates``.

    fake = FakeSupabase()
    with serve_app(fake.app()) as url:
        ...
    fake.fail("upload", 503, "drop")    # the next two uploads fail, then they work again

The record of calls (``seen``), the fault queues (steps ``upload``, ``insert``, ``select``,
``sign``, ``download``, ``read``) and holds come from ``imagen.testing.FakeServer``; the
gateway's key checks are the protocol's own (a role per key), so they live in the handlers here.

aiohttp is a test dependency; it is imported inside ``app()``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from imagen.testing.fakes import Call, FakeServer

if TYPE_CHECKING:
    from aiohttp import web

SERVICE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VydmljZS1zaWduYXR1cmU"
ANON_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.YW5vbi1zaWduYXR1cmUtZmFrZQ"
USER_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCJ9.dXNlci1zaWduYXR1cmU"
SECRET_KEY = "sb_secret_fake0123456789abcdefghij"
OWNER_ID = "ac6c9501-3757-4a6d-8b97-2cff4288382b"

IMAGES_COLUMNS = {
    "owner_user_id",
    "bucket",
    "storage_path",
    "prompt",
    "negative_prompt",
    "style",
    "backend",
    "model",
    "seed",
    "width",
    "height",
    "sha256",
    "cost_usd_estimate",
    "sidecar",
    "created_at",
}
IMAGES_REQUIRED = {
    "owner_user_id",
    "storage_path",
    "prompt",
    "backend",
    "model",
    "width",
    "height",
    "sha256",
}
USAGE_COLUMNS = {
    "id",
    "created_at",
    "backend",
    "model",
    "seed",
    "prompt_hash",
    "latency_ms",
    "cost_usd_estimate",
    "caller",
}


COLUMNS = {("imagen", "images"): {"id", *IMAGES_COLUMNS}, ("mai", "imagen_usage"): USAGE_COLUMNS}
# Each table's unique constraints, the primary key first (as in 002_tables.sql).
UNIQUE: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("imagen", "images"): (("id",), ("bucket", "storage_path")),
    ("mai", "imagen_usage"): (("id",),),
}
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("imagen", "images"): {"bucket": "imagen-generated"},
}
# The NOT NULL columns (002_tables.sql): a row must give the first set; the second have a
# DEFAULT, used when the row leaves them out, but an explicit null is refused all the same.
NOT_NULL: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("imagen", "images"): (IMAGES_REQUIRED, {"id", "bucket", "created_at"}),
    ("mai", "imagen_usage"): ({"backend", "model", "prompt_hash"}, {"id", "created_at"}),
}
UUID_COLUMNS = {"id", "owner_user_id"}
#: integer columns and their PostgreSQL type (seed is bigint, the others integer)
INTEGER_COLUMNS = {"seed": "bigint", "width": "integer", "height": "integer",
                   "latency_ms": "integer"}  # fmt: skip
_INTEGER_BITS = {"integer": 31, "bigint": 63}
#: the query parameters of a read that are not filters (PostgREST's reserved words)
SELECT_PARAMETERS = {"select", "order", "limit", "offset", "columns", "on_conflict"}
#: the bodies PostgREST inserts into a table
INSERT_MEDIA_TYPES = {"application/json", "text/csv", "application/x-www-form-urlencoded"}
#: PostgREST's filter operators (a filter is ``column=operator.value``)
FILTER_OPERATORS = {
    "eq", "gt", "gte", "lt", "lte", "neq", "like", "ilike", "match", "imatch", "in", "is",
    "isdistinct", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl",
    "adj", "not", "all", "any",
}  # fmt: skip
# Storage's isValidKey (supabase/storage, src/storage/limits.ts): S3-safe characters only;
# JavaScript's \w there is ASCII. Anything else is refused as 400 InvalidKey.
VALID_OBJECT_KEY = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]+")


PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes " * 64


class RecordingSleep:
    """An injectable sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


#: One request as the fake received it (``step``, ``method``, ``path``, ``headers``, ``query``,
#: ``body``).
Seen = Call


@attrs.define(slots=False)
class FakeSupabase(FakeServer):
    """State of the fake project: buckets and objects, tables and rows, users, exposed schemas."""

    buckets: set[str] = attrs.field(factory=lambda: {"imagen-generated"})
    objects: dict[tuple[str, str], tuple[bytes, str]] = attrs.field(factory=dict)
    tables: dict[tuple[str, str], list[dict[str, Any]]] = attrs.field(
        factory=lambda: {("imagen", "images"): [], ("mai", "imagen_usage"): []}
    )
    users: set[str] = attrs.field(factory=lambda: {OWNER_ID})
    exposed: list[str] = attrs.field(factory=lambda: ["public", "graphql_public", "imagen", "mai"])
    tokens: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    echo_key_in_errors: bool = False

    def __attrs_post_init__(self) -> None:
        FakeServer.__init__(self)

    @property
    def seen(self) -> list[Seen]:
        return self.calls

    def fail(self, step: str, *actions: Any) -> None:
        """Script the next answers of ``step`` (upload, insert, select, sign): a status code,
        ``"drop"`` (close the connection mid-request) or ``"store-then-503"`` (do the work,
        then answer 503 as if the answer was lost)."""
        super().fail(step, *(self._stored_then_lost if a == "store-then-503" else a
                             for a in actions))  # fmt: skip

    def requests(self, step: str) -> list[Seen]:
        return self.calls_to(step)

    def fault(self, status: int, request: web.Request) -> web.StreamResponse:
        if self.step_of(request) in ("insert", "select"):
            return self._postgrest_error(status, "XX000", "internal error")
        return self._storage_error(str(status), "Internal", "upstream storage failed")

    async def _stored_then_lost(self, request: web.Request) -> web.StreamResponse:
        """The insert is done, then the answer is a 503 as if it was lost on the way."""
        await self._insert(request)
        return self._postgrest_error(503, "PGRST000", "Database client error. Retrying.")

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        return self.tables[(schema, table)]

    # -- the gateway ------------------------------------------------------------------------

    def role(self, request: web.Request) -> tuple[str | None, dict[str, Any] | None]:
        """The database role a request runs as, or the gateway's 401 answer."""
        apikey = request.headers.get("apikey")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not apikey:
            return None, {
                "message": "No API key found in request",
                "hint": "No `apikey` request header or url param was found.",
            }
        roles = {
            SERVICE_JWT: "service_role",
            ANON_JWT: "anon",
            USER_JWT: "authenticated",
            SECRET_KEY: "service_role",
        }
        if apikey not in roles:
            message = "Invalid API key" + (f": {apikey}" if self.echo_key_in_errors else "")
            return None, {
                "message": message,
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            }
        if bearer and not bearer.startswith("eyJ"):
            return None, {
                "code": "PGRST301",
                "details": None,
                "hint": None,
                "message": "Invalid JWT: expected a JWT in the Authorization header",
            }
        if apikey.startswith("sb_secret_"):
            return "service_role", None
        # A JWT key without a bearer runs as anon, as PostgREST does without Authorization.
        return roles.get(bearer, "anon"), None

    # -- the app ----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("POST", "/storage/v1/object/sign/{bucket}/{path:.+}", self._sign, name="sign")
        add("GET", "/storage/v1/object/sign/{bucket}/{path:.+}", self._signed, name="download")
        add("GET", "/storage/v1/object/authenticated/{bucket}/{path:.+}", self._read, name="read")
        add("POST", "/storage/v1/object/{bucket}/{path:.+}", self._upload, name="upload")
        add("PUT", "/storage/v1/object/{bucket}/{path:.+}", self._upload, name="upload-put")
        add("POST", "/rest/v1/{table}", self._insert, name="insert")
        add("GET", "/rest/v1/{table}", self._select, name="select")

    def step_of(self, request: web.Request) -> str:
        step = super().step_of(request)
        return "upload" if step == "upload-put" else step

    @staticmethod
    def _storage_error(status: str, error: str, message: str) -> web.Response:
        from aiohttp import web

        body = {"statusCode": status, "error": error, "message": message}
        http_status = int(status) if int(status) >= 500 else 400
        return web.json_response(body, status=http_status)

    @staticmethod
    def _postgrest_error(
        status: int, code: str, message: str, *, details: str | None = None, hint: str | None = None
    ) -> web.Response:
        from aiohttp import web

        body = {"code": code, "details": details, "hint": hint, "message": message}
        return web.json_response(body, status=status)

    def _storage_role(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        role, refusal = self.role(request)
        if refusal is not None:
            message = str(refusal.get("message"))
            return None, self._storage_error("403", "Unauthorized", message)
        return role, None

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        body = await request.read()
        role, refusal = self._storage_role(request)
        if refusal is not None:
            return refusal
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        if not VALID_OBJECT_KEY.fullmatch(path):
            return self._storage_error("400", "InvalidKey", f"Invalid key: {path}")
        if bucket not in self.buckets:
            return self._storage_error("404", "Bucket not found", "Bucket not found")
        if role != "service_role":
            return self._storage_error(
                "403", "Unauthorized", "new row violates row-level security policy"
            )
        upsert = request.headers.get("x-upsert", "").lower() == "true"
        if (bucket, path) in self.objects and not (upsert or request.method == "PUT"):
            return self._storage_error("409", "Duplicate", "The resource already exists")
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        self.objects[(bucket, path)] = (body, content_type)
        return web.json_response({"Key": f"{bucket}/{path}", "Id": str(uuid.uuid4())})

    async def _sign(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        body = await request.read()
        role, refusal = self._storage_role(request)
        if refusal is not None:
            return refusal
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        expires_in = json.loads(body or b"{}").get("expiresIn")
        if not isinstance(expires_in, int) or expires_in < 1:
            return self._storage_error("400", "Invalid Input", "expiresIn must be >= 1")
        if bucket not in self.buckets:
            return self._storage_error("404", "Bucket not found", "Bucket not found")
        if (bucket, path) not in self.objects or role != "service_role":
            return self._storage_error("404", "not_found", "Object not found")
        token = secrets.token_urlsafe(16)
        self.tokens[token] = (bucket, path)
        return web.json_response({"signedURL": f"/object/sign/{bucket}/{path}?token={token}"})

    async def _signed(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        target = self.tokens.get(request.query.get("token", ""))
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        if target != (bucket, path):
            return self._storage_error("400", "InvalidJWT", "invalid signature")
        data, content_type = self.objects[target]
        return web.Response(body=data, content_type=content_type)

    async def _read(self, request: web.Request) -> web.StreamResponse:
        """An object read with a key or a session: the service role reads any; a signed-in
        user (``USER_JWT`` is ``OWNER_ID``'s session) one whose ``imagen.images`` row they own,
        as 006_storage's policy says. Storage answers a hidden object as a missing one."""
        from aiohttp import web

        role, refusal = self._storage_role(request)
        if refusal is not None:
            return refusal
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        owned = any(
            row.get("bucket", "imagen-generated") == bucket
            and row.get("storage_path") == path
            and row.get("owner_user_id") == OWNER_ID
            for row in self.tables[("imagen", "images")]
        )
        visible = role == "service_role" or (role == "authenticated" and owned)
        if (bucket, path) not in self.objects or not visible:
            return self._storage_error("404", "not_found", "Object not found")
        data, content_type = self.objects[(bucket, path)]
        return web.Response(body=data, content_type=content_type)

    def _schema(self, request: web.Request, header: str) -> tuple[str, web.Response | None]:
        schema = request.headers.get(header, self.exposed[0])
        if schema not in self.exposed:
            message = f"The schema must be one of the following: {', '.join(self.exposed)}"
            return schema, self._postgrest_error(406, "PGRST106", message)
        return schema, None

    def _table(
        self, schema: str, table: str
    ) -> tuple[list[dict[str, Any]] | None, web.Response | None]:
        rows = self.tables.get((schema, table))
        if rows is None:
            return None, self._postgrest_error(
                404, "PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache"
            )
        return rows, None

    async def _insert(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        body, query = await request.read(), request.query
        role, refusal = self.role(request)
        if refusal is not None:
            return web.json_response(refusal, status=401)
        schema, unexposed = self._schema(request, "Content-Profile")
        if unexposed is not None:
            return unexposed
        table = request.match_info["table"]
        rows, missing = self._table(schema, table)
        if missing is not None or rows is None:
            return missing or web.Response(status=500)
        if role == "anon":
            return self._postgrest_error(401, "42501", f"permission denied for table {table}")
        if role != "service_role":
            return self._postgrest_error(
                403, "42501", f'new row violates row-level security policy for table "{table}"'
            )
        # PostgREST reads a body without Content-Type as JSON; media types in any letter case.
        media_type = request.headers.get("Content-Type", "application/json")
        essence = media_type.split(";")[0].strip().lower()
        if essence not in INSERT_MEDIA_TYPES:
            return web.json_response(
                {"message": f"Content-Type not acceptable: {media_type}"}, status=415
            )
        if essence != "application/json":
            raise NotImplementedError(f"the fake reads JSON bodies only, not {media_type}")
        try:
            row = json.loads(body)
        except ValueError:
            return self._postgrest_error(400, "PGRST102", "Empty or invalid json")
        if not isinstance(row, dict):  # PostgREST takes an array too; the sinks send one row
            raise NotImplementedError("the fake inserts one JSON object per request")
        refused = self._check_row(schema, table, row)
        if refused is not None:
            return refused
        prefer = {part.strip() for part in request.headers.get("Prefer", "").split(",")}
        resolution = next((p for p in prefer if p.startswith("resolution=")), None)
        constraints = UNIQUE[(schema, table)]
        # PostgREST reads on_conflict only with a resolution; without on_conflict the conflict
        # target is the primary key (the first constraint).
        target = constraints[0]
        if resolution is not None and "on_conflict" in query:
            target = tuple(part.strip() for part in query["on_conflict"].split(","))
            if target not in constraints:
                return self._postgrest_error(
                    400,
                    "42P10",
                    "there is no unique or exclusion constraint matching the ON CONFLICT "
                    "specification",
                )
        row = {**DEFAULTS.get((schema, table), {}), **row}
        row.setdefault("id", str(uuid.uuid4()))
        inserted: list[dict[str, Any]] = []
        clash = self._clash(rows, row, constraints)
        if clash is None:
            rows.append(row)
            inserted.append(row)
        elif clash[0] == target and resolution == "resolution=ignore-duplicates":
            pass
        elif clash[0] == target and resolution == "resolution=merge-duplicates":
            clash[1].update({k: v for k, v in row.items() if k != "id"})
            inserted.append(clash[1])
        else:
            columns, other = clash
            values = ", ".join(str(other.get(column)) for column in columns)
            name = (
                f"{table}_pkey" if columns == constraints[0] else f"{table}_{'_'.join(columns)}_key"
            )
            return self._postgrest_error(
                409,
                "23505",
                f'duplicate key value violates unique constraint "{name}"',
                details=f"Key ({', '.join(columns)})=({values}) already exists.",
            )
        # PostgREST answers an insert without a body unless asked for the rows
        # (return=minimal is its default).
        if "return=representation" in prefer:
            return web.json_response(inserted, status=201)
        return web.Response(status=201)

    @staticmethod
    def _clash(
        rows: list[dict[str, Any]], row: Mapping[str, Any], constraints: tuple[tuple[str, ...], ...]
    ) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """The first unique constraint ``row`` violates, and the row it clashes with."""
        for columns in constraints:
            key = tuple(row.get(column) for column in columns)
            for other in rows:
                if tuple(other.get(column) for column in columns) == key:
                    return columns, other
        return None

    def _check_row(self, schema: str, table: str, row: Mapping[str, Any]) -> web.Response | None:
        columns = COLUMNS[(schema, table)]
        for column in row:
            if column not in columns:
                return self._postgrest_error(
                    400,
                    "PGRST204",
                    f"Could not find the '{column}' column of '{table}' in the schema cache",
                )
        for column, value in row.items():
            refused = self._check_type(column, value)
            if refused is not None:
                return refused
        required, defaulted = NOT_NULL[(schema, table)]
        for column in sorted(required | (defaulted & set(row))):
            if row.get(column) is None:
                return self._postgrest_error(
                    400,
                    "23502",
                    f'null value in column "{column}" of relation "{table}" violates not-null '
                    "constraint",
                )
        if (schema, table) != ("imagen", "images"):
            return None
        owner = str(row["owner_user_id"])
        if owner not in self.users:
            return self._postgrest_error(
                409,
                "23503",
                'insert or update on table "images" violates foreign key constraint '
                '"images_owner_user_id_fkey"',
                details=f'Key (owner_user_id)=({owner}) is not present in table "users".',
            )
        return None

    def _check_type(self, column: str, value: Any) -> web.Response | None:
        """PostgreSQL's input check of one JSON value for a uuid or integer column."""
        if value is None:
            return None
        if column in UUID_COLUMNS:
            try:
                uuid.UUID(str(value))
            except ValueError:
                return self._postgrest_error(
                    400, "22P02", f'invalid input syntax for type uuid: "{value}"'
                )
        kind = INTEGER_COLUMNS.get(column)
        if kind is None:
            return None
        text = json.dumps(value) if not isinstance(value, str) else value
        try:
            number = int(text.strip())  # a JSON number, or a string PostgreSQL can read
        except ValueError:
            number = None
        if number is None or isinstance(value, bool | float):
            return self._postgrest_error(
                400, "22P02", f'invalid input syntax for type {kind}: "{text}"'
            )
        if not -(2 ** _INTEGER_BITS[kind]) <= number < 2 ** _INTEGER_BITS[kind]:
            return self._postgrest_error(
                400, "22003", f'value "{text}" is out of range for type {kind}'
            )
        return None

    def _check_query(
        self, schema: str, table: str, query: Mapping[str, str]
    ) -> web.Response | None:
        """PostgREST's refusals of a read's query string: a column the table lacks (in
        ``select``, a filter or ``order``) is 42703, a filter without an operator PGRST100."""
        columns = COLUMNS[(schema, table)]
        named = [column for column in query if column not in SELECT_PARAMETERS]
        named += query.get("select", "*").split(",")
        named += [term.split(".")[0] for term in query.get("order", "").split(",") if term]
        for column in named:
            if column != "*" and column not in columns:
                return self._postgrest_error(
                    400, "42703", f"column {table}.{column} does not exist"
                )
        for column, condition in query.items():
            if column in SELECT_PARAMETERS:
                continue
            if condition.partition(".")[0] not in FILTER_OPERATORS:
                return self._postgrest_error(
                    400, "PGRST100", f'"failed to parse filter ({condition})" (line 1, column 1)'
                )
        for number in ("limit", "offset"):
            if not query.get(number, "0").isdigit():
                return self._postgrest_error(
                    400, "PGRST100", f'"failed to parse {number} parameter" (line 1, column 1)'
                )
        return None

    async def _select(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        role, refusal = self.role(request)
        if refusal is not None:
            return web.json_response(refusal, status=401)
        schema, unexposed = self._schema(request, "Accept-Profile")
        if unexposed is not None:
            return unexposed
        table = request.match_info["table"]
        rows, missing = self._table(schema, table)
        if missing is not None or rows is None:
            return missing or web.Response(status=500)
        if role != "service_role":
            status = 401 if role == "anon" else 403
            return self._postgrest_error(status, "42501", f"permission denied for table {table}")
        query = request.query
        refused = self._check_query(schema, table, query)
        if refused is not None:
            return refused
        chosen = list(rows)
        for column, condition in query.items():
            if column in SELECT_PARAMETERS:
                continue
            operator, _, wanted = condition.partition(".")
            if operator == "eq":
                chosen = [
                    r for r in chosen if r.get(column) is not None and str(r[column]) == wanted
                ]
            elif (operator, column) == ("gte", "created_at"):
                floor = dt.datetime.fromisoformat(wanted)
                chosen = [r for r in chosen if dt.datetime.fromisoformat(r[column]) >= floor]
            else:  # PostgREST has it, the fake does not: fail loudly rather than ignore it
                raise NotImplementedError(f"the fake does not filter by {column}={condition}")
        order = query.get("order")
        if order == "created_at.asc,id.asc":
            chosen.sort(key=lambda r: (dt.datetime.fromisoformat(r["created_at"]), r.get("id")))
        elif order is not None:
            raise NotImplementedError(f"the fake does not order by {order}")
        offset = int(query.get("offset", "0"))
        limit = int(query.get("limit", str(len(chosen))))
        chosen = chosen[offset : offset + limit]
        if "select" in query:
            fields = query["select"].split(",")
            chosen = [{field: r.get(field) for field in fields} for r in chosen]
        # PostgREST renders numeric as a JSON number
        text = json.dumps(
            [
                {
                    k: (float(v) if k == "cost_usd_estimate" and v is not None else v)
                    for k, v in r.items()
                }
                for r in chosen
            ]
        )
        return web.Response(text=text, content_type="application/json")


__all__ = [
    "ANON_JWT",
    "OWNER_ID",
    "PNG",
    "SECRET_KEY",
    "SERVICE_JWT",
    "USER_JWT",
    "FakeSupabase",
    "RecordingSleep",
    "Seen",
]
