"""conntrack: netfilter connection tracking table size and statistics.

``<procfs>/sys/net/netfilter/nf_conntrack_count`` and ``nf_conntrack_max``
give the table's use and limit. ``<procfs>/net/stat/nf_conntrack`` is a table
with a header line and one row of hexadecimal counters per CPU::

    entries  clashres found new invalid ignore delete chainlength insert insert_failed drop ...
    00000007  00000000 00000000 00000000 0000002a 00000c1e 00000000 00000000 00000000 ...

The ``node_nf_conntrack_stat_*`` gauges are the sums over all rows. Columns
are found by their header name (kernels have renamed some of the columns we do
not export, never those we do).

Without the nf_conntrack module the files do not exist: node_exporter 1.5.0
then reports the collector as failed (ErrNoData, logged at debug level); we
fail with a message saying so.
"""

from __future__ import annotations

from ..core.collector import NoData
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

ENTRIES = gauge("node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.")
ENTRIES_LIMIT = gauge("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.")

# (column of /proc/net/stat/nf_conntrack, metric)
STAT_COLUMNS = (
    ("found", gauge("node_nf_conntrack_stat_found", "Number of searched entries which were successful.")),
    ("invalid", gauge("node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked.")),
    (
        "ignore",
        gauge(
            "node_nf_conntrack_stat_ignore",
            "Number of packets seen which are already connected to a conntrack entry.",
        ),
    ),
    ("insert", gauge("node_nf_conntrack_stat_insert", "Number of entries inserted into the list.")),
    (
        "insert_failed",
        gauge(
            "node_nf_conntrack_stat_insert_failed",
            "Number of entries for which list insertion was attempted but failed.",
        ),
    ),
    ("drop", gauge("node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure.")),
    (
        "early_drop",
        gauge(
            "node_nf_conntrack_stat_early_drop",
            "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
        ),
    ),
    (
        "search_restart",
        gauge(
            "node_nf_conntrack_stat_search_restart",
            "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
        ),
    ),
)


class ConntrackUnavailable(NoData):
    """The nf_conntrack module is not loaded (its /proc files do not exist)."""


def parse_uint(text: str) -> int:
    """The single unsigned decimal number of a /proc/sys file."""
    value = int(text.strip())
    if value < 0:
        raise ValueError(f"expected an unsigned number, got {text.strip()!r}")
    return value


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """Sum the per-CPU rows of /proc/net/stat/nf_conntrack: ``{column: total}``.

    The first line names the columns; every other non-empty line must have one
    hexadecimal number per column, else ValueError."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty nf_conntrack statistics")
    columns = lines[0].split()
    totals = dict.fromkeys(columns, 0)
    for line in lines[1:]:
        values = line.split()
        if len(values) != len(columns):
            raise ValueError(f"nf_conntrack statistics row has {len(values)} fields, header has {len(columns)}")
        for column, value in zip(columns, values):
            totals[column] += int(value, 16)
    return totals


@node_collectors.register
class ConntrackCollector(HostCollector):
    name = "conntrack"
    description = "Netfilter connection tracking: table size, limit and statistics (nf_conntrack module)."
    metrics = (ENTRIES, ENTRIES_LIMIT) + tuple(d for _, d in STAT_COLUMNS)

    def _read(self, *parts: str) -> str:
        path = self.proc(*parts)
        try:
            return read_text(path)
        except FileNotFoundError:
            raise ConntrackUnavailable(
                f"{path} does not exist: the nf_conntrack module is probably not loaded"
            ) from None

    def read(self):
        for d, filename in ((ENTRIES, "nf_conntrack_count"), (ENTRIES_LIMIT, "nf_conntrack_max")):
            fam = d.family()
            fam.add((), parse_uint(self._read("sys", "net", "netfilter", filename)))
            yield fam
        totals = parse_conntrack_stat(self._read("net", "stat", "nf_conntrack"))
        for column, d in STAT_COLUMNS:
            if column in totals:
                fam = d.family()
                fam.add((), totals[column])
                yield fam
