"""Small helpers more than one exporter needs, each in one place."""

from __future__ import annotations

import asyncio


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
