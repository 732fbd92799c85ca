"""The scheduler exporter's pure parts: the job contract, the ledger of counters, the config file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporters.core.errors import ConfigError
from exporters.core.metrics import render_text
from exporters.scheduler.config import parse_config
from exporters.scheduler.contract import (
    UNDECODABLE,
    FinishedJob,
    JobContract,
    Ledger,
    decode_json,
    job_labels,
    label_text,
    violations,
)

C = JobContract()


def test_labels_from_the_default_contract_and_unknown_for_what_is_missing():
    assert job_labels(C, {"sport": "soccer", "teamCount": 12}) == ("soccer", "12")
    assert job_labels(C, {"sport": "soccer", "teamCount": 12.0}) == ("soccer", "12")
    assert job_labels(C, {"teamCount": "8"}) == ("unknown", "8")
    for data in (None, UNDECODABLE, [], "soccer", {"sport": "", "teamCount": True}, {"sport": {"x": 1}}):
        assert job_labels(C, data) == ("unknown", "unknown"), data
    assert label_text(float("nan")) == "unknown" and label_text(2.5) == "2.5"


def test_paths_are_configurable_and_may_index_lists():
    c = JobContract(sport="data.meta.league.0", team_count="data.teams.count")
    assert job_labels(c, {"meta": {"league": ["hockey"]}, "teams": {"count": 6}}) == ("hockey", "6")


def test_json_decoding_marks_what_is_not_json():
    assert decode_json(b'{"a": 1}') == {"a": 1}
    assert decode_json(None) is None and decode_json(b"") is None
    assert decode_json(b"\xff\xfe") is UNDECODABLE
    assert decode_json("{not json") is UNDECODABLE
    assert decode_json("[" * 100_000) is UNDECODABLE  # nesting too deep for the parser: not a crash


def test_violation_shapes():
    two = {"constraintViolations": [{"type": "venue", "severity": "hard"}, {"type": "rest"}]}
    assert violations(C, None, two) == [("venue", "hard"), ("rest", "unknown")]
    assert violations(C, None, {"constraintViolations": 3}) == [("unknown", "unknown")] * 3
    assert violations(C, None, {"constraintViolations": ["travel", 7]}) == [
        ("travel", "unknown"),
        ("unknown", "unknown"),
    ]
    for result in (
        None,
        UNDECODABLE,
        {},
        {"constraintViolations": "many"},
        {"constraintViolations": True},
        {"constraintViolations": 10**9},
    ):
        assert violations(C, None, result) == [], result


def _families(ledger):
    return render_text(ledger.families())


def test_ledger_counts_each_recorded_job_and_buckets_like_the_seed():
    ledger = Ledger(C)
    ledger.declare_queue("bullmq", "q")
    ledger.record(
        "bullmq",
        FinishedJob(
            "q",
            "1",
            False,
            100.0,
            100.5,
            {"sport": "soccer", "teamCount": 10},
            {"constraintViolations": [{"type": "venue", "severity": "hard"}]},
        ),
    )
    ledger.record("bullmq", FinishedJob("q", "2", False, 100.0, 107.0, {"sport": "soccer", "teamCount": 10}, None))
    ledger.record("bullmq", FinishedJob("q", "3", True, 100.0, 101.0, {"sport": "golf"}, None))
    ledger.record("bullmq", FinishedJob("q", "4", False, None, None, UNDECODABLE, None))
    text = _families(ledger)
    text = text.decode() if isinstance(text, bytes) else text
    lines = set(text.splitlines())
    labels = 'sport="soccer",team_count="10"'
    for le, n in (("1", 1), ("5", 1), ("10", 2), ("300", 2), ("+Inf", 2)):
        assert f'schedule_generation_duration_seconds_bucket{{{labels},le="{le}"}} {n}' in lines
    assert f"schedule_generation_duration_seconds_sum{{{labels}}} 7.5" in lines
    assert 'schedule_generation_failures_total{sport="golf"} 1' in lines
    assert 'schedule_generation_failures_total{sport="soccer"} 0' in lines  # known sport, born at 0
    assert 'schedule_generation_failures_total{sport="unknown"} 0' in lines
    assert 'constraint_violations_total{constraint_type="venue",severity="hard"} 1' in lines
    assert 'scheduler_queue_jobs_completed_total{backend="bullmq",queue="q"} 3' in lines
    assert 'scheduler_queue_jobs_failed_total{backend="bullmq",queue="q"} 1' in lines
    assert 'scheduler_jobs_without_duration_total{backend="bullmq",queue="q"} 1' in lines
    assert (
        'scheduler_jobs_undecodable_total{backend="bullmq",part="data",queue="q"} 1' in lines
        or 'scheduler_jobs_undecodable_total{backend="bullmq",queue="q",part="data"} 1' in lines
    )


def test_labels_seen_earlier_are_used_when_the_job_data_is_gone():
    ledger = Ledger(C)
    ledger.record("bullmq", FinishedJob("q", "1", True, labels=("tennis", "4")))
    assert ledger.failures[("tennis",)] == 1


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"backends": [{"type": "kafka"}]}, "backends[0].type: 'kafka' is not one of bullmq, rq, celery, sql"),
        ({"backends": [{"type": "bullmq", "redis": "redis://x"}]}, "backends[0]: give queues: [...] or discover: true"),
        ({"backends": [{"type": "bullmq", "queues": ["a"], "prefx": "b"}]}, "backends[0]: unknown field 'prefx'"),
        ({"backends": [{"type": "sql", "dsn": "postgresql://x", "table": "jobs; drop"}]}, "backends[0].table"),
        (
            {"backends": [{"type": "sql", "dsn": "postgresql://x", "columns": {"state": "a b"}}]},
            "backends[0].columns.state",
        ),
        (
            {"backends": [{"type": "sql", "dsn": "postgresql://x", "states": {"done": "finished"}}]},
            "backends[0].states: 'finished' is not one of",
        ),
        ({"backends": [{"type": "sql"}]}, "backends[0].dsn"),
        ({"job_contract": {"sport": "sport"}}, "job_contract.sport: 'sport' must start with 'data.' or 'result.'"),
        ({"job_contract": {"teams": "data.x"}}, "job_contract: unknown field 'teams'"),
        ({"connection_pool": {"dsn": "postgresql://x"}}, "connection_pool: both dsn and application_name"),
        ({"backend": []}, "config: unknown field 'backend'"),
    ],
)
def test_config_errors_name_the_field(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "", default_redis="redis://127.0.0.1:6379")
    assert message in str(err.value)


def test_a_bad_config_file_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "scheduler.yml"
    bad.write_text(
        "backends:\n  - type: sql\n    dsn: postgresql://u:canary-pw@127.0.0.1/db\n"
        "    columns: {finished_at: 'done at'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "exporters", "scheduler", f"--config.file={bad}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "backends[0].columns.finished_at" in proc.stderr and "canary-pw" not in proc.stderr
    (tmp_path / "broken.yml").write_text("backends: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "exporters", "scheduler", f"--config.file={tmp_path / 'broken.yml'}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "exporters", "scheduler"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "nothing to read" in proc.stderr


def test_labels_from_job_data_are_bounded_in_length_and_number():
    """A 100 KB sport, and more distinct sports and violation types than the bound, cost one series
    each ('_other') and are counted per label."""
    from exporters.scheduler.contract import MAX_DISTINCT_LABEL_VALUES, OVERFLOW, FinishedJob, JobContract, Ledger

    ledger = Ledger(JobContract())
    huge = "x" * 100_000
    ledger.record(
        "bullmq",
        FinishedJob(
            "q",
            "1",
            False,
            0.0,
            1.0,
            {"sport": huge, "teamCount": 8},
            {"constraintViolations": [{"type": huge, "severity": "hard"}]},
        ),
    )
    for i in range(MAX_DISTINCT_LABEL_VALUES + 50):
        ledger.record("bullmq", FinishedJob("q", f"s{i}", True, data={"sport": f"sport-{i}", "teamCount": i}))
    families = {f.name: f for f in ledger.families()}
    sports = {block for _, block, _ in families["schedule_generation_failures_total"].samples}
    assert len(sports) == MAX_DISTINCT_LABEL_VALUES + 2  # the bound, plus 'unknown' and '_other'
    assert any(f'sport="{OVERFLOW}"' in b for b in sports)
    assert all(len(b) < 200 for b in sports)
    histogram = families["schedule_generation_duration_seconds"].samples
    assert histogram and all(f'sport="{OVERFLOW}"' in block for _, block, _ in histogram)
    violations = {block for _, block, _ in families["constraint_violations_total"].samples}
    assert violations == {f'{{constraint_type="{OVERFLOW}",severity="hard"}}'}
    overflow = {block: v for _, block, v in families["scheduler_job_label_overflow_total"].samples}
    # sport: the huge one + 50 beyond the bound; constraint_type: the huge one
    assert overflow['{label="constraint_type"}'] == 1
    assert overflow['{label="sport"}'] == 1 + 50


def test_job_names_are_bounded_with_100000_distinct_names_and_a_100_kb_name():
    """The job_name label of scheduler_queue_job_duration_seconds: 100,000 distinct names and one of
    100 KB give at most the bound's series plus '_other'; every job is still observed."""
    from exporters.scheduler.contract import MAX_DISTINCT_LABEL_VALUES, OVERFLOW

    ledger = Ledger(C)
    ledger.record("bullmq", FinishedJob("q", "big", False, 10.0, 11.0, name="n" * 100_000, ready=9.0))
    for i in range(100_000):
        ledger.record("bullmq", FinishedJob("q", str(i), False, 10.0, 10.5, name=f"name-{i}", ready=10.0, retries=1))
    families = {f.name: f for f in ledger.families()}
    counts = {
        block: v
        for name, block, v in families["scheduler_queue_job_duration_seconds"].samples
        if name.endswith("_count")
    }
    assert len(counts) == MAX_DISTINCT_LABEL_VALUES + 1
    assert sum(counts.values()) == 100_001
    assert counts[f'{{backend="bullmq",queue="q",job_name="{OVERFLOW}"}}'] == 100_001 - MAX_DISTINCT_LABEL_VALUES
    assert all(len(b) < 120 for b in counts)
    waits = {name: v for name, block, v in families["scheduler_queue_job_wait_seconds"].samples}
    assert waits["scheduler_queue_job_wait_seconds_count"] == 100_001
    retried = [v for _, _, v in families["scheduler_queue_jobs_retried_total"].samples]
    assert retried == [100_000]


def test_wait_and_run_buckets():
    """Wait 0.3 s lands in le=0.5 (not 0.25); a run of 45 s in le=60 (not 30)."""
    ledger = Ledger(C)
    ledger.record("rq", FinishedJob("q", "1", False, started=100.3, finished=145.3, ready=100.0, name="f"))
    samples = {(name, block): v for f in ledger.families() for name, block, v in f.samples}
    assert samples[("scheduler_queue_job_wait_seconds_bucket", '{backend="rq",queue="q",le="0.25"}')] == 0
    assert samples[("scheduler_queue_job_wait_seconds_bucket", '{backend="rq",queue="q",le="0.5"}')] == 1
    run = "scheduler_queue_job_duration_seconds_bucket"
    assert samples[(run, '{backend="rq",queue="q",job_name="f",le="30"}')] == 0
    assert samples[(run, '{backend="rq",queue="q",job_name="f",le="60"}')] == 1
