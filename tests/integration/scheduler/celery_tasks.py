"""The Celery app and tasks of tests/integration/scheduler/test_celery.py: a Redis broker and result
backend (``CELERY_TEST_REDIS``), result_extended on, task events off (Celery's default)."""

import os
import time

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
