"""The Redis exporter's collector set and the base its collectors share."""

from __future__ import annotations

from ..core.collector import Collector, CollectorSet, Settings
from ..core.helpers import as_text as text  # noqa: F401  (the collectors' name for it)

redis_collectors = CollectorSet("redis")


class RedisCollector(Collector):
    """Reads this scrape's replies from the target's session (``settings.hooks``), which sent
    every command of the scrape as one pipeline before the collectors started."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.session = settings.get("hooks")


def pairs(reply) -> dict[str, str]:
    """A flat [k1, v1, k2, v2, ...] reply (CONFIG GET, LATENCY HISTOGRAM details) as a dict."""
    items = list(reply or [])
    return {text(k): v for k, v in zip(items[::2], items[1::2])}
