"""Key groups (--check-key-groups, --max-distinct-key-groups, redis_exporter 1.69's names) and the
largest keys by MEMORY USAGE (--top-keys-by-memory, ours: redis_exporter #454, #995).

redis_exporter runs a Lua script over SCAN for every database, to the end, in every scrape: on a
large keyspace one scrape is as long as the whole walk, and the script needs EVAL rights. Here:
- one walk per database (SCAN, then MEMORY USAGE of each key found, pipelined with the next SCAN
  call: one round trip per batch) feeds both options;
- a scrape spends at most :data:`WALK_SHARE` of its remaining time on it; a walk not finished then
  goes on from its cursor at the next scrape. The series are those of the last *complete* walk
  of each database, never a partial count (a small keyspace completes in every scrape);
- the key-group patterns are Lua patterns as redis_exporter's (``string.find``: the group is the
  concatenation of the captures), translated once at start-up to Python regular expressions; a
  malformed one stops start-up with one line naming it;
- at most :data:`MAX_TRACKED_GROUPS` distinct group names are held per walk; later new names go to
  ``overflow`` directly, so memory stays bounded whatever the patterns capture.
"""

from __future__ import annotations

import csv
import heapq
import logging
import re
import time
from dataclasses import dataclass, field

from ..core.collector import Flag, PartialFailure
from ..core.metrics import counter, gauge
from ..core.scrape import remaining_seconds
from .commands import config_value
from .keys import SelectRefused, at_least_one, in_db, refusal
from .registry import RedisCollector, redis_collectors, text
from .session import CommandFailed

log = logging.getLogger("exporters.redis")

WALK_SHARE = 0.5  # share of the scrape's remaining time the walk may use
MAX_TRACKED_GROUPS = 10_000  # distinct group names held per database and walk
MAX_TOP_KEYS = 100  # most --top-keys-by-memory
KEY_LABEL_MAX = 200  # characters of a key name kept in the top-keys label
DEFAULT_DATABASES = 16

# --- families: redis_exporter 1.69's (names, HELP, labels) ----------------------------------------
GROUP_COUNT = gauge("redis_key_group_count", "Count of keys in key group", "db", "key_group")
GROUP_MEMORY = gauge(
    "redis_key_group_memory_usage_bytes", "Total memory usage of key group in bytes", "db", "key_group"
)
DISTINCT = gauge("redis_number_of_distinct_key_groups", "Number of distinct key groups", "db")
DURATION = gauge(
    "redis_last_key_groups_scrape_duration_milliseconds",
    "Duration of the last key group metrics scrape in milliseconds",
)
# ours
TOP_KEYS = gauge(
    "redis_top_key_memory_usage_bytes",
    "MEMORY USAGE of the largest keys of the database's last complete walk (--top-keys-by-memory)",
    "db",
    "key",
)
WALKS = counter(
    "redis_exporter_key_walks_completed_total",
    "Complete SCAN walks of the database for key groups and the largest keys.",
    "db",
)
WALK_KEYS = gauge(
    "redis_exporter_key_walk_scanned_keys",
    "Keys the unfinished walk of the database has seen so far (0 between walks).",
    "db",
)


# --- Lua patterns (Lua 5.1, Redis' Lua) as Python regular expressions -------------------------------
# character classes in the C locale; %g does not exist in Lua 5.1 (it matches a 'g')
_LUA_CLASSES = {
    "a": "A-Za-z",
    "c": "\\x00-\\x1f\\x7f",
    "d": "0-9",
    "l": "a-z",
    "p": "!-/:-@\\[-`{-~",
    "s": "\\t-\\r ",
    "u": "A-Z",
    "w": "0-9A-Za-z",
    "x": "0-9A-Fa-f",
    "z": "\\x00",
}


@dataclass(frozen=True)
class LuaPattern:
    """One key-group pattern: its text, the regex it became, and which captures are position
    captures (``()``: Lua gives their position, a number)."""

    source: str
    regex: re.Pattern
    positions: frozenset

    def group(self, key: str) -> str | None:
        """The group of ``key`` (decoded as latin-1: Lua works on bytes), None when it does not match."""
        m = self.regex.search(key)
        if m is None:
            return None
        return "".join(
            str(m.start(i) + 1) if i in self.positions else m.group(i) for i in range(1, (self.regex.groups or 0) + 1)
        )


def _class_item(pattern: str, i: int) -> tuple[str, int]:
    """The class after a '%' at ``pattern[i]``: a regex fragment for a set item, and the next index."""
    if i >= len(pattern):
        raise ValueError("malformed pattern (ends with '%')")
    c = pattern[i]
    low = c.lower()
    if low in _LUA_CLASSES:
        return (f"[{_LUA_CLASSES[low]}]" if c == low else f"[^{_LUA_CLASSES[low]}]"), i + 1
    return re.escape(c), i + 1


def _set(pattern: str, i: int) -> tuple[str, int]:
    """A ``[set]`` starting after its '[' at ``i``: a regex fragment, and the index after its ']'."""
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    items = []
    first = True
    while True:
        if i >= len(pattern):
            raise ValueError("malformed pattern (missing ']')")
        c = pattern[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "%":
            item, i = _class_item(pattern, i + 1)
        elif i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            lo, hi = pattern[i], pattern[i + 2]
            item = f"[{re.escape(lo)}-{re.escape(hi)}]" if lo <= hi else "(?!)"  # Lua: an empty range
            i += 3
        else:
            item, i = re.escape(c), i + 1
        items.append(item)
    alternatives = "|".join(items)
    return (f"(?:(?!{alternatives})(?s:.))" if negate else f"(?:{alternatives})"), i


def lua_pattern(source: str) -> LuaPattern:
    """Translate a Lua 5.1 pattern; raises ValueError with Lua's own reason for a malformed one.
    ``%b`` and ``%f`` are refused (not translated). Lua sees bytes: the pattern is matched as its
    UTF-8 bytes, against keys decoded as latin-1 (one character per byte)."""
    text_ = source
    source = source.encode("utf-8").decode("latin-1")
    out = []
    i = 0
    if source.startswith("^"):
        out.append(r"\A")
        i = 1
    open_captures: list[int] = []
    closed: set[int] = set()
    positions = set()
    count = 0
    while i < len(source):
        c = source[i]
        if c == "(":
            count += 1
            if source[i + 1 : i + 2] == ")":
                positions.add(count)
                closed.add(count)
                out.append("()")
                i += 2
            else:
                open_captures.append(count)
                out.append("(")
                i += 1
            continue
        if c == ")":
            if not open_captures:
                raise ValueError("invalid pattern capture (a ')' without its '(')")
            closed.add(open_captures.pop())
            out.append(")")
            i += 1
            continue
        if c == "$" and i == len(source) - 1:
            out.append(r"\Z")
            i += 1
            continue
        if c == "%" and i + 1 < len(source) and source[i + 1] in "bf":
            raise ValueError(f"%{source[i + 1]} is not supported here")
        if c == "%" and i + 1 < len(source) and source[i + 1].isdigit():
            n = int(source[i + 1])
            if n not in closed or n in positions:
                raise ValueError(f"invalid capture index %{n}")
            out.append(f"(?:\\{n})")
            i += 2
            continue
        if c == ".":
            item, i = "(?s:.)", i + 1
        elif c == "%":
            item, i = _class_item(source, i + 1)
        elif c == "[":
            item, i = _set(source, i + 1)
        else:
            item, i = re.escape(c), i + 1
        if i < len(source) and source[i] in "*+-?":
            item += {"*": "*", "+": "+", "-": "*?", "?": "?"}[source[i]]
            i += 1
        out.append(item)
    if open_captures:
        raise ValueError("unfinished capture (a '(' without its ')')")
    return LuaPattern(text_, re.compile("".join(out)), frozenset(positions))


def key_groups(value) -> tuple[LuaPattern, ...]:
    """--check-key-groups: a CSV record of Lua patterns, as redis_exporter reads it (quotes allow a
    comma in a pattern); empty items are dropped. Raises ValueError naming the bad pattern."""
    if isinstance(value, tuple):
        return value
    value = str(value or "")
    if not value.strip():
        return ()
    try:
        record = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise ValueError(f"not a comma-separated list: {exc}") from None
    out = []
    for item in (p.strip() for p in record):
        if not item:
            continue
        try:
            out.append(lua_pattern(item))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a valid Lua pattern: {exc}") from None
    return tuple(out)


def not_negative(value) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r}: must be 0 or more")
    return number


def top_keys(value) -> int:
    number = int(value)
    if not 0 <= number <= MAX_TOP_KEYS:
        raise ValueError(f"{value!r}: must be from 0 (off) to {MAX_TOP_KEYS}")
    return number


FLAGS = (
    Flag(
        "--check-key-groups",
        "check_key_groups",
        "Comma separated list of Lua patterns that group keys (the group is the concatenation of the "
        "captures; keys no pattern matches are 'unclassified'): key count and memory per group, from a "
        "SCAN walk of every database that goes on across scrapes.",
        default="",
        type=key_groups,
        metavar="PATTERN,...",
        aliases=("-check-key-groups",),
    ),
    Flag(
        "--max-distinct-key-groups",
        "max_distinct_key_groups",
        "Most key groups per database exported, those with the most memory; the rest are summed in the "
        "'overflow' group (0: all of them).",
        default=100,
        type=not_negative,
        metavar="N",
        aliases=("-max-distinct-key-groups",),
    ),
    Flag(
        "--top-keys-by-memory",
        "top_keys_by_memory",
        f"Export the N (at most {MAX_TOP_KEYS}) largest keys by MEMORY USAGE of each database "
        "(redis_top_key_memory_usage_bytes), from the same walk; 0: off. Key names become label values.",
        default=0,
        type=top_keys,
        metavar="N",
    ),
)


# --- the walk ----------------------------------------------------------------------------------------
@dataclass
class Walk:
    """One database's walk in progress: where SCAN is, and what it found so far."""

    cursor: bytes = b"0"
    keys: int = 0
    groups: dict = field(default_factory=dict)  # group name -> [count, bytes]
    top: list = field(default_factory=list)  # min-heap of (bytes, key)


@dataclass
class WalkResult:
    """The outcome of a database's last complete walk: what the scrape exports."""

    groups: dict
    top: list


def _keyspace(info: str) -> set[int]:
    """The databases that have keys, from INFO's keyspace lines (``db3:keys=5,expires=0,...``)."""
    out = set()
    for line in info.splitlines():
        if line.startswith("db") and ":keys=" in line:
            name = line.split(":", 1)[0][2:]
            if name.isdigit():
                out.add(int(name))
    return out


@redis_collectors.register
class KeyGroupsCollector(RedisCollector):
    name = "key_groups"
    description = (
        "--check-key-groups (key count and memory per group, redis_exporter's) and "
        "--top-keys-by-memory (ours): one bounded SCAN walk per database that goes on across scrapes."
    )
    metrics = (GROUP_COUNT, GROUP_MEMORY, DISTINCT, DURATION, TOP_KEYS, WALKS, WALK_KEYS)
    flags = FLAGS

    def __init__(self, settings) -> None:
        super().__init__(settings)
        s = settings
        self.patterns = key_groups(s.get("check_key_groups"))
        self.max_groups = not_negative(s.get("max_distinct_key_groups", 100))
        self.top_n = top_keys(s.get("top_keys_by_memory", 0))
        self.batch = at_least_one(s.get("check_keys_batch_size", 1000))
        self.walks: dict[int, Walk] = {}
        self.results: dict[int, WalkResult] = {}
        self.completed: dict[int, int] = {}
        self.refused = ""
        self._resume = 0

    async def collect(self):
        started = time.monotonic()
        duration = DURATION.family()
        info = text(self.session.reply("info"))  # raises when the target is down: no series, as redis_exporter
        if not (self.patterns or self.top_n):
            duration.add((), 0)  # as redis_exporter: the family is there without the flag
            return [duration]
        cluster = "cluster_enabled:1" in info
        with_keys = _keyspace(info)
        count = 1 if cluster else self._databases()
        deadline = started + WALK_SHARE * min(remaining_seconds(), self.session.timeout)
        problems = []
        first = self._resume % count  # round robin: the database whose walk was cut short goes first
        for db in [*range(first, count), *range(first)]:
            if db not in with_keys:  # nothing to walk: an empty result right away
                self.walks.pop(db, None)
                self.results[db] = WalkResult({}, [])
                continue
            if time.monotonic() >= deadline:
                continue  # its turn comes at a later scrape
            try:
                if not await self._advance(db, deadline):
                    self._resume = db
            except (SelectRefused, CommandFailed) as exc:
                problems.append(f"db{db}: {exc}")
                self.walks.pop(db, None)
        out = self._families(count)
        duration.add((), round((time.monotonic() - started) * 1000))
        out.append(duration)
        if problems or self.refused:
            raise PartialFailure("; ".join([*problems, *([self.refused] if self.refused else [])]), out)
        return out

    def _databases(self) -> int:
        try:
            value = config_value(self.session, "databases")
        except Exception:  # CONFIG refused or not sent (--config-command=-): redis_exporter assumes 16
            return DEFAULT_DATABASES
        return int(value) if value and value.isdigit() else DEFAULT_DATABASES

    async def _advance(self, db: int, deadline: float) -> bool:
        """Go on with ``db``'s walk until it completes (True) or the time share is spent (False). Each
        round trip holds MEMORY USAGE of the keys the previous SCAN call found and the next SCAN call."""
        walk = self.walks.setdefault(db, Walk())
        pending: list = []
        done = False
        while True:
            scan = not done and time.monotonic() < deadline
            cmds: list[tuple] = [("MEMORY", "USAGE", k) for k in pending]
            if scan:
                cmds.append(("SCAN", walk.cursor, "COUNT", self.batch))
            if not cmds:
                break
            replies = await in_db(self.session, db, *cmds)
            self._account(walk, pending, replies[: len(pending)])
            pending = []
            if scan:
                reply = replies[-1]
                if isinstance(reply, Exception):
                    raise reply
                cursor, pending = reply
                walk.cursor = cursor if isinstance(cursor, bytes) else str(cursor).encode()
                done = walk.cursor == b"0"
            elif not done:
                return False  # out of time: the walk goes on at the next scrape
        if not done:
            return False  # out of time before the first SCAN call
        self.results[db] = WalkResult(walk.groups, sorted(walk.top, reverse=True))
        self.completed[db] = self.completed.get(db, 0) + 1
        del self.walks[db]
        return True

    def _account(self, walk: Walk, keys: list, usages: list) -> None:
        for key, usage in zip(keys, usages):
            if isinstance(usage, Exception):
                if refusal(usage) and not self.refused:
                    self.refused = f"MEMORY USAGE refused ({usage}): memory is counted as 0"
                usage = 0
            elif usage is None:
                continue  # the key went away since SCAN found it
            walk.keys += 1
            if self.patterns:
                name = self._group(key)
                entry = walk.groups.get(name)
                if entry is None:
                    if len(walk.groups) >= MAX_TRACKED_GROUPS:
                        name = "overflow"
                    entry = walk.groups.setdefault(name, [0, 0])
                entry[0] += 1
                entry[1] += usage
            if self.top_n:
                item = (usage, key)
                if len(walk.top) < self.top_n:
                    heapq.heappush(walk.top, item)
                elif item > walk.top[0]:
                    heapq.heapreplace(walk.top, item)

    def _group(self, key: bytes) -> str:
        name = key.decode("latin-1")
        for p in self.patterns:
            group = p.group(name)
            if group is not None:
                return group.encode("latin-1").decode("utf-8", "replace")
        return "unclassified"

    def _families(self, count: int) -> list:
        groups_count, groups_memory, distinct = GROUP_COUNT.family(), GROUP_MEMORY.family(), DISTINCT.family()
        top, walks, scanned = TOP_KEYS.family(), WALKS.family(), WALK_KEYS.family()
        for db in range(count):
            label = f"db{db}"
            result = self.results.get(db)
            if result is not None and self.patterns:
                ranked = sorted(result.groups.items(), key=lambda kv: (-kv[1][1], kv[1][0], kv[0]))
                rest = ranked[self.max_groups :]
                shown = dict(ranked[: self.max_groups])
                if rest:  # redis_exporter's 'overflow' group: what is beyond the top groups by memory
                    entry = shown.setdefault("overflow", [0, 0])
                    entry = shown["overflow"] = [
                        entry[0] + sum(v[0] for _, v in rest),
                        entry[1] + sum(v[1] for _, v in rest),
                    ]
                for name, (keys, memory) in shown.items():
                    groups_count.add((label, name), keys)
                    groups_memory.add((label, name), memory)
                distinct.add((label,), len(result.groups))
            if result is not None and self.top_n:
                seen = set()
                for usage, key in result.top:
                    name = text(key)[:KEY_LABEL_MAX]
                    if name not in seen:
                        seen.add(name)
                        top.add((label, name), usage)
            if db in self.completed:
                walks.add((label,), self.completed[db])
            walk = self.walks.get(db)
            if walk is not None or db in self.completed:
                scanned.add((label,), walk.keys if walk is not None else 0)
        return [f for f in (groups_count, groups_memory, distinct, top, walks, scanned) if f.samples]
