"""Unit tests of the collectors node_exporter 1.9 adds over 1.5 for storage and network hardware (mdadm,
zfs, btrfs, xfs, bcache, nvme, tapestats, fibrechannel, infiniband, bonding, ipvs, schedstat), each run on a
small fake procfs/sysfs tree. The file contents are shaped after node_exporter's own fixtures (tests/data/
node-fixtures); the expected values are what node_exporter 1.9 computes from them. Each collector also gets
bad input: a truncated or non-numeric file affects only its device (the others are served, success 0 through
PartialFailure) or, for a file of the whole collector, only that collector."""

from __future__ import annotations

import math

import pytest

from node_tree import run as _run
from node_tree import samples, settings, tree, write

from exporters.core.collector import NoData, PartialFailure
from exporters.core.errors import ConfigError
from exporters.core.metrics import COUNTER, GAUGE, UNTYPED
from exporters.node.bcache import BcacheCollector, dehumanize
from exporters.node.bonding import BondingCollector
from exporters.node.btrfs import BtrfsCollector, allocation_ratio
from exporters.node.fibrechannel import FibreChannelCollector
from exporters.node.infiniband import InfinibandCollector, parse_rate
from exporters.node.ipvs import IPVSCollector, parse_backend_labels
from exporters.node.mdadm import MdadmCollector, parse_mdstat
from exporters.node.nvme import NVMeCollector
from exporters.node.schedstat import SchedstatCollector
from exporters.node.sysfs_util import go_uint0
from exporters.node.tapestats import TapestatsCollector
from exporters.node.xfs import XFSCollector
from exporters.node.zfs import ZFSCollector


def run(collector) -> dict:
    return _run(collector, declared=True)


def partial(collector) -> tuple[str, dict]:
    """Read a collector that must fail for part of its input: (message, {family: family} it still serves)."""
    with pytest.raises(PartialFailure) as info:
        collector.read_guarded()
    return str(info.value), {f.name: f for f in info.value.families}


def test_go_uint0_reads_sysfs_counters_as_go():
    assert go_uint0("0x000000000000001e") == 30
    assert go_uint0("17") == 17 and go_uint0("017") == 15 and go_uint0("0") == 0
    assert go_uint0("0xffffffffffffffff") == 2**64 - 1
    assert go_uint0("0x1" + "0" * 16) is None  # beyond uint64
    for bad in ("", "-1", "+1", " 1", "1.5", "N/A (no PMA)", "0x", "08"):
        assert go_uint0(bad) is None, bad


# --------------------------------------------------------------------------- mdadm

MDSTAT = """\
Personalities : [linear] [multipath] [raid0] [raid1] [raid6] [raid5] [raid4] [raid10]
md3 : active raid6 sda1[8] sdh1[7] sdg1[6] sdf1[5] sde1[11] sdd1[3] sdc1[10] sdb1[9] sdd1[10](S) sdd2[11](S)
      5853468288 blocks super 1.2 level 6, 64k chunk, algorithm 2 [8/8] [UUUUUUUU]

md6 : active raid1 sdb2[2](F) sdc[1](S) sda2[0]
      195310144 blocks [2/1] [U_]
      [=>...................]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec

md7 : active raid6 sdb1[0] sde1[3] sdd1[2] sdc1[1](F)
      7813735424 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/3] [U_UU]
      bitmap: 0/30 pages [0KB], 65536KB chunk

md9 : active raid0 sdb[1] sda[0]
      1953518592 blocks super 1.2 512k chunks

md12 : inactive sdc1[0](S)
      1993728 blocks super 1.2

md201 : active raid1 sda3[0] sdb3[1]
      1993728 blocks super 1.2 [2/2] [UU]
      [=>...................]  check =  5.7% (114176/1993728) finish=0.2min speed=114176K/sec

unused devices: <none>
"""


def md(fams, name, **labels):
    block = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return samples(fams[name])[block]


def test_mdadm_arrays(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "mdstat", MDSTAT)
    fams = run(MdadmCollector(settings(roots)))
    assert all(f.type == GAUGE for f in fams.values())
    # a degraded raid1 recovering: one disk failed, one spare; NodeRAIDDegraded/NodeRAIDDiskFailure see it
    assert md(fams, "node_md_disks_required", device="md6") == 2
    assert md(fams, "node_md_disks", device="md6", state="active") == 1
    assert md(fams, "node_md_disks", device="md6", state="failed") == 1
    assert md(fams, "node_md_disks", device="md6", state="spare") == 1
    assert md(fams, "node_md_state", device="md6", state="recovering") == 1
    assert md(fams, "node_md_state", device="md6", state="active") == 0
    assert md(fams, "node_md_blocks_synced", device="md6") == 16775552
    assert md(fams, "node_md_blocks", device="md6") == 195310144
    # bitmap line skipped; raid0 counts its member disks; inactive has none; a check in progress
    assert md(fams, "node_md_disks", device="md7", state="active") == 3
    assert md(fams, "node_md_blocks_synced", device="md7") == 7813735424
    assert md(fams, "node_md_disks_required", device="md9") == 2
    assert md(fams, "node_md_state", device="md12", state="inactive") == 1
    assert md(fams, "node_md_disks_required", device="md12") == 0
    assert md(fams, "node_md_state", device="md201", state="check") == 1
    assert md(fams, "node_md_disks", device="md3", state="spare") == 2
    assert len(samples(fams["node_md_state"])) == 6 * 5


def test_mdadm_bad_array_leaves_the_others(tmp_path):
    roots = tree(tmp_path)
    broken = MDSTAT.replace("      195310144 blocks [2/1] [U_]", "      many blocks")
    write(roots["proc"] / "mdstat", broken)
    message, fams = partial(MdadmCollector(settings(roots)))
    assert message.startswith("md array md6: unexpected status line")
    assert not any('device="md6"' in k for k in samples(fams["node_md_blocks"]))
    assert md(fams, "node_md_blocks", device="md3") == 5853468288
    # the last array cut off after its first line
    arrays, errors = parse_mdstat("md0 : active raid1 sda1[0] sdb1[1]\n")
    assert arrays == [] and errors == ["md array md0: too few lines"]
    # no /proc/mdstat (no md driver): no data, not an error
    (roots["proc"] / "mdstat").unlink()
    with pytest.raises(NoData):
        run(MdadmCollector(settings(roots)))


# --------------------------------------------------------------------------- zfs

ARCSTATS = """\
6 1 0x01 91 4368 5266997922 97951858082072
name                            type data
hits                            4    8772612
c_min                           4    33554432
memory_available_bytes          3    -922337203685477580
arc_no_grow                     4    0
"""
POOL_IO = """\
12 3 0x00 1 80 79205351707403 395818011156865
nread    nwritten reads    writes   wtime    wlentime wupdate  rtime    rlentime rupdate  wcnt     rcnt
1884160  3206144  22       132      7155162  104112268 79210489694949 24168078 104112268 79210489849220 0 0
"""
OBJSET = """\
23 1 0x01 7 2160 221578688875 6665999035587
name                            type data
dataset_name                    7    pool3/dataset with space
writes                          4    4
nwritten                        4    12302
"""


def test_zfs_kstats_pools_and_datasets(tmp_path):
    roots = tree(tmp_path)
    base = roots["proc"] / "spl" / "kstat" / "zfs"
    write(base / "arcstats", ARCSTATS)
    write(base / "pool3" / "io", POOL_IO)
    write(base / "pool3" / "objset-0x3", OBJSET)
    write(base / "pool3" / "state", "ONLINE\n")
    fams = _run(ZFSCollector(settings(roots)))
    assert fams["node_zfs_arc_hits"].type == UNTYPED
    assert fams["node_zfs_arc_hits"].help == "kstat.zfs.misc.arcstats.hits"
    assert samples(fams["node_zfs_arc_hits"]) == {"": 8772612}
    assert samples(fams["node_zfs_arc_memory_available_bytes"]) == {"": float(-922337203685477580)}
    assert samples(fams["node_zfs_zpool_nread"]) == {'{zpool="pool3"}': 1884160}
    assert fams["node_zfs_zpool_nread"].help == "kstat.zfs.misc.io.nread"
    # the dataset label keeps its spaces, as 1.9
    assert samples(fams["node_zfs_zpool_dataset_nwritten"]) == {
        '{zpool="pool3",dataset="pool3/dataset with space"}': 12302
    }
    state = samples(fams["node_zfs_zpool_state"])
    assert state['{zpool="pool3",state="online"}'] == 1 and sum(state.values()) == 1 and len(state) == 7
    # a kstat value that is not a number fails the collector, naming the file and the kstat
    write(base / "arcstats", ARCSTATS.replace("8772612", "87x2612"))
    with pytest.raises(ValueError, match=r"arcstats: hits: not an integer"):
        run(ZFSCollector(settings(roots)))
    write(base / "arcstats", "6 1 0x01 91 4368 5266997922 97951858082072\n")  # truncated: no header
    with pytest.raises(ValueError, match="no 'name type data' header"):
        run(ZFSCollector(settings(roots)))


def test_zfs_without_module_is_no_data(tmp_path):
    with pytest.raises(NoData):
        run(ZFSCollector(settings(tree(tmp_path))))


# --------------------------------------------------------------------------- btrfs


def btrfs_fs(sys, uuid, label="fixture", devices=("loop25", "loop26"), profile="raid1"):
    base = sys / "fs" / "btrfs" / uuid
    write(base / "label", f"{label}\n")
    write(base / "allocation" / "global_rsv_size", "16777216\n")
    write(base / "commit_stats", "commits 258051\nlast_commit_ms 1000\nmax_commit_ms 51462\ntotal_commit_ms 47836090\n")
    for group in ("data", "metadata", "system"):
        write(base / "allocation" / group / "bytes_reserved", "0\n")
        write(base / "allocation" / group / profile / "total_bytes", "1073741824\n")
        write(base / "allocation" / group / profile / "used_bytes", "933888\n")
    for dev in devices:
        write(base / "devices" / dev / "size", "20971520\n")
    return base


def test_btrfs_filesystem(tmp_path):
    roots = tree(tmp_path)
    btrfs_fs(roots["sys"], "0abb23a9-579b-43e6-ad30-227ef47fcb9d")
    fams = run(BtrfsCollector(settings(roots)))
    uuid = 'uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"'
    assert samples(fams["node_btrfs_info"]) == {f'{{label="fixture",{uuid}}}': 1}
    assert samples(fams["node_btrfs_commits_total"]) == {f"{{{uuid}}}": 258051}
    assert samples(fams["node_btrfs_max_commit_seconds"]) == {f"{{{uuid}}}": 51.462}
    assert samples(fams["node_btrfs_commit_seconds_total"]) == {f"{{{uuid}}}": 47836.09}
    assert samples(fams["node_btrfs_allocation_ratio"])[f'{{block_group_type="data",mode="raid1",{uuid}}}'] == 2
    assert samples(fams["node_btrfs_device_size_bytes"])[f'{{device="loop25",{uuid}}}'] == 20971520 * 512
    assert allocation_ratio("raid5", 3) == 1.5 and allocation_ratio("raid6", 4) == 2
    assert math.isinf(allocation_ratio("raid5", 1)) and allocation_ratio("raid1c3", 3) == 0


def test_btrfs_bad_commit_stats_leaves_the_other_filesystem(tmp_path):
    roots = tree(tmp_path)
    btrfs_fs(roots["sys"], "0abb23a9-579b-43e6-ad30-227ef47fcb9d")
    bad = btrfs_fs(roots["sys"], "7f07c59f-6136-449c-ab87-e1cf2328731b", label="")
    write(bad / "commit_stats", "commits\n")  # truncated
    message, fams = partial(BtrfsCollector(settings(roots)))
    assert message.startswith("btrfs 7f07c59f-6136-449c-ab87-e1cf2328731b: invalid commit_stats line")
    assert list(samples(fams["node_btrfs_info"])) == ['{label="fixture",uuid="0abb23a9-579b-43e6-ad30-227ef47fcb9d"}']
    # a non-numeric attribute reads as 0, as procfs reads it
    write(bad / "commit_stats", "commits 1\n")
    write(bad / "allocation" / "global_rsv_size", "lots\n")
    fams = run(BtrfsCollector(settings(roots)))
    assert samples(fams["node_btrfs_global_rsv_size_bytes"])['{uuid="7f07c59f-6136-449c-ab87-e1cf2328731b"}'] == 0


# --------------------------------------------------------------------------- xfs

XFS_STATS = """\
extent_alloc 1 872 0 0
abt 0 0 0 0
blk_map 61 29 1 1 1 91 0
bmbt 0 0 0 0
dir 3 2 1 52
trans 4 40 0
ig 5 1 0 4 0 0 1
log 8 21 0 5821 4
rw 28 0
vnodes 4 0 0 0 1 1 1 0
xpc 3571712 3568056 0
"""


def test_xfs_stats(tmp_path):
    roots = tree(tmp_path)
    write(roots["sys"] / "fs" / "xfs" / "sda1" / "stats" / "stats", XFS_STATS)
    write(roots["sys"] / "fs" / "xfs" / "sdb1" / "stats" / "stats", XFS_STATS.replace("rw 28 0", "rw 28"))
    message, fams = partial(XFSCollector(settings(roots)))
    assert message == "xfs sdb1: rw: 1 values, expected (2,)"
    assert all(f.type == COUNTER for f in fams.values())
    assert samples(fams["node_xfs_extent_allocation_blocks_allocated_total"]) == {'{device="sda1"}': 872}
    assert samples(fams["node_xfs_write_calls_total"]) == {'{device="sda1"}': 28}  # "rw" is write, read
    assert samples(fams["node_xfs_read_calls_total"]) == {'{device="sda1"}': 0}
    assert samples(fams["node_xfs_block_mapping_extent_list_lookups_total"]) == {'{device="sda1"}': 91}
    write(roots["sys"] / "fs" / "xfs" / "sdb1" / "stats" / "stats", XFS_STATS.replace("ig 5", "ig five"))
    message, _ = partial(XFSCollector(settings(roots)))
    assert message.startswith("xfs sdb1: ig: values are not all numbers")


# --------------------------------------------------------------------------- bcache

BCACHE_UUID = "deaddd54-c735-46d5-868e-f331c5fd7c74"


def bcache_tree(sys):
    base = sys / "fs" / "bcache" / BCACHE_UUID
    for name, value in (
        ("average_key_size", "0"),
        ("btree_cache_size", "0"),
        ("cache_available_percent", "100"),
        ("congested", "0"),
        ("root_usage_percent", "0"),
        ("tree_depth", "0"),
        ("internal/active_journal_entries", "1"),
        ("internal/btree_nodes", "0"),
        ("internal/btree_read_average_duration_us", "1305"),
        ("internal/cache_read_races", "0"),
        ("bdev0/dirty_data", "0"),
        ("bdev0/stats_total/cache_hits", "546"),
        ("bdev0/stats_total/cache_readaheads", "13"),
        ("bdev0/stats_total/bypassed", "1.5k"),
        ("cache0/io_errors", "0"),
        ("cache0/metadata_written", "512"),
        ("cache0/written", "0"),
        ("cache0/priority_stats", "Unused:         99%\nMetadata:       0%\n"),
    ):
        write(base / name, value + "\n")
    write(
        base / "bdev0" / "writeback_rate_debug",
        "rate:           1.1M/sec\ndirty:          20.4G\n"
        "target:         20.4G\nproportional:   427.5k\nintegral:       790.0k\nchange:         -321.5k/sec\n"
        "next io:        17ms\n",
    )
    return base


def test_bcache_dehumanize_as_procfs():
    assert dehumanize("20.4G") == 21894266880  # 20 + 4/10.24 GiB, what node_exporter reports
    assert dehumanize("1.1M") == 1150976
    assert dehumanize("512") == 512 and dehumanize("13") == 13
    with pytest.raises(ValueError):
        dehumanize("")
    with pytest.raises(ValueError):
        dehumanize("lots")


def test_bcache_cache_set(tmp_path):
    roots = tree(tmp_path)
    bcache_tree(roots["sys"])
    fams = run(BcacheCollector(settings(roots)))
    u = f'uuid="{BCACHE_UUID}"'
    bdev = f'{{{u},backing_device="bdev0"}}'
    assert samples(fams["node_bcache_dirty_target_bytes"]) == {bdev: 21894266880}
    assert samples(fams["node_bcache_writeback_rate"]) == {bdev: 1150976}
    assert samples(fams["node_bcache_writeback_change"]) == {bdev: -329204}  # 321 + 5/10.24 KiB
    assert samples(fams["node_bcache_cache_hits_total"]) == {bdev: 546}
    assert samples(fams["node_bcache_bypassed_bytes_total"]) == {bdev: 1524}
    assert samples(fams["node_bcache_cache_readaheads_total"]) == {bdev: 13}
    # microseconds in the file, multiplied by 1e-9 as node_exporter 1.9 does
    assert samples(fams["node_bcache_btree_read_average_duration_seconds"]) == {f"{{{u}}}": 1305 * 1e-9}
    assert samples(fams["node_bcache_metadata_written_bytes_total"]) == {f'{{{u},cache_device="cache0"}}': 512}
    assert not fams["node_bcache_priority_stats_unused_percent"].samples  # off by default
    fams = run(BcacheCollector(settings(roots, collector_bcache_priority_stats=True)))
    assert samples(fams["node_bcache_priority_stats_unused_percent"]) == {f'{{{u},cache_device="cache0"}}': 99}


def test_bcache_bad_value_fails_only_bcache(tmp_path):
    roots = tree(tmp_path)
    base = bcache_tree(roots["sys"])
    write(base / "bdev0" / "dirty_data", "x\n")
    message, fams = partial(BcacheCollector(settings(roots)))
    assert message.startswith(f"bcache {BCACHE_UUID}: bdev0/dirty_data: not a number")
    assert not any(f.samples for f in fams.values())


# --------------------------------------------------------------------------- nvme, tapestats


def test_nvme_info_and_a_controller_without_state(tmp_path):
    roots = tree(tmp_path)
    for name, serial in (("nvme0", "S680HF8N190894I"), ("nvme1", "X1")):
        d = roots["sys"] / "class" / "nvme" / name
        write(d / "firmware_rev", "1B2QEXP7\n")
        write(d / "model", "Samsung SSD 970 PRO 512GB               \n")
        write(d / "serial", f"{serial}      \n")
        write(d / "state", "live\n")
    (roots["sys"] / "class" / "nvme" / "nvme1" / "state").unlink()
    message, fams = partial(NVMeCollector(settings(roots)))
    assert message.startswith("nvme nvme1: No such file or directory")
    assert samples(fams["node_nvme_info"]) == {
        '{device="nvme0",firmware_revision="1B2QEXP7",model="Samsung SSD 970 PRO 512GB",'
        'serial="S680HF8N190894I",state="live"}': 1
    }


def test_tapestats(tmp_path):
    roots = tree(tmp_path)
    stats = roots["sys"] / "class" / "scsi_tape" / "st0" / "stats"
    for name, value in (
        ("in_flight", "1"),
        ("io_ns", "9247011087720"),
        ("other_cnt", "1409"),
        ("read_byte_cnt", "979383912"),
        ("read_cnt", "3741"),
        ("read_ns", "33788355744"),
        ("resid_cnt", "19"),
        ("write_byte_cnt", "1496246784000"),
        ("write_cnt", "53772916"),
        ("write_ns", "5233597394395"),
    ):
        write(stats / name, value + "\n")
    write(roots["sys"] / "class" / "scsi_tape" / "nst0" / "stats" / "in_flight", "1\n")  # another node, not a drive
    fams = run(TapestatsCollector(settings(roots)))
    assert samples(fams["node_tape_io_now"]) == {'{device="st0"}': 1}
    assert fams["node_tape_io_now"].type == GAUGE
    assert samples(fams["node_tape_io_time_seconds_total"]) == {'{device="st0"}': 9247011087720 * 0.000000001}
    assert samples(fams["node_tape_writes_completed_total"]) == {'{device="st0"}': 53772916}
    assert not run(TapestatsCollector(settings(roots, collector_tapestats_ignored_devices="^st0$")))[
        "node_tape_io_now"
    ].samples
    write(stats / "read_cnt", "3741 reads\n")
    message, _ = partial(TapestatsCollector(settings(roots)))
    assert message.startswith("tape st0: stats/read_cnt: '3741 reads' is not a number")


# --------------------------------------------------------------------------- fibrechannel


def test_fibrechannel(tmp_path):
    roots = tree(tmp_path)
    host = roots["sys"] / "class" / "fc_host" / "host0"
    for name, value in (
        ("speed", "16 Gbit"),
        ("port_state", "Online"),
        ("port_type", "Point-To-Point (direct nport connection)"),
        ("port_name", "0x1000e0071bce95f2"),
        ("port_id", "0x000002"),
        ("symbolic_name", "Emulex SN1100E2P"),
        ("fabric_name", "0x0"),
        ("dev_loss_tmo", "30"),
        ("supported_classes", "Class 3"),
        ("supported_speeds", "4 Gbit, 8 Gbit, 16 Gbit"),
    ):
        write(host / name, value + "\n")
    for name, value in (
        ("dumped_frames", "0xffffffffffffffff"),
        ("error_frames", "0x0"),
        ("invalid_crc_count", "0x2"),
        ("rx_frames", "0x3"),
        ("reset_statistics", ""),
    ):
        write(host / "statistics" / name, value + "\n")
    fams = run(FibreChannelCollector(settings(roots)))
    assert samples(fams["node_fibrechannel_info"]) == {
        '{dev_loss_tmo="30",fabric_name="0",fc_host="host0",port_id="000002",port_name="1000e0071bce95f2",'
        'port_state="Online",port_type="Point-To-Point (direct nport connection)",speed="16 Gbit",'
        'supported_classes="Class 3",supported_speeds="4 Gbit, 8 Gbit, 16 Gbit",symbolic_name="Emulex SN1100E2P"}': 1
    }
    assert samples(fams["node_fibrechannel_invalid_crc_total"]) == {'{fc_host="host0"}': 2}
    assert not fams["node_fibrechannel_dumped_frames_total"].samples  # all ones: not kept by the driver
    assert not fams["node_fibrechannel_nos_total"].samples  # no such file
    write(host / "statistics" / "rx_frames", "three\n")
    message, fams = partial(FibreChannelCollector(settings(roots)))
    assert message == "fc_host host0: statistics/rx_frames: 'three' is not a number"
    assert not fams["node_fibrechannel_info"].samples


# --------------------------------------------------------------------------- infiniband


def ib_port(sys, device, port, counters=None, rate="40 Gb/sec (4X QDR)"):
    d = sys / "class" / "infiniband" / device
    write(d / "fw_ver", "2.31.5050\n")
    write(d / "board_id", "SM_1141000001000\n")
    write(d / "hca_type", "MT4099\n")
    p = d / "ports" / str(port)
    write(p / "state", "4: ACTIVE\n")
    write(p / "phys_state", "5: LinkUp\n")
    write(p / "rate", rate + "\n")
    for name, value in (counters or {}).items():
        write(p / name, value + "\n")
    (p / "counters").mkdir(exist_ok=True)


def test_infiniband(tmp_path):
    roots = tree(tmp_path)
    ib_port(
        roots["sys"],
        "mlx4_0",
        1,
        {
            "counters/port_rcv_data": "4631917",
            "counters/link_downed": "0",
            "counters_ext/port_xmit_data_64": "3733440",
            "counters/VL15_dropped": "0",
        },
    )
    ib_port(roots["sys"], "i40iw0", 1, {"counters/symbol_error": "N/A (no PMA)"}, rate="10 Gb/sec (4X)")
    fams = run(InfinibandCollector(settings(roots)))
    mlx = '{device="mlx4_0",port="1"}'
    assert samples(fams["node_infiniband_port_data_received_bytes_total"]) == {mlx: 4631917 * 4}  # 4-byte words
    assert samples(fams["node_infiniband_legacy_data_transmitted_bytes_total"]) == {mlx: 3733440 * 4}
    assert samples(fams["node_infiniband_vl15_dropped_total"]) == {mlx: 0}
    assert samples(fams["node_infiniband_rate_bytes_per_second"]) == {mlx: 5e9, '{device="i40iw0",port="1"}': 1.25e9}
    assert samples(fams["node_infiniband_state_id"])['{device="i40iw0",port="1"}'] == 4
    assert not samples(fams["node_infiniband_symbol_error_total"])  # N/A (no PMA)
    assert parse_rate("2.5 Gb/sec (1X SDR)") == 312500000
    # a port whose state file is garbage: that device is left out, the other one served
    write(roots["sys"] / "class" / "infiniband" / "i40iw0" / "ports" / "1" / "state", "ACTIVE\n")
    message, fams = partial(InfinibandCollector(settings(roots)))
    assert message.startswith("infiniband device i40iw0: port 1: expected 'ID: NAME'")
    assert list(samples(fams["node_infiniband_info"])) == [
        '{board_id="SM_1141000001000",device="mlx4_0",firmware_version="2.31.5050",hca_type="MT4099"}'
    ]


# --------------------------------------------------------------------------- bonding


def test_bonding(tmp_path):
    roots = tree(tmp_path)
    net = roots["sys"] / "class" / "net"
    write(net / "bonding_masters", "bond0 dmz int\n")
    write(net / "bond0" / "bonding" / "slaves", "\n")
    write(net / "dmz" / "bonding" / "slaves", "eth0 eth4\n")
    write(net / "dmz" / "lower_eth0" / "bonding_slave" / "mii_status", "up\n")
    write(net / "dmz" / "slave_eth4" / "bonding_slave" / "mii_status", "up\n")  # a pre-4.x kernel's name
    write(net / "int" / "bonding" / "slaves", "eth5 eth1\n")
    write(net / "int" / "lower_eth5" / "bonding_slave" / "mii_status", "down\n")
    write(net / "int" / "lower_eth1" / "bonding_slave" / "mii_status", "up\n")
    fams = run(BondingCollector(settings(roots)))
    assert samples(fams["node_bonding_slaves"]) == {'{master="bond0"}': 0, '{master="dmz"}': 2, '{master="int"}': 2}
    assert samples(fams["node_bonding_active"]) == {'{master="bond0"}': 0, '{master="dmz"}': 2, '{master="int"}': 1}
    # a slave directory gone (unplugged NIC): only that master is left out
    (net / "int" / "lower_eth1" / "bonding_slave" / "mii_status").unlink()
    message, fams = partial(BondingCollector(settings(roots)))
    assert message.startswith("bonding master int: No such file or directory")
    assert samples(fams["node_bonding_slaves"]) == {'{master="bond0"}': 0, '{master="dmz"}': 2}
    (net / "bonding_masters").unlink()
    with pytest.raises(NoData):
        run(BondingCollector(settings(roots)))


# --------------------------------------------------------------------------- ipvs

IP_VS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80016:0CEA wlc
  -> C0A85216:0CEA      Tunnel  100    248        2
  -> C0A85318:0CEA      Tunnel  100    248        2
TCP  [2620:0000:0000:0000:0000:0000:0000:0001]:0050 sh
  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   1      0          0
FWM  10001000 wlc
  -> C0A8321A:0CEA      Tunnel  20     64         1
  -> C0A83120:0CEA      Tunnel  100    321        5
"""
IP_VS_STATS = """\
   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
 16AA370 E33656E5        0     51D8C8883AB3                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       4    1FB3C        0          1282A8F                0
"""


def test_ipvs(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "net" / "ip_vs", IP_VS)
    write(roots["proc"] / "net" / "ip_vs_stats", IP_VS_STATS)
    fams = run(IPVSCollector(settings(roots)))
    assert samples(fams["node_ipvs_connections_total"]) == {"": 23765872}
    assert samples(fams["node_ipvs_incoming_bytes_total"]) == {"": 89991519156915}
    weight = samples(fams["node_ipvs_backend_weight"])
    assert (
        weight[
            '{local_address="192.168.0.22",local_mark="",local_port="3306",proto="TCP",'
            'remote_address="192.168.82.22",remote_port="3306"}'
        ]
        == 100
    )
    assert (
        weight[
            '{local_address="2620::1",local_mark="",local_port="80",proto="TCP",'
            'remote_address="2620::2",remote_port="80"}'
        ]
        == 1
    )
    assert (
        weight[
            '{local_address="",local_mark="10001000",local_port="0",proto="FWM",'
            'remote_address="192.168.49.32",remote_port="3306"}'
        ]
        == 100
    )
    # fewer labels: backends that share them are summed
    fams = _run(IPVSCollector(settings(roots, collector_ipvs_backend_labels="proto,local_mark")))
    assert samples(fams["node_ipvs_backend_connections_active"]) == {
        '{local_mark="",proto="TCP"}': 496,
        '{local_mark="10001000",proto="FWM"}': 385,
    }
    assert fams["node_ipvs_backend_connections_active"].labelnames == ("local_mark", "proto")
    with pytest.raises(ConfigError, match="unknown IPVS backend labels: nope"):
        parse_backend_labels("proto,nope")
    write(roots["proc"] / "net" / "ip_vs_stats", IP_VS_STATS.splitlines()[0] + "\n")  # truncated
    with pytest.raises(ValueError, match="too short"):
        run(IPVSCollector(settings(roots)))
    (roots["proc"] / "net" / "ip_vs_stats").unlink()
    with pytest.raises(NoData):
        run(IPVSCollector(settings(roots)))


# --------------------------------------------------------------------------- schedstat


def test_schedstat(tmp_path):
    roots = tree(tmp_path)
    write(
        roots["proc"] / "schedstat",
        "version 15\ntimestamp 15819019232\n"
        "cpu0 498494191 0 3533438552 2553969831 3853684107 2465731542 2045936778163039 343796328169361 4767485306\n"
        "domain0 00000000,00000003 212499247 210112015 1861015 1860405436 536440 369895 32599 210079416 "
        "25368550 24241256 384652 927363878 807233 6366 1647 24239609 2122447 1886868 1 234224 0 0 0 0\n"
        "cpu1 470904669 0 3320537567 2324898823 3604655731 2213549946 1913843862193036 340698484476232\n",
    )
    fams = run(SchedstatCollector(settings(roots)))
    # cpu1's line is truncated (8 numbers): skipped, as procfs skips it
    assert samples(fams["node_schedstat_running_seconds_total"]) == {'{cpu="0"}': 2045936778163039 / 1e9}
    assert samples(fams["node_schedstat_waiting_seconds_total"]) == {'{cpu="0"}': 343796328169361 / 1e9}
    assert samples(fams["node_schedstat_timeslices_total"]) == {'{cpu="0"}': 4767485306}
    (roots["proc"] / "schedstat").unlink()
    with pytest.raises(NoData):
        run(SchedstatCollector(settings(roots)))
