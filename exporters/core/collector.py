"""The collector contract and the per-exporter collector registry.

Modelled on node_exporter: one registration per collector gives it a name, an
on/off default and the ``--collector.NAME`` / ``--no-collector.NAME`` flag, plus
any flags of its own. A collector knows nothing about HTTP; it turns a source
(/proc, a database, Redis) into fresh :class:`MetricFamily` objects per scrape.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from .errors import ConfigError
from .metrics import MetricDef, MetricFamily


@dataclass(frozen=True)
class Flag:
    """A collector-specific command-line flag, e.g. ``--collector.filesystem.mount-timeout``.

    ``dest`` is the attribute name the collector reads from its settings."""

    flag: str
    dest: str
    help: str
    default: Any = None
    multiple: bool = False
    type: Any = str
    metavar: str | None = None
    aliases: tuple[str, ...] = ()  # node_exporter's deprecated spellings, still accepted
    env: tuple[str, ...] = ()  # the Go exporter's environment variables for it (REDIS_ADDR), read after ours


class Settings:
    """The parsed flags, as attributes (``settings.path_procfs``); ``options``: what the exporter's
    ``validate`` made of them (typed and frozen), ``hooks``: the target's session. Not written to
    once parsed (assigning an attribute raises): :meth:`replace` makes a changed copy, so a fleet's
    members and each target's collectors hold settings of their own that no one else changes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``."""
        return Settings(**{**self.__dict__, **changes})

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"settings are not written to once parsed (not {name!r}): use replace() for a changed copy"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"settings are not written to once parsed (not {name!r})")

    if TYPE_CHECKING:  # the flags are attributes made at run time, one per Flag.dest

        def __getattr__(self, name: str) -> Any: ...


class CollectorBusy(RuntimeError):
    """The previous run of this collector has not returned yet (a hung syscall)."""


class PartialFailure(Exception):
    """Raised by a collector that could serve only part of its series (one of several
    user queries failed): the series it carries are served, and success is 0."""

    def __init__(self, message: str, families) -> None:
        super().__init__(message)
        self.families = list(families)


class NoData(RuntimeError):
    """The source does not exist on this system (no PSI, no conntrack module): the
    collector reports success 0 and the runner logs it at debug level only."""


class Collector:
    """Base of every collector. Subclasses set the class attributes and implement
    :meth:`collect`; ``metrics`` lists every family the collector can emit (it is
    the source of the generated metric reference)."""

    name: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    description: ClassVar[str] = ""
    metrics: ClassVar[tuple[MetricDef, ...]] = ()
    flags: ClassVar[tuple[Flag, ...]] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def collect(self) -> Iterable[MetricFamily]:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; called once when the exporter shuts down."""


class _Read:
    """One read of a blocking collector in flight; scrapes that arrive meanwhile wait for it."""

    __slots__ = ("_running", "families", "error", "started")

    def __init__(self) -> None:
        self.started = time.monotonic()
        # held while the read runs; a plain lock, not an Event: one is made per collector per scrape,
        # and an Event (a Condition and two locks) costs 25 times as much to make
        self._running = threading.Lock()
        self._running.acquire()
        self.families: list[MetricFamily] = []
        self.error: BaseException | None = None

    def finish(self) -> None:
        self._running.release()

    def wait(self, timeout: float) -> bool:
        """True once the read has ended, False when ``timeout`` seconds pass first."""
        if not self._running.acquire(timeout=max(0.0, timeout)):
            return False
        self._running.release()
        return True


class BlockingCollector(Collector):
    """A collector whose source is synchronous (files, syscalls): implement
    :meth:`read`. The scrape runner calls it on a worker thread, never on the
    event loop (see ``scrape.py``). Only one read of a collector is in flight at
    a time, so a read stuck in the kernel cannot pile up threads. A scrape that
    finds a read in flight (one a short-deadline scrape gave up on, say) waits for
    it, within its own deadline, and serves its result: one client's deadline can
    never make another client's scrape fail. A read that has already run for half
    the waiting scrape's whole budget is taken as stuck (a hung mount, a FIFO): the
    collector fails at once, so a hang costs later scrapes nothing."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._current: _Read | None = None

    def read(self) -> Iterable[MetricFamily]:
        raise NotImplementedError

    def read_guarded(self, wait: float = 0.0, budget: float = 0.0) -> list[MetricFamily]:
        """Read, or join the read in flight for at most ``wait`` seconds when it is younger than
        half of ``budget`` (the scrape's whole deadline); CollectorBusy otherwise."""
        with self._lock:
            current, mine = self._current, self._current is None
            if mine:
                current = self._current = _Read()
        assert current is not None
        if not mine:
            young = time.monotonic() - current.started < budget / 2
            if not (young and current.wait(wait)):
                raise CollectorBusy(f"the previous {self.name} read has not returned yet")
            if current.error is not None:
                raise current.error
            return list(current.families)
        try:
            current.families = list(self.read())
            return list(current.families)
        except BaseException as exc:
            current.error = exc
            raise
        finally:
            with self._lock:
                self._current = None
            current.finish()


def collector_toggle_dest(name: str) -> str:
    """The settings attribute of ``--collector.NAME`` / ``--no-collector.NAME`` (None: not given)."""
    return f"enable_collector_{name}"


class CollectorSet:
    """The collectors one exporter offers, in registration order."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._classes: dict[str, type[Collector]] = {}

    def register(self, cls: type[Collector]) -> type[Collector]:
        """Class decorator: ``@node_collectors.register``."""
        if cls.name in self._classes:
            raise ValueError(f"collector {cls.name!r} registered twice")
        self._classes[cls.name] = cls
        return cls

    def __iter__(self):
        return iter(self._classes.values())

    def names(self) -> list[str]:
        return list(self._classes)

    def get(self, name: str) -> type[Collector]:
        return self._classes[name]

    def explicit(self, settings: Settings, toggles: Iterable[tuple[str, bool]] = ()) -> dict[str, bool | None]:
        """What the user said of each collector: its ``--[no-]collector.NAME`` flag (None: not given),
        overridden by ``toggles``, the exporter's own flags' say (``--disable-default-metrics``...)."""
        said: dict[str, bool | None] = {name: settings.get(collector_toggle_dest(name)) for name in self._classes}
        said.update(toggles)
        return said

    def enabled_names(self, explicit: dict[str, bool | None], disable_defaults: bool) -> list[str]:
        """Which collectors run: ``explicit`` maps a name to True/False when the
        user gave ``--collector.NAME`` / ``--no-collector.NAME``, else None.
        ``--collector.disable-defaults`` keeps only the explicitly enabled ones."""
        chosen = []
        for name, cls in self._classes.items():
            want = explicit.get(name)
            if want is None:
                want = False if disable_defaults else cls.default_enabled
            if want:
                chosen.append(name)
        return chosen

    def instantiate(self, names: Iterable[str], settings: Settings) -> dict[str, Collector]:
        out = {}
        for name in names:
            try:
                out[name] = self._classes[name](settings)
            except ConfigError:
                raise
            except (OSError, ValueError) as exc:
                raise ConfigError(f"collector {name}: {exc}") from exc
        return out


def all_metric_defs(collectors: CollectorSet) -> list[tuple[str, MetricDef]]:
    return [(cls.name, d) for cls in collectors for d in cls.metrics]
