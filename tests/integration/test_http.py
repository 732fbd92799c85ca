"""What a user of the HTTP side sees: formats, compression, filters, health routes,
landing page, collector failures and the scrape deadline."""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import shutil
import socket
import threading
import time

import pytest

from conftest import http_get, parse_families, samples, value

from exporters.node import SPEC

ENABLED = SPEC.collectors.enabled_names({}, disable_defaults=False)
# collectors whose source this host has (Debian's node_exporter agrees: see test_node_vs_go.py)
ALWAYS_HERE = [
    "cpu",
    "diskstats",
    "filefd",
    "filesystem",
    "loadavg",
    "meminfo",
    "netdev",
    "os",
    "stat",
    "textfile",
    "time",
    "uname",
    "vmstat",
    "netstat",
    "sockstat",
    "netclass",
    "entropy",
]


def test_default_collectors_all_succeed(node_exporter_ours):
    text = node_exporter_ours.get().text
    for name in ENABLED:
        assert value(text, "node_scrape_collector_success", collector=name) in (0, 1), name
    for name in ALWAYS_HERE:
        assert value(text, "node_scrape_collector_success", collector=name) == 1, name
        assert value(text, "node_scrape_collector_duration_seconds", collector=name) >= 0


def test_text_format_headers_and_exporter_metrics(node_exporter_ours):
    resp = node_exporter_ours.get()
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = parse_families(resp.text)
    assert fams["process_resident_memory_bytes"].samples[0].value > 1e6
    info = fams["flextime_exporter_build_info"].samples[0]
    assert info.labels["exporter"] == "node" and info.value == 1


def test_gzip_when_accepted(node_exporter_ours):
    plain = node_exporter_ours.get()
    zipped = node_exporter_ours.get(headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.body) * 3 < len(plain.body)
    assert set(parse_families(gzip.decompress(zipped.body).decode())) == set(parse_families(plain.text))


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)  # what Prometheus 2.42 sends


def test_text_format_for_prometheus_by_default(node_exporter_ours):
    """Prometheus asks for OpenMetrics first; like the Go exporters we answer text 0.0.4, so
    counters keep the names the shared rules use (OpenMetrics would add _total)."""
    resp = node_exporter_ours.get(headers={"Accept": PROMETHEUS_ACCEPT})
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in resp.text


def test_openmetrics_when_enabled_and_asked(exporter_factory):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

    exp = exporter_factory("--web.enable-openmetrics")
    resp = exp.get(headers={"Accept": PROMETHEUS_ACCEPT})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert resp.text.endswith("# EOF\n")
    fams = {m.name: m for m in parse_om(resp.text)}  # the strict OpenMetrics parser accepts it
    assert fams["node_cpu_seconds"].type == "counter"
    assert fams["node_memory_MemTotal_bytes"].type == "gauge"


def test_collect_and_exclude_filters(node_exporter_ours):
    only = node_exporter_ours.get("/metrics?collect[]=loadavg&collect[]=uname").text
    collectors = {dict(l)["collector"] for (n, l) in samples(only) if n == "node_scrape_collector_success"}
    assert collectors == {"loadavg", "uname"}
    assert "node_load1" in parse_families(only) and "node_cpu_seconds" not in parse_families(only)
    without = node_exporter_ours.get("/metrics?exclude[]=cpu").text
    assert "node_cpu_seconds" not in parse_families(without)
    assert "node_memory_MemTotal_bytes" in parse_families(without)


@pytest.mark.parametrize(
    "query,message",
    [
        ("collect[]=cpu&exclude[]=meminfo", "cannot be combined"),
        ("collect[]=nosuch", "unknown collector: nosuch"),
    ],
)
def test_bad_filters_are_400_with_reason(node_exporter_ours, query, message):
    resp = node_exporter_ours.get("/metrics?" + query)
    assert resp.status == 400
    assert message in resp.text


def test_health_ready_live(node_exporter_ours):
    health = node_exporter_ours.get("/health")
    assert health.status == 200
    body = json.loads(health.body)
    assert body["status"] == "healthy" and body["checks"]["procfs"] == {"status": "healthy"}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["timestamp"])
    assert json.loads(node_exporter_ours.get("/ready").body)["status"] == "ready"
    assert json.loads(node_exporter_ours.get("/live").body)["status"] == "alive"


def test_landing_page_lists_collectors_and_status(node_exporter_ours):
    node_exporter_ours.get()
    page = node_exporter_ours.get("/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    for name in ALWAYS_HERE:
        assert f"<td>{name}</td><td>ok</td>" in page.text, name
    assert '<a href="/metrics">' in page.text


def fake_procfs(tmp_path, *files: str):
    """A procfs tree holding copies of only the named /proc files."""
    root = tmp_path / "proc"
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"/proc/{name}", root / name)
    return root


def test_failing_collector_gives_success_0_and_the_rest_is_served(exporter_factory, tmp_path):
    procfs = fake_procfs(tmp_path, "stat", "loadavg")  # no meminfo
    exp = exporter_factory(
        f"--path.procfs={procfs}",
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.loadavg",
        "--collector.stat",
    )
    resp = exp.get()
    assert resp.status == 200
    assert value(resp.text, "node_scrape_collector_success", collector="meminfo") == 0
    assert value(resp.text, "node_scrape_collector_success", collector="loadavg") == 1
    assert value(resp.text, "node_scrape_collector_success", collector="stat") == 1
    assert "node_load1" in resp.text
    assert "<td>meminfo</td><td>failed</td>" in exp.get("/").text
    for _ in range(3):
        assert value(exp.get().text, "node_scrape_collector_success", collector="meminfo") == 0
    assert exp.log().count("collector meminfo failed") == 1  # logged when it starts failing, not every scrape
    shutil.copyfile("/proc/meminfo", procfs / "meminfo")
    assert value(exp.get().text, "node_scrape_collector_success", collector="meminfo") == 1
    assert "collector meminfo succeeds again" in exp.log()


def test_health_turns_503_when_procfs_goes_away(exporter_factory, tmp_path):
    procfs = fake_procfs(tmp_path, "stat", "loadavg")
    exp = exporter_factory(f"--path.procfs={procfs}", "--collector.disable-defaults", "--collector.loadavg")
    assert exp.get("/health").status == 200
    (procfs / "stat").unlink()
    resp = exp.get("/health")
    assert resp.status == 503
    body = json.loads(resp.body)
    assert body["status"] == "unhealthy"
    assert body["checks"]["procfs"]["status"] == "unhealthy" and "stat" in body["checks"]["procfs"]["error"]
    assert exp.get("/live").status == 200


def _release_fifo(path, delay):
    """Open the FIFO for writing after ``delay`` s, which unblocks a reader stuck in open()."""

    def run():
        time.sleep(delay)
        fd = os.open(path, os.O_WRONLY)
        os.close(fd)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_overrunning_collector_respects_prometheus_timeout(exporter_factory, tmp_path):
    """A textfile that is a FIFO with no writer blocks open() for real: the scrape
    still answers before Prometheus gives up, with textfile success 0."""
    textdir = tmp_path / "text"
    textdir.mkdir()
    (textdir / "good.prom").write_text("good_metric 1\n")
    fifo = textdir / "stuck.prom"
    os.mkfifo(fifo)
    exp = exporter_factory(f"--collector.textfile.directory={textdir}")
    t = time.monotonic()
    resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
    elapsed = time.monotonic() - t
    assert resp.status == 200
    assert 1.0 < elapsed < 2.0, elapsed
    assert value(resp.text, "node_scrape_collector_success", collector="textfile") == 0
    assert value(resp.text, "node_scrape_collector_success", collector="meminfo") == 1
    # the read is still stuck: the next scrape does not pile up another thread on it
    t = time.monotonic()
    resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
    assert time.monotonic() - t < 1.0
    assert value(resp.text, "node_scrape_collector_success", collector="textfile") == 0
    _release_fifo(fifo, 0).join(5)
    os.unlink(fifo)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
        if value(resp.text, "node_scrape_collector_success", collector="textfile") == 1:
            break
        time.sleep(0.1)
    assert value(resp.text, "good_metric") == 1


def _await_fifo_reader(fifo, timeout: float = 10.0) -> int:
    """A writer fd of ``fifo``, opened once the exporter's read waits on it (a non-blocking writer open
    succeeds only when a reader has the FIFO open); kept open, the reader waits for data."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: no reader yet
            assert exc.errno == errno.ENXIO and time.monotonic() < deadline, exc
            time.sleep(0.02)


def test_a_short_deadline_never_fails_another_clients_scrape(exporter_factory, tmp_path):
    """A client announcing a tiny timeout gives up on the textfile read its scrape started; a normal
    scrape that arrives while that read is still in flight waits for it and serves its result
    (success 1), instead of failing with 'the previous textfile read has not returned yet'."""
    textdir = tmp_path / "text"
    textdir.mkdir()
    fifo = textdir / "slow.prom"
    os.mkfifo(fifo)
    exp = exporter_factory(f"--collector.textfile.directory={textdir}")
    short: list = []
    t = threading.Thread(target=lambda: short.append(exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "0.05"})))
    t.start()
    writer = _await_fifo_reader(fifo)  # the short scrape's read is in flight
    t.join(10)
    assert value(short[0].text, "node_scrape_collector_success", collector="textfile") == 0
    normal: list = []
    n = threading.Thread(target=lambda: normal.append(exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})))
    n.start()
    time.sleep(0.3)  # gives the normal scrape time to reach the read in flight (passes either way with the fix)
    os.write(writer, b"slow_metric 7\n")
    os.close(writer)
    n.join(15)
    assert normal[0].status == 200
    assert value(normal[0].text, "node_scrape_collector_success", collector="textfile") == 1
    assert value(normal[0].text, "slow_metric") == 7
    assert "has not returned yet" not in exp.log()


def test_a_tiny_announced_timeout_has_a_floor(exporter_factory):
    """X-Prometheus-Scrape-Timeout-Seconds: 1e-6 from any client still gets a scrape that can finish,
    and writes no error lines (it wrote 24 failures and 24 recoveries)."""
    exp = exporter_factory()

    def succeeded(text):
        return {
            dict(labels)["collector"]
            for (name, labels), v in samples(text).items()
            if name == "node_scrape_collector_success" and v == 1
        }

    normal = succeeded(exp.get().text)  # the collectors that have data on this host
    assert len(normal) > 10
    before = exp.log().count("\n")
    for header in ("1e-6", "0.05", "-1", "nan", "junk"):
        resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": header})
        assert resp.status == 200
        assert succeeded(resp.text) == normal, header
    assert " ERROR " not in "\n".join(exp.log().splitlines()[before:])


def test_default_deadline_without_header(exporter_factory, tmp_path):
    textdir = tmp_path / "text"
    textdir.mkdir()
    fifo = textdir / "stuck.prom"
    os.mkfifo(fifo)
    exp = exporter_factory(f"--collector.textfile.directory={textdir}", "--scrape.timeout=1")
    t = time.monotonic()
    resp = exp.get()
    assert resp.status == 200 and 0.9 < time.monotonic() - t < 1.8
    _release_fifo(fifo, 0).join(5)


def test_max_requests_limits_concurrent_scrapes(exporter_factory, tmp_path):
    textdir = tmp_path / "text"
    textdir.mkdir()
    fifo = textdir / "stuck.prom"
    os.mkfifo(fifo)
    exp = exporter_factory(f"--collector.textfile.directory={textdir}", "--web.max-requests=1", "--scrape.timeout=2")
    first: list = []
    t = threading.Thread(target=lambda: first.append(exp.get()))
    t.start()
    # the first scrape holds the one slot once its textfile collector waits on the FIFO: a writer
    # opened without blocking succeeds only then; kept open, it leaves the reader waiting for data
    deadline = time.monotonic() + 10
    while True:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:  # ENXIO: no reader yet
            assert exc.errno == errno.ENXIO and time.monotonic() < deadline, exc
            time.sleep(0.02)
    try:
        second = exp.get()
    finally:
        os.close(writer)  # end of file: the first scrape finishes
    t.join(10)
    assert second.status == 503 and "Limit of concurrent requests" in second.text
    assert first[0].status == 200


def test_telemetry_path_and_collector_flags(exporter_factory):
    exp = exporter_factory("--web.telemetry-path=/node-metrics", "--no-collector.cpu")
    assert exp.get("/metrics").status == 404
    text = exp.get("/node-metrics").text
    assert "node_cpu_seconds" not in parse_families(text)
    assert "node_memory_MemTotal_bytes" in parse_families(text)
    assert '<a href="/node-metrics">' in exp.get("/").text


def test_disable_defaults_keeps_only_named_collectors(exporter_factory):
    exp = exporter_factory("--collector.disable-defaults", "--collector.loadavg")
    text = exp.get().text
    collectors = {dict(l)["collector"] for (n, l) in samples(text) if n == "node_scrape_collector_success"}
    assert collectors == {"loadavg"}
    assert exp.get("/metrics?collect[]=cpu").status == 400  # disabled collectors cannot be asked for


def test_flags_from_environment(exporter_factory):
    exp = exporter_factory(
        env={"FLEXTIME_NODE_COLLECTOR_CPU": "false", "FLEXTIME_NODE_WEB_DISABLE_EXPORTER_METRICS": "true"}
    )
    fams = parse_families(exp.get().text)
    assert "node_cpu_seconds" not in fams
    assert "process_resident_memory_bytes" not in fams and "flextime_exporter_build_info" not in fams
    assert "node_load1" in fams


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this kernel has no IPv6 loopback")
def test_listens_on_several_addresses_ipv4_and_ipv6(exporter_factory):
    from conftest import free_port

    port6 = free_port()
    exp = exporter_factory(f"--web.listen-address=[::1]:{port6}")
    assert exp.get("/live").status == 200
    assert http_get(f"http://[::1]:{port6}/live").status == 200


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_formats(exporter_factory, fmt):
    exp = exporter_factory(f"--log.format={fmt}", "--collector.textfile.directory=/nonexistent-dir")
    exp.get()
    lines = [l for l in exp.log().splitlines() if l.strip()]
    assert lines
    for line in lines:
        if fmt == "text":
            # the grok pattern of the platform's Logstash pipeline
            assert re.match(
                r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \[[^\]]+\] .+", line
            ), line
        else:
            doc = json.loads(line)
            assert set(doc) >= {"timestamp", "level", "component", "message"}
    assert any("textfile" in l and "nonexistent-dir" in l for l in lines)


def test_concurrent_scrapes_all_answer(node_exporter_ours):
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(node_exporter_ours.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 8 and all(r.status == 200 for r in results)
    assert all("node_load1" in r.text for r in results)


def test_deprecated_node_exporter_flag_spellings_still_work(exporter_factory):
    exp = exporter_factory(
        "--collector.filesystem.ignored-mount-points=^/$", "--collector.netdev.device-blacklist=^lo$"
    )
    series = samples(exp.get().text)
    assert not [l for (n, l) in series if n == "node_filesystem_size_bytes" and dict(l)["mountpoint"] == "/"]
    netdev = re.compile(r"^node_network_(receive|transmit)_.*_total$")  # netdev's families; netclass has its own filter
    assert not [l for (n, l) in series if netdev.match(n) and dict(l)["device"] == "lo"]
    assert [l for (n, l) in series if n == "node_network_receive_bytes_total"]  # other devices remain


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes (or 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except socket.timeout:
            pass
    return out


def test_malformed_requests_are_answered_briefly_and_not_logged(exporter_factory):
    """Before authentication anyone can send bytes: a malformed request gets a 400 that does not echo
    it, no version in the Server header, and no log line at the default level (it was 10 lines of
    ERROR traceback a request). HTTP/0.9 ('GET /metrics' with no version) gets a 400, never metrics."""
    exp = exporter_factory()
    exp.get()
    before = len(exp.log().splitlines())
    bad = [
        b"GARBAGE <script>alert(1)</script> HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad <b>Header\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    ]
    for _ in range(5):
        for data in bad:
            answer = _raw_exchange(exp.port, data)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0], answer[:200]
            assert body == b"400 Bad Request\n", body
            assert b"Server: flextime-exporter\r\n" in head and b"aiohttp" not in head and b"Python" not in head
    http09 = _raw_exchange(exp.port, b"GET /metrics\r\n\r\n")
    assert http09.startswith(b"HTTP/1.1 400 "), http09[:100]
    assert b"node_" not in http09
    assert exp.log().splitlines()[before:] == []
    good = exp.get()
    assert good.status == 200 and "aiohttp" not in good.headers.get("Server", "")


def test_sigterm_exits_while_a_read_is_stuck(exporter_factory, tmp_path):
    """A FIFO in the textfile directory keeps a worker thread in open() for good: SIGTERM still ends
    the process (it used to close the listener and stay until SIGKILL)."""
    import signal

    textdir = tmp_path / "text"
    textdir.mkdir()
    os.mkfifo(textdir / "stuck.prom")
    exp = exporter_factory(f"--collector.textfile.directory={textdir}", "--scrape.timeout=1")
    assert value(exp.get().text, "node_scrape_collector_success", collector="textfile") == 0
    exp.proc.send_signal(signal.SIGTERM)
    assert exp.proc.wait(timeout=15) == 0
    assert "shutting down" in exp.log()


def _fd_limit(soft: int, hard: int):
    """A preexec_fn that gives the exporter RLIMIT_NOFILE (soft, hard)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _open_connections(port: int, n: int) -> list:
    conns = []
    for _ in range(n):
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    return conns


def test_open_file_limit_is_raised_to_the_hard_limit(exporter_factory):
    """Started with node_exporter's usual soft limit of 1,024 (hard 4,096), the exporter raises its
    own soft limit: 1,100 idle client connections leave a scrape working."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:  # this test's own 1,100 client sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    exp = exporter_factory(preexec_fn=_fd_limit(1024, 4096))
    limits = open(f"/proc/{exp.proc.pid}/limits").read()
    assert re.search(r"Max open files\s+4096\s+4096", limits), limits
    conns = _open_connections(exp.port, 1100)
    try:
        resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
        assert resp.status == 200 and value(resp.text, "node_scrape_collector_success", collector="cpu") == 1
    finally:
        for c in conns:
            c.close()


def test_running_out_of_descriptors_is_one_log_line_not_a_flood(exporter_factory):
    """With a hard limit too low for the connections, accept() fails with EMFILE: asyncio logged a
    traceback for each failed accept (MB/s); now one line a minute, and serving resumes afterwards."""
    exp = exporter_factory(preexec_fn=_fd_limit(96, 96))
    conns = _open_connections(exp.port, 150)  # more than the exporter can accept
    try:
        deadline = time.monotonic() + 10
        while "cannot accept connections" not in exp.log():
            assert time.monotonic() < deadline, exp.log()[-2000:]
            time.sleep(0.1)
        time.sleep(2)  # asyncio retries accept() every second: two more tries, no more lines
        log = exp.log()
        assert log.count("cannot accept connections") == 1 and "Traceback" not in log, log[-3000:]
    finally:
        for c in conns:
            c.close()
    deadline = time.monotonic() + 15
    while True:
        try:
            if exp.get().status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.2)
