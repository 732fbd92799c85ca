"""A scripted stand-in for systemd on a test D-Bus: it owns org.freedesktop.systemd1 and answers
Manager.ListUnits and org.freedesktop.DBus.Properties.Get as systemd does (same object paths,
interfaces and D-Bus types), from a JSON description of units; and org.freedesktop.login1 (logind:
ListSeats, ListSessions, the sessions' Remote/Type/Class) when the JSON has "logind". There is no
systemd as PID 1 in the test machine, hence this script.

    python fake_systemd.py ADDRESS UNITS.json STALL_FILE

While STALL_FILE exists, calls are read and never answered (a hung systemd). Prints "ready" once
it owns the name."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from exporters.node.systemd import unit_path  # noqa: E402  the object path rule, shared with the collector

MANAGER = "/org/freedesktop/systemd1"
# D-Bus type of each property systemd has (node_exporter asserts these Go types)
TYPES = {
    "Remote": "b",
    "Class": "s",
    "Version": "s",
    "SystemState": "s",
    "Type": "s",
    "NRestarts": "u",
    "NAccepted": "u",
    "NConnections": "u",
    "NRefused": "u",
    "ActiveEnterTimestamp": "t",
    "TasksCurrent": "t",
    "TasksMax": "t",
    "LastTriggerUSec": "t",
}


LOGIN = "/org/freedesktop/login1"


def build_logind(spec: dict) -> tuple[list, list, dict]:
    """ListSeats rows, ListSessions rows and {(path, interface, property): value} of logind."""
    seats = [[s, f"{LOGIN}/seat/{s}"] for s in spec.get("seats", [])]
    sessions, props = [], {}
    for i, s in enumerate(spec.get("sessions", [])):
        path = f"{LOGIN}/session/_3{i}"
        sessions.append([str(i), 1000, "user", s.get("seat", ""), path])
        for key in ("Remote", "Type", "Class"):
            if key in s:
                props[(path, "org.freedesktop.login1.Session", key)] = s[key]
    return seats, sessions, props


def build(spec: dict) -> tuple[list, dict]:
    """ListUnits rows and {(path, interface, property): value}."""
    rows, props = [], {}
    for key, value in spec["manager"].items():
        props[(MANAGER, "org.freedesktop.systemd1.Manager", key)] = value
    for u in spec["units"]:
        path = unit_path(u["name"])
        rows.append(
            [
                u["name"],
                u.get("description", ""),
                u.get("load", "loaded"),
                u["active"],
                u.get("sub", ""),
                "",
                path,
                0,
                "",
                "/",
            ]
        )
        for iface, values in u.get("props", {}).items():
            for key, value in values.items():
                props[(path, f"org.freedesktop.systemd1.{iface}", key)] = value
    return rows, props


async def main(address: str, units_file: str, stall_file: str) -> None:
    with open(units_file) as f:
        spec = json.load(f)
    rows, props = build(spec)
    seats, sessions, login_props = build_logind(spec.get("logind", {}))
    props.update(login_props)
    bus = await MessageBus(bus_address=address, bus_type=BusType.SESSION).connect()

    def handle(msg: Message):
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        if os.path.exists(stall_file):
            return True  # read, never answered
        if msg.member == "ListUnits" and msg.path == MANAGER:
            return Message.new_method_return(msg, "a(ssssssouso)", [rows])
        if msg.member == "ListSeats" and msg.path == LOGIN:
            return Message.new_method_return(msg, "a(so)", [seats])
        if msg.member == "ListSessions" and msg.path == LOGIN:
            return Message.new_method_return(msg, "a(susso)", [sessions])
        if msg.interface == "org.freedesktop.DBus.Properties" and msg.member == "Get":
            iface, name = msg.body
            if (msg.path, iface, name) in props:
                return Message.new_method_return(msg, "v", [Variant(TYPES[name], props[(msg.path, iface, name)])])
            return Message.new_error(
                msg, "org.freedesktop.DBus.Error.UnknownProperty", f"Unknown property or interface {iface}.{name}"
            )
        if msg.member == "Ping":
            return Message.new_method_return(msg)
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"Unknown method {msg.member}")

    bus.add_message_handler(handle)
    await bus.request_name("org.freedesktop.systemd1")
    if "logind" in spec:
        await bus.request_name("org.freedesktop.login1")
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
