"""Go's base-0 unsigned integers (procfs' ValueParser) and the read errors procfs skips, for the sysfs
collectors ported from node_exporter 1.9; the plain readers are in sysfs_values."""

from __future__ import annotations

import errno
import re

_UINT64_MAX = 2**64 - 1
_GO_UINT0 = re.compile(r"0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?[0-7])*|[1-9](_?[0-9])*")

# The attribute read errors that mean "this value is not available now" (procfs skips such files).
SKIP_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EOPNOTSUPP, errno.EINVAL})


def go_uint0(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64): 0x/0o/0b prefixes, a leading 0 for octal, underscores between
    digits; None where Go returns an error. Counters in sysfs are written in hex by some drivers."""
    if not _GO_UINT0.fullmatch(text):
        return None
    body = text.replace("_", "")
    if body[:2].lower() in ("0x", "0o", "0b"):
        value = int(body, 0)
    elif len(body) > 1:
        value = int(body, 8 if body[0] == "0" else 10)
    else:
        value = int(body)
    return value if value <= _UINT64_MAX else None
