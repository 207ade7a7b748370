"""What ``imagen serve`` adds to a job, how fast it answers, and what it holds in memory.

A real ``imagen serve --port 0`` subprocess (the local queue: jobs run in the server) with the
``mock`` backend at 256x256, spoken to over loopback HTTP; HOME and the XDG dirs are a
temporary folder. Measured:

- ``POST /v1/jobs`` -> 202 latency, p50/p99, over 1,000 one-take jobs posted back to back
  (the server runs the earlier ones meanwhile, as it would in use);
- a job's overhead end to end: POST, then long-poll ``GET /v1/jobs/{id}`` until done, minus
  an in-process ``prepare()`` + ``execute()`` of the same one-take request in this process,
  the two taken in turns so a change in the machine's load hits both (target: at most 15 ms
  at p50);
- ``GET /v1/jobs/{id}`` latency with 50 concurrent pollers (target: p99 at most 20 ms), read
  two ways: 50 long polls parked on a running job (open studio pages) beside one client's
  plain GETs, and 50 clients asking back to back (the server saturated);
- a take's landing seen by a long-poller: the wall clock when the answer arrives minus the
  take's ``finished_at`` (target: within 20 ms);
- the server's RSS (VmRSS) idle and after the 1,000 jobs.

The timed requests go through httpx, as a client would send them. The 50 pollers are load,
and go through ``Connection`` below, a bare keep-alive HTTP/1.1 GET: with 50 requests in
flight httpx spends 2 to 3.5 ms of CPU per request, many times what the server spends
answering it, so 50 httpx pollers would measure httpx on a 2-core machine rather than the
server. The 50 long polls run in a process of their own, as open pages do, so the timed GET
beside them does not wait on their client's work.

    uv run python bench/server.py [--jobs 1000] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record
from _servers import (
    PROMPT,
    SIZE,
    TABLE_HEAD,
    InProcess,
    load_average,
    percentile,
    row,
    scratch_home,
    verdict,
)

E2E_TARGET_MS = 15.0
POLL_TARGET_MS = 20.0
LANDING_TARGET_MS = 20.0
POLLERS = 50
POLLS_EACH = 40
LANDING_JOBS = 5
LANDING_TAKES = 4

PACED = """\
  paced:
    type: mock
    latency: 0.25
    concurrency: 1
"""


class Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads their answers (a
    Content-Length body): the load generator, at a few tens of microseconds a request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader = reader
        self._writer = writer
        self._host = host.encode("ascii")

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def get(self, target: str) -> Any:
        self._writer.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), self._host))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        if status != 200:
            raise SystemExit(f"GET {target} answered {status}: {body!r}")
        return json.loads(body)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def submit(server: Any, **body: Any) -> tuple[dict[str, Any], float]:
    body = {"prompt": PROMPT, "backend": "bench", "takes": 1, "size": SIZE, **body}
    start = time.perf_counter()
    answer = server.request("POST", "/v1/jobs", json=body)
    elapsed = (time.perf_counter() - start) * 1000
    if answer.status_code != 202:
        raise SystemExit(f"POST /v1/jobs answered {answer.status_code}: {answer.text}")
    accepted: dict[str, Any] = answer.json()
    return accepted, elapsed


def end_to_end(server: Any) -> float:
    """ms from sending POST /v1/jobs to the long poll's answer that says done."""
    start = time.perf_counter()
    accepted, _ = submit(server)
    version = accepted["version"]
    while True:
        job = server.job(accepted["job_id"], wait=30, version=version)
        version = job["version"]
        if job["state"] == "done":
            return (time.perf_counter() - start) * 1000
        if job["state"] in ("failed", "canceled", "interrupted"):
            raise SystemExit(f"job ended {job['state']}: {job.get('error')}")


def time_in_turns(server: Any, config: Path, runs: int) -> tuple[list[float], list[float]]:
    """ms per in-process prepare() + execute() and per job end to end, taken in turns."""

    async def main() -> tuple[list[float], list[float]]:
        inner: list[float] = []
        outer: list[float] = []
        async with InProcess(config) as in_process:
            for run in range(runs + 1):
                here = await in_process.timed()
                there = end_to_end(server)  # blocking httpx: nothing else runs here meanwhile
                if run:  # the first of each is the warm-up
                    inner.append(here)
                    outer.append(there)
        return inner, outer

    return asyncio.run(main())


def time_pollers(url: str, job_id: str) -> list[float]:
    """ms per GET /v1/jobs/{id} with POLLERS clients asking back to back at once."""

    async def main() -> list[float]:
        connections = [await Connection.open(url) for _ in range(POLLERS)]

        async def poller(connection: Connection) -> list[float]:
            mine = []
            for _ in range(POLLS_EACH):
                start = time.perf_counter()
                await connection.get(f"/v1/jobs/{job_id}")
                mine.append((time.perf_counter() - start) * 1000)
            return mine

        try:
            found = await asyncio.gather(*(poller(each) for each in connections))
        finally:
            for connection in connections:
                await connection.close()
        return [sample for samples in found for sample in samples]

    return asyncio.run(main())


def long_polls(url: str) -> None:
    """``--long-polls URL``: POLLERS long polls of the job named on stdin (``ID VERSION``)
    until it ends, in a process of their own as open pages are; prints ``parked`` once they
    are sent and the number of answers at the end."""
    job_id, first = sys.stdin.readline().split()

    async def main() -> int:
        answered = 0
        connections = [await Connection.open(url) for _ in range(POLLERS)]

        async def long_poll(connection: Connection, version: str) -> None:
            nonlocal answered
            while True:
                job = await connection.get(f"/v1/jobs/{job_id}?wait=30&version={version}")
                answered += 1
                version = job["version"]
                if job["state"] not in ("queued", "running"):
                    return

        waiting = [asyncio.ensure_future(long_poll(each, first)) for each in connections]
        await asyncio.sleep(0)  # each has sent its first request
        print("parked", flush=True)
        await asyncio.gather(*waiting)
        for connection in connections:
            await connection.close()
        return answered

    print(asyncio.run(main()), flush=True)


def time_beside_long_pollers(server: Any) -> tuple[list[float], int]:
    """ms per GET /v1/jobs/{id} of a running job while POLLERS clients long-poll it from
    another process (as that many open studio pages do), asked every 10 ms by one more client;
    and how many answers the long polls got meanwhile."""
    import subprocess

    import httpx

    command = [sys.executable, __file__, "--long-polls", server.url]
    pollers = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert pollers.stdin is not None
    assert pollers.stdout is not None
    try:
        accepted, _ = submit(server, backend="paced", takes=16)
        job_id = accepted["job_id"]
        pollers.stdin.write(f"{job_id} {accepted['version']}\n")
        pollers.stdin.flush()
        if pollers.stdout.readline() != "parked\n":
            raise SystemExit("the long polls did not start")

        async def ask() -> list[float]:
            samples = []
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as asker:
                while pollers.poll() is None:
                    start = time.perf_counter()
                    answer = await asker.get(f"/v1/jobs/{job_id}")
                    samples.append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200, answer.text
                    await asyncio.sleep(0.01)
            return samples

        samples = asyncio.run(ask())
        if pollers.returncode != 0:
            raise SystemExit("the long polls failed")
        return samples, int(pollers.stdout.readline())
    finally:
        if pollers.poll() is None:
            pollers.kill()
            pollers.wait()


def time_landings(server: Any) -> list[float]:
    """ms between a take's finished_at and a long-poller seeing it (same machine clock)."""
    samples = []
    for _ in range(LANDING_JOBS):
        accepted, _ = submit(server, backend="paced", takes=LANDING_TAKES)
        seen: set[int] = set()
        version = accepted["version"]
        while len(seen) < LANDING_TAKES:
            job = server.job(accepted["job_id"], wait=30, version=version)
            arrived = dt.datetime.now(dt.UTC)
            version = job["version"]
            for take in job["takes"]:
                if take["state"] == "done" and take["number"] not in seen:
                    seen.add(take["number"])
                    finished = dt.datetime.fromisoformat(take["finished_at"])
                    samples.append((arrived - finished).total_seconds() * 1000)
            if job["state"] in ("failed", "canceled", "interrupted"):
                raise SystemExit(f"job ended {job['state']}: {job.get('error')}")
    return samples


def run_many(server: Any, count: int) -> tuple[list[float], float]:
    """POST ``count`` jobs back to back (ms each), then wait until every one is done."""
    posted = []
    start = time.perf_counter()
    last = ""
    for _ in range(count):
        accepted, elapsed = submit(server)
        posted.append(elapsed)
        last = accepted["job_id"]
    server.until(last, lambda job: job["state"] == "done")
    while True:
        busy = server.request(
            "GET", "/v1/jobs", params={"state": ["queued", "running"], "limit": 500}
        ).json()["jobs"]
        if not busy:
            break
        server.until(busy[0]["id"], lambda job: job["state"] not in ("queued", "running"))
    return posted, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs for the POST and RSS runs")
    parser.add_argument("--runs", type=int, default=50, help="end-to-end jobs timed")
    parser.add_argument("--long-polls", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.long_polls:
        long_polls(args.long_polls)
        return

    loads = [load_average()]
    with scratch_home("imagen-bench-server-", PACED) as config:
        from imagen_studio.testing import Server

        server = Server(config)
        try:
            server.request("GET", "/v1/health")
            idle_rss = rss_mib(server.process.pid)
            in_process, end_to_ends = time_in_turns(server, config, args.runs)
            finished = server.request("GET", "/v1/jobs", params={"limit": 1}).json()["jobs"][0]
            beside, long_answers = time_beside_long_pollers(server)
            cpu_before = cpu_seconds(server.process.pid)
            polls_start = time.perf_counter()
            polls = time_pollers(server.url, finished["id"])
            polls_s = time.perf_counter() - polls_start
            server_ms = (cpu_seconds(server.process.pid) - cpu_before) * 1000 / len(polls)
            landings = time_landings(server)
            loads.append(load_average())
            posted, many_s = run_many(server, args.jobs)
            busy_rss = rss_mib(server.process.pid)
        finally:
            server.stop()
    loads.append(load_average())

    overhead = statistics.median(end_to_ends) - statistics.median(in_process)
    landing_p50, landing_max = percentile(landings, 0.5), max(landings)
    poll_target = f"<= {POLL_TARGET_MS:.0f} ms p99"
    rows = [
        row(
            f"`POST /v1/jobs` -> 202 ({args.jobs} jobs back to back, earlier ones running)", posted
        ),
        row("in-process `prepare()` + `execute()`, same request", in_process),
        row("job end to end: POST, long poll until done", end_to_ends),
        f"| job overhead over in-process execute() (p50 - p50) | - | {overhead:.2f} | - | - "
        f"| <= {E2E_TARGET_MS:.0f} ms p50 | {verdict(overhead, E2E_TARGET_MS)} |",
        row(
            f"`GET /v1/jobs/{{id}}` of a running job while {POLLERS} clients long-poll it",
            beside,
            poll_target,
            verdict(percentile(beside, 0.99), POLL_TARGET_MS),
        ),
        row(
            f"`GET /v1/jobs/{{id}}`, {POLLERS} clients each asking {POLLS_EACH} times at once",
            polls,
            poll_target,
            verdict(percentile(polls, 0.99), POLL_TARGET_MS),
        ),
        row(
            f"a take's landing seen by a long poll ({LANDING_JOBS} jobs x {LANDING_TAKES} takes)",
            landings,
            f"<= {LANDING_TARGET_MS:.0f} ms",
            verdict(landing_max, LANDING_TARGET_MS) + f"; p50 {landing_p50:.1f} ms",
        ),
    ]
    throughput = len(polls) / polls_s
    total_jobs = 2 * (args.runs + 1) + 1 + LANDING_JOBS + args.jobs
    table = "\n".join(rows)
    body = f"""\
`imagen serve` subprocess (local queue, jobs run in the server), mock backend at {SIZE}, one \
take per job unless said; loopback HTTP: httpx for every timed request but the 50 \
back-to-back pollers', and a bare keep-alive HTTP/1.1 GET for the 50 pollers and for the 50 \
long polls (those in a process of their own, as pages are): httpx spends 2 to 3.5 ms of CPU \
a request with 50 in flight, many times the server's answer. The machine is shared: \
load average (1, 5, 15 min) {loads[0]} at the start, {loads[1]} before the {args.jobs} jobs, \
{loads[2]} at the end, on 2 cores; the tails are the machine's as much as the server's.

{TABLE_HEAD}
{table}

The {POLLERS} pollers are read two ways: {POLLERS} long polls parked on a 16-take job while it \
runs ({long_answers} long-poll answers as its takes landed), with one more client's plain GET \
timed every 10 ms; and {POLLERS} clients asking back to back with no pause, which saturates \
the server: {throughput:.0f} answers/s, {server_ms:.2f} ms of the server's CPU per answer. \
With {POLLERS} requests always in flight each waits for the others' answers, so its latency \
is at least {POLLERS} x the time per answer: 20 ms needs an answer every 0.4 ms of wall time, \
the client's work included, which holds only while the server has a core to itself.

What made the server slow before (revision 8ee1bbf: 44 ms for any answer, 85 ms job \
overhead, 116 ms p99 beside the long polls, 44.5 ms landings): the listening socket was made \
without IPPROTO_TCP, so asyncio did not set TCP_NODELAY on accepted connections, and uvicorn \
sends an answer's headers and body in two writes: Nagle's algorithm held the body until the \
client's delayed ACK, 40 ms later, on every answer. Every change woke each long poll to read \
the job from SQLite and encode it again (now one read and one encoding per change, shared), \
and the jobs ran on the event loop that answers HTTP, where writing a take (three fsyncs) and \
recording it stalled every answer for 5 to 30 ms (now a thread of their own). The runner's \
50 ms save batching (kept for other queues) made a landing 54 ms late on the local queue, \
which now saves within 5 ms.

Landing is the wall clock when the long poll's answer arrived minus the take's `finished_at` \
(both this machine's clock); the target is judged on the worst landing.

Server memory (VmRSS): {idle_rss:.1f} MiB idle (after start and one request), \
{busy_rss:.1f} MiB after {args.jobs} more jobs ({total_jobs} in all; {many_s:.1f} s to post \
and run them, {args.jobs / many_s:.0f} jobs/s).
"""
    record("server", f"uv run python bench/server.py --jobs {args.jobs} --runs {args.runs}", body)


if __name__ == "__main__":
    main()
