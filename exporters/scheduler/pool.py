"""``database_connection_pool_size{state}``: the application's PostgreSQL connections, as the
server sees them in ``pg_stat_activity`` (a role with ``pg_monitor`` sees every session's state).

The application's own pool is invisible to PostgreSQL: how many requests wait inside it for a
free connection is known only to the application (e.g. node-postgres' ``pool.waitingCount``).
What the server can tell, per client backend whose ``application_name`` is the configured one
(the exporter's own connection excluded):

* ``waiting``: the connection runs a statement that is blocked on a heavyweight lock held by
  another session (``wait_event_type = 'Lock'``: row, table, transaction-id, advisory locks).
  Such a connection is checked out of the pool and makes no progress: when many are, the pool
  runs dry and requests queue inside the application, which is what FlexTime's original
  DatabaseConnectionPoolExhaustion alert (``waiting > 5``) is after. Short internal waits
  (LWLock, IO, client reads) are not counted.
* ``active``: checked out and not blocked on a lock: running a statement
  (``state = 'active'``), or inside a transaction between statements (``idle in transaction``,
  also aborted), which holds its connection, snapshot and locks just the same.
* ``idle``: ``state = 'idle'``: back in the pool, free for the next request.

The three are disjoint and add up to the application's client connections (``disabled`` state,
when track_activities is off, counts as active)."""

from __future__ import annotations

from ..pgdsn import redact
from .config import PoolConfig
from .pgconn import KeptConnection

APPLICATION_NAME = "flextime-exporter-scheduler-pool"

QUERY = """
SELECT count(*) FILTER (WHERE state = 'idle') AS idle,
       count(*) FILTER (WHERE state IS DISTINCT FROM 'idle' AND wait_event_type = 'Lock') AS waiting,
       count(*) FILTER (WHERE state IS DISTINCT FROM 'idle' AND wait_event_type IS DISTINCT FROM 'Lock') AS active
FROM pg_stat_activity
WHERE application_name = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


class PoolReader:
    def __init__(self, config: PoolConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self.pg = KeptConnection(config.dsn, timeout, APPLICATION_NAME)

    @property
    def display(self) -> str:
        return f"connection_pool {redact(self.config.dsn)}"

    async def read(self) -> dict[str, int]:
        async def query(conn):
            cur = await conn.execute(QUERY, (self.config.application_name,))
            return await cur.fetchone()

        idle, waiting, active = await self.pg.run(query)
        return {"active": int(active), "idle": int(idle), "waiting": int(waiting)}

    async def health(self) -> str | None:
        return await self.pg.health()

    async def close(self) -> None:
        await self.pg.close()
