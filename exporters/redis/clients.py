"""CLIENT LIST: redis_exporter 1.69's per-client families (--export-client-list,
--export-client-port), and low-cardinality totals that redis_exporter lacks: clients per client
name (--export-client-names, bounded) and clients idle at least N seconds
(--client-idle-threshold-seconds, redis_exporter #1161 / #1162's name).

Nothing is sent without one of these flags. With them, one CLIENT LIST per scrape (a round trip
of its own; its reply grows with the number of clients). The per-client families make one series
per connection, and a new one for each new connection: they are for small deployments or
debugging; the totals are what to alert on.
"""

from __future__ import annotations

import re
import time

from ..core.collector import Flag
from ..core.metrics import gauge
from .keys import at_least_one
from .registry import RedisCollector, redis_collectors, text

BASE = ("id", "name")
INFO = gauge(
    "redis_connected_client_info",
    "Details about a connected client",
    "id",
    "name",
    "flags",
    "db",
    "host",
    "port",
    "user",
    "resp",
)  # port, user, resp: when present
# CLIENT LIST field -> family, as 1.69 (HELP texts included, lower case 'a' and all)
PER_CLIENT = {
    "omem": gauge(
        "redis_connected_client_output_buffer_memory_usage_bytes",
        "A connected client's output buffer memory usage in bytes",
        *BASE,
    ),
    "tot-mem": gauge(
        "redis_connected_client_total_memory_consumed_bytes",
        "Total memory consumed by a client in its various buffers",
        *BASE,
    ),
    "age": gauge("redis_connected_client_created_at_timestamp", "A connected client's creation timestamp", *BASE),
    "idle": gauge("redis_connected_client_idle_since_timestamp", "A connected client's idle since timestamp", *BASE),
    "sub": gauge(
        "redis_connected_client_channel_subscriptions_count",
        "A connected client's number of channel subscriptions",
        *BASE,
    ),
    "psub": gauge(
        "redis_connected_client_pattern_matching_subscriptions_count",
        "A connected client's number of pattern matching subscriptions",
        *BASE,
    ),
    "ssub": gauge(
        "redis_connected_client_shard_channel_subscriptions_count",
        "a connected client's number of shard channel subscriptions",
        *BASE,
    ),
    "watch": gauge(
        "redis_connected_client_shard_channel_watched_keys",
        "a connected client's number of keys it's currently watching",
        *BASE,
    ),
    "qbuf": gauge(
        "redis_connected_client_query_buffer_length_bytes",
        "A connected client's query buffer length in bytes (0 means no query pending)",
        *BASE,
    ),
    "qbuf-free": gauge(
        "redis_connected_client_query_buffer_free_space_bytes",
        "A connected client's free space of the query buffer in bytes (0 means the buffer is full)",
        *BASE,
    ),
    "obl": gauge(
        "redis_connected_client_output_buffer_length_bytes", "A connected client's output buffer length in bytes", *BASE
    ),
    "oll": gauge(
        "redis_connected_client_output_list_length",
        "A connected client's output list length (replies are queued in this list when the buffer is full)",
        *BASE,
    ),
}
ALWAYS = ("omem", "tot-mem", "age", "idle", "sub", "psub", "qbuf", "qbuf-free", "obl", "oll")  # 0 when missing
TIMESTAMPS = ("age", "idle")  # seconds ago -> a Unix timestamp
# ours
BY_NAME = gauge(
    "redis_connected_clients_by_name",
    'Connected clients per client name (CLIENT SETNAME; "" for none); beyond --client-names.max '
    'names, the rest are summed under name "_other".',
    "name",
)
IDLE = gauge(
    "redis_client_connections_idle",
    "Number of clients idle at least threshold_seconds (CLIENT LIST idle)",
    "threshold_seconds",
)
OTHER = "_other"

_LINE = re.compile(r"^id=\d+ addr=\S+")


def parse_client(line: str) -> dict[str, str] | None:
    """One CLIENT LIST line as its fields, or None where redis_exporter skips it (a field that is
    not exactly one 'key=value', e.g. a name with '=' in it)."""
    if not _LINE.match(line):
        return None
    fields = {}
    for part in line.split(" "):
        kv = part.split("=")
        if len(kv) != 2:
            return None
        fields[kv[0]] = kv[1]
    if ":" not in fields.get("addr", ""):
        return None
    for number in ("age", "idle"):
        if number in fields and not re.fullmatch(r"[+-]?\d+", fields[number]):
            return None
    return fields


def thresholds(value) -> tuple[int, ...]:
    if isinstance(value, tuple):
        return value
    out = []
    for item in str(value or "").split(","):
        if item.strip():
            number = int(item)
            if number < 0:
                raise ValueError(f"{item!r}: a threshold is a number of seconds (0: off)")
            if number:  # 0 is off, as in redis_exporter's pull request #1162
                out.append(number)
    return tuple(sorted(set(out)))


FLAGS = (
    Flag(
        "--export-client-list",
        "export_client_list",
        "Export redis_exporter's per-client families from CLIENT LIST (redis_connected_client_*). WARNING: one "
        "series per connection and a new one for every new connection: high cardinality; prefer "
        "--export-client-names and --client-idle-threshold-seconds.",
        default=False,
        type=bool,
    ),
    Flag(
        "--export-client-port",
        "export_client_port",
        "Add the client's port to redis_connected_client_info. WARNING: more series still, and Prometheus "
        "memory with them.",
        default=False,
        type=bool,
    ),
    Flag(
        "--export-client-names",
        "export_client_names",
        "Export redis_connected_clients_by_name: connected clients per client name (low cardinality).",
        default=False,
        type=bool,
    ),
    Flag(
        "--client-names.max",
        "client_names_max",
        "Most client names in redis_connected_clients_by_name (those with the most clients); the rest are summed "
        'under name "_other".',
        default=50,
        type=at_least_one,
        metavar="N",
    ),
    Flag(
        "--client-idle-threshold-seconds",
        "client_idle_threshold_seconds",
        "Comma separated list of seconds: redis_client_connections_idle counts the clients idle at least that "
        "long, one series per threshold. Empty or 0: off.",
        default="",
        type=thresholds,
        metavar="SECONDS,...",
    ),
)


@redis_collectors.register
class ClientsCollector(RedisCollector):
    name = "clients"
    description = (
        "CLIENT LIST: per-client families (--export-client-list), clients per name "
        "(--export-client-names) and idle clients (--client-idle-threshold-seconds); nothing without them."
    )
    metrics = (INFO, *PER_CLIENT.values(), BY_NAME, IDLE)
    flags = FLAGS

    def __init__(self, settings) -> None:
        super().__init__(settings)
        s = settings
        self.per_client = bool(s.get("export_client_list", False))
        self.port = bool(s.get("export_client_port", False))
        self.by_name = bool(s.get("export_client_names", False))
        self.max_names = at_least_one(s.get("client_names_max", 50))
        self.thresholds = thresholds(s.get("client_idle_threshold_seconds", ""))

    async def collect(self):
        if not (self.per_client or self.by_name or self.thresholds):
            return []
        self.session.reply("info")  # raises when the target is down
        (reply,) = await self.session.execute(("CLIENT", "LIST"))
        if isinstance(reply, Exception):
            raise reply
        now = int(time.time())
        clients = [c for c in map(parse_client, text(reply).split("\n")) if c is not None]
        out = []
        if self.per_client:
            out += self._per_client(clients, now)
        if self.by_name:
            counts: dict[str, int] = {}
            for c in clients:
                counts[c.get("name", "")] = counts.get(c.get("name", ""), 0) + 1
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            fam = BY_NAME.family()
            rest = sum(n for _, n in ranked[self.max_names :])
            for name, n in ranked[: self.max_names]:
                fam.add((name,), n + (rest if name == OTHER else 0))
            if rest and OTHER not in dict(ranked[: self.max_names]):
                fam.add((OTHER,), rest)
            out.append(fam)
        if self.thresholds:
            idle = [int(c["idle"]) for c in clients if "idle" in c]
            fam = IDLE.family()
            for t in self.thresholds:
                fam.add((str(t),), sum(1 for i in idle if i >= t))
            out.append(fam)
        return out

    def _per_client(self, clients: list[dict], now: int) -> list:
        info = INFO.family()
        fams = {k: d.family() for k, d in PER_CLIENT.items()}
        for c in clients:
            addr = c.get("addr", "")
            host, _, port = addr.rpartition(":")
            labels = [
                ("id", c.get("id", "")),
                ("name", c.get("name", "")),
                ("flags", c.get("flags", "")),
                ("db", c.get("db", "")),
                ("host", host),
            ]
            if self.port:
                labels.append(("port", port))
            if c.get("user"):
                labels.append(("user", c["user"]))
            if c.get("resp"):
                labels.append(("resp", c["resp"]))
            info.add_labeled(labels, 1)
            base = (c.get("id", ""), c.get("name", ""))
            for key, _fam in fams.items():
                if key not in c and key not in ALWAYS:
                    continue  # ssub (Redis 7.0.3+), watch (7.4+): no series where the server has no field
                raw = c.get(key, "0")
                try:
                    number = int(raw)
                except ValueError:
                    number = 0  # as redis_exporter, which ignores a parse error
                fams[key].add(base, now - number if key in TIMESTAMPS else number)
        return [info, *(f for f in fams.values() if f.samples)]
