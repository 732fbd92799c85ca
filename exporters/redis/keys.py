"""Key and stream checks: --check-keys, --check-single-keys, --count-keys, --check-streams,
--check-single-streams, with redis_exporter's names, types and labels.

What redis_exporter's users hit (its #319 hangs, #536 slow with 175 keys, #891 missing keys
exported as 0, #381 SCAN COUNT), and what this does instead:
- SCAN is bounded in every scrape: at most ``--check-keys.max-keys`` keys per flag, and SCAN calls
  stop at :data:`SCAN_SHARE` of the time left in the scrape, leaving the rest for the sizes and
  for the other collectors. A cut-short scan counts in ``redis_exporter_key_checks_truncated_total``.
- A key that does not exist (TYPE ``none``) gives no series at all, not a 0.
- Few round trips: per database, the SCAN calls (one each), then one pipeline of TYPE and MEMORY
  USAGE for every key, then one of the size and value commands.
- The connection is shared with the other collectors, so every pipeline that needs another
  database starts with SELECT of it and ends with SELECT of the connection's own database: the
  connection is never left in a foreign database, whatever fails in between (a pipeline cut
  mid-reply drops the connection).
- Patterns are parsed when the flags are read: a malformed one stops start-up (exit 2).
"""

from __future__ import annotations

import contextvars
import logging
import math
import re
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from ..core.collector import Flag, PartialFailure
from ..core.metrics import counter, gauge
from ..core.scrape import remaining_seconds
from .registry import RedisCollector, pairs, redis_collectors, text
from .session import CommandFailed, TargetDown

log = logging.getLogger("exporters.redis")

SCAN_SHARE = 0.5  # share of the scrape's remaining time the SCAN calls may use
READ_SHARE = 0.8  # ... the SCAN calls and the reads of the keys found, together: the rest is for rendering
READ_CHUNK = 500  # keys (or streams) read per round trip: what is read is served when time runs out
VALUE_MAX_BYTES = 4096  # strings whose MEMORY USAGE is larger are not read with GET
MAX_DB = 2**31 - 1  # SELECT takes a C int; whether the server has the db shows at the first scrape

# --- families: redis_exporter's names, HELP, types and labels ---------------------------------
KEY_SIZE = gauge("redis_key_size", 'The length or size of "key"', "db", "key")
KEY_VALUE = gauge("redis_key_value", 'The value of "key"', "db", "key")
KEY_VALUE_AS_STRING = gauge("redis_key_value_as_string", 'The value of "key" as a string', "db", "key", "val")
KEY_MEMORY = gauge("redis_key_memory_usage_bytes", 'The memory usage of "key" in bytes', "db", "key")
KEYS_COUNT = gauge("redis_keys_count", "Count of keys", "db", "key")

STREAM = ("db", "stream")
GROUP = ("db", "stream", "group")
CONSUMER = ("db", "stream", "group", "consumer")
# XINFO field -> family; ids ("1700000000000-0") become their milliseconds, as redis_exporter does
STREAM_FIELDS = {
    "length": gauge("redis_stream_length", "The number of elements of the stream", *STREAM),
    "radix-tree-keys": gauge("redis_stream_radix_tree_keys", 'Radix tree keys count"', *STREAM),
    "radix-tree-nodes": gauge("redis_stream_radix_tree_nodes", "Radix tree nodes count", *STREAM),
    "last-generated-id": gauge(
        "redis_stream_last_generated_id", "The epoch timestamp (ms) of the latest message on the stream", *STREAM
    ),
    "groups": gauge("redis_stream_groups", "Groups count of stream", *STREAM),
    "max-deleted-entry-id": gauge(
        "redis_stream_max_deleted_entry_id",
        "The epoch timestamp (ms) of last message was deleted from the stream",
        *STREAM,
    ),
    "first-entry": gauge(
        "redis_stream_first_entry_id", "The epoch timestamp (ms) of the first message in the stream", *STREAM
    ),
    "last-entry": gauge(
        "redis_stream_last_entry_id", "The epoch timestamp (ms) of the last message in the stream", *STREAM
    ),
}
GROUP_FIELDS = {
    "consumers": gauge("redis_stream_group_consumers", "Consumers count of stream group", *GROUP),
    "pending": gauge("redis_stream_group_messages_pending", "Pending number of messages in that stream group", *GROUP),
    "last-delivered-id": gauge(
        "redis_stream_group_last_delivered_id", "The epoch timestamp (ms) of the last delivered message", *GROUP
    ),
    "entries-read": gauge(
        "redis_stream_group_entries_read", "Total number of entries read from the stream group", *GROUP
    ),
    "lag": gauge(
        "redis_stream_group_lag",
        "The number of messages waiting to be delivered to the stream group's consumers",
        *GROUP,
    ),
}
CONSUMER_FIELDS = {
    "pending": gauge(
        "redis_stream_group_consumer_messages_pending",
        "Pending number of messages for this specific consumer",
        *CONSUMER,
    ),
    "idle": gauge("redis_stream_group_consumer_idle_seconds", "Consumer idle time in seconds", *CONSUMER),
}
ID_FIELDS = {"last-generated-id", "max-deleted-entry-id", "first-entry", "last-entry", "last-delivered-id"}

# our own: what the checks cost, and when they were cut short
CHECK_DURATION = gauge(
    "redis_exporter_last_key_checks_duration_seconds",
    "Seconds the key, count and stream checks took in the last scrape.",
)
SCAN_CALLS = gauge(
    "redis_exporter_last_key_checks_scan_calls",
    "SCAN calls (one round trip each) of the key, count and stream checks in the last scrape.",
)
TRUNCATED = counter(
    "redis_exporter_key_checks_truncated_total",
    "Scrapes whose checks for a flag stopped early: more keys matched than --check-keys.max-keys "
    "(reason max_keys), or the scrape's time share for SCAN or for reading the keys ran out (reason "
    "deadline; the keys read so far are served).",
    "flag",
    "reason",
)

# TYPE -> the command that gives its size; strings are PFCOUNT (HyperLogLog) else STRLEN
SIZE_COMMANDS = {"list": "LLEN", "set": "SCARD", "zset": "ZCARD", "hash": "HLEN", "stream": "XLEN"}
GLOB = re.compile(r"[?*\[\]^]")  # redis_exporter's test for "this is a pattern, SCAN for it"
# --is-cluster: the session of the node this task's commands go to, and the primaries SCAN walks
_NODE: contextvars.ContextVar = contextvars.ContextVar("redis_key_node", default=None)
_PRIMARIES: contextvars.ContextVar = contextvars.ContextVar("redis_key_primaries", default=None)
_SCAN: contextvars.ContextVar = contextvars.ContextVar("redis_key_scan", default=None)  # this scrape's Scan


# --- flags ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyPattern:
    """One ``[dbN=]key-or-glob`` of a key list flag, URL-unescaped as redis_exporter does."""

    db: int
    key: bytes

    @property
    def label(self) -> str:
        return text(self.key)

    @property
    def is_glob(self) -> bool:
        return bool(GLOB.search(self.label))


_DB = re.compile(r"(?:db)?(\d+)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def key_list(value) -> tuple[KeyPattern, ...]:
    """A comma list of ``[dbN=]key``: the db defaults to 0 and the key is URL-unescaped. Raises
    ValueError naming the item (the flag parser names the flag)."""
    if isinstance(value, tuple):
        return value
    out = []
    for item in str(value or "").split(","):
        if not item.strip():
            continue
        parts = item.split("=")
        if len(parts) > 2:
            raise ValueError(f"{item!r}: expected [dbN=]key, with one '='")
        db_text, key_text = ("0", parts[0]) if len(parts) == 1 else parts
        m = _DB.fullmatch(db_text.strip())
        if not m or int(m.group(1)) > MAX_DB:
            raise ValueError(f"{item!r}: the database must be dbN or N, N from 0 to {MAX_DB}")
        key_text = key_text.strip()
        if _BAD_ESCAPE.search(key_text):
            raise ValueError(f"{item!r}: '%' must start a %XX escape (URL encoding)")
        key = unquote_to_bytes(key_text.replace("+", " "))
        if not key:
            raise ValueError(f"{item!r}: the key is empty")
        out.append(KeyPattern(int(m.group(1)), key))
    return tuple(dict.fromkeys(out))


def at_least_one(value) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value!r}: must be at least 1")
    return number


def _key_flag(flag: str, dest: str, help: str) -> Flag:
    return Flag(flag, dest, help, default="", type=key_list, metavar="[dbN=]KEY,...")


FLAGS = (
    _key_flag(
        "--check-keys",
        "check_keys",
        "Comma list of [dbN=]key-or-glob to export the size, memory usage and value of; globs are "
        "expanded with SCAN (at most --check-keys.max-keys keys).",
    ),
    _key_flag(
        "--check-single-keys",
        "check_single_keys",
        "Comma list of [dbN=]key to export the size, memory usage and value of, without SCAN.",
    ),
    _key_flag(
        "--count-keys",
        "count_keys",
        "Comma list of [dbN=]glob whose matching keys are counted with SCAN (redis_keys_count).",
    ),
    _key_flag(
        "--check-streams",
        "check_streams",
        "Comma list of [dbN=]glob of streams (found with SCAN ... TYPE stream) to export the stream, group "
        "and consumer metrics of (at most --check-keys.max-keys streams).",
    ),
    _key_flag(
        "--check-single-streams",
        "check_single_streams",
        "Comma list of [dbN=]stream to export the stream, group and consumer metrics of, without SCAN.",
    ),
    Flag(
        "--streams-exclude-consumer-metrics",
        "streams_exclude_consumer_metrics",
        "Leave out the per-consumer stream metrics (no XINFO CONSUMERS).",
        default=False,
        type=bool,
    ),
    Flag(
        "--check-keys-batch-size",
        "check_keys_batch_size",
        "COUNT of each SCAN call: keys Redis looks at per call (larger: fewer round trips, longer calls).",
        default=1000,
        type=at_least_one,
        metavar="N",
    ),
    Flag(
        "--check-keys.max-keys",
        "check_keys_max_keys",
        "Most keys --check-keys, and most streams --check-streams, take from SCAN in one scrape; SCAN stops "
        "beyond it and redis_exporter_key_checks_truncated_total counts the scrape.",
        default=1000,
        type=at_least_one,
        metavar="N",
    ),
    Flag(
        "--disable-exporting-key-values",
        "disable_exporting_key_values",
        "Do not read the values of checked keys (no GET): no redis_key_value, no redis_key_value_as_string.",
        default=False,
        type=bool,
    ),
    Flag(
        "--is-cluster",
        "is_cluster",
        "The target is a Redis Cluster node: key and stream checks SCAN every primary and read each key from the "
        "primary owning its slot (CLUSTER SLOTS each scrape); /discover-cluster-nodes lists the nodes.",
        default=False,
        type=bool,
    ),
)


# --- values as Go's strconv.ParseFloat reads them ------------------------------------------------
_D = r"\d(?:_?\d)*"
_H = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_DECIMAL = re.compile(rf"[+-]?(?:{_D}(?:\.(?:{_D})?)?|\.{_D})(?:[eE][+-]?{_D})?")
_HEX = re.compile(rf"[+-]?0[xX](?:_?{_H}(?:\.(?:{_H})?)?|\.{_H})[pP][+-]?{_D}")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


def go_float(value: str) -> float | None:
    """The number redis_exporter makes of a string value, or None when it exports the string instead
    (no spaces, '_' only between digits, hex needs a p exponent, out of range is not a number)."""
    if _SPECIAL.fullmatch(value):
        return float(value)
    try:
        if _DECIMAL.fullmatch(value):
            number = float(value.replace("_", ""))
            return None if math.isinf(number) else number
        if _HEX.fullmatch(value):
            return float.fromhex(value.replace("_", ""))
    except (OverflowError, ValueError):
        pass
    return None


def stream_id_ms(value) -> float | None:
    """The milliseconds of a stream id ("1700000000000-0"), as redis_exporter exports ids."""
    if isinstance(value, list):  # first-entry / last-entry: [id, [field, value, ...]]
        value = value[0] if value else None
    if value is None:
        return None
    try:
        return float(text(value).split("-")[0])
    except ValueError:
        return None


def refusal(reply) -> bool:
    """A reply that says the server will not run the command at all (ACL, renamed or missing
    command), as opposed to one about this key (WRONGTYPE, no such key)."""
    words = str(reply).lower()
    return isinstance(reply, CommandFailed) and ("noperm" in words or "unknown command" in words)


# --- one scrape ------------------------------------------------------------------------------------
class SelectRefused(Exception):
    """SELECT of a pattern's database failed (no such database, a cluster node): skip its patterns."""


class OutOfTime(Exception):
    """The SCAN calls have used their share of the scrape's time."""


async def in_db(session, db: int, *commands: tuple) -> list:
    """``commands`` in database ``db``, one round trip: SELECT db first, SELECT back last, so the
    shared connection is never left in a foreign database."""
    home = session.target.db
    if db == home:
        return await session.execute(*commands)
    replies = await session.execute(("SELECT", db), *commands, ("SELECT", home))
    if isinstance(replies[0], Exception):
        raise SelectRefused(f"db{db}: {replies[0]}")
    return replies[1:-1]


@dataclass
class Scan:
    """The bounds and the cost of one scrape's SCAN calls."""

    deadline: float
    batch: int
    reads_until: float = float("inf")  # the reads of keys and streams stop here (time.monotonic())
    calls: int = 0
    truncated: set = field(default_factory=set)  # (flag, reason)


@redis_collectors.register
class KeysCollector(RedisCollector):
    name = "keys"
    description = (
        "Key and stream checks: --check-keys, --check-single-keys, --count-keys, --check-streams, "
        "--check-single-streams (nothing without them). SCAN is bounded by --check-keys.max-keys and "
        "by half the scrape's remaining time."
    )
    metrics = (
        KEY_SIZE,
        KEY_VALUE,
        KEY_VALUE_AS_STRING,
        KEY_MEMORY,
        KEYS_COUNT,
        *STREAM_FIELDS.values(),
        *GROUP_FIELDS.values(),
        *CONSUMER_FIELDS.values(),
        CHECK_DURATION,
        SCAN_CALLS,
        TRUNCATED,
    )
    flags = FLAGS

    def __init__(self, settings) -> None:
        super().__init__(settings)
        s = settings
        self.check_keys = key_list(s.get("check_keys"))
        self.single_keys = key_list(s.get("check_single_keys"))
        self.count_keys = key_list(s.get("count_keys"))
        self.check_streams = key_list(s.get("check_streams"))
        self.single_streams = key_list(s.get("check_single_streams"))
        self.consumers = not s.get("streams_exclude_consumer_metrics", False)
        self.values = not s.get("disable_exporting_key_values", False)
        self.batch = at_least_one(s.get("check_keys_batch_size", 1000))
        self.max_keys = at_least_one(s.get("check_keys_max_keys", 1000))
        self.active = any((self.check_keys, self.single_keys, self.count_keys, self.check_streams, self.single_streams))
        # the flags that SCAN, and why each may stop early (count-keys has no key limit: it keeps no keys)
        scanned = {
            "check-keys": any(p.is_glob for p in self.check_keys),
            "check-streams": any(p.is_glob for p in self.check_streams),
            "count-keys": bool(self.count_keys),
        }
        self.truncated_total = {
            (flag, reason): 0
            for flag, scans in scanned.items()
            if scans
            for reason in (("deadline",) if flag == "count-keys" else ("deadline", "max_keys"))
        }
        self.refused: dict[str, str] = {}  # optional commands (GET, MEMORY) the server refused: not sent again
        self._logged_truncation: set = set()
        self.is_cluster = bool(s.get("is_cluster", False))
        self.cluster = None  # cluster.Cluster, made at the first scrape with --is-cluster

    async def collect(self):
        if not self.active:
            return []
        started = time.monotonic()
        left = min(remaining_seconds(), self.session.timeout)
        scan = Scan(started + SCAN_SHARE * left, self.batch, started + READ_SHARE * left)
        _SCAN.set(scan)
        problems: list[str] = []
        out = {d.name: d.family() for d in self.metrics}
        if self.is_cluster:
            await self._cluster_primaries(problems)
        if self.check_keys or self.single_keys:
            keys = await self._expand(scan, "check-keys", self.single_keys, self.check_keys, None, problems)
            for db, names in keys.items():
                if names:
                    await self._on_owners(self._check_keys, db, names, out, problems)
        if self.check_streams or self.single_streams:
            streams = await self._expand(
                scan, "check-streams", self.single_streams, self.check_streams, "stream", problems
            )
            for db, names in streams.items():
                if names:
                    await self._on_owners(self._check_streams, db, names, out, problems)
        for pattern in self.count_keys:
            await self._count(scan, pattern, out, problems)
        self._report(scan, started, out)
        families = [f for f in out.values() if f.samples]
        if problems or self.refused:
            raise PartialFailure("; ".join(dict.fromkeys([*problems, *self.refused.values()])), families)
        return families

    # ---- the connection ----------------------------------------------------------------------------
    async def _in_db(self, db: int, *commands: tuple) -> list:
        return await in_db(_NODE.get() or self.session, db, *commands)

    # ---- --is-cluster ---------------------------------------------------------------------------------
    async def _cluster_primaries(self, problems: list[str]) -> None:
        """Read the slot map and connect to every primary (kept); SCAN walks them all in this scrape."""
        from .cluster import Cluster

        if self.cluster is None:
            self.cluster = Cluster(self.session)
        await self.cluster.refresh()
        _PRIMARIES.set(await self.cluster.primaries(problems))

    async def _on_owners(self, check, db: int, names: dict, out, problems) -> None:
        """``check`` of ``names``: on the target, or with --is-cluster on each key's primary, one group each."""
        if not self.is_cluster:
            await check(db, names, out, problems)
            return
        for address, keys in self.cluster.route(names).items():
            if address is None:
                problems.append(f"{len(keys)} key(s) in slots no primary serves")
                continue
            try:
                node = await self.cluster.node(address)
            except TargetDown as exc:  # down, or not allowed: that node's keys are left out
                problems.append(str(exc))
                continue
            token = _NODE.set(node)
            try:
                await check(db, dict.fromkeys(keys), out, problems)
            except TargetDown as exc:
                problems.append(str(exc))
            finally:
                _NODE.reset(token)

    # ---- SCAN ---------------------------------------------------------------------------------------
    async def _scan(self, scan: Scan, db: int, pattern: bytes, type_: str | None):
        """The keys SCAN MATCH finds, call by call, until the cursor comes back to 0. Raises OutOfTime
        when the scrape's SCAN share is spent before that; the caller stops early for --check-keys.max-keys."""
        for node in _PRIMARIES.get() or [self.session]:  # --is-cluster: every primary's keys, one after another
            cursor = b"0"
            while True:
                if time.monotonic() >= scan.deadline:
                    raise OutOfTime()
                cmd = ("SCAN", cursor, "MATCH", pattern, "COUNT", scan.batch) + (("TYPE", type_) if type_ else ())
                (reply,) = await in_db(node, db, cmd)
                scan.calls += 1
                if isinstance(reply, Exception):
                    raise reply
                cursor, found = reply
                for key in found:
                    yield key
                if cursor in (b"0", 0):
                    break

    async def _expand(self, scan: Scan, flag: str, singles, patterns, type_, problems) -> dict[int, dict]:
        """db -> {key: None}: the single keys, the literal patterns (no SCAN, as redis_exporter) and, up
        to --check-keys.max-keys, what SCAN finds for the globs; a key named twice is checked once."""
        keys: dict[int, dict] = {}
        for p in (*singles, *(p for p in patterns if not p.is_glob)):
            keys.setdefault(p.db, {})[p.key] = None
        matched = 0
        for p in (p for p in patterns if p.is_glob):
            names = keys.setdefault(p.db, {})
            try:
                async with aclosing(self._scan(scan, p.db, p.key, type_)) as found:
                    async for key in found:
                        if key in names:
                            continue
                        if matched >= self.max_keys:  # one more than allowed: there were more
                            scan.truncated.add((flag, "max_keys"))
                            return keys
                        names[key] = None
                        matched += 1
            except OutOfTime:
                scan.truncated.add((flag, "deadline"))
                return keys
            except (SelectRefused, CommandFailed) as exc:
                problems.append(f"{flag} {p.label!r}: {exc}")
        return keys

    async def _count(self, scan: Scan, p: KeyPattern, out, problems) -> None:
        """redis_keys_count: every key SCAN MATCH finds (as redis_exporter counts, a key SCAN returns
        twice during a rehash counts twice); no series when the time share ran out first."""
        count = 0
        try:
            async with aclosing(self._scan(scan, p.db, p.key, None)) as found:
                async for _ in found:
                    count += 1
        except OutOfTime:
            scan.truncated.add(("count-keys", "deadline"))
            return
        except (SelectRefused, CommandFailed) as exc:
            problems.append(f"count-keys {p.label!r}: {exc}")
            return
        out[KEYS_COUNT.name].add((f"db{p.db}", p.label), count)

    # ---- keys ---------------------------------------------------------------------------------------
    async def _chunked(self, flag: str, check, db: int, names: dict, out, problems) -> None:
        """``check`` of ``names`` READ_CHUNK at a time, while the scrape's read share lasts: when it
        runs out (or a read overruns the deadline) what was read is served and the truncation counted,
        instead of the whole collector missing the deadline."""
        scan = _SCAN.get()
        items = list(names)
        took = 0.0
        for start in range(0, len(items), READ_CHUNK):
            now = time.monotonic()
            if scan is not None and now + took > scan.reads_until:  # the next chunk would not fit
                scan.truncated.add((flag, "deadline"))
                return
            try:
                await check(db, items[start : start + READ_CHUNK], out, problems)
            except TargetDown as exc:
                if exc.cls != "timeout":
                    raise
                if scan is not None:
                    scan.truncated.add((flag, "deadline"))
                return
            took = time.monotonic() - now

    async def _check_keys(self, db: int, names: dict, out, problems) -> None:
        await self._chunked("check-keys", self._check_key_chunk, db, names, out, problems)

    async def _check_key_chunk(self, db: int, keys: list, out, problems) -> None:
        memory = "MEMORY" not in self.refused
        per_key = (lambda k: (("TYPE", k), ("MEMORY", "USAGE", k))) if memory else (lambda k: (("TYPE", k),))
        try:
            replies = await self._in_db(db, *(c for k in keys for c in per_key(k)))
        except SelectRefused as exc:
            problems.append(f"check-keys: {exc}")
            return
        step = 2 if memory else 1
        types, usages = replies[::step], (replies[1::step] if memory else [None] * len(keys))
        label = f"db{db}"
        plan = []  # (key, kind, its commands)
        for key, kind, usage in zip(keys, types, usages):
            if isinstance(kind, Exception):
                raise kind  # TYPE refused: nothing can be checked
            kind = text(kind)
            if kind == "none":
                continue  # missing: no series (redis_exporter exports 0, its #891)
            if isinstance(usage, int):
                out[KEY_MEMORY.name].add((label, text(key)), usage)
            elif refusal(usage):
                self._refuse("MEMORY", usage, "redis_key_memory_usage_bytes")
            if kind == "string":
                cmds = [("PFCOUNT", key), ("STRLEN", key)]  # PFCOUNT refuses any string but a HyperLogLog
                if (
                    self.values
                    and "GET" not in self.refused
                    and (not isinstance(usage, int) or usage <= VALUE_MAX_BYTES)
                ):
                    cmds.append(("GET", key))
            elif kind in SIZE_COMMANDS:
                cmds = [(SIZE_COMMANDS[kind], key)]
            else:
                continue  # a module's type (ReJSON-RL, ...): no size command; redis_exporter logs an error
            plan.append((key, kind, cmds))
        if not plan:
            return
        replies = iter(await self._in_db(db, *(c for _, _, cmds in plan for c in cmds)))
        for key, kind, cmds in plan:
            got = {c[0]: next(replies) for c in cmds}
            name = text(key)
            if kind == "string":
                hll = got["PFCOUNT"]
                size = hll if isinstance(hll, int) else got["STRLEN"]
                value = got.get("GET")
                if refusal(value):
                    self._refuse("GET", value, "key values")
                elif isinstance(value, bytes) and not isinstance(hll, int):
                    self._add_value(out, label, name, text(value))
            else:
                size = got[cmds[0][0]]
            if isinstance(size, int):
                out[KEY_SIZE.name].add((label, name), size)
            for reply in (got.get("PFCOUNT"), size):
                if refusal(reply):
                    problems.append(f"check-keys: {reply}")

    @staticmethod
    def _add_value(out, label: str, name: str, value: str) -> None:
        number = go_float(value)
        if number is None:
            out[KEY_VALUE_AS_STRING.name].add((label, name, value), 1)
        else:
            out[KEY_VALUE.name].add((label, name), number)

    def _refuse(self, command: str, exc: Exception, what: str) -> None:
        """An optional command the server refuses (an ACL without GET or MEMORY) is not sent again by
        this exporter process: one refusal in the server's ACL log, not one per key and scrape. The
        collector reports success 0 from then on, with this reason."""
        if command not in self.refused:
            self.refused[command] = f"{command} refused ({exc}): no {what} until restart"

    # ---- streams ------------------------------------------------------------------------------------
    async def _check_streams(self, db: int, names: dict, out, problems) -> None:
        await self._chunked("check-streams", self._check_stream_chunk, db, names, out, problems)

    async def _check_stream_chunk(self, db: int, streams: list, out, problems) -> None:
        try:
            replies = await self._in_db(
                db, *(c for s in streams for c in (("XINFO", "STREAM", s), ("XINFO", "GROUPS", s)))
            )
        except SelectRefused as exc:
            problems.append(f"check-streams: {exc}")
            return
        label = f"db{db}"
        groups_of = []  # (stream, group name): what XINFO CONSUMERS is asked about
        for stream, info, groups in zip(streams, replies[::2], replies[1::2]):
            if refusal(info) or refusal(groups):
                raise info if refusal(info) else groups
            if isinstance(info, Exception) or isinstance(groups, Exception):
                continue  # missing, or not a stream: no series (redis_exporter logs an error)
            name = text(stream)
            for field_name, value in pairs(info).items():
                self._add(out, STREAM_FIELDS, field_name, value, (label, name))
            for group in groups or []:
                fields = pairs(group)
                gname = text(fields.get("name", b""))
                for field_name, value in fields.items():
                    self._add(out, GROUP_FIELDS, field_name, value, (label, name, gname))
                groups_of.append((stream, gname))
        if not (self.consumers and groups_of):
            return
        replies = await self._in_db(db, *(("XINFO", "CONSUMERS", s, g) for s, g in groups_of))
        for (stream, gname), consumers in zip(groups_of, replies):
            if isinstance(consumers, Exception):
                continue  # the stream or group went away since XINFO GROUPS
            for consumer in consumers or []:
                fields = pairs(consumer)
                labels = (label, text(stream), gname, text(fields.get("name", b"")))
                for field_name, value in fields.items():
                    self._add(out, CONSUMER_FIELDS, field_name, value, labels)

    @staticmethod
    def _add(out, table: dict, field_name: str, value, labels: tuple) -> None:
        """One XINFO field as its family, when the table has it and the server gave a value (Redis 7
        adds lag and entries-read; lag is nil when Redis cannot tell)."""
        d = table.get(field_name)
        if d is None or value is None:
            return
        if field_name in ID_FIELDS:
            value = stream_id_ms(value)
        elif field_name == "idle":
            value = int(value) / 1e3
        elif not isinstance(value, int):
            return
        if value is not None:
            out[d.name].add(labels, value)

    # ---- cost ---------------------------------------------------------------------------------------
    def _report(self, scan: Scan, started: float, out) -> None:
        for key in scan.truncated:
            self.truncated_total[key] = self.truncated_total.get(key, 0) + 1
        if scan.truncated != self._logged_truncation:  # once per change, not every scrape
            for flag, reason in sorted(scan.truncated - self._logged_truncation):
                why = (
                    f"more than --check-keys.max-keys={self.max_keys} keys matched"
                    if reason == "max_keys"
                    else f"the scrape's time ran out (SCAN may use {SCAN_SHARE:.0%} of it, SCAN and the "
                    f"reads of the keys found {READ_SHARE:.0%}); the keys read so far are served"
                )
                log.warning("%s on %s: stopped early, %s", flag, self.session.display, why)
            self._logged_truncation = set(scan.truncated)
        out[CHECK_DURATION.name].add((), time.monotonic() - started)
        out[SCAN_CALLS.name].add((), scan.calls)
        for (flag, reason), total in sorted(self.truncated_total.items()):
            out[TRUNCATED.name].add((flag, reason), total)
