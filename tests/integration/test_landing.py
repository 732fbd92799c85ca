"""The landing page at a glance: a summary line per target ("24/24 collectors ok", or which
failed), and durations and timestamps that a narrow window does not wrap."""

from __future__ import annotations

import re
import shutil

from conftest import value


def fake_procfs(tmp_path, *files: str):
    root = tmp_path / "proc"
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"/proc/{name}", root / name)
    return root


def summary(page: str) -> str:
    m = re.search(r'<p class="summary [a-z]+">([^<]*)</p>', page)
    assert m, page
    return m.group(1)


def test_summary_line_and_timestamps_that_do_not_wrap(exporter_factory, tmp_path):
    procfs = fake_procfs(tmp_path, "stat", "loadavg")  # no meminfo: that collector fails
    exp = exporter_factory(
        f"--path.procfs={procfs}",
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.loadavg",
        "--collector.stat",
    )
    assert summary(exp.get("/").text) == "0/3 collectors ok, 3 not scraped yet"
    assert value(exp.get().text, "node_scrape_collector_success", collector="meminfo") == 0
    page = exp.get("/").text
    assert summary(page) == "2/3 collectors ok, 1 failed: meminfo"
    assert 'class="summary failed"' in page
    when = re.findall(r'<td class="nowrap">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)</td>', page)
    assert len(when) == 3, page  # each scraped collector's time, in a cell that does not wrap
    assert ".nowrap{white-space:nowrap}" in page


def test_summary_when_every_collector_succeeds(exporter_factory, tmp_path):
    procfs = fake_procfs(tmp_path, "stat", "loadavg")
    exp = exporter_factory(
        f"--path.procfs={procfs}", "--collector.disable-defaults", "--collector.loadavg", "--collector.stat"
    )
    exp.get()
    assert summary(exp.get("/").text) == "2/2 collectors ok"
