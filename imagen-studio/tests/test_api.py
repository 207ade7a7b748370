"""The job API over a real socket, with the mock backend: life cycle, long poll, cancel, pick,
uploads as refs, and the problems for bad input."""

from __future__ import annotations

import asyncio
import io
import json
import signal
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from imagen_studio.testing import UNSET_KEY, Server

#: studio pages long-polling one job at once
LONG_POLLS = 20


def png(width: int = 8, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def submit(server: Server, **body: Any) -> dict[str, Any]:
    answer = server.request("POST", "/v1/jobs", json={"prompt": "a red kite", **body})
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    return accepted


def done(job: dict[str, Any]) -> bool:
    return job["state"] == "done"


def test_a_job_goes_from_202_to_done_and_every_take_is_served(start_server: Any) -> None:
    server = start_server()
    accepted = submit(server, backend="priced", takes=3, size="64x64")
    assert accepted["cost_estimate"]["usd"] == "0.12"
    assert accepted["label"] == "~$0.12"
    job = server.until(accepted["job_id"], done)
    assert job["takes_done"] == 3
    for take in job["takes"]:
        image = server.request("GET", f"/v1/images/{take['generation_id']}")
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert image.headers["etag"] == f'"{take["generation_id"]}"'
        assert "immutable" in image.headers["cache-control"]
        assert image.content == Path(take["path"]).read_bytes()
        cached = {"If-None-Match": image.headers["etag"]}
        again = server.request("GET", f"/v1/images/{take['generation_id']}", headers=cached)
        assert again.status_code == 304


def test_a_thumbnail_is_a_small_webp_made_once(start_server: Any) -> None:
    server = start_server()
    job = server.until(submit(server, takes=1, size="256x128")["job_id"], done)
    image_id = job["takes"][0]["generation_id"]
    thumb = server.request("GET", f"/v1/images/{image_id}", params={"thumb": 64})
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb.content)).size == (64, 32)
    assert server.request("GET", f"/v1/images/{image_id}", params={"thumb": 64}).content == (
        thumb.content
    )


def test_a_long_poll_answers_at_the_next_change(start_server: Any) -> None:
    server = start_server(latency=0.4)
    accepted = submit(server, backend="slow", takes=2)
    seen = [accepted["version"]]
    job = server.job(accepted["job_id"])
    while job["state"] != "done":
        job = server.job(accepted["job_id"], wait=30, version=job["version"])
        assert job["version"] != seen[-1]  # answered because it changed, not at the deadline
        seen.append(job["version"])
    assert seen == sorted(seen)


def test_every_long_poll_parked_on_a_job_answers_its_next_change(start_server: Any) -> None:
    server = start_server(latency=60.0)
    accepted = submit(server, backend="slow", takes=1)
    running = server.until(accepted["job_id"], lambda job: job["takes"][0]["state"] == "running")
    path = f"/v1/jobs/{accepted['job_id']}"

    async def poll_then_cancel() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=LONG_POLLS + 1)  # one more for the cancel
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            params = {"wait": 60, "version": running["version"]}
            polls = [
                asyncio.ensure_future(client.get(path, params=params)) for _ in range(LONG_POLLS)
            ]
            await client.post(f"{path}/cancel")
            return [answer.json() for answer in await asyncio.gather(*polls)]

    answers = asyncio.run(poll_then_cancel())
    assert len(answers) == LONG_POLLS
    assert all(job["version"] > running["version"] for job in answers)


def test_a_long_poll_without_change_answers_the_same_job_after_wait(start_server: Any) -> None:
    server = start_server()
    job = server.until(submit(server, takes=1)["job_id"], done)
    same = server.job(job["id"], wait=0.2, version=job["version"])
    assert same["version"] == job["version"]


def test_cancel_stops_a_running_job_and_keeps_its_finished_takes(start_server: Any) -> None:
    server = start_server(latency=1.0)
    accepted = submit(server, backend="slow", takes=4)
    server.until(accepted["job_id"], lambda job: job["takes_done"] >= 1)
    canceled = server.request("POST", f"/v1/jobs/{accepted['job_id']}/cancel")
    assert canceled.status_code == 200
    job = server.until(accepted["job_id"], lambda job: job["state"] == "canceled")
    finished = [take for take in job["takes"] if take["state"] == "done"]
    assert 1 <= len(finished) < 4
    for take in finished:
        assert Path(take["path"]).exists()


def test_a_pick_is_in_the_job_the_history_and_the_sidecar(start_server: Any) -> None:
    server = start_server()
    job = server.until(submit(server, takes=2)["job_id"], done)
    picked = server.request("POST", f"/v1/jobs/{job['id']}/pick", json={"take": 2})
    assert picked.status_code == 200
    assert picked.json()["picked"] == 2
    sidecar = json.loads(Path(job["takes"][1]["images"][0]["sidecar_path"]).read_text())
    assert sidecar["picked"] is True
    history = server.request("GET", "/v1/history").json()["items"]
    assert {item["take"]: item["picked"] for item in history} == {1: False, 2: True}


def test_an_uploaded_image_is_a_ref_a_job_can_use(start_server: Any) -> None:
    server = start_server()
    data = png()
    files = {"file": ("kite.png", data, "image/png")}
    uploaded = server.request("POST", "/v1/uploads", files=files)
    assert uploaded.status_code == 201, uploaded.text
    upload = uploaded.json()["uploads"][0]
    assert (upload["media_type"], upload["width"]) == ("image/png", 8)
    assert upload["size_bytes"] == len(data)
    job = server.until(submit(server, takes=1, refs=[upload["id"]])["job_id"], done)
    assert job["request"]["refs"][0]["sha256"] == upload["id"]
    assert "kite.png" not in job["request"]["refs"][0]["path"]  # named by the server


def test_bad_input_is_a_422_problem_naming_the_field(start_server: Any) -> None:
    server = start_server()
    cases = [
        ({"size": "huge"}, "size"),
        ({"style": "no-such-style"}, "style"),
        ({"backend": "no-such-backend"}, "backend"),
        ({"takes": 0}, "takes"),
        ({"prompt": "   "}, "prompt"),
        ({"takes": "four"}, "takes"),
        ({"refs": ["0" * 64]}, "refs"),
    ]
    for body, field in cases:
        answer = server.request("POST", "/v1/jobs", json={"prompt": "a kite", **body})
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, answer.json()
    assert server.request("GET", "/v1/jobs").json()["jobs"] == []


def test_a_backend_that_cannot_run_is_a_503_saying_what_to_set(start_server: Any) -> None:
    server = start_server()
    answer = server.request("POST", "/v1/jobs", json={"prompt": "a kite", "backend": "gem"})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert UNSET_KEY in answer.json()["detail"]


def test_a_forgotten_job_is_a_404_pointing_at_the_history(start_server: Any) -> None:
    server = start_server()
    answer = server.request("GET", "/v1/jobs/01900000-0000-7000-8000-000000000000")
    assert answer.status_code == 404
    assert "history" in answer.json()["detail"]


def test_a_take_that_is_not_done_cannot_be_picked(start_server: Any) -> None:
    server = start_server(latency=30)
    accepted = submit(server, backend="slow", takes=1)
    answer = server.request("POST", f"/v1/jobs/{accepted['job_id']}/pick", json={"take": 1})
    assert answer.status_code == 409
    assert answer.json()["field"] == "take"


def test_an_estimate_is_free_and_queues_nothing(start_server: Any) -> None:
    server = start_server()
    answer = server.request(
        "POST", "/v1/estimate", json={"prompt": "a kite", "backend": "priced", "takes": 4}
    )
    assert answer.status_code == 200
    estimate = answer.json()
    assert (estimate["label"], estimate["cost_estimate"]["usd"]) == ("~$0.16", "0.16")
    assert server.request("GET", "/v1/jobs").json()["jobs"] == []
    assert server.request("GET", "/v1/history").json()["items"] == []


def test_backends_say_why_one_cannot_run_and_styles_are_listed(start_server: Any) -> None:
    server = start_server()
    listed = server.request("GET", "/v1/backends").json()
    rows = {row["name"]: row for row in listed["backends"]}
    assert rows["slow"]["ready"] is True
    assert rows["gem"]["ready"] is False
    assert UNSET_KEY in rows["gem"]["status"]
    assert listed["default_takes"] == 4
    styles = server.request("GET", "/v1/styles").json()["styles"]
    assert "cinematic" in {style["name"] for style in styles}


def test_history_searches_the_prompt(start_server: Any) -> None:
    server = start_server()
    server.until(submit(server, takes=1, prompt="a blue heron")["job_id"], done)
    server.until(submit(server, takes=1, prompt="a red fox")["job_id"], done)
    found = server.request("GET", "/v1/history", params={"text": "heron"}).json()["items"]
    assert [item["prompt"] for item in found] == ["a blue heron"]
    assert server.request("GET", found[0]["image"]).status_code == 200


def test_jobs_list_filters_by_state(start_server: Any) -> None:
    server = start_server()
    job = server.until(submit(server, takes=1)["job_id"], done)
    assert [j["id"] for j in server.request("GET", "/v1/jobs?state=done").json()["jobs"]] == [
        job["id"]
    ]
    assert server.request("GET", "/v1/jobs?state=queued").json()["jobs"] == []
    assert server.request("GET", "/v1/jobs?state=bogus").status_code == 422


def test_a_restart_mid_job_loses_no_finished_take(start_server: Any, tmp_path: Path) -> None:
    server = start_server(latency=1.0)
    accepted = submit(server, backend="slow", takes=3)
    before = server.until(accepted["job_id"], lambda job: job["takes_done"] >= 1)
    landed = {t["number"]: t["generation_id"] for t in before["takes"] if t["state"] == "done"}
    server.stop(signal.SIGKILL)  # no goodbye: the job still says running under a dead process
    again = start_server(config=server.config)
    job = again.until(accepted["job_id"], done)
    for number, generation_id in landed.items():
        assert job["takes"][number - 1]["generation_id"] == generation_id
    assert job["attempts"] == 2
    assert all(Path(take["path"]).exists() for take in job["takes"])
