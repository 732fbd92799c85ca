"""The FlexTime job contract and the exporter's own counters (the ledger).

A backend reader (bullmq.py, rq.py, sql.py) turns each job that finished since its
last read into one :class:`FinishedJob`, exactly once, and hands it to the
:class:`Ledger`. The ledger owns every counter the exporter derives itself, so they
only go up for the life of the process and do not depend on what the queue keeps.

Pure code: no I/O, so the extraction rules are unit-tested on their own."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..core.metrics import COUNTER, HISTOGRAM, MetricDef, MetricFamily

UNKNOWN = "unknown"
# Job data is outside input: a label taken from it (sport, team_count, constraint_type, severity) is
# bounded in length and in distinct values. A value over MAX_LABEL_VALUE_LENGTH characters, or a new
# value once a label has MAX_DISTINCT_LABEL_VALUES, is shown as OVERFLOW and counted in
# scheduler_job_label_overflow_total{label}: a 100 KB sport or 100,000 sports cost one series.
OVERFLOW = "_other"
MAX_LABEL_VALUE_LENGTH = 64
MAX_DISTINCT_LABEL_VALUES = 100
# the buckets of FlexTime's original scheduleGenerationDuration histogram (docs/original-design.md)
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Per-queue wait (ready -> started) and run time (started -> finished). Scheduling work is a few
# hundred milliseconds to tens of minutes; a healthy queue starts a job within a second, a backlog
# within minutes, so both cover 50 ms .. 1 h, about x2-x3 apart (docs/scheduler.md, "Buckets").
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class JobContract:
    """Where a job carries the FlexTime fields: a dotted path whose first part is ``data``
    (the job's input) or ``result`` (a completed job's return value). Defaults are those of
    FlexTime's original monitoring design (docs/scheduler.md, "The job contract")."""

    sport: str = "data.sport"
    team_count: str = "data.teamCount"
    constraint_violations: str = "result.constraintViolations"
    violation_type: str = "type"  # key inside each violation object
    violation_severity: str = "severity"

    def paths(self) -> dict[str, str]:
        return {"sport": self.sport, "team_count": self.team_count, "constraint_violations": self.constraint_violations}


def check_path(name: str, path: Any) -> str:
    """Validate one contract path at start-up; the error names the config field."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"job_contract.{name} must be a dotted path such as data.sport")
    root = path.split(".", 1)[0]
    if root not in ("data", "result"):
        raise ValueError(f"job_contract.{name}: {path!r} must start with 'data.' or 'result.'")
    return path


class Undecodable:
    """Marks a payload that was present but not JSON (counted, and its fields are unknown)."""

    def __repr__(self) -> str:
        return "<undecodable>"


UNDECODABLE = Undecodable()


def decode_json(raw: Any) -> Any:
    """A job payload as stored (bytes or str of JSON), decoded; None when absent,
    UNDECODABLE when it is not JSON."""
    if raw is None:
        return None
    if isinstance(raw, (dict, list, int, float)):
        return raw
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return UNDECODABLE
    if raw == "":
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return UNDECODABLE


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def lookup(path: str, data: Any, result: Any) -> Any:
    root, _, rest = path.partition(".")
    base = data if root == "data" else result
    if base is None or base is UNDECODABLE:
        return None
    return _walk(base, rest.split(".") if rest else [])


def label_text(value: Any) -> str:
    """A label value from a job field: strings as they are, whole numbers without '.0',
    anything else (missing, objects, empty) is 'unknown'."""
    if isinstance(value, bool) or value is None:
        return UNKNOWN
    if isinstance(value, str):
        return value if value.strip() else UNKNOWN
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return UNKNOWN


@dataclass(frozen=True)
class FinishedJob:
    """One job that reached a final state (completed, or failed with no retry left).

    ``started`` / ``finished`` are epoch seconds of the last start of processing and of
    the finish; None when the backend no longer knows them. ``data`` / ``result`` are the
    decoded payloads (None when gone, UNDECODABLE when not JSON)."""

    queue: str
    job_id: str
    failed: bool
    started: float | None = None
    finished: float | None = None
    data: Any = None
    result: Any = None
    labels: tuple[str, str] | None = None  # (sport, team_count) seen earlier, when data is gone
    ready: float | None = None  # epoch seconds the job could start (enqueued, or due when delayed)
    name: str | None = None  # the job's name (BullMQ) or function (RQ): job_name label, bounded
    retries: int | None = None  # attempts before the last one, as the library recorded them


def job_labels(contract: JobContract, data: Any) -> tuple[str, str]:
    """(sport, team_count) of a job's input; 'unknown' for what is missing."""
    return (
        label_text(lookup(contract.sport, data, None)) if contract.sport.startswith("data") else UNKNOWN,
        label_text(lookup(contract.team_count, data, None)) if contract.team_count.startswith("data") else UNKNOWN,
    )


LEDGER_METRICS = (
    MetricDef(
        "schedule_generation_duration_seconds",
        HISTOGRAM,
        "Duration of schedule generation in seconds (finished minus started processing, completed jobs).",
        ("sport", "team_count"),
    ),
    MetricDef(
        "schedule_generation_failures_total",
        COUNTER,
        "Schedule generation jobs that failed with no retry left.",
        ("sport",),
    ),
    MetricDef(
        "constraint_violations_total",
        COUNTER,
        "Constraint violations reported in completed jobs' results.",
        ("constraint_type", "severity"),
    ),
    MetricDef(
        "scheduler_queue_jobs_completed_total",
        COUNTER,
        "Jobs that completed since the exporter started (counted once each, from the backend's history).",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_jobs_failed_total",
        COUNTER,
        "Jobs that failed with no retry left since the exporter started.",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_jobs_without_duration_total",
        COUNTER,
        "Completed jobs whose start or finish time the backend no longer had (not in the histogram).",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_jobs_undecodable_total",
        COUNTER,
        "Finished jobs whose data or result was not JSON (their fields are counted as 'unknown').",
        ("backend", "queue", "part"),
    ),
    MetricDef(
        "scheduler_queue_history_gaps_total",
        COUNTER,
        "Times the backend had already dropped history the exporter had not read yet "
        "(jobs finished in between were not counted).",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_job_wait_seconds",
        HISTOGRAM,
        "Time finished jobs waited from enqueued (or due, when delayed) to their start, counted once per finished job.",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_queue_job_duration_seconds",
        HISTOGRAM,
        "Run time (started to finished) of completed and failed jobs, per queue and job name "
        f"(names bounded: '{OVERFLOW}' past the bound).",
        ("backend", "queue", "job_name"),
    ),
    MetricDef(
        "scheduler_queue_jobs_retried_total",
        COUNTER,
        "Retries of finished jobs (attempts before the last one, as the queue library recorded them).",
        ("backend", "queue"),
    ),
    MetricDef(
        "scheduler_celery_tasks_total",
        COUNTER,
        "Celery tasks that reached a final state (SUCCESS, FAILURE, REVOKED), from the result backend, by "
        f"task name (result_extended; 'unknown' without it; bounded: '{OVERFLOW}').",
        ("backend", "queue", "task", "state"),
    ),
    MetricDef(
        "scheduler_job_label_overflow_total",
        COUNTER,
        f"Label values from job data shown as '{OVERFLOW}': longer than {MAX_LABEL_VALUE_LENGTH} characters, "
        f"or new once the label had {MAX_DISTINCT_LABEL_VALUES} values.",
        ("label",),
    ),
)
_DEFS = {d.name: d for d in LEDGER_METRICS}


@dataclass
class _Histogram:
    bounds: tuple[float, ...] = DURATION_BUCKETS
    buckets: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        if not self.buckets:
            self.buckets = [0] * len(self.bounds)
        self.count += 1
        self.total += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.buckets[i] += 1

    def cumulative(self):
        return zip(self.bounds, self.buckets or [0] * len(self.bounds))


class LabelBound:
    """Keeps each job-data label within MAX_LABEL_VALUE_LENGTH characters and MAX_DISTINCT_LABEL_VALUES
    values; what does not fit is OVERFLOW, counted per label."""

    def __init__(self, max_length: int = MAX_LABEL_VALUE_LENGTH, max_distinct: int = MAX_DISTINCT_LABEL_VALUES) -> None:
        self.max_length = max_length
        self.max_distinct = max_distinct
        self.seen: dict[str, set[str]] = {}
        self.overflows: dict[tuple[str], int] = {}

    def __call__(self, label: str, value: str) -> str:
        seen = self.seen.setdefault(label, set())
        if value in seen or value in (UNKNOWN, OVERFLOW):
            return value
        if len(value) <= self.max_length and len(seen) < self.max_distinct:
            seen.add(value)
            return value
        self.overflows[(label,)] = self.overflows.get((label,), 0) + 1
        return OVERFLOW


class Ledger:
    """The counters the exporter derives from finished jobs; monotonic for the process's life.

    Readers call :meth:`record` once per finished job and :meth:`gap` when history was lost;
    nothing here awaits, so a reader applies one scrape's jobs all at once or not at all."""

    def __init__(self, contract: JobContract) -> None:
        self.contract = contract
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self.failures: dict[tuple[str], int] = {}
        self.violations: dict[tuple[str, str], int] = {}
        self.completed: dict[tuple[str, str], int] = {}
        self.failed: dict[tuple[str, str], int] = {}
        self.no_duration: dict[tuple[str, str], int] = {}
        self.undecodable: dict[tuple[str, str, str], int] = {}
        self.gaps: dict[tuple[str, str], int] = {}
        self.waits: dict[tuple[str, str], _Histogram] = {}
        self.runs: dict[tuple[str, str, str], _Histogram] = {}
        self.retried: dict[tuple[str, str], int] = {}
        self.tasks: dict[tuple[str, str, str, str], int] = {}
        self.bound = LabelBound()
        self.declare_sport(UNKNOWN)

    def declare_queue(self, backend: str, queue: str) -> None:
        """Show a queue's counters at 0 before its first finished job, so increase() works from the start."""
        for table in (self.completed, self.failed, self.retried):
            table.setdefault((backend, queue), 0)

    def declare_sport(self, sport: str) -> None:
        """Show schedule_generation_failures_total{sport} at 0 once the sport is known, so the
        original alert's ``increase(...[5m]) > 0`` sees its first failure (a series born at 1 has no increase)."""
        self.failures.setdefault((sport,), 0)

    def gap(self, backend: str, queue: str) -> None:
        key = (backend, queue)
        self.gaps[key] = self.gaps.get(key, 0) + 1

    def record(self, backend: str, job: FinishedJob) -> None:
        c = self.contract
        key = (backend, job.queue)
        for part, payload in (("data", job.data), ("result", job.result)):
            if payload is UNDECODABLE:
                k = (backend, job.queue, part)
                self.undecodable[k] = self.undecodable.get(k, 0) + 1
        sport_team = job_labels(c, job.data)
        if job.labels is not None and job.data is None:
            sport_team = job.labels
        sport = label_text(lookup(c.sport, job.data, job.result)) if c.sport.startswith("result") else sport_team[0]
        team = (
            label_text(lookup(c.team_count, job.data, job.result))
            if c.team_count.startswith("result")
            else sport_team[1]
        )
        sport, team = self.bound("sport", sport), self.bound("team_count", team)
        self.declare_sport(sport)
        self._queue_times(backend, job)
        if job.failed:
            self.failed[key] = self.failed.get(key, 0) + 1
            self.failures[(sport,)] = self.failures.get((sport,), 0) + 1
            return
        self.completed[key] = self.completed.get(key, 0) + 1
        if job.started is not None and job.finished is not None:
            hist = self.durations.get((sport, team))
            if hist is None:
                hist = self.durations[(sport, team)] = _Histogram()
            hist.observe(max(0.0, job.finished - job.started))
        else:
            self.no_duration[key] = self.no_duration.get(key, 0) + 1
        for kind, severity in violations(c, job.data, job.result):
            key = (self.bound("constraint_type", kind), self.bound("severity", severity))
            self.violations[key] = self.violations.get(key, 0) + 1

    def count_task(self, backend: str, queue: str, name: str | None, state: str) -> None:
        """One Celery task in a final state (its job counters went through record())."""
        key = (backend, queue, self.bound("job_name", label_text(name)), state)
        self.tasks[key] = self.tasks.get(key, 0) + 1

    def _queue_times(self, backend: str, job: FinishedJob) -> None:
        """Wait, run time and retries of one finished job (completed or failed), per queue."""
        key = (backend, job.queue)
        if job.retries:
            self.retried[key] = self.retried.get(key, 0) + max(0, job.retries)
        if job.ready is not None and job.started is not None:
            hist = self.waits.get(key)
            if hist is None:
                hist = self.waits[key] = _Histogram(WAIT_BUCKETS)
            hist.observe(max(0.0, job.started - job.ready))
        if job.started is not None and job.finished is not None:
            name = self.bound("job_name", label_text(job.name))
            hist = self.runs.get((*key, name))
            if hist is None:
                hist = self.runs[(*key, name)] = _Histogram(RUN_BUCKETS)
            hist.observe(max(0.0, job.finished - job.started))

    def families(self) -> list[MetricFamily]:
        out = []
        for name, table in (
            ("schedule_generation_duration_seconds", self.durations),
            ("scheduler_queue_job_wait_seconds", self.waits),
            ("scheduler_queue_job_duration_seconds", self.runs),
        ):
            hist_family = _DEFS[name].family()
            for labels, h in sorted(table.items()):
                # each bucket already counts every observation <= its bound (cumulative)
                hist_family.add_histogram(labels, h.cumulative(), h.total, h.count)
            out.append(hist_family)
        counters: tuple[tuple[str, dict[Any, int]], ...] = (
            ("schedule_generation_failures_total", self.failures),
            ("constraint_violations_total", self.violations),
            ("scheduler_queue_jobs_completed_total", self.completed),
            ("scheduler_queue_jobs_failed_total", self.failed),
            ("scheduler_jobs_without_duration_total", self.no_duration),
            ("scheduler_jobs_undecodable_total", self.undecodable),
            ("scheduler_queue_history_gaps_total", self.gaps),
            ("scheduler_queue_jobs_retried_total", self.retried),
            ("scheduler_celery_tasks_total", self.tasks),
            ("scheduler_job_label_overflow_total", self.bound.overflows),
        )
        for name, counts in counters:
            fam = _DEFS[name].family()
            for labelvalues, value in sorted(counts.items()):
                fam.add(labelvalues, value)
            out.append(fam)
        return out


def violations(contract: JobContract, data: Any, result: Any) -> list[tuple[str, str]]:
    """(constraint_type, severity) of each violation a job reports. A list of objects is the
    contract; a bare number counts that many violations of unknown type; anything else none."""
    found = lookup(contract.constraint_violations, data, result)
    if isinstance(found, bool) or found is None:
        return []
    if isinstance(found, (int, float)) and math.isfinite(found) and 0 < found <= 1_000_000:
        return [(UNKNOWN, UNKNOWN)] * int(found)
    if not isinstance(found, list):
        return []
    out = []
    for item in found:
        if isinstance(item, dict):
            out.append(
                (label_text(item.get(contract.violation_type)), label_text(item.get(contract.violation_severity)))
            )
        elif isinstance(item, str):
            out.append((label_text(item), UNKNOWN))
        else:
            out.append((UNKNOWN, UNKNOWN))
    return out
