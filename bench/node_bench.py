"""Benchmark: flextime-exporter node vs Debian's node_exporter, same host, same run.

Scrape latency (median, p90) over N sequential scrapes with gzip as Prometheus
sends it, exporter CPU per scrape (utime+stime of its PID), and RSS after the
run. Prints a table with ratios (ours / Go). Loopback only; bounded loops.

    python bench/node_bench.py [--scrapes 200] [--go-binary prometheus-node-exporter]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
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


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_up(url: str, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def measure(name: str, argv: list[str], port: int, scrapes: int) -> dict:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_up(url)
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        for _ in range(3):
            urllib.request.urlopen(req, timeout=10).read()
        series = sum(1 for line in urllib.request.urlopen(url).read().decode().splitlines()
                     if line and not line.startswith("#"))
        cpu0 = cpu_seconds(proc.pid)
        lat = []
        for _ in range(scrapes):
            t = time.perf_counter()
            urllib.request.urlopen(req, timeout=10).read()
            lat.append((time.perf_counter() - t) * 1000)
        cpu = (cpu_seconds(proc.pid) - cpu0) / scrapes * 1000
        lat.sort()
        return {"name": name, "series": series, "median": statistics.median(lat),
                "p90": lat[int(len(lat) * 0.9) - 1], "cpu": cpu, "rss": rss_mib(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--go-binary", default=shutil.which("prometheus-node-exporter") or shutil.which("node_exporter"))
    args = ap.parse_args()
    if not args.go_binary:
        print("node_exporter not found (apt-get install prometheus-node-exporter)", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from exporters.node import SPEC

    ours_collectors = SPEC.collectors.enabled_names({}, False)
    rows = []
    port = free_port()
    rows.append(measure("node_exporter (Go), defaults", [args.go_binary, f"--web.listen-address=127.0.0.1:{port}"],
                        port, args.scrapes))
    port = free_port()
    same = ["--collector.disable-defaults", *[f"--collector.{c}" for c in ours_collectors]]
    rows.append(measure("node_exporter (Go), our set", [args.go_binary, f"--web.listen-address=127.0.0.1:{port}", *same],
                        port, args.scrapes))
    port = free_port()
    ours = measure("flextime-exporter node", [sys.executable, "-m", "exporters", "node",
                                              f"--web.listen-address=127.0.0.1:{port}"], port, args.scrapes)
    rows.append(ours)
    print(f"{args.scrapes} sequential scrapes each, Accept-Encoding: gzip, loopback; collectors: {', '.join(ours_collectors)}")
    print(f"{'exporter':<32}{'series':>8}{'median ms':>11}{'p90 ms':>9}{'CPU ms/scrape':>15}{'RSS MiB':>9}")
    for r in rows:
        print(f"{r['name']:<32}{r['series']:>8}{r['median']:>11.2f}{r['p90']:>9.2f}{r['cpu']:>15.2f}{r['rss']:>9.1f}")
    for go in rows[:2]:
        print(f"{'ratio ours / ' + go['name'][18:]:<32}{ours['series'] / go['series']:>8.2f}"
              f"{ours['median'] / go['median']:>11.2f}{ours['p90'] / go['p90']:>9.2f}"
              f"{ours['cpu'] / go['cpu'] if go['cpu'] else float('nan'):>15.2f}{ours['rss'] / go['rss']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
