"""The textfile collector as a cron job's author sees it."""

from __future__ import annotations

import os

from conftest import parse_families, samples, value


def test_files_served_malformed_file_flags_error_rest_still_served(exporter_factory, tmp_path):
    d = tmp_path / "textfile"
    d.mkdir()
    (d / "backup.prom").write_text(
        "# HELP backup_last_success_timestamp_seconds When the last backup finished.\n"
        "# TYPE backup_last_success_timestamp_seconds gauge\n"
        'backup_last_success_timestamp_seconds{job="db"} 1.7e+09\n'
        "# TYPE backup_runs_total counter\n"
        'backup_runs_total{job="db"} 12\n'
        "# TYPE backup_duration_seconds histogram\n"
        'backup_duration_seconds_bucket{le="10"} 3\n'
        'backup_duration_seconds_bucket{le="+Inf"} 4\n'
        "backup_duration_seconds_sum 31.5\n"
        "backup_duration_seconds_count 4\n"
        "plain_untyped 7\n"
    )
    (d / "broken.prom").write_text("this is { not a metric\n")
    (d / "ignored.txt").write_text("not_read 1\n")
    os.utime(d / "backup.prom", (1_700_000_000, 1_700_000_000))
    exp = exporter_factory(f"--collector.textfile.directory={d}")
    text = exp.get().text
    assert value(text, "node_textfile_scrape_error") == 1
    assert value(text, "backup_last_success_timestamp_seconds", job="db") == 1.7e9
    assert value(text, "backup_runs_total", job="db") == 12
    assert value(text, "backup_duration_seconds_bucket", le="+Inf") == 4
    fams = parse_families(text)
    assert fams["backup_runs"].type == "counter" and fams["backup_duration_seconds"].type == "histogram"
    assert fams["plain_untyped"].type == "unknown"  # untyped, as the parser calls it
    assert "# TYPE plain_untyped untyped" in text
    assert fams["plain_untyped"].documentation == f"Metric read from {d / 'backup.prom'}"
    assert value(text, "node_textfile_mtime_seconds", file=str(d / "backup.prom")) == 1_700_000_000
    assert not any(dict(l).get("file", "").endswith("broken.prom") for (_, l) in samples(text))
    assert "not_read" not in text
    assert value(text, "node_scrape_collector_success", collector="textfile") == 1
    assert value(text, "node_scrape_collector_success", collector="cpu") == 1
    assert "broken.prom" in exp.log()

    (d / "broken.prom").unlink()  # fixed by the user: the error clears on the next scrape
    assert value(exp.get().text, "node_textfile_scrape_error") == 0


def test_timestamps_and_name_clashes(exporter_factory, tmp_path):
    d = tmp_path / "textfile"
    d.mkdir()
    (d / "stamped.prom").write_text("stamped_metric 1 1700000000000\n")
    (d / "clash.prom").write_text("# TYPE node_load1 counter\nnode_load1 99\nown_metric 2\n")
    exp = exporter_factory(f"--collector.textfile.directory={d}")
    resp = exp.get()
    assert resp.status == 200
    text = resp.text
    assert "stamped_metric" not in text
    assert value(text, "node_textfile_scrape_error") == 1
    assert "client-side timestamp" in exp.log()
    # a textfile family that clashes with a collector's is dropped, never a failed scrape
    assert value(text, "node_load1") != 99
    assert value(text, "own_metric") == 2
    assert value(text, "flextime_exporter_series_dropped_total") >= 1


def test_glob_directories_and_unreadable_directory(exporter_factory, tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"jobs-{name}").mkdir()
        (tmp_path / f"jobs-{name}" / "m.prom").write_text(f'job_metric{{src="{name}"}} 1\n')
    exp = exporter_factory(
        f"--collector.textfile.directory={tmp_path}/jobs-*", f"--collector.textfile.directory={tmp_path}/missing"
    )
    text = exp.get().text
    assert value(text, "job_metric", src="a") == 1 and value(text, "job_metric", src="b") == 1
    assert value(text, "node_textfile_scrape_error") == 1  # the missing directory


def test_no_directory_configured(node_exporter_ours):
    text = node_exporter_ours.get().text
    assert value(text, "node_textfile_scrape_error") == 0
    assert "node_textfile_mtime_seconds" not in text


def test_failing_directory_is_logged_once_not_on_every_scrape(exporter_factory, tmp_path):
    """An unreadable directory stays unreadable: one error line when it starts, one info line when
    it is read again, and again one line when it breaks again; each scrape still says so."""
    directory = tmp_path / "jobs"
    exp = exporter_factory(
        "--collector.disable-defaults", "--collector.textfile", f"--collector.textfile.directory={directory}"
    )
    for _ in range(4):
        assert value(exp.get().text, "node_textfile_scrape_error") == 1
    assert exp.log().count(f"cannot read textfile directory {directory}") == 1, exp.log()
    directory.mkdir()
    (directory / "m.prom").write_text("job_metric 1\n")
    for _ in range(3):
        text = exp.get().text
        assert value(text, "node_textfile_scrape_error") == 0 and value(text, "job_metric") == 1
    assert exp.log().count(f"textfile {directory} is read again") == 1, exp.log()
    (directory / "m.prom").unlink()
    directory.rmdir()
    for _ in range(3):
        assert value(exp.get().text, "node_textfile_scrape_error") == 1
    assert exp.log().count(f"cannot read textfile directory {directory}") == 2, exp.log()
