"""The systemd and logind collectors against a real dbus-daemon and a scripted org.freedesktop.systemd1 and
org.freedesktop.login1 (this machine has no systemd as PID 1): the same series as node_exporter 1.9 pointed at
the same bus, and a stalled systemd costs one collector, never the scrape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    ROOT,
    newer_go_binary,
    parse_families,
    require_program,
    samples,
    start_go_exporter,
    stop_process,
    value,
)

SYSTEMD_FLAGS = (
    "--collector.disable-defaults",
    "--collector.systemd",
    "--collector.logind",
    "--collector.systemd.enable-task-metrics",
    "--collector.systemd.enable-restarts-metrics",
    "--collector.systemd.enable-start-time-metrics",
)

UNITS = {
    "manager": {"Version": "252.38-1~deb12u1", "SystemState": "degraded"},
    "units": [
        {
            "name": "ssh.service",
            "active": "active",
            "sub": "running",
            "props": {
                "Service": {"Type": "notify", "NRestarts": 2, "TasksCurrent": 1, "TasksMax": 4915},
                "Unit": {"ActiveEnterTimestamp": 1765000000123456},
            },
        },
        {
            "name": "cron.service",
            "active": "failed",
            "sub": "failed",
            "props": {"Service": {"Type": "simple", "NRestarts": 5, "TasksCurrent": 2**64 - 1, "TasksMax": 2**64 - 1}},
        },
        {
            "name": "getty@tty1.service",
            "active": "inactive",
            "sub": "dead",
            "props": {"Service": {"Type": "idle"}},
        },  # no NRestarts (systemd < 235): no restart series
        {
            "name": "flextime-exporter@node.service",
            "active": "activating",
            "sub": "start",
            "props": {"Service": {"Type": "simple", "NRestarts": 0, "TasksCurrent": 3, "TasksMax": 100}},
        },
        {
            "name": "flextime-exporter.socket",
            "active": "active",
            "sub": "listening",
            "props": {
                "Socket": {"NAccepted": 17, "NConnections": 1, "NRefused": 0},
                "Unit": {"ActiveEnterTimestamp": 1765000001000000},
            },
        },
        {
            "name": "old.socket",
            "active": "active",
            "sub": "listening",  # systemd < 239: no NRefused
            "props": {"Socket": {"NAccepted": 3, "NConnections": 0}, "Unit": {"ActiveEnterTimestamp": 1}},
        },
        {
            "name": "apt-daily.timer",
            "active": "active",
            "sub": "waiting",
            "props": {
                "Timer": {"LastTriggerUSec": 1764990000500000},
                "Unit": {"ActiveEnterTimestamp": 1764000000000000},
            },
        },
        {"name": "home.mount", "active": "active", "props": {"Mount": {"Type": "ext4"}}},  # excluded by default
        {"name": "user.slice", "active": "active"},
        {"name": "gone.service", "load": "not-found", "active": "inactive"},  # counted in node_systemd_units only
        {"name": "reloading.service", "active": "reloading", "props": {"Service": {"Type": "forking", "NRestarts": 1}}},
    ],
    "logind": {
        "seats": ["seat0"],
        "sessions": [
            {"seat": "seat0", "Remote": False, "Type": "x11", "Class": "user"},
            {"seat": "seat0", "Remote": False, "Type": "wayland", "Class": "greeter"},
            {"seat": "", "Remote": True, "Type": "tty", "Class": "user"},
            {"seat": "", "Remote": True, "Type": "tty", "Class": "user"},
            {"seat": "", "Remote": True, "Type": "brand-new", "Class": "manager"},  # "other", "other"
            {"seat": "seat9", "Remote": False, "Type": "tty", "Class": "user"},  # no such seat: not counted
            {"seat": "", "Remote": True},  # no Type: logind does not describe it, not counted
        ],
    },
}

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    """A dbus-daemon of our own on a unix socket in tmp; its address."""
    daemon = require_program("dbus-daemon")
    tmp = tmp_path_factory.mktemp("dbus")
    config = tmp / "bus.conf"
    config.write_text(BUS_CONFIG.format(path=tmp / "bus"))
    proc = subprocess.Popen(
        [daemon, f"--config-file={config}", "--print-address", "--nofork"], stdout=subprocess.PIPE, text=True
    )
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:"), address
    yield address
    stop_process(proc)


@pytest.fixture(scope="module")
def fake_systemd(bus, tmp_path_factory):
    """The scripted org.freedesktop.systemd1 on ``bus``; (address, stall file)."""
    tmp = tmp_path_factory.mktemp("fake-systemd")
    units = tmp / "units.json"
    units.write_text(json.dumps(UNITS))
    stall = tmp / "stall"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_systemd.py")), bus, str(units), str(stall)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout.readline().strip() == "ready"
    yield bus, stall
    stop_process(proc)


@pytest.fixture
def stalled(fake_systemd):
    _, stall = fake_systemd
    stall.touch()
    yield
    stall.unlink(missing_ok=True)


def systemd_samples(text: str) -> dict:
    return {k: v for k, v in samples(text).items() if k[0].startswith(("node_systemd_", "node_logind_"))}


def test_same_series_as_node_exporter_1_9(fake_systemd, exporter_factory, tmp_path):
    address, _ = fake_systemd
    env = {"DBUS_SYSTEM_BUS_ADDRESS": address}
    ours = exporter_factory(*SYSTEMD_FLAGS, env=env)
    go = start_go_exporter(
        newer_go_binary("prometheus-node-exporter"),
        *SYSTEMD_FLAGS,
        log_path=tmp_path / "go.log",
        env={**os.environ, **env},
    )
    try:
        go_text = go.get().text
    finally:
        go.stop()
    ours_text = ours.get().text
    for collector in ("systemd", "logind"):
        assert value(go_text, "node_scrape_collector_success", collector=collector) == 1, go.log()
        assert value(ours_text, "node_scrape_collector_success", collector=collector) == 1, ours.log()
    expected, got = systemd_samples(go_text), systemd_samples(ours_text)
    assert len(expected) > 40
    assert got == expected
    types = lambda text: {
        n: f.type
        for n, f in parse_families(text).items()  # noqa: E731
        if n.startswith(("node_systemd_", "node_logind_"))
    }
    assert types(ours_text) == types(go_text)
    # what a user reads from it
    assert got[("node_systemd_unit_state", (("name", "cron.service"), ("state", "failed"), ("type", "simple")))] == 1
    assert value(ours_text, "node_systemd_units", state="reloading") == 1
    assert value(ours_text, "node_systemd_system_running") == 0
    assert value(ours_text, "node_systemd_version", version="252.38-1~deb12u1") == 252.38
    assert value(ours_text, "node_logind_sessions", seat="", remote="true", type="tty", **{"class": "user"}) == 2
    assert value(ours_text, "node_logind_sessions", seat="", remote="true", type="other", **{"class": "other"}) == 1


def test_unit_filters(fake_systemd, exporter_factory):
    address, _ = fake_systemd
    exp = exporter_factory(
        "--collector.disable-defaults",
        "--collector.systemd",
        "--collector.systemd.unit-include=.+\\.service",
        "--collector.systemd.unit-exclude=cron.*",
        env={"DBUS_SYSTEM_BUS_ADDRESS": address},
    )
    names = {dict(labels)["name"] for (n, labels) in systemd_samples(exp.get().text) if n == "node_systemd_unit_state"}
    assert names == {"ssh.service", "getty@tty1.service", "flextime-exporter@node.service", "reloading.service"}


def test_stalled_systemd_costs_only_the_collector(fake_systemd, stalled, exporter_factory):
    address, _ = fake_systemd
    exp = exporter_factory(
        "--collector.disable-defaults",
        "--collector.systemd",
        "--collector.loadavg",
        env={"DBUS_SYSTEM_BUS_ADDRESS": address},
    )
    deadline = 2.0
    started = time.monotonic()
    resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": str(deadline)})
    took = time.monotonic() - started
    assert resp.status == 200
    assert took < deadline, f"the scrape took {took:.2f}s, past Prometheus' {deadline}s timeout"
    assert value(resp.text, "node_scrape_collector_success", collector="systemd") == 0
    assert value(resp.text, "node_scrape_collector_success", collector="loadavg") == 1
    assert "org.freedesktop.systemd1 did not answer" in exp.log()
    # systemd answers again: the next scrape connects afresh and succeeds
    _, stall = fake_systemd
    stall.unlink()
    resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": str(deadline)})
    assert value(resp.text, "node_scrape_collector_success", collector="systemd") == 1


def test_no_bus_is_a_collector_failure_not_a_crash(exporter_factory, tmp_path):
    exp = exporter_factory(
        "--collector.disable-defaults",
        "--collector.systemd",
        env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/nothing-here"},
    )
    resp = exp.get()
    assert resp.status == 200
    assert value(resp.text, "node_scrape_collector_success", collector="systemd") == 0
    assert exp.log().count("collector systemd failed") == 1
    exp.get()
    assert exp.log().count("collector systemd failed") == 1  # logged once, not per scrape
