"""Per-queue wait and run times, retries and the longest-running active job, from BullMQ and RQ
queues worked by their own libraries. Each is counted once per finished job, from the queue's
history, like the other counters: the same whether the exporter is scraped 20 times or once,
and whether the queue keeps its finished jobs or removes them."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time

import pytest
import redis

from conftest import samples, value

from .conftest import start_scheduler

RUN = secrets.token_hex(3)
WAITED = 1.5  # seconds the first jobs wait for a worker


def _scrape(exp) -> str:
    resp = exp.get("/metrics")
    assert resp.status == 200
    return resp.text


def queue_series(text: str, queue: str) -> dict:
    """The new per-queue histograms and the retry counter of ``queue`` (queue label dropped)."""
    out = {}
    for (name, labels), v in samples(text).items():
        if (
            name.startswith(
                (
                    "scheduler_queue_job_wait_seconds",
                    "scheduler_queue_job_duration_seconds",
                    "scheduler_queue_jobs_retried_total",
                )
            )
            and dict(labels).get("queue") == queue
        ):
            out[(name, tuple(kv for kv in labels if kv[0] != "queue"))] = v
    return out


async def _process(job, token):
    await asyncio.sleep(job.data["seconds"])
    if job.attemptsMade < job.data.get("failTimes", 0):
        raise RuntimeError("not yet")
    return {"constraintViolations": []}


async def _work(url: str, queue: str, opts: dict) -> None:
    """Short and long jobs, three of them retried twice (attempts: 3): added with no worker, which
    starts WAITED seconds later; then more jobs once it runs. Run times sit mid-bucket (0.15 s, 0.35 s,
    1.6 s), so the milliseconds between the job hash's times and the events' cannot move a job across a bound."""
    from bullmq import Queue, Worker

    q = Queue(queue, {"connection": url})
    done: list = []
    finished = asyncio.Event()
    total = 10

    def on_done(*_):
        done.append(1)
        if len(done) >= total:
            finished.set()

    try:
        for _ in range(3):
            await q.add("short", {"sport": "soccer", "seconds": 0.15}, dict(opts))
        await asyncio.sleep(WAITED)  # the wait being measured: no worker yet
        worker = Worker(queue, _process, {"connection": url, "concurrency": 4, "name": f"t-{queue}"})
        worker.on("completed", on_done)  # every job completes in the end (the retried ones on their third run)
        try:
            for _ in range(4):
                await q.add("long", {"sport": "soccer", "seconds": 1.6}, dict(opts))
            for _ in range(3):
                await q.add("retried", {"sport": "soccer", "seconds": 0.35, "failTimes": 2}, {**opts, "attempts": 3})
            await asyncio.wait_for(finished.wait(), 60)
        finally:
            await worker.close()
    finally:
        await q.close()


@pytest.fixture(scope="module")
def bull(queue_redis, tmp_path_factory):
    url = queue_redis.url
    keep, remove = f"qt-keep-{RUN}", f"qt-remove-{RUN}"
    tmp = tmp_path_factory.mktemp("qt")
    exps = {
        "keep20": start_scheduler(tmp, f"--redis.addr={url}", f"--bullmq.queue={keep}"),
        "remove20": start_scheduler(tmp, f"--redis.addr={url}", f"--bullmq.queue={remove}"),
        "remove1": start_scheduler(tmp, f"--redis.addr={url}", f"--bullmq.queue={remove}"),
    }
    scrapes = {"keep20": 0, "remove20": 0}
    stop = threading.Event()

    def scraper():
        while not stop.is_set() and min(scrapes.values()) < 20:
            for name in scrapes:
                _scrape(exps[name])
                scrapes[name] += 1
            stop.wait(0.2)

    t = threading.Thread(target=scraper)
    t.start()

    async def both():
        await asyncio.gather(_work(url, keep, {}), _work(url, remove, {"removeOnComplete": True, "removeOnFail": True}))

    try:
        asyncio.run(both())
        t.join(60)
        final = {name: _scrape(exp) for name, exp in exps.items()}
        yield {"final": final, "scrapes": scrapes, "keep": keep, "remove": remove, "url": url}
    finally:
        stop.set()
        for exp in exps.values():
            exp.stop()


def test_bullmq_wait_and_run_times_land_in_their_buckets(bull):
    text, q = bull["final"]["keep20"], bull["keep"]
    wait = "scheduler_queue_job_wait_seconds"
    assert value(text, wait + "_count", queue=q) == 10
    # the three first jobs waited WAITED s for a worker: above 1 s, within 2.5 s; the others started at once
    assert value(text, wait + "_bucket", queue=q, le="1") == 7
    assert value(text, wait + "_bucket", queue=q, le="2.5") == 10
    assert value(text, wait + "_sum", queue=q) >= 3 * WAITED
    run = "scheduler_queue_job_duration_seconds"
    assert value(text, run + "_count", queue=q, job_name="long") == 4
    assert value(text, run + "_bucket", queue=q, job_name="long", le="1") == 0
    assert value(text, run + "_bucket", queue=q, job_name="long", le="2.5") == 4
    assert value(text, run + "_bucket", queue=q, job_name="short", le="0.1") == 0
    assert value(text, run + "_bucket", queue=q, job_name="short", le="0.25") == 3
    assert value(text, run + "_bucket", queue=q, job_name="retried", le="0.25") == 0  # the last run only
    assert value(text, run + "_bucket", queue=q, job_name="retried", le="0.5") == 3


def test_bullmq_retries_equal_the_attempts_bullmq_recorded(bull):
    text, q = bull["final"]["keep20"], bull["keep"]
    with redis.Redis.from_url(bull["url"]) as r:
        made = [int(r.hget(f"bull:{q}:{jid.decode()}", "atm") or 0) for jid in r.zrange(f"bull:{q}:completed", 0, -1)]
    assert len(made) == 10 and sum(m - 1 for m in made) == 6
    assert value(text, "scheduler_queue_jobs_retried_total", queue=q) == 6


@pytest.mark.parametrize("exporter", ["remove20", "remove1"])
def test_bullmq_queue_times_do_not_depend_on_scrapes_or_removeOnComplete(bull, exporter):
    """The removed queue keeps nothing; its series equal the kept queue's (sums within 0.3 s: two
    queues, the same sleeps)."""
    assert bull["scrapes"]["keep20"] >= 20
    want = queue_series(bull["final"]["keep20"], bull["keep"])
    got = queue_series(bull["final"][exporter], bull["remove"])
    assert want and got.keys() == want.keys()
    for key, v in want.items():
        if key[0].endswith("_sum"):
            assert abs(got[key] - v) < 0.3 * max(1, want[(key[0][:-4] + "_count", key[1])]), key
        else:
            assert got[key] == v, key


def test_bullmq_longest_running_active_job(queue_redis, tmp_path):
    from .bullmq_jobs import Job, add_jobs

    url, q = queue_redis.url, f"qt-active-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={q}")

    async def run():
        from bullmq import Worker

        started = asyncio.Event()

        async def slow(job, token):
            started.set()
            await asyncio.sleep(30)

        worker = Worker(q, slow, {"connection": url, "name": f"t-{q}"})
        try:
            await add_jobs(url, q, [Job("soccer", 4, 0)])
            await asyncio.wait_for(started.wait(), 20)
            t0 = time.monotonic()
            ages = []
            while time.monotonic() - t0 < 1.6:
                text = await asyncio.to_thread(_scrape, exp)
                ages.append(value(text, "scheduler_queue_longest_active_job_age_seconds", queue=q))
                await asyncio.sleep(0.3)
            return ages, time.monotonic() - t0
        finally:
            await worker.close(force=True)

    try:
        assert value(_scrape(exp), "scheduler_queue_longest_active_job_age_seconds", queue=q) == 0
        ages, spent = asyncio.run(run())
        assert ages == sorted(ages) and ages[-1] - ages[0] >= 1.0
        assert ages[-1] <= spent + 1.0
    finally:
        exp.stop()


def test_job_names_are_bounded(queue_redis, tmp_path):
    """A 100 KB job name and more distinct names than the bound, worked by BullMQ: at most the
    bound's series plus '_other', each name short, the overflow counted."""
    from bullmq import Queue, Worker

    from exporters.scheduler.contract import MAX_DISTINCT_LABEL_VALUES, OVERFLOW

    url, q = queue_redis.url, f"qt-names-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={q}", f"--bullmq.queue={q}-other")
    n = MAX_DISTINCT_LABEL_VALUES + 20

    async def run():
        queue = Queue(q, {"connection": url})
        done = asyncio.Event()
        count: list = []

        async def quick(job, token):
            return {}

        def on_done(*_):
            count.append(1)
            if len(count) >= n + 1:
                done.set()

        worker = Worker(q, quick, {"connection": url, "concurrency": 8})
        worker.on("completed", on_done)
        try:
            await queue.add("x" * 100_000, {}, {"removeOnComplete": True})
            for i in range(n):
                await queue.add(f"name-{i}", {}, {"removeOnComplete": True})
            await asyncio.wait_for(done.wait(), 120)
        finally:
            await worker.close()
            await queue.close()

    try:
        asyncio.run(run())
        deadline = time.monotonic() + 30
        while True:
            text = _scrape(exp)
            if value(text, "scheduler_queue_jobs_completed_total", queue=q) == n + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        names = {
            dict(labels)["job_name"]
            for (name, labels) in samples(text)
            if name == "scheduler_queue_job_duration_seconds_count"
        }
        assert OVERFLOW in names and len(names) <= MAX_DISTINCT_LABEL_VALUES + 1
        assert max(len(s) for s in names) <= 64
        assert value(text, "scheduler_job_label_overflow_total", label="job_name") == 21
        assert value(text, "scheduler_queue_jobs_completed_total", queue=f"{q}-other") == 0  # other queue unaffected
        assert len(text) < 1_000_000
    finally:
        exp.stop()


def test_rq_wait_run_times_retries_and_longest_active(queue_redis, tmp_path):
    import rq

    from .rq_jobs import flaky, generate
    from .rq_worker import SimpleWorker

    conn = redis.Redis.from_url(queue_redis.url)
    q = f"qt-rq-{RUN}"
    queue = rq.Queue(q, connection=conn)
    exp = start_scheduler(tmp_path, f"--redis.addr={queue_redis.url}", f"--rq.queue={q}")
    try:
        for _ in range(2):
            queue.enqueue(generate, {"sport": "golf", "teamCount": 4}, sleep=1.2)
        flaky_job = queue.enqueue(flaky, f"qt-flaky-{RUN}", 2)
        time.sleep(WAITED)  # the wait being measured: no worker yet
        worker = SimpleWorker([queue], connection=conn)  # without the pub/sub listener (rq_worker.py)
        assert worker.work(burst=True)
        deadline = time.monotonic() + 20
        while True:
            text = _scrape(exp)
            if value(text, "scheduler_queue_jobs_completed_total", queue=q) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        flaky_job.refresh()
        assert flaky_job.number_of_retries == 2
        assert value(text, "scheduler_queue_jobs_retried_total", queue=q) == 2
        wait = "scheduler_queue_job_wait_seconds"
        # each run of a retried job is enqueued again: its last run waited little
        assert value(text, wait + "_count", queue=q) == 3
        assert value(text, wait + "_bucket", queue=q, le="1") >= 1
        assert value(text, wait + "_sum", queue=q) >= 2 * WAITED
        run = "scheduler_queue_job_duration_seconds"
        names = {dict(labels)["job_name"] for (n, labels) in samples(text) if n == run + "_count"}
        name = next(n for n in names if n.endswith("rq_jobs.generate"))
        assert value(text, run + "_bucket", queue=q, job_name=name, le="1") == 0
        assert value(text, run + "_bucket", queue=q, job_name=name, le="2.5") == 2
        assert value(text, "scheduler_queue_longest_active_job_age_seconds", queue=q) == 0
    finally:
        exp.stop()


def test_redis_password_file_is_read_again_when_it_changes(queue_redis, tmp_path):
    """--redis.password-file for the flags' backends and a config file's: a wrong password gives
    scheduler_up 0 (the error names the file, never a password); the right one written to the same
    file is used from the next scrape, no restart."""
    import rq

    q = f"qt-pwfile-{RUN}"
    asyncio.run(_add_one(queue_redis.url, q))
    rq.Queue(q, connection=redis.Redis.from_url(queue_redis.url)).enqueue("os.getpid")
    pw = tmp_path / "redis-password"
    pw.write_text("wrong-" + secrets.token_hex(4) + "\n")
    config = tmp_path / "sched.yml"
    config.write_text(
        f"backends:\n  - type: rq\n    name: rq-file\n    redis: redis://{queue_redis.address}\n    queues: [{q}]\n"
    )
    exp = start_scheduler(
        tmp_path,
        f"--redis.addr=redis://{queue_redis.address}",
        f"--redis.password-file={pw}",
        f"--bullmq.queue={q}",
        f"--config.file={config}",
    )
    try:
        text = _scrape(exp)
        assert value(text, "scheduler_up", backend="bullmq") == 0
        assert value(text, "scheduler_up", backend="rq-file") == 0
        pw.write_text(queue_redis.password + "\n")
        text = _scrape(exp)
        assert value(text, "scheduler_up", backend="bullmq") == 1
        assert value(text, "scheduler_up", backend="rq-file") == 1
        assert value(text, "scheduler_queue_jobs", backend="bullmq", queue=q, state="waiting") == 1
        assert value(text, "scheduler_queue_jobs", backend="rq-file", queue=q, state="queued") == 1
        assert queue_redis.password not in text and queue_redis.password not in exp.log()
    finally:
        exp.stop()


def test_a_missing_password_file_is_a_start_up_error(queue_redis, tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporters",
            "scheduler",
            f"--redis.addr={queue_redis.url}",
            "--bullmq.queue=x",
            f"--redis.password-file={tmp_path}/nope",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "password file" in out.stderr and "nope" in out.stderr and len(out.stderr.strip().splitlines()) == 1


async def _add_one(url: str, queue: str) -> None:
    from bullmq import Queue

    q = Queue(queue, {"connection": url})
    try:
        await q.add("one", {})
    finally:
        await q.close()
