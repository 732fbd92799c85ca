"""What an error inside a pipeline of queries means: the connection is lost, or one query failed
and the others may go out again. Shared by the session's connection and the fan-out's."""

from __future__ import annotations

# SQLSTATEs that end the session itself (connection exceptions, shutdown, crash); any other error
# answers one query and leaves the connection usable
_FATAL_STATES = ("08", "57P01", "57P02", "57P03", "XX")


def connection_failed(conn, exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is lost (a new one is needed), not that one query failed."""
    if conn.closed or conn.broken:
        return True
    state = getattr(exc, "sqlstate", None)
    if state is None:  # raised by psycopg itself (PipelineAborted is handled by the caller)
        return exc.__class__.__name__ != "PipelineAborted"
    return state.startswith(_FATAL_STATES)


def failed_query(cursors: list) -> int | None:
    """The index of the query whose error aborted a pipeline: results arrive in order, so the
    queries before it have theirs and it is the first without a successful result."""
    from psycopg.pq import ExecStatus

    for i, cur in enumerate(cursors):
        result = cur.pgresult
        if result is None or result.status == ExecStatus.FATAL_ERROR:
            return i
    return None
