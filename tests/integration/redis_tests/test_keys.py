"""Key and stream checks (exporters/redis/keys.py) on real servers: Redis 6.2, Redis 7.0 and
Valkey 8.1, beside Debian's redis_exporter 1.45 run with the same flags.

Every key this module writes is in SCRATCH_DB under PREFIX and deleted afterwards: the servers are
shared by the whole session. Round trips are checked with the server's own INFO commandstats."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import ROOT, samples, value

from .conftest import SCRATCH_DB, SERVER_FIXTURES, RedisServer, start_go_redis_exporter
from .test_exporter import (
    as_exporter_user,
    get_ok,
    helps,
    label_names,
    scrape_path,
    start_redis_exporter,
    types,
    write_password_file,
)

PREFIX = "flextime:keys:"
DB = f"db{SCRATCH_DB}"
BULK = 2000  # keys for the bounds: enough to need many SCAN calls, quick to write in one pipeline
SLOW_WALK = 20_000  # keys whose COUNT 1 walk takes 1-3 s: far more than a 0.25 s SCAN share

# key (without PREFIX) -> (command that writes it, its redis_key_size)
KEYS = {
    "str": (("SET", "hello"), 5),
    "num": (("SET", "42"), 2),
    "float": (("SET", "1.5e3"), 5),
    "empty": (("SET", ""), 0),
    "list": (("RPUSH", "a", "b", "c", "d", "e"), 5),
    "set": (("SADD", "x", "y", "z"), 3),
    "zset": (("ZADD", 1, "a", 2, "b", 3, "c", 4, "d"), 4),
    "hash": (("HSET", "f1", "v1", "f2", "v2"), 2),
    "hll": (("PFADD", "a", "b", "c"), 3),  # a string to TYPE: PFCOUNT, not STRLEN, is its size
    "with,comma": (("SET", "7"), 1),  # named %2C in flags: keys are URL-unescaped
}
STREAM = "stream"  # 3 entries; group g1 (consumer c1 read 2), group g2 (nobody read)
VALUES = {"num": 42.0, "float": 1500.0, "with,comma": 7.0}
STRING_VALUES = {"str": "hello", "empty": ""}


@pytest.fixture(params=SERVER_FIXTURES)
def server(request) -> RedisServer:
    return request.getfixturevalue(request.param)


def _delete_ours(client) -> None:
    stale = list(client.scan_iter(match=PREFIX + "*", count=1000))
    for i in range(0, len(stale), 1000):
        client.delete(*stale[i : i + 1000])


@pytest.fixture
def scratch(server: RedisServer):
    """The key set above in SCRATCH_DB, with a stream read by a real consumer; returns the
    stream's entry ids. Deleted afterwards."""
    with server.client(db=SCRATCH_DB) as c:
        _delete_ours(c)
        pipe = c.pipeline(transaction=False)
        for name, ((cmd, *args), _) in KEYS.items():
            pipe.execute_command(cmd, PREFIX + name, *args)
        pipe.execute()
        ids = [c.xadd(PREFIX + STREAM, {"n": str(i)}) for i in range(3)]
        c.xgroup_create(PREFIX + STREAM, "g1", id="0")
        c.xgroup_create(PREFIX + STREAM, "g2", id="0")
        c.xreadgroup("g1", "c1", {PREFIX + STREAM: ">"}, count=2)
        try:
            yield ids
        finally:
            _delete_ours(c)


def write_bulk(server: RedisServer, n: int) -> int:
    """``n`` string keys PREFIX + 'bulk:<i>' in SCRATCH_DB (deleted by ``scratch``), in pipelines."""
    with server.client(db=SCRATCH_DB) as c:
        for start in range(0, n, 5000):
            pipe = c.pipeline(transaction=False)
            for i in range(start, min(n, start + 5000)):
                pipe.set(f"{PREFIX}bulk:{i}", "1")
            pipe.execute()
    return n


@pytest.fixture
def bulk(server: RedisServer, scratch):
    """BULK more string keys, PREFIX + 'bulk:<i>'."""
    return write_bulk(server, BULK)


def start(tmp_path, server: RedisServer, *flags: str, admin: bool = False, home_db: int = 0):
    """Our exporter on ``server``: as the ``exporter`` ACL user, or as the default (admin) user,
    which may GET; the password in the environment."""
    env = {"REDIS_ADDR": f"redis://{server.address}" + (f"/{home_db}" if home_db else "")}
    env.update({"REDIS_PASSWORD": server.password} if admin else as_exporter_user(server))
    return start_redis_exporter(tmp_path, *flags, env=env)


def by(text: str, name: str, *labels: str) -> dict:
    """{label values (in ``labels`` order; one label: the value itself): sample value} of ``name``
    in SCRATCH_DB, with PREFIX taken off key and stream labels."""
    out = {}
    for (sample, pairs), v in samples(text).items():
        d = dict(pairs)
        if sample != name or d.get("db") != DB:
            continue
        for k in ("key", "stream"):
            if k in d and d[k].startswith(PREFIX):
                d[k] = d[k][len(PREFIX) :]
        key = tuple(d[label] for label in labels)
        out[key[0] if len(key) == 1 else key] = v
    return out


def success(text: str) -> float:
    return value(text, "redis_scrape_collector_success", collector="keys")


def calls(server: RedisServer) -> dict[str, int]:
    """INFO commandstats: {command: calls}."""
    return {
        k[len("cmdstat_") :]: int(v.split("calls=")[1].split(",")[0])
        for k, v in server.info("commandstats").items()
        if k.startswith("cmdstat_")
    }


def delta(before: dict, after: dict, command: str) -> int:
    return after.get(command, 0) - before.get(command, 0)


def client_db(server: RedisServer) -> int:
    """The database the exporter's kept connection is in now (CLIENT LIST, name=flextime-exporter)."""
    (line,) = [ln for ln in server.raw("CLIENT", "LIST").splitlines() if " name=flextime-exporter " in ln]
    return int(line.split(" db=")[1].split(" ")[0])


# ---- keys -------------------------------------------------------------------------------------------


def test_sizes_values_and_missing_keys(tmp_path, server, scratch):
    exp = start(
        tmp_path,
        server,
        f"--check-keys={DB}={PREFIX}*",
        f"--check-single-keys={DB}={PREFIX}missing,{DB}={PREFIX}num,{DB}={PREFIX}with%2Ccomma",
        admin=True,
    )
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert success(text) == 1
    sizes = by(text, "redis_key_size", "key")
    assert sizes == {**{k: size for k, (_, size) in KEYS.items()}, STREAM: 3}  # a glob and single keys, once each
    # a missing key has no series at all (redis_exporter exports key_size 0: its #891)
    assert not [v for (_, pairs) in samples(text) for n, v in pairs if n == "key" and v.endswith("missing")]
    # values of strings, as redis_exporter: numbers in key_value, other strings as the val label
    assert by(text, "redis_key_value", "key") == VALUES
    assert by(text, "redis_key_value_as_string", "key", "val") == {(k, v): 1 for k, v in STRING_VALUES.items()}
    memory = by(text, "redis_key_memory_usage_bytes", "key")
    assert set(memory) == set(sizes) and all(v > 0 for v in memory.values())
    assert types(text)["redis_key_size"] == "gauge" and types(text)["redis_key_value_as_string"] == "gauge"
    assert label_names(text)["redis_key_value_as_string"] == ("db", "key", "val")


def test_values_only_when_asked(tmp_path, server, scratch):
    exp = start(tmp_path, server, f"--check-keys={DB}={PREFIX}*", "--disable-exporting-key-values", admin=True)
    try:
        get_ok(exp)  # connected, warm
        before = calls(server)
        text = get_ok(exp)
        after = calls(server)
    finally:
        exp.stop()
    assert success(text) == 1
    assert "redis_key_value" not in types(text) and "redis_key_value_as_string" not in types(text)
    assert by(text, "redis_key_size", "key")["str"] == 5
    assert delta(before, after, "get") == 0  # not even read


def test_count_keys(tmp_path, server, scratch, bulk):
    exp = start(
        tmp_path,
        server,
        f"--count-keys={DB}={PREFIX}*,{DB}={PREFIX}s*,{DB}={PREFIX}nothing*",
        "--check-keys-batch-size=50",
    )
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert success(text) == 1
    assert by(text, "redis_keys_count", "key") == {"*": len(KEYS) + 1 + bulk, "s*": 3, "nothing*": 0}
    # COUNT 50 over ~2,000 keys: many SCAN calls per pattern, all reported. (A handful of keys is not
    # enough: Valkey 8's hashtable may return them all to a COUNT 3 call, one call per pattern.)
    assert value(text, "redis_exporter_last_key_checks_scan_calls") > 3 * 10
    assert value(text, "redis_exporter_key_checks_truncated_total", flag="count-keys", reason="deadline") == 0


# ---- streams ----------------------------------------------------------------------------------------


def test_streams_groups_and_consumers(tmp_path, server, scratch):
    ids = scratch
    exp = start(
        tmp_path,
        server,
        f"--check-streams={DB}={PREFIX}*",
        f"--check-single-streams={DB}={PREFIX}no-such-stream,{DB}={PREFIX}str",
    )
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert success(text) == 1
    ms = [float(i.split("-")[0]) for i in ids]
    # SCAN ... TYPE stream: only the stream; a missing stream and a string give nothing
    assert by(text, "redis_stream_length", "stream") == {STREAM: 3}
    assert by(text, "redis_stream_groups", "stream") == {STREAM: 2}
    assert by(text, "redis_stream_last_generated_id", "stream") == {STREAM: ms[2]}
    assert by(text, "redis_stream_first_entry_id", "stream") == {STREAM: ms[0]}
    assert by(text, "redis_stream_radix_tree_keys", "stream")[STREAM] >= 1
    assert by(text, "redis_stream_group_consumers", "group") == {"g1": 1, "g2": 0}
    assert by(text, "redis_stream_group_messages_pending", "group") == {"g1": 2, "g2": 0}
    assert by(text, "redis_stream_group_last_delivered_id", "group") == {"g1": ms[1], "g2": 0}
    assert by(text, "redis_stream_group_consumer_messages_pending", "group", "consumer") == {("g1", "c1"): 2}
    (idle,) = by(text, "redis_stream_group_consumer_idle_seconds", "consumer").values()
    assert 0 <= idle < 60
    if server.version_info >= (7,):  # XINFO GROUPS has entries-read and lag from Redis 7
        assert by(text, "redis_stream_group_lag", "group") == {"g1": 1, "g2": 3}
        assert by(text, "redis_stream_group_entries_read", "group")["g1"] == 2
    else:
        assert "redis_stream_group_lag" not in types(text)
    assert label_names(text)["redis_stream_group_consumer_idle_seconds"] == ("consumer", "db", "group", "stream")


def test_streams_without_consumer_metrics(tmp_path, server, scratch):
    exp = start(tmp_path, server, f"--check-single-streams={DB}={PREFIX}{STREAM}", "--streams-exclude-consumer-metrics")
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert by(text, "redis_stream_group_consumers", "group") == {"g1": 1, "g2": 0}
    assert not [f for f in types(text) if f.startswith("redis_stream_group_consumer_")]


# ---- bounds and round trips -------------------------------------------------------------------------


def test_matched_keys_are_bounded(tmp_path, server, bulk):
    exp = start(
        tmp_path,
        server,
        f"--check-keys={DB}={PREFIX}bulk:*",
        "--check-keys.max-keys=500",
        "--disable-exporting-key-values",
    )
    try:
        get_ok(exp)
        before = calls(server)
        text = get_ok(exp)
        after = calls(server)
        home = client_db(server)
    finally:
        exp.stop()
    assert success(text) == 1
    assert len(by(text, "redis_key_size", "key")) == 500
    assert value(text, "redis_exporter_key_checks_truncated_total", flag="check-keys", reason="max_keys") == 2
    assert value(text, "redis_exporter_key_checks_truncated_total", flag="check-keys", reason="deadline") == 0
    scans = value(text, "redis_exporter_last_key_checks_scan_calls")
    assert delta(before, after, "scan") == scans >= 1
    # one TYPE (and MEMORY USAGE) per matched key, each command once ...
    assert delta(before, after, "type") == 500
    assert delta(before, after, "strlen") == delta(before, after, "pfcount") == 500
    # ... and every round trip framed by SELECT 9 / SELECT 0: the SCAN calls, then two pipelines
    assert delta(before, after, "select") == 2 * (scans + 2)
    assert home == 0


def test_scan_stops_at_its_share_of_the_deadline(tmp_path, server, scratch):
    # COUNT 1 over SLOW_WALK keys: thousands of SCAN calls, far more than 0.25 s of them
    write_bulk(server, SLOW_WALK)
    exp = start(
        tmp_path, server, f"--count-keys={DB}={PREFIX}bulk:nomatch*", "--check-keys-batch-size=1", "--scrape.timeout=14"
    )  # no header: time enough for the whole walk on a busy machine
    try:
        get_ok(exp, timeout_header=1.0)  # connected, warm (and cut short: the first of two)
        started = time.monotonic()
        text = get_ok(exp, timeout_header=1.0)  # deadline: 1.0 - 0.5 (offset) = 0.5 s; SCAN gets half
        took = time.monotonic() - started
        full = get_ok(exp)
        home = client_db(server)
    finally:
        exp.stop()
    assert took < 1.0, took  # answered before Prometheus would give up
    assert success(text) == 1 and value(text, "redis_up") == 1
    assert value(text, "redis_scrape_collector_success", collector="info") == 1
    assert "redis_keys_count" not in types(text)  # a partial count would be a wrong number
    assert value(text, "redis_exporter_key_checks_truncated_total", flag="count-keys", reason="deadline") == 2
    assert 0.2 < value(text, "redis_exporter_last_key_checks_duration_seconds") < 0.5  # its share, not more
    assert by(full, "redis_keys_count", "key") == {"bulk:nomatch*": 0}
    assert value(full, "redis_exporter_last_key_checks_scan_calls") >= 1000
    assert value(full, "redis_exporter_key_checks_truncated_total", flag="count-keys", reason="deadline") == 2
    assert home == 0  # the kept connection survived, in its own database


def test_connection_returns_to_its_own_database(tmp_path, server, scratch):
    exp = start(
        tmp_path,
        server,
        f"--check-keys={DB}={PREFIX}s*",
        f"--count-keys={DB}={PREFIX}*",
        f"--check-single-keys={DB}={PREFIX}num",
        "--disable-exporting-key-values",
        home_db=3,
    )
    try:
        text = get_ok(exp)
        assert client_db(server) == 3
        text = get_ok(exp)
    finally:
        exp.stop()
    assert success(text) == 1
    assert by(text, "redis_key_size", "key") == {"str": 5, "set": 3, "stream": 3, "num": 2}
    assert by(text, "redis_keys_count", "key") == {"*": len(KEYS) + 1}


def test_database_the_server_lacks(tmp_path, server, scratch):
    exp = start(tmp_path, server, f"--check-keys=db99={PREFIX}*,{DB}={PREFIX}n*")
    try:
        text = get_ok(exp)
        log = exp.log()
        home = client_db(server)
    finally:
        exp.stop()
    assert success(text) == 0  # said, not hidden
    assert by(text, "redis_key_size", "key") == {"num": 2}  # the rest is served
    assert "db99" in log and "keys" in log
    assert home == 0


# ---- permissions --------------------------------------------------------------------------------------


def _exporter_acl_entries(server: RedisServer) -> list[dict]:
    return [e for e in server.acl_log() if e.get("username") == server.exporter_user]


def test_exporter_acl_user_needs_nothing_more(tmp_path, server, scratch):
    flags = [
        f"--check-keys={DB}={PREFIX}*",
        f"--check-single-keys={DB}={PREFIX}missing",
        f"--count-keys={DB}={PREFIX}*",
        f"--check-streams={DB}={PREFIX}*",
        "--disable-exporting-key-values",
    ]
    if server.version_info < (7,):
        flags.append("--exclude-latency-histogram-metrics")  # no LATENCY HISTOGRAM before 7 (not ours)
    server.acl_log_reset()
    exp = start(tmp_path, server, *flags)
    try:
        get_ok(exp)
        text = get_ok(exp)
    finally:
        exp.stop()
    assert success(text) == 1
    assert by(text, "redis_key_size", "key")["hll"] == 3
    assert by(text, "redis_stream_length", "stream") == {STREAM: 3}
    assert not _exporter_acl_entries(server)


def test_refused_get_is_sent_once(tmp_path, server, scratch):
    """The fixture's ACL has no GET: key values fail (success 0), sizes are still served, and GET is
    not sent again, so the server's ACL log does not grow with every scrape."""
    flags = [f"--check-keys={DB}={PREFIX}*"]
    if server.version_info < (7,):
        flags.append("--exclude-latency-histogram-metrics")
    server.acl_log_reset()
    exp = start(tmp_path, server, *flags)
    try:
        first = get_ok(exp)
        refused = sum(int(e["count"]) for e in _exporter_acl_entries(server))
        text = get_ok(exp)
        log = exp.log()
    finally:
        exp.stop()
    assert success(first) == 0 and success(text) == 0
    assert by(text, "redis_key_size", "key")["str"] == 5
    assert "redis_key_value" not in types(text)
    entries = _exporter_acl_entries(server)
    assert {e["object"] for e in entries} == {"get"}, entries
    assert sum(int(e["count"]) for e in entries) == refused
    assert "GET refused" in log


def test_scrape_requests_do_not_choose_keys(tmp_path, server, scratch):
    """redis_exporter 1.45 takes check-keys & co. from /scrape's query string (anyone who reaches it
    can read any key); only our flags choose keys."""
    passwords = write_password_file(tmp_path / "passwords.json", {f"redis://{server.address}": server.password})
    exp = start_redis_exporter(
        tmp_path, "--scrape.allowed-targets=127.0.0.1:*", "--redis.addr=", env={"REDIS_PASSWORD_FILE": passwords}
    )
    try:
        text = get_ok(
            exp,
            scrape_path(server.address, **{"check-single-keys": f"{DB}={PREFIX}str", "check-keys": f"{DB}={PREFIX}*"}),
        )
    finally:
        exp.stop()
    assert value(text, "redis_up") == 1
    assert not [f for f in types(text) if f.startswith(("redis_key_", "redis_keys_"))]


def test_no_flags_no_work(tmp_path, redis7):
    exp = start(tmp_path, redis7)
    try:
        get_ok(exp)
        before = calls(redis7)
        text = get_ok(exp)
        after = calls(redis7)
    finally:
        exp.stop()
    assert success(text) == 1
    assert not [
        f
        for f in types(text)
        if f.startswith(
            ("redis_key_", "redis_keys_", "redis_stream_", "redis_exporter_last_key", "redis_exporter_key_checks")
        )
    ]
    assert delta(before, after, "scan") == delta(before, after, "select") == 0


# ---- beside redis_exporter 1.45 -------------------------------------------------------------------------

# families redis_exporter 1.45 lacks and we add (from newer upstream releases)
NEWER = {
    "redis_key_memory_usage_bytes",
    "redis_stream_group_lag",
    "redis_stream_group_entries_read",
    "redis_stream_first_entry_id",
    "redis_stream_last_entry_id",
    "redis_stream_max_deleted_entry_id",
    "redis_exporter_last_key_checks_duration_seconds",
    "redis_exporter_last_key_checks_scan_calls",
    "redis_exporter_key_checks_truncated_total",
}


def test_same_families_as_redis_exporter(tmp_path, server, scratch):
    flags = [
        f"--check-keys={DB}={PREFIX}*",
        f"--check-single-keys={DB}={PREFIX}missing",
        f"--count-keys={DB}={PREFIX}*",
        f"--check-single-streams={DB}={PREFIX}{STREAM}",
    ]
    go = start_go_redis_exporter(server, tmp_path, *flags)
    ours = start(tmp_path, server, *flags, "--disable-exporting-key-values")
    try:
        go_text, our_text = go.metrics(), get_ok(ours)
    finally:
        go.stop()
        ours.stop()

    def checks(text):
        return {
            n: t
            for n, t in types(text).items()
            if n.startswith(
                ("redis_key_", "redis_keys_", "redis_stream_", "redis_exporter_last_key", "redis_exporter_key_checks")
            )
        }

    go_types, our_types = checks(go_text), checks(our_text)
    # Go as the exporter user cannot GET: neither exports values here
    assert set(go_types) <= set(our_types), set(go_types) - set(our_types)
    assert set(our_types) - set(go_types) <= NEWER, set(our_types) - set(go_types)
    go_labels, our_labels = label_names(go_text), label_names(our_text)
    go_helps, our_helps = helps(go_text), helps(our_text)
    for name, kind in go_types.items():
        assert our_types[name] == kind, name
        assert our_labels[name] == go_labels[name], name
        assert our_helps[name] == go_helps[name], name
    # the same numbers, but a missing key: 0 from Go, nothing from us
    go_sizes = by(go_text, "redis_key_size", "key")
    assert go_sizes.pop("missing") == 0
    assert by(our_text, "redis_key_size", "key") == go_sizes
    for name, labels in (
        ("redis_keys_count", ("key",)),
        ("redis_stream_length", ("stream",)),
        ("redis_stream_groups", ("stream",)),
        ("redis_stream_last_generated_id", ("stream",)),
        ("redis_stream_group_consumers", ("group",)),
        ("redis_stream_group_messages_pending", ("group",)),
        ("redis_stream_group_last_delivered_id", ("group",)),
        ("redis_stream_group_consumer_messages_pending", ("group", "consumer")),
    ):
        assert by(our_text, name, *labels) == by(go_text, name, *labels), name


# ---- bad flags ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag,item",
    [
        ("--check-keys", "dbx=foo"),
        ("--check-single-keys", "db-1=foo"),
        ("--count-keys", "db1=a=b"),
        ("--check-streams", "db3=%zz"),
        ("--check-single-streams", "db4="),
        ("--check-keys", "db99999999999=k"),
    ],
)
def test_malformed_pattern_stops_startup(flag, item):
    proc = subprocess.run(
        [sys.executable, "-m", "exporters", "redis", f"{flag}=ok,{item}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and repr(item) in lines[0], proc.stderr


def test_values_read_as_go_parses_numbers():
    """strconv.ParseFloat's reading, checked against redis_exporter 1.45 by hand (see docs/redis.md)."""
    from exporters.redis.keys import go_float

    numbers = {
        "42": 42,
        "+5": 5,
        ".5": 0.5,
        "5.": 5,
        "1_000": 1000,
        "1E+2": 100,
        "00012": 12,
        "0x1p4": 16,
        "0x_1p4": 16,
        "1e-400": 0,
        "Inf": float("inf"),
        "-infinity": float("-inf"),
    }
    for text, number in numbers.items():
        assert go_float(text) == number, text
    assert go_float("nan") != go_float("nan")  # NaN
    for text in ("hello", "", " 7", "7 ", "1__0", "_1", "0x10", "0b101", "0o7", "+NaN", "1e400", "infinit"):
        assert go_float(text) is None, text


# ---- issue 16: the reads of many keys within the scrape deadline --------------------------------------
MANY = 100_000  # keys whose reads take seconds: far more than a 0.5 s deadline


@pytest.mark.parametrize("header", [1.0, 3.0])
def test_key_reads_that_overrun_serve_the_keys_read_so_far(tmp_path, redis7, header):
    write_bulk(redis7, MANY)
    try:
        exp = start(
            tmp_path,
            redis7,
            f"--check-keys={DB}={PREFIX}bulk:*",
            f"--check-keys.max-keys={MANY}",
            "--scrape.timeout=30",
            admin=True,
        )
        try:
            get_ok(exp, timeout_header=header)  # connected, warm
            started = time.monotonic()
            text = get_ok(exp, timeout_header=header)  # deadline: the header less 0.5 s (offset)
            took = time.monotonic() - started
            home = client_db(redis7)
        finally:
            exp.stop()
    finally:
        with redis7.client(db=SCRATCH_DB) as c:
            _delete_ours(c)
    print(f"{header} s header answered in {took:.2f} s")
    assert took < header, took  # answered before Prometheus would give up
    assert success(text) == 1 and value(text, "redis_up") == 1
    sizes = by(text, "redis_key_size", "key")
    assert sizes and set(sizes.values()) == {1.0}  # what was read is served
    truncated = value(text, "redis_exporter_key_checks_truncated_total", flag="check-keys", reason="deadline")
    if header == 1.0:  # 100,000 keys never fit in the 0.4 s of reads: both scrapes stop at the deadline
        assert len(sizes) < MANY and truncated == 2
        assert "check-keys on" in exp.log() and exp.log().count("the keys read so far are served") == 1
    else:  # the case (a 3 s header was answered in 3.6 s): on a fast machine every key now fits
        assert len(sizes) == MANY or truncated >= 1
    assert home == 0  # the kept connection survived, in its own database
