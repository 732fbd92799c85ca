"""Benchmark: flextime-exporter redis vs Debian's redis_exporter, same server, same run.

Starts its own throwaway Redis 7 (Debian's redis-server, through the integration tests' helpers
in tests/integration/redis_tests/conftest.py: same config, the ``exporter`` ACL user, plus
``+get`` so both exporters can read the checked string values), fills it at a scale of
shared/reference/anchor-baseline.md, and runs both exporters against it, both logged in as the
``exporter`` ACL user:

- sequential: N scrapes each (default 200), interleaved round robin, Accept-Encoding: gzip:
  median/p90 latency, exporter CPU ms per scrape (utime+stime of its PID), RSS after;
- concurrent: 8 scrapers for 10 s per exporter: scrapes/s, median/p90, CPU ms per scrape, RSS
  after and its peak (VmHWM);
- new connections per scrape: the server's ``total_connections_received`` around 20 scrapes of
  one exporter alone (and around each exporter's concurrent phase, per request);
- the most connections each exporter held at once: CLIENT LIST every 0.1 s, a client counted for
  an exporter when its name is the exporter's (``redis_exporter`` / ``flextime-exporter``) or its
  address is a socket of the exporter's PID (from /proc);
- hung server: a listener that accepts and never answers (the tests' FakeRedis); one scrape of
  each exporter, with Prometheus' ``X-Prometheus-Scrape-Timeout-Seconds: 10``: how long until it
  answers, and its ``redis_up``.

Scales: ``small`` (default) = 1,000 keys of mixed types in db0, 10% with a TTL; ``large`` =
200,000 keys over db0-db15, among them 4 lists + 4 zsets + 2 hashes + 2 sets of 10,000 members.
Cases (``--case``): ``default`` (both exporters with default flags) and, at large scale,
``check-keys``: both with ``--check-keys=db0=bench:chk:*``, a glob that matches exactly 100 keys
of db0 (88 small keys of every type + the 12 big collections), found by SCAN among db0's 12,500.
``all`` (the default) runs what the scale has.

Client, exporters and server share the machine's cores: read the ratios (same run) rather than
the absolute figures, and the concurrent rows as machine-saturated figures.

    python bench/redis_bench.py [--scale small|large] [--case default|check-keys|all] [--scrapes 200]
                                [--clients 8] [--seconds 10] [--no-hung]

``--key-walk [N]`` runs only the key-walk scenario instead: N keys (default 1,000,000, written with
DEBUG POPULATE, two prefixes) in db0; ours with ``--check-key-groups=^(%a+): --top-keys-by-memory=10``
scraped with Prometheus' 10 s timeout header until its first complete walk (each scrape's latency,
how many scrapes, exporter CPU and peak RSS, the counts it found), and Debian 13's redis_exporter 1.69
with ``-check-key-groups=^(%a+):`` scraped once (as the default user: its Lua needs EVAL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT)]

import pytest  # noqa: E402  (the fixture helpers skip through pytest when something is missing)

import node_bench  # noqa: E402  (Target, measure, measure_concurrent: the same method as the node bench)
from integration.redis_tests.conftest import (  # noqa: E402
    _binary_version,
    _cleanup,
    _config_text,
    _new_server,
    debian_redis_binary,
    start_go_redis_exporter,
)
from integration.redis_tests.test_exporter import FakeRedis  # noqa: E402
from postgres_bench import gzip_kib, peak_rss_mib, ratio  # noqa: E402

GO_NAME, OURS_NAME = "redis_exporter (Go)", "flextime-exporter redis"
CLIENT_NAMES = {GO_NAME: "redis_exporter", OURS_NAME: "flextime-exporter"}
CHECK_GLOB = "bench:chk:*"
CASES = {"default": (), "check-keys": (f"--check-keys=db0={CHECK_GLOB}",)}
BATCH = 2000  # commands per fill pipeline
HUNG_HEADER = 10.0  # Prometheus' default scrape_timeout, as its header announces it


# ---- the server and its data ---------------------------------------------------------------------
def start_server():
    """A Redis 7 master (no replica) like the tests' own_redis, its exporter user also allowed GET."""
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    import secrets

    server = _new_server("bench", "master", binary, flavor, version, "bench-" + secrets.token_hex(12))
    server.exporter_acl = (*server.exporter_acl, "+get")  # both exporters read checked string values
    fd = os.open(server.config_path, os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_config_text(server))
    try:
        server.start()
    except BaseException:
        _cleanup(server)
        raise
    return server


def _small_key(prefix: str, i: int, ttl: bool) -> list[tuple]:
    """One key of a mix: 50% strings (half numbers), 10% each list, set, hash, zset, 10% strings
    with text; a TTL when asked."""
    k = f"{prefix}{i}"
    kind = i % 10
    if kind < 3:
        cmds = [("SET", k, str(i))]
    elif kind < 6:
        cmds = [("SET", k, f"value-{i}-" + "x" * (i % 50))]
    elif kind == 6:
        cmds = [("RPUSH", k, "a", "b", "c", str(i))]
    elif kind == 7:
        cmds = [("SADD", k, "a", "b", str(i))]
    elif kind == 8:
        cmds = [("HSET", k, "f1", "v1", "f2", str(i))]
    else:
        cmds = [("ZADD", k, 1, "a", 2, "b", 3, str(i))]
    if ttl:
        cmds.append(("EXPIRE", k, 3600 + i % 600))
    return cmds


def _fill(client, commands) -> None:
    """Send ``commands`` (an iterable, bounded by its producer) in pipelines of BATCH, no transaction."""
    pipe = client.pipeline(transaction=False)
    n = 0
    for cmd in commands:
        pipe.execute_command(*cmd)
        n += 1
        if n % BATCH == 0:
            pipe.execute()
    pipe.execute()


def _big_collections(prefix: str):
    """4 lists + 4 zsets + 2 hashes + 2 sets of 10,000 members, in chunks of 1,000."""
    members = 10_000
    for kind, count in (("list", 4), ("zset", 4), ("hash", 2), ("set", 2)):
        for n in range(count):
            key = f"{prefix}big:{kind}:{n}"
            for start in range(0, members, 1000):
                chunk = range(start, start + 1000)
                if kind == "list":
                    yield ("RPUSH", key, *(f"m{i}" for i in chunk))
                elif kind == "zset":
                    yield ("ZADD", key, *(x for i in chunk for x in (i, f"m{i}")))
                elif kind == "hash":
                    yield ("HSET", key, *(x for i in chunk for x in (f"f{i}", f"v{i}")))
                else:
                    yield ("SADD", key, *(f"m{i}" for i in chunk))


def populate(server, scale: str) -> str:
    t = time.monotonic()
    if scale == "small":
        with server.client(db=0) as c:
            _fill(c, (cmd for i in range(1000) for cmd in _small_key("bench:k:", i, i % 10 == 0)))
        return f"1,000 keys of mixed types in db0, 100 with a TTL ({time.monotonic() - t:.1f} s to build)"
    total, dbs = 200_000, 16
    for db in range(dbs):
        with server.client(db=db) as c:
            if db == 0:  # the check-keys glob: 88 small keys + the 12 big collections = exactly 100 keys
                _fill(c, (cmd for i in range(88) for cmd in _small_key("bench:chk:", i, i % 10 == 0)))
                _fill(c, _big_collections("bench:chk:"))
                n = total // dbs - 100
            else:
                n = total // dbs
            _fill(c, (cmd for i in range(n) for cmd in _small_key(f"bench:db{db}:", i, i % 10 == 0)))
    keys = 0
    for db in range(dbs):
        with server.client(db=db) as c:
            keys += c.dbsize()
            if db == 0:
                matched = sum(1 for _ in c.scan_iter(match=CHECK_GLOB, count=1000))
    if keys != total or matched != 100:
        raise SystemExit(f"fill went wrong: {keys} keys (want {total}), glob matches {matched} (want 100)")
    return (
        f"{keys:,} keys over db0-db15 (mixed types, 10% with a TTL), incl. 4 lists + 4 zsets + 2 hashes + 2 sets "
        f"of 10,000 members ({time.monotonic() - t:.1f} s to build)"
    )


def connections_received(server) -> int:
    return int(server.info("stats")["total_connections_received"])


# ---- the exporters -------------------------------------------------------------------------------
class Running(node_bench.Target):
    """node_bench's Target around a process started elsewhere (the test helpers start them)."""

    def __init__(self, name: str, proc, port: int) -> None:  # no super().__init__: it would start a process
        self.name = name
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.request = urllib.request.Request(self.url, headers={"Accept-Encoding": "gzip"})
        self.latencies: list[float] = []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
                self.proc.wait(5)


def start_ours(server, log_dir: Path, *args: str) -> Running:
    """Ours, as the ``exporter`` user, address and password in the environment (as the tests start it)."""
    import subprocess

    port = node_bench.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "FLEXTIME_REDIS"))}
    env.update(
        REDIS_ADDR=f"redis://{server.address}", REDIS_USER=server.exporter_user, REDIS_PASSWORD=server.exporter_password
    )
    log = open(log_dir / f"ours-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporters", "redis", f"--web.listen-address=127.0.0.1:{port}", *args],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    node_bench.wait_up(f"http://127.0.0.1:{port}/metrics", timeout=30)
    return Running(OURS_NAME, proc, port)


GO_BINARY: str | None = None  # --go 1.69: Debian 13's build (tests/tools/newer_go_exporters.py); None: 1.45


def start_go(server, log_dir: Path, *args: str) -> Running:
    exp = start_go_redis_exporter(server, log_dir, *args, binary=GO_BINARY)
    return Running(GO_NAME, exp.proc, exp.port)


def _socket_ports(pid: int, server_port: int) -> set[int]:
    """Local ports of the TCP connections of ``pid`` to ``server_port`` on loopback."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote, inode = parts[1], parts[2], parts[9]
                if inode in inodes and int(remote.split(":")[1], 16) == server_port:
                    ports.add(int(local.split(":")[1], 16))
    except OSError:
        pass
    return ports


class ClientSampler(node_bench.Sampler):
    """The most clients each exporter has connected at once (CLIENT LIST every 0.1 s)."""

    interval = 0.1

    def __init__(self, server, targets: list[Running]) -> None:
        self.server = server
        self.targets = targets
        self.keys = tuple(t.name for t in targets)
        super().__init__()

    def _sample(self) -> None:
        clients = [
            dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
            for line in self.server.raw("CLIENT", "LIST").splitlines()
            if line
        ]
        for t in self.targets:
            ports = _socket_ports(t.proc.pid, self.server.port)
            n = sum(
                1
                for c in clients
                if c.get("name") == CLIENT_NAMES[t.name] or int(c.get("addr", ":0").rpartition(":")[2] or 0) in ports
            )
            self.max[t.name] = max(self.max[t.name], n)


def opened_per_scrape(server, target: Running, scrapes: int = 20) -> float:
    """New server connections per scrape of one exporter, scraped alone."""
    before = connections_received(server)
    for _ in range(scrapes):
        target.scrape()
    return (connections_received(server) - before) / scrapes


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


def redis_up(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("redis_up "):
            return line.split()[1]
    return "?"


def run_case(server, case: str, args, log_dir: Path) -> tuple[list[dict], list[dict]]:
    flags = CASES[case]
    targets: list[Running] = []
    try:
        targets = [start_go(server, log_dir, *flags), start_ours(server, log_dir, *flags)]
        sampler = ClientSampler(server, targets)
        with sampler:
            rows = node_bench.measure(targets, args.scrapes)
        for r, t in zip(rows, targets):
            r["held"] = sampler.max[t.name]
            r["kib"], r["gz_kib"] = gzip_kib(t.url)
            r["opened"] = opened_per_scrape(server, t)
            r["peak"] = peak_rss_mib(t.proc.pid)
            text = scrape_text(t.url)
            r["up"] = redis_up(text)
            r["keys"] = sum(1 for line in text.splitlines() if line.startswith("redis_key_size{"))
        concurrent = []
        for t in targets if args.clients > 0 else ():
            before = connections_received(server)
            with sampler:
                (r,) = node_bench.measure_concurrent([t], args.clients, args.seconds)
            r["held"] = sampler.max[t.name]
            r["opened"] = (connections_received(server) - before) / max(1, round(r["rate"] * args.seconds))
            r["peak"] = peak_rss_mib(t.proc.pid)
            concurrent.append(r)
        return rows, concurrent
    finally:
        for t in targets:
            t.stop()


def key_walk(keys: int, log_dir: Path) -> int:
    """The key-walk scenario (see the module's docstring); prints its table."""
    import re
    import subprocess

    from conftest import newer_go_binary

    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    import secrets

    server = _new_server("bench-walk", "master", binary, flavor, version, "bench-" + secrets.token_hex(12))
    with open(server.config_path, "a") as f:
        f.write("enable-debug-command local\n")
    ours = go = None
    try:
        server.start()
        half = keys // 2
        server.cli("DEBUG", "POPULATE", str(half), "user:walk")
        server.cli("DEBUG", "POPULATE", str(keys - half), "session:walk")
        flags = ("--check-key-groups=^(%a+):",)
        ours = start_ours(server, log_dir, *flags, "--top-keys-by-memory=10")
        header = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
        latencies, text = [], ""
        cpu0 = node_bench.cpu_seconds(ours.proc.pid)
        for _ in range(120):  # bounded: a walk that never completes shows as 120 scrapes
            req = urllib.request.Request(ours.url, headers=header)
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
            latencies.append(time.perf_counter() - t0)
            if re.search(r'^redis_exporter_key_walks_completed_total\{db="db0"\} ', text, re.M):
                break
        cpu = node_bench.cpu_seconds(ours.proc.pid) - cpu0
        counts = dict(re.findall(r'^redis_key_group_count\{db="db0",key_group="(\w+)"\} (\S+)$', text, re.M))
        top = len(re.findall(r"^redis_top_key_memory_usage_bytes\{", text, re.M))
        peak = peak_rss_mib(ours.proc.pid)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "http_", "https_", "HTTP"))}
        env.update(REDIS_ADDR=f"redis://{server.address}", REDIS_PASSWORD=server.password)
        port = node_bench.free_port()
        go_log = open(log_dir / "go-169-walk.log", "w")
        go = Running(
            "redis_exporter 1.69",
            subprocess.Popen(
                [newer_go_binary("prometheus-redis-exporter"), f"--web.listen-address=127.0.0.1:{port}", *flags],
                stdin=subprocess.DEVNULL,
                stdout=go_log,
                stderr=subprocess.STDOUT,
                env=env,
            ),
            port,
        )
        node_bench.wait_up(f"http://127.0.0.1:{port}/", timeout=30)
        t0 = time.perf_counter()
        go_cpu0 = node_bench.cpu_seconds(go.proc.pid)
        with urllib.request.urlopen(go.url, timeout=300) as resp:  # as long as it takes: that is the figure
            go_text = resp.read().decode()
        go_seconds = time.perf_counter() - t0
        go_cpu = node_bench.cpu_seconds(go.proc.pid) - go_cpu0
        go_counts = dict(re.findall(r'^redis_key_group_count\{db="db0",key_group="(\w+)"\} (\S+)$', go_text, re.M))
        print(
            f"Redis {server.version}, {keys:,} keys in db0 (DEBUG POPULATE: {half:,} user:walk:N, "
            f"{keys - half:,} session:walk:N); load average {os.getloadavg()[0]:.2f} after.\n"
        )
        print(
            "| exporter | scrapes to a complete walk | latency per scrape s (max) | total s | exporter CPU s "
            "| peak RSS MiB | groups found |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {OURS_NAME} (10 s header) | {len(latencies)} | {max(latencies):.2f} | {sum(latencies):.2f} | "
            f"{cpu:.2f} | {peak:.1f} | {counts} (+ top {top} keys) |"
        )
        print(
            f"| redis_exporter 1.69 | 1 | {go_seconds:.2f} | {go_seconds:.2f} | {go_cpu:.2f} | "
            f"{peak_rss_mib(go.proc.pid):.1f} | {go_counts} |"
        )
        return 0
    finally:
        for t in (ours, go):
            if t is not None:
                t.stop()
        _cleanup(server)


def hung(log_dir: Path) -> list[dict]:
    """One scrape of each exporter pointed at a listener that accepts and never answers, both at once."""
    fake = FakeRedis()
    go_target = types.SimpleNamespace(
        name="hung", address=fake.address, exporter_user="exporter", exporter_password="bench-unused"
    )
    targets: list[Running] = []
    out: dict[str, dict] = {}
    try:
        targets = [start_go(go_target, log_dir), start_ours(go_target, log_dir)]

        def one(t: Running) -> None:
            req = urllib.request.Request(
                t.url, headers={"Accept-Encoding": "gzip", "X-Prometheus-Scrape-Timeout-Seconds": f"{HUNG_HEADER:g}"}
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=40) as resp:
                    body = resp.read()
                    if resp.headers.get("Content-Encoding") == "gzip":
                        import gzip

                        body = gzip.decompress(body)
                    out[t.name] = {
                        "status": resp.status,
                        "seconds": time.perf_counter() - start,
                        "up": redis_up(body.decode()),
                    }
            except (OSError, urllib.error.URLError) as exc:
                out[t.name] = {"status": type(exc).__name__, "seconds": time.perf_counter() - start, "up": "-"}

        threads = [threading.Thread(target=one, args=(t,)) for t in targets]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        return [
            {"name": t.name, **out.get(t.name, {"status": "no answer", "seconds": float("nan"), "up": "-"})}
            for t in targets
        ]
    finally:
        for t in targets:
            t.stop()
        fake.close()


# ---- the report ----------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(case: str, rows: list[dict], concurrent: list[dict], args) -> None:
    go, ours = rows
    print(f"\n### {case}: {args.scrapes} sequential scrapes each, interleaved, Accept-Encoding: gzip\n")
    print(
        "| exporter | series | KiB (gzip) | median ms | p90 ms | CPU ms/scrape | RSS MiB (peak) | conns held max "
        "| new conns/scrape | redis_key_size series |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['name']} | {r['series']} | {r['kib']:.0f} ({r['gz_kib']:.0f}) | {r['median']:.2f} | "
            f"{r['p90']:.2f} | {r['cpu']:.2f} | {r['rss']:.1f} ({r['peak']:.1f}) | {r['held']} | "
            f"{r['opened']:.2f} | {r['keys']} |"
        )
    print(
        f"| **ours / Go** | {ratio(ours['series'], go['series'])} | {ratio(ours['kib'], go['kib'])} | "
        f"**{ratio(ours['median'], go['median'])}** | {ratio(ours['p90'], go['p90'])} | "
        f"**{ratio(ours['cpu'], go['cpu'])}** | {ratio(ours['rss'], go['rss'])} | | | |"
    )
    if concurrent:
        go_c, ours_c = concurrent
        print(f"\n{case}: {args.clients} concurrent scrapers for {args.seconds:g} s per exporter, gzip\n")
        print(
            "| exporter | scrapes/s | median ms | p90 ms | errors | CPU ms/scrape | RSS MiB (peak) | conns held max "
            "| new conns/request |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in concurrent:
            print(
                f"| {r['name']} | {r['rate']:.1f} | {r['median']:.2f} | {r['p90']:.2f} | {r['errors']} | "
                f"{r['cpu']:.2f} | {r['rss']:.1f} ({r['peak']:.1f}) | {r['held']} | {r['opened']:.2f} |"
            )
        print(
            f"| **ours / Go** | {ratio(ours_c['rate'], go_c['rate'])} | {ratio(ours_c['median'], go_c['median'])} | "
            f"{ratio(ours_c['p90'], go_c['p90'])} | | {ratio(ours_c['cpu'], go_c['cpu'])} | "
            f"{ratio(ours_c['rss'], go_c['rss'])} | | |"
        )
    peak = max([ours["peak"], *(r["peak"] for r in concurrent[1:])])
    print(
        f"\nTargets ({case}): latency median {ratio(ours['median'], go['median'])}x (<= 1.5x: "
        f"{verdict(ours['median'] <= 1.5 * go['median'])}); CPU/scrape {ratio(ours['cpu'], go['cpu'])}x (<= 2x: "
        f"{verdict(ours['cpu'] <= 2 * go['cpu'])}); new connections/scrape {ours['opened']:.2f}"
        + (f" sequential, {concurrent[1]['opened']:.2f} concurrent" if concurrent else "")
        + f" (0: {verdict(ours['opened'] == 0 and (not concurrent or concurrent[1]['opened'] == 0))}); "
        f"RSS peak {peak:.1f} MiB (< 50: {verdict(peak < 50)}); redis_up {ours['up']} (Go {go['up']})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=("small", "large"), default="small")
    ap.add_argument(
        "--case",
        choices=(*CASES, "all"),
        default="all",
        help="default flags, --check-keys on 100 keys (large scale), or what the scale has (default)",
    )
    ap.add_argument("--scrapes", type=int, default=200, help="sequential scrapes per exporter and case")
    ap.add_argument("--clients", type=int, default=8, help="concurrent scrapers in the second phase (0: skip it)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the concurrent phase per exporter")
    ap.add_argument("--no-hung", action="store_true", help="skip the hung-server case")
    ap.add_argument(
        "--go",
        choices=("1.45", "1.69"),
        default="1.45",
        help="the redis_exporter to compare with: Debian 12's 1.45, or Debian 13's 1.69 (fetched by "
        "tests/tools/newer_go_exporters.py)",
    )
    ap.add_argument(
        "--key-walk",
        type=int,
        nargs="?",
        const=1_000_000,
        default=0,
        metavar="N",
        help="only the key-walk scenario: key groups and the largest keys over N keys (1,000,000)",
    )
    args = ap.parse_args()
    if args.go == "1.69":
        global GO_BINARY
        sys.path.insert(0, str(ROOT / "tests" / "tools"))
        import newer_go_exporters

        GO_BINARY = str(newer_go_exporters.binary("prometheus-redis-exporter"))
    if args.key_walk:
        with tempfile.TemporaryDirectory(prefix="flextime-redis-bench-") as tmp:
            return key_walk(args.key_walk, Path(tmp))
    if not shutil.which("prometheus-redis-exporter") and not shutil.which("redis_exporter"):
        print("redis_exporter not found (apt-get install prometheus-redis-exporter)", file=sys.stderr)
        return 2
    if args.case == "all":
        cases = ["default"] if args.scale == "small" else list(CASES)
    else:
        cases = [args.case]
    load0 = os.getloadavg()
    try:
        server = start_server()
    except (pytest.skip.Exception, pytest.fail.Exception, RuntimeError) as exc:
        print(f"cannot start Redis: {exc}", file=sys.stderr)
        return 2
    results = []
    started = time.monotonic()
    try:
        built = populate(server, args.scale)
        with tempfile.TemporaryDirectory(prefix="flextime-redis-bench-") as tmp:
            for case in cases:
                results.append((case, *run_case(server, case, args, Path(tmp))))
            hung_rows = [] if args.no_hung else hung(Path(tmp))
    finally:
        _cleanup(server)
    load1 = os.getloadavg()
    print(
        f"Redis {server.version} on 127.0.0.1, scale {args.scale}: {built}. {os.cpu_count()} CPUs shared by "
        f"client, exporters and server (and whatever else runs: load average {load0[0]:.2f} before, "
        f"{load1[0]:.2f} after; {time.monotonic() - started:.0f} s of measuring). Both exporters log in as the "
        f"same ACL user; CPU = utime+stime of the exporter PID (10 ms ticks) over the batch."
    )
    for case, rows, concurrent in results:
        report(case, rows, concurrent, args)
    if hung_rows:
        print(
            f"\n### Hung server (accepts TCP, never answers), one scrape each with "
            f"X-Prometheus-Scrape-Timeout-Seconds: {HUNG_HEADER:g}\n"
        )
        print("| exporter | HTTP | answer after s | redis_up |")
        print("|---|---|---|---|")
        for r in hung_rows:
            print(f"| {r['name']} | {r['status']} | {r['seconds']:.2f} | {r['up']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
