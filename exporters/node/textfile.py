"""textfile: serve the metrics that cron jobs and scripts write to ``*.prom`` files.

A malformed file sets ``node_textfile_scrape_error 1`` and is skipped whole;
the other files and every other collector are still served. Samples with
client-side timestamps are refused as node_exporter refuses them.
"""

from __future__ import annotations

import glob
import logging
import os

from ..core.collector import Flag
from ..core.metrics import COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED, MetricFamily, gauge
from .registry import HostCollector, node_collectors

log = logging.getLogger("exporters.node.textfile")

SCRAPE_ERROR = gauge("node_textfile_scrape_error",
                     "1 if there was an error opening or reading a file, 0 otherwise")
MTIME = gauge("node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.", "file")

_TYPES = {"counter": COUNTER, "gauge": GAUGE, "histogram": HISTOGRAM, "summary": SUMMARY,
          "untyped": UNTYPED, "unknown": UNTYPED}


class TextfileError(ValueError):
    pass


def parse_textfile(text: str, path: str) -> list[MetricFamily]:
    """Parse Prometheus text format into families, or raise TextfileError naming the problem."""
    # prometheus_client's parser is the well-kept implementation of the text
    # format; imported here so the exporter only pays for it when textfiles are used.
    from prometheus_client.parser import text_string_to_metric_families

    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError and friends with a line hint
        raise TextfileError(f"failed to parse textfile data from {path!r}: {exc}") from exc
    families = []
    for metric in parsed:
        if not metric.samples:
            continue
        typ = _TYPES.get(metric.type)
        if typ is None:
            raise TextfileError(f"{path!r}: metric {metric.name} has unsupported type {metric.type}")
        name = metric.name
        if typ == COUNTER and metric.samples[0].name == name + "_total":
            name += "_total"  # the parser strips _total from counter family names
        fam = MetricFamily(name, typ, metric.documentation or f"Metric read from {path}")
        for sample in metric.samples:
            if sample.timestamp is not None:
                raise TextfileError(
                    f"textfile {path!r} contains unsupported client-side timestamps, skipping entire file")
            fam.add_labeled(sorted(sample.labels.items()), sample.value, suffix=sample.name[len(name):])
        families.append(fam)
    return families


@node_collectors.register
class TextfileCollector(HostCollector):
    name = "textfile"
    description = "Metrics from *.prom files written by other programs (--collector.textfile.directory)."
    metrics = (MTIME, SCRAPE_ERROR)
    flags = (
        Flag("--collector.textfile.directory", "collector_textfile_directory",
             "Directory (or glob) to read *.prom files from; repeatable.", multiple=True, metavar="DIR"),
    )

    def files(self) -> tuple[list[str], bool]:
        """The *.prom files in the configured directories, sorted; and whether a directory failed."""
        paths: list[str] = []
        error = False
        for pattern in self.settings.get("collector_textfile_directory") or ():
            dirs = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for directory in dirs:
                try:
                    names = sorted(os.listdir(directory))
                except OSError as exc:
                    log.error("cannot read textfile directory %s: %s", directory, exc.strerror or exc)
                    error = True
                    continue
                paths.extend(os.path.join(directory, n) for n in names if n.endswith(".prom"))
        return paths, error

    def read(self):
        paths, error = self.files()
        out: list[MetricFamily] = []
        mtime = MTIME.family()
        for path in paths:
            try:
                with open(path, encoding="utf-8") as f:
                    st = os.fstat(f.fileno())
                    text = f.read()
                out.extend(parse_textfile(text, path))
            except (OSError, UnicodeDecodeError, TextfileError) as exc:
                log.error("failed to collect textfile data from %s: %s", path, exc)
                error = True
                continue
            mtime.add((path,), int(st.st_mtime))
        scrape_error = SCRAPE_ERROR.family()
        scrape_error.add((), 1 if error else 0)
        return [*out, mtime, scrape_error]
