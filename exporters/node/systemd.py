"""systemd (off by default): unit states, start times, restarts, sockets, timers and the system state,
asked of systemd over D-Bus (the system bus, or systemd's private socket with --collector.systemd.private).

The calls are node_exporter 1.9's: Manager.ListUnits, and Properties.Get of the Manager's Version and
SystemState and of each unit's properties on its object path. Unlike node_exporter (its issues #1535
and #2852: a hung systemd or bus hangs the scrape), every call runs under the scrape deadline: when
systemd does not answer in time the collector reports success 0, the connection is dropped and the
next scrape connects afresh. dbus-fast is imported only when this collector is enabled."""

from __future__ import annotations

import asyncio
import re

from ..core.collector import Flag, PartialFailure
from ..core.errors import ConfigError
from ..core.metrics import counter, gauge
from .dbus import DBusCollector, DBusError
from .registry import node_collectors

UNIT_STATE = gauge("node_systemd_unit_state", "Systemd unit", "name", "state", "type")
UNIT_START_TIME = gauge(
    "node_systemd_unit_start_time_seconds", "Start time of the unit since unix epoch in seconds.", "name"
)
UNIT_TASKS_CURRENT = gauge("node_systemd_unit_tasks_current", "Current number of tasks per Systemd unit", "name")
UNIT_TASKS_MAX = gauge("node_systemd_unit_tasks_max", "Maximum number of tasks per Systemd unit", "name")
SYSTEM_RUNNING = gauge(
    "node_systemd_system_running", "Whether the system is operational (see 'systemctl is-system-running')"
)
UNITS = gauge("node_systemd_units", "Summary of systemd unit states", "state")
RESTARTS = counter("node_systemd_service_restart_total", "Service unit count of Restart triggers", "name")
TIMER_LAST_TRIGGER = gauge("node_systemd_timer_last_trigger_seconds", "Seconds since epoch of last trigger.", "name")
SOCKET_ACCEPTED = counter(
    "node_systemd_socket_accepted_connections_total", "Total number of accepted socket connections", "name"
)
SOCKET_CURRENT = gauge("node_systemd_socket_current_connections", "Current number of socket connections", "name")
# a gauge despite its name, as in node_exporter
SOCKET_REFUSED = gauge(
    "node_systemd_socket_refused_connections_total", "Total number of refused socket connections", "name"
)
VERSION = gauge("node_systemd_version", "Detected systemd version", "version")

UNIT_STATES = ("active", "activating", "deactivating", "inactive", "failed")
MIN_VERSION_SYSTEM_STATE = 212  # SystemState and the timers' LastTriggerUSec came with systemd 212
MAX_UINT64 = 2**64 - 1
VERSION_RE = re.compile(r"[0-9]{3,}(\.[0-9]+)?")

DEST = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
PRIVATE_ADDRESS = "unix:path=/run/systemd/private"
DEFAULT_INCLUDE = ".+"
DEFAULT_EXCLUDE = r".+\.(automount|device|mount|scope|slice)"  # upstream's; Debian's package adds "target"


def unit_path(name: str) -> str:
    """systemd's object path of a unit: every byte but [A-Za-z0-9] (a leading digit too) as _xx."""
    out = []
    for i, byte in enumerate(name.encode()):
        c = chr(byte)
        if ("a" <= c <= "z") or ("A" <= c <= "Z") or (i > 0 and "0" <= c <= "9"):
            out.append(c)
        else:
            out.append(f"_{byte:02x}")
    return "/org/freedesktop/systemd1/unit/" + ("".join(out) or "_")


def parse_version(text: str) -> tuple[float, str]:
    """'252.38-1~deb12u1' -> (252.38, '252.38-1~deb12u1'); (0, '') when no version can be read."""
    found = VERSION_RE.search(text)
    if not found:
        return 0.0, ""
    return float(found.group(0)), text


@node_collectors.register
class SystemdCollector(DBusCollector):
    name = "systemd"
    destination = DEST
    default_enabled = False
    description = "systemd units, their states, start times and restarts, sockets, timers (D-Bus)."
    metrics = (
        UNIT_STATE,
        UNIT_START_TIME,
        UNIT_TASKS_CURRENT,
        UNIT_TASKS_MAX,
        SYSTEM_RUNNING,
        UNITS,
        RESTARTS,
        TIMER_LAST_TRIGGER,
        SOCKET_ACCEPTED,
        SOCKET_CURRENT,
        SOCKET_REFUSED,
        VERSION,
    )
    flags = (
        Flag(
            "--collector.systemd.unit-include",
            "collector_systemd_unit_include",
            "Regexp of systemd units to include. Units must both match include and not match exclude to be included.",
            default=DEFAULT_INCLUDE,
            metavar="REGEX",
            aliases=("--collector.systemd.unit-whitelist",),
        ),
        Flag(
            "--collector.systemd.unit-exclude",
            "collector_systemd_unit_exclude",
            "Regexp of systemd units to exclude. Units must both match include and not match exclude to be included.",
            default=DEFAULT_EXCLUDE,
            metavar="REGEX",
            aliases=("--collector.systemd.unit-blacklist",),
        ),
        Flag(
            "--collector.systemd.private",
            "collector_systemd_private",
            "Talk to systemd on its private socket (/run/systemd/private, needs root) instead of the system bus.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.systemd.enable-task-metrics",
            "collector_systemd_enable_task_metrics",
            "Enables service unit tasks metrics unit_tasks_current and unit_tasks_max.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.systemd.enable-restarts-metrics",
            "collector_systemd_enable_restarts_metrics",
            "Enables service unit metric service_restart_total.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.systemd.enable-start-time-metrics",
            "collector_systemd_enable_start_time_metrics",
            "Enables service unit metric unit_start_time_seconds.",
            default=False,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        self.private = bool(settings.get("collector_systemd_private"))
        super().__init__(settings, PRIVATE_ADDRESS if self.private else None)
        self.include = self._anchored(
            "collector.systemd.unit-include", settings.get("collector_systemd_unit_include", DEFAULT_INCLUDE)
        )
        self.exclude = self._anchored(
            "collector.systemd.unit-exclude", settings.get("collector_systemd_unit_exclude", DEFAULT_EXCLUDE)
        )
        self.tasks = bool(settings.get("collector_systemd_enable_task_metrics"))
        self.restarts = bool(settings.get("collector_systemd_enable_restarts_metrics"))
        self.start_time = bool(settings.get("collector_systemd_enable_start_time_metrics"))

    @staticmethod
    def _anchored(flag: str, pattern: str) -> re.Pattern:
        try:
            return re.compile(f"^(?:{pattern})$")
        except re.error as exc:
            raise ConfigError(f"--{flag}: invalid regular expression {pattern!r}: {exc}") from None

    async def _get(self, path: str, interface: str, prop: str):
        return await self.get(path, f"org.freedesktop.systemd1.{interface}", prop)

    async def _try_get(self, name: str, interface: str, prop: str):
        """A unit's property, or None when systemd answers with an error (an older systemd lacks it)."""
        return await self.try_get(unit_path(name), f"org.freedesktop.systemd1.{interface}", prop)

    # ---- scrape ------------------------------------------------------------------------------
    async def gather(self):
        version, version_text = await self._version()
        fam_version = VERSION.family()
        fam_version.add((version_text,), version)
        units = (await self.call(MANAGER_PATH, "org.freedesktop.systemd1.Manager", "ListUnits"))[0]
        # (name, description, load state, active state, sub state, followed, path, job id, type, path)
        summary = dict.fromkeys(UNIT_STATES, 0)
        for u in units:
            summary[u[3]] = summary.get(u[3], 0) + 1
        fam_units = UNITS.family()
        for state, count in summary.items():
            fam_units.add((state,), count)
        chosen = [
            (u[0], u[3])
            for u in units
            if u[2] == "loaded" and self.include.match(u[0]) and not self.exclude.match(u[0])
        ]
        new_enough = version >= MIN_VERSION_SYSTEM_STATE
        parts = [self._unit_states(chosen), self._sockets(chosen)]
        if self.start_time:
            parts.append(self._start_times(chosen))
        if self.tasks:
            parts.append(self._tasks(chosen))
        if new_enough:
            parts.append(self._timers(chosen))
        families = [fam_version, fam_units]
        for result in await asyncio.gather(*parts):
            families.extend(result)
        if new_enough:
            try:
                state = await self._get(MANAGER_PATH, "Manager", "SystemState")
            except DBusError as exc:
                raise PartialFailure(f"couldn't get system state: {exc}", families) from None
            running = SYSTEM_RUNNING.family()
            running.add((), 1 if state == "running" else 0)
            families.append(running)
        return families

    async def _version(self) -> tuple[float, str]:
        try:
            text = await self._get(MANAGER_PATH, "Manager", "Version")
        except DBusError:
            return 0.0, ""
        return parse_version(str(text))

    async def _unit_states(self, chosen):
        async def kind(name: str):
            for suffix, interface in ((".service", "Service"), (".mount", "Mount")):
                if name.endswith(suffix):
                    value = await self._try_get(name, interface, "Type")
                    return "" if value is None else str(value)
            return ""

        async def restarts(name: str):
            if self.restarts and name.endswith(".service"):
                return await self._try_get(name, "Service", "NRestarts")
            return None

        kinds, counts = await asyncio.gather(
            asyncio.gather(*(kind(n) for n, _ in chosen)), asyncio.gather(*(restarts(n) for n, _ in chosen))
        )
        states, restart_fam = UNIT_STATE.family(), RESTARTS.family()
        for (name, active), kind_, count in zip(chosen, kinds, counts):
            for state in UNIT_STATES:
                states.add((name, state, kind_), 1 if state == active else 0)
            if count is not None:
                restart_fam.add((name,), count)
        return [states, restart_fam]

    async def _sockets(self, chosen):
        accepted, current, refused = SOCKET_ACCEPTED.family(), SOCKET_CURRENT.family(), SOCKET_REFUSED.family()

        async def one(name: str):
            values = await asyncio.gather(
                *(self._try_get(name, "Socket", p) for p in ("NAccepted", "NConnections", "NRefused"))
            )
            # as node_exporter: no NAccepted, nothing; no NConnections, only NAccepted; NRefused since systemd 239
            for fam, value in zip((accepted, current, refused), values):
                if value is None:
                    break
                fam.add((name,), value)

        await asyncio.gather(*(one(n) for n, _ in chosen if n.endswith(".socket")))
        return [accepted, current, refused]

    async def _start_times(self, chosen):
        fam = UNIT_START_TIME.family()

        async def one(name: str, active: str):
            if active != "active":
                return name, 0
            value = await self._try_get(name, "Unit", "ActiveEnterTimestamp")
            return name, None if value is None else value

        for name, usec in await asyncio.gather(*(one(n, a) for n, a in chosen)):
            if usec is not None:
                fam.add((name,), usec / 1e6)
        return [fam]

    async def _tasks(self, chosen):
        current, maximum = UNIT_TASKS_CURRENT.family(), UNIT_TASKS_MAX.family()
        services = [n for n, _ in chosen if n.endswith(".service")]
        values = await asyncio.gather(
            *(self._try_get(n, "Service", p) for n in services for p in ("TasksCurrent", "TasksMax"))
        )
        for i, name in enumerate(services):
            for fam, value in ((current, values[2 * i]), (maximum, values[2 * i + 1])):
                if value is not None and value != MAX_UINT64:
                    fam.add((name,), value)
        return [current, maximum]

    async def _timers(self, chosen):
        fam = TIMER_LAST_TRIGGER.family()
        timers = [n for n, _ in chosen if n.endswith(".timer")]
        for name, usec in zip(
            timers, await asyncio.gather(*(self._try_get(n, "Timer", "LastTriggerUSec") for n in timers))
        ):
            if usec is not None:
                fam.add((name,), usec / 1e6)
        return [fam]
