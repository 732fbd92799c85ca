"""replication_slot (on, as upstream): postgres_exporter 0.17.1's per-slot series
``pg_replication_slot_*{slot_name,slot_type}``, beside 0.11.1's ``pg_replication_slots_*``
(replication_slots.py):

- ``slot_current_wal_lsn``: this server's WAL position in bytes (the last received on a
  replica; 0 when unknown), the same for every slot;
- ``slot_confirmed_flush_lsn``: the position a logical slot's consumer confirmed (0 for a
  physical slot), only for an active slot;
- ``slot_is_active``: 1 while a consumer is connected;
- ``safe_wal_size_bytes`` (PostgreSQL 13+): bytes of WAL that can still be written before the
  slot is in danger of being lost; only when ``max_slot_wal_keep_size`` is set (else NULL);
- ``wal_status{wal_status}`` = 1 (PostgreSQL 13+): reserved, extended, unreserved or lost. The
  alert on lost slots (upstream #1017): ``pg_replication_slot_wal_status{wal_status="lost"} == 1``
  or ``pg_replication_slot_safe_wal_size_bytes < ...``.

One series per slot (max_replication_slots bounds them)."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import PgCollector, pg_collectors

PG13 = 130000
_L = ("slot_name", "slot_type", "server")
CURRENT = gauge("pg_replication_slot_slot_current_wal_lsn", "current wal lsn value", *_L)
FLUSH = gauge("pg_replication_slot_slot_confirmed_flush_lsn", "last lsn confirmed flushed to the replication slot", *_L)
ACTIVE = gauge("pg_replication_slot_slot_is_active", "whether the replication slot is active or not", *_L)
SAFE = gauge(
    "pg_replication_slot_safe_wal_size_bytes",
    "number of bytes that can be written to WAL such that this slot is not in danger of getting in state lost",
    *_L,
)
STATUS = gauge(
    "pg_replication_slot_wal_status",
    "availability of WAL files claimed by this slot",
    "slot_name",
    "slot_type",
    "wal_status",
    "server",
)

SQL = """SELECT slot_name, slot_type,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END - '0/0')::float8
    AS current_wal_lsn,
  (COALESCE(confirmed_flush_lsn, '0/0') - '0/0')::float8 AS confirmed_flush_lsn, active{newer}
FROM pg_replication_slots ORDER BY slot_name"""


@pg_collectors.register
class ReplicationSlotCollector(PgCollector):
    name = "replication_slot"
    description = (
        "Replication slots as postgres_exporter 0.17 has them: WAL positions, active, "
        "safe_wal_size and wal_status (pg_replication_slots)."
    )
    metrics = (CURRENT, FLUSH, ACTIVE, SAFE, STATUS)

    async def collect(self):
        newer = self.session.version_num >= PG13
        rows = await self.rows(SQL.format(newer=", safe_wal_size, wal_status" if newer else ""))
        current, flush, active, safe, status = (self.family(d) for d in self.metrics)
        for row in rows:
            labels = self.labels(row["slot_name"] or "unknown", row["slot_type"] or "unknown")
            current.add(labels, row["current_wal_lsn"] or 0.0)
            if row["active"]:
                flush.add(labels, row["confirmed_flush_lsn"] or 0.0)
            active.add(labels, 1 if row["active"] else 0)
            if newer and row["safe_wal_size"] is not None:
                safe.add(labels, float(row["safe_wal_size"]))
            if newer and row["wal_status"] is not None:
                status.add(
                    self.labels(row["slot_name"] or "unknown", row["slot_type"] or "unknown", row["wal_status"]), 1
                )
        return [current, flush, active, safe, status]
