"""Multi-target /scrape keeps the core's probe-target rules (issue 19): at most --probe.max-targets
targets, each with its sockets, and a target nobody scraped for --probe.idle-timeout is closed by the
timer, with no scrape to trigger it."""

from __future__ import annotations

import time

from conftest import value

from .test_exporter import get_ok, scrape_path, start_redis_exporter, write_password_file


def _exporter_sockets(server) -> int:
    clients = server.client().client_list()
    return sum(1 for c in clients if c.get("name") == "flextime-exporter")


def _await(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_scrape_targets_are_bounded_and_idle_ones_close_on_the_timer(tmp_path, redis7):
    passwords = write_password_file(
        tmp_path / "pw.json", {f"redis://{redis7.address}/{db}": redis7.exporter_password for db in range(1, 5)}
    )
    exp = start_redis_exporter(
        tmp_path,
        "--redis.addr=",
        f"--scrape.allowed-targets={redis7.address}",
        f"--redis.password-file={passwords}",
        "--set-client-name",
        "--probe.max-targets=2",
        "--probe.idle-timeout=2",
        "--log.level=debug",
        env={"REDIS_USER": redis7.exporter_user},
    )
    try:
        assert _exporter_sockets(redis7) == 0
        for db in range(1, 5):  # four distinct targets (one database each) of one server
            assert value(get_ok(exp, scrape_path(f"redis://{redis7.address}/{db}")), "redis_up") == 1
            assert _exporter_sockets(redis7) <= 2
        # the two least recently scraped were closed for the bound, the two others stay
        assert exp.log().count("closed: more than 2 probe targets") == 2
        assert _exporter_sockets(redis7) >= 1
        # no scrape from here on: the timer closes the idle targets and their sockets
        _await(lambda: _exporter_sockets(redis7) == 0, 20, "idle scrape targets to close")
        assert exp.log().count("closed: not probed for 2s") == 2
        assert redis7.exporter_password not in exp.log()
        # and a target scraped again comes back
        assert value(get_ok(exp, scrape_path(f"redis://{redis7.address}/1")), "redis_up") == 1
    finally:
        exp.stop()
