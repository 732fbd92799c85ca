"""One PostgreSQL connection kept between scrapes, for the SQL job table and the pool metric.

Autocommit, read-only (``default_transaction_read_only``), named by ``application_name``, with
``connect_timeout``, ``statement_timeout`` and ``lock_timeout`` from the exporter's
``--connection-timeout`` (added to any ``options`` the DSN has). A connection that breaks, times
out or is cancelled is dropped and made again on the next use. Errors are one line with the DSN's
password scrubbed (exporters/pgdsn.py)."""

from __future__ import annotations

import asyncio

from ..core.errors import describe_error, first_line
from ..pgdsn import scrub


class BackendError(RuntimeError):
    """PostgreSQL could not be read; the message never carries the DSN's password."""


class KeptConnection:
    def __init__(self, dsn: str, timeout: float, application_name: str) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.application_name = application_name
        self._conn = None
        self._lock = asyncio.Lock()  # one statement at a time on the kept connection

    def error(self, exc: BaseException) -> BackendError:
        return BackendError(scrub(first_line(exc), self.dsn)[:180])

    async def _connect(self):
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            existing = conninfo_to_dict(self.dsn).get("options") or ""
        except Exception:
            raise BackendError("malformed DSN") from None
        ms = max(1, int(self.timeout * 1000))
        options = f"{existing} -c statement_timeout={ms} -c lock_timeout={ms} -c default_transaction_read_only=on"
        return await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self.dsn,
                autocommit=True,
                application_name=self.application_name,
                connect_timeout=max(2, int(self.timeout + 0.999)),
                options=options.strip(),
                prepare_threshold=None,
            ),
            timeout=self.timeout + 1,
        )

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), timeout=1)
            except BaseException:  # a connection we give up on may not close cleanly
                pass

    async def run(self, work):
        """``await work(conn)`` on the kept connection (made first when needed). Exceptions
        that are not PostgreSQL's (a reader's own SchemaError) pass through unchanged."""
        import psycopg

        async with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    await self._drop()
                    self._conn = await self._connect()
                return await work(self._conn)
            except (psycopg.OperationalError, asyncio.TimeoutError, asyncio.CancelledError, OSError) as exc:
                await self._drop()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise self.error(exc) from None
            except psycopg.Error as exc:
                raise self.error(exc) from None

    async def health(self) -> str | None:
        async def ping(conn):
            await conn.execute("SELECT 1")

        try:
            await asyncio.wait_for(self.run(ping), timeout=self.timeout + 1)
        except asyncio.TimeoutError:
            return f"no answer within {self.timeout:g}s"
        except Exception as exc:
            return describe_error(exc)
        return None

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
