"""One scrape: run the chosen collectors concurrently under one deadline.

Every collector gets ``<ns>_scrape_collector_success`` and
``<ns>_scrape_collector_duration_seconds``; one that fails or overruns the
deadline reports success 0 and the rest of the scrape is still served.
Concurrent scrapes asking for the same collectors share one run, so N
scrapers do not mean N times the reads (or queries, for database exporters).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field

from .collector import Collector, CollectorBusy
from .metrics import GAUGE, MetricDef, MetricFamily

log = logging.getLogger("exporters.scrape")

# time.monotonic() by which the current scrape must be done; collectors that
# wait on something (statvfs, a query) read it through remaining_seconds().
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("scrape_deadline", default=float("inf"))


def remaining_seconds() -> float:
    """Seconds left before the current scrape's deadline (inf outside a scrape)."""
    return _deadline.get() - time.monotonic()


@dataclass
class CollectorStatus:
    """The last outcome of one collector, for the landing page and /health."""

    success: bool | None = None
    duration: float = 0.0
    finished_at: float = 0.0
    error: str = ""


@dataclass
class ScrapeResult:
    families: list[MetricFamily]
    started_at: float
    duration: float
    statuses: dict[str, CollectorStatus] = field(default_factory=dict)


def describe_error(exc: BaseException) -> str:
    """A short, bounded error description for logs and the landing page.

    Only the exception class and its first line; collectors must not put
    secrets into exception messages (the database exporters sanitise DSNs)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Scraper:
    """Runs collectors for one exporter; owns their last status."""

    def __init__(self, namespace: str, collectors: dict[str, Collector]) -> None:
        self.namespace = namespace
        self.collectors = collectors
        self.status: dict[str, CollectorStatus] = {name: CollectorStatus() for name in collectors}
        self._success_def = MetricDef(
            f"{namespace}_scrape_collector_success", GAUGE,
            f"{namespace}_exporter: Whether a collector succeeded.", ("collector",))
        self._duration_def = MetricDef(
            f"{namespace}_scrape_collector_duration_seconds", GAUGE,
            f"{namespace}_exporter: Duration of a collector scrape.", ("collector",))
        self._inflight: dict[tuple[str, ...], tuple[float, asyncio.Task]] = {}

    async def scrape(self, names: list[str], timeout: float) -> ScrapeResult:
        """Scrape ``names`` within ``timeout`` seconds; joins an identical scrape
        already in flight when that one ends no later than this one must."""
        key = tuple(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        running = self._inflight.get(key)
        if running is not None and running[0] <= deadline and not running[1].done():
            return await asyncio.shield(running[1])
        task = loop.create_task(self._run(names, timeout))
        self._inflight[key] = (deadline, task)
        try:
            return await asyncio.shield(task)
        finally:
            if self._inflight.get(key, (0, None))[1] is task:
                del self._inflight[key]

    async def _run(self, names: list[str], timeout: float) -> ScrapeResult:
        started = time.time()
        t0 = time.perf_counter()
        _deadline.set(time.monotonic() + timeout)
        tasks = {
            asyncio.ensure_future(self._timed(name, self.collectors[name])): name
            for name in names
        }
        done, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        families: list[MetricFamily] = []
        success = self._success_def.family()
        duration = self._duration_def.family()
        statuses: dict[str, CollectorStatus] = {}
        now = time.time()
        for task, name in tasks.items():
            if task in done:
                fams, elapsed, error = task.result()
            else:
                fams, elapsed, error = [], time.perf_counter() - t0, f"timed out after {timeout:.3g}s"
                log.warning("collector %s did not finish within the scrape deadline (%.3gs)", name, timeout)
            families.extend(fams)
            ok = not error
            status = CollectorStatus(ok, elapsed, now, error)
            statuses[name] = self.status[name] = status
            success.add((name,), 1 if ok else 0)
            duration.add((name,), elapsed)
        families.append(duration)
        families.append(success)
        return ScrapeResult(families, started, time.perf_counter() - t0, statuses)

    async def _timed(self, name: str, collector: Collector) -> tuple[list[MetricFamily], float, str]:
        t = time.perf_counter()
        try:
            fams = list(await collector.collect())
            return fams, time.perf_counter() - t, ""
        except asyncio.CancelledError:
            raise
        except CollectorBusy as exc:
            log.warning("collector %s skipped: %s", name, exc)
            return [], time.perf_counter() - t, str(exc)
        except Exception as exc:  # a collector failing must not fail the scrape
            error = describe_error(exc)
            log.error("collector %s failed: %s", name, error)
            log.debug("collector %s traceback", name, exc_info=True)
            return [], time.perf_counter() - t, error
