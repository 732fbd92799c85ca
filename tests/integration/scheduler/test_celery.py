"""Celery with a Redis broker and result backend, worked by a real celery worker (solo pool, its own
process): queue lengths, reserved tasks, and finished tasks counted once from the result backend,
with task events off."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from conftest import samples, value

from .conftest import start_scheduler

RUN = secrets.token_hex(3)
HERE = Path(__file__).parent


def _scrape(exp) -> str:
    resp = exp.get("/metrics")
    assert resp.status == 200
    return resp.text


def _until(exp, predicate, timeout=30.0) -> str:
    end = time.monotonic() + timeout
    while True:
        text = _scrape(exp)
        if predicate(text):
            return text
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.2)


@pytest.fixture
def celery_env(queue_redis):
    url = queue_redis.url + "/5"  # its own database (pub/sub channels are server-wide: see the docs)
    os.environ["CELERY_TEST_REDIS"] = url
    sys.path.insert(0, str(HERE))
    try:
        import celery_tasks

        celery_tasks.app.conf.broker_url = url
        celery_tasks.app.conf.result_backend = url
        yield url, celery_tasks
    finally:
        sys.path.remove(str(HERE))


def test_celery_queue_lengths_reserved_and_finished_tasks_counted_once(celery_env, tmp_path):
    url, tasks = celery_env
    q = f"celery-{RUN}"
    many = start_scheduler(tmp_path, f"--redis.addr={url}", f"--celery.queue={q}")
    once = start_scheduler(tmp_path, f"--redis.addr={url}", f"--celery.queue={q}")
    worker = None
    stop = threading.Event()
    scrapes = []
    try:
        results = [
            tasks.generate.apply_async(({"sport": "soccer", "teamCount": 10},), {"sleep": 0.1}, queue=q)
            for _ in range(3)
        ]
        results.append(tasks.generate.apply_async(({"sport": "hockey", "teamCount": 8},), {"fail": True}, queue=q))
        results.append(tasks.flaky.apply_async(({"sport": "soccer", "teamCount": 10},), queue=q))
        text = _scrape(many)
        assert value(text, "scheduler_queue_jobs", backend="celery", queue=q, state="waiting") == 5
        assert value(text, "scheduler_queue_jobs", backend="celery", queue=q, state="reserved") == 0

        def scraper():
            while not stop.is_set() and len(scrapes) < 20:
                scrapes.append(_scrape(many))
                stop.wait(0.2)

        t = threading.Thread(target=scraper)
        t.start()
        worker = tasks.start_worker(url, q, f"w-{RUN}")
        for r in results:
            try:
                r.get(timeout=60, propagate=False)
            except Exception:
                pass
        t.join(30)

        def done(text):
            return value(text, "scheduler_queue_jobs_completed_total", backend="celery", queue=q) == 4

        text = _until(many, done)
        text_once = _until(once, done)
        for t_ in (text, text_once):
            assert value(t_, "scheduler_queue_jobs_failed_total", backend="celery", queue=q) == 1
            assert value(t_, "scheduler_queue_jobs_retried_total", backend="celery", queue=q) == 2
            assert value(t_, "scheduler_celery_tasks_total", queue=q, task="flextime.generate", state="SUCCESS") == 3
            assert value(t_, "scheduler_celery_tasks_total", queue=q, task="flextime.generate", state="FAILURE") == 1
            assert value(t_, "scheduler_celery_tasks_total", queue=q, task="flextime.flaky", state="SUCCESS") == 1
            # the FlexTime contract from result_extended's args and the result
            assert value(t_, "schedule_generation_failures_total", sport="hockey") == 1
            assert value(t_, "constraint_violations_total", constraint_type="travel", severity="soft") == 3
            assert value(t_, "scheduler_queue_jobs", backend="celery", queue=q, state="waiting") == 0
            # no task events: no run or wait time (docs/scheduler.md, "Celery")
            assert not [
                k
                for k in samples(t_)
                if k[0].startswith("scheduler_queue_job_duration_seconds") and ("backend", "celery") in k[1]
            ]
        assert len(scrapes) >= 5
        assert value(text, "scheduler_up", backend="celery") == 1
        assert value(text, "scheduler_scrape_collector_success", collector="celery") == 1
    finally:
        stop.set()
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        many.stop()
        once.stop()


def test_celery_reserved_tasks_are_the_unacked_ones(celery_env, tmp_path):
    """A task a worker took and has not acknowledged is 'reserved', the others 'waiting'."""
    url, tasks = celery_env
    q = f"celery-res-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--celery.queue={q}")
    worker = None
    try:
        for _ in range(3):
            tasks.generate.apply_async(({"sport": "golf"},), {"sleep": 20}, queue=q)
        worker = tasks.start_worker(url, q, f"r-{RUN}", "--prefetch-multiplier=4")
        # the solo pool takes one task at a time: it is unacknowledged (kombu's "unacked" hash) while it runs
        text = _until(exp, lambda t: value(t, "scheduler_queue_jobs", backend="celery", queue=q, state="reserved") == 1)
        assert value(text, "scheduler_queue_jobs", backend="celery", queue=q, state="waiting") == 2
        with redis.Redis.from_url(url) as r:
            assert r.hlen("unacked") == 1
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(20)
        exp.stop()
