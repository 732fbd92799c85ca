"""One scrape: run the chosen collectors concurrently under one deadline.

Every collector gets ``<ns>_scrape_collector_success`` and
``<ns>_scrape_collector_duration_seconds``; one that fails or overruns the
deadline reports success 0 and the rest of the scrape is still served.
Concurrent scrapes asking for the same collectors share one run, so N
scrapers do not mean N times the reads (or queries, for database exporters).

Async collectors (databases, Redis) run as tasks on the event loop. Blocking
collectors (/proc, statvfs) run one after another on a single worker thread, a
"lane": a dozen /proc reads take ~2 ms, while a thread hop per collector and
the GIL contention of several threads would cost twice that again. When the
collector a lane is running stalls (a dead NFS mount, a FIFO), the collectors
still queued behind it move to a fresh lane, so one hung read never holds up
the others for more than a moment.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence, cast

from .collector import BlockingCollector, Collector, CollectorBusy, NoData, PartialFailure
from .errors import describe_error
from .metrics import GAUGE, MetricDef, MetricFamily, merge

log = logging.getLogger("exporters.scrape")

# time.monotonic() by which the current scrape must be done; collectors that
# wait on something (statvfs, a query) read it through remaining_seconds().
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("scrape_deadline", default=float("inf"))
# the current scrape's whole budget in seconds (its timeout), beside the deadline
_budget: contextvars.ContextVar[float] = contextvars.ContextVar("scrape_budget", default=0.0)


# one object per scrape run: hooks that keep per-run state (the Redis session's replies) key it by this,
# since concurrent runs of one target (different collect[] sets) share the hooks object
_run: contextvars.ContextVar[object] = contextvars.ContextVar("scrape_run", default=None)


def current_run() -> object:
    """The scrape run the calling task belongs to (None outside a scrape)."""
    return _run.get()


def remaining_seconds() -> float:
    """Seconds left before the current scrape's deadline (inf outside a scrape)."""
    return _deadline.get() - time.monotonic()


def time_left(cap: float = 30.0) -> float:
    """Seconds a wait may take: what is left of the scrape's deadline, or ``cap`` outside a scrape
    (/health); never less than 10 ms, so a wait at the deadline fails as a timeout, not an error."""
    return max(0.01, min(cap, remaining_seconds()))


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
    # rendered bodies by (format, gzip): requests that share this result share the rendering too
    bodies: dict[tuple[bool, bool], "asyncio.Future[bytes]"] = field(default_factory=dict)


class _Outcome:
    """One collector's part of one scrape, filled in by a lane thread or a task."""

    __slots__ = ("name", "collector", "state", "started", "families", "duration", "error", "quiet")

    def __init__(self, name: str, collector: Collector) -> None:
        self.name = name
        self.collector = collector
        self.state = "queued"  # -> running -> done; claimed under _claim_lock
        self.started = 0.0
        self.families: list[MetricFamily] = []
        self.duration = 0.0
        self.error = ""
        self.quiet = False  # an expected absence (NoData): debug log only

    def fail(self, exc: Exception) -> None:
        """Record the failure; it is logged in Scraper._result, once per change of error."""
        if isinstance(exc, PartialFailure):
            self.families = exc.families
        self.error = str(exc) if isinstance(exc, (CollectorBusy, NoData, PartialFailure)) else describe_error(exc)
        self.quiet = isinstance(exc, NoData)
        log.debug(
            "collector %s: %s",
            self.name,
            self.error,
            exc_info=not isinstance(exc, (CollectorBusy, NoData, PartialFailure)),
        )


_claim_lock = threading.Lock()


def _run_lane(outcomes: list[_Outcome]) -> None:
    """Worker thread: run each still-queued blocking collector in turn."""
    for out in outcomes:
        with _claim_lock:
            if out.state != "queued":
                continue  # another lane took it, or the scrape gave up on it
            out.state = "running"
            out.started = time.perf_counter()
        try:
            out.families = cast(BlockingCollector, out.collector).read_guarded(
                wait=remaining_seconds(), budget=_budget.get()
            )
        except Exception as exc:  # a collector failing must not fail the scrape
            out.fail(exc)
        out.duration = time.perf_counter() - out.started
        out.state = "done"


class ScrapeHooks:
    """Work an exporter does around every scrape run, beside its collectors.

    The database exporters check their connection in :meth:`before` (so
    ``pg_up`` / ``redis_up`` describe this very scrape, and collectors share the
    connection it made) and add their status families in :meth:`families`."""

    label = ""  # the target label's value (postgres: server="host:port"), when the exporter has one
    display = ""  # the target as logs and pages show it: never a password

    async def start(self) -> None:
        """Called once when the exporter starts serving (background work a session needs)."""

    async def before(self) -> None:
        """Runs first in each scrape run, bounded by the scrape deadline; must not raise."""

    def families(self, result: "ScrapeResult") -> list[MetricFamily]:
        return []

    async def close(self) -> None:
        """Called once at shutdown."""


class Scraper:
    """Runs collectors for one exporter; owns their last status."""

    def __init__(self, namespace: str, collectors: dict[str, Collector], hooks: ScrapeHooks | None = None) -> None:
        self.namespace = namespace
        self.collectors = collectors
        self.hooks = hooks
        self.status: dict[str, CollectorStatus] = {name: CollectorStatus() for name in collectors}
        self._quiet_failures: set[str] = set()  # collectors whose current failure was logged at debug level
        self._success_def = MetricDef(
            f"{namespace}_scrape_collector_success",
            GAUGE,
            f"{namespace}_exporter: Whether a collector succeeded.",
            ("collector",),
        )
        self._duration_def = MetricDef(
            f"{namespace}_scrape_collector_duration_seconds",
            GAUGE,
            f"{namespace}_exporter: Duration of a collector scrape.",
            ("collector",),
        )
        self._inflight: dict[tuple[str, ...], tuple[float, asyncio.Task]] = {}
        self.series_dropped = 0  # samples dropped as duplicates or type conflicts, since start

    @property
    def busy(self) -> bool:
        """A scrape is running (its session must not be closed under it)."""
        return bool(self._inflight)

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
        end = time.monotonic() + timeout
        _deadline.set(end)
        _budget.set(timeout)
        _run.set(object())
        if self.hooks is not None:
            try:
                await asyncio.wait_for(self.hooks.before(), timeout=max(0.0, end - time.monotonic()))
            except Exception as exc:  # TimeoutError included: the hook reports its own state
                log.debug("scrape hook did not finish: %s", describe_error(exc))
        outcomes = [_Outcome(name, self.collectors[name]) for name in names]
        blocking = [o for o in outcomes if isinstance(o.collector, BlockingCollector)]
        tasks = [asyncio.ensure_future(self._run_async(o)) for o in outcomes if o not in blocking]
        lanes = await self._run_lanes(blocking, end, tasks)
        pending = [t for t in tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, end - time.monotonic()))
        for t in tasks:
            if not t.done():
                t.cancel()
        del lanes
        result = self._result(outcomes, started, t0, timeout)
        if self.hooks is not None:
            result.families.extend(self.hooks.families(result))
        return result

    async def _run_lanes(self, blocking: list[_Outcome], end: float, tasks: Sequence[asyncio.Future]) -> list:
        """Run blocking collectors on lanes until all are done or the deadline passes."""
        if not blocking:
            return []
        loop = asyncio.get_running_loop()
        stall = max(0.2, min(1.0, (end - time.monotonic()) / 5))

        def start(queue: list[_Outcome]) -> asyncio.Future:
            context = contextvars.copy_context()  # carries the scrape deadline into the thread
            return loop.run_in_executor(None, context.run, _run_lane, queue)

        lanes = [start(blocking)]
        while True:
            live = [lane for lane in lanes if not lane.done()]
            left = end - time.monotonic()
            if not live or left <= 0:
                break
            await asyncio.wait(live, timeout=min(stall, left))
            if all(o.state == "done" for o in blocking):
                break
            now = time.perf_counter()
            stuck = [o for o in blocking if o.state == "running" and now - o.started >= stall]
            queued = [o for o in blocking if o.state == "queued"]
            if stuck and queued and len([lane for lane in lanes if not lane.done()]) <= len(stuck):
                log.debug("collector %s stalls; moving %d queued collectors to a new lane", stuck[0].name, len(queued))
                lanes.append(start(queued))
        with _claim_lock:
            for o in blocking:
                if o.state == "queued":
                    o.state = "abandoned"
        return lanes

    async def _run_async(self, out: _Outcome) -> None:
        out.started = time.perf_counter()
        out.state = "running"
        try:
            out.families = list(await out.collector.collect())
        except Exception as exc:  # a collector failing must not fail the scrape
            out.fail(exc)
        out.duration = time.perf_counter() - out.started
        out.state = "done"

    def _log_change(self, out: _Outcome, error: str) -> None:
        """Log a collector's failure when it starts or changes, and its recovery; a
        failure that repeats scrape after scrape (a missing permission) does not flood the log."""
        previous = self.status[out.name]
        if error and error != previous.error:
            if out.quiet:
                log.debug("collector %s has no data: %s", out.name, error)
                self._quiet_failures.add(out.name)
            else:
                log.error("collector %s failed: %s", out.name, error)
                self._quiet_failures.discard(out.name)
        elif not error and previous.error:
            # a recovery is said at the level its failure was: after a database restart the session
            # says "connected again" once, not once more per collector whose absence was a debug line
            if out.name in self._quiet_failures:
                self._quiet_failures.discard(out.name)
                log.debug("collector %s has data again", out.name)
            else:
                log.info("collector %s succeeds again", out.name)

    def _result(self, outcomes: list[_Outcome], started: float, t0: float, timeout: float) -> ScrapeResult:
        families: list[MetricFamily] = []
        success = self._success_def.family()
        duration = self._duration_def.family()
        statuses: dict[str, CollectorStatus] = {}
        now = time.time()
        elapsed_total = time.perf_counter() - t0
        for out in outcomes:
            if out.state == "done":
                elapsed, error = out.duration, out.error
                families.extend(out.families)
            else:
                elapsed = time.perf_counter() - out.started if out.state == "running" else elapsed_total
                error = f"did not finish within the scrape deadline ({timeout:.3g}s)"
            self._log_change(out, error)
            ok = not error
            statuses[out.name] = self.status[out.name] = CollectorStatus(ok, elapsed, now, error)
            success.add((out.name,), 1 if ok else 0)
            duration.add((out.name,), elapsed)
        families.append(duration)
        families.append(success)
        # once per run, not per request: coalesced requests share this result
        families, dropped = merge(families)
        if dropped:
            self.series_dropped += dropped
            log.warning("dropped %d duplicate or conflicting samples from this scrape", dropped)
        return ScrapeResult(families, started, elapsed_total, statuses)
