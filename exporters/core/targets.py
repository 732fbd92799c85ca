"""Targets: the things a database exporter connects to, each with its own session,
collectors and :class:`Scraper`.

- The **configured** targets (postgres: the DSNs) are scraped together on /metrics.
  With more than one, every family that does not already carry the target label
  (``server``) gets it, so ``pg_up`` of one target cannot hide another's.
- **Probe** targets (``/probe?target=``, as the Go exporters' multi-target mode) are
  made on demand, but only from what the exporter's config allows: the exporter's
  ``resolve_probe`` turns the request into a connection string or refuses it
  (:class:`ProbeRefused`, HTTP 400), so nobody can make the exporter connect, or send
  credentials, to a host of their choosing. Probe targets are kept for reuse (one
  persistent connection each), at most ``--probe.max-targets``, and closed after
  ``--probe.idle-timeout`` without a probe, by a timer (also when probes stop).

The connection string is a secret (it may hold a password): it is only a dict key
here; logs and pages show the session's ``display``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Mapping

from .collector import Collector, Settings
from .errors import ConfigError
from .metrics import MetricFamily, merge
from .scrape import ScrapeHooks, Scraper, ScrapeResult

log = logging.getLogger("exporters.targets")

MAX_PROBE_TARGETS = 64  # distinct probe targets kept at once; the least recently used is closed first
PROBE_IDLE_SECONDS = 600.0  # a probe target nobody asked for in this long is closed (its connection too)


class ProbeRefused(Exception):
    """A /probe request the exporter will not serve; the message (no secret in it) is the HTTP 400 body."""


# What a host in a target may look like for a host pattern to judge it: a DNS name or an IP
# literal. Anything else (a path, which libpq and redis-py take as a Unix socket, an '@' abstract
# socket, a space, a '%' escape) is never a host name, so no host glob can ever let it through.
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_.])?\Z")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\Z")
_GLOB = re.compile(r"[*?\[]")
_HOST_GLOB = re.compile(r"[A-Za-z0-9._*?\[\]!:-]+\Z")
_PORT_GLOB = re.compile(r"[0-9*?\[\]!-]+\Z")


def is_host_name(host: str) -> bool:
    """Whether ``host`` is a DNS name or an IP literal (never a socket path)."""
    return bool(_HOST_NAME.match(host) or _IPV6.match(host))


@dataclass(frozen=True)
class AddressPattern:
    """One allowlist entry, checked when the exporter starts.

    - ``host:port`` shell globs: ``*.corp.test:5432``, ``10.0.0.*:*``, ``127.0.0.1:574*``; no port
      means the exporter's default port; ``[v6]:port`` brackets IPv6. The host glob only ever
      judges host names and IP literals, so ``*`` can never match a socket path.
    - a Unix socket, allowed explicitly and exactly: a pattern that starts with ``/`` names one
      socket directory (PostgreSQL: the directory of ``.s.PGSQL.<port>``) or one socket file
      (Redis); ending in ``/`` it allows the sockets directly in that directory. No globs.
    """

    text: str
    host: str = ""
    port: str = ""
    socket: str = ""

    @classmethod
    def parse(cls, text: str, default_port: int, source: str) -> "AddressPattern":
        """The pattern, or ConfigError (one line naming ``source``) for one that can match nothing."""
        raw = text.strip()
        if raw.startswith("unix://"):
            raw = raw[len("unix://") :]
        if raw.startswith("/"):
            if _GLOB.search(raw):
                raise ConfigError(f"{source}: {text!r}: a socket path is matched exactly, without globs")
            if "/../" in raw + "/" or "/./" in raw + "/":
                raise ConfigError(f"{source}: {text!r}: write the socket path without '.' or '..'")
            return cls(text, socket=raw if raw == "/" else (raw.rstrip("/") + ("/" if raw.endswith("/") else "")))
        if raw.startswith("["):
            host, close, rest = raw[1:].partition("]")
            if not close or (rest and not rest.startswith(":")):
                raise ConfigError(f"{source}: {text!r}: expected [ipv6]:port")
            port = rest[1:] if rest else str(default_port)
        else:
            host, sep, port = raw.rpartition(":")
            if not sep:
                host, port = raw, str(default_port)
            elif ":" in host:
                raise ConfigError(
                    f"{source}: {text!r}: write an IPv6 address in brackets, e.g. [{host}:{port}]:{default_port}"
                )
        if not host or not _HOST_GLOB.match(host):
            raise ConfigError(
                f"{source}: {text!r}: {host!r} cannot match a host name "
                "(expected host:port, with shell globs * ? [...], or a socket path starting with /)"
            )
        if not port or not _PORT_GLOB.match(port) or (port.isdigit() and not 0 < int(port) <= 65535):
            raise ConfigError(f"{source}: {text!r}: port {port!r} is not a port number or a glob of one")
        return cls(text, host=host.lower(), port=port)

    def allows_host(self, host: str, port: int | str) -> bool:
        return (
            bool(self.host)
            and is_host_name(host)
            and fnmatch.fnmatchcase(host.lower(), self.host)
            and fnmatch.fnmatchcase(str(port), self.port)
        )

    def allows_socket(self, path: str) -> bool:
        """``path``: a socket directory (PostgreSQL) or socket file (Redis), compared after normalising."""
        if not self.socket or not path.startswith("/"):
            return False
        path = posixpath.normpath(path)
        if self.socket.endswith("/") and self.socket != "/":
            return posixpath.dirname(path) == self.socket.rstrip("/")
        return path == self.socket


class Allowlist:
    """The addresses multi-target requests may name (``/probe``, ``/scrape``): nothing when empty."""

    def __init__(self, patterns, default_port: int, source: str) -> None:
        self.patterns = tuple(AddressPattern.parse(str(p), default_port, source) for p in patterns)
        self.default_port = default_port

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def allows(self, host: str, port: int | str | None = None) -> bool:
        """A host name or IP with its port, or a socket (a host that starts with ``/``)."""
        if host.startswith("/"):
            return any(p.allows_socket(host) for p in self.patterns)
        port = self.default_port if port in (None, "") else port
        return any(p.allows_host(host, port) for p in self.patterns)


@dataclass
class Target:
    hooks: ScrapeHooks | None
    collectors: dict[str, Collector]
    scraper: Scraper
    last_used: float = 0.0

    @property
    def label(self) -> str:
        return getattr(self.hooks, "label", "")

    @property
    def display(self) -> str:
        return getattr(self.hooks, "display", "")

    async def close(self) -> None:
        for collector in self.collectors.values():
            await collector.close()
        if self.hooks is not None:
            await self.hooks.close()


def with_label(family: MetricFamily, name: str, value: str) -> MetricFamily:
    """A copy of ``family`` whose samples also carry ``name="value"`` (unless they have it)."""
    if name in family.labelnames:
        return family
    pair = f'{name}="{value}"'  # the label value is host:port: nothing to escape
    out = MetricFamily(family.name, family.type, family.help, (*family.labelnames, name))
    for sample_name, block, v in family.samples:
        out._append(sample_name, f"{block[:-1]},{pair}}}" if block else f"{{{pair}}}", v)
    out.duplicates = family.duplicates
    return out


class TargetPool:
    """The configured targets and the probe targets of one exporter."""

    def __init__(self, spec, settings: Settings, enabled: list[str]) -> None:
        self.spec = spec
        self.settings = settings
        self.enabled = enabled
        keys = spec.targets(settings) if spec.targets else [None]
        self.configured: list[Target] = [self._build(key) for key in keys]
        self.probes: dict[str, Target] = {}  # digest of the connection string -> target, least recently used first
        self._expiry: asyncio.Task | None = None
        self.max_targets = int(settings.get("probe_max_targets", MAX_PROBE_TARGETS))
        self.idle_seconds = float(settings.get("probe_idle_timeout", PROBE_IDLE_SECONDS))
        self.series_dropped_closed = 0  # from probe targets already closed

    def _build(self, key: str | None) -> Target:
        hooks = self.spec.session(self.settings, key) if key is not None else None
        target_settings = self.settings.replace(hooks=hooks)
        collectors = self.spec.collectors.instantiate(self.enabled, target_settings)
        return Target(hooks, collectors, Scraper(self.spec.namespace, collectors, hooks))

    @property
    def series_dropped(self) -> int:
        every = [*self.configured, *self.probes.values()]
        return self.series_dropped_closed + sum(t.scraper.series_dropped for t in every)

    async def scrape_configured(self, names: list[str], timeout: float) -> ScrapeResult:
        """One scrape of every configured target, at the same time, as one result."""
        if len(self.configured) == 1:
            return await self.configured[0].scraper.scrape(names, timeout)
        if not self.configured:  # /probe only: /metrics has the exporter's own metrics
            return ScrapeResult([], time.time(), 0.0)

        results = await asyncio.gather(*(t.scraper.scrape(names, timeout) for t in self.configured))
        label = self.spec.target_label
        families = [with_label(f, label, t.label) for t, r in zip(self.configured, results) for f in r.families]
        families, dropped = merge(families)
        statuses = {
            f"{name} ({t.display})": s for t, r in zip(self.configured, results) for name, s in r.statuses.items()
        }
        return ScrapeResult(families, min(r.started_at for r in results), max(r.duration for r in results), statuses)

    async def probe(self, query: Mapping[str, str]) -> Target:
        """The target a /probe request names, made on first use; ProbeRefused when not allowed.

        The pool is keyed by a digest of the connection string, never the string itself: a key
        turns up in exceptions and tracebacks, and the string may hold a password. Every change
        to ``probes`` happens without an await in between, so concurrent probes cannot race."""
        conninfo = self.spec.resolve_probe(self.settings, query)  # raises ProbeRefused
        key = hashlib.sha256(conninfo.encode()).hexdigest()
        now = time.monotonic()
        closing = self._take_expired(now)
        target = self.probes.pop(key, None)
        if target is None:
            target = self._build(conninfo)
            log.info("probe target %s added", target.display)
        self.probes[key] = target  # most recently used last
        target.last_used = now
        closing += self._take_over_limit()
        await self._close_all(closing)
        return target

    def _take_expired(self, now: float) -> list[tuple[Target, str]]:
        """Remove (without closing yet) the probe targets idle longer than --probe.idle-timeout."""
        expired = [
            key for key, t in self.probes.items() if now - t.last_used > self.idle_seconds and not t.scraper.busy
        ]
        return [(self.probes.pop(key), f"not probed for {self.idle_seconds:g}s") for key in expired]

    def _take_over_limit(self) -> list[tuple[Target, str]]:
        """Remove the least recently used probe targets beyond --probe.max-targets; never one under a
        running scrape (the bound is soft by that much)."""
        out = []
        while len(self.probes) > self.max_targets:
            oldest = next(iter(self.probes))
            if self.probes[oldest].scraper.busy:
                break
            out.append((self.probes.pop(oldest), f"more than {self.max_targets} probe targets"))
        return out

    async def _close_all(self, closing: list[tuple[Target, str]]) -> None:
        for target, why in closing:
            self.series_dropped_closed += target.scraper.series_dropped
            log.info("probe target %s closed: %s", target.display, why)
            try:
                await target.close()
            except Exception as exc:  # a session that fails to close is gone anyway
                log.warning("probe target %s: closing failed: %s", target.display, type(exc).__name__)

    async def expire_idle(self) -> None:
        """Close the probe targets nobody probed for --probe.idle-timeout (run on a timer, so the
        connections close when probes stop, not only inside the next probe)."""
        await self._close_all(self._take_expired(time.monotonic()))

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, self.idle_seconds / 4))
            await self.expire_idle()

    async def start(self) -> None:
        """Start the configured targets' sessions (their background work, if any), and the timer
        that closes idle probe targets."""
        for target in self.configured:
            if target.hooks is not None and hasattr(target.hooks, "start"):
                await target.hooks.start()
        if self.spec.resolve_probe is not None and self._expiry is None:
            self._expiry = asyncio.get_running_loop().create_task(self._expiry_loop())

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        targets = [*self.configured, *self.probes.values()]
        self.probes.clear()
        for target in targets:
            await target.close()
