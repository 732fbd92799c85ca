"""The sentinel collector: what redis_exporter 1.69 reads from a Redis Sentinel with SENTINEL commands.

Pointed at a sentinel (``redis_mode:sentinel``, seen when connecting), the scrape's pipeline is
``INFO ALL`` (its ``# Sentinel`` section is info.py's part) and ``SENTINEL MASTERS``; this collector
then sends, in one more round trip, ``SENTINEL CKQUORUM``, ``SENTINELS`` and ``SLAVES`` of every
watched master. On any other server it sends nothing and has no series.

A master the sentinel sees as down (``s_down``/``o_down``, or no link: a master that does not
answer) keeps its series (``redis_sentinel_master_status`` 0 from INFO, the ckquorum answer) and
makes this collector's ``redis_scrape_collector_success`` 0 with the master's name, logged once.
"""

from __future__ import annotations

from ..core.collector import PartialFailure
from ..core.metrics import gauge
from .info import parse_float
from .registry import RedisCollector, pairs, redis_collectors, text
from .session import CommandFailed

_MASTER = ("master_address", "master_name")
CKQUORUM_STATUS = gauge("redis_sentinel_master_ckquorum_status", "Master ckquorum status", "master_name", "message")
SETTINGS = {  # SENTINEL MASTERS field -> family (0 when the field is missing or not a number, as Go)
    "quorum": gauge(
        "redis_sentinel_master_setting_ckquorum", "Show the current ckquorum config for each master", *_MASTER
    ),
    "failover-timeout": gauge(
        "redis_sentinel_master_setting_failover_timeout",
        "Show the current failover-timeout config for each master",
        *_MASTER,
    ),
    "parallel-syncs": gauge(
        "redis_sentinel_master_setting_parallel_syncs",
        "Show the current parallel-syncs config for each master",
        *_MASTER,
    ),
    "down-after-milliseconds": gauge(
        "redis_sentinel_master_setting_down_after_milliseconds",
        "Show the current down-after-milliseconds config for each master",
        *_MASTER,
    ),
}
OK_SENTINELS = gauge(
    "redis_sentinel_master_ok_sentinels", "The number of okay sentinels monitoring this master", *_MASTER
)
OK_SLAVES = gauge("redis_sentinel_master_ok_slaves", "The number of okay slaves of the master", *_MASTER)

DOWN_FLAGS = ("s_down", "o_down")


def _ok(entries) -> int:
    """How many SENTINEL SENTINELS / SLAVES entries are not flagged down (as Go counts them)."""
    count = 0
    for entry in entries if isinstance(entries, list) else []:
        flags = pairs(entry).get("flags")
        if flags is not None and not any(f in text(flags) for f in DOWN_FLAGS):
            count += 1
    return count


@redis_collectors.register
class SentinelCollector(RedisCollector):
    name = "sentinel"
    description = (
        "On a Redis Sentinel: per watched master its settings, ckquorum, and the sentinels and replicas "
        "that are up (SENTINEL MASTERS, CKQUORUM, SENTINELS, SLAVES); nothing on other servers."
    )
    metrics = (CKQUORUM_STATUS, *SETTINGS.values(), OK_SENTINELS, OK_SLAVES)

    async def collect(self):
        if not self.session.sentinel:
            return []
        masters = []
        for reply in self.session.reply("sentinel_masters") or []:
            fields = {k: text(v) for k, v in pairs(reply).items()}
            if all(k in fields for k in ("name", "ip", "port")):  # Go skips a master without them
                masters.append(fields)
        commands = []
        for m in masters:
            commands += [
                ("SENTINEL", "CKQUORUM", m["name"]),
                ("SENTINEL", "SENTINELS", m["name"]),
                ("SENTINEL", "SLAVES", m["name"]),
            ]
        replies = await self.session.execute(*commands) if commands else []
        fams = {d.name: d.family() for d in self.metrics}
        down = []
        for i, m in enumerate(masters):
            name, address = m["name"], f"{m['ip']}:{m['port']}"
            quorum, sentinels, slaves = replies[3 * i : 3 * i + 3]
            if isinstance(quorum, CommandFailed):  # NOQUORUM ...: the server's line is the message, as Go's
                fams[CKQUORUM_STATUS.name].add((name, quorum.detail), 0)
            else:
                fams[CKQUORUM_STATUS.name].add((name, text(quorum)), 1)
            for field, d in SETTINGS.items():
                value = parse_float(m.get(field, ""))
                fams[d.name].add((address, name), value if value is not None else 0)
            # this sentinel counts itself: SENTINEL SENTINELS lists only the others
            fams[OK_SENTINELS.name].add((address, name), 1 + _ok(sentinels))
            fams[OK_SLAVES.name].add((address, name), _ok(slaves))
            flags = m.get("flags", "")
            if any(f in flags for f in (*DOWN_FLAGS, "disconnected")):
                down.append(f"{name} at {address}")  # not the flags: they change, and each change is logged
        out = [f for f in fams.values() if f.samples]
        if down:
            raise PartialFailure("sentinel sees its master down or unreachable: " + ", ".join(down), out)
        return out
