"""The scheduler exporter's one session: its backend readers, the ledger, the app's pool.

It is the exporter's only "target", made once at start-up and kept for the life of the
process, because the readers' cursors and the ledger's counters must outlive every scrape."""

from __future__ import annotations

import asyncio
import importlib
import time

from ..core.metrics import GAUGE, MetricDef
from ..core.scrape import ScrapeHooks, current_run
from .backend import Reader
from .config import SchedulerConfig
from .contract import LEDGER_METRICS, Ledger

READERS = {
    "bullmq": "exporters.scheduler.bullmq:BullMQReader",
    "rq": "exporters.scheduler.rq:RQReader",
    "sql": "exporters.scheduler.sql:SQLReader",
    "celery": "exporters.scheduler.celery:CeleryReader",
}
ACTIVE_SESSIONS = MetricDef(
    "active_scheduling_sessions",
    GAUGE,
    "Jobs being processed now (active / started) in every queue read in this scrape.",
)
SESSION_METRICS = (*LEDGER_METRICS, ACTIVE_SESSIONS)


def _reader_class(kind: str):
    module, attr = READERS[kind].split(":")
    return getattr(importlib.import_module(module), attr)


class SchedulerSession(ScrapeHooks):
    display = "scheduler"

    def __init__(self, config: SchedulerConfig, timeout: float) -> None:
        self.config = config
        self.ledger = Ledger(config.contract)
        started = time.time()
        self._readers: list[Reader] = [
            _reader_class(b.kind)(b, self.ledger, timeout=timeout, started_at=started) for b in config.backends
        ]
        self.pool = None
        if config.pool is not None:
            from .pool import PoolReader

            self.pool = PoolReader(config.pool, timeout)
        self._active: dict[str, int] = {}
        self._active_run: object = None

    def readers(self, kind: str) -> list[Reader]:
        return [r for r in self._readers if r.kind == kind]

    def note_active(self, kind: str, count: int) -> None:
        """A collector's jobs being processed, for this run's active_scheduling_sessions."""
        run = current_run()
        if run is not self._active_run:
            self._active_run, self._active = run, {}
        self._active[kind] = count

    def families(self, result):
        out = self.ledger.families()
        if self._active_run is current_run() and self._active:
            fam = ACTIVE_SESSIONS.family()
            fam.add((), sum(self._active.values()))
            out.append(fam)
        return out

    async def start(self) -> None:
        for reader in self._readers:
            await reader.start()

    async def health(self) -> str | None:
        checks = [r.health() for r in self._readers]
        if self.pool is not None:
            checks.append(self.pool.health())
        outcomes = await asyncio.gather(*checks, return_exceptions=True)
        names = [r.display for r in self._readers] + (["connection_pool"] if self.pool is not None else [])
        problems = [
            f"{n}: {o if isinstance(o, str) else type(o).__name__}" for n, o in zip(names, outcomes) if o is not None
        ]
        return "; ".join(problems) or None

    async def close(self) -> None:
        for r in self._readers:
            await r.close()
        if self.pool is not None:
            await self.pool.close()
