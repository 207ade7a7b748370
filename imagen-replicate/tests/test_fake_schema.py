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
