"""The scheduler exporter's collectors: one per backend kind, plus the application's pool.

Each backend collector reads every configured backend of its kind concurrently; a backend
that is down or slow gets ``scheduler_up{backend} 0`` (and collector success 0) while the
others are still served. The FlexTime counters come from the ledger (contract.py) and are
added by the session after the collectors ran (session.py)."""

from __future__ import annotations

import asyncio
import logging

from ..core.collector import Collector, CollectorSet, PartialFailure
from ..core.errors import describe_error
from ..core.metrics import GAUGE, MetricDef
from ..core.scrape import remaining_seconds
from .backend import QueueState

log = logging.getLogger("flextime.scheduler")

scheduler_collectors = CollectorSet("scheduler")

QUEUE_METRICS = (
    MetricDef("scheduler_up", GAUGE, "Whether the backend answered in this scrape (1) or not (0).", ("backend",)),
    MetricDef(
        "scheduler_queue_jobs",
        GAUGE,
        "Jobs in the queue by state, as the backend holds them now "
        "(completed / finished / failed are what the backend still keeps, not throughput).",
        ("backend", "queue", "state"),
    ),
    MetricDef(
        "scheduler_queue_oldest_waiting_job_age_seconds",
        GAUGE,
        "Age of the oldest job waiting to be processed; 0 when none waits.",
        ("backend", "queue"),
    ),
    MetricDef("scheduler_queue_workers", GAUGE, "Workers serving the queue now.", ("backend", "queue")),
    MetricDef("scheduler_queue_paused", GAUGE, "Whether the queue is paused (1) or not (0).", ("backend", "queue")),
    MetricDef(
        "scheduler_queue_overdue_jobs",
        GAUGE,
        "Delayed or scheduled jobs whose run time has passed but that were not moved to waiting.",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_stalled_jobs",
        GAUGE,
        "Active jobs whose worker stopped renewing its lock or heartbeat (abandoned).",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_exists",
        GAUGE,
        "Whether the backend has the queue (1) or not (0): a configured queue name that no job ever "
        "used (a typo) has no keys, and would otherwise look like an idle queue.",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_longest_active_job_age_seconds",
        GAUGE,
        "Seconds since the longest-running active job started; 0 when none runs.",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_recurring_job_next_run_timestamp_seconds",
        GAUGE,
        "When the recurring job (BullMQ job scheduler / repeatable job) is due next, epoch seconds.",
        ("backend", "queue", "recurring_job"),
    ),
    MetricDef(
        "scheduler_recurring_job_last_run_timestamp_seconds",
        GAUGE,
        "When a job of the recurring job last finished (seen since the exporter started), epoch seconds.",
        ("backend", "queue", "recurring_job"),
    ),
    MetricDef(
        "scheduler_recurring_job_interval_seconds",
        GAUGE,
        "Seconds between the recurring job's runs (its 'every', or its cron pattern's); absent when unknown.",
        ("backend", "queue", "recurring_job"),
    ),
    MetricDef(
        "scheduler_recurring_job_overdue",
        GAUGE,
        "1 when the recurring job's next run is past due by more than half its interval (1 s .. 5 min; "
        "60 s when unknown): its slot was missed.",
        ("backend", "queue", "recurring_job"),
    ),
)
_Q = {d.name: d for d in QUEUE_METRICS}
ACTIVE_STATES = ("active", "started")  # being processed: active_scheduling_sessions
DEADLINE_MARGIN = 0.1  # seconds kept to report scheduler_up 0 before the scrape's deadline


def queue_families(results: list[tuple[str, list[QueueState] | BaseException]]):
    """Families for (backend name, states or the error it raised) pairs."""
    fams = {name: d.family() for name, d in _Q.items()}
    for backend, states in results:
        fams["scheduler_up"].add((backend,), 0 if isinstance(states, BaseException) else 1)
        if isinstance(states, BaseException):
            continue
        for st in states:
            q = (backend, st.queue)
            for state, n in st.jobs.items():
                fams["scheduler_queue_jobs"].add((*q, state), n)
            for name, value in (
                ("scheduler_queue_oldest_waiting_job_age_seconds", st.oldest_waiting_age),
                ("scheduler_queue_workers", st.workers),
                ("scheduler_queue_paused", None if st.paused is None else int(st.paused)),
                ("scheduler_queue_overdue_jobs", st.overdue),
                ("scheduler_queue_stalled_jobs", st.stalled),
                ("scheduler_queue_exists", None if st.exists is None else int(st.exists)),
                ("scheduler_queue_longest_active_job_age_seconds", st.longest_active_age),
            ):
                if value is not None:
                    fams[name].add(q, value)
            for r in st.recurring:
                labels = (*q, r.name)
                for name, value in (
                    ("scheduler_recurring_job_next_run_timestamp_seconds", r.next_run),
                    ("scheduler_recurring_job_last_run_timestamp_seconds", r.last_run),
                    ("scheduler_recurring_job_interval_seconds", r.interval),
                    ("scheduler_recurring_job_overdue", int(r.overdue)),
                ):
                    if value is not None:
                        fams[name].add(labels, value)
    return list(fams.values())


class QueueCollector(Collector):
    """Reads every backend of one kind (``kind``) in this scrape."""

    kind = ""
    metrics = QUEUE_METRICS

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._missing: dict[object, set[str]] = {}  # each backend's queues found missing in its last read

    async def collect(self):
        session = self.settings.hooks
        readers = session.readers(self.kind)
        if not readers:
            return []
        budget = max(0.05, remaining_seconds() - DEADLINE_MARGIN)

        async def bounded(reader):
            try:
                return await asyncio.wait_for(reader.read(), timeout=budget)
            except asyncio.TimeoutError:
                return TimeoutError(f"{reader.display}: no answer within {budget:.3g}s")
            except Exception as exc:  # reported as scheduler_up 0, never a failed scrape
                return exc

        outcomes = await asyncio.gather(*(bounded(r) for r in readers))
        results = list(zip((r.name for r in readers), outcomes))
        active = sum(
            n
            for _, states in results
            if not isinstance(states, BaseException)
            for st in states
            for state, n in st.jobs.items()
            if state in ACTIVE_STATES
        )
        session.note_active(self.kind, active)
        families = queue_families(results)
        errors = []
        for reader, outcome in zip(readers, outcomes):
            error = describe_error(outcome) if isinstance(outcome, BaseException) else ""
            # queues of an answering backend that could not be read (a key of the wrong type): the
            # other queues are served, and these are named
            error = error or "; ".join(sorted(getattr(reader, "queue_errors", {}).values()))
            if not isinstance(outcome, BaseException):
                self._log_missing(reader, {st.queue for st in outcome if st.exists is False})
            if error:
                errors.append(f"{reader.display}: {error}")
        if errors:
            raise PartialFailure("; ".join(errors), families)
        return families

    def _log_missing(self, reader, missing: set[str]) -> None:
        """One line when a configured queue is found missing (scheduler_queue_exists 0), one when it appears."""
        previous = self._missing.get(reader, set())
        for queue in sorted(missing - previous):
            log.warning(
                "backend %s: queue %r does not exist (no job ever used it: a typo in its name?); "
                "scheduler_queue_exists 0",
                reader.display,
                queue,
            )
        for queue in sorted(previous - missing):
            log.info("backend %s: queue %r exists now", reader.display, queue)
        self._missing[reader] = missing


@scheduler_collectors.register
class BullMQCollector(QueueCollector):
    name = "bullmq"
    kind = "bullmq"
    description = "BullMQ queues in Redis (read-only: no Lua, no writes)"


@scheduler_collectors.register
class RQCollector(QueueCollector):
    name = "rq"
    kind = "rq"
    description = "RQ queues in Redis (raw registry reads, no cleanup)"


@scheduler_collectors.register
class CeleryCollector(QueueCollector):
    name = "celery"
    kind = "celery"
    description = "Celery queues on a Redis broker, results from a Redis result backend (no task events)"


@scheduler_collectors.register
class SQLCollector(QueueCollector):
    name = "sql"
    kind = "sql"
    description = "Job tables in PostgreSQL"


POOL_METRIC = MetricDef(
    "database_connection_pool_size",
    GAUGE,
    "The application's PostgreSQL connections by state, as the server sees them (see docs/scheduler.md: "
    "'waiting' is connections waiting on a lock, not requests queued inside the application's pool).",
    ("state",),
)


@scheduler_collectors.register
class ConnectionPoolCollector(Collector):
    name = "connection_pool"
    description = "The application's PostgreSQL connections by state (pg_stat_activity)"
    metrics = (POOL_METRIC,)

    async def collect(self):
        pool = self.settings.hooks.pool
        if pool is None:
            return []
        counts = await asyncio.wait_for(pool.read(), timeout=max(0.05, remaining_seconds() - DEADLINE_MARGIN))
        fam = POOL_METRIC.family()
        for state in ("active", "idle", "waiting"):
            fam.add((state,), counts.get(state, 0))
        return [fam]
