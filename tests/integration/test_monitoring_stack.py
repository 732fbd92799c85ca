"""End to end: the shipped rules and dashboards (deploy/) on a real Prometheus and Alertmanager,
scraping the fleet (node, postgres, redis and scheduler exporters) against real PostgreSQL,
Redis and a BullMQ queue.

Prometheus scrapes and evaluates every 2 s with copies of the shipped rule files whose `for`
durations are cut to 2 s (the shipped files keep the seed's). Alertmanager sends everything to a
webhook receiver, a small HTTP server in this test. Checked:
- every expression of every shipped alert and every dashboard query evaluates without error, and
  where its data exists (every metric it names has series) it returns series;
- stopping PostgreSQL makes DatabaseDown arrive at the webhook;
- stopping the queue's worker while jobs keep arriving makes SchedulerQueueBacklogGrowing
  arrive; starting it again resolves it.
Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Prometheus, free_port, require_program, start_exporter, stop_process, wait_http

from exporters.rules import series_names

DEPLOY = ROOT / "deploy"
RUN = secrets.token_hex(3)
QUEUE = f"e2e-{RUN}"
TEMPLATE_VARS = {"$__rate_interval": "1m", "$__interval": "2s", "$__range": "5m"}


class Webhook:
    """Alertmanager's webhook receiver: keeps every notification it is sent."""

    def __init__(self) -> None:
        self.notifications: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, name: str, status: str) -> list[dict]:
        return [
            a
            for n in self.notifications
            for a in n.get("alerts", [])
            if a["labels"].get("alertname") == name and a["status"] == status
        ]

    def wait(self, name: str, status: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while not self.alerts(name, status):
            assert time.monotonic() < end, (
                f"no {status} {name} within {timeout}s: "
                f"{[(a['labels'].get('alertname'), a['status']) for n in self.notifications for a in n['alerts']]}"
            )
            time.sleep(0.25)
        return self.alerts(name, status)[-1]

    def stop(self) -> None:
        self.server.shutdown()


def _short_rules(directory: Path) -> list[Path]:
    """The shipped rule files with every `for` cut to 2 s."""
    directory.mkdir()
    out = []
    for path in sorted((DEPLOY / "prometheus" / "alerts").glob("*.yml")):
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "2s"
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(rules))
        out.append(copy)
    return out


def _alert_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted((DEPLOY / "prometheus" / "alerts").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [(r.get("alert") or r.get("record"), r["expr"]) for r in group["rules"]]
    return out


def _dashboard_exprs() -> list[tuple[str, str]]:
    out = []

    def walk(panels, where):
        for panel in panels or []:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((f"{where}: {panel.get('title')}", target["expr"]))
            walk(panel.get("panels"), where)

    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        walk(json.loads(path.read_text()).get("panels"), path.name)
    return out


def _substitute(expr: str) -> str:
    for var, value in TEMPLATE_VARS.items():
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", expr)  # $instance, ${job}: any value


def _filters(expr: str) -> bool:
    """Does ``expr`` filter series (a comparison or and/or/unless outside label matchers)?"""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    return bool(re.search(r"==|!=|>=|<=|>|<|\b(?:and|or|unless)\b", bare))


_COMPARISON = re.compile(r"^(?P<lhs>.*?)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.e+]+\s*$", re.S)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from postgres.conftest import _cleanup as pg_cleanup
    from postgres.conftest import _start_primary, find_bin_dir
    from redis_tests.conftest import CANARY_PREFIX, _binary_version, _new_server, debian_redis_binary
    from redis_tests.conftest import _cleanup as redis_cleanup

    tmp = tmp_path_factory.mktemp("stack")
    started: list = []
    pg = _start_primary(f"e2e-{RUN}", find_bin_dir())
    binary = debian_redis_binary()
    redis = _new_server(
        f"e2e-redis-{RUN}", "master", binary, *_binary_version(binary), CANARY_PREFIX + secrets.token_hex(8)
    )
    hook = Webhook()
    try:
        redis.start()
        exporters = {
            "node-exporter": start_exporter(tmp, exporter="node"),
            "postgres-exporter": start_exporter(
                tmp, exporter="postgres", env={"DATA_SOURCE_NAME": pg.exporter_dsn + "?sslmode=disable"}
            ),
            "redis-exporter": start_exporter(tmp, f"--redis.addr={redis.url}", exporter="redis"),
            "scheduler-exporter": start_exporter(
                tmp, f"--redis.addr={redis.url}", f"--bullmq.queue={QUEUE}", exporter="scheduler"
            ),
        }
        started += exporters.values()
        am_binary = require_program("prometheus-alertmanager", "alertmanager")
        (tmp / "alertmanager.yml").write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "test",
                        "group_by": ["alertname"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [{"name": "test", "webhook_configs": [{"url": hook.url, "send_resolved": True}]}],
                }
            )
        )
        am_port = free_port()
        am = subprocess.Popen(
            [
                am_binary,
                f"--config.file={tmp / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=open(tmp / "alertmanager.log", "w"),
            stderr=subprocess.STDOUT,
        )
        started.append(am)
        wait_http(f"http://127.0.0.1:{am_port}/-/ready", am, timeout=30)
        rules = _short_rules(tmp / "rules")
        config = {
            "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"},
            "rule_files": [str(r) for r in rules],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{exp.port}"]}]}
                for job, exp in exporters.items()
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom = Prometheus.with_config(tmp / "prom", tmp / "prometheus.yml")
        started.append(prom)
        prom.wait("count(up == 1) == 4", timeout=30)
        yield {"prom": prom, "hook": hook, "pg": pg, "redis": redis, "exporters": exporters}
    finally:
        for thing in reversed(started):
            if isinstance(thing, subprocess.Popen):
                thing.terminate()
                try:
                    thing.wait(20)
                except subprocess.TimeoutExpired:
                    thing.kill()
            else:
                thing.stop()
        hook.stop()
        redis_cleanup(redis)
        pg_cleanup(pg)


def _has_data(prom, expr: str) -> bool:
    names = series_names(expr)
    return bool(names) and all(prom.query(f'count({{__name__="{n}"}})') for n in names)


def test_every_alert_and_dashboard_expression_evaluates(stack):
    prom = stack["prom"]
    # every exporter's families are in (pg_up, redis_up, scheduler_up, node's)
    prom.wait("count(pg_up) + count(redis_up) + count(scheduler_up) + count(node_load1) == 4", timeout=30)
    # rate() and increase() need two samples in their window: a few scrapes first
    prom.wait("min(count_over_time(up[1m])) >= 3", timeout=30)
    exprs = [("alert " + n, e) for n, e in _alert_exprs()] + [
        ("panel " + n, _substitute(e)) for n, e in _dashboard_exprs()
    ]
    assert len(exprs) > 40
    empty = []
    for name, expr in exprs:
        result = prom.query(expr)  # fails the test on a parse or evaluation error
        if name.startswith("alert "):
            match = _COMPARISON.match(expr.strip())
            if match is not None and not _filters(match.group("lhs")):
                expr = match.group("lhs")  # the alert's value without its threshold
                result = prom.query(expr)
        if _filters(expr):
            continue  # a filter (a threshold, `and`, a replica-only panel): evaluating it is the check
        if _has_data(prom, expr) and not result:
            empty.append((name, expr))
    assert empty == [], "\n".join(f"{n}: {e}" for n, e in empty)


def test_stopping_postgres_fires_database_down(stack):
    pg, hook = stack["pg"], stack["hook"]
    pg.stop()
    try:
        alert = hook.wait("DatabaseDown", "firing", timeout=60)
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["job"] == "postgres-exporter"
    finally:
        pg.start()
    hook.wait("DatabaseDown", "resolved", timeout=60)


async def _add(url: str, count: int) -> None:
    from bullmq import Queue

    q = Queue(QUEUE, {"connection": url})
    try:
        for _ in range(count):
            await q.add("generate-schedule", {"sport": "soccer", "teamCount": 10})
    finally:
        await q.close()


# a BullMQ worker as its own process, so the test can stop it as an outage would
WORKER = """
import asyncio, sys
from bullmq import Worker

async def main():
    async def process(job, token):
        await asyncio.sleep(0.01)
        return {"constraintViolations": []}
    Worker(sys.argv[1], process, {"connection": sys.argv[2], "concurrency": 20, "name": "e2e"})
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _start_worker(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, QUEUE, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_stopping_the_workers_while_jobs_arrive_fires_the_backlog_alert(stack):
    """Jobs arrive all along (15 a second). With a worker the backlog stays low; with the worker
    stopped it grows and SchedulerQueueBacklogGrowing arrives; with a worker again it resolves."""
    prom, hook, url = stack["prom"], stack["hook"], stack["redis"].url
    worker = _start_worker(url)
    try:
        prom.wait(f'scheduler_queue_workers{{queue="{QUEUE}"}} == 1', timeout=30)
        for _ in range(6):  # served: nothing piles up
            asyncio.run(_add(url, 15))
            time.sleep(1)
        prom.wait(f'scheduler_queue_jobs_completed_total{{queue="{QUEUE}"}} >= 90', timeout=30)
        assert prom.query(f'scheduler_queue_jobs{{queue="{QUEUE}",state="waiting"}} > 50') == []
        assert not hook.alerts("SchedulerQueueBacklogGrowing", "firing")
        stop_process(worker)  # the outage: jobs keep arriving
        end = time.monotonic() + 60
        while not hook.alerts("SchedulerQueueBacklogGrowing", "firing"):
            assert time.monotonic() < end, "SchedulerQueueBacklogGrowing did not fire within 60s"
            asyncio.run(_add(url, 15))
            time.sleep(1)
        alert = hook.alerts("SchedulerQueueBacklogGrowing", "firing")[-1]
        assert alert["labels"]["queue"] == QUEUE and alert["labels"]["severity"] == "warning"
        worker = _start_worker(url)  # back: the backlog drains and the alert resolves
        hook.wait("SchedulerQueueBacklogGrowing", "resolved", timeout=60)
        prom.wait(f'scheduler_queue_jobs{{queue="{QUEUE}",state="waiting"}} == 0', timeout=30)
    finally:
        stop_process(worker)
