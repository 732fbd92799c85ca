"""Benchmark: flextime-exporter postgres vs Debian's postgres_exporter, same server, same run.

Starts its own throwaway PostgreSQL 15 primary (the test fixture's helpers from
tests/integration/postgres/conftest.py: same config, incl. log_connections=on and
max_connections=100), fills it at a scale of shared/reference/anchor-baseline.md, and runs
both exporters against it with their own pg_monitor login roles (``exporter`` for ours,
``exporter_go`` for Go's, so their sessions can be told apart by usename). Both log in over TCP
with SCRAM-SHA-256 (pg_hba ``host ... scram-sha-256``, the default of PostgreSQL 14 and later and
of Debian's pg_hba.conf), passwords of the same length, ``sslmode=disable``:

- sequential: N scrapes each (default 200; 20 in the per-table case), interleaved round robin,
  Accept-Encoding: gzip: median/p90 latency, exporter CPU ms per scrape (utime+stime of its PID),
  RSS after;
- concurrent: 8 scrapers for 10 s per exporter: scrapes/s, median/p90, CPU ms per scrape, RSS
  after and its peak (VmHWM);
- in both phases: the MAX number of backends each exporter holds (pg_stat_activity by usename,
  sampled every 0.2 s) and the connections it opened per scrape (``connection authorized:
  user=...`` lines of the server log).

Scales: ``small`` (default) = 3 databases x 5 tables x 1,000 rows + ``pgbench -i -s 1`` (when
pgbench is installed); ``large`` = 50 databases x 5 tables x 1,000 rows, db001 also 5,000
tables x 20 rows + ``pgbench -i -s 10``.

Cases (``--case``, default both): ``default``, both exporters with default flags; ``per-table``,
the anchor's per-table statistics case: Go with ``--auto-discover-databases`` and Debian's example
queries.yaml minus pg_stat_statements and pg_process_idle, ours with ``--auto-discover-databases``
(default collectors: stat_user_tables and statio_user_tables read every database through the
bounded fan-out). Not measured (unlike the anchor run): server CPU per scrape and the plain
(non-gzip) series.

    python bench/postgres_bench.py [--scale small|large] [--case default|per-table|all] [--scrapes 200]
                                   [--per-table-scrapes 20] [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT)]

import pytest  # noqa: E402  (the fixture helpers skip through pytest when something is missing)

import node_bench  # noqa: E402  (Target, measure, measure_concurrent: the same method as the node bench)
from integration.postgres.conftest import (  # noqa: E402
    DEBIAN_QUERIES_YAML,
    EXPORTER_ROLE,
    SUPERUSER,
    PgServer,
    _cleanup,
    _init_and_start,
    _new_server,
    _quote,
    _RunAs,
    find_bin_dir,
)

GO_ROLE = "exporter_go"


def bin_dir_15() -> Path:
    """PostgreSQL 15 (the anchor's version) when installed, else the newest one."""
    pg15 = Path("/usr/lib/postgresql/15/bin")
    return pg15 if (pg15 / "postgres").exists() else find_bin_dir()


def start_primary(bin_dir: Path) -> PgServer:
    """A primary like the test fixture's (initdb + its config and pg_hba), as PgServer."""
    import secrets

    run_as = _RunAs()
    server = _new_server("bench", bin_dir, run_as, "super-" + secrets.token_hex(12), "bench-" + secrets.token_hex(12))
    try:
        _init_and_start(server)
        server.psql(
            "".join(
                f"CREATE ROLE {role} LOGIN PASSWORD {_quote(server.exporter_password)} IN ROLE pg_monitor;\n"
                for role in (EXPORTER_ROLE, GO_ROLE)
            )
        )
    except BaseException:
        _cleanup(server)
        raise
    return server


def populate(server: PgServer, scale: str) -> str:
    n_db, big_tables, pgbench_scale = (3, 0, 1) if scale == "small" else (50, 5000, 10)
    t = time.monotonic()
    names = [f"db{i:03d}" for i in range(1, n_db + 1)]
    server.psql("".join(f"CREATE DATABASE {db};\n" for db in names))
    tables = (
        "".join(
            f"CREATE TABLE t{i} (id int PRIMARY KEY, name text, price numeric(10,2));\n"
            f"INSERT INTO t{i} SELECT g, 'item-' || g, g * 1.25 FROM generate_series(1, 1000) g;\n"
            for i in range(1, 6)
        )
        + "ANALYZE;\n"
    )
    for db in names:
        server.psql(tables, dbname=db)
    for start in range(1, big_tables + 1, 500):  # batches: one transaction must not take 5,000 locks
        server.psql(
            f"""DO $$ BEGIN FOR i IN {start}..{min(start + 499, big_tables)} LOOP
            EXECUTE format('CREATE TABLE bulk_%s (id int, v text)', i);
            EXECUTE format('INSERT INTO bulk_%s SELECT g, ''x'' FROM generate_series(1, 20) g', i);
            END LOOP; END $$;""",
            dbname=names[0],
        )
    done = f"{n_db} databases x 5 tables x 1,000 rows" + (f", {names[0]} +{big_tables} tables" if big_tables else "")
    pgbench = server.bin_dir / "pgbench"
    if not pgbench.exists():
        pgbench = Path(shutil.which("pgbench") or "/nonexistent")
    if pgbench.exists():
        subprocess.run(
            [
                str(pgbench),
                "-i",
                "-q",
                "-s",
                str(pgbench_scale),
                "-h",
                str(server.socket_dir),
                "-p",
                str(server.port),
                "-U",
                SUPERUSER,
                names[0],
            ],
            env=server._env(),
            cwd=server.base_dir,
            check=True,
            capture_output=True,
            timeout=600,
        )
        done += f", pgbench -i -s {pgbench_scale} in {names[0]}"
    else:
        done += ", no pgbench"
    server.psql("VACUUM ANALYZE; CHECKPOINT;", dbname=names[0])
    return f"{done} ({time.monotonic() - t:.0f} s to build)"


class Sampler(node_bench.Sampler):
    """Max concurrent backends per role (pg_stat_activity, every 0.2 s) over a phase."""

    def __init__(self, server: PgServer, roles: tuple[str, ...]) -> None:
        import psycopg

        self.conn = psycopg.connect(
            server.superuser_dsn, connect_timeout=5, autocommit=True, application_name="bench-sampler"
        )
        self.keys = roles
        super().__init__()

    def _sample(self) -> None:
        rows = self.conn.execute(
            "SELECT usename, count(*) FROM pg_stat_activity WHERE usename = ANY(%s) GROUP BY usename",
            (list(self.keys),),
        ).fetchall()
        for role, n in rows:
            self.max[role] = max(self.max[role], n)


class Target(node_bench.Target):
    """node_bench's target with a longer client timeout: under 8 concurrent scrapers of the
    per-table case Go's exporter answers after 10 s and more (it serves scrapes one at a time)."""

    def scrape(self) -> float:
        t = time.perf_counter()
        urllib.request.urlopen(self.request, timeout=120).read()
        return (time.perf_counter() - t) * 1000


def wait_up(url: str, timeout: float = 120.0) -> None:
    """Until a scrape answers, however long it takes (a per-table scrape takes seconds).
    node_bench.wait_up gives each try 1 s, which Go's exporter, serving scrapes one after
    another, then never meets; node_bench.measure() calls it, so main() puts this one in its place."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=max(1.0, end - time.monotonic())).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def settle(server: PgServer, timeout: float = 600.0) -> float:
    """Wait (bounded) until no autovacuum worker runs: 5,000 new tables keep it busy for a while
    after populate(), and that load would fall on whichever exporter is measured first."""
    t = time.monotonic()
    quiet = 0
    while time.monotonic() - t < timeout and quiet < 3:
        busy = int(server.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"))
        quiet = 0 if busy else quiet + 1
        time.sleep(1)
    return time.monotonic() - t


def connections_opened(server: PgServer, offset: int, role: str) -> int:
    text = server.log_text()[offset:]
    return len(re.findall(rf"connection authorized: user={re.escape(role)} ", text))


def peak_rss_mib(pid: int) -> float:
    return node_bench.status_mib(pid, "VmHWM")


def gzip_kib(url: str) -> tuple[float, float]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
        gz = resp.headers.get("Content-Encoding") == "gzip"
    plain = gzip.decompress(body) if gz else body
    return len(plain) / 1024, len(body) / 1024


def per_table_queries(directory: Path) -> Path:
    """Debian's example queries.yaml minus pg_stat_statements (fails on PostgreSQL 13+) and
    pg_process_idle (a server-wide query: with --auto-discover-databases it is collected once per
    database and fails the whole scrape), as the anchor run used it."""
    import yaml

    if not DEBIAN_QUERIES_YAML.exists():
        raise SystemExit(f"{DEBIAN_QUERIES_YAML} is missing (apt-get install prometheus-postgres-exporter)")
    queries = yaml.safe_load(DEBIAN_QUERIES_YAML.read_text())
    for name in ("pg_stat_statements", "pg_process_idle"):
        queries.pop(name, None)
    path = directory / "queries-per-table.yaml"
    path.write_text(yaml.safe_dump(queries, sort_keys=False))
    return path


# case -> (Go's extra flags, ours' extra flags); the per-table case needs the filtered queries.yaml
CASES = {
    "default": ((), ()),
    "per-table": (("--auto-discover-databases", "--extend.query-path={queries}"), ("--auto-discover-databases",)),
}


def run_case(server: PgServer, case: str, args, scrapes: int, queries: Path) -> tuple[list[dict], list[dict]]:
    """Both exporters with the case's flags against the same server: sequential, then concurrent."""
    go_flags, our_flags = (tuple(f.format(queries=queries) for f in flags) for flags in CASES[case])
    if case == "per-table" and args.fanout_connections:
        our_flags += (f"--postgres.fanout-connections={args.fanout_connections}",)
    ports = [node_bench.free_port() for _ in range(2)]
    dsn_go = f"postgresql://{GO_ROLE}:{server.exporter_password}@{server.host}:{server.port}/postgres?sslmode=disable"
    dsn_ours = server.exporter_dsn + "?sslmode=disable"
    targets: list[Target] = []
    try:
        # `env VAR=… prog` execs prog: the PID measured is the exporter's own
        targets = [
            Target(
                "postgres_exporter (Go)",
                [
                    "env",
                    f"DATA_SOURCE_NAME={dsn_go}",
                    args.go_binary,
                    f"--web.listen-address=127.0.0.1:{ports[0]}",
                    *go_flags,
                ],
                ports[0],
            ),
            Target(
                "flextime-exporter postgres",
                [
                    "env",
                    f"DATA_SOURCE_NAME={dsn_ours}",
                    sys.executable,
                    "-m",
                    "exporters",
                    "postgres",
                    f"--web.listen-address=127.0.0.1:{ports[1]}",
                    "--postgres.application-name=flextime-bench",
                    *our_flags,
                ],
                ports[1],
            ),
        ]
        roles = {targets[0].name: GO_ROLE, targets[1].name: EXPORTER_ROLE}
        sampler = Sampler(server, tuple(roles.values()))
        for t in targets:
            try:
                wait_up(t.url)
            except RuntimeError as exc:
                raise SystemExit(f"{t.name}: {exc} (exit status {t.proc.poll()})") from None
        log0 = len(server.log_text())
        with sampler:
            rows = node_bench.measure(targets, scrapes)
        for r, t in zip(rows, targets):
            r["held"] = sampler.max[roles[t.name]]
            # measure(): its wait_up, 3 warm-up scrapes, the measured ones, one more to count the series
            r["opened"] = connections_opened(server, log0, roles[t.name]) / (scrapes + 5)
            r["kib"], r["gz_kib"] = gzip_kib(t.url)
        concurrent = []
        if args.clients > 0:
            log1 = len(server.log_text())
            with sampler:
                concurrent = node_bench.measure_concurrent(targets, args.clients, args.seconds)
            for r, t in zip(concurrent, targets):
                r["held"] = sampler.max[roles[t.name]]
                # per request: concurrent requests share a scrape run (ours) or queue (Go)
                r["opened"] = connections_opened(server, log1, roles[t.name]) / max(1, round(r["rate"] * args.seconds))
                r["peak"] = peak_rss_mib(t.proc.pid)
        sampler.conn.close()
        return rows, concurrent
    finally:
        for t in targets:
            try:
                t.stop()
            except Exception:
                t.proc.kill()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def report(case: str, rows: list[dict], concurrent: list[dict], scrapes: int, args) -> None:
    go, ours = rows
    print(f"\n== {case}: {scrapes} sequential scrapes each, interleaved, Accept-Encoding: gzip, loopback")
    print(
        f"{'exporter':<28}{'series':>8}{'KiB (gz)':>13}{'median ms':>11}{'p90 ms':>9}{'CPU ms/scrape':>15}"
        f"{'RSS MiB':>9}{'backends max':>14}{'conns/scrape':>14}"
    )
    for r in rows:
        print(
            f"{r['name']:<28}{r['series']:>8}{r['kib']:>7.0f} ({r['gz_kib']:>3.0f}){r['median']:>11.2f}"
            f"{r['p90']:>9.2f}{r['cpu']:>15.2f}{r['rss']:>9.1f}{r['held']:>14}{r['opened']:>14.2f}"
        )
    print(
        f"{'ratio ours / Go':<28}{ratio(ours['series'], go['series']):>8}{ratio(ours['kib'], go['kib']):>13}"
        f"{ratio(ours['median'], go['median']):>11}{ratio(ours['p90'], go['p90']):>9}"
        f"{ratio(ours['cpu'], go['cpu']):>15}{ratio(ours['rss'], go['rss']):>9}"
        f"{ratio(ours['held'], go['held']):>14}{'':>14}"
    )
    if concurrent:
        go, ours = concurrent
        print(f"\n{case}: {args.clients} concurrent scrapers for {args.seconds:g} s per exporter, gzip")
        print(
            f"{'exporter':<28}{'scrapes/s':>10}{'median ms':>11}{'p90 ms':>9}{'CPU ms/scrape':>15}{'RSS MiB':>9}"
            f"{'RSS peak':>10}{'errors':>8}{'backends max':>14}{'conns/scrape':>14}"
        )
        for r in concurrent:
            print(
                f"{r['name']:<28}{r['rate']:>10.2f}{r['median']:>11.2f}{r['p90']:>9.2f}{r['cpu']:>15.2f}"
                f"{r['rss']:>9.1f}{r['peak']:>10.1f}{r['errors']:>8}{r['held']:>14}{r['opened']:>14.2f}"
            )
        print(
            f"{'ratio ours / Go':<28}{ratio(ours['rate'], go['rate']):>10}{ratio(ours['median'], go['median']):>11}"
            f"{ratio(ours['p90'], go['p90']):>9}{ratio(ours['cpu'], go['cpu']):>15}{ratio(ours['rss'], go['rss']):>9}"
            f"{ratio(ours['peak'], go['peak']):>10}{'':>8}{ratio(ours['held'], go['held']):>14}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=("small", "large"), default="small")
    ap.add_argument(
        "--case",
        choices=(*CASES, "all"),
        default="all",
        help="default flags, the per-table statistics case, or both (default)",
    )
    ap.add_argument("--scrapes", type=int, default=200, help="sequential scrapes per exporter, default case")
    ap.add_argument("--per-table-scrapes", type=int, default=20, help="sequential scrapes per exporter, per-table case")
    ap.add_argument(
        "--fanout-connections",
        type=int,
        default=0,
        help="per-table case: ours with this --postgres.fanout-connections (default: its default, 3)",
    )
    ap.add_argument("--clients", type=int, default=8, help="concurrent scrapers in the second phase (0: skip it)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the concurrent phase per exporter")
    ap.add_argument(
        "--go-binary", default=shutil.which("prometheus-postgres-exporter") or shutil.which("postgres_exporter")
    )
    args = ap.parse_args()
    if not args.go_binary:
        print("postgres_exporter not found (apt-get install prometheus-postgres-exporter)", file=sys.stderr)
        return 2
    cases = list(CASES) if args.case == "all" else [args.case]
    node_bench.wait_up = wait_up  # measure() waits with it too
    try:
        server = start_primary(bin_dir_15())
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
        return 2
    results = []
    try:
        built = populate(server, args.scale)
        built += f"; autovacuum settled in {settle(server):.0f} s"
        with tempfile.TemporaryDirectory(prefix="flextime-bench-") as tmp:
            queries = per_table_queries(Path(tmp)) if "per-table" in cases else Path("/nonexistent")
            for case in cases:
                scrapes = args.per_table_scrapes if case == "per-table" else args.scrapes
                results.append((case, scrapes, *run_case(server, case, args, scrapes, queries)))
    finally:
        _cleanup(server)
    print(f"PostgreSQL {server.version} on 127.0.0.1, scale {args.scale}: {built}; {os.cpu_count()} CPUs")
    print(
        "default: both exporters with default flags; per-table: Go with --auto-discover-databases and Debian's "
        "example queries.yaml (minus pg_stat_statements, pg_process_idle), ours with --auto-discover-databases"
    )
    for case, scrapes, rows, concurrent in results:
        report(case, rows, concurrent, scrapes, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
