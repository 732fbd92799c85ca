"""The RQ backend against a real Redis 7, with queues filled and worked by rq itself.

Workers are rq's SimpleWorker in burst mode in the test process (main thread; the job
functions are in rq_jobs.py); the exporters are real ``flextime-exporter scheduler``
processes, logged in as an ACL user that may not run write commands or scripts."""

from __future__ import annotations

import datetime
import secrets
import threading
import time

import pytest
import redis  # noqa: E402  (test dependencies: a missing one is an error, never a skip)
import rq  # noqa: E402
from redis_tests.conftest import CANARY_PREFIX, _binary_version, debian_redis_binary
from redis_tests.conftest import _cleanup as _redis_cleanup
from redis_tests.conftest import _new_server as _new_redis

from conftest import samples, value

from .conftest import start_scheduler
from .rq_jobs import generate
from .rq_worker import SimpleWorker

# (sport, teamCount, sleep, fail, violations)
JOBS = [
    ("football", 12, 0.1, False, [{"type": "travel", "severity": "hard"}]),
    ("football", 12, 0.2, False, []),
    ("football", 16, 1.2, False, [{"type": "travel", "severity": "hard"}, {"type": "rest", "severity": "soft"}]),
    ("basketball", 10, 0.3, False, [{"type": "rest", "severity": "soft"}]),
    ("basketball", 10, 0.1, True, None),
    ("football", 12, 0.1, True, None),
    ("volleyball", 8, 1.1, False, []),
]


def _sync_redis(server, **kw):
    return redis.Redis(host=server.host, port=server.port, password=server.password, **kw)


def _worker(conn, *queues):
    """rq's SimpleWorker without its pub/sub listener, whose close could take a minute (rq_worker.py)."""
    return SimpleWorker([rq.Queue(q, connection=conn) for q in queues], connection=conn)


@pytest.fixture(scope="module")
def readonly_url(queue_redis):
    """An ACL user that may read everything but not write or run scripts."""
    user, password = "rq-readonly", CANARY_PREFIX + secrets.token_hex(8)
    admin = queue_redis.client()
    admin.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all", "-@write", "-@scripting"],
        reset=True,
    )
    admin.acl_log_reset()
    yield f"redis://{user}:{password}@{queue_redis.address}", user
    admin.acl_deluser(user)
    admin.close()


def _scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200
    return resp.text


def test_rq_counters_gauges_and_exactly_once(queue_redis, readonly_url, tmp_path):
    url, user = readonly_url
    conn = _sync_redis(queue_redis)
    q = "rqt-" + secrets.token_hex(4)
    qttl = q + "-ttl"
    queue, queue_ttl = rq.Queue(q, connection=conn), rq.Queue(qttl, connection=conn)

    # finished before the exporters start: never counted
    queue.enqueue(generate, {"sport": "early", "teamCount": 4}, sleep=0.0)
    queue.enqueue(generate, {"sport": "early", "teamCount": 4}, fail=True)
    assert _worker(conn, q).work(burst=True)
    time.sleep(1.1)  # the exporter's start time is after these jobs' ended_at

    args = ("--rq.queue", q, "--rq.queue", qttl, "--redis.addr", url)
    many, once = start_scheduler(tmp_path, *args), start_scheduler(tmp_path, *args)
    try:
        first = _scrape(many)
        assert value(first, "scheduler_up", backend="rq") == 1
        assert value(first, "scheduler_queue_jobs_completed_total", backend="rq", queue=q) == 0
        assert value(first, "scheduler_queue_jobs_failed_total", backend="rq", queue=q) == 0
        assert value(first, "scheduler_queue_jobs", backend="rq", queue=q, state="finished") == 1

        for sport, teams, sleep, fail, violations in JOBS:
            queue.enqueue(generate, {"sport": sport, "teamCount": teams}, sleep=sleep, fail=fail, violations=violations)
        queue.enqueue(generate, "not-a-dict", sleep=0.1)  # data without the contract's fields
        queue.enqueue(generate, {"sport": "football", "when": datetime.datetime(2024, 1, 1)}, sleep=0.1)  # a global
        for _ in range(3):
            queue_ttl.enqueue(generate, {"sport": "hockey", "teamCount": 6}, sleep=0.05, result_ttl=1)

        # the queued state and the oldest waiting age, before any worker runs
        text = _scrape(many)
        assert value(text, "scheduler_queue_jobs", backend="rq", queue=q, state="queued") == len(JOBS) + 2
        age0 = value(text, "scheduler_queue_oldest_waiting_job_age_seconds", backend="rq", queue=q)
        time.sleep(1.0)
        age1 = value(_scrape(many), "scheduler_queue_oldest_waiting_job_age_seconds", backend="rq", queue=q)
        assert 0.9 <= age1 - age0 <= 3.0, (age0, age1)

        # work the queues (main thread) while another thread scrapes `many` every 0.2 s until the
        # worker is done (20 scrapes at least, 200 at most): the hockey jobs' entries (result_ttl 1)
        # are read while they last, however slow the machine
        scrapes: list[str] = []
        worked = threading.Event()

        def scrape_loop():
            while len(scrapes) < 200 and not (worked.is_set() and len(scrapes) >= 20):
                scrapes.append(_scrape(many))
                time.sleep(0.2)

        t = threading.Thread(target=scrape_loop)
        t.start()
        t0 = time.monotonic()
        try:
            assert _worker(conn, q, qttl).work(burst=True)
        finally:
            worked.set()
        work_time = time.monotonic() - t0
        t.join(30)
        assert not t.is_alive() and len(scrapes) >= 20
        assert any(value(s, "scheduler_queue_jobs", backend="rq", queue=q, state="started") == 1 for s in scrapes)
        assert work_time < 15

        # let the hockey jobs' results expire (result_ttl 1 s), then a worker cleans the registry up
        time.sleep(2.5)
        assert _worker(conn, qttl).work(burst=True) is False  # nothing to do; runs the registry cleanup
        assert conn.zcard(f"rq:finished:{qttl}") == 0

        final_many = _scrape(many)
        final_once = _scrape(once)
    finally:
        many.stop()
        once.stop()

    def counters(text):
        keep = (
            "schedule_generation",
            "constraint_violations_total",
            "scheduler_queue_jobs_completed_total",
            "scheduler_queue_jobs_failed_total",
            "scheduler_jobs_undecodable_total",
        )
        return {k: v for k, v in samples(text).items() if k[0].startswith(keep)}

    c = counters(final_many)

    # scraped 20+ times or once: the same counters, except the hockey jobs whose results expired
    # and were cleaned up before `once` ever read them
    def main_queue(cs):
        return {k: v for k, v in cs.items() if ("queue", qttl) not in k[1] and ("sport", "hockey") not in k[1]}

    assert main_queue(c) == main_queue(counters(final_once))
    assert len(main_queue(c)) > 40
    # ... and the short result_ttl did not lower the counters of the exporter that read them in time
    assert value(final_many, "scheduler_queue_jobs_completed_total", backend="rq", queue=qttl) == 3
    assert value(final_many, "schedule_generation_duration_seconds_count", sport="hockey", team_count="6") == 3

    t = final_many
    assert value(t, "scheduler_queue_jobs_completed_total", backend="rq", queue=q) == 7  # 5 + 2 unknown
    assert value(t, "scheduler_queue_jobs_failed_total", backend="rq", queue=q) == 2
    assert value(t, "schedule_generation_failures_total", sport="basketball") == 1
    assert value(t, "schedule_generation_failures_total", sport="football") == 1
    assert not any(dict(k[1]).get("sport") == "early" for k in samples(t))
    assert value(t, "constraint_violations_total", constraint_type="travel", severity="hard") == 2
    assert value(t, "constraint_violations_total", constraint_type="rest", severity="soft") == 2
    # histograms: counts, buckets 1 and 5, sums within tolerance of the known sleeps
    expected = {}
    for sport, teams, sleep, fail, _ in JOBS:
        if not fail:
            expected.setdefault((sport, str(teams)), []).append(sleep)
    expected[("unknown", "unknown")] = [0.1, 0.1]
    for (sport, teams), sleeps in expected.items():
        lab = dict(sport=sport, team_count=teams)
        assert value(t, "schedule_generation_duration_seconds_count", **lab) == len(sleeps)
        total = value(t, "schedule_generation_duration_seconds_sum", **lab)
        assert sum(sleeps) - 0.01 <= total <= sum(sleeps) + 0.15 * len(sleeps), (lab, total)
        assert value(t, "schedule_generation_duration_seconds_bucket", le="1", **lab) == sum(1 for s in sleeps if s < 1)
        assert value(t, "schedule_generation_duration_seconds_bucket", le="5", **lab) == len(sleeps)
    assert value(t, "scheduler_jobs_undecodable_total", backend="rq", queue=q, part="data") == 1
    # gauges after the run
    assert value(t, "scheduler_queue_jobs", backend="rq", queue=q, state="queued") == 0
    assert value(t, "scheduler_queue_jobs", backend="rq", queue=q, state="finished") == 8
    assert value(t, "scheduler_queue_jobs", backend="rq", queue=q, state="failed") == 3
    assert value(t, "scheduler_queue_oldest_waiting_job_age_seconds", backend="rq", queue=q) == 0
    assert value(t, "scheduler_queue_paused", backend="rq", queue=q) == 0
    assert value(t, "scheduler_queue_workers", backend="rq", queue=q) == 0
    assert value(t, "scheduler_queue_stalled_jobs", backend="rq", queue=q) == 0
    assert value(t, "scheduler_queue_overdue_jobs", backend="rq", queue=q) == 0
    # read-only: the ACL user was never refused a command
    admin = queue_redis.client()
    try:
        refused = [e for e in admin.acl_log() if e.get("username") == user]
    finally:
        admin.close()
    assert not refused, refused[:3]
    conn.close()


def test_rq_scheduled_suspended_workers(queue_redis, readonly_url, tmp_path):
    url, _ = readonly_url
    conn = _sync_redis(queue_redis)
    q = "rqt-" + secrets.token_hex(4)
    queue = rq.Queue(q, connection=conn)
    queue.enqueue_at(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30), generate, {})
    queue.enqueue_in(datetime.timedelta(hours=1), generate, {})
    worker = _worker(conn, q)
    worker.register_birth()  # a live worker hash and rq:workers:<q> membership
    gone = _worker(conn, q)
    gone.register_birth()
    conn.delete(gone.key)  # as when its hash expires after a SIGKILL: a stale member of rq:workers:<q>
    from rq.suspension import resume, suspend

    suspend(conn)
    exp = start_scheduler(tmp_path, "--rq.queue", q, "--redis.addr", url)
    try:
        t = _scrape(exp)
        assert value(t, "scheduler_queue_jobs", backend="rq", queue=q, state="scheduled") == 2
        assert value(t, "scheduler_queue_overdue_jobs", backend="rq", queue=q) == 1
        assert value(t, "scheduler_queue_workers", backend="rq", queue=q) == 1
        assert value(t, "scheduler_queue_paused", backend="rq", queue=q) == 1
        resume(conn)
        assert value(_scrape(exp), "scheduler_queue_paused", backend="rq", queue=q) == 0
        found = start_scheduler(tmp_path, "--rq.discover", "--redis.addr", url)  # every queue in rq:queues
        try:
            assert value(_scrape(found), "scheduler_queue_jobs", backend="rq", queue=q, state="scheduled") == 2
        finally:
            found.stop()
    finally:
        exp.stop()
        resume(conn)
        worker.register_death()
        conn.close()


def test_rq_redis_down_reports_up_0(tmp_path):
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    server = _new_redis("rq-fault", "master", binary, flavor, version, CANARY_PREFIX + secrets.token_hex(12))
    server.start()
    exp = None
    try:
        conn = _sync_redis(server)
        q = "rqt-fault"
        exp = start_scheduler(tmp_path, "--rq.queue", q, "--redis.addr", server.url)
        assert value(_scrape(exp), "scheduler_up", backend="rq") == 1
        server.stop()
        resp = exp.get()
        assert resp.status == 200
        assert value(resp.text, "scheduler_up", backend="rq") == 0
        assert server.password not in resp.text and server.password not in exp.log()
        server.start()
        conn = _sync_redis(server)  # the restarted server kept nothing: a new job
        rq.Queue(q, connection=conn).enqueue(generate, {"sport": "rugby", "teamCount": 6})
        assert _worker(conn, q).work(burst=True)
        t = _scrape(exp)
        assert value(t, "scheduler_up", backend="rq") == 1
        assert value(t, "scheduler_queue_jobs_completed_total", backend="rq", queue=q) == 1
        assert value(t, "schedule_generation_duration_seconds_count", sport="rugby", team_count="6") == 1
        conn.close()
    finally:
        if exp is not None:
            exp.stop()
        _redis_cleanup(server)
