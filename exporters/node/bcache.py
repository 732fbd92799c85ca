"""bcache: bcache cache sets from <sysfs>/fs/bcache/<uuid>, as node_exporter 1.9 reports them.

bcache prints sizes "humanized" (``20.4G``, ``1.1M/sec``); they are read back as
procfs does: the digits after the point are divided by 10.24 (so ``20.4G`` is
20.390625 GiB), which is what node_exporter reports. An attribute file that is
missing reads as 0. A cache set whose files cannot be parsed is left out (the
others are served, success 0). ``--collector.bcache.priorityStats`` adds the
per-cache priority_stats percentages (expensive for the kernel to compute).
"""

from __future__ import annotations

import glob
import os

from ..core.collector import Flag, PartialFailure
from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors

_UNITS = {"k": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50, "E": 2**60, "Z": 2**70, "Y": 2**80}


def _g(name, help, *labels):
    return gauge(f"node_bcache_{name}", help, "uuid", *labels)


def _c(name, help, *labels):
    return counter(f"node_bcache_{name}", help, "uuid", *labels)


# Cache set (file under <uuid>/, metric, multiplier)
SET_METRICS = (
    ("average_key_size", _g("average_key_size_sectors", "Average data per key in the btree (sectors)."), 1),
    ("btree_cache_size", _g("btree_cache_size_bytes", "Amount of memory currently used by the btree cache."), 1),
    (
        "cache_available_percent",
        _g(
            "cache_available_percent",
            "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
        ),
        1,
    ),
    ("congested", _g("congested", "Congestion."), 1),
    (
        "root_usage_percent",
        _g("root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high)."),
        1,
    ),
    ("tree_depth", _g("tree_depth", "Depth of the btree."), 1),
    (
        "internal/active_journal_entries",
        _g("active_journal_entries", "Number of journal entries that are newer than the index."),
        1,
    ),
    ("internal/btree_nodes", _g("btree_nodes", "Total nodes in the btree."), 1),
    # the file is in microseconds; node_exporter 1.9 multiplies it by 1e-9 all the same
    (
        "internal/btree_read_average_duration_us",
        _g("btree_read_average_duration_seconds", "Average btree read duration."),
        1e-9,
    ),
    (
        "internal/cache_read_races",
        _c(
            "cache_read_races_total",
            "Counts instances where while data was being read from the cache, the bucket was "
            "reused and invalidated - i.e. where the pointer was stale after the read completed.",
        ),
        1,
    ),
)
# The cache-set files procfs reads (and fails on) besides those it exports.
SET_CHECKED = tuple(
    f"{period}/{name}"
    for period in ("stats_five_minute", "stats_total")
    for name in (
        "bypassed",
        "cache_hits",
        "cache_bypass_hits",
        "cache_bypass_misses",
        "cache_miss_collisions",
        "cache_misses",
        "cache_readaheads",
    )
)
DIRTY_DATA = _g("dirty_data_bytes", "Amount of dirty data for this backing device in the cache.", "backing_device")
# writeback_rate_debug line -> metric
WRITEBACK = (
    (
        "target",
        _g(
            "dirty_target_bytes",
            "Current dirty data target threshold for this backing device in bytes.",
            "backing_device",
        ),
    ),
    ("rate", _g("writeback_rate", "Current writeback rate for this backing device in bytes.", "backing_device")),
    (
        "proportional",
        _g(
            "writeback_rate_proportional_term",
            "Current result of proportional controller, part of writeback rate",
            "backing_device",
        ),
    ),
    (
        "integral",
        _g(
            "writeback_rate_integral_term",
            "Current result of integral controller, part of writeback rate",
            "backing_device",
        ),
    ),
    ("change", _g("writeback_change", "Last writeback rate change step for this backing device.", "backing_device")),
)
# stats_total file of a backing device -> metric
PERIOD = (
    (
        "bypassed",
        _c(
            "bypassed_bytes_total",
            "Amount of IO (both reads and writes) that has bypassed the cache.",
            "backing_device",
        ),
    ),
    ("cache_hits", _c("cache_hits_total", "Hits counted per individual IO as bcache sees them.", "backing_device")),
    (
        "cache_misses",
        _c("cache_misses_total", "Misses counted per individual IO as bcache sees them.", "backing_device"),
    ),
    ("cache_bypass_hits", _c("cache_bypass_hits_total", "Hits for IO intended to skip the cache.", "backing_device")),
    (
        "cache_bypass_misses",
        _c("cache_bypass_misses_total", "Misses for IO intended to skip the cache.", "backing_device"),
    ),
    (
        "cache_miss_collisions",
        _c(
            "cache_miss_collisions_total",
            "Instances where data insertion from cache miss raced with write (data already present).",
            "backing_device",
        ),
    ),
)
READAHEADS = _c("cache_readaheads_total", "Count of times readahead occurred.", "backing_device")
CACHE = (
    (
        "io_errors",
        _g("io_errors", "Number of errors that have occurred, decayed by io_error_halflife.", "cache_device"),
    ),
    (
        "metadata_written",
        _c(
            "metadata_written_bytes_total",
            "Sum of all non data writes (btree writes and all other metadata).",
            "cache_device",
        ),
    ),
    ("written", _c("written_bytes_total", "Sum of all data that has been written to the cache.", "cache_device")),
)
PRIORITY_UNUSED = _g(
    "priority_stats_unused_percent", "The percentage of the cache that doesn't contain any data.", "cache_device"
)
PRIORITY_METADATA = _g("priority_stats_metadata_percent", "Bcache's metadata overhead.", "cache_device")


def _go_float(text: str) -> float:
    """strconv.ParseFloat for the plain decimal numbers bcache prints."""
    if not text or "_" in text or text.strip() != text:
        raise ValueError(f"not a number: {text[:30]!r}")
    return float(text)


def dehumanize(text: str) -> int:
    """``20.4G`` -> bytes, as procfs reads bcache's humanized numbers (fraction digits / 10.24)."""
    if not text:
        raise ValueError("zero-length value")
    if text[-1] > "9":
        mul = _UNITS.get(text[-1], 0)
        parts = text[:-1].split(".")
        mant = _go_float(parts[0])
        if len(parts) > 1:
            mant += _go_float(parts[1]) / 10.24
    else:
        mul, mant = 1, _go_float(text)
    value = mant * mul
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a number: {text[:30]!r}")
    return int(value)


def dehumanize_signed(text: str) -> int:
    value = dehumanize(text[1:] if text.startswith("-") else text)
    return -value if text.startswith("-") else value


def parse_writeback_rate_debug(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        key = fields[0].rstrip(":")
        raw = fields[-1]
        if key in ("rate", "change"):
            raw = raw.removesuffix("/sec")
        if key in ("rate", "dirty", "target"):
            out[key] = dehumanize(raw)
        elif key in ("proportional", "integral", "change"):
            out[key] = dehumanize_signed(raw)
    return out


def parse_priority_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        for prefix in ("Unused:", "Metadata:"):
            if line.startswith(prefix):
                raw = line.split()[-1].removesuffix("%")
                if not raw.isascii() or not raw.isdigit():
                    raise ValueError(f"priority_stats: {line[:60]!r}")
                out[prefix[:-1]] = int(raw)
    return out


class _Reader:
    def __init__(self, base: str) -> None:
        self.base = base

    def value(self, name: str) -> int:
        """A humanized attribute; 0 when the file is missing."""
        path = os.path.join(self.base, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return 0
        try:
            return dehumanize(text[:-1])  # the kernel's trailing newline
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    def text(self, name: str) -> str:
        with open(os.path.join(self.base, name), encoding="utf-8", errors="replace") as f:
            return f.read()


@node_collectors.register
class BcacheCollector(HostCollector):
    name = "bcache"
    description = "bcache cache sets: btree, backing device and cache device statistics (<sysfs>/fs/bcache)."
    metrics = (
        tuple(m for _, m, _ in SET_METRICS)
        + (DIRTY_DATA,)
        + tuple(m for _, m in WRITEBACK)
        + tuple(m for _, m in PERIOD)
        + (READAHEADS,)
        + tuple(m for _, m in CACHE)
        + (PRIORITY_UNUSED, PRIORITY_METADATA)
    )
    flags = (
        Flag(
            "--collector.bcache.priorityStats",
            "collector_bcache_priority_stats",
            "Expose expensive priority stats.",
            default=False,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.priority_stats = bool(self.settings.get("collector_bcache_priority_stats", False))

    def cache_set(self, path: str) -> list[tuple]:
        uuid = os.path.basename(path)
        r = _Reader(path)
        rows: list[tuple] = [(m, (uuid,), r.value(f) * mul) for f, m, mul in SET_METRICS]
        for f in SET_CHECKED:
            r.value(f)
        for bdev_dir in sorted(glob.glob(os.path.join(glob.escape(path), "bdev[0-9]*"))):
            bdev = os.path.basename(bdev_dir)
            labels = (uuid, bdev)
            rows.append((DIRTY_DATA, labels, r.value(os.path.join(bdev, "dirty_data"))))
            debug = parse_writeback_rate_debug(r.text(os.path.join(bdev, "writeback_rate_debug")))
            rows += [(m, labels, debug.get(key, 0)) for key, m in WRITEBACK]
            for period in ("stats_five_minute", "stats_total"):  # procfs reads (and checks) both; total is kept
                values = {f: r.value(os.path.join(bdev, period, f)) for f, _ in PERIOD + (("cache_readaheads", 0),)}
            rows += [(m, labels, values[f]) for f, m in PERIOD]
            if values["cache_readaheads"]:
                rows.append((READAHEADS, labels, values["cache_readaheads"]))
        for cache_dir in sorted(glob.glob(os.path.join(glob.escape(path), "cache[0-9]*"))):
            cache = os.path.basename(cache_dir)
            labels = (uuid, cache)
            rows += [(m, labels, r.value(os.path.join(cache, f))) for f, m in CACHE]
            if self.priority_stats:
                prio = parse_priority_stats(r.text(os.path.join(cache, "priority_stats")))
                rows += [
                    (PRIORITY_UNUSED, labels, prio.get("Unused", 0)),
                    (PRIORITY_METADATA, labels, prio.get("Metadata", 0)),
                ]
        return rows

    def read(self):
        fams = {d.name: d.family() for d in self.metrics}
        errors = []
        for path in sorted(glob.glob(os.path.join(glob.escape(self.sys("fs", "bcache")), "*-*"))):
            try:
                rows = self.cache_set(path)
            except (OSError, ValueError) as exc:
                errors.append(f"bcache {os.path.basename(path)}: {exc}")
                continue
            for metric, labels, value in rows:
                fams[metric.name].add(labels, float(value))  # as Go: float64
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
