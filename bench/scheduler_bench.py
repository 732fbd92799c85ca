"""Benchmark: does the scheduler exporter's cost grow with the history a BullMQ queue keeps?

Starts its own Redis 7 (the integration tests' helpers), and fills two sets of 10 BullMQ queues
with the bullmq library itself (producers and workers in 2 processes): ``small`` with 1,000
finished jobs kept in total, ``large`` with 1,000,000 (``--history``), each job with a sport,
team count and a result with constraint violations; finished jobs are kept (no removeOnComplete).
Then, for each set, ``flextime-exporter scheduler`` reading its 10 queues, started after the fill:

- idle: N sequential scrapes (default 100): latency median/p90, exporter CPU ms per scrape, RSS;
- activity: 1,000 new jobs (100 per queue) worked between two scrapes; the latency and CPU of the
  scrape that reads them (the incremental read of the events stream; median of 3 rounds), and
  its counters checked (exactly 1,000 more);
- discovery: with --bullmq.discover, the first scrape (it waits for the first SCAN, which walks
  the whole keyspace, job hashes included: both cases share one Redis, so both SCANs walk the
  same 1M+ keys) and the later ones (later SCANs run in the background, once a minute).

Prints a table with the ratio large / small. There is no Go exporter for queues to compare with;
the claim measured is "cost does not grow with history". Loopback only, every loop bounded.

    python bench/scheduler_bench.py [--history 1000000] [--scrapes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "integration"), str(ROOT)]

import node_bench  # noqa: E402
from redis_bench import start_server  # noqa: E402

from integration.redis_tests.conftest import _cleanup  # noqa: E402

QUEUES = 10
SPORTS = ("soccer", "basketball", "hockey", "baseball", "volleyball")
VIOLATIONS = ({"type": "venue_conflict", "severity": "hard"}, {"type": "rest_days", "severity": "soft"})


def _job(i: int) -> dict:
    return {"name": "generate-schedule",
            "data": {"sport": SPORTS[i % len(SPORTS)], "teamCount": 8 + i % 4 * 4},
            "opts": {}}


async def _work(url: str, prefix: str, queues: list[str], per_queue: int) -> None:
    """Add ``per_queue`` jobs to each queue and work them all with the bullmq library."""
    from bullmq import Queue, Worker

    async def process(job, token):
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
        worker.on("completed", finished)
        worker.on("failed", finished)
        for start in range(0, per_queue, 1000):
            await q.addBulk([_job(i) for i in range(start, min(per_queue, start + 1000))])
        await asyncio.wait_for(done.wait(), timeout=max(600, per_queue / 50))
        await worker.close()
        await q.close()


def _work_process(url: str, prefix: str, queues: list[str], per_queue: int) -> None:
    asyncio.run(_work(url, prefix, queues, per_queue))


def fill(url: str, prefix: str, total: int) -> float:
    """``total`` finished jobs over the 10 queues, in 2 processes; returns the seconds it took."""
    names = [f"q{i}" for i in range(QUEUES)]
    t = time.monotonic()
    procs = [multiprocessing.Process(target=_work_process, args=(url, prefix, names[k::2], total // QUEUES))
             for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(7200)
        if p.exitcode != 0:
            raise RuntimeError(f"filling {prefix} failed (exit {p.exitcode})")
    return time.monotonic() - t


def start_exporter(url: str, prefix: str, log_dir: Path, *extra: str) -> node_bench.Target:
    port = node_bench.free_port()
    args = [sys.executable, "-m", "exporters", "scheduler", f"--web.listen-address=127.0.0.1:{port}",
            f"--redis.addr={url}", f"--bullmq.prefix={prefix}", *extra]
    if "--bullmq.discover" not in extra:
        args += [f"--bullmq.queue=q{i}" for i in range(QUEUES)]
    target = node_bench.Target(f"{prefix}", args, port)
    node_bench.wait_up(target.url, timeout=30)
    return target


def text_of(target) -> str:
    return urllib.request.urlopen(target.url, timeout=30).read().decode()


def completed_total(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("scheduler_queue_jobs_completed_total{"))


def measure_case(url: str, prefix: str, scrapes: int, log_dir: Path) -> dict:
    target = start_exporter(url, prefix, log_dir)
    try:
        idle = node_bench.measure([target], scrapes)[0]
        rounds = []
        for _ in range(3):  # 100 new jobs per queue, finished between two scrapes; the median of 3 rounds
            before = completed_total(text_of(target))
            fill(url, prefix, 1000)
            cpu0 = node_bench.cpu_seconds(target.proc.pid)
            latency = target.scrape()
            cpu = (node_bench.cpu_seconds(target.proc.pid) - cpu0) * 1000
            after = completed_total(text_of(target))
            if after - before != 1000:
                raise RuntimeError(f"{prefix}: counted {after - before} new jobs, not 1000")
            rounds.append((latency, cpu))
        return {"idle": idle, "activity_ms": statistics.median(r[0] for r in rounds),
                "activity_cpu": statistics.median(r[1] for r in rounds), "rss": node_bench.rss_mib(target.proc.pid)}
    finally:
        target.stop()


def discovery_ms(url: str, prefix: str, scrapes: int = 20) -> tuple[float, float]:
    """With --bullmq.discover: the first scrape of a fresh exporter (it waits for the first SCAN,
    which the exporter starts when it starts), and the median of the next ``scrapes`` (any later
    SCAN runs in the background, once a minute)."""
    port = node_bench.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exporters", "scheduler", f"--web.listen-address=127.0.0.1:{port}",
                             f"--redis.addr={url}", f"--bullmq.prefix={prefix}", "--bullmq.discover",
                             "--scrape.timeout=60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    parser.add_argument("--history", type=int, default=1_000_000, help="finished jobs kept in the large case")
    parser.add_argument("--scrapes", type=int, default=100)
    args = parser.parse_args()
    server = start_server()
    log_dir = Path(tempfile.mkdtemp(prefix="sched-bench-"))
    try:
        url = server.url
        for prefix, total in (("small", 1000), ("large", args.history)):
            took = fill(url, prefix, total)
            print(f"filled {prefix}: {total:,} finished jobs in {took:.0f} s", flush=True)
        used = server.info("memory").get("used_memory_human")
        print(f"Redis used_memory: {used}", flush=True)
        results = {p: measure_case(url, p, args.scrapes, log_dir) for p in ("small", "large")}
        discovery = {p: discovery_ms(url, p) for p in ("small", "large")}
        rows = [("idle scrape median ms", lambda r: r["idle"]["median"]),
                ("idle scrape p90 ms", lambda r: r["idle"]["p90"]),
                ("idle CPU ms / scrape", lambda r: r["idle"]["cpu"]),
                ("scrape reading 1,000 new finished jobs, ms", lambda r: r["activity_ms"]),
                ("  its CPU ms", lambda r: r["activity_cpu"]),
                ("RSS MiB after", lambda r: r["rss"])]
        print(f"\n| 10 queues | 1,000 kept | {args.history:,} kept | large / small |")
        print("| --- | --- | --- | --- |")
        for label, get in rows:
            small, large = get(results["small"]), get(results["large"])
            print(f"| {label} | {small:.1f} | {large:.1f} | {large / small if small else float('nan'):.2f} |")
        first, later = ({p: discovery[p][i] for p in discovery} for i in (0, 1))
        print(f"| --bullmq.discover: first scrape (waits for the first SCAN of the whole keyspace), ms | "
              f"{first['small']:.0f} | {first['large']:.0f} | {first['large'] / first['small']:.2f} |")
        print(f"| --bullmq.discover: later scrapes, median ms | {later['small']:.1f} | {later['large']:.1f} | "
              f"{later['large'] / later['small']:.2f} |")
        print(f"\nseries per scrape: {results['small']['idle']['series']} (small), "
              f"{results['large']['idle']['series']} (large)")
    finally:
        _cleanup(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
