"""Key groups (--check-key-groups, --max-distinct-key-groups) and the largest keys
(--top-keys-by-memory) on real servers: Redis 6.2, Redis 7.0 and Valkey 8.1, beside Debian 13's
redis_exporter 1.69 run with the same flags.

Every key this module writes is in SCRATCH_DB under PREFIX and deleted afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, newer_go_binary, samples, start_go_exporter, value

from .conftest import SCRATCH_DB, SERVER_FIXTURES, GoRedisExporter, RedisServer
from .test_exporter import as_exporter_user, get_ok, helps, label_names, start_redis_exporter, types

PREFIX = "flextime:kg:"
DB = f"db{SCRATCH_DB}"
# group -> keys; "user" keys are larger, so "user" has the most memory
GROUP_KEYS = {"user": 6, "session": 4, "cart": 2, "job": 1}
PATTERNS = f"^{PREFIX}(%a+):"  # ^flextime:kg:(%a+):
GROUP_FAMILIES = ("redis_key_group_count", "redis_key_group_memory_usage_bytes", "redis_number_of_distinct_key_groups")


def start_go169(server: RedisServer, log_dir: Path, *args: str, admin: bool = True) -> GoRedisExporter:
    """Debian 13's redis_exporter 1.69 on a free loopback port, scraping ``server``; as the default
    user (``admin``: its key groups and scripts need EVAL) or as the ``exporter`` ACL user."""
    binary = newer_go_binary("prometheus-redis-exporter")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "http_", "https_", "HTTP"))}
    env.update(REDIS_ADDR=f"redis://{server.address}")
    env.update({"REDIS_PASSWORD": server.password} if admin else as_exporter_user(server))
    return start_go_exporter(
        binary,
        *args,
        log_path=log_dir / f"redis_exporter-1.69-{server.name}.log",
        env=env,
        wait_path="/",
        cls=GoRedisExporter,
        server=server,
    )


def start(tmp_path, server: RedisServer, *flags: str, admin: bool = False):
    env = {"REDIS_ADDR": f"redis://{server.address}"}
    env.update({"REDIS_PASSWORD": server.password} if admin else as_exporter_user(server))
    return start_redis_exporter(tmp_path, *flags, env=env)


@pytest.fixture(params=SERVER_FIXTURES)
def server(request) -> RedisServer:
    return request.getfixturevalue(request.param)


def _delete_ours(client) -> None:
    stale = list(client.scan_iter(match=PREFIX + "*", count=1000))
    for i in range(0, len(stale), 1000):
        client.delete(*stale[i : i + 1000])


@pytest.fixture
def grouped(server: RedisServer):
    """GROUP_KEYS in SCRATCH_DB, plus 3 keys no pattern matches and one large list; deleted afterwards."""
    with server.client(db=SCRATCH_DB) as c:
        _delete_ours(c)
        pipe = c.pipeline(transaction=False)
        for group, n in GROUP_KEYS.items():
            for i in range(n):
                pipe.set(f"{PREFIX}{group}:{i}", ("x" * 200) if group == "user" else "v")
        for i in range(3):
            pipe.set(f"{PREFIX}{i}", "v")
        pipe.rpush(f"{PREFIX}big", *(f"item-{i}" for i in range(2000)))
        pipe.execute()
        try:
            yield c
        finally:
            _delete_ours(c)


def in_db(text: str, name: str) -> dict:
    """{label tuple without db: value} of ``name`` in SCRATCH_DB."""
    out = {}
    for (sample, pairs), v in samples(text).items():
        d = dict(pairs)
        if sample == name and d.get("db") == DB:
            out[tuple(v for k, v in pairs if k != "db")] = v
    return out


def group_samples(text: str) -> dict:
    return {k: v for k, v in samples(text).items() if k[0] in GROUP_FAMILIES}


@pytest.mark.parametrize("max_groups", [100, 2, 0])
def test_key_groups_like_redis_exporter_169(tmp_path, server, grouped, max_groups):
    flags = [f"--check-key-groups={PATTERNS}", f"--max-distinct-key-groups={max_groups}"]
    go = start_go169(server, tmp_path, *flags)
    ours = start(tmp_path, server, *flags)  # the exporter ACL user: SCAN and MEMORY USAGE, no EVAL
    try:
        go_text, our_text = go.metrics(), get_ok(ours)
    finally:
        go.stop()
        ours.stop()
    assert value(our_text, "redis_scrape_collector_success", collector="key_groups") == 1
    # every database: the same groups, counts, bytes and distinct counts (the keys seeded into db0, db1
    # and db5 are 'unclassified'), 0 distinct groups for the empty databases
    assert group_samples(our_text) == group_samples(go_text)
    counts = in_db(our_text, "redis_key_group_count")
    if max_groups == 100:
        assert counts == {("user",): 6, ("session",): 4, ("cart",): 2, ("job",): 1, ("unclassified",): 4}
    elif max_groups == 2:  # the two groups with the most memory, the rest summed in 'overflow'
        assert set(counts) == {("unclassified",), ("user",), ("overflow",)}, counts
        assert counts[("overflow",)] == 4 + 2 + 1
    else:  # 0, as redis_exporter takes it: every group summed in 'overflow'
        assert counts == {("overflow",): 6 + 4 + 2 + 1 + 4}
    assert in_db(our_text, "redis_number_of_distinct_key_groups") == {(): 5}
    for name in (*GROUP_FAMILIES, "redis_last_key_groups_scrape_duration_milliseconds"):
        assert types(our_text)[name] == types(go_text)[name] == "gauge", name
        assert label_names(our_text)[name] == label_names(go_text)[name], name
        assert helps(our_text)[name] == helps(go_text)[name], name


def test_duration_family_without_the_flag(tmp_path, redis7):
    """redis_exporter 1.69 exports redis_last_key_groups_scrape_duration_milliseconds always; so do we,
    without walking anything."""
    before = redis7.info("commandstats").get("cmdstat_scan")
    exp = start(tmp_path, redis7)
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert value(text, "redis_last_key_groups_scrape_duration_milliseconds") == 0
    assert redis7.info("commandstats").get("cmdstat_scan") == before
    assert not any(n.startswith(("redis_key_group", "redis_top_key")) for n in types(text))


def test_walk_goes_on_across_scrapes_and_never_exports_a_partial_count(tmp_path, redis7):
    n = 20_000
    with redis7.client(db=SCRATCH_DB) as c:
        _delete_ours(c)
        for start_ in range(0, n, 5000):
            pipe = c.pipeline(transaction=False)
            for i in range(start_, start_ + 5000):
                pipe.set(f"{PREFIX}bulk:{i}", "1")
            pipe.execute()
        exp = start(
            tmp_path,
            redis7,
            f"--check-key-groups=^{PREFIX}(%a+):",
            "--check-keys-batch-size=5",
            "--top-keys-by-memory=3",
        )
        try:
            first = get_ok(exp, timeout_header=1.0)  # 0.5 s deadline, a quarter second of walking
            texts = [first]
            for _ in range(200):  # each scrape goes on from the cursor; bounded
                if in_db(texts[-1], "redis_exporter_key_walks_completed_total"):
                    break
                texts.append(get_ok(exp, timeout_header=1.0))
            assert value(first, "redis_up") == 1
            assert value(first, "redis_scrape_collector_success", collector="key_groups") == 1
            assert in_db(first, "redis_key_group_count") == {}  # not a partial count
            assert 0 < in_db(first, "redis_exporter_key_walk_scanned_keys")[()] < n
            assert value(first, "redis_last_key_groups_scrape_duration_milliseconds") < 500
            done = texts[-1]
            assert len(texts) > 1 and in_db(done, "redis_exporter_key_walks_completed_total") == {(): 1}, len(texts)
            # SCAN may return a key twice when the table grows during a walk; not here (no writes)
            assert in_db(done, "redis_key_group_count") == {("bulk",): n}
            assert len(in_db(done, "redis_top_key_memory_usage_bytes")) == 3
            assert in_db(done, "redis_exporter_key_walk_scanned_keys") == {(): 0}
        finally:
            exp.stop()
            _delete_ours(c)


def test_top_keys_by_memory(tmp_path, server, grouped):
    exp = start(tmp_path, server, "--top-keys-by-memory=3")
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    top = in_db(text, "redis_top_key_memory_usage_bytes")
    expected = {f"{PREFIX}big", *(f"{PREFIX}user:{i}" for i in range(6))}
    assert len(top) == 3 and {k for (k,) in top} <= expected, top
    assert (f"{PREFIX}big",) in top
    assert top[(f"{PREFIX}big",)] == grouped.memory_usage(f"{PREFIX}big")
    assert not any(n.startswith("redis_key_group") for n in types(text))  # no key groups asked for
    for db_label in {dict(p)["db"] for (n, p) in samples(text) if n == "redis_top_key_memory_usage_bytes"}:
        assert (
            len(
                [1 for (n, p) in samples(text) if n == "redis_top_key_memory_usage_bytes" and dict(p)["db"] == db_label]
            )
            <= 3
        )


@pytest.mark.parametrize(
    "pattern,reason",
    [
        ("^(user", "unfinished capture"),
        ("user)", "invalid pattern capture"),
        ("[abc", "missing ']'"),
        ("user%", "ends with '%'"),
        ("(a)%2", "invalid capture index"),
    ],
)
def test_invalid_key_group_pattern_stops_startup(pattern, reason):
    proc = subprocess.run(
        [sys.executable, "-m", "exporters", "redis", f"--check-key-groups=^(ok):,{pattern}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--check-key-groups" in lines[0] and repr(pattern) in lines[0], proc.stderr
    assert reason in lines[0]


def test_lua_patterns_group_as_redis_lua_does(redis7):
    """The translation against Redis' own Lua string.find, on keys with bytes of every kind."""
    from exporters.redis.key_groups import lua_pattern

    script = (
        "local m = {string.find(ARGV[1], ARGV[2])} if m[1] == nil then return false end "
        'return table.concat({unpack(m, 3, #m)}, "")'
    )
    keys = [
        "user_1:abc-12-xy:z.a",
        "a]b",
        "session:99",
        "  x",
        "",
        "%q",
        "GgG",
        "abc\x00d",
        "über:1",
        "a-b-c",
        "tab\there",
        "UP:low:42",
    ]
    patterns = [
        "^(user):",
        "^(%a+)",
        "(%d+)-(%w+)",
        "^([^:]+):()",
        "a[]]b",
        "[%a_]+",
        "^(.-):(.*)$",
        "x%.y",
        "(%S+)",
        "%g",
        "([%d%-]+)",
        "^(.)(.)%2",
        "[^%a]",
        "(%u+)",
        "([a-c]+)-",
        "(.*)x?$",
        "^(%s*)(.+)",
        "(%z)",
        "ü(.)",
        "(%p)",
        "(%c)",
        "([%x]+)$",
        "^(%l+):(%u?)",
        "(.+)%:",
        "^[^:]*:([^:]*)",
    ]
    with redis7.client(decode_responses=False) as c:
        for p in patterns:
            ours = lua_pattern(p)
            for k in keys:
                lua = c.eval(script, 0, k, p)
                theirs = None if lua is None else lua.decode("latin-1")
                assert ours.group(k.encode().decode("latin-1")) == theirs, (p, k)


def test_single_dash_spelling(tmp_path, redis7):
    """redis_exporter's Go flags are written with one dash; the value flags of this module take it too."""
    script = tmp_path / "one.lua"
    script.write_text('return {"one", "1"}\n')
    exp = start(
        tmp_path,
        redis7,
        f"-check-key-groups=^({PREFIX}):",
        "-max-distinct-key-groups=1",
        f"-script={script}",
        admin=True,
    )
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    assert "redis_number_of_distinct_key_groups" in types(text)
    assert value(text, "redis_script_values", key="one", filename=str(script)) == 1


def test_walks_take_turns_between_databases(tmp_path, redis7):
    """Two large databases: the one whose walk was cut short goes first at the next scrape, so neither
    starves: both complete a walk, and the first completes once more only after the second's turn."""
    n, second = 10_000, SCRATCH_DB + 1
    clients = [redis7.client(db=SCRATCH_DB), redis7.client(db=second)]
    try:
        for c in clients:
            _delete_ours(c)
            pipe = c.pipeline(transaction=False)
            for i in range(n):
                pipe.set(f"{PREFIX}turn:{i}", "1")
            pipe.execute()
        exp = start(tmp_path, redis7, f"--check-key-groups=^{PREFIX}(%a+):", "--check-keys-batch-size=1")
        try:
            history = []
            for _ in range(300):  # bounded
                text = get_ok(exp, timeout_header=1.0)
                done = {
                    d: v
                    for (name, labels), v in samples(text).items()
                    if name == "redis_exporter_key_walks_completed_total"
                    for d in [dict(labels)["db"]]
                    if d in (DB, f"db{second}")
                }
                history.append(done)
                if len(done) == 2:
                    break
        finally:
            exp.stop()
    finally:
        for c in clients:
            _delete_ours(c)
            c.close()
    assert len(history) > 4, history  # cut short: each walk took several scrapes
    # the second database's first walk completed before the first database walked again
    assert history[-1] == {DB: 1, f"db{second}": 1}, history[-1]
    assert value(text, "redis_key_group_count", db=DB, key_group="turn") == n
    assert value(text, "redis_key_group_count", db=f"db{second}", key_group="turn") == n
