"""Benchmark: multi-target mode at fleet scale (issue 19), flextime-exporter postgres against
postgres_exporter 0.17.1's /probe, one after the other against the same throwaway PostgreSQL.

Cases (each exporter on its own for ``--seconds``, default 60):

- ``cluster``: 200 databases of one cluster, each probed every 15 s (slots spread evenly over
  the interval, at most 20 probes in flight), as a Prometheus job with 200 targets would;
  ours with ``--probe.cluster-cache-seconds=14`` (just under the interval, as docs/postgres.md
  advises) and the default ``--probe.connections-per-server``; ours a second time with the default
  per-database collectors off (stat_user_tables, statio_user_tables, statio_user_indexes);
- ``servers``: 200 one-database targets at 1 s (``--servers-interval``; 20 in flight). A "server"
  is one login role (``postgresql://role:pw@127.0.0.1:port/postgres``) on a second PostgreSQL that
  has only its default databases, as a one-database server has: distinct roles are distinct
  servers to both exporters (ours shares connections and reads only between targets with the same
  host, port, user and options), so nothing is shared between targets; ours with
  ``--probe.cluster-cache-seconds`` just under the interval.

Figures: slots missed (a probe that did not answer before its target's next slot, or that could
not start because the previous one still ran), errors (HTTP other than 200, ``pg_up 0``),
new logins per probe (the server's ``connection authorized`` lines; "warm": after the first
round), most backends held at once and still held 2 s after the last probe, server CPU per
probe (the postmaster and its children, exited ones included), exporter CPU per probe, and the
exporter's RSS at the end of the first, the middle and the last round.

    python bench/postgres_fleet_bench.py [--seconds 60] [--targets 200] [--case cluster|servers|all]
                                         [--servers-interval 1] [--go-binary PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT)]

import pytest  # noqa: E402

import node_bench  # noqa: E402
import postgres_bench  # noqa: E402
from integration.postgres.conftest import EXPORTER_ROLE, _cleanup, _quote  # noqa: E402

from exporters.postgres.servershare import PER_DATABASE  # noqa: E402

GO_DEFAULT = "/root/.cache/flextime-go-reference/root/usr/bin/prometheus-postgres-exporter"
IN_FLIGHT = 20
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICKS


def server_cpu(postmaster: int) -> float:
    """The postmaster's CPU with its reaped children's, plus its live children's."""
    total = cpu_seconds(postmaster, children=True)
    for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
        try:
            total += cpu_seconds(int(child))
        except (OSError, IndexError):
            pass
    return total


class Backends(node_bench.Sampler):
    """Most backends at once of the roles whose name matches a LIKE pattern."""

    keys = ("held",)

    def __init__(self, server, pattern: str) -> None:
        import psycopg

        self.conn = psycopg.connect(server.superuser_dsn, autocommit=True, application_name="bench-sampler")
        self.pattern = pattern
        super().__init__()

    def count(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE %s", (self.pattern,)
        ).fetchone()[0]

    def _sample(self) -> None:
        self.max["held"] = max(self.max["held"], self.count())


async def drive(base: str, targets: list[str], interval: float, seconds: float, extra: str, on_round) -> dict:
    """Probe every target once per ``interval`` at evenly spread slots, at most IN_FLIGHT at once."""
    import aiohttp

    slots = probes = missed = errors = 0
    running: dict[int, asyncio.Task] = {}
    gate = asyncio.Semaphore(IN_FLIGHT)
    start = time.monotonic() + 0.5
    n = len(targets)
    timeout = aiohttp.ClientTimeout(total=max(interval, 1.0))

    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def one(i: int, slot_at: float) -> None:
            nonlocal probes, missed, errors
            next_slot = slot_at + interval
            try:
                async with gate:
                    if time.monotonic() >= next_slot:
                        missed += 1
                        return
                    url = f"{base}/probe?target={urllib.parse.quote(targets[i], safe='')}{extra}"
                    async with http.get(url) as resp:
                        body = await resp.text()
                probes += 1
                if resp.status != 200 or re.search(r"^pg_up 0", body, re.M):
                    errors += 1
                if time.monotonic() > next_slot:
                    missed += 1
            except (asyncio.TimeoutError, aiohttp.ClientError):
                missed += 1
                errors += 1

        k = 0
        last_round = -1
        while True:
            rnd, i = divmod(k, n)
            slot_at = start + rnd * interval + i * interval / n
            if slot_at - start >= seconds:
                break
            await asyncio.sleep(max(0.0, slot_at - time.monotonic()))
            if rnd != last_round:
                if last_round >= 0:
                    on_round(last_round)
                last_round = rnd
            slots += 1
            previous = running.get(i)
            if previous is not None and not previous.done():
                missed += 1  # still running since the last slot: this one is skipped, as Prometheus does
            else:
                running[i] = asyncio.ensure_future(one(i, slot_at))
            k += 1
        if running:
            await asyncio.wait(list(running.values()))
        on_round(last_round)
    return {"slots": slots, "probes": probes, "missed": missed, "errors": errors}


def logins(server, offset: int, pattern: str) -> int:
    return len(re.findall(rf"connection authorized: user={pattern}\b", server.log_text()[offset:]))


def run(
    server,
    name: str,
    cmd: list[str],
    port: int,
    targets: list[str],
    interval: float,
    seconds: float,
    like: str,
    login_re: str,
    extra: str = "",
) -> dict:
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    log = open(Path(tempfile.gettempdir()) / f"fleet-bench-{port}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        postgres_bench.wait_up(base + "/metrics", timeout=60)
        sampler = Backends(server, like)
        log0 = len(server.log_text())
        cpu0, own0 = server_cpu(postmaster), cpu_seconds(proc.pid)
        rss: list[float] = []
        warm_at: list[int] = []

        def on_round(rnd: int) -> None:
            rss.append(node_bench.status_mib(proc.pid))
            if rnd == 0:
                warm_at.append(len(server.log_text()))

        with sampler:
            out = asyncio.run(drive(base, targets, interval, seconds, extra, on_round))
        cpu1, own1 = server_cpu(postmaster), cpu_seconds(proc.pid)
        time.sleep(2)
        out.update(
            name=name,
            held=sampler.max["held"],
            idle_held=sampler.count(),
            logins=logins(server, log0, login_re),
            rss_first=rss[0],
            rss_middle=rss[len(rss) // 2],
            rss_last=rss[-1],
            rounds=len(rss),
            server_ms=(cpu1 - cpu0) * 1000,
            exporter_ms=(own1 - own0) * 1000,
        )
        warm_probes = out["probes"] - len(targets)
        out["warm_logins"] = (logins(server, warm_at[0], login_re) / warm_probes) if warm_at and warm_probes > 0 else 0
        sampler.conn.close()
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def report(case: str, rows: list[dict]) -> None:
    print(f"\n== {case}")
    print(
        f"{'exporter':<24}{'slots':>7}{'missed':>8}{'errors':>8}{'logins/probe':>14}{'warm':>7}"
        f"{'backends max':>14}{'idle':>6}{'server ms/probe':>17}{'exporter ms/probe':>19}{'RSS MiB first→middle→last':>30}"
    )
    for r in rows:
        p = max(1, r["probes"])
        print(
            f"{r['name']:<24}{r['slots']:>7}{r['missed']:>8}{r['errors']:>8}{r['logins'] / p:>14.2f}"
            f"{r['warm_logins']:>7.2f}{r['held']:>14}{r['idle_held']:>6}{r['server_ms'] / p:>17.1f}"
            f"{r['exporter_ms'] / p:>19.1f}{r['rss_first']:>12.1f} → {r['rss_middle']:.1f} → {r['rss_last']:.1f}"
            f" ({r['rounds']} rounds)"
        )


# every collector that must read on a connection to the probed database (the rest are cluster-wide): with
# them off, one server's probes share its connections whatever the number of databases
PER_DATABASE_OFF = tuple(f"--no-collector.{name}" for name in sorted(PER_DATABASE))


def ours_cmd(config: Path, port: int, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "exporters",
        "postgres",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--config.file={config}",
        *flags,
    ]


def go_cmd(binary: str, port: int) -> list[str]:
    return ["env", "DATA_SOURCE_NAME=", binary, f"--web.listen-address=127.0.0.1:{port}"]


def allow(server, tmp: Path) -> Path:
    """An exporter config whose probe allowlist is the one server."""
    config = tmp / f"postgres_exporter-{server.port}.yml"
    config.write_text(f"probe:\n  allowed_targets: ['127.0.0.1:{server.port}']\n")
    return config


def create_roles(server, n: int) -> None:
    """Roles fo001.. (ours) and fg001.. (Go), each a login of its own."""
    server.psql(
        "".join(
            f"CREATE ROLE {p}{i:03d} LOGIN PASSWORD {_quote(server.exporter_password)} IN ROLE pg_monitor;\n"
            for p in ("fo", "fg")
            for i in range(1, n + 1)
        )
    )


def cluster_case(server, n: int, seconds: float, go_binary: str, tmp: Path) -> tuple[str, list[dict]]:
    """200 databases of one cluster, each its own target, every 15 s."""
    t = time.monotonic()
    # every database gets a small table (from template1), so the per-table collectors have rows
    server.psql(
        "CREATE TABLE items (id int PRIMARY KEY, v text); "
        "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g; ANALYZE items;",
        dbname="template1",
    )
    server.psql("".join(f"CREATE DATABASE app{i:03d};\n" for i in range(1, n + 1)))
    print(f"cluster: {n} databases in {time.monotonic() - t:.0f} s", flush=True)
    config, host, pw = allow(server, tmp), f"127.0.0.1:{server.port}", server.exporter_password
    rows = []
    for name, role, flags in (
        ("flextime (ours)", EXPORTER_ROLE, ()),
        ("flextime, per-db collectors off", EXPORTER_ROLE, PER_DATABASE_OFF),
        ("postgres_exporter 0.17.1", postgres_bench.GO_ROLE, ()),
    ):
        targets = [f"postgresql://{role}:{pw}@{host}/app{i:03d}?sslmode=disable" for i in range(1, n + 1)]
        port = node_bench.free_port()
        cmd = (
            ours_cmd(config, port, "--probe.cluster-cache-seconds=14", f"--probe.max-targets={n}", *flags)
            if name.startswith("flextime")
            else go_cmd(go_binary, port)
        )
        rows.append(run(server, name, cmd, port, targets, 15.0, seconds, role, re.escape(role)))
    return f"cluster: {n} databases of one cluster every 15 s, {IN_FLIGHT} in flight, {seconds:g} s", rows


def servers_case(server, n: int, interval: float, seconds: float, go_binary: str, tmp: Path) -> tuple[str, list[dict]]:
    """``n`` one-database servers (login roles of a PostgreSQL with only its default databases)."""
    # 200 servers would each allow 100 connections: room for every target's one here
    server.psql(f"ALTER SYSTEM SET max_connections = {n + 100}")
    server.stop()
    server.start()
    create_roles(server, n)
    config, host, pw = allow(server, tmp), f"127.0.0.1:{server.port}", server.exporter_password
    rows = []
    for name, prefix in (("flextime (ours)", "fo"), ("postgres_exporter 0.17.1", "fg")):
        targets = [f"postgresql://{prefix}{i:03d}:{pw}@{host}/postgres?sslmode=disable" for i in range(1, n + 1)]
        port = node_bench.free_port()
        cache = f"--probe.cluster-cache-seconds={interval * 0.9:g}"
        cmd = ours_cmd(config, port, cache, f"--probe.max-targets={n}") if prefix == "fo" else go_cmd(go_binary, port)
        rows.append(run(server, name, cmd, port, targets, interval, seconds, f"{prefix}%", rf"{prefix}\d+"))
    return f"servers: {n} one-database targets every {interval:g} s, {IN_FLIGHT} in flight, {seconds:g} s", rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each exporter's run per case")
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--case", choices=("cluster", "servers", "all"), default="all")
    ap.add_argument("--servers-interval", type=float, default=1.0, help="probe interval of the servers case")
    ap.add_argument("--go-binary", default=GO_DEFAULT if Path(GO_DEFAULT).exists() else None)
    args = ap.parse_args()
    if not args.go_binary:
        print(
            "postgres_exporter 0.17.1 not found: python tests/tools/newer_go_exporters.py, or --go-binary",
            file=sys.stderr,
        )
        return 2
    cases = [c for c in ("cluster", "servers") if args.case in (c, "all")]
    results = []
    version = ""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        for case in cases:  # each case on a PostgreSQL of its own: the servers case sees no app databases
            try:
                server = postgres_bench.start_primary(postgres_bench.bin_dir_15())
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
                return 2
            try:
                version = server.version
                if case == "cluster":
                    results.append(cluster_case(server, args.targets, args.seconds, args.go_binary, Path(tmp)))
                else:
                    results.append(
                        servers_case(
                            server, args.targets, args.servers_interval, args.seconds, args.go_binary, Path(tmp)
                        )
                    )
            finally:
                _cleanup(server)
    print(f"PostgreSQL {version} on 127.0.0.1; {os.cpu_count()} CPUs (shared)")
    for case, rows in results:
        report(case, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
