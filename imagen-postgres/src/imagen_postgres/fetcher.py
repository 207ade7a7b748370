"""procrastinate's job manager, without losing a job announced while a fetch is under way.

procrastinate's worker fetches when its LISTEN hears a new job, and clears its "new job" flag
once the fetch returns. A job committed just after the fetch looked is announced while that
fetch is still on its way back, so its announcement is cleared with the flag: the job then
waits for the worker's next polling tick (up to a second) although it was announced at once.
This manager counts the announcements it passes on, and a fetch that found nothing looks
again when one came in meanwhile. Both run on the worker's event loop, so an announcement is
either counted before the fetch returns (and fetched again) or arrives after the flag was
cleared (and sets it again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from procrastinate import jobs
from procrastinate.manager import JobManager

Notify = Callable[..., Awaitable[None]]


class AnnouncedJobManager(JobManager):
    """A JobManager whose ``fetch_job`` does not miss a job announced during it."""

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        #: how many new jobs were announced to this process so far
        self.announced = 0

    def heard(self, notification: jobs.Notification) -> None:
        if notification.get("type") == "job_inserted":
            self.announced += 1

    async def listen_for_jobs(
        self, *, on_notification: Notify, queues: Iterable[str] | None = None
    ) -> None:
        async def counted(*, channel: str, notification: jobs.Notification) -> None:
            self.heard(notification)
            await on_notification(channel=channel, notification=notification)

        await super().listen_for_jobs(on_notification=counted, queues=queues)

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int) -> jobs.Job | None:
        while True:
            before = self.announced
            job = await super().fetch_job(queues, worker_id)
            if job is not None or self.announced == before:
                return job


__all__ = ["AnnouncedJobManager"]
