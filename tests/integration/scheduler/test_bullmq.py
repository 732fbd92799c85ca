"""``flextime-exporter scheduler`` on BullMQ queues filled and worked by the bullmq library.

Every queue name carries a per-run suffix: the Redis is shared by the session's tests."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from conftest import Prometheus, samples, value

from .bullmq_jobs import Job, add_jobs, pause, run_jobs
from .conftest import start_scheduler

RUN = secrets.token_hex(3)
HERE = Path(__file__).parent

# (sport, teamCount, seconds, fail, violations): what the workers do, and so what the metrics must say
VENUE = {"type": "venue_conflict", "severity": "hard"}
REST = {"type": "rest_days", "severity": "soft"}
JOBS = [
    *[Job("soccer", 12, 0.3, violations=[VENUE, REST]) for _ in range(4)],
    *[Job("basketball", 8, 1.2) for _ in range(2)],
    *[Job("hockey", 16, 0.4, fail=True) for _ in range(2)],
    Job(None, 4, 0.3, violations=[VENUE]),  # no sport in its data: counted under sport="unknown"
]
COUNTER_PREFIXES = (
    "schedule_generation_",
    "constraint_violations_total",
    "scheduler_queue_jobs_completed_total",
    "scheduler_queue_jobs_failed_total",
)


def counters(text: str, queue_label: str | None = None) -> dict:
    """The exporter-derived counters and the histogram of a scrape (queue label dropped)."""
    out = {}
    for (name, labels), v in samples(text).items():
        if name.startswith(COUNTER_PREFIXES):
            out[(name, tuple(kv for kv in labels if kv[0] != "queue"))] = v
    return out


def processing_seconds(url: str, queue: str) -> dict[str, float]:
    """sport -> the summed finishedOn - processedOn of the queue's completed jobs, as BullMQ stored them."""
    with redis.Redis.from_url(url) as r:
        ids = r.zrange(f"bull:{queue}:completed", 0, -1)
        out: dict[str, float] = {}
        for jid in ids:
            data, processed, finished = r.hmget(f"bull:{queue}:{jid.decode()}", "data", "processedOn", "finishedOn")
            sport = json.loads(data).get("sport") or "unknown"
            out[sport] = out.get(sport, 0.0) + (int(finished) - int(processed)) / 1000
    return out


def _scrape(exp) -> str:
    resp = exp.get("/metrics")
    assert resp.status == 200, resp.status
    return resp.text


@pytest.fixture(scope="module")
def worked(queue_redis, tmp_path_factory):
    """Two queues given the same jobs, one keeping finished jobs and one removing them
    (removeOnComplete / removeOnFail); for each, an exporter scraped 20 times during the run
    and one scraped only at the end. All four started before the first job."""
    url = queue_redis.url
    keep, remove = f"sched-keep-{RUN}", f"sched-remove-{RUN}"
    tmp = tmp_path_factory.mktemp("bullmq")
    exps = {
        name: start_scheduler(tmp, f"--redis.addr={url}", f"--bullmq.queue={queue}")
        for name, queue in (("keep20", keep), ("keep1", keep), ("remove20", remove), ("remove1", remove))
    }
    scrapes = {"keep20": 0, "remove20": 0}
    stop = threading.Event()

    def scraper():  # 20 scrapes each, spread over the run (which takes about 3 s)
        for _ in range(20):
            for name in scrapes:
                _scrape(exps[name])
                scrapes[name] += 1
            stop.wait(0.15)

    t = threading.Thread(target=scraper)
    started = time.monotonic()
    t.start()

    async def both():
        await asyncio.gather(
            run_jobs(url, keep, JOBS), run_jobs(url, remove, JOBS, {"removeOnComplete": True, "removeOnFail": True})
        )

    try:
        asyncio.run(both())
        t.join(30)
        run_seconds = time.monotonic() - started
        final = {name: _scrape(exp) for name, exp in exps.items()}
        yield {
            "final": final,
            "scrapes": scrapes,
            "run_seconds": run_seconds,
            "keep": keep,
            "remove": remove,
            "exps": exps,
            "url": url,
        }
    finally:
        stop.set()
        for exp in exps.values():
            exp.stop()


def test_histogram_failures_and_violations_match_what_the_workers_did(worked):
    text = worked["final"]["keep20"]
    h = "schedule_generation_duration_seconds"
    soccer, basketball, unknown = (
        {"sport": "soccer", "team_count": "12"},
        {"sport": "basketball", "team_count": "8"},
        {"sport": "unknown", "team_count": "4"},
    )
    assert value(text, h + "_count", **soccer) == 4
    assert value(text, h + "_bucket", le="1", **soccer) == 4
    assert value(text, h + "_count", **basketball) == 2
    assert value(text, h + "_bucket", le="1", **basketball) == 0
    assert value(text, h + "_bucket", le="5", **basketball) == 2
    assert value(text, h + "_count", **unknown) == 1
    # finished minus started processing (BullMQ's finishedOn - processedOn, read back from the kept
    # jobs), which is at least the worker's sleep
    spent = processing_seconds(worked["url"], worked["keep"])
    assert 4 * 0.3 <= value(text, h + "_sum", **soccer) == pytest.approx(spent["soccer"], abs=0.001)
    assert 2 * 1.2 <= value(text, h + "_sum", **basketball) == pytest.approx(spent["basketball"], abs=0.001)
    # failed jobs are not durations; they are failures of their sport
    assert not [k for k in samples(text) if k[0].startswith(h) and ("sport", "hockey") in k[1]]
    assert value(text, "schedule_generation_failures_total", sport="hockey") == 2
    assert value(text, "schedule_generation_failures_total", sport="soccer") == 0  # known sport, shown at 0
    assert value(text, "constraint_violations_total", constraint_type="venue_conflict", severity="hard") == 5
    assert value(text, "constraint_violations_total", constraint_type="rest_days", severity="soft") == 4
    assert value(text, "scheduler_queue_jobs_completed_total", queue=worked["keep"]) == 7
    assert value(text, "scheduler_queue_jobs_failed_total", queue=worked["keep"]) == 2
    assert value(text, "scheduler_queue_jobs", queue=worked["keep"], state="completed") == 7
    assert value(text, "scheduler_queue_jobs", queue=worked["keep"], state="failed") == 2
    assert value(text, "scheduler_queue_jobs", queue=worked["keep"], state="waiting") == 0
    assert value(text, "scheduler_up", backend="bullmq") == 1


def test_counters_do_not_depend_on_how_often_the_exporter_is_scraped(worked):
    assert worked["scrapes"]["keep20"] == 20
    final = worked["final"]
    assert counters(final["keep20"]) == counters(final["keep1"])
    assert counters(final["keep20"])  # not two empty dicts


def assert_same_counters(text, reference):
    got, want = counters(text), counters(reference)
    assert got.keys() == want.keys()
    for key, v in want.items():
        if key[0].endswith("_sum"):  # two queues, two runs: the same sleeps, not the same milliseconds
            assert abs(got[key] - v) < 0.3, key
        else:
            assert got[key] == v, key


@pytest.mark.parametrize("exporter", ["remove20", "remove1"])
def test_counters_are_the_same_when_the_queue_removes_finished_jobs(worked, exporter):
    """removeOnComplete / removeOnFail delete each job as it finishes: the queue keeps nothing,
    yet scraped 20 times or only once at the end, every count, duration, violation and label is
    the same as on the queue that keeps its jobs (the events stream keeps results and times; the
    follower read each job's sport and team count while it existed)."""
    text = worked["final"][exporter]
    assert value(text, "scheduler_queue_jobs", queue=worked["remove"], state="completed") == 0
    assert value(text, "scheduler_queue_jobs", queue=worked["remove"], state="failed") == 0
    assert_same_counters(text, worked["final"]["keep20"])


def test_jobs_finished_before_the_exporter_started_are_not_counted(worked, tmp_path):
    exp = start_scheduler(tmp_path, f"--redis.addr={worked['url']}", f"--bullmq.queue={worked['keep']}")
    try:
        text = _scrape(exp)
        assert value(text, "scheduler_queue_jobs_completed_total", queue=worked["keep"]) == 0
        assert value(text, "scheduler_queue_jobs", queue=worked["keep"], state="completed") == 7
    finally:
        exp.stop()


def test_state_gauges_oldest_age_overdue_and_paused(queue_redis, tmp_path):
    url = queue_redis.url
    idle, paused = f"sched-idle-{RUN}", f"sched-paused-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={idle}", f"--bullmq.queue={paused}")
    try:
        text = _scrape(exp)  # queues that do not exist yet: zeros, not errors
        assert value(text, "scheduler_queue_jobs", queue=idle, state="waiting") == 0
        assert value(text, "scheduler_queue_oldest_waiting_job_age_seconds", queue=idle) == 0
        added = time.time()
        jobs = [Job("soccer", 10, 1)] * 3 + [Job("tennis", 4, 1), Job("golf", 6, 1)]
        asyncio.run(add_jobs(url, idle, jobs, [{}, {}, {}, {"priority": 5}, {"delay": 100}]))
        asyncio.run(add_jobs(url, paused, [Job("rugby", 8, 1)] * 2))
        asyncio.run(pause(url, paused))
        time.sleep(1.5)
        text = _scrape(exp)
        age = time.time() - added
        jobs_of = {
            s: value(text, "scheduler_queue_jobs", queue=idle, state=s)
            for s in ("waiting", "prioritized", "delayed", "active", "completed", "failed", "paused")
        }
        assert jobs_of == {
            "waiting": 3,
            "prioritized": 1,
            "delayed": 1,
            "active": 0,
            "completed": 0,
            "failed": 0,
            "paused": 0,
        }
        oldest = value(text, "scheduler_queue_oldest_waiting_job_age_seconds", queue=idle)
        assert 1.4 <= oldest <= age + 0.1
        assert value(text, "scheduler_queue_overdue_jobs", queue=idle) == 1  # nobody promoted the delayed job
        assert value(text, "scheduler_queue_paused", queue=idle) == 0
        assert value(text, "scheduler_queue_paused", queue=paused) == 1
        held = value(text, "scheduler_queue_jobs", queue=paused, state="paused") + value(
            text, "scheduler_queue_jobs", queue=paused, state="waiting"
        )
        assert held == 2
        assert value(text, "scheduler_queue_workers", queue=idle) == 0
        assert value(text, "active_scheduling_sessions") == 0
    finally:
        exp.stop()


def test_workers_active_jobs_and_a_stalled_job_of_a_killed_worker(queue_redis, tmp_path):
    url = queue_redis.url
    queue = f"sched-stall-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={queue}")
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "bullmq_jobs.py"), url, queue, "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        asyncio.run(add_jobs(url, queue, [Job("cricket", 10, 1)]))
        deadline = time.monotonic() + 20
        while True:
            text = _scrape(exp)
            if value(text, "scheduler_queue_jobs", queue=queue, state="active") == 1:
                break
            assert time.monotonic() < deadline, "the worker never took the job"
            time.sleep(0.2)
        assert value(text, "scheduler_queue_workers", queue=queue) == 1  # one named worker, two connections
        assert value(text, "scheduler_queue_stalled_jobs", queue=queue) == 0
        assert value(text, "active_scheduling_sessions") >= 1
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        time.sleep(1.5)  # the job's 1 s lock runs out; nobody renews it
        text = _scrape(exp)
        assert value(text, "scheduler_queue_stalled_jobs", queue=queue) == 1
        assert value(text, "scheduler_queue_workers", queue=queue) == 0
        assert value(text, "scheduler_queue_jobs", queue=queue, state="active") == 1
    finally:
        if worker.poll() is None:
            worker.kill()
        exp.stop()


def test_the_exporter_only_reads(queue_redis, worked, tmp_path):
    """A Redis user that may not write or run scripts: every collector still succeeds, and
    Redis' ACL log records no refused command of that user."""
    admin = queue_redis.client()
    password = "reader-" + secrets.token_hex(8)
    user = f"sched-reader-{RUN}"
    admin.execute_command(
        "ACL",
        "SETUSER",
        user,
        "on",
        f">{password}",
        "~*",
        "resetchannels",
        "-@all",
        "+@read",
        "+@connection",
        "+multi",
        "+exec",
        "+client|list",
        "+client|setname",
        "-@write",
        "-@scripting",
        "-@dangerous",
        "+client|list",
    )
    admin.execute_command("ACL", "LOG", "RESET")
    exp = start_scheduler(
        tmp_path,
        f"--redis.addr=redis://{user}:{password}@{queue_redis.address}",
        f"--bullmq.queue={worked['keep']}",
        f"--bullmq.queue={worked['remove']}",
        "--bullmq.discover",
    )
    try:
        for _ in range(3):
            text = _scrape(exp)
        assert value(text, "scheduler_up", backend="bullmq") == 1
        assert value(text, "scheduler_scrape_collector_success", collector="bullmq") == 1
        assert value(text, "scheduler_queue_jobs", queue=worked["keep"], state="completed") == 7
        assert value(text, "scheduler_queue_workers", queue=worked["keep"]) == 0
        refused = [e for e in admin.execute_command("ACL", "LOG") if user in str(e)]
        assert refused == []
        assert password not in text and password not in exp.log()
    finally:
        exp.stop()
        admin.execute_command("ACL", "DELUSER", user)
        admin.close()


def test_discovery_finds_every_queue_under_the_prefix(queue_redis, worked, tmp_path):
    exp = start_scheduler(tmp_path, f"--redis.addr={queue_redis.url}", "--bullmq.discover")
    try:
        text = _scrape(exp)
        queues = {dict(labels).get("queue") for (name, labels) in samples(text) if name == "scheduler_queue_jobs"}
        assert {worked["keep"], worked["remove"]} <= queues
    finally:
        exp.stop()


def test_redis_stopped_then_started_again(tmp_path):
    """Its own Redis (the shared one must stay up): down -> scheduler_up 0 and HTTP 200 within
    the deadline, the counters kept; up again -> counting resumes, nothing counted twice."""
    from redis_tests.conftest import CANARY_PREFIX, _binary_version, _new_server, debian_redis_binary
    from redis_tests.conftest import _cleanup as redis_cleanup

    binary = debian_redis_binary()
    server = _new_server(
        f"sched-fault-{RUN}", "master", binary, *_binary_version(binary), CANARY_PREFIX + secrets.token_hex(8)
    )
    server.start()
    queue = f"sched-fault-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={server.url}", f"--bullmq.queue={queue}", "--connection-timeout=1")
    try:
        asyncio.run(run_jobs(server.url, queue, [Job("soccer", 6, 0.05)] * 2))
        text = _scrape(exp)
        assert value(text, "scheduler_queue_jobs_completed_total", queue=queue) == 2
        server.stop()
        t0 = time.monotonic()
        resp = exp.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "3"})
        assert resp.status == 200 and time.monotonic() - t0 < 3
        assert value(resp.text, "scheduler_up", backend="bullmq") == 0
        assert value(resp.text, "scheduler_scrape_collector_success", collector="bullmq") == 0
        assert value(resp.text, "scheduler_queue_jobs_completed_total", queue=queue) == 2
        assert server.password not in resp.text and server.password not in exp.log()
        assert exp.get("/health").status == 503
        server.start()
        asyncio.run(run_jobs(server.url, queue, [Job("soccer", 6, 0.05)] * 3))
        for _ in range(2):
            text = _scrape(exp)
        assert value(text, "scheduler_up", backend="bullmq") == 1
        assert value(text, "scheduler_queue_jobs_completed_total", queue=queue) == 5
        assert value(text, "schedule_generation_duration_seconds_count", sport="soccer", team_count="6") == 5
        assert exp.get("/health").status == 200
    finally:
        exp.stop()
        redis_cleanup(server)


def test_redis_that_stops_answering(tmp_path):
    """A Redis that accepts connections but answers nothing (SIGSTOP): every scrape still returns
    within its deadline with scheduler_up 0 for the BullMQ and the RQ backend on it, scrape after
    scrape (the readers' clients have no per-reply timeout: the deadline bounds them), /health
    says 503 in bounded time; answering again, both count on, nothing twice."""
    import rq
    from redis_tests.conftest import CANARY_PREFIX, _binary_version, _new_server, debian_redis_binary
    from redis_tests.conftest import _cleanup as redis_cleanup

    from .rq_worker import SimpleWorker

    binary = debian_redis_binary()
    server = _new_server(
        f"sched-hung-{RUN}", "master", binary, *_binary_version(binary), CANARY_PREFIX + secrets.token_hex(8)
    )
    server.start()
    queue = f"sched-hung-{RUN}"
    config = tmp_path / "rq.yml"
    config.write_text(f"backends:\n  - type: rq\n    name: rq\n    redis: {server.url}\n    queues: [{queue}]\n")
    config.chmod(0o600)
    exp = start_scheduler(
        tmp_path,
        f"--redis.addr={server.url}",
        f"--bullmq.queue={queue}",
        f"--config.file={config}",
        "--connection-timeout=1",
    )
    conn = redis.Redis.from_url(server.url)

    def rq_jobs(n: int) -> None:
        for _ in range(n):
            rq.Queue(queue, connection=conn).enqueue("os.getpid")
        assert SimpleWorker([rq.Queue(queue, connection=conn)], connection=conn).work(burst=True)

    try:
        asyncio.run(run_jobs(server.url, queue, [Job("soccer", 6, 0.05)] * 2))
        rq_jobs(1)
        text = _scrape(exp)
        assert value(text, "scheduler_queue_jobs_completed_total", backend="bullmq", queue=queue) == 2
        assert value(text, "scheduler_queue_jobs_completed_total", backend="rq", queue=queue) == 1
        server.proc.send_signal(signal.SIGSTOP)
        try:
            for _ in range(5):  # more than the readers' 4 connections: a cancelled read frees its own
                t0 = time.monotonic()
                resp = exp.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
                assert resp.status == 200 and time.monotonic() - t0 < 3
                for backend, done in (("bullmq", 2), ("rq", 1)):
                    assert value(resp.text, "scheduler_up", backend=backend) == 0
                    assert (
                        value(resp.text, "scheduler_queue_jobs_completed_total", backend=backend, queue=queue) == done
                    )
            t0 = time.monotonic()
            assert exp.get("/health").status == 503 and time.monotonic() - t0 < 10
        finally:
            server.proc.send_signal(signal.SIGCONT)
        asyncio.run(run_jobs(server.url, queue, [Job("soccer", 6, 0.05)] * 3))
        rq_jobs(2)
        for _ in range(2):
            text = _scrape(exp)
        for backend, done in (("bullmq", 5), ("rq", 3)):
            assert value(text, "scheduler_up", backend=backend) == 1
            assert value(text, "scheduler_queue_jobs_completed_total", backend=backend, queue=queue) == done
        assert server.password not in text and server.password not in exp.log()
    finally:
        conn.close()
        exp.stop()
        redis_cleanup(server)


# the seed's application alerts (shared/reference/seed-alerts/application.yml), verbatim
SEED = {
    "ScheduleGenerationFailure": "increase(schedule_generation_failures_total[5m]) > 0",
    "ConstraintViolationSpike": "rate(constraint_violations_total[5m]) > 10",
}


def test_seed_alert_expressions_on_our_metrics(queue_redis, tmp_path):
    """A real Prometheus (1 s scrapes) on the exporter: both expressions return nothing before
    the failures and the burst of violations, and return the failing sport / the violation
    type after. The sport and violation type were seen once before (a success with one
    violation), so their series exist at 0 / 1 when the burst comes: increase() and rate()
    need a previous sample (a series born at its first failure shows no increase)."""
    url = queue_redis.url
    queue = f"sched-alerts-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={url}", f"--bullmq.queue={queue}")
    prom = None
    travel = {"type": "travel", "severity": "soft"}
    try:
        prom = Prometheus(tmp_path, {"scheduler": [f"127.0.0.1:{exp.port}"]})
        asyncio.run(run_jobs(url, queue, [Job("hockey", 10, 0.05, violations=[travel])]))
        prom.wait("count_over_time(constraint_violations_total[1m])", lambda r: r and float(r[0]["value"][1]) >= 2)
        prom.wait(
            'count_over_time(schedule_generation_failures_total{sport="hockey"}[1m])',
            lambda r: r and float(r[0]["value"][1]) >= 2,
        )
        assert prom.query(SEED["ScheduleGenerationFailure"]) == []
        assert prom.query(SEED["ConstraintViolationSpike"]) == []
        asyncio.run(
            run_jobs(
                url,
                queue,
                [Job("hockey", 10, 0.05, fail=True)] * 2 + [Job("hockey", 10, 0.05, violations=[travel] * 4000)],
            )
        )
        # fired, with the extrapolated increase of both failures (a scrape may fall between them)
        fired = prom.wait(SEED["ScheduleGenerationFailure"], lambda r: bool(r) and float(r[0]["value"][1]) >= 2)
        assert [r["metric"]["sport"] for r in fired] == ["hockey"]
        spike = prom.wait(SEED["ConstraintViolationSpike"], lambda r: bool(r))
        assert [(r["metric"]["constraint_type"], r["metric"]["severity"]) for r in spike] == [("travel", "soft")]
    finally:
        if prom is not None:
            prom.stop()
        exp.stop()


def test_job_data_labels_are_bounded(queue_redis, tmp_path):
    """Job data is outside input: a 100 KB sport and more distinct sports than the bound, worked by
    BullMQ itself, give at most the bound's series (plus 'unknown' and '_other'), each label short,
    and the overflow is counted."""
    from exporters.scheduler.contract import MAX_DISTINCT_LABEL_VALUES, OVERFLOW

    queue = f"sched-bound-{RUN}"
    exp = start_scheduler(tmp_path, f"--redis.addr={queue_redis.url}", f"--bullmq.queue={queue}")
    try:
        jobs = [Job("x" * 100_000, 8, 0.0)] + [Job(f"sport-{i}", 4, 0.0) for i in range(MAX_DISTINCT_LABEL_VALUES + 20)]
        asyncio.run(run_jobs(queue_redis.url, queue, jobs, concurrency=8, timeout=120))
        deadline = time.monotonic() + 30
        while True:
            text = _scrape(exp)
            done = value(text, "scheduler_queue_jobs_completed_total", backend="bullmq", queue=queue)
            if done == len(jobs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done == len(jobs)
        sports = {
            dict(labels)["sport"]
            for (name, labels) in samples(text)
            if name == "schedule_generation_duration_seconds_count"
        }
        assert OVERFLOW in sports and len(sports) <= MAX_DISTINCT_LABEL_VALUES + 1
        assert max(len(s) for s in sports) <= 64
        assert value(text, "scheduler_job_label_overflow_total", label="sport") == 21
        assert len(text) < 2_000_000
    finally:
        exp.stop()


def test_a_key_of_the_wrong_type_fails_only_its_queue(queue_redis, tmp_path):
    """SET bull:q:wait notalist (and a stream key that is not a stream) used to take down every queue of
    the backend; now only that queue is left out, the error names the queue and the key, once."""
    good, bad, bad_events = f"sched-good-{RUN}", f"sched-badwait-{RUN}", f"sched-badevents-{RUN}"
    asyncio.run(run_jobs(queue_redis.url, good, [Job("soccer", 8, 0.0)]))
    asyncio.run(run_jobs(queue_redis.url, bad, [Job("soccer", 8, 0.0)]))
    asyncio.run(run_jobs(queue_redis.url, bad_events, [Job("soccer", 8, 0.0)]))
    with redis.Redis.from_url(queue_redis.url) as r:
        r.delete(f"bull:{bad}:wait")
        r.set(f"bull:{bad}:wait", "notalist")
        r.delete(f"bull:{bad_events}:events")
        r.set(f"bull:{bad_events}:events", "notastream")
    exp = start_scheduler(
        tmp_path, f"--redis.addr={queue_redis.url}", *(f"--bullmq.queue={q}" for q in (good, bad, bad_events))
    )
    try:
        for _ in range(3):
            text = _scrape(exp)
            assert value(text, "scheduler_up", backend="bullmq") == 1
            assert value(text, "scheduler_queue_jobs", backend="bullmq", queue=good, state="completed") == 1
            assert not [l for (n, l) in samples(text) if n == "scheduler_queue_jobs" and dict(l)["queue"] == bad]
            assert value(text, "scheduler_queue_jobs", backend="bullmq", queue=bad_events, state="completed") == 1
            assert value(text, "scheduler_scrape_collector_success", collector="bullmq") == 0
        log = exp.log()
        assert f"key bull:{bad}:wait" in log and f"queue {bad}" in log and "WRONGTYPE" in log
        assert f"key bull:{bad_events}:events" in log
        assert log.count(f"key bull:{bad}:wait") == 1, log
    finally:
        exp.stop()
