"""Issue 16 item 7: the per-table rows of a query collector are turned into samples while the scrape's
time lasts. Rows come from a stand-in session that answers at once, so the conversion alone decides
when the collector returns."""

from __future__ import annotations

import asyncio
import gzip
import time

from exporters.core import scrape
from exporters.core.collector import PartialFailure
from exporters.core.metrics import render_text
from exporters.core.runtime import parse_settings
from exporters.core.scrape import Scraper
from exporters.postgres import SPEC
from exporters.postgres.registry import pg_collectors

ROWS = 60_000  # ~1.4 M samples, a 140 MB answer: 1.7 s to convert, render and compress when not bounded


class Session:
    """Answers every query with ``rows`` at once (the rows a server with many tables sends)."""

    version_num = 150000
    server = "127.0.0.1:5432"

    def __init__(self, names, rows) -> None:
        self.names, self.rows = names, rows

    async def fetch(self, sql, params=None, *, slow=False):
        return self.names, self.rows


def collector_with_rows(count: int):
    settings = parse_settings(
        SPEC, ["--dsn=postgresql://127.0.0.1:1/x", "--collector.stat_user_tables.limit=1000000"], env={}
    )
    settings = settings.replace(options=SPEC.validate(settings))  # as the runtime passes them down
    probe = pg_collectors.get("stat_user_tables")(settings)
    probe.session = Session([], [])
    q = probe.query()
    names = [*q.labels, *(c.column for c in q.columns)]
    rows = [(*(f"{label}{i}" for label in q.labels), *([i] * len(q.columns))) for i in range(count)]
    probe.session = Session(names, rows)
    return probe


async def _collect_within(collector, seconds: float):
    scrape._deadline.set(time.monotonic() + seconds)
    started = time.monotonic()
    try:
        result = await collector.collect()
    except PartialFailure as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, result


def test_the_answer_is_written_within_the_scrape_deadline():
    """What a user sees: the scrape's answer, rendered and compressed, within the deadline, with the
    rows converted so far (the collector fails, saying how far it got)."""
    scraper = Scraper("pg", {"stat_user_tables": collector_with_rows(ROWS)})

    async def answer():  # timed on the running loop, as the server's request handler sees it
        started = time.monotonic()
        result = await scraper.scrape(["stat_user_tables"], 1.0)
        body = gzip.compress(render_text(result.families).encode(), 1)
        return time.monotonic() - started, result, body

    took, result, body = asyncio.run(answer())
    assert took < 1.0, took
    status = result.statuses["stat_user_tables"]
    assert not status.success and "stopped at the scrape deadline" in status.error
    served = max(len(f.samples) for f in result.families if f.name.startswith("pg_stat_user_tables_"))
    assert 0 < served < ROWS and body


def test_all_rows_when_time_allows():
    collector = collector_with_rows(3000)
    took, outcome = asyncio.run(_collect_within(collector, 30.0))
    assert not isinstance(outcome, PartialFailure)
    assert max(len(f.samples) for f in outcome) == 3000
