"""The Celery app and tasks of tests/integration/scheduler/test_celery.py: a Redis broker and result
backend (``CELERY_TEST_REDIS``), result_extended on, task events off (Celery's default)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from celery import Celery

app = Celery(
    "flextime-test",
    broker=os.environ.get("CELERY_TEST_REDIS", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("CELERY_TEST_REDIS", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    result_extended=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_send_task_events=False,
    task_send_sent_event=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="flextime.generate")
def generate(params, sleep=0.0, fail=False):
    time.sleep(sleep)
    if fail:
        raise RuntimeError("no feasible schedule")
    return {"constraintViolations": [{"type": "travel", "severity": "soft"}]}


@app.task(name="flextime.flaky", bind=True, max_retries=3)
def flaky(self, params):
    if self.request.retries < 2:
        raise self.retry(countdown=0)
    return {"constraintViolations": []}


def start_worker(url: str, queues: str, name: str, *extra: str) -> subprocess.Popen:
    """A real ``celery worker`` of this app (solo pool, no heartbeat, gossip or mingle) on the
    comma-separated ``queues``, with ``url`` as broker and result backend; the caller stops it."""
    here = Path(__file__).resolve().parent
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_tasks",
            "worker",
            "-P",
            "solo",
            "-Q",
            queues,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            *extra,
            "-n",
            f"{name}@localhost",
            "--loglevel=WARNING",
        ],
        cwd=here,
        env={**os.environ, "CELERY_TEST_REDIS": url, "PYTHONPATH": str(here)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
