"""What a caller reads from each of Replicate's failures: the whole message, the instance it
names, the fields at fault and the error's ``detail`` (the prediction to look up)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from imagen.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ContentBlocked,
    ImagenError,
    InvalidRequest,
    RateLimited,
)
from imagen.models import Request
from imagen_replicate.problems import error_for_prediction, invalid_fields

from .conftest import Replicate

NAME = "replicate-test"  # the instance name conftest gives every backend
NSFW = "All generated images contained NSFW content. Try running it again with a different prompt."


def caught(replicate: Replicate, expected: type[ImagenError], **settings: Any) -> Any:
    with pytest.raises(expected) as raised:
        replicate.generate(Request("a cat", seed=1), **settings)
    return raised.value


def answer_422(body: dict[str, Any]) -> Any:
    """A scripted create answer: Replicate's 422 problem with ``body``'s fields."""

    def reply(request: web.Request) -> web.Response:
        problem = {"title": "Input validation failed", "status": 422, **body}
        return web.Response(
            status=422, text=json.dumps(problem), content_type="application/problem+json"
        )

    return reply


def test_a_refused_token_says_where_to_get_one(
    replicate: Replicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_not_the_fakes_token")
    error = caught(replicate, AuthError)
    assert str(error) == (
        f"{NAME}: Replicate refused the API token in REPLICATE_API_TOKEN (HTTP 401: You did not "
        "pass a valid authentication token); set REPLICATE_API_TOKEN to a valid token from "
        "replicate.com/account/api-tokens"
    )
    assert error.backend == NAME
    assert error.detail == {
        "status": 401,
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
    }


def test_an_unknown_model_says_to_check_the_name(replicate: Replicate) -> None:
    error = caught(replicate, InvalidRequest, model="someone/no-such-model")
    assert str(error) == (
        f"{NAME}: Replicate could not create the prediction: not found (HTTP 404: The requested "
        "resource could not be found.); check the model name and version"
    )
    assert error.detail["status"] == 404


def test_throttling_past_the_retries_says_to_wait(replicate: Replicate) -> None:
    replicate.play(create_faults=[429] * 4, throttle_detail="Request was throttled; ~1s.")
    error = caught(replicate, RateLimited)
    assert str(error) == (
        f"{NAME}: Replicate is rate limiting (HTTP 429: Request was throttled; ~1s.); "
        "wait and try again"
    )
    assert error.retry_after == 1.0
    assert error.detail == {"status": 429, "detail": "Request was throttled; ~1s."}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_past_the_retry_say_to_try_later(replicate: Replicate, status: int) -> None:
    replicate.play(create_faults=[status, status])
    error = caught(replicate, BackendUnavailable)
    said = "Something went wrong on our end, please try again."
    assert str(error) == (
        f"{NAME}: Replicate could not create the prediction (HTTP {status}: {said}); "
        "try again later"
    )
    assert error.backend == NAME
    assert error.detail == {"status": status, "detail": said}


def test_an_invalid_input_lists_every_field_at_fault(replicate: Replicate) -> None:
    replicate.play(
        create_faults=[
            answer_422(
                {
                    "detail": "Input validation failed",
                    "invalid_fields": [
                        {
                            "type": "number_lte",
                            "field": "input.num_outputs",
                            "description": "Too many",
                        },
                        {"type": "invalid_type", "field": "input.seed"},
                        {"field": "input.megapixels"},
                    ],
                }
            )
        ]
    )
    error = caught(replicate, InvalidRequest)
    assert error.fields == {
        "num_outputs": "Too many",
        "seed": "invalid_type",
        "megapixels": "invalid",
    }
    assert str(error) == (
        f"{NAME}: Replicate rejected the input: num_outputs: Too many; seed: invalid_type; "
        "megapixels: invalid"
    )
    assert error.detail == {
        "status": 422,
        "title": "Input validation failed",
        "detail": "Input validation failed",
    }


def test_fields_listed_only_in_the_detail_are_read_from_it(replicate: Replicate) -> None:
    detail = "- input.seed: Invalid type. Expected: integer\n- input.go_fast: Invalid type\n"
    replicate.play(create_faults=[answer_422({"detail": detail})])
    error = caught(replicate, InvalidRequest)
    assert error.fields == {"seed": "Invalid type. Expected: integer", "go_fast": "Invalid type"}
    assert str(error) == (
        f"{NAME}: Replicate rejected the input: seed: Invalid type. Expected: integer; "
        "go_fast: Invalid type"
    )


def test_a_422_naming_no_field_quotes_the_detail(replicate: Replicate) -> None:
    replicate.play(create_faults=[answer_422({"detail": "The version is not runnable"})])
    error = caught(replicate, InvalidRequest)
    assert error.fields == {}
    assert str(error) == f"{NAME}: Replicate rejected the input: The version is not runnable"


def test_a_422_that_is_not_json_is_still_an_invalid_request(replicate: Replicate) -> None:
    def html(request: web.Request) -> web.Response:
        return web.Response(status=422, text="<h1>bad input</h1>", content_type="text/html")

    replicate.play(create_faults=[html])
    error = caught(replicate, InvalidRequest)
    assert error.fields == {}
    assert "Replicate rejected the input" in str(error)


def test_a_long_field_message_is_cut_at_200_characters(replicate: Replicate) -> None:
    long = "x" * 300
    replicate.play(
        create_faults=[
            answer_422({"invalid_fields": [{"field": "input.seed", "description": long}]})
        ]
    )
    error = caught(replicate, InvalidRequest)
    assert error.fields == {"seed": "x" * 197 + "..."}


def test_a_failed_prediction_names_it_and_keeps_its_error(replicate: Replicate) -> None:
    replicate.play(outcome="failed", error="CUDA out of memory")
    error = caught(replicate, BackendError)
    (ident,) = replicate.fake.predictions
    assert type(error) is BackendError
    assert str(error) == f"{NAME}: prediction {ident} failed: CUDA out of memory"
    assert error.detail == {
        "prediction_id": ident,
        "status": "failed",
        "error": "CUDA out of memory",
    }


def test_a_blocked_prediction_is_content_blocked_saying_what_to_do(replicate: Replicate) -> None:
    replicate.play(outcome="failed", error=NSFW)
    error = caught(replicate, ContentBlocked)
    (ident,) = replicate.fake.predictions
    assert (
        str(error)
        == f"{NAME}: Replicate's safety filter blocked the images ({NSFW}); try another prompt"
    )
    assert error.reason == "nsfw"
    assert error.detail == {"prediction_id": ident, "status": "failed", "error": NSFW}


def test_an_aborted_prediction_says_to_try_again(replicate: Replicate) -> None:
    replicate.play(outcome="aborted")
    error = caught(replicate, BackendUnavailable)
    (ident,) = replicate.fake.predictions
    assert (
        str(error) == f"{NAME}: Replicate aborted prediction {ident} before it finished; try again"
    )
    assert error.detail == {"prediction_id": ident, "status": "aborted", "error": ""}


def test_a_prediction_canceled_elsewhere_says_so(replicate: Replicate) -> None:
    replicate.play(outcome="canceled")
    error = caught(replicate, BackendError)
    (ident,) = replicate.fake.predictions
    assert type(error) is BackendError
    assert str(error) == f"{NAME}: prediction {ident} was canceled on Replicate before it finished"
    assert error.detail == {"prediction_id": ident, "status": "canceled", "error": ""}


def test_a_failed_prediction_without_id_or_error_text_still_reads() -> None:
    error = error_for_prediction({"status": "failed"}, backend="r", token=None)
    assert str(error) == "r: prediction ? failed: no error text given"
    assert error.detail == {"prediction_id": "?", "status": "failed", "error": ""}


def test_an_invalid_field_without_a_name_is_the_input_itself() -> None:
    problem = {"invalid_fields": [{"description": "prompt is required"}]}
    assert invalid_fields(problem) == {"input": "prompt is required"}
