"""Small readers shared by the sysfs collectors ported from node_exporter 1.9 (procfs' rules).

``sys_read`` reads a sysfs attribute as procfs' SysReadFile does: one read of at
most 128 bytes, trimmed. ``go_uint``/``go_int`` parse numbers as Go's
``strconv.ParseUint/ParseInt(s, 0, 64)``: ``0x``, ``0o``, ``0b`` prefixes and
leading-zero octal; None when the text is not such a number.
"""

from __future__ import annotations

import errno
import os
import re

_UINT64_MAX = 2**64 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_GO_INT = re.compile(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?[0-7])*|[1-9](_?[0-9])*)")

# The attribute errors that mean "this value is not available now" (procfs skips such files).
SKIP_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EOPNOTSUPP, errno.EINVAL})


def sys_read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, 128)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace").strip()


def _go_base0(text: str) -> int | None:
    if not _GO_INT.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    body = text.lstrip("+-").replace("_", "")
    if body[:2].lower() in ("0x", "0o", "0b"):
        value = int(body, 0)
    elif len(body) > 1 and body[0] == "0":
        value = int(body, 8)
    else:
        value = int(body, 10)
    return sign * value


def go_uint(text: str) -> int | None:
    if text.startswith(("+", "-")):
        return None
    value = _go_base0(text)
    return value if value is not None and value <= _UINT64_MAX else None


def go_int(text: str) -> int | None:
    value = _go_base0(text)
    return value if value is not None and _INT64_MIN <= value <= _INT64_MAX else None


def uint10(text: str) -> int | None:
    """strconv.ParseUint(s, 10, 64)."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _UINT64_MAX else None


def listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))
