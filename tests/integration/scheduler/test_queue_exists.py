"""A configured BullMQ or RQ queue that does not exist (a typo in --bullmq.queue) must not look
like an idle one: ``scheduler_queue_exists{backend,queue}`` says 0, one warning line says so, and
one line says when it appears. Queues are made by the queues' own libraries."""

from __future__ import annotations

import asyncio
import secrets

import redis
import rq

from conftest import value

from .bullmq_jobs import Job, add_jobs
from .conftest import start_scheduler
from .rq_jobs import generate

RUN = secrets.token_hex(3)


def _exists(text: str, queue: str) -> float | None:
    return value(text, "scheduler_queue_exists", queue=queue)


def _check(exp, present: str, typo: str, later):
    for _ in range(3):
        text = exp.get().text
        assert _exists(text, present) == 1 and _exists(text, typo) == 0, text
        assert value(text, "scheduler_queue_jobs", queue=typo, state="failed") == 0  # served as before
    log = exp.log()
    assert log.count(f"queue '{typo}' does not exist") == 1, log  # one line, not one per scrape
    later()  # the queue appears (the application's first job under that name)
    assert _exists(exp.get().text, typo) == 1
    assert exp.get().status == 200
    assert exp.log().count(f"queue '{typo}' exists now") == 1, exp.log()


def test_bullmq_queue_that_does_not_exist(queue_redis, tmp_path):
    present, typo = f"exists-bull-{RUN}", f"exsits-bull-{RUN}"
    asyncio.run(add_jobs(queue_redis.url, present, [Job("soccer", 4, 0.1)]))
    exp = start_scheduler(
        tmp_path, f"--redis.addr={queue_redis.url}", f"--bullmq.queue={present}", f"--bullmq.queue={typo}"
    )
    try:
        _check(exp, present, typo, lambda: asyncio.run(add_jobs(queue_redis.url, typo, [Job("soccer", 4, 0.1)])))
    finally:
        exp.stop()


def test_rq_queue_that_does_not_exist(queue_redis, tmp_path):
    present, typo = f"exists-rq-{RUN}", f"exsits-rq-{RUN}"
    conn = redis.Redis(host=queue_redis.host, port=queue_redis.port, password=queue_redis.password)
    try:
        rq.Queue(present, connection=conn).enqueue(generate, {"sport": "football", "teamCount": 4})
        exp = start_scheduler(
            tmp_path, f"--redis.addr={queue_redis.url}", f"--rq.queue={present}", f"--rq.queue={typo}"
        )
        try:
            _check(
                exp,
                present,
                typo,
                lambda: rq.Queue(typo, connection=conn).enqueue(generate, {"sport": "football", "teamCount": 4}),
            )
        finally:
            exp.stop()
    finally:
        conn.close()
