"""Reading sysfs attribute files and their numbers the way node_exporter (Go) does.

Why not ``int()``/``float()``: Python accepts what Go refuses (``" 5"``, ``"1_000"``, ``"١"``), and a
value node_exporter leaves out must be left out by us too. And why one ``read()`` of at most 128 bytes:
some hwmon drivers answer EAGAIN forever, and a sysfs attribute is one short line.
"""

from __future__ import annotations

import errno
import logging
import os
import re

from .registry import compile_filter, read_bytes

_INT = re.compile(r"[+-]?[0-9]+")
_LEGACY_OCTAL = re.compile(r"[+-]?0(?:_?[0-7])+")
_UINT = re.compile(r"\+?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+(?:_[0-9]+)*\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I)
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# errnos that mean "this attribute has no value now" for a sysfs read.
ABSENT = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EOPNOTSUPP, errno.EINVAL, errno.ENODATA})


def sys_read(path: str, size: int = 128) -> str:
    """One read() of at most ``size`` bytes, surrounding whitespace removed (procfs' SysReadFile)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size)
    finally:
        os.close(fd)
    return valid_utf8(data).strip()


_INVALID_RUN = re.compile("[\udc80-\udcff]+")


def valid_utf8(data: bytes) -> str:
    """Text with each run of invalid UTF-8 bytes replaced by one U+FFFD, as Go's strings.ToValidUTF8 does
    for label values (Python's "replace" would put one per byte)."""
    text = data.decode("utf-8", errors="surrogateescape")
    return text if text.isascii() else _INVALID_RUN.sub("\ufffd", text)


def read_trimmed(path: str) -> str:
    """The whole file with surrounding whitespace removed (as Go's os.ReadFile + TrimSpace)."""
    return valid_utf8(read_bytes(path, 1 << 20)).strip()


def go_int(text: str, base: int = 10) -> int | None:
    """strconv.ParseInt(text, base, 64) for base 10 or 0 (0: 0x/0o/0b prefixes, a leading 0 for octal,
    underscores between digits); None where Go returns an error."""
    if base == 10:
        if not _INT.fullmatch(text):
            return None
        value = int(text)
    else:
        if not text.isascii() or text != text.strip() or not text:
            return None
        try:
            value = int(text, 8) if _LEGACY_OCTAL.fullmatch(text) else int(text, 0)
        except ValueError:
            return None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def go_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 10, 64)."""
    if not _UINT.fullmatch(text) or text.startswith("+"):
        return None
    value = int(text)
    return value if value <= _UINT64_MAX else None


def go_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64): decimal, exponent, inf/nan and hex forms; None on a Go error
    (including a finite number out of range, which Go reports as an error)."""
    if _FLOAT.fullmatch(text):
        if "_" in text:
            return None  # Go allows underscores only after a base prefix
        value = float(text)
    elif _HEX_FLOAT.fullmatch(text):
        value = float.fromhex(text)
    else:
        return None
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        return None
    return value


def read_int(path: str) -> int:
    """readUintFromFile/ReadIntFromFile: the whole file, trimmed, base 10; ValueError naming the file."""
    text = read_trimmed(path)
    value = go_int(text)
    if value is None:
        raise ValueError(f"{path}: not an integer: {text[:40]!r}")
    return value


def read_uint(path: str) -> int:
    text = read_trimmed(path)
    value = go_uint(text)
    if value is None:
        raise ValueError(f"{path}: not an unsigned integer: {text[:40]!r}")
    return value


class IncludeExclude:
    """node_exporter's deviceFilter: a name is ignored when the exclude regexp matches it or the include
    regexp does not. Either may be empty; 1.9 does not refuse both."""

    def __init__(
        self,
        flag_prefix: str,
        include: str | None,
        exclude: str | None,
        include_suffix: str = "include",
        exclude_suffix: str = "exclude",
    ) -> None:
        self.include = compile_filter(f"{flag_prefix}-{include_suffix}", include)
        self.exclude = compile_filter(f"{flag_prefix}-{exclude_suffix}", exclude)

    def ignored(self, name: str) -> bool:
        if self.exclude is not None and self.exclude.search(name):
            return True
        return self.include is not None and not self.include.search(name)


class WarnOnce:
    """Logs a bad value the first time it is seen, not at every scrape (a bounded memory of what was said)."""

    def __init__(self, logger: logging.Logger, limit: int = 1000) -> None:
        self.logger = logger
        self.limit = limit
        self.said: set[str] = set()

    def __call__(self, message: str) -> None:
        if message in self.said:
            return
        if len(self.said) >= self.limit:
            self.said.clear()
        self.said.add(message)
        self.logger.warning("%s", message)
