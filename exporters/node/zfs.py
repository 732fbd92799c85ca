"""zfs: OpenZFS kstats from <procfs>/spl/kstat/zfs, as node_exporter 1.9 names them.

The family names follow the kstat names, so they are made per scrape: every
``name type data`` row of type 3 (int64) or 4 (uint64) of ``arcstats``,
``abdstats``, ... becomes ``node_zfs_<subsystem>_<name>`` (untyped, help = the
kstat path). Per pool: the ``io`` table (``node_zfs_zpool_*``), each
``objset-*`` dataset (``node_zfs_zpool_dataset_*``) and ``state``
(``node_zfs_zpool_state``). No spl/kstat/zfs directory (no zfs module) is "no
data"; a kstat file that is absent is skipped (older ZFS lacks some).
"""

from __future__ import annotations

import glob
import os

from ..core.collector import NoData
from ..core.metrics import UNTYPED, MetricDef, MetricFamily, gauge
from .registry import HostCollector, node_collectors, read_text

POOL_STATE = gauge("node_zfs_zpool_state", "kstat.zfs.misc.state", "zpool", "state")
# For the generated metric reference only: the real names come from the kstat files.
KSTAT_DOC = MetricDef(
    "node_zfs_<subsystem>_<kstat>",
    UNTYPED,
    "kstat.zfs.misc.<file>.<kstat> (arcstats, abdstats, dbufstats, dmu_tx, dnodestats, fm, "
    "vdev_cache_stats, vdev_mirror_stats, xuio_stats, zfetchstats, zil).",
)
POOL_IO_DOC = MetricDef(
    "node_zfs_zpool_<field>", UNTYPED, "kstat.zfs.misc.io.<field> of the pool's io kstat.", ("zpool",)
)
DATASET_DOC = MetricDef(
    "node_zfs_zpool_dataset_<kstat>", UNTYPED, "kstat.zfs.misc.objset.<kstat> of a dataset.", ("zpool", "dataset")
)
POOL_STATES = ("online", "degraded", "faulted", "offline", "removed", "unavail", "suspended")

# metric subsystem -> kstat file
SUBSYSTEMS = (
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
)
KSTAT_INT64, KSTAT_UINT64 = "3", "4"


def metric_name(kstat: str) -> str:
    return kstat.replace("-", "_")


def parse_kstat(text: str, what: str) -> list[tuple[str, int]]:
    """The (name, value) int64/uint64 rows after the ``name type data`` header."""
    rows, started = [], False
    for line in text.split("\n"):
        parts = line.split()
        if not started:
            started = parts == ["name", "type", "data"]
            continue
        if len(parts) < 3 or parts[1] not in (KSTAT_INT64, KSTAT_UINT64):
            continue
        try:
            value = int(parts[2], 10)
        except ValueError:
            raise ValueError(f"{what}: {parts[0]}: not an integer: {parts[2][:40]!r}") from None
        if parts[1] == KSTAT_UINT64 and value < 0:
            raise ValueError(f"{what}: {parts[0]}: negative unsigned value {parts[2][:40]!r}")
        rows.append((parts[0], value))
    if not started:
        raise ValueError(f"{what}: no 'name type data' header")
    return rows


def parse_pool_io(text: str, what: str) -> list[tuple[str, int]]:
    """The pool ``io`` kstat: a header row starting with ``nread`` (12+ columns), then a row of values."""
    fields, out = None, []
    for line in text.split("\n"):
        parts = line.split()
        if fields is None:
            if len(parts) >= 12 and parts[0] == "nread":
                fields = parts
            continue
        if not parts:
            continue
        for i, field in enumerate(fields):
            try:
                value = int(parts[i], 10)
                if value < 0:
                    raise ValueError
            except (ValueError, IndexError):
                raise ValueError(f"{what}: {field}: not an unsigned integer") from None
            out.append((field, value))
    return out


def parse_objset(text: str, what: str) -> tuple[str, list[tuple[str, int]]]:
    """A dataset's ``objset-*`` kstat: (dataset name, uint64 rows)."""
    dataset, rows, started = "", [], False
    for line in text.split("\n"):
        parts = line.split()
        if not started:
            started = parts == ["name", "type", "data"]
            continue
        if len(parts) < 3:
            continue
        if parts[0] == "dataset_name":
            dataset = line[line.index(parts[2]) :]  # a dataset name may contain spaces
            continue
        if parts[1] == KSTAT_UINT64:
            if not parts[2].isdigit():
                raise ValueError(f"{what}: {parts[0]}: not an unsigned integer: {parts[2][:40]!r}")
            rows.append((parts[0], int(parts[2])))
    if not started:
        raise ValueError(f"{what}: no 'name type data' header")
    return dataset, rows


class _Families:
    """Families made on demand by name, in first-seen order."""

    def __init__(self) -> None:
        self.by_name: dict[str, MetricFamily] = {}

    def get(self, name: str, help: str, labels: tuple[str, ...] = (), typ: str = UNTYPED) -> MetricFamily:
        fam = self.by_name.get(name)
        if fam is None:
            fam = self.by_name[name] = MetricDef(name, typ, help, labels).family()
        return fam


@node_collectors.register
class ZFSCollector(HostCollector):
    name = "zfs"
    description = (
        "OpenZFS statistics (<procfs>/spl/kstat/zfs): ARC, DMU, ZIL, per-pool I/O, datasets and state; "
        "one untyped node_zfs_<subsystem>_<kstat> family per kstat."
    )
    metrics = (KSTAT_DOC, POOL_IO_DOC, DATASET_DOC, POOL_STATE)

    def read(self):
        base = self.proc("spl", "kstat", "zfs")
        if not os.path.isdir(base):
            raise NoData(f"{base} does not exist (no zfs module)")
        fams = _Families()
        for subsystem, filename in SUBSYSTEMS:
            path = os.path.join(base, filename)
            try:
                text = read_text(path)
            except FileNotFoundError:
                continue
            for kstat, value in parse_kstat(text, path):
                fams.get(f"node_{subsystem}_{metric_name(kstat)}", f"kstat.zfs.misc.{filename}.{kstat}").add(
                    (), float(value)
                )
        for path in sorted(glob.glob(os.path.join(glob.escape(base), "*", "io"))):
            pool = os.path.basename(os.path.dirname(path))
            for field, value in parse_pool_io(read_text(path), path):
                fams.get(f"node_zfs_zpool_{metric_name(field)}", f"kstat.zfs.misc.io.{field}", ("zpool",)).add(
                    (pool,), float(value)
                )
        for path in sorted(glob.glob(os.path.join(glob.escape(base), "*", "objset-*"))):
            pool = os.path.basename(os.path.dirname(path))
            dataset, rows = parse_objset(read_text(path), path)
            for kstat, value in rows:
                fams.get(
                    f"node_zfs_zpool_dataset_{metric_name(kstat)}",
                    f"kstat.zfs.misc.objset.{kstat}",
                    ("zpool", "dataset"),
                ).add((pool, dataset), float(value))
        state_paths = sorted(glob.glob(os.path.join(glob.escape(base), "*", "state")))
        if state_paths:
            fam = POOL_STATE.family()
            for path in state_paths:
                pool = os.path.basename(os.path.dirname(path))
                actual = read_text(path).split("\n", 1)[0].lower()
                for state in POOL_STATES:
                    fam.add((pool, state), 1 if actual == state else 0)
            fams.by_name[fam.name] = fam
        yield from fams.by_name.values()
