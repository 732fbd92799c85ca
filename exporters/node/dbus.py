"""What the D-Bus collectors (systemd, logind) share: one connection to the system bus (``$DBUS_SYSTEM_BUS_ADDRESS``)
kept between scrapes, calls pipelined on it, and every call bounded by the scrape deadline: a bus or service
that does not answer costs the collector (success 0), never the scrape, and the connection is dropped so the
next scrape starts afresh. dbus-fast is imported only when such a collector is enabled."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ..core.collector import Collector, PartialFailure
from ..core.errors import ConfigError
from ..core.scrape import remaining_seconds

DEFAULT_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
DEADLINE_MARGIN = 0.05  # seconds kept back from the scrape deadline, to answer with our own error
NO_DEADLINE_TIMEOUT = 10.0  # outside a scrape (tests), never wait longer than this


class DBusError(RuntimeError):
    """An error reply of the service or the bus (org.freedesktop.DBus.Error.*)."""


class DBusCollector(Collector):
    """A collector whose source is a D-Bus service: implement :meth:`gather`."""

    destination: str = ""  # the service's bus name

    def __init__(self, settings, address: str | None = None) -> None:
        super().__init__(settings)
        env = settings.get("environ") or os.environ
        self.address = address or env.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS
        try:
            import dbus_fast  # noqa: F401  fail at start-up, not at the first scrape
        except ImportError as exc:
            raise ConfigError(f"--collector.{self.name} needs the dbus-fast package: {exc}") from None
        self._bus: Any = None

    async def gather(self) -> list:
        raise NotImplementedError

    async def collect(self):
        left = remaining_seconds()
        timeout = NO_DEADLINE_TIMEOUT if left == float("inf") else max(0.0, left - DEADLINE_MARGIN)
        try:
            async with asyncio.timeout(timeout):
                await self._connect()
                return await self.gather()
        except TimeoutError:
            self._drop()
            raise TimeoutError(
                f"{self.destination} did not answer on {self.address} within the scrape deadline ({timeout:.3g}s)"
            ) from None
        except PartialFailure:
            raise
        except BaseException:
            self._drop()
            raise

    async def _connect(self):
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        if self._bus is None or not self._bus.connected:
            self._bus = await MessageBus(bus_address=self.address, bus_type=BusType.SYSTEM).connect()
        return self._bus

    def _drop(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            try:
                bus.disconnect()
            except Exception:  # already gone
                pass

    async def call(self, path: str, interface: str, member: str, signature: str = "", body=()):
        from dbus_fast import Message, MessageType

        reply = await self._bus.call(
            Message(
                destination=self.destination,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=list(body),
            )
        )
        if reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise DBusError(f"{interface}.{member}: {reply.error_name}" + (f": {detail[:120]}" if detail else ""))
        return reply.body

    async def get(self, path: str, interface: str, prop: str):
        """Properties.Get of one property: its value."""
        body = await self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, prop))
        return body[0].value

    async def try_get(self, path: str, interface: str, prop: str):
        """A property, or None when the service answers with an error (an older version lacks it)."""
        try:
            return await self.get(path, interface, prop)
        except DBusError:
            return None

    async def close(self) -> None:
        self._drop()
