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
  persistent connection each), at most :data:`MAX_PROBE_TARGETS`, and closed after
  :data:`PROBE_IDLE_SECONDS` without a probe.

The connection string is a secret (it may hold a password): it is only a dict key
here; logs and pages show the session's ``display``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from dataclasses import dataclass
from typing import Mapping

from .collector import Collector, Settings
from .metrics import MetricFamily, merge
from .scrape import ScrapeHooks, Scraper, ScrapeResult

log = logging.getLogger("exporters.targets")

MAX_PROBE_TARGETS = 64  # distinct probe targets kept at once; the least recently used is closed first
PROBE_IDLE_SECONDS = 600.0  # a probe target nobody asked for in this long is closed (its connection too)


class ProbeRefused(Exception):
    """A /probe request the exporter will not serve; the message (no secret in it) is the HTTP 400 body."""


def address_allowed(patterns, host: str, port: int | str, default_port: int) -> bool:
    """Whether ``host:port`` matches one of the allowlist's ``host:port`` shell-glob patterns.
    A pattern without a port means ``default_port``, ``host:*`` any port, ``[v6]:port`` brackets
    IPv6. Host names compare as text, case-insensitively, never resolved (the allowlist is about
    what a request may name; a resolver the attacker controls must not widen it)."""
    for pattern in patterns:
        if pattern.startswith("["):
            p_host, _, rest = pattern[1:].partition("]")
            p_port = rest[1:] if rest.startswith(":") else str(default_port)
        else:
            p_host, sep, p_port = pattern.rpartition(":")
            if not (sep and (p_port.isdigit() or p_port == "*") and ":" not in p_host):
                p_host, p_port = pattern, str(default_port)
        if fnmatch.fnmatchcase(host.lower(), p_host.lower()) and p_port in ("*", str(port)):
            return True
    return False


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
        self.probes: dict[str, Target] = {}  # connection string -> target, least recently used first
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
        statuses = {f"{name} ({t.display})": s for t, r in zip(self.configured, results)
                    for name, s in r.statuses.items()}
        return ScrapeResult(families, min(r.started_at for r in results), max(r.duration for r in results),
                            statuses)

    async def probe(self, query: Mapping[str, str]) -> Target:
        """The target a /probe request names, made on first use; ProbeRefused when not allowed."""
        key = self.spec.resolve_probe(self.settings, query)  # raises ProbeRefused
        now = time.monotonic()
        await self._expire(now)
        target = self.probes.pop(key, None)
        if target is None:
            target = self._build(key)
            log.info("probe target %s added", target.display)
        self.probes[key] = target  # most recently used last
        target.last_used = now
        while len(self.probes) > MAX_PROBE_TARGETS:
            oldest = next(iter(self.probes))
            if self.probes[oldest].scraper.busy:
                break  # never close a session under a running scrape; the bound is soft by that much
            await self._close_probe(oldest, "more than %d probe targets" % MAX_PROBE_TARGETS)
        return target

    async def _expire(self, now: float) -> None:
        for key, target in list(self.probes.items()):
            if now - target.last_used > PROBE_IDLE_SECONDS and not target.scraper.busy:
                await self._close_probe(key, f"not probed for {PROBE_IDLE_SECONDS:.0f}s")

    async def _close_probe(self, key: str, why: str) -> None:
        target = self.probes.pop(key)
        self.series_dropped_closed += target.scraper.series_dropped
        log.info("probe target %s closed: %s", target.display, why)
        await target.close()

    async def start(self) -> None:
        """Start the configured targets' sessions (their background work, if any)."""
        for target in self.configured:
            if target.hooks is not None and hasattr(target.hooks, "start"):
                await target.hooks.start()

    async def close(self) -> None:
        for target in [*self.configured, *self.probes.values()]:
            await target.close()
        self.probes.clear()
