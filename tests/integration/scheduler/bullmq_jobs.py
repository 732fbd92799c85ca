"""BullMQ producers and workers for the scheduler tests, driven by the bullmq library itself.

A job's data is the FlexTime contract: ``sport``, ``teamCount``; plus ``seconds`` (how long the
worker works on it), ``fail`` and ``violations`` (what its result reports). Also runnable as a
program: ``python bullmq_jobs.py URL QUEUE LOCK_MS`` is a named worker whose jobs sleep, for the
stalled-job test (the test SIGKILLs it)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field


@dataclass
class Job:
    sport: str | None
    team_count: int | None
    seconds: float
    fail: bool = False
    violations: list = field(default_factory=list)

    def data(self) -> dict:
        out: dict = {"seconds": self.seconds, "fail": self.fail, "violations": self.violations}
        if self.sport is not None:
            out["sport"] = self.sport
        if self.team_count is not None:
            out["teamCount"] = self.team_count
        return out


async def process(job, token):
    await asyncio.sleep(job.data["seconds"])
    if job.data.get("fail"):
        raise RuntimeError("schedule infeasible")
    return {"schedule": "ok", "constraintViolations": job.data.get("violations", [])}


async def run_jobs(
    url: str,
    queue: str,
    jobs: list[Job],
    job_opts: dict | None = None,
    concurrency: int = 2,
    timeout: float = 60.0,
    prefix: str = "bull",
) -> None:
    """Add ``jobs`` to ``queue`` and work them with one worker until each has finished."""
    from bullmq import Queue, Worker

    q = Queue(queue, {"connection": url, "prefix": prefix})
    finished = asyncio.Event()
    done: list = []

    def on_finished(*_):
        done.append(1)
        if len(done) >= len(jobs):
            finished.set()

    worker = Worker(
        queue, process, {"connection": url, "concurrency": concurrency, "prefix": prefix, "name": f"test-{queue}"}
    )
    worker.on("completed", on_finished)
    worker.on("failed", on_finished)
    try:
        for job in jobs:
            await q.add("generate-schedule", job.data(), dict(job_opts or {}))
        await asyncio.wait_for(finished.wait(), timeout)
    finally:
        await worker.close()
        await q.close()


async def add_jobs(
    url: str, queue: str, jobs: list[Job], job_opts: list[dict] | None = None, prefix: str = "bull"
) -> None:
    from bullmq import Queue

    q = Queue(queue, {"connection": url, "prefix": prefix})
    try:
        for i, job in enumerate(jobs):
            await q.add("generate-schedule", job.data(), (job_opts or [{}] * len(jobs))[i])
    finally:
        await q.close()


async def pause(url: str, queue: str) -> None:
    from bullmq import Queue

    q = Queue(queue, {"connection": url})
    try:
        await q.pause()
    finally:
        await q.close()


async def _sleepy_worker(url: str, queue: str, lock_ms: int) -> None:
    from bullmq import Worker

    async def slow(job, token):
        await asyncio.sleep(120)

    Worker(queue, slow, {"connection": url, "name": "stall-me", "lockDuration": lock_ms, "stalledInterval": 600_000})
    await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(_sleepy_worker(sys.argv[1], sys.argv[2], int(sys.argv[3])))
