"""Every error the API answers, as ``application/problem+json`` (RFC 9457).

Handlers raise ``ApiProblem`` (status, one line that says what to do, the field at fault);
the exception handlers here turn it, Litestar's own errors and imagen's errors into a problem
body, so no handler builds an error response itself and no traceback reaches a client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from imagen_studio.schemas import ProblemBody

if TYPE_CHECKING:
    from litestar import Request, Response

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Backend unavailable",
}


class ApiProblem(Exception):
    """An error answer: ``status``, ``detail`` (one line saying what to do), ``field``."""

    def __init__(
        self, status: int, detail: str, *, field: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.kind = kind or _TITLES.get(status, "error").lower().replace(" ", "-")

    def body(self) -> ProblemBody:
        title = _TITLES.get(self.status, "Error")
        return ProblemBody(f"urn:imagen:{self.kind}", title, self.status, self.detail, self.field)


def problem_response(problem: ApiProblem, headers: dict[str, str] | None = None) -> Response[Any]:
    from litestar import Response

    return Response(
        attrs.asdict(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _api_problem(_: Request[Any, Any, Any], error: ApiProblem) -> Response[Any]:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return problem_response(error, headers)


def _http_error(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    from litestar.exceptions import HTTPException, ValidationException

    if isinstance(error, ValidationException):
        return problem_response(_validation_problem(error))
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 404:
        detail = "no such page or endpoint here; the API is under /v1 (see /openapi.json)"
    elif status == 413:
        detail = "the request body is too large"
    else:
        detail = str(error.detail)
    headers = dict(error.headers or {})
    return problem_response(ApiProblem(status, detail), headers)


def _validation_problem(error: Any) -> ApiProblem:
    """Litestar's validation error as a 422 naming the first field at fault."""
    extra = error.extra if isinstance(error.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "").removeprefix("$.") or None
        message = str(item.get("message") or "is invalid")
        if key:
            return ApiProblem(422, f"{key}: {message}", field=key)
        return ApiProblem(422, f"the request is invalid: {message}")
    detail = str(error.detail) if error.detail else "the request is invalid"
    return ApiProblem(422, detail)


def _internal(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    import sys
    import traceback

    # The server's log is its stderr: the whole story there, one line to the client.
    traceback.print_exception(error, file=sys.stderr)
    return problem_response(
        ApiProblem(500, f"internal error: {type(error).__name__}; see the server's log")
    )


def exception_handlers() -> dict[Any, Any]:
    from litestar.exceptions import HTTPException

    return {ApiProblem: _api_problem, HTTPException: _http_error, Exception: _internal}


__all__ = ["PROBLEM_JSON", "ApiProblem", "exception_handlers", "problem_response"]
