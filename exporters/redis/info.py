"""INFO ALL (and CLUSTER INFO) to redis_exporter's metric families: the compatibility contract as data.

Where the contract comes from: redis_exporter 1.69 (Debian 13's, the reference; Debian 12's 1.45 where
they agree). Its INFO rules were read from oliver006/redis_exporter (exporter.go's ``metricMapGauges`` /
``metricMapCounters``, info.go, metrics.go, sentinels.go) and checked against both binaries on Redis 6.2,
Redis 7.0, Valkey 8.1 and a sentinel (tests/integration/redis_tests/test_redis_exporter_169.py). So:

- an INFO field is exported only when it is in :data:`GAUGES` or :data:`COUNTERS`, or its name
  starts with ``db``, ``cmdstat_`` or ``cluster_`` (then a gauge under its own name); every other
  field, numeric or not (``mem_replication_backlog``, ``*_human``, versions, Valkey's own fields such
  as ``io_threaded_reads_processed``' newer siblings) is dropped, as 1.69 drops it; ``hz`` and
  ``configured_hz`` (Server) and the ``# Sentinel`` section have rules of their own;
- ``ok``/``true`` are 1 and ``err``/``fail``/``false`` 0 (``rdb_last_bgsave_status`` and the like);
- the type is counter only for :data:`COUNTERS` fields, whatever the name says: some counters lack
  ``_total`` (``redis_total_error_replies``) and some gauges carry it
  (``redis_migrate_cached_sockets_total``, ``redis_rdb_saves_total``).

Where 1.69 and 1.45 differ, this follows 1.69 (docs/redis.md lists it): the fields 1.69 added
(``evicted_clients``, ``number_of_functions``, ``mem_total_replication_buffers``, ``maxclients`` as
``redis_max_clients`` ...), ``hz``/``configured_hz``, ``master_replid`` on ``redis_instance_info``, and
``redis_expired_time_cap_reached_total`` a counter (1.45: a gauge).

Not derived from INFO, so not here (they are the session's and commands' part): ``redis_up``,
``redis_exporter_*`` and ``redis_target_scrape_request_errors_total``, ``redis_config_*`` (CONFIG GET),
``redis_slowlog_*`` and ``redis_last_slow_execution_duration_seconds`` (SLOWLOG), latency spikes
and ``redis_commands_latencies_usec`` (LATENCY LATEST / HISTOGRAM), key checks and streams, and the
sentinel families from SENTINEL commands (sentinel.py).

Shape: :data:`GAUGES` and :data:`COUNTERS` map an INFO field to its metric name without the
``redis_`` namespace; :data:`FIELDS` is both as {field: FieldMetric(MetricDef, scale)}, and
:data:`METRICS` every family this module can emit (the metric reference in README.md).

Where this module parts from 1.45 on purpose (no captured server is affected):
- a value that does not parse is left out; 1.45 exports it as 0 (a phantom 0, which later
  redis_exporter releases also stopped doing);
- keyspace and commandstats entries are read by field name; 1.45 reads them by position, so it
  turned Redis 7.4's 4th keyspace field ``subexpiry`` into ``redis_db_keys_cached``.
"""

from __future__ import annotations

import math
import re
import time
from typing import Mapping, NamedTuple

from ..core.metrics import COUNTER, GAUGE, SUMMARY, MetricDef, MetricFamily, counter, format_le, gauge

NS = "redis_"


# ---- the rename tables: INFO field -> metric name (namespace added below) -----------------------

GAUGES: dict[str, str] = {
    # Server
    "uptime_in_seconds": "uptime_in_seconds",
    "process_id": "process_id",
    "io_threads_active": "io_threads_active",
    # Clients
    "connected_clients": "connected_clients",
    "blocked_clients": "blocked_clients",
    "maxclients": "max_clients",  # 1.69
    "tracking_clients": "tracking_clients",
    "clients_in_timeout_table": "clients_in_timeout_table",
    "pubsub_clients": "pubsub_clients",  # 1.69, Redis 7.4
    "watching_clients": "watching_clients",  # 1.69, Redis 7.4
    "total_watched_keys": "total_watched_keys",  # 1.69, Redis 7.4
    "total_blocking_keys": "total_blocking_keys",  # 1.69, Redis 7.2
    "total_blocking_keys_on_nokey": "total_blocking_keys_on_nokey",  # 1.69, Redis 7.2
    "client_longest_output_list": "client_longest_output_list",  # Redis < 5
    "client_biggest_input_buf": "client_biggest_input_buf",  # Redis < 5
    "client_recent_max_output_buffer": "client_recent_max_output_buffer_bytes",
    "client_recent_max_input_buffer": "client_recent_max_input_buffer_bytes",
    # Memory
    "allocator_active": "allocator_active_bytes",
    "allocator_allocated": "allocator_allocated_bytes",
    "allocator_resident": "allocator_resident_bytes",
    "allocator_frag_ratio": "allocator_frag_ratio",
    "allocator_frag_bytes": "allocator_frag_bytes",
    "allocator_rss_ratio": "allocator_rss_ratio",
    "allocator_rss_bytes": "allocator_rss_bytes",
    "used_memory": "memory_used_bytes",
    "used_memory_rss": "memory_used_rss_bytes",
    "used_memory_peak": "memory_used_peak_bytes",
    "used_memory_lua": "memory_used_lua_bytes",
    "used_memory_vm_eval": "memory_used_vm_eval_bytes",  # 1.69, Redis 7.0
    "used_memory_scripts_eval": "memory_used_scripts_eval_bytes",  # 1.69, Redis 7.0
    "used_memory_overhead": "memory_used_overhead_bytes",
    "used_memory_startup": "memory_used_startup_bytes",
    "used_memory_dataset": "memory_used_dataset_bytes",
    "used_memory_scripts": "memory_used_scripts_bytes",
    "number_of_cached_scripts": "number_of_cached_scripts",
    "number_of_functions": "number_of_functions",  # 1.69, Redis 7.0
    "number_of_libraries": "number_of_libraries",  # 1.69, Redis 7.4
    "used_memory_vm_functions": "memory_used_vm_functions_bytes",  # 1.69, Redis 7.0
    "used_memory_functions": "memory_used_functions_bytes",  # 1.69, Redis 7.0
    "used_memory_vm_total": "memory_used_vm_total",  # 1.69, Redis 7.0
    "maxmemory": "memory_max_bytes",
    "maxmemory_reservation": "memory_max_reservation_bytes",
    "maxmemory_desired_reservation": "memory_max_reservation_desired_bytes",
    "maxfragmentationmemory_reservation": "memory_max_fragmentation_reservation_bytes",
    "maxfragmentationmemory_desired_reservation": "memory_max_fragmentation_reservation_desired_bytes",
    "mem_fragmentation_ratio": "mem_fragmentation_ratio",
    "mem_fragmentation_bytes": "mem_fragmentation_bytes",
    "mem_clients_slaves": "mem_clients_slaves",
    "mem_clients_normal": "mem_clients_normal",
    "mem_not_counted_for_evict": "mem_not_counted_for_eviction_bytes",
    "mem_total_replication_buffers": "mem_total_replication_buffers_bytes",  # 1.69, Redis 7.0
    "mem_overhead_db_hashtable_rehashing": "mem_overhead_db_hashtable_rehashing_bytes",  # 1.69, Redis 7.4
    "expired_stale_perc": "expired_stale_percentage",
    "lazyfree_pending_objects": "lazyfree_pending_objects",
    "active_defrag_running": "active_defrag_running",
    "migrate_cached_sockets": "migrate_cached_sockets_total",  # a gauge despite _total
    "active_defrag_hits": "defrag_hits",
    "active_defrag_misses": "defrag_misses",
    "active_defrag_key_hits": "defrag_key_hits",
    "active_defrag_key_misses": "defrag_key_misses",
    # Persistence
    "loading": "loading_dump_file",
    "async_loading": "async_loading",  # 1.69, Redis 7.0
    "rdb_changes_since_last_save": "rdb_changes_since_last_save",
    "rdb_bgsave_in_progress": "rdb_bgsave_in_progress",
    "rdb_last_save_time": "rdb_last_save_timestamp_seconds",
    "rdb_last_bgsave_status": "rdb_last_bgsave_status",  # ok -> 1, err -> 0
    "rdb_last_bgsave_time_sec": "rdb_last_bgsave_duration_sec",
    "rdb_current_bgsave_time_sec": "rdb_current_bgsave_duration_sec",
    "rdb_saves": "rdb_saves_total",  # 1.69: a gauge despite _total
    "rdb_last_cow_size": "rdb_last_cow_size_bytes",
    "rdb_last_load_keys_expired": "rdb_last_load_expired_keys",  # 1.69, Redis 7.0
    "rdb_last_load_keys_loaded": "rdb_last_load_loaded_keys",  # 1.69, Redis 7.0
    "aof_enabled": "aof_enabled",
    "aof_rewrite_in_progress": "aof_rewrite_in_progress",
    "aof_rewrite_scheduled": "aof_rewrite_scheduled",
    "aof_last_rewrite_time_sec": "aof_last_rewrite_duration_sec",
    "aof_current_rewrite_time_sec": "aof_current_rewrite_duration_sec",
    "aof_last_cow_size": "aof_last_cow_size_bytes",
    "aof_current_size": "aof_current_size_bytes",  # only while AOF is on
    "aof_base_size": "aof_base_size_bytes",
    "aof_pending_rewrite": "aof_pending_rewrite",
    "aof_buffer_length": "aof_buffer_length",
    "aof_rewrite_buffer_length": "aof_rewrite_buffer_length",
    "aof_pending_bio_fsync": "aof_pending_bio_fsync",
    "aof_delayed_fsync": "aof_delayed_fsync",
    "aof_last_bgrewrite_status": "aof_last_bgrewrite_status",
    "aof_last_write_status": "aof_last_write_status",
    "module_fork_in_progress": "module_fork_in_progress",
    "module_fork_last_cow_size": "module_fork_last_cow_size",
    # Stats
    "current_eviction_exceeded_time": "current_eviction_exceeded_time_ms",  # 1.69
    "pubsub_channels": "pubsub_channels",
    "pubsub_patterns": "pubsub_patterns",
    "pubsubshard_channels": "pubsubshard_channels",  # 1.69, Redis 7.0.3
    "latest_fork_usec": "latest_fork_seconds",  # microseconds -> seconds, see SCALE
    "tracking_total_keys": "tracking_total_keys",
    "tracking_total_items": "tracking_total_items",
    "tracking_total_prefixes": "tracking_total_prefixes",
    # Replication
    "connected_slaves": "connected_slaves",
    "repl_backlog_size": "replication_backlog_bytes",
    "repl_backlog_active": "repl_backlog_is_active",
    "repl_backlog_first_byte_offset": "repl_backlog_first_byte_offset",
    "repl_backlog_histlen": "repl_backlog_history_bytes",
    "master_repl_offset": "master_repl_offset",
    "second_repl_offset": "second_repl_offset",
    "slave_expires_tracked_keys": "slave_expires_tracked_keys",
    "slave_priority": "slave_priority",  # replicas only
    "sync_full": "replica_resyncs_full",
    "sync_partial_ok": "replica_partial_resync_accepted",
    "sync_partial_err": "replica_partial_resync_denied",
    # CLUSTER INFO (gauges despite _total)
    "cluster_stats_messages_sent": "cluster_messages_sent_total",
    "cluster_stats_messages_received": "cluster_messages_received_total",
    # Tile38 (1.69)
    "tile38_aof_size": "tile38_aof_size_bytes",
    "tile38_avg_point_size": "tile38_avg_item_size_bytes",
    "tile38_sys_cpus": "tile38_cpus_total",
    "tile38_heap_released_bytes": "tile38_heap_released_bytes",
    "tile38_heap_alloc_bytes": "tile38_heap_size_bytes",
    "tile38_http_transport": "tile38_http_transport",
    "tile38_in_memory_size": "tile38_in_memory_size_bytes",
    "tile38_max_heap_size": "tile38_max_heap_size_bytes",
    "tile38_alloc_bytes": "tile38_mem_alloc_bytes",
    "tile38_num_collections": "tile38_num_collections_total",
    "tile38_num_hooks": "tile38_num_hooks_total",
    "tile38_num_objects": "tile38_num_objects_total",
    "tile38_num_points": "tile38_num_points_total",
    "tile38_pointer_size": "tile38_pointer_size_bytes",
    "tile38_read_only": "tile38_read_only",
    "tile38_go_threads": "tile38_threads_total",
    "tile38_go_goroutines": "tile38_go_goroutines_total",
    "tile38_last_gc_time_seconds": "tile38_last_gc_time_seconds",
    "tile38_next_gc_bytes": "tile38_next_gc_bytes",
    # RediSearch module (1.69)
    "search_number_of_indexes": "search_number_of_indexes",
    "search_used_memory_indexes": "search_used_memory_indexes_bytes",
    "search_global_idle": "search_global_idle",
    "search_global_total": "search_global_total",
    "search_bytes_collected": "search_collected_bytes",
    "search_dialect_1": "search_dialect_1",
    "search_dialect_2": "search_dialect_2",
    "search_dialect_3": "search_dialect_3",
    "search_dialect_4": "search_dialect_4",
    # KeyDB
    "server_threads": "server_threads_total",
    "long_lock_waits": "long_lock_waits_total",
    "current_client_thread": "current_client_thread",
}

COUNTERS: dict[str, str] = {
    "total_connections_received": "connections_received_total",
    "total_commands_processed": "commands_processed_total",
    "rejected_connections": "rejected_connections_total",
    "total_net_input_bytes": "net_input_bytes_total",
    "total_net_output_bytes": "net_output_bytes_total",
    "total_net_repl_input_bytes": "net_repl_input_bytes_total",  # 1.69
    "total_net_repl_output_bytes": "net_repl_output_bytes_total",  # 1.69
    "expired_subkeys": "expired_subkeys_total",  # 1.69, Redis 7.4
    "expired_keys": "expired_keys_total",
    "expired_time_cap_reached_count": "expired_time_cap_reached_total",  # 1.69: a counter (1.45: a gauge)
    "expire_cycle_cpu_milliseconds": "expire_cycle_cpu_time_ms_total",  # 1.69
    "evicted_keys": "evicted_keys_total",
    "evicted_clients": "evicted_clients_total",  # 1.69, Redis 7.0
    "evicted_scripts": "evicted_scripts_total",  # 1.69, Redis 7.4
    "total_eviction_exceeded_time": "eviction_exceeded_time_ms_total",  # 1.69
    "keyspace_hits": "keyspace_hits_total",
    "keyspace_misses": "keyspace_misses_total",
    "used_cpu_sys": "cpu_sys_seconds_total",
    "used_cpu_user": "cpu_user_seconds_total",
    "used_cpu_sys_children": "cpu_sys_children_seconds_total",
    "used_cpu_user_children": "cpu_user_children_seconds_total",
    "used_cpu_sys_main_thread": "cpu_sys_main_thread_seconds_total",
    "used_cpu_user_main_thread": "cpu_user_main_thread_seconds_total",
    # counters without _total
    "unexpected_error_replies": "unexpected_error_replies",
    "total_error_replies": "total_error_replies",
    "dump_payload_sanitizations": "dump_payload_sanitizations",
    "total_reads_processed": "total_reads_processed",
    "total_writes_processed": "total_writes_processed",
    "io_threaded_reads_processed": "io_threaded_reads_processed",
    "io_threaded_writes_processed": "io_threaded_writes_processed",
    # 1.69
    "client_query_buffer_limit_disconnections": "client_query_buffer_limit_disconnections_total",
    "client_output_buffer_limit_disconnections": "client_output_buffer_limit_disconnections_total",
    "reply_buffer_shrinks": "reply_buffer_shrinks_total",
    "reply_buffer_expands": "reply_buffer_expands_total",
    "acl_access_denied_auth": "acl_access_denied_auth_total",
    "acl_access_denied_cmd": "acl_access_denied_cmd_total",
    "acl_access_denied_key": "acl_access_denied_key_total",
    "acl_access_denied_channel": "acl_access_denied_channel_total",
    # RediSearch module (1.69)
    "search_total_indexing_time": "search_indexing_time_ms_total",
    "search_total_cycles": "search_cycles_total",
    "search_total_ms_run": "search_run_ms_total",
    # KeyDB
    "cached_keys": "cached_keys_total",
    "storage_provider_read_hits": "storage_provider_read_hits",
    "storage_provider_read_misses": "storage_provider_read_misses",
}

# Only with --include-system-metrics (although the redis mixin's RedisOutOfMemory alert needs it).
SYSTEM_GAUGES: dict[str, str] = {"total_system_memory": "total_system_memory_bytes"}

SCALE: dict[str, float] = {"latest_fork_usec": 1e-6}

# Fields exported by prefix alone, as gauges under their own (sanitized) name.
PREFIXES = ("db", "cmdstat_", "cluster_")

# CLUSTER INFO fields a cluster node reports, listed for the metric reference only: the
# ``cluster_`` prefix is what exports them (and any other ``cluster_*`` field).
CLUSTER_INFO_FIELDS = (
    "cluster_enabled",
    "cluster_connections",
    "cluster_state",
    "cluster_slots_assigned",
    "cluster_slots_ok",
    "cluster_slots_pfail",
    "cluster_slots_fail",
    "cluster_known_nodes",
    "cluster_size",
    "cluster_current_epoch",
    "cluster_my_epoch",
)


class FieldMetric(NamedTuple):
    metric: MetricDef
    scale: float = 1.0


def _row(short: str, kind: str) -> MetricDef:
    # Go's HELP for every table-driven family is "<name without namespace> metric".
    return MetricDef(NS + short, kind, f"{short} metric")


FIELDS: dict[str, FieldMetric] = {
    **{f: FieldMetric(_row(n, GAUGE), SCALE.get(f, 1.0)) for f, n in GAUGES.items()},
    **{f: FieldMetric(_row(n, COUNTER)) for f, n in COUNTERS.items()},
}
SYSTEM_FIELDS: dict[str, FieldMetric] = {f: FieldMetric(_row(n, GAUGE)) for f, n in SYSTEM_GAUGES.items()}
_FIELDS_WITH_SYSTEM: dict[str, FieldMetric] = {**FIELDS, **SYSTEM_FIELDS}  # --include-system-metrics


# ---- the structured families (HELP as Go's) ------------------------------------------------------

MASTER = ("master_host", "master_port")
SLAVE = ("slave_ip", "slave_port", "slave_state")

INSTANCE_INFO = gauge(
    NS + "instance_info",
    "Information about the Redis instance",
    "master_replid",
    "maxmemory_policy",
    "os",
    "process_id",
    "redis_build_id",
    "redis_mode",
    "redis_version",
    "role",
    "run_id",
    "tcp_port",
)
SLAVE_INFO = gauge(NS + "slave_info", "Information about the Redis slave", *MASTER, "read_only")
MASTER_LINK_UP = gauge(NS + "master_link_up", "Master link status on Redis slave", *MASTER)
MASTER_LAST_IO = gauge(NS + "master_last_io_seconds_ago", "Master last io seconds ago", *MASTER)
MASTER_SYNC = gauge(NS + "master_sync_in_progress", "Master sync in progress", *MASTER)
SLAVE_REPL_OFFSET = gauge(NS + "slave_repl_offset", "Slave replication offset", *MASTER)
SLAVE_OFFSET = gauge(NS + "connected_slave_offset_bytes", "Offset of connected slave", *SLAVE)
SLAVE_LAG = gauge(NS + "connected_slave_lag_seconds", "Lag of connected slave", *SLAVE)
DB_KEYS = gauge(NS + "db_keys", "Total number of keys by DB", "db")
DB_KEYS_EXPIRING = gauge(NS + "db_keys_expiring", "Total number of expiring keys by DB", "db")
DB_AVG_TTL = gauge(NS + "db_avg_ttl_seconds", "Avg TTL in seconds", "db")
DB_KEYS_CACHED = gauge(NS + "db_keys_cached", "Total number of cached keys by DB", "db")  # KeyDB
COMMANDS = counter(NS + "commands_total", "Total number of calls per command", "cmd")
COMMANDS_DURATION = counter(
    NS + "commands_duration_seconds_total", "Total amount of time in seconds spent per command", "cmd"
)
# Go's two HELP texts are swapped (rejected calls are the ones refused before execution); kept as Go's.
COMMANDS_REJECTED = counter(
    NS + "commands_rejected_calls_total", "Total number of errors within command execution per command", "cmd"
)
COMMANDS_FAILED = counter(
    NS + "commands_failed_calls_total", "Total number of errors prior command execution per command", "cmd"
)
ERRORS = counter(NS + "errors_total", "Total number of errors per error type", "err")
# Quantile labels are the percentiles as Redis names them ("50", "99.9"), not 0.5 / 0.999.
LATENCY_PERCENTILES = MetricDef(
    NS + "latency_percentiles_usec", SUMMARY, "A summary of latency percentile distribution per command", ("cmd",)
)
START_TIME = gauge(NS + "start_time_seconds", "Start time of the Redis instance since unix epoch in seconds.")
# Server fields 1.69 reads as integers (strconv.ParseInt), with the generic HELP
SERVER_INTS = {
    "hz": gauge(NS + "hz", "hz metric"),
    "configured_hz": gauge(NS + "configured_hz", "configured_hz metric"),
}

# A sentinel's INFO (1.69): its counters, and one masterN line per watched master
SENTINEL_GAUGES = {
    "sentinel_masters": gauge(NS + "sentinel_masters", "The number of masters this sentinel is watching"),
    "sentinel_tilt": gauge(NS + "sentinel_tilt", "Sentinel is in TILT mode"),
    "sentinel_running_scripts": gauge(NS + "sentinel_running_scripts", "Number of scripts in execution right now"),
    "sentinel_scripts_queue_length": gauge(NS + "sentinel_scripts_queue_length", "Queue of user scripts to execute"),
    "sentinel_simulate_failure_flags": gauge(NS + "sentinel_simulate_failure_flags", "Failures simulations"),
}
SENTINEL_MASTER_STATUS = gauge(
    NS + "sentinel_master_status", "Master status on Sentinel", "master_address", "master_name", "master_status"
)
SENTINEL_MASTER_SLAVES = gauge(
    NS + "sentinel_master_slaves", "The number of slaves of the master", "master_address", "master_name"
)
SENTINEL_MASTER_SENTINELS = gauge(
    NS + "sentinel_master_sentinels", "The number of sentinels monitoring this master", "master_address", "master_name"
)
_SENTINEL_MASTER = re.compile(r"master[0-9]+")

STRUCTURED = (
    INSTANCE_INFO,
    SLAVE_INFO,
    MASTER_LINK_UP,
    MASTER_LAST_IO,
    MASTER_SYNC,
    SLAVE_REPL_OFFSET,
    SLAVE_OFFSET,
    SLAVE_LAG,
    DB_KEYS,
    DB_KEYS_EXPIRING,
    DB_AVG_TTL,
    DB_KEYS_CACHED,
    COMMANDS,
    COMMANDS_DURATION,
    COMMANDS_REJECTED,
    COMMANDS_FAILED,
    ERRORS,
    LATENCY_PERCENTILES,
    START_TIME,
    *SERVER_INTS.values(),
    *SENTINEL_GAUGES.values(),
    SENTINEL_MASTER_STATUS,
    SENTINEL_MASTER_SLAVES,
    SENTINEL_MASTER_SENTINELS,
)
_STRUCTURED_NAMES = frozenset(d.name for d in STRUCTURED)

# Every family this module can emit, for the generated metric reference.
METRICS: tuple[MetricDef, ...] = (
    *STRUCTURED,
    *(fm.metric for fm in FIELDS.values()),
    *(fm.metric for fm in SYSTEM_FIELDS.values()),
    *(_row(f, GAUGE) for f in CLUSTER_INFO_FIELDS),
)


# ---- parsing ---------------------------------------------------------------------------------------


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """INFO text (CRLF or LF) as {section lowercased: {field: raw value}}, in the server's order.

    Fields before any ``# Section`` line go under "". Lines without ':' are skipped; the value is
    everything after the first ':'. Never raises, whatever the input (bytes are decoded)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    out: dict[str, dict[str, str]] = {}
    section = out.setdefault("", {})
    for line in str(text).split("\n"):
        line = line.strip()
        if line.startswith("# "):
            section = out.setdefault(line[2:].strip().lower(), {})
            continue
        key, sep, value = line.partition(":")
        if sep and len(line) >= 2:
            section[key] = value
    if not out[""]:
        del out[""]
    return out


def cluster_enabled(info: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether to send CLUSTER INFO and pass its reply to :func:`info_families`, as Go does."""
    return any(s.get("cluster_enabled") == "1" for s in info.values())


def parse_float(raw: str) -> float | None:
    """Go's strconv.ParseFloat, or None: float() would also take ' 1' and non-ASCII digits."""
    if not raw.isascii() or raw != raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def parse_value(raw: str) -> float | None:
    """A plain field's value as Go reads it: ok/true 1, err/fail/false 0, else a float; None if neither."""
    if raw in ("ok", "true"):
        return 1.0
    if raw in ("err", "fail", "false"):
        return 0.0
    return parse_float(raw)


def _int(raw: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and ASCII digits only."""
    return int(raw) if re.fullmatch(r"[+-]?[0-9]+", raw) else None


def _kv(raw: str) -> dict[str, str] | None:
    """'a=1,b=2' as a dict; None when a part is not exactly one 'key=value' (Go drops the whole line)."""
    out = {}
    for part in raw.split(","):
        pieces = part.split("=")
        if len(pieces) != 2:
            return None
        out[pieces[0]] = pieces[1]
    return out


_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
_MASTER_HOST = re.compile(r"master(_[0-9]+)?_host")
_MASTER_PORT = re.compile(r"master(_[0-9]+)?_port")
_MASTER_LINK = re.compile(r"master(_[0-9]+)?_link_status")
# KeyDB multi-master numbers its masters (master_1_host ...); the metric names do not carry the number.
_MASTER_GAUGES = (
    (re.compile(r"master(_[0-9]+)?_last_io_seconds_ago"), MASTER_LAST_IO),
    (re.compile(r"master(_[0-9]+)?_sync_in_progress"), MASTER_SYNC),
    (re.compile(r"slave_repl_offset"), SLAVE_REPL_OFFSET),
)
_SLAVE = re.compile(r"slave[0-9]+")
_PREFIX_DEFS: dict[str, MetricDef] = {}


# ---- families --------------------------------------------------------------------------------------


class _Families(dict):
    """Name -> MetricFamily, created on first use, so a family without samples never appears."""

    def family(self, d: MetricDef) -> MetricFamily:
        fam = self.get(d.name)
        if fam is None:
            fam = self[d.name] = d.family()
        return fam

    def add(self, d: MetricDef, labels: tuple, value: float) -> None:
        self.family(d).add(labels, value)


def _field_metric(key: str, fields: Mapping[str, FieldMetric]) -> FieldMetric | None:
    """The family of a plain field, by the rename tables or a prefix; None when neither applies."""
    fm = fields.get(key)
    if fm is None:
        name = _SANITIZE.sub("_", key)
        fm = fields.get(name)
        if fm is None:
            if not key.startswith(PREFIXES) or NS + name in _STRUCTURED_NAMES:
                return None
            d = _PREFIX_DEFS.get(name)
            if d is None:
                if len(_PREFIX_DEFS) > 10_000:  # unbounded field names must not grow memory
                    _PREFIX_DEFS.clear()
                d = _PREFIX_DEFS[name] = _row(name, GAUGE)
            fm = FieldMetric(d)
    return fm


# (field table, field) -> _field_metric(): the same ~250 fields come in every scrape. Only for the two
# module-level tables (FIELDS, _FIELDS_WITH_SYSTEM), so a key is never an id() a new dict could reuse.
_FIELD_CACHE: dict[tuple[bool, str], FieldMetric | None] = {}


def _generic(fams: _Families, key: str, raw: str, fields: Mapping[str, FieldMetric]) -> None:
    """One plain field, by the rename tables or a prefix; dropped when neither applies."""
    table = True if fields is _FIELDS_WITH_SYSTEM else False if fields is FIELDS else None
    if table is None:
        fm = _field_metric(key, fields)
    else:
        cache_key = (table, key)
        try:
            fm = _FIELD_CACHE[cache_key]
        except KeyError:
            if len(_FIELD_CACHE) > 10_000:  # unbounded field names must not grow memory
                _FIELD_CACHE.clear()
            fm = _FIELD_CACHE[cache_key] = _field_metric(key, fields)
    if fm is None:
        return
    value = parse_value(raw)
    if value is not None:
        fams.add(fm.metric, (), value * fm.scale)


def _replication(fams: _Families, key: str, raw: str, master: tuple[str, str]) -> bool:
    """The replica's link to its master and the master's slaveN lines; False for other fields."""
    if _MASTER_LINK.match(key):
        fams.add(MASTER_LINK_UP, master, 1 if raw == "up" else 0)
        return True
    for pattern, d in _MASTER_GAUGES:
        if pattern.fullmatch(key):
            value = _int(raw)
            if value is not None:
                fams.add(d, master, value)
            return True
    if not _SLAVE.match(key):
        return False
    kv = _kv(raw)
    offset = parse_float(kv.get("offset", "")) if kv else None
    lag = parse_float(kv["lag"]) if offset is not None and "lag" in kv else None
    if offset is None or ("lag" in kv and lag is None):
        return False  # as Go: the field then goes the plain way, where no table knows it
    labels = (kv.get("ip", ""), kv.get("port", ""), kv.get("state", ""))
    fams.add(SLAVE_OFFSET, labels, offset)
    if lag is not None:  # no lag field before Redis 3.0
        fams.add(SLAVE_LAG, labels, lag)
    return True


def _keyspace(fams: _Families, key: str, raw: str) -> bool:
    """dbN:keys=..,expires=..,avg_ttl=..(ms)[,cached_keys=..]; False when it is not one."""
    kv = _kv(raw) if key.startswith("db") else None
    if not kv:
        return False
    values = {k: parse_float(v) for k, v in kv.items() if k in ("keys", "expires", "avg_ttl", "cached_keys")}
    if values.get("keys") is None or values.get("expires") is None or None in values.values():
        return False
    fams.add(DB_KEYS, (key,), values["keys"])
    fams.add(DB_KEYS_EXPIRING, (key,), values["expires"])
    if "avg_ttl" in values:
        fams.add(DB_AVG_TTL, (key,), values["avg_ttl"] / 1000)
    if "cached_keys" in values:
        fams.add(DB_KEYS_CACHED, (key,), values["cached_keys"])
    return True


def _commandstats(fams: _Families, section: Mapping[str, str]) -> dict[str, tuple[int, float]]:
    """cmdstat_<cmd>:calls=..,usec=..[,rejected_calls=..,failed_calls=..]; returns {cmd: (calls, usec)}."""
    calls_usec = {}
    for key, raw in section.items():
        kv = _kv(raw) if key.startswith("cmdstat_") else None
        if not kv:
            continue
        cmd = key[len("cmdstat_") :]
        calls, usec = parse_float(kv.get("calls", "")), parse_float(kv.get("usec", ""))
        if calls is None or usec is None:
            continue
        fams.add(COMMANDS, (cmd,), calls)
        fams.add(COMMANDS_DURATION, (cmd,), usec / 1e6)
        rejected, failed = parse_float(kv.get("rejected_calls", "")), parse_float(kv.get("failed_calls", ""))
        if rejected is not None and failed is not None:  # Redis >= 6.2
            fams.add(COMMANDS_REJECTED, (cmd,), rejected)
            fams.add(COMMANDS_FAILED, (cmd,), failed)
        calls_usec[cmd] = (int(calls) if math.isfinite(calls) else 0, usec)
    return calls_usec


def _latencystats(fams: _Families, section: Mapping[str, str], calls_usec: Mapping[str, tuple[int, float]]) -> None:
    """latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=.. as a summary whose count and sum
    (in microseconds) come from the command's commandstats, as Go builds it; skipped without them."""
    prefix = "latency_percentiles_usec_"
    for key, raw in section.items():
        cmd = key[len(prefix) :]
        kv = _kv(raw) if key.startswith(prefix) and cmd in calls_usec else None
        if not kv:
            continue
        quantiles = []
        for p, v in kv.items():
            q, value = parse_float(p[1:]) if p.startswith("p") else None, parse_float(v)
            if q is None or value is None:
                break
            quantiles.append((q, value))
        else:
            fam = fams.family(LATENCY_PERCENTILES)
            for q, value in sorted(quantiles):
                fam.add_labeled((("cmd", cmd), ("quantile", format_le(q))), value)
            count, usec = calls_usec[cmd]
            fam.add((cmd,), usec, "_sum")
            fam.add((cmd,), count, "_count")


def _sentinel(fams: _Families, key: str, raw: str) -> None:
    """A sentinel's ``# Sentinel`` section, as 1.69 reads it: the counters (not a number is 0, as Go's
    Atoi), and ``masterN:name=..,status=..,address=..,slaves=..,sentinels=..`` per watched master."""
    d = SENTINEL_GAUGES.get(key)
    if d is not None:
        value = _int(raw)
        fams.add(d, (), value if value is not None else 0)
        return
    if not _SENTINEL_MASTER.match(key):
        return
    kv = {}
    for part in raw.split(","):
        pieces = part.split("=")
        if len(pieces) == 2:  # Go skips a malformed part and keeps the others
            kv[pieces[0]] = pieces[1]
    slaves, sentinels = parse_float(kv.get("slaves", "")), parse_float(kv.get("sentinels", ""))
    if slaves is None or sentinels is None:
        return
    name, status, address = kv.get("name", ""), kv.get("status", ""), kv.get("address", "")
    fams.add(SENTINEL_MASTER_STATUS, (address, name, status), 1 if status == "ok" else 0)
    fams.add(SENTINEL_MASTER_SLAVES, (address, name), slaves)
    fams.add(SENTINEL_MASTER_SENTINELS, (address, name), sentinels)


def _errorstats(fams: _Families, section: Mapping[str, str]) -> None:
    """errorstat_<ERR>:count=N."""
    for key, raw in section.items():
        kv = _kv(raw) if key.startswith("errorstat_") else None
        value = parse_float(kv["count"]) if kv and len(kv) == 1 and "count" in kv else None
        if value is not None:
            fams.add(ERRORS, (key[len("errorstat_") :],), value)


def info_families(
    info: Mapping[str, Mapping[str, str]],
    *,
    databases: int = 16,
    include_system_metrics: bool = False,
    cluster_info: str | None = None,
    now: float | None = None,
) -> list[MetricFamily]:
    """The families redis_exporter 1.69 derives from one parsed INFO ALL, built fresh on each call.

    ``databases``: CONFIG GET databases (16 when CONFIG is unavailable, as Go assumes; 0 turns the
    padding off): db0..db<databases-1> missing from Keyspace get ``redis_db_keys`` and
    ``redis_db_keys_expiring`` 0 (not ``redis_db_avg_ttl_seconds``, as in Go). ``cluster_info``: the
    CLUSTER INFO reply, to be asked for when :func:`cluster_enabled`; given, it adds the
    ``redis_cluster_*`` gauges and pads db0 only, as Go does in cluster mode. ``now``: Unix time
    for ``redis_start_time_seconds`` (whole seconds, as Go's ``time.Now().Unix()``)."""
    fams = _Families()
    fields = _FIELDS_WITH_SYSTEM if include_system_metrics else FIELDS

    if cluster_info is not None:
        for section in parse_info(cluster_info).values():
            for key, raw in section.items():
                _generic(fams, key, raw, fields)
        databases = min(databases, 1)

    flat: dict[str, str] = {}  # Go's keyValues: every field, the last one of a name wins
    master = ("", "")  # the replica's master so far, as Go tracks it line by line
    handled_dbs = set()
    calls_usec: dict[str, tuple[int, float]] = {}
    for name, section in info.items():
        flat.update(section)
        if name == "commandstats":
            calls_usec = _commandstats(fams, section)
            continue
        if name == "errorstats":
            _errorstats(fams, section)
            continue
        if name == "latencystats" or (name == "cluster info" and cluster_info is not None):
            continue  # latencystats needs commandstats first; Valkey 9.1 repeats CLUSTER INFO here
        for key, raw in section.items():
            if key.startswith("master"):  # both patterns start so: no regex for the other fields
                if _MASTER_HOST.match(key):
                    master = (raw, master[1])
                if _MASTER_PORT.match(key):
                    master = (master[0], raw)
            if name == "replication" and _replication(fams, key, raw, master):
                continue
            if name == "keyspace" and _keyspace(fams, key, raw):
                handled_dbs.add(key)
                continue
            if name == "server":
                if key == "uptime_in_seconds":
                    uptime = parse_float(raw)
                    if uptime is not None:
                        fams.add(START_TIME, (), float(int(time.time() if now is None else now)) - uptime)
                elif key in SERVER_INTS:
                    hz = _int(raw)
                    if hz is not None:
                        fams.add(SERVER_INTS[key], (), hz)
            elif name == "sentinel":
                _sentinel(fams, key, raw)
            _generic(fams, key, raw, fields)
    _latencystats(fams, info.get("latencystats", {}), calls_usec)

    for i in range(max(0, databases)):
        db = f"db{i}"
        if db not in handled_dbs:
            fams.add(DB_KEYS, (db,), 0)
            fams.add(DB_KEYS_EXPIRING, (db,), 0)

    fams.add(INSTANCE_INFO, tuple(flat.get(k, "") for k in INSTANCE_INFO.labels), 1)
    if flat.get("role") == "slave":
        fams.add(
            SLAVE_INFO, (flat.get("master_host", ""), flat.get("master_port", ""), flat.get("slave_read_only", "")), 1
        )
    return list(fams.values())


MODULE_INFO = gauge(
    NS + "module_info", "Information about loaded Redis module", "api", "filters", "name", "usedby", "using", "ver"
)


def modules_families(text: str) -> list[MetricFamily]:
    """INFO MODULES (--include-modules-metrics): ``module:name=..,ver=..,api=..,filters=..,usedby=[..],
    using=[..],options=[..]`` per loaded module (7 parts, as 1.69 takes it), and the RediSearch fields
    of the tables above."""
    fams = _Families()
    for section in parse_info(text).values():
        for key, raw in section.items():
            if key == "module":
                parts = raw.split(",")
                if len(parts) == 7:
                    values = dict(p.split("=", 1) if "=" in p else (p, "") for p in parts[:6])
                    fams.add(MODULE_INFO, tuple(values.get(k, "") for k in MODULE_INFO.labels), 1)
                continue
            _generic(fams, key, raw, FIELDS)
    return list(fams.values())


def tile38_families(pairs: Mapping[str, str]) -> list[MetricFamily]:
    """SERVER EXT of a Tile38 server (--is-tile38): each field named tile38_<field>, by the tables."""
    fams = _Families()
    for key, raw in pairs.items():
        _generic(fams, key if key.startswith("tile38_") else "tile38_" + key, raw, FIELDS)
    return list(fams.values())
