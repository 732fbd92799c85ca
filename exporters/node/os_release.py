"""os: ``node_os_info`` and ``node_os_version`` from os-release(5).

Reads ``<rootfs>/etc/os-release``, else ``<rootfs>/usr/lib/os-release``. The
file is parsed only when its modification time (or which of the two files
exists) changes; a scrape normally costs two ``stat`` calls.
"""

from __future__ import annotations

import os
import re

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

# Label name -> os-release key; the label is the key in lower case.
INFO_LABELS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)
VERSION_LABELS = ("id", "id_like", "name")

OS_INFO = gauge(
    "node_os_info",
    "A metric with a constant '1' value labeled by " + ", ".join(INFO_LABELS) + ".",
    *INFO_LABELS,
)
OS_VERSION = gauge("node_os_version", "Metric containing the major.minor part of the OS version.", *VERSION_LABELS)

OS_RELEASE_PATHS = (("etc", "os-release"), ("usr", "lib", "os-release"))

_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
# Inside double quotes a backslash escapes only these (as in sh).
_DQ_ESCAPABLE = '$"\\`'
_VERSION_PREFIX = re.compile(r"^[0-9]+\.?[0-9]*")


def _unquote(value: str) -> str:
    """Evaluate one shell word: unquoted text, '...' and "..." parts, joined.

    Unquoted whitespace ends the word; an unquoted ``#`` at its start is a
    comment. An unterminated quote runs to the end of the line."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "'":
            end = value.find("'", i + 1)
            end = n if end < 0 else end
            out.append(value[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n and value[i + 1] in _DQ_ESCAPABLE:
                    out.append(value[i + 1])
                    i += 2
                else:
                    out.append(value[i])
                    i += 1
            i += 1  # the closing quote
        elif c == "\\":
            if i + 1 < n:
                out.append(value[i + 1])
            i += 2
        elif c in " \t":
            break
        elif c == "#" and not out and i == 0:
            break
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5): ``KEY=value`` lines with shell quoting; blank lines,
    comments and lines that are not assignments are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGNMENT.fullmatch(line)
        if m:
            out[m.group(1)] = _unquote(m.group(2))
    return out


def os_version(version_id: str) -> float | None:
    """The leading ``major[.minor]`` of VERSION_ID as a number: "22.04" -> 22.04,
    "9.3.1" -> 9.3, "12" -> 12; None when it does not start with a digit."""
    m = _VERSION_PREFIX.match(version_id)
    return float(m.group(0)) if m else None


@node_collectors.register
class OSCollector(HostCollector):
    name = "os"
    description = "Operating system name and version (/etc/os-release)."
    metrics = (OS_INFO, OS_VERSION)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._cache_key: tuple[str, int] | None = None
        self._cache: dict[str, str] = {}

    def _release(self) -> dict[str, str]:
        last_error: OSError | None = None
        for parts in OS_RELEASE_PATHS:
            path = self.root(*parts)
            try:
                key = (path, os.stat(path).st_mtime_ns)
                if key != self._cache_key:
                    self._cache = parse_os_release(read_text(path))
                    self._cache_key = key
                return self._cache
            except OSError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def read(self):
        release = self._release()
        info = OS_INFO.family()
        info.add([release.get(label.upper(), "") for label in INFO_LABELS], 1)
        yield info
        version = os_version(release.get("VERSION_ID", ""))
        if version is not None:
            fam = OS_VERSION.family()
            fam.add([release.get(label.upper(), "") for label in VERSION_LABELS], version)
            yield fam
