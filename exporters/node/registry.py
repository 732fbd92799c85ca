"""The host exporter's collector set and the path helpers every host collector uses."""

from __future__ import annotations

import os
import re

from ..core.collector import BlockingCollector, CollectorSet, Settings
from ..core.errors import ConfigError

node_collectors = CollectorSet("node")


class HostCollector(BlockingCollector):
    """A host collector: reads files under ``--path.procfs`` / ``--path.sysfs`` /
    ``--path.rootfs`` on a worker thread, so a container can report its host."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.procfs = settings.get("path_procfs", "/proc")
        self.sysfs = settings.get("path_sysfs", "/sys")
        self.rootfs = settings.get("path_rootfs", "/")

    def proc(self, *parts: str) -> str:
        return os.path.join(self.procfs, *parts)

    def sys(self, *parts: str) -> str:
        return os.path.join(self.sysfs, *parts)

    def root(self, *parts: str) -> str:
        return os.path.join(self.rootfs, *parts)


def read_bytes(path: str, limit: int = 1 << 26) -> bytes:
    """The file's bytes (at most ``limit``) through raw os calls. A scrape reads a few hundred /proc and /sys
    files; ``open()``'s buffered file object costs about 6 µs more per file than os.open/os.read (measured:
    15.5 against 9.1 µs), which is a tenth of a host scrape."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:  # EISDIR and the like come from read(), without the path: name it as open() does
        raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")


def compile_filter(flagname: str, pattern: str | None) -> re.Pattern | None:
    """Compile an include/exclude regex flag, naming the flag when it is invalid."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--{flagname}: invalid regular expression {pattern!r}: {exc}") from exc


class DeviceFilter:
    """node_exporter's include/exclude pair: the two are mutually exclusive;
    with neither given the collector's default exclude applies."""

    def __init__(self, flag_prefix: str, include: str | None, exclude: str | None, default_exclude: str | None) -> None:
        if include and exclude:
            raise ConfigError(f"--{flag_prefix}-include and --{flag_prefix}-exclude are mutually exclusive")
        self.include = compile_filter(f"{flag_prefix}-include", include)
        self.exclude = compile_filter(
            f"{flag_prefix}-exclude", exclude if exclude is not None else (None if include else default_exclude)
        )

    def ignored(self, name: str) -> bool:
        if self.include is not None:
            return self.include.search(name) is None
        return self.exclude is not None and self.exclude.search(name) is not None
