"""The fake refuses what Replicate refuses: an input property a model's schema does not have
(FLUX 1.1 [pro] makes one image per prediction and has no num_outputs) is a 422 with
Replicate's ``invalid_fields`` shape, never a batch of images."""

from __future__ import annotations

import json
import urllib.request
from urllib.error import HTTPError

import pytest

from imagen.errors import InvalidRequest
from imagen.models import Request

from .conftest import TOKEN, Replicate

PRO = "black-forest-labs/flux-1.1-pro"
SCHNELL = "black-forest-labs/flux-schnell"


def create(
    replicate: Replicate, model: str, values: dict[str, object]
) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{replicate.url}/v1/models/{model}/predictions",
        data=json.dumps({"input": values}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_property_the_models_schema_lacks_is_refused_with_replicates_shape(
    replicate: Replicate,
) -> None:
    status, body = create(replicate, PRO, {"prompt": "a cat", "num_outputs": 2})
    assert status == 422
    assert body["title"] == "Input validation failed"
    assert body["invalid_fields"] == [
        {
            "type": "additional_property_not_allowed",
            "field": "input",
            "description": "Additional property num_outputs is not allowed",
        }
    ]
    assert replicate.fake.predictions == {}


def test_the_same_property_is_taken_by_a_model_that_has_it(replicate: Replicate) -> None:
    status, body = create(
        replicate, "black-forest-labs/flux-schnell", {"prompt": "a", "num_outputs": 2}
    )
    assert status in (200, 201)
    assert body["input"] == {"prompt": "a", "num_outputs": 2}


def test_two_images_at_once_from_a_one_image_model_is_an_invalid_request(
    replicate: Replicate,
) -> None:
    with pytest.raises(InvalidRequest, match="num_outputs is not allowed"):
        replicate.generate(Request("a cat", count=2), model=PRO)


def test_a_one_image_model_makes_one_take_per_prediction(replicate: Replicate) -> None:
    result = replicate.generate(Request("a cat", seed=3), model=PRO)
    assert len(result.images) == 1
    assert result.images[0].seed == 3


def refusal(replicate: Replicate, model: str, values: dict[str, object]) -> dict[str, str]:
    """The one ``invalid_fields`` entry of the 422 that ``values`` (with a prompt) gets."""
    status, body = create(replicate, model, {"prompt": "a cat", **values})
    assert status == 422, body
    problems = body["invalid_fields"]
    assert isinstance(problems, list)
    assert len(problems) == 1, problems
    problem: dict[str, str] = problems[0]
    return problem


def test_an_aspect_ratio_outside_the_models_enum_is_refused(replicate: Replicate) -> None:
    problem = refusal(replicate, PRO, {"aspect_ratio": "21:9"})  # pro's schema has no 21:9
    assert (problem["type"], problem["field"]) == ("enum", "input.aspect_ratio")
    assert '"21:9"' not in problem["description"]
    status, _ = create(replicate, SCHNELL, {"prompt": "a", "aspect_ratio": "21:9"})
    assert status == 201


@pytest.mark.parametrize(
    ("values", "kind", "field"),
    [
        ({"num_inference_steps": 0}, "number_gte", "input.num_inference_steps"),
        ({"num_inference_steps": 5}, "number_lte", "input.num_inference_steps"),
        ({"num_outputs": 0}, "number_gte", "input.num_outputs"),
        ({"num_outputs": 5}, "number_lte", "input.num_outputs"),
        ({"output_quality": 101}, "number_lte", "input.output_quality"),
        ({"seed": "7"}, "invalid_type", "input.seed"),
        ({"go_fast": 1}, "invalid_type", "input.go_fast"),
        ({"megapixels": "2"}, "enum", "input.megapixels"),
        ({"output_format": "gif"}, "enum", "input.output_format"),
    ],
)
def test_a_value_outside_the_schema_is_refused_where_replicate_refuses_it(
    replicate: Replicate, values: dict[str, object], kind: str, field: str
) -> None:
    problem = refusal(replicate, SCHNELL, values)
    assert (problem["type"], problem["field"]) == (kind, field)


def test_an_input_without_a_prompt_is_refused(replicate: Replicate) -> None:
    status, body = create(replicate, SCHNELL, {"seed": 1})
    assert status == 422
    assert body["invalid_fields"] == [
        {"type": "required", "field": "input", "description": "prompt is required"}
    ]


def test_a_one_image_models_output_is_one_url_not_a_list(replicate: Replicate) -> None:
    # FLUX 1.1 [pro]'s output schema is a single URI.
    status, body = create(replicate, PRO, {"prompt": "a cat"})
    assert status == 201
    assert isinstance(body["output"], str)
    _, batch = create(replicate, SCHNELL, {"prompt": "a cat"})
    assert isinstance(batch["output"], list)
