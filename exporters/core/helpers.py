"""Small helpers more than one exporter needs, each in one place."""

from __future__ import annotations

import asyncio
import os


def as_text(value) -> str:
    """A reply (bytes from Redis, or anything else) as text; bytes that are not UTF-8 are replaced, not fatal."""
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def resolve_future(future: asyncio.Future, result) -> None:
    """Give a waiting collector its result or exception, unless it stopped waiting."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def file_signature(path: str) -> tuple:
    """(device, inode, modification time in ns, size) of ``path``, () when it cannot be stat'ed. Files
    re-read when they change (a rotated password or certificate) compare this, not their contents."""
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def files_complete(signatures: tuple) -> bool:
    """Every file exists and is not empty: a file missing or empty is a rotation still in progress."""
    return all(sig and sig[3] > 0 for sig in signatures)
