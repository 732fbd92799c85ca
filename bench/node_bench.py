"""Benchmark: flextime-exporter node vs node_exporter, same host, same run.

Scrape latency (median, p90) over N sequential scrapes with gzip as Prometheus
sends it, exporter CPU per scrape (utime+stime of its PID), and RSS after the
run. Prints a table with ratios (ours / Go). Loopback only; bounded loops.

    python bench/node_bench.py [--scrapes 200] [--go 1.9|1.5] [--fixtures]

``--go 1.9`` (the default) compares with today's node_exporter (Debian 13's build, fetched by
tests/tools/newer_go_exporters.py), ``--go 1.5`` with Debian 12's. ``--fixtures`` runs every exporter
on node_exporter's recorded hardware (tests/data/node-fixtures: RAID, ZFS, hwmon, ...) instead of
this host, with the same flags for all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory line of /proc/PID/status in MiB: VmRSS (resident now) or VmHWM (its peak, which
    0.2 s samples could miss)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid: int) -> float:
    return status_mib(pid, "VmRSS")


def wait_up(url: str, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Sampler:
    """Samples something on a background thread every ``interval`` seconds while a phase runs
    (``with sampler: ...``), keeping the largest value per key in ``max``. Subclasses give
    ``keys`` and ``_sample()``."""

    interval = 0.2
    keys: tuple = ()

    def __init__(self) -> None:
        self.max = dict.fromkeys(self.keys, 0)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def _sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self._sample()
            self.stop_event.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self.max = dict.fromkeys(self.keys, 0)
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(5)


class Target:
    """One exporter process under test."""

    def __init__(self, name: str, argv: list[str], port: int) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.request = urllib.request.Request(self.url, headers={"Accept-Encoding": "gzip"})
        self.latencies: list[float] = []

    def scrape(self) -> float:
        t = time.perf_counter()
        urllib.request.urlopen(self.request, timeout=10).read()
        return (time.perf_counter() - t) * 1000

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def measure(targets: list[Target], scrapes: int) -> list[dict]:
    """Interleave the targets' scrapes (round robin, order rotating each round), so
    machine noise falls on all of them alike."""
    for t in targets:
        wait_up(t.url)
        for _ in range(3):
            t.scrape()
        t.latencies = []  # this call's scrapes only: a second call on the same target must not mix in the first's
    cpu0 = {t.name: cpu_seconds(t.proc.pid) for t in targets}
    for i in range(scrapes):
        k = i % len(targets)
        for t in targets[k:] + targets[:k]:
            t.latencies.append(t.scrape())
    rows = []
    for t in targets:
        cpu = (cpu_seconds(t.proc.pid) - cpu0[t.name]) / scrapes * 1000
        lat = sorted(t.latencies)
        series = sum(
            1
            for line in urllib.request.urlopen(t.url).read().decode().splitlines()
            if line and not line.startswith("#")
        )
        rows.append(
            {
                "name": t.name,
                "series": series,
                "median": statistics.median(lat),
                "p90": lat[int(len(lat) * 0.9) - 1],
                "cpu": cpu,
                "rss": rss_mib(t.proc.pid),
            }
        )
    return rows


def measure_concurrent(targets: list[Target], clients: int, seconds: float) -> list[dict]:
    """``clients`` threads scrape one target at a time for ``seconds`` (bounded), as
    several Prometheus servers or dashboards hitting one exporter would."""
    import threading

    rows = []
    for t in targets:
        lat: list[float] = []
        errors = [0]
        stop_at = time.monotonic() + seconds
        cpu0 = cpu_seconds(t.proc.pid)

        def client() -> None:
            while time.monotonic() < stop_at:
                try:
                    lat.append(t.scrape())
                except OSError:
                    errors[0] += 1

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(seconds + 30)
        lat.sort()
        n = max(1, len(lat))
        rows.append(
            {
                "name": t.name,
                "rate": len(lat) / seconds,
                "median": statistics.median(lat) if lat else 0,
                "p90": lat[int(len(lat) * 0.9) - 1] if lat else 0,
                "errors": errors[0],
                "cpu": (cpu_seconds(t.proc.pid) - cpu0) / n * 1000,
                "rss": rss_mib(t.proc.pid),
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8, help="concurrent scrapers in the second phase (0: skip it)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the concurrent phase per exporter")
    ap.add_argument("--go", choices=("1.9", "1.5"), default="1.9", help="the node_exporter to compare with")
    ap.add_argument("--go-binary", help="a node_exporter binary (instead of --go)")
    ap.add_argument("--fixtures", action="store_true", help="run on node_exporter's recorded hardware")
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if not args.go_binary and args.go == "1.9":
        sys.path.insert(0, os.path.join(root, "tests", "tools"))
        import newer_go_exporters

        args.go_binary = str(newer_go_exporters.binary("prometheus-node-exporter"))
    elif not args.go_binary:
        args.go_binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    extra: list[str] = []
    if args.fixtures:
        import tempfile

        tree = tempfile.mkdtemp(prefix="node-fixtures-")
        for name in ("proc", "sys", "udev"):
            subprocess.run(
                ["tar", "xzf", os.path.join(root, "tests", "data", "node-fixtures", f"{name}.tar.gz"), "-C", tree],
                check=True,
            )
        # the collectors that read the live host whatever the paths say are left out, for all alike
        extra = [
            f"--path.procfs={tree}/proc",
            f"--path.sysfs={tree}/sys",
            f"--path.udev.data={tree}/udev/data",
            "--no-collector.filesystem",
            "--no-collector.time",
            "--no-collector.timex",
            "--no-collector.uname",
            "--no-collector.selinux",
            "--no-collector.netdev.netlink",
            "--no-collector.arp.netlink",
        ]
    if not args.go_binary:
        print("node_exporter not found (apt-get install prometheus-node-exporter)", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from exporters.node import SPEC

    ours_collectors = SPEC.collectors.enabled_names({}, False)
    ports = [free_port() for _ in range(3)]
    same = ["--collector.disable-defaults", *[f"--collector.{c}" for c in ours_collectors]]
    if args.fixtures:
        same = [
            a for a in same if a.split("--collector.")[-1] not in ("filesystem", "time", "timex", "uname", "selinux")
        ]
    go_name = f"node_exporter {args.go}"
    targets = [
        Target(
            f"{go_name}, defaults", [args.go_binary, f"--web.listen-address=127.0.0.1:{ports[0]}", *extra], ports[0]
        ),
        Target(
            f"{go_name}, our set",
            [
                args.go_binary,
                f"--web.listen-address=127.0.0.1:{ports[1]}",
                *same,
                *[e for e in extra if not e.startswith("--no-collector.") or "netlink" in e],
            ],
            ports[1],
        ),
        Target(
            "flextime-exporter node",
            [sys.executable, "-m", "exporters", "node", f"--web.listen-address=127.0.0.1:{ports[2]}", *extra],
            ports[2],
        ),
    ]
    try:
        rows = measure(targets, args.scrapes)
        concurrent = measure_concurrent(targets, args.clients, args.seconds) if args.clients > 0 else []
    finally:
        for t in targets:
            t.stop()
    ours = rows[-1]
    print(
        f"{args.scrapes} sequential scrapes each, interleaved, Accept-Encoding: gzip, loopback; collectors: {', '.join(ours_collectors)}"
    )
    print(f"{'exporter':<32}{'series':>8}{'median ms':>11}{'p90 ms':>9}{'CPU ms/scrape':>15}{'RSS MiB':>9}")
    for r in rows:
        print(f"{r['name']:<32}{r['series']:>8}{r['median']:>11.2f}{r['p90']:>9.2f}{r['cpu']:>15.2f}{r['rss']:>9.1f}")
    for go in rows[:2]:
        print(
            f"{'ratio ours / Go, ' + go['name'].split(', ')[-1]:<32}{ours['series'] / go['series']:>8.2f}"
            f"{ours['median'] / go['median']:>11.2f}{ours['p90'] / go['p90']:>9.2f}"
            f"{ours['cpu'] / go['cpu'] if go['cpu'] else float('nan'):>15.2f}{ours['rss'] / go['rss']:>9.2f}"
        )
    if concurrent:
        print(f"\n{args.clients} concurrent scrapers for {args.seconds:g} s per exporter, gzip")
        print(
            f"{'exporter':<32}{'scrapes/s':>10}{'median ms':>11}{'p90 ms':>9}{'CPU ms/scrape':>15}{'RSS MiB':>9}{'errors':>8}"
        )
        for r in concurrent:
            print(
                f"{r['name']:<32}{r['rate']:>10.1f}{r['median']:>11.2f}{r['p90']:>9.2f}{r['cpu']:>15.2f}"
                f"{r['rss']:>9.1f}{r['errors']:>8}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
