"""logind (off by default): sessions by seat, remote, type and class, asked of systemd-logind over D-Bus
(Manager.ListSeats, Manager.ListSessions, and each session's Remote, Type and Class), every call under the
scrape deadline (node/dbus.py). A series for every combination of the known values, as node_exporter."""

from __future__ import annotations

import asyncio

from ..core.metrics import gauge
from .dbus import DBusCollector, DBusError
from .registry import node_collectors

SESSIONS = gauge("node_logind_sessions", "Number of sessions registered in logind.", "seat", "remote", "type", "class")
DEST = "org.freedesktop.login1"
MANAGER = "/org/freedesktop/login1"
REMOTE_VALUES = ("true", "false")
# logind's values as of systemd 229; "other" stands for any value added since
TYPE_VALUES = ("other", "unspecified", "tty", "x11", "wayland", "mir", "web")
CLASS_VALUES = ("other", "user", "greeter", "lock-screen", "background")


def known_or_other(value, known: tuple[str, ...]) -> str:
    return value if value in known else "other"


@node_collectors.register
class LogindCollector(DBusCollector):
    name = "logind"
    default_enabled = False
    destination = DEST
    description = "Sessions by seat, remote, type and class (systemd-logind over D-Bus)."
    metrics = (SESSIONS,)

    async def _session(self, seat: str, path: str):
        """(seat, remote, type, class) of one session; None when logind does not describe it."""
        try:
            remote, kind, klass = await asyncio.gather(
                *(self.get(path, "org.freedesktop.login1.Session", p) for p in ("Remote", "Type", "Class"))
            )
        except DBusError:
            return None
        if not isinstance(kind, str) or not isinstance(klass, str):
            return None
        return (
            seat,
            "true" if remote is True else "false" if remote is False else str(remote),
            known_or_other(kind, TYPE_VALUES),
            known_or_other(klass, CLASS_VALUES),
        )

    async def gather(self):
        seats = [row[0] for row in (await self.call(MANAGER, "org.freedesktop.login1.Manager", "ListSeats"))[0]]
        seats.append("")  # the empty seat: remote sessions (ssh)
        # ListSessions rows: (id, uid, user, seat, object path)
        rows = (await self.call(MANAGER, "org.freedesktop.login1.Manager", "ListSessions"))[0]
        counts: dict[tuple, int] = {}
        for key in await asyncio.gather(*(self._session(row[3], row[4]) for row in rows)):
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        fam = SESSIONS.family()
        for remote in REMOTE_VALUES:
            for kind in TYPE_VALUES:
                for klass in CLASS_VALUES:
                    for seat in seats:
                        fam.add((seat, remote, kind, klass), counts.get((seat, remote, kind, klass), 0))
        return [fam]
