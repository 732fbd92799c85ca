"""ipvs: IP Virtual Server totals and per-backend state from /proc/net/ip_vs_stats and /proc/net/ip_vs.

As in node_exporter 1.9, ``--collector.ipvs.backend-labels`` chooses the labels
of the backend families (any of local_address, local_port, remote_address,
remote_port, proto, local_mark); backends that share the chosen label values
are summed. No ip_vs_stats (no ip_vs module) is "no data".
"""

from __future__ import annotations

import ipaddress

from ..core.collector import Flag, NoData
from ..core.errors import ConfigError
from ..core.metrics import MetricDef, counter, gauge
from .registry import HostCollector, node_collectors, read_text
from .sysfs_values import go_uint

BACKEND_LABELS = ("local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark")

CONNECTIONS = counter("node_ipvs_connections_total", "The total number of connections made.")
INCOMING_PACKETS = counter("node_ipvs_incoming_packets_total", "The total number of incoming packets.")
OUTGOING_PACKETS = counter("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.")
INCOMING_BYTES = counter("node_ipvs_incoming_bytes_total", "The total amount of incoming data.")
OUTGOING_BYTES = counter("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.")
TOTALS = (CONNECTIONS, INCOMING_PACKETS, OUTGOING_PACKETS, INCOMING_BYTES, OUTGOING_BYTES)
BACKEND_ACTIVE = gauge(
    "node_ipvs_backend_connections_active",
    "The current active connections by local and remote address.",
    *sorted(BACKEND_LABELS),
)
BACKEND_INACTIVE = gauge(
    "node_ipvs_backend_connections_inactive",
    "The current inactive connections by local and remote address.",
    *sorted(BACKEND_LABELS),
)
BACKEND_WEIGHT = gauge(
    "node_ipvs_backend_weight", "The current backend weight by local and remote address.", *sorted(BACKEND_LABELS)
)


def parse_backend_labels(text: str) -> tuple[str, ...]:
    """The flag's comma-separated labels, in node_exporter's order; unknown ones are an error."""
    wanted = {label for label in text.split(",") if label}
    unknown = wanted - set(BACKEND_LABELS)
    if unknown:
        raise ConfigError(f"--collector.ipvs.backend-labels: unknown IPVS backend labels: {', '.join(sorted(unknown))}")
    return tuple(label for label in BACKEND_LABELS if label in wanted)


def parse_ipvs_stats(text: str) -> tuple[int, ...]:
    """The five hex totals of the third line of ip_vs_stats."""
    lines = text.split("\n", 3)
    if len(lines) != 4:
        raise ValueError("ip_vs_stats corrupt: too short")
    fields = lines[2].split()
    if len(fields) != 5:
        raise ValueError("ip_vs_stats corrupt: unexpected number of fields")
    try:
        values = tuple(int(f, 16) for f in fields)
    except ValueError:
        raise ValueError(f"ip_vs_stats: not hex numbers: {lines[2].strip()[:80]!r}") from None
    if any(v < 0 or v >= 2**64 or "_" in f or f.startswith(("+", "-", "0x", "0X")) for v, f in zip(values, fields)):
        raise ValueError(f"ip_vs_stats: not hex numbers: {lines[2].strip()[:80]!r}")
    return values


def _format_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """As Go's net.IP.String(): an IPv4-mapped IPv6 address in dotted form."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_ip_port(text: str) -> tuple[str, int]:
    """``C0A80016:0CEA`` or ``[2620:0000:...:0001]:0050`` -> (address, port)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        if len(text) == 13:
            ip = ipaddress.IPv4Address(bytes.fromhex(text[0:8]))
        elif len(text) == 46:
            ip = ipaddress.IPv6Address(text[1:40])
        else:
            raise ValueError
        port = int(text[-4:], 16)
    except ValueError:
        raise ValueError(f"ip_vs: unexpected IP:Port {text[:50]!r}") from None
    return _format_ip(ip), port


def parse_ip_vs(text: str) -> list[dict]:
    """One dict per backend (``->`` line) of /proc/net/ip_vs, with its service's fields."""
    out = []
    service = {"proto": "", "local_mark": "", "local_address": "", "local_port": 0}
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] in ("IP", "Prot") or fields[1:2] == ["RemoteAddress:Port"]:
            continue
        if fields[0] in ("TCP", "UDP") and len(fields) >= 2:
            address, port = parse_ip_port(fields[1])
            service = {"proto": fields[0], "local_mark": "", "local_address": address, "local_port": port}
        elif fields[0] == "FWM" and len(fields) >= 2:
            service = {"proto": "FWM", "local_mark": fields[1], "local_address": "", "local_port": 0}
        elif fields[0] == "->" and len(fields) >= 6:
            address, port = parse_ip_port(fields[1])
            numbers = [go_uint(f) for f in fields[3:6]]
            if None in numbers:
                raise ValueError(f"ip_vs: weight/connections are not numbers: {line.strip()[:80]!r}")
            weight, active, inactive = numbers
            out.append(
                dict(service, remote_address=address, remote_port=port, weight=weight, active=active, inactive=inactive)
            )
    return out


@node_collectors.register
class IPVSCollector(HostCollector):
    name = "ipvs"
    description = "IPVS (IP Virtual Server) totals and backend connections (/proc/net/ip_vs, ip_vs_stats)."
    metrics = TOTALS + (BACKEND_ACTIVE, BACKEND_INACTIVE, BACKEND_WEIGHT)
    flags = (
        Flag(
            "--collector.ipvs.backend-labels",
            "collector_ipvs_backend_labels",
            "Comma separated list for IPVS backend stats labels.",
            default=",".join(BACKEND_LABELS),
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        labels = self.settings.get("collector_ipvs_backend_labels")
        self.labels = parse_backend_labels(",".join(BACKEND_LABELS) if labels is None else labels)
        self.sorted_labels = tuple(sorted(self.labels))
        self.backend_defs = tuple(
            MetricDef(d.name, d.type, d.help, self.sorted_labels)
            for d in (BACKEND_ACTIVE, BACKEND_INACTIVE, BACKEND_WEIGHT)
        )

    def read(self):
        try:
            stats_text = read_text(self.proc("net", "ip_vs_stats"))
        except FileNotFoundError as exc:
            raise NoData(f"{self.proc('net', 'ip_vs_stats')} does not exist (no ip_vs module)") from exc
        totals = parse_ipvs_stats(stats_text)
        backends = parse_ip_vs(read_text(self.proc("net", "ip_vs")))
        sums: dict[tuple, list[int]] = {}
        for b in backends:
            key = tuple(str(b[label]) for label in self.sorted_labels)
            acc = sums.setdefault(key, [0, 0, 0])
            acc[0] += b["active"]
            acc[1] += b["inactive"]
            acc[2] += b["weight"]
        for d, value in zip(TOTALS, totals):
            fam = d.family()
            fam.add((), float(value))  # as Go: float64
            yield fam
        fams = [d.family() for d in self.backend_defs]
        for key, values in sums.items():
            for fam, value in zip(fams, values):
                fam.add(key, float(value))
        yield from fams
