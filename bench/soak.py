"""Soak (issue 16): many scrapes of each exporter beside today's Go exporter in the same run, and
what each process holds at the start and at the end: resident memory, threads, open descriptors.
A leak shows as growth from start to end that the Go exporter beside it does not have.

- node: ours and node_exporter 1.9, default collectors, on this host;
- postgres: ours and postgres_exporter 0.17.1 on a throwaway PostgreSQL primary (the bench's own,
  as bench/postgres_bench.py makes it: two pg_monitor roles, nothing else in it);
- redis: ours and redis_exporter 1.69 on a throwaway Redis 7 (as bench/redis_bench.py makes it), a
  few keys, the exporter ACL user.

"Start" is after 20 warm-up scrapes (imports done, connections made, caches filled); "end" is after the
counted scrapes. Scrapes are sequential and interleaved (one of ours, one of Go's), gzip, loopback.
The Go binaries are today's releases, unpacked by tests/tools/newer_go_exporters.py.

    python bench/soak.py [--node 20000] [--postgres 5000] [--redis 5000]   (0 skips an exporter)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT)]

import pytest  # noqa: E402,F401  (the fixture helpers skip through pytest when something is missing)

import node_bench  # noqa: E402  (Target, free_port, wait_up)

WARM_UP = 20


def go_binary(package: str) -> str:
    from conftest import newer_go_binary

    return str(newer_go_binary(package))


def holdings(pid: int) -> dict:
    """RSS (MiB), threads and open descriptors of ``pid`` now."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {
        "rss": int(status["VmRSS"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def soak(kind: str, targets: list, scrapes: int) -> list[dict]:
    for t in targets:
        node_bench.wait_up(t.url, 60)
    errors = {t.name: 0 for t in targets}

    def one(t) -> None:
        try:
            t.scrape()
        except Exception:  # counted: a soak reports failures instead of stopping at the first
            errors[t.name] += 1

    for _ in range(WARM_UP):
        for t in targets:
            one(t)
    start = {t.name: holdings(t.proc.pid) for t in targets}
    started = time.monotonic()
    for _ in range(scrapes):
        for t in targets:
            one(t)
    took = time.monotonic() - started
    rows = []
    for t in targets:
        end = holdings(t.proc.pid)
        rows.append(
            {
                "kind": kind,
                "name": t.name,
                "scrapes": scrapes,
                "start": start[t.name],
                "end": end,
                "errors": errors[t.name],
                "seconds": took,
            }
        )
    return rows


def run_node(scrapes: int) -> list[dict]:
    ports = [node_bench.free_port() for _ in range(2)]
    targets = [
        node_bench.Target(
            "node_exporter 1.9",
            [go_binary("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{ports[0]}"],
            ports[0],
        ),
        node_bench.Target(
            "flextime-exporter node",
            [sys.executable, "-m", "exporters", "node", f"--web.listen-address=127.0.0.1:{ports[1]}"],
            ports[1],
        ),
    ]
    try:
        return soak("node", targets, scrapes)
    finally:
        for t in targets:
            t.stop()


def run_postgres(scrapes: int) -> list[dict]:
    from integration.postgres.conftest import _cleanup
    from postgres_bench import GO_ROLE, bin_dir_15, start_primary

    server = start_primary(bin_dir_15())
    targets = []
    try:
        ports = [node_bench.free_port() for _ in range(2)]
        where = f"{server.host}:{server.port}/postgres?sslmode=disable"
        dsn_go = f"postgresql://{GO_ROLE}:{server.exporter_password}@{where}"
        targets = [
            node_bench.Target(
                "postgres_exporter 0.17.1",
                [
                    "env",
                    f"DATA_SOURCE_NAME={dsn_go}",
                    go_binary("prometheus-postgres-exporter"),
                    f"--web.listen-address=127.0.0.1:{ports[0]}",
                ],
                ports[0],
            ),
            node_bench.Target(
                "flextime-exporter postgres",
                [
                    "env",
                    f"DATA_SOURCE_NAME={server.exporter_dsn}?sslmode=disable",
                    sys.executable,
                    "-m",
                    "exporters",
                    "postgres",
                    f"--web.listen-address=127.0.0.1:{ports[1]}",
                ],
                ports[1],
            ),
        ]
        return soak("postgres", targets, scrapes)
    finally:
        for t in targets:
            t.stop()
        _cleanup(server)


def run_redis(scrapes: int) -> list[dict]:
    from redis_bench import start_server

    from integration.redis_tests.conftest import _cleanup

    server = start_server()
    targets = []
    try:
        with server.client() as c:
            for i in range(100):
                c.set(f"soak:{i}", str(i))
        ports = [node_bench.free_port() for _ in range(2)]
        env = [
            "env",
            f"REDIS_ADDR=redis://{server.address}",
            f"REDIS_USER={server.exporter_user}",
            f"REDIS_PASSWORD={server.exporter_password}",
        ]
        targets = [
            node_bench.Target(
                "redis_exporter 1.69",
                [*env, go_binary("prometheus-redis-exporter"), f"--web.listen-address=127.0.0.1:{ports[0]}"],
                ports[0],
            ),
            node_bench.Target(
                "flextime-exporter redis",
                [*env, sys.executable, "-m", "exporters", "redis", f"--web.listen-address=127.0.0.1:{ports[1]}"],
                ports[1],
            ),
        ]
        return soak("redis", targets, scrapes)
    finally:
        for t in targets:
            t.stop()
        _cleanup(server)


def report(rows: list[dict]) -> None:
    print(f"{'exporter':<30}{'scrapes':>8}{'errors':>7}{'RSS MiB start→end':>20}{'threads':>10}{'fds':>10}")
    for r in rows:
        s, e = r["start"], r["end"]
        print(
            f"{r['name']:<30}{r['scrapes']:>8}{r['errors']:>7}{s['rss']:>11.1f} → {e['rss']:<6.1f}"
            f"{s['threads']:>5} → {e['threads']:<3}{s['fds']:>5} → {e['fds']:<3}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", type=int, default=20_000, help="scrapes of each node exporter (0: skip)")
    ap.add_argument("--postgres", type=int, default=5_000, help="scrapes of each postgres exporter (0: skip)")
    ap.add_argument("--redis", type=int, default=5_000, help="scrapes of each redis exporter (0: skip)")
    args = ap.parse_args()
    rows: list[dict] = []
    for count, run in ((args.node, run_node), (args.postgres, run_postgres), (args.redis, run_redis)):
        if count > 0:
            part = run(count)
            report(part)
            rows += part
    print()
    print(f"soak, sequential interleaved scrapes after {WARM_UP} warm-up scrapes each, gzip, loopback")
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
