"""A job's JSON form round-trips (the CLI, the HTTP API and MCP all read it), and ids sort."""

from __future__ import annotations

import datetime as dt
import json
import time
import types
import typing
import uuid
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.errors import ContentBlocked
from imagen.jobs.model import (
    FORMAT_VERSION,
    JOB_STATES,
    JSON_FORM_CLASSES,
    Job,
    Problem,
    Take,
    TakeImage,
    job_from_dict,
    job_from_record,
    job_to_dict,
    job_to_record,
    json_form_fields,
    new_job_id,
)
from imagen.models import Cost, Ref, Request

text = st.text(max_size=16)
json_values = st.none() | st.booleans() | st.integers() | text
offsets = st.integers(-14 * 60, 14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
moments = st.datetimes(timezones=offsets)
money = st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=0, max_value=10**6)
costs = st.none() | st.builds(Cost, amount=money, basis=text)
refs = st.builds(Ref, path=text, data=st.binary(max_size=8), media_type=text, sha256=text)
seeds = st.integers(0, 2**32 - 1)
problems = st.none() | st.builds(Problem, type=text, title=text, detail=text)

requests = st.builds(
    Request,
    prompt=text,
    negative_prompt=st.none() | text,
    width=st.none() | st.integers(1, 4096),
    height=st.none() | st.integers(1, 4096),
    aspect_ratio=st.none() | text,
    steps=st.none() | st.integers(1, 100),
    seed=st.none() | seeds,
    count=st.integers(1, 8),
    refs=st.lists(refs, max_size=2, unique_by=lambda ref: ref.sha256).map(tuple),
    style=st.none() | text,
    options=st.dictionaries(text, json_values, max_size=3),
)
images = st.builds(
    TakeImage,
    generation_id=text,
    path=text,
    media_type=text,
    width=st.integers(1, 8192),
    height=st.integers(1, 8192),
    seed=st.none() | seeds,
    cost=costs,
    cache_hit=st.booleans(),
    sidecar_path=st.none() | text,
    remote_object=st.none() | text,
    remote_url=st.none() | text,
)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    count = draw(st.integers(1, 4))
    takes = tuple(
        draw(
            st.builds(
                Take,
                number=st.just(number),
                seed=st.none() | seeds,
                state=st.sampled_from(["queued", "running", "done", "failed"]),
                progress=st.floats(0, 1),
                message=text,
                images=st.lists(images, max_size=2).map(tuple),
                error=problems,
                started_at=st.none() | moments,
                finished_at=st.none() | moments,
            )
        )
        for number in range(1, count + 1)
    )
    return draw(
        st.builds(
            Job,
            id=st.just(new_job_id()),
            request=requests,
            backend=text,
            seeds=st.lists(seeds, min_size=count, max_size=count).map(tuple),
            output_dir=text,
            state=st.sampled_from(JOB_STATES),
            style=st.none() | text,
            caller=st.none() | text,
            takes=st.just(takes),
            picked=st.none() | st.integers(1, count),
            cost_estimate=costs,
            use_cache=st.booleans(),
            no_cloud=st.booleans(),
            eta=st.none() | moments,
            error=problems,
            created_at=moments,
            updated_at=moments,
            started_at=st.none() | moments,
            finished_at=st.none() | moments,
            attempts=st.integers(0, 10),
            worker=st.none() | text,
            cancel_requested=st.booleans(),
            version=st.integers(0, 2**40),
        )
    )


def without_ref_bytes(job: Job) -> Job:
    refs = tuple(attrs.evolve(ref, data=b"") for ref in job.request.refs)
    return attrs.evolve(job, request=attrs.evolve(job.request, refs=refs))


@given(jobs())
def test_the_json_form_round_trips_except_reference_bytes(job: Job) -> None:
    data = json.loads(json.dumps(job_to_dict(job)))
    assert job_from_dict(data) == without_ref_bytes(job)


@given(jobs())
def test_the_stored_record_round_trips_with_reference_bytes(job: Job) -> None:
    data = json.loads(json.dumps(job_to_record(job)))
    assert job_from_record(data) == job


@given(jobs())
def test_the_json_form_shows_what_follows_from_the_takes(job: Job) -> None:
    data = job_to_dict(job)
    assert data["takes_total"] == len(job.takes)
    assert data["takes_done"] == sum(take.state == "done" for take in job.takes)
    actual = job.cost_actual
    assert data["cost_actual"] == (
        None if actual is None else {"amount": str(actual.amount), "basis": actual.basis,
                                     "currency": "USD"}
    )  # fmt: skip
    assert [take["path"] for take in data["takes"]] == [take.path for take in job.takes]


def test_a_job_written_by_a_newer_imagen_is_refused_with_what_to_do() -> None:
    job = Job(id=new_job_id(), request=Request("a cat"), backend="mock", seeds=(1,),
              output_dir="/tmp", takes=(Take(1, 1),))  # fmt: skip
    data = {**job_to_dict(job), "format_version": FORMAT_VERSION + 1}
    with pytest.raises(ValueError, match="upgrade imagen"):
        job_from_dict(data)


def test_job_ids_are_uuid7_and_sort_by_creation_time() -> None:
    first = new_job_id()
    time.sleep(0.002)  # ids are ordered by the millisecond; this is not a timing assert
    second = new_job_id()
    assert uuid.UUID(first).version == 7
    assert first < second


def test_an_error_becomes_a_problem_detail_with_a_stable_type() -> None:
    problem = Problem.of(ContentBlocked("the prompt was refused", backend="flux"))
    assert problem.type == "urn:imagen:content-blocked"
    assert problem.title == "Content blocked"
    assert problem.detail == "flux: the prompt was refused"
    internal = Problem.of(KeyError("x"))
    assert internal.type == "urn:imagen:internal-error"


def _conforms(value: object, kind: object, where: str) -> None:
    """``value`` (JSON data) has the shape ``json_form_fields`` declares for ``kind``."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            assert type(None) in typing.get_args(kind), where
            return
        (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        origin = typing.get_origin(kind)
    if kind in JSON_FORM_CLASSES:
        assert isinstance(value, dict), where
        fields = json_form_fields(typing.cast(type, kind))
        assert set(value) == set(fields), where
        for name, field_kind in fields.items():
            _conforms(value[name], field_kind, f"{where}.{name}")
    elif origin in (tuple, list):
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            _conforms(item, typing.get_args(kind)[0], f"{where}[{index}]")
    elif origin is typing.Literal:
        assert value in typing.get_args(kind), where
    elif kind in (str, Decimal, dt.datetime):
        assert isinstance(value, str), where
    elif kind is float:
        assert type(value) in (int, float), where
    elif kind in (int, bool):
        assert type(value) is kind, where
    else:  # free-form mappings (request options)
        assert isinstance(value, dict), where


@given(jobs())
def test_the_json_form_has_exactly_the_declared_fields_and_types(job: Job) -> None:
    # imagen serve documents its job responses from json_form_fields: a key job_to_dict
    # adds, drops or changes without declaring it there would break the served schema.
    _conforms(json.loads(json.dumps(job_to_dict(job))), Job, "job")
