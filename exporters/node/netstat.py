"""netstat: protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6.

netstat and snmp come in line pairs per protocol, a header and its values::

    Tcp: RtoAlgorithm RtoMin ... CurrEstab InSegs
    Tcp: 1 200 ... 0 218942

giving ``node_netstat_Tcp_CurrEstab``. snmp6 has one ``Ip6InOctets  12151``
line per counter: the protocol is the name up to its first ``6``
(``Ip6``, ``Icmp6``, ``UdpLite6``), giving ``node_netstat_Ip6_InOctets``.
snmp6 is absent when IPv6 is disabled; that is not an error. Which counters
are exported is chosen by ``--collector.netstat.fields``, matched against
``<Proto>_<Key>``.
"""

from __future__ import annotations

import re

from ..core.collector import Flag
from ..core.metrics import UNTYPED, MetricDef, MetricFamily
from .registry import HostCollector, compile_filter, node_collectors, read_text

# node_exporter 1.9's default (1.5 had neither TcpExt_TCPOFOQueue nor TcpExt_TCPRcvQDrop).
DEFAULT_FIELDS = (
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)

# For the generated metric reference only: the real names come from the files.
NETSTAT = MetricDef("node_netstat_<Proto>_<Key>", UNTYPED, "Statistic <Proto><Key>.")

_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Stats = dict[str, dict[str, float]]


def _number(text: str) -> float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def parse_netstat(text: str, filename: str = "netstat") -> Stats:
    """Return ``{protocol: {key: value}}`` from /proc/net/netstat or /proc/net/snmp text.

    Lines come in pairs (header, values) that both start with ``<Proto>:``.
    A pair whose prefixes or field counts differ raises ValueError: assigning
    values to the wrong names would be worse than no values. Non-numeric values
    are skipped."""
    out: Stats = {}
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) % 2:
        raise ValueError(f"{filename}: odd number of lines, the last header ({lines[-1][:40]!r}) has no values")
    for header, values in zip(lines[0::2], lines[1::2]):
        names, nums = header.split(), values.split()
        proto = names[0]
        if not proto.endswith(":") or nums[0] != proto:
            raise ValueError(f"{filename}: header {proto!r} is followed by values for {nums[0]!r}")
        proto = proto[:-1]
        if len(names) != len(nums):
            raise ValueError(f"{filename}: {proto} has {len(names) - 1} field names but {len(nums) - 1} values")
        stats = out.setdefault(proto, {})
        for key, raw in zip(names[1:], nums[1:]):
            value = _number(raw)
            if value is not None:
                stats[key] = value
    return out


def parse_snmp6(text: str) -> Stats:
    """Return ``{protocol: {key: value}}`` from /proc/net/snmp6 text.

    ``Icmp6InMsgs  1`` is protocol ``Icmp6``, key ``InMsgs``. Lines without a
    ``6`` in the name, or without a numeric value, are skipped."""
    out: Stats = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        six = fields[0].find("6")
        if six == -1:
            continue
        value = _number(fields[1])
        if value is None:
            continue
        out.setdefault(fields[0][: six + 1], {})[fields[0][six + 1 :]] = value
    return out


@node_collectors.register
class NetstatCollector(HostCollector):
    name = "netstat"
    description = (
        "Network protocol statistics (/proc/net/netstat, snmp, snmp6), filtered by --collector.netstat.fields."
    )
    metrics = (NETSTAT,)
    flags = (
        Flag(
            "--collector.netstat.fields",
            "collector_netstat_fields",
            "Regexp of fields to return for netstat collector.",
            default=DEFAULT_FIELDS,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        pattern = self.settings.get("collector_netstat_fields", DEFAULT_FIELDS)
        # An empty regexp matches every field, as in Go.
        self.fields = compile_filter("collector.netstat.fields", DEFAULT_FIELDS if pattern is None else pattern)

    def read(self):
        stats = parse_netstat(read_text(self.proc("net", "netstat")), "/proc/net/netstat")
        for proto, values in parse_netstat(read_text(self.proc("net", "snmp")), "/proc/net/snmp").items():
            stats.setdefault(proto, {}).update(values)
        try:
            snmp6 = read_text(self.proc("net", "snmp6"))
        except FileNotFoundError:
            snmp6 = ""  # IPv6 disabled
        for proto, values in parse_snmp6(snmp6).items():
            stats.setdefault(proto, {}).update(values)

        selected = {}
        for proto, values in stats.items():
            for key, value in values.items():
                name = f"{proto}_{key}"
                if not _NAME.match(name):
                    continue
                if self.fields is not None and self.fields.search(name) is None:
                    continue
                selected[name] = (f"Statistic {proto}{key}.", value)
        for name in sorted(selected):
            help_text, value = selected[name]
            fam = MetricFamily(f"node_netstat_{name}", UNTYPED, help_text)
            fam.add((), value)
            yield fam
