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
from ..core.metrics import MetricFamily, gauge
from ..core.textparse import ParseError, parse_text
from .registry import HostCollector, node_collectors

log = logging.getLogger("exporters.node.textfile")

SCRAPE_ERROR = gauge("node_textfile_scrape_error", "1 if there was an error opening or reading a file, 0 otherwise")
MTIME = gauge("node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.", "file")


@node_collectors.register
class TextfileCollector(HostCollector):
    name = "textfile"
    description = "Metrics from *.prom files written by other programs (--collector.textfile.directory)."
    metrics = (MTIME, SCRAPE_ERROR)
    flags = (
        Flag(
            "--collector.textfile.directory",
            "collector_textfile_directory",
            "Directory (or glob) to read *.prom files from; repeatable.",
            multiple=True,
            metavar="DIR",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._problems: dict[str, str] = {}  # directory or file -> its error, as last logged

    def _report(self, problems: dict[str, str]) -> None:
        """Log each problem once, when it starts or changes, and once when it is gone: a directory
        that cannot be read stays unreadable for every scrape, which must not fill the log."""
        for where, message in problems.items():
            if self._problems.get(where) != message:
                log.error("%s", message)
        for where in self._problems.keys() - problems.keys():
            log.info("textfile %s is read again", where)
        self._problems = problems

    def files(self, problems: dict[str, str] | None = None) -> tuple[list[str], bool]:
        """The *.prom files in the configured directories, sorted; and whether a directory failed."""
        paths: list[str] = []
        error = False
        for pattern in self.settings.get("collector_textfile_directory") or ():
            dirs = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for directory in dirs:
                try:
                    names = sorted(os.listdir(directory))
                except OSError as exc:
                    if problems is not None:
                        problems[directory] = f"cannot read textfile directory {directory}: {exc.strerror or exc}"
                    error = True
                    continue
                paths.extend(os.path.join(directory, n) for n in names if n.endswith(".prom"))
        return paths, error

    def read(self):
        problems: dict[str, str] = {}
        paths, error = self.files(problems)
        out: list[MetricFamily] = []
        mtime = MTIME.family()
        for path in paths:
            try:
                with open(path, encoding="utf-8") as f:
                    st = os.fstat(f.fileno())
                    text = f.read()
                out.extend(parse_text(text, default_help=f"Metric read from {path}"))
            except ParseError as exc:
                problems[path] = f"failed to parse textfile data from {path}: {exc}"
                error = True
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems[path] = f"failed to collect textfile data from {path}: {exc}"
                error = True
                continue
            mtime.add((path,), int(st.st_mtime))
        self._report(problems)
        scrape_error = SCRAPE_ERROR.family()
        scrape_error.add((), 1 if error else 0)
        return [*out, mtime, scrape_error]
