"""docs/scheduler.md's first step, run as written: its ACL line makes a Redis user with which the
exporter reads a BullMQ and an RQ queue (worked by their own libraries) with every collector
succeeding, and Redis' ACL LOG records no refusal of that user. Only the password placeholder
``change-me`` and the user name (made unique per run) are replaced."""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex

import redis
import rq

from conftest import ROOT, samples, value

from .bullmq_jobs import Job, run_jobs
from .conftest import start_scheduler
from .rq_jobs import generate
from .rq_worker import SimpleWorker

DOC = ROOT / "docs" / "scheduler.md"


def acl_line() -> str:
    section = DOC.read_text().split("## First step: a read-only Redis user", 1)[1].split("\n## ", 1)[0]
    (line,) = [body.strip() for body in re.findall(r"^```\n(.*?)^```", section, re.M | re.S)]
    return line


def test_read_only_acl_user_as_documented(queue_redis, tmp_path):
    line = acl_line()
    assert line.startswith("ACL SETUSER scheduler-exporter on >change-me ")
    user, password = "scheduler-exporter-" + secrets.token_hex(3), "canary-acl-" + secrets.token_hex(8)
    args = shlex.split(line.replace("scheduler-exporter", user, 1).replace("change-me", password))
    admin = queue_redis.client()
    bull_q, rq_q = "first-step-bull-" + secrets.token_hex(3), "first-step-rq-" + secrets.token_hex(3)
    try:
        assert admin.execute_command(*args) in (True, "OK", b"OK")
        admin.acl_log_reset()
        asyncio.run(run_jobs(queue_redis.url, bull_q, [Job("soccer", 4, 0.05), Job("hockey", 6, 0.05, fail=True)]))
        conn = redis.Redis(host=queue_redis.host, port=queue_redis.port, password=queue_redis.password)
        try:
            queue = rq.Queue(rq_q, connection=conn)
            queue.enqueue(generate, {"sport": "football", "teamCount": 4})
            assert SimpleWorker([queue], connection=conn).work(burst=True)
        finally:
            conn.close()
        exp = start_scheduler(
            tmp_path,
            f"--redis.addr=redis://{user}:{password}@{queue_redis.address}",
            f"--bullmq.queue={bull_q}",
            f"--rq.queue={rq_q}",
        )
        try:
            for _ in range(2):
                text = exp.get().text
            health = exp.get("/health")
            log = exp.log()
        finally:
            exp.stop()
        ups = [v for (name, _), v in samples(text).items() if name == "scheduler_up"]
        assert ups and all(v == 1 for v in ups), text
        success = {
            dict(labels)["collector"]: v
            for (name, labels), v in samples(text).items()
            if name == "scheduler_scrape_collector_success"
        }
        assert success.get("bullmq") == 1 and success.get("rq") == 1, success
        assert value(text, "scheduler_queue_workers", queue=bull_q) == 0  # CLIENT LIST allowed: the gauge is there
        assert value(text, "scheduler_queue_jobs", queue=rq_q, state="finished") == 1
        assert health.status == 200, health.text
        refusals = [e for e in admin.acl_log() if e.get("username") == user]
        assert refusals == [], refusals
        assert password not in log
    finally:
        admin.acl_deluser(user)
        admin.close()
