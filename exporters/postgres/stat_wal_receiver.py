"""stat_wal_receiver (off by default, as upstream): a replica's WAL receiver
(pg_stat_wal_receiver), ``pg_stat_wal_receiver_*{upstream_host,slot_name,status}``, as
postgres_exporter 0.17.1 has them: LSNs in bytes truncated to their low 52 bits (exact in a
float), times in unix seconds, the timelines as gauges; ``upstream_node`` only for a repmgr
slot (``repmgr_slot_<id>``), ``flushed_lsn`` from PostgreSQL 13 (which renamed
``received_lsn``). No series on a primary, nor while a value is still NULL (a receiver that has
not yet reported to its sender), as upstream. One receiver per server: one series each."""

from __future__ import annotations

from ..core.metrics import COUNTER, GAUGE, MetricDef
from .registry import PgCollector, pg_collectors

PG13 = 130000
_L = ("upstream_host", "slot_name", "status", "server")
_P = "pg_stat_wal_receiver_"
VALUES = (  # (column, type, help)
    (
        "receive_start_lsn",
        COUNTER,
        "First write-ahead log location used when WAL receiver is started represented as a decimal",
    ),
    ("receive_start_tli", GAUGE, "First timeline number used when WAL receiver is started"),
    (
        "flushed_lsn",
        COUNTER,
        "Last write-ahead log location already received and flushed to disk, the initial value "
        "of this field being the first log location used when WAL receiver is started represented as a decimal",
    ),
    ("received_tli", GAUGE, "Timeline number of last write-ahead log location received and flushed to disk"),
    ("last_msg_send_time", COUNTER, "Send time of last message received from origin WAL sender"),
    ("last_msg_receipt_time", COUNTER, "Send time of last message received from origin WAL sender"),
    ("latest_end_lsn", COUNTER, "Last write-ahead log location reported to origin WAL sender as integer"),
    ("latest_end_time", COUNTER, "Time of last write-ahead log location reported to origin WAL sender"),
    ("upstream_node", GAUGE, "Node ID of the upstream node"),
)
METRICS = tuple(MetricDef(_P + c, t, h, _L) for c, t, h in VALUES)


def _lsn(column: str) -> str:
    return f"((({column} - '0/0') % 4503599627370496)::float8) AS {column}"


SQL = f"""SELECT trim(both '''' from substring(conninfo from 'host=([^ ]*)')) AS upstream_host, slot_name, status,
  {_lsn("receive_start_lsn")}, receive_start_tli, {{flushed}} received_tli,
  EXTRACT(EPOCH FROM last_msg_send_time)::float8 AS last_msg_send_time,
  EXTRACT(EPOCH FROM last_msg_receipt_time)::float8 AS last_msg_receipt_time,
  {_lsn("latest_end_lsn")}, EXTRACT(EPOCH FROM latest_end_time)::float8 AS latest_end_time,
  substring(slot_name from 'repmgr_slot_([0-9]*)')::float8 AS upstream_node
FROM pg_stat_wal_receiver"""


@pg_collectors.register
class StatWalReceiverCollector(PgCollector):
    name = "stat_wal_receiver"
    default_enabled = False
    description = "A replica's WAL receiver: positions, timelines and message times (pg_stat_wal_receiver)."
    metrics = METRICS

    async def collect(self):
        flushed = self.session.version_num >= PG13
        rows = await self.rows(SQL.replace("{flushed}", _lsn("flushed_lsn") + "," if flushed else ""))
        families = [self.family(d) for d in METRICS]
        for row in rows:
            if any(row[k] is None for k in ("upstream_host", "slot_name", "status")):
                continue
            required = [c for c, _, _ in VALUES if c != "upstream_node" and (flushed or c != "flushed_lsn")]
            if any(row[c] is None for c in required):
                continue
            labels = self.labels(row["upstream_host"], row["slot_name"], row["status"])
            for (column, _, _), fam in zip(VALUES, families):
                if row.get(column) is not None:
                    fam.add(labels, float(row[column]))
        return families
