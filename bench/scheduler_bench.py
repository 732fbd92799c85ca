"""Benchmark: does the scheduler exporter's cost grow with the history a queue keeps?

One backend per run (``--backend``): BullMQ (default), RQ and Celery on their own Redis 7 (the
integration tests' helpers), or a SQL job table (the documented default schema) on its own
PostgreSQL 15. Two sets of 10 queues are filled: ``small`` with 1,000 finished jobs kept in total,
``large`` with ``--history`` (default 1,000,000; RQ: 100,000, see below), each job with a sport,
team count and a result with constraint violations; finished jobs are kept. BullMQ and RQ queues
are filled and worked by their own libraries (producers and workers in 2 processes; RQ's with
``result_ttl`` of a week); BullMQ's with five job names, every tenth job retried once, and a job
scheduler per queue, so the wait and run-time histograms, retries, the longest active job and the
recurring jobs are all read. Celery's history is stored by Celery's own result backend (as a
worker stores results, result_extended on) and its new tasks are run by a ``celery worker``. The
SQL table by INSERT ... SELECT, as an application's workers would have left it. Then, for each
set, ``flextime-exporter scheduler`` reading its 10 queues, started after the fill:

- idle: N sequential scrapes (default 100): latency median/p90, exporter CPU ms per scrape, RSS;
  twice: the first N, and N more after ``--settle`` (300) scrapes (RQ's discovery scan probes up
  to 64 job hashes per scrape until it has looked at the kept history once: its first pass);
- activity: 1,000 new jobs (100 per queue) finished between two scrapes; the latency and CPU of
  the scrape that reads them (median of 3 rounds), and its counters checked (exactly 1,000 more);
- BullMQ only, discovery: with --bullmq.discover, the first scrape (it waits for the first SCAN,
  which walks the whole keyspace, job hashes included: both cases share one Redis, so both SCANs
  walk the same 1M+ keys) and the later ones (later SCANs run in the background, once a minute).

Two processes of RQ's SimpleWorker finish about 520 jobs a second here, so 1,000,000 RQ jobs take
about 32 minutes to make (and 6 GB of Redis): its default history is 100,000 (give ``--history
1000000 --settle 4000`` for the full run). The history of the Celery case is stored, not worked
(see ``Celery``).

Prints a table with the ratio large / small. There is no Go exporter for queues to compare with;
the claim measured is "cost does not grow with history". Loopback only, every loop bounded.

    python bench/scheduler_bench.py [--backend bullmq|rq|celery|sql] [--history N] [--scrapes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"), str(ROOT)]

from redis_bench import start_server  # noqa: E402

import node_bench  # noqa: E402
from integration.redis_tests.conftest import _cleanup  # noqa: E402

QUEUES = 10
SPORTS = ("soccer", "basketball", "hockey", "baseball", "volleyball")
VIOLATIONS = ({"type": "venue_conflict", "severity": "hard"}, {"type": "rest_days", "severity": "soft"})


JOB_NAMES = ("generate-schedule", "regenerate-week", "validate-schedule", "publish-schedule", "optimize-travel")


def _job(i: int) -> dict:
    """One job of the history: five job names (the job_name label), every tenth retried once."""
    return {
        "name": JOB_NAMES[i % len(JOB_NAMES)],
        "data": {"sport": SPORTS[i % len(SPORTS)], "teamCount": 8 + i % 4 * 4, "failOnce": i % 10 == 0},
        "opts": {"attempts": 2} if i % 10 == 0 else {},
    }


async def _work(url: str, prefix: str, queues: list[str], per_queue: int) -> None:
    """Add ``per_queue`` jobs to each queue and work them all with the bullmq library."""
    from bullmq import Queue, Worker

    async def process(job, token):
        if job.data.get("failOnce") and job.attemptsMade == 0:
            raise RuntimeError("retried once")
        return {"schedule": "ok", "constraintViolations": list(VIOLATIONS[: hash(job.id) % 3])}

    for name in queues:
        q = Queue(name, {"connection": url, "prefix": prefix})
        done = asyncio.Event()
        count = [0]

        def finished(*_):
            count[0] += 1
            if count[0] >= per_queue:
                done.set()

        worker = Worker(name, process, {"connection": url, "prefix": prefix, "concurrency": 20})
        worker.on("completed", finished)  # every job completes (the retried ones at their second attempt)
        # a recurring job per queue (read by every scrape: next run, interval, overdue)
        await q.upsertJobScheduler(f"hourly-{name}", {"pattern": "0 * * * *"}, "hourly-report", {})
        for start in range(0, per_queue, 1000):
            await q.addBulk([_job(i) for i in range(start, min(per_queue, start + 1000))])
        await asyncio.wait_for(done.wait(), timeout=max(600, per_queue / 50))
        await worker.close()
        await q.close()


def _work_process(url: str, prefix: str, queues: list[str], per_queue: int) -> None:
    asyncio.run(_work(url, prefix, queues, per_queue))


def _in_two_processes(work, names: list[str], per_queue: int, what: str) -> float:
    """``work(queues, per_queue)`` for half of ``names`` in each of 2 processes; the seconds it took."""
    t = time.monotonic()
    procs = [multiprocessing.Process(target=work, args=(names[k::2], per_queue)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(4 * 3600)
        if p.exitcode != 0:
            raise RuntimeError(f"filling {what} failed (exit {p.exitcode})")
    return time.monotonic() - t


def fill(url: str, prefix: str, total: int) -> float:
    """``total`` finished jobs over the 10 BullMQ queues, in 2 processes; returns the seconds it took."""
    names = [f"q{i}" for i in range(QUEUES)]
    return _in_two_processes(functools.partial(_work_process, url, prefix), names, total // QUEUES, prefix)


RQ_KEEP = 7 * 86400  # result_ttl of the RQ jobs: the history stays for the whole run


def _rq_work_process(url: str, queues: list[str], per_queue: int) -> None:
    """Enqueue ``per_queue`` jobs on each of ``queues`` and work them with rq's SimpleWorker."""
    import redis
    import rq

    from integration.scheduler.rq_cursor_jobs import quick

    conn = redis.Redis.from_url(url)
    for name in queues:
        queue = rq.Queue(name, connection=conn)
        for start in range(0, per_queue, 1000):
            queue.enqueue_many(
                [
                    rq.Queue.prepare_data(
                        quick, (_job(i)["data"],), {"violations": list(VIOLATIONS[: i % 3])}, result_ttl=RQ_KEEP
                    )
                    for i in range(start, min(per_queue, start + 1000))
                ]
            )
    worker = rq.SimpleWorker([rq.Queue(n, connection=conn) for n in queues], connection=conn)
    worker.work(burst=True, logging_level="WARNING")


class BullMQ:
    """BullMQ queues ``q0..q9`` under the prefix ``<case>`` on a Redis 7."""

    name, default_history, discovery = "bullmq", 1_000_000, True

    def __init__(self, workdir: Path) -> None:
        self.server = start_server()
        # no RDB snapshots: Redis' default save rules would fork a child that writes GBs of history
        # during the fill and the scrapes, taking one of the 2 cores from the exporter and Redis
        self.server.client().config_set("save", "")
        self.url = self.server.url

    def fill(self, case: str, total: int) -> float:
        """``total`` more finished jobs over the case's 10 queues; the seconds it took."""
        return fill(self.url, case, total)

    def exporter_args(self, case: str) -> list[str]:
        return [f"--redis.addr={self.url}", f"--bullmq.prefix={case}", *(f"--bullmq.queue=q{i}" for i in range(QUEUES))]

    def size(self) -> str:
        return f"Redis used_memory: {self.server.info('memory').get('used_memory_human')}"

    def close(self) -> None:
        _cleanup(self.server)


class RQ(BullMQ):
    """RQ queues ``<case>-q0..9`` on a Redis 7, worked by rq's SimpleWorker."""

    name, default_history, discovery = "rq", 100_000, False

    def fill(self, case: str, total: int) -> float:
        names = [f"{case}-q{i}" for i in range(QUEUES)]
        return _in_two_processes(functools.partial(_rq_work_process, self.url), names, total // QUEUES, case)

    def exporter_args(self, case: str) -> list[str]:
        return [f"--redis.addr={self.url}", *(f"--rq.queue={case}-q{i}" for i in range(QUEUES))]


CELERY_TASKS = ROOT / "tests" / "integration" / "scheduler"  # the tests' Celery app (celery_tasks.py)


def _celery_tasks(url: str):
    """The tests' Celery app (result_extended, JSON) on ``url``, as broker and result backend."""
    os.environ["CELERY_TEST_REDIS"] = url
    if str(CELERY_TASKS) not in sys.path:
        sys.path.insert(0, str(CELERY_TASKS))
    import celery_tasks

    celery_tasks.app.conf.broker_url = celery_tasks.app.conf.result_backend = url
    return celery_tasks


def _celery_store_process(url: str, queues: list[str], per_queue: int) -> None:
    """History: results stored by Celery's own Redis result backend as a worker stores them (with
    result_extended's name, args and queue), for tasks finished before the exporter starts."""
    import uuid

    from celery.app.task import Context

    backend = _celery_tasks(url).app.backend
    for q in queues:
        for i in range(per_queue):
            task_id = str(uuid.uuid4())
            request = Context(
                id=task_id,
                task="flextime.generate",
                args=[_job(i)["data"]],
                kwargs={},
                delivery_info={"routing_key": q},
                hostname="bench@localhost",
                retries=0,
            )
            backend.store_result(
                task_id, {"constraintViolations": list(VIOLATIONS[: i % 3])}, "SUCCESS", request=request
            )


class Celery(BullMQ):
    """Celery queues ``<case>-q0..9`` on a Redis 7 broker and result backend (database 3). The
    history is stored by Celery's result backend before the exporter starts, so 1,000,000 results
    take minutes, not the hours of running them through a worker; the new tasks of the activity
    rounds are run by a real ``celery worker`` (solo pool) while the exporter listens."""

    name, default_history, discovery = "celery", 1_000_000, False

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.url = self.server.url + "/3"
        self.stored: set[str] = set()

    def fill(self, case: str, total: int) -> float:
        names = [f"{case}-q{i}" for i in range(QUEUES)]
        if case not in self.stored:
            self.stored.add(case)
            return _in_two_processes(functools.partial(_celery_store_process, self.url), names, total // QUEUES, case)
        t = time.monotonic()
        tasks = _celery_tasks(self.url)
        results = [
            tasks.generate.apply_async(args=[_job(i)["data"]], queue=q) for q in names for i in range(total // QUEUES)
        ]
        worker = tasks.start_worker(self.url, ",".join(names), f"bench-{case}")
        try:
            for r in results:
                r.get(timeout=300)
        finally:
            worker.terminate()
            worker.wait(30)
        time.sleep(0.5)  # the exporter's subscriber reads the last results published (bench only)
        return time.monotonic() - t

    def exporter_args(self, case: str) -> list[str]:
        return [f"--redis.addr={self.url}", *(f"--celery.queue={case}-q{i}" for i in range(QUEUES))]


SQL_TABLE = """
CREATE TABLE jobs_{case} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queue text NOT NULL, state text NOT NULL,
    data jsonb, result jsonb, created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz,
    finished_at timestamptz, run_at timestamptz, heartbeat_at timestamptz);
CREATE INDEX ON jobs_{case} (finished_at, id);
CREATE INDEX ON jobs_{case} (queue, state, created_at) WHERE state IN ('waiting', 'active', 'delayed');
GRANT SELECT ON jobs_{case} TO {role};
"""
# finished rows as workers leave them: queue q0..q9, a sport and team count, 0-2 violations, 1 s of work
SQL_FINISHED = """
INSERT INTO jobs_{case} (queue, state, data, result, created_at, started_at, finished_at)
SELECT 'q' || g % 10, 'completed',
       jsonb_build_object('sport', (ARRAY{sports})[1 + g % 5], 'teamCount', 8 + g % 4 * 4),
       jsonb_build_object('constraintViolations', (ARRAY{violations}::jsonb[])[1 + g % 3]),
       f - interval '2 s', f - interval '1 s', f
FROM generate_series({first}, {last}) g, LATERAL (SELECT {finished_at} AS f) t;
"""


class SQL:
    """A job table per case (``jobs_small``, ``jobs_large``, the default schema) on PostgreSQL 15."""

    name, default_history, discovery = "sql", 1_000_000, False

    def __init__(self, workdir: Path) -> None:
        import postgres_bench

        self.server = postgres_bench.start_primary(postgres_bench.bin_dir_15())
        self.role = postgres_bench.EXPORTER_ROLE
        self.workdir = workdir
        self.server.psql("CREATE DATABASE jobs;")
        self.server.psql("".join(SQL_TABLE.format(case=c, role=self.role) for c in ("small", "large")), dbname="jobs")

    def fill(self, case: str, total: int, batch: int = 200_000) -> float:
        """History (finished a day ago, before the exporter starts) the first time, then rows
        finished now: the jobs an exporter reads between two scrapes."""
        t = time.monotonic()
        history = self.server.psql(f"SELECT count(*) FROM jobs_{case}", dbname="jobs") == "0"
        finished_at = "now() - interval '1 day' + g * interval '1 ms'" if history else "clock_timestamp()"
        violations = "[" + ", ".join("'" + json.dumps(list(VIOLATIONS[:k])) + "'" for k in range(3)) + "]"
        sports = "[" + ", ".join(f"'{s}'" for s in SPORTS) + "]"
        for first in range(0, total, batch):
            self.server.psql(
                SQL_FINISHED.format(
                    case=case,
                    sports=sports,
                    violations=violations,
                    first=first,
                    last=min(total, first + batch) - 1,
                    finished_at=finished_at,
                ),
                dbname="jobs",
            )
        if history:
            self.server.psql(f"VACUUM ANALYZE jobs_{case};", dbname="jobs")
        return time.monotonic() - t

    def exporter_args(self, case: str) -> list[str]:
        path = self.workdir / f"sql-{case}.yml"
        dsn = (
            f"postgresql://{self.role}:{self.server.exporter_password}@127.0.0.1:{self.server.port}/jobs"
            "?sslmode=disable"
        )
        backend = {
            "type": "sql",
            "name": "sql",
            "dsn": dsn,
            "table": f"jobs_{case}",
            "queues": [f"q{i}" for i in range(QUEUES)],
        }
        path.write_text(json.dumps({"backends": [backend]}))  # JSON is YAML
        path.chmod(0o600)
        return [f"--config.file={path}"]

    def size(self) -> str:
        return "table sizes: " + self.server.psql(
            "SELECT string_agg(relname || ' ' || pg_size_pretty(pg_total_relation_size(relid)), ', ') "
            "FROM pg_stat_user_tables",
            dbname="jobs",
        )

    def close(self) -> None:
        from integration.postgres.conftest import _cleanup as pg_cleanup

        pg_cleanup(self.server)


BACKENDS = {b.name: b for b in (BullMQ, RQ, Celery, SQL)}


def start_exporter(backend, case: str) -> node_bench.Target:
    port = node_bench.free_port()
    args = [
        sys.executable,
        "-m",
        "exporters",
        "scheduler",
        f"--web.listen-address=127.0.0.1:{port}",
        *backend.exporter_args(case),
    ]
    target = node_bench.Target(case, args, port)
    node_bench.wait_up(target.url, timeout=30)
    return target


def text_of(target) -> str:
    return urllib.request.urlopen(target.url, timeout=30).read().decode()


def completed_total(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("scheduler_queue_jobs_completed_total{")
    )


def measure_case(backend, case: str, scrapes: int, settle: int) -> dict:
    target = start_exporter(backend, case)
    try:
        first = node_bench.measure([target], scrapes)[0]
        for _ in range(settle):  # RQ's discovery scan: a first pass through the kept history
            target.scrape()
        idle = node_bench.measure([target], scrapes)[0]
        rounds = []
        for _ in range(3):  # 100 new jobs per queue, finished between two scrapes; the median of 3 rounds
            before = completed_total(text_of(target))
            backend.fill(case, 1000)
            cpu0 = node_bench.cpu_seconds(target.proc.pid)
            latency = target.scrape()
            cpu = (node_bench.cpu_seconds(target.proc.pid) - cpu0) * 1000
            after = completed_total(text_of(target))
            if after - before != 1000:
                raise RuntimeError(f"{case}: counted {after - before} new jobs, not 1000")
            rounds.append((latency, cpu))
        return {
            "first": first,
            "idle": idle,
            "activity_ms": statistics.median(r[0] for r in rounds),
            "activity_cpu": statistics.median(r[1] for r in rounds),
            "rss": node_bench.rss_mib(target.proc.pid),
        }
    finally:
        target.stop()


def discovery_ms(url: str, prefix: str, scrapes: int = 20) -> tuple[float, float]:
    """With --bullmq.discover: the first scrape of a fresh exporter (it waits for the first SCAN,
    which the exporter starts when it starts), and the median of the next ``scrapes`` (any later
    SCAN runs in the background, once a minute)."""
    port = node_bench.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporters",
            "scheduler",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--redis.addr={url}",
            f"--bullmq.prefix={prefix}",
            "--bullmq.discover",
            "--scrape.timeout=60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        node_bench.wait_up(f"http://127.0.0.1:{port}/live", timeout=30)
        times = []
        for _ in range(1 + scrapes):
            t = time.perf_counter()
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60).read()
            times.append((time.perf_counter() - t) * 1000)
        return times[0], statistics.median(times[1:])
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="bullmq")
    parser.add_argument(
        "--history", type=int, help="finished jobs kept in the large case (default 1,000,000; RQ: 100,000)"
    )
    parser.add_argument("--scrapes", type=int, default=100)
    parser.add_argument(
        "--settle", type=int, default=300, help="scrapes between the first idle measurement and the second"
    )
    args = parser.parse_args()
    kind = BACKENDS[args.backend]
    history = args.history or kind.default_history
    backend = kind(Path(tempfile.mkdtemp(prefix="sched-bench-")))
    try:
        for case, total in (("small", 1000), ("large", history)):
            took = backend.fill(case, total)
            print(f"filled {case}: {total:,} finished jobs in {took:.0f} s", flush=True)
        print(backend.size(), flush=True)
        results = {case: measure_case(backend, case, args.scrapes, args.settle) for case in ("small", "large")}
        n, later = args.scrapes, args.scrapes + 3 + args.settle
        rows = [
            (f"idle scrape median ms, first {n}", lambda r: r["first"]["median"]),
            (f"idle CPU ms / scrape, first {n}", lambda r: r["first"]["cpu"]),
            (f"idle scrape median ms, after {later}", lambda r: r["idle"]["median"]),
            (f"idle scrape p90 ms, after {later}", lambda r: r["idle"]["p90"]),
            (f"idle CPU ms / scrape, after {later}", lambda r: r["idle"]["cpu"]),
            ("scrape reading 1,000 new finished jobs, ms", lambda r: r["activity_ms"]),
            ("  its CPU ms", lambda r: r["activity_cpu"]),
            ("RSS MiB after", lambda r: r["rss"]),
        ]
        print(f"\n| {backend.name}, 10 queues | 1,000 kept | {history:,} kept | large / small |")
        print("| --- | --- | --- | --- |")
        for label, get in rows:
            small, large = get(results["small"]), get(results["large"])
            print(f"| {label} | {small:.1f} | {large:.1f} | {large / small if small else float('nan'):.2f} |")
        if backend.discovery:
            discovery = {case: discovery_ms(backend.url, case) for case in ("small", "large")}
            first, later = ({c: discovery[c][i] for c in discovery} for i in (0, 1))
            print(
                f"| --bullmq.discover: first scrape (waits for the first SCAN of the whole keyspace), ms | "
                f"{first['small']:.0f} | {first['large']:.0f} | {first['large'] / first['small']:.2f} |"
            )
            print(
                f"| --bullmq.discover: later scrapes, median ms | {later['small']:.1f} | {later['large']:.1f} | "
                f"{later['large'] / later['small']:.2f} |"
            )
        print(
            f"\nseries per scrape: {results['small']['idle']['series']} (small), "
            f"{results['large']['idle']['series']} (large)"
        )
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
