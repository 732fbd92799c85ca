"""Redis Cluster (--is-cluster): where each key lives, the other primaries' connections, and the
``/discover-cluster-nodes`` endpoint (redis_exporter 1.70's, for Prometheus' HTTP service discovery).

redis_exporter 1.69 sends key commands through a cluster client that follows MOVED, but its SCAN
for a glob goes to one node only. Here, every scrape with key checks reads the slot map (one
CLUSTER SLOTS, on the kept connection), SCANs every primary for globs, and sends each key's
commands to the primary that owns its slot, one pipeline per node. The other primaries'
connections are kept between scrapes like the target's own, with the target's credentials: only
nodes the target's own CLUSTER SLOTS names are connected to; for a ``/scrape?target=`` probe, only those
``--scrape.allowed-targets`` allows too, each with its own password-file entry (a probed server
cannot make the exporter send a password to an address of its choosing).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re

from .address import allowed
from .registry import text
from .session import CommandFailed, RedisSession, TargetDown, error_class


class NodeRefused(TargetDown):
    """A node the probed target's CLUSTER SLOTS names, which --scrape.allowed-targets does not allow."""


SLOTS = 16384
_NODE_ADDRESS = re.compile(r"^(.*):(\d+)@(\d+)(?:,(.+))?")


def key_slot(key: bytes) -> int:
    """The cluster slot of ``key``: CRC16 of the key, or of its {hash tag} when it has one."""
    from redis.crc import key_slot as slot

    return slot(key)


@dataclasses.dataclass
class SlotMap:
    """Slot ranges (sorted by start) and the node address owning each."""

    starts: list[int]
    ranges: list[tuple[int, int, tuple[str, int]]]

    def owner(self, key: bytes) -> tuple[str, int] | None:
        slot = key_slot(key)
        i = bisect.bisect_right(self.starts, slot) - 1
        if i >= 0:
            start, end, node = self.ranges[i]
            if start <= slot <= end:
                return node
        return None

    @property
    def primaries(self) -> list[tuple[str, int]]:
        return list(dict.fromkeys(node for _, _, node in self.ranges))


def parse_slots(reply, default_host: str) -> SlotMap:
    """CLUSTER SLOTS: [[start, end, [ip, port, id, ...], replicas...], ...]; an empty ip means the
    node that answered."""
    ranges = []
    for entry in reply or []:
        start, end, primary = int(entry[0]), int(entry[1]), entry[2]
        host = text(primary[0]) or default_host
        ranges.append((start, end, (host, int(primary[1]))))
    ranges.sort()
    return SlotMap([r[0] for r in ranges], ranges)


class Cluster:
    """The primaries of the target's cluster, as sessions: the target's own session for itself, a
    kept connection of the same credentials for each other primary."""

    def __init__(self, session: RedisSession) -> None:
        self.session = session
        self.nodes: dict[tuple[str, int], RedisSession] = {}
        self.slots: SlotMap | None = None

    async def refresh(self) -> None:
        """Read the slot map (one round trip); raises CommandFailed / TargetDown."""
        (reply,) = await self.session.execute(("CLUSTER", "SLOTS"))
        if isinstance(reply, Exception):
            raise reply
        target = self.session.target
        self.slots = parse_slots(reply, target.host)
        wanted = set(self.slots.primaries)
        for address in [a for a in self.nodes if a not in wanted]:  # a node that left the cluster
            await self.nodes.pop(address).close()

    def _is_target(self, address: tuple[str, int]) -> bool:
        t = self.session.target
        return (t.host, t.port) == address

    def _node_target(self, address: tuple[str, int]):
        """The configured target's cluster: its credentials for every node, as redis_exporter. A probe
        target's: only allowed nodes, each with its own password (NodeRefused otherwise)."""
        settings = self.session.settings
        own = self.session.target
        node = dataclasses.replace(own, host=address[0], port=address[1], db=0)
        creds = settings.options.passwords.credentials
        if creds.addr is not None and creds.addr.address == own.address:
            return node
        if not allowed(settings.options.allowlist, node):  # an empty allowlist allows nothing
            raise NodeRefused(f"cluster node {node.address} is not allowed by --scrape.allowed-targets")
        return creds.for_probe(dataclasses.replace(node, password=""))

    async def node(self, address: tuple[str, int]) -> RedisSession:
        """The connected session of the primary at ``address``; raises TargetDown (NodeRefused)."""
        if self._is_target(address):
            return self.session
        node = self.nodes.get(address)
        if node is None:
            node = self.nodes[address] = RedisSession(
                self._node_target(address), self.session.settings, self.session.password_source
            )
        await node._connect()
        return node

    async def primaries(self, problems: list[str]) -> list[RedisSession]:
        """The connected primaries; one that cannot be reached (or is not allowed) is a problem, skipped."""
        out = []
        for address in self.slots.primaries:
            try:
                out.append(await self.node(address))
            except Exception as exc:
                problems.append(
                    str(exc)
                    if isinstance(exc, TargetDown)
                    else f"cluster node {address[0]}:{address[1]}: {error_class(exc)}"
                )
        return out

    def route(self, keys) -> dict:
        """``keys`` grouped by the address of the primary owning their slot (None: an unassigned slot)."""
        groups: dict = {}
        for key in keys:
            groups.setdefault(self.slots.owner(key), []).append(key)
        return groups

    async def close(self) -> None:
        for node in self.nodes.values():
            await node.close()
        self.nodes.clear()


# --- /discover-cluster-nodes ------------------------------------------------------------------------
def node_addresses(cluster_nodes: str, own_host: str) -> list[str]:
    """host:port of every node in CLUSTER NODES' text, as redis_exporter lists them (the ip, not the
    hostname). A node that does not know its own ip yet (a cluster of one: ':6379@16379') is the node
    asked, at ``own_host`` (redis_exporter leaves it out, and lists nothing); one without any address
    (port 0) is left out."""
    out = []
    for line in cluster_nodes.split("\n"):
        fields = line.split()
        if len(fields) < 3:
            continue
        m = _NODE_ADDRESS.match(fields[1])
        if not m or m.group(2) == "0":
            continue
        host = m.group(1)
        if not host:
            if "myself" not in fields[2].split(","):
                continue
            host = own_host
        out.append(f"{host}:{m.group(2)}")
    return out


def discovery_document(scheme: str, addresses: list[str]) -> str:
    """Prometheus' HTTP SD format, indented as redis_exporter's (Go's json.MarshalIndent, two spaces)."""
    prefix = "rediss://" if scheme == "rediss" else "redis://"
    return json.dumps([{"targets": [prefix + a for a in addresses], "labels": {}}], indent=2)


def discover_route(app):
    """The handler of ``/discover-cluster-nodes`` for the running exporter ``app``."""
    from aiohttp import web

    async def handler(request):
        if not app.settings.get("is_cluster"):
            return web.Response(status=400, text="The discovery endpoint is only available on a redis cluster\n")
        hooks = [t.hooks for t in app.pool.configured if isinstance(t.hooks, RedisSession)]
        if not hooks:
            return web.Response(status=400, text="no --redis.addr to discover the cluster of\n")
        session = hooks[0]
        try:
            await session._connect()
            (reply,) = await session.execute(("CLUSTER", "NODES"))
            if isinstance(reply, Exception):
                raise reply
        except (TargetDown, CommandFailed, OSError, TimeoutError) as exc:
            return web.Response(status=500, text=f"Failed to fetch cluster nodes: {exc}\n")
        except Exception as exc:  # the connection failed (auth, TLS): its class only, never its text
            return web.Response(status=500, text=f"Couldn't connect to redis cluster: {error_class(exc)}\n")
        body = discovery_document(session.target.scheme, node_addresses(text(reply), session.target.host))
        return web.Response(text=body, content_type="application/json")

    return handler
