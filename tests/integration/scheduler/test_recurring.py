"""Recurring jobs (BullMQ job schedulers) made and worked by the bullmq library: when each last ran,
when it is due next, and overdue once its worker stops; a pattern that does not parse is logged
once and costs only its own interval."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import redis
import yaml

from conftest import Prometheus, samples, value

from .conftest import start_scheduler

RUN = secrets.token_hex(3)
RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts" / "scheduler.yml"
EVERY_MS = 2000


def maybe(text: str, name: str, **labels) -> float | None:
    """The sample ``name{labels}``, or None when the scrape does not have it."""
    found = [
        v
        for (n, labels_), v in samples(text).items()
        if n == name and all(dict(labels_).get(k) == w for k, w in labels.items())
    ]
    assert len(found) <= 1
    return found[0] if found else None


def _scrape(exp) -> str:
    resp = exp.get("/metrics")
    assert resp.status == 200
    return resp.text


async def _schedulers(url: str, queue: str, runs: int) -> None:
    """A job scheduler every 2 s and a cron one (every minute), worked until the first has run ``runs`` times;
    then the worker stops and the schedulers stay."""
    from bullmq import Queue, Worker

    q = Queue(queue, {"connection": url})
    done: list = []
    enough = asyncio.Event()

    async def work(job, token):
        return {}

    def on_done(job, *_):
        if job.name == "tick":
            done.append(1)
            if len(done) >= runs:
                enough.set()

    worker = Worker(queue, work, {"connection": url, "name": f"t-{queue}"})
    worker.on("completed", on_done)
    try:
        await q.upsertJobScheduler("every-2s", {"every": EVERY_MS}, "tick", {"sport": "soccer"})
        await q.upsertJobScheduler("nightly", {"pattern": "0 3 * * *"}, "nightly", {})
        await asyncio.wait_for(enough.wait(), 30)
    finally:
        await worker.close()
        await q.close()


def _missed_rule_held(tmp_path: Path, hold: str) -> Path:
    """The shipped alert file with SchedulerRecurringJobMissed's ``for:`` shortened to ``hold``: the
    expression, labels and annotations are the shipped ones (promtool's unit test covers the 2 minutes)."""
    rules = yaml.safe_load(RULES.read_text())
    held = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "SchedulerRecurringJobMissed"]
    assert len(held) == 1 and held[0]["for"] == "2m"
    held[0]["for"] = hold
    path = tmp_path / "scheduler-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    return path


def test_job_schedulers_last_next_interval_and_overdue_when_the_worker_stops(queue_redis, tmp_path):
    url, q = queue_redis.url, f"rec-{RUN}"
    other = f"rec-other-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={q}", f"--bullmq.queue={other}")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{str(_missed_rule_held(tmp_path, '3s'))!r}]\n"
        f"scrape_configs:\n  - job_name: scheduler\n    static_configs: [{{targets: ['127.0.0.1:{exp.port}']}}]\n"
    )
    prom = None
    try:
        prom = Prometheus.with_config(tmp_path / "prom", config)
        asyncio.run(_schedulers(url, q, runs=2))
        stopped = time.time()
        deadline = time.monotonic() + 10
        while True:  # the events of the last run are read at the next scrape
            text = _scrape(exp)
            last = maybe(text, "scheduler_recurring_job_last_run_timestamp_seconds", queue=q, recurring_job="every-2s")
            if last is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert last is not None and stopped - 5 <= last <= stopped + 0.5
        nxt = value(text, "scheduler_recurring_job_next_run_timestamp_seconds", queue=q, recurring_job="every-2s")
        assert stopped - 1 <= nxt <= stopped + EVERY_MS / 1000 + 1
        assert value(text, "scheduler_recurring_job_interval_seconds", queue=q, recurring_job="every-2s") == 2
        assert value(text, "scheduler_recurring_job_interval_seconds", queue=q, recurring_job="nightly") == 86400
        assert value(text, "scheduler_recurring_job_overdue", queue=q, recurring_job="nightly") == 0
        # no worker: the next slot passes; overdue within one interval after it (grace: half the interval)
        deadline = time.monotonic() + 3 * EVERY_MS / 1000
        while True:
            text = _scrape(exp)
            if value(text, "scheduler_recurring_job_overdue", queue=q, recurring_job="every-2s") == 1:
                break
            assert time.monotonic() < deadline, "never overdue"
            time.sleep(0.2)
        assert time.time() <= nxt + EVERY_MS / 1000 + 0.5
        assert value(text, "scheduler_recurring_job_overdue", queue=q, recurring_job="nightly") == 0
        # the shipped rule, on a real Prometheus, held 3 s instead of its 2 minutes: pending, then firing
        alerts = prom.wait('ALERTS{alertname="SchedulerRecurringJobMissed"}', timeout=20)
        assert [(a["metric"]["queue"], a["metric"]["recurring_job"]) for a in alerts] == [(q, "every-2s")]
        firing = prom.wait('ALERTS{alertname="SchedulerRecurringJobMissed",alertstate="firing"}', timeout=30)
        assert [(a["metric"]["queue"], a["metric"]["recurring_job"], a["metric"]["severity"]) for a in firing] == [
            (q, "every-2s", "warning")
        ]
    finally:
        if prom is not None:
            prom.stop()
        exp.stop()


def test_a_pattern_that_does_not_parse_is_logged_once_and_costs_only_its_interval(queue_redis, tmp_path):
    """BullMQ's Node cron parser and ours differ on exotic patterns; a corrupted record must not matter
    either: the job scheduler is made by bullmq, then its stored pattern is overwritten."""
    from bullmq import Queue

    url, q, good = queue_redis.url, f"rec-bad-{RUN}", f"rec-good-{RUN}"

    async def make():
        for name in (q, good):
            queue = Queue(name, {"connection": url})
            try:
                await queue.upsertJobScheduler("hourly", {"pattern": "0 * * * *"}, "hourly", {})
            finally:
                await queue.close()

    asyncio.run(make())
    with redis.Redis.from_url(url) as r:
        r.hset(f"bull:{q}:repeat:hourly", "pattern", "every full moon " + "x" * 10_000)
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={q}", f"--bullmq.queue={good}")
    try:
        for _ in range(3):
            text = _scrape(exp)
            assert value(text, "scheduler_scrape_collector_success", collector="bullmq") == 1
            assert (
                value(text, "scheduler_recurring_job_next_run_timestamp_seconds", queue=q, recurring_job="hourly")
                is not None
            )
            assert maybe(text, "scheduler_recurring_job_interval_seconds", queue=q, recurring_job="hourly") is None
            assert value(text, "scheduler_recurring_job_overdue", queue=q, recurring_job="hourly") == 0
            assert value(text, "scheduler_recurring_job_interval_seconds", queue=good, recurring_job="hourly") == 3600
        log = exp.log()
        lines = [line for line in log.splitlines() if "does not parse" in line]
        assert len(lines) == 1 and len(lines[0]) < 500 and q in lines[0]
        assert not [k for k in samples(text) if "x" * 100 in str(k)]
    finally:
        exp.stop()


def test_rq_scheduler_periodic_job_last_next_and_overdue_without_the_scheduler(queue_redis, tmp_path):
    """rq-scheduler schedules a job every 2 s; its scheduler enqueues it once and an RQ worker runs it;
    then the scheduler is not run again: the job turns overdue within one interval."""
    import rq
    from rq_scheduler import Scheduler

    from .rq_jobs import generate
    from .rq_worker import SimpleWorker

    conn = redis.Redis.from_url(queue_redis.url)
    q = f"rec-rq-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={queue_redis.url}", f"--rq.queue={q}")
    scheduler = Scheduler(queue_name=q, connection=conn)
    job = None
    try:
        from datetime import datetime, timezone

        job = scheduler.schedule(
            datetime.now(timezone.utc), generate, args=[{"sport": "golf"}], interval=2, queue_name=q
        )
        scheduler.enqueue_jobs()  # what `rqscheduler` does each poll: enqueue the due job, schedule the next
        SimpleWorker([rq.Queue(q, connection=conn)], connection=conn).work(burst=True)
        ran = time.time()
        text = _scrape(exp)
        name = job.id
        assert value(text, "scheduler_recurring_job_interval_seconds", backend="rq", queue=q, recurring_job=name) == 2
        assert (
            ran - 5
            <= value(
                text, "scheduler_recurring_job_last_run_timestamp_seconds", backend="rq", queue=q, recurring_job=name
            )
            <= ran + 0.5
        )
        nxt = value(
            text, "scheduler_recurring_job_next_run_timestamp_seconds", backend="rq", queue=q, recurring_job=name
        )
        assert ran - 1 <= nxt <= ran + 3
        deadline = time.monotonic() + 8
        while value(_scrape(exp), "scheduler_recurring_job_overdue", backend="rq", queue=q, recurring_job=name) != 1:
            assert time.monotonic() < deadline, "never overdue"
            time.sleep(0.2)
        assert time.time() <= nxt + 2 + 0.5  # within one interval after the missed slot
    finally:
        if job is not None:
            scheduler.cancel(job)
        conn.close()
        exp.stop()
