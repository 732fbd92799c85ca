"""ntp (off by default; deprecated upstream): the state of the local NTP server, from one SNTP query per scrape
to --collector.ntp.server (a loopback address unless --collector.ntp.server-is-local), computed as
node_exporter 1.9 computes it (its NTP client's offset, round trip, root distance and sanity rules)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
import threading
import time

from ..core.collector import Flag
from ..core.errors import ConfigError
from ..core.metrics import gauge
from ..core.scrape import remaining_seconds
from .registry import HostCollector, node_collectors

STRATUM = gauge("node_ntp_stratum", "NTPD stratum.")
LEAP = gauge("node_ntp_leap", "NTPD leap second indicator, 2 bits.")
RTT = gauge("node_ntp_rtt_seconds", "RTT to NTPD.")
OFFSET = gauge("node_ntp_offset_seconds", "ClockOffset between NTP and local clock.")
REFTIME = gauge("node_ntp_reference_timestamp_seconds", "NTPD ReferenceTime, UNIX timestamp.")
ROOT_DELAY = gauge("node_ntp_root_delay_seconds", "NTPD RootDelay.")
ROOT_DISPERSION = gauge("node_ntp_root_dispersion_seconds", "NTPD RootDispersion.")
SANITY = gauge("node_ntp_sanity", "NTPD sanity according to RFC5905 heuristics and configured limits.")

NANO = 1_000_000_000
NTP_TO_UNIX = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
MAX_STRATUM = 16
MAX_POLL_INTERVAL = (1 << 17) * NANO
MAX_DISPERSION = 16 * NANO
DAY = 86_400 * NANO
_HEADER = struct.Struct("!BBbbIIIQQQQ")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": NANO, "m": 60 * NANO, "h": 3600 * NANO}


def go_duration(flag: str, text: str) -> int:
    """A Go duration ("3.46608s", "1ms", "1h30m") in nanoseconds."""
    body, sign = (text[1:], -1) if text.startswith("-") else (text.lstrip("+"), 1)
    if body == "0":
        return 0
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ConfigError(f"--{flag}: {text!r} is not a duration (e.g. 1ms, 3.5s)")
    return sign * round(sum(float(n) * _UNITS[u] for n, u in parts))


def _ntp_to_ns(t: int) -> int:
    """ntpTime (32.32 fixed point) -> nanoseconds, rounded as node_exporter's client rounds."""
    sec = (t >> 32) * NANO
    frac = (t & 0xFFFFFFFF) * NANO
    nsec = frac >> 32
    if frac & 0xFFFFFFFF >= 0x80000000:
        nsec += 1
    return sec + nsec


def _short_to_ns(t: int) -> int:
    sec = (t >> 16) * NANO
    frac = (t & 0xFFFF) * NANO
    nsec = frac >> 16
    if frac & 0xFFFF >= 0x8000:
        nsec += 1
    return sec + nsec


def _ns_to_ntp(ns_since_1900: int) -> int:
    sec, rest = divmod(ns_since_1900, NANO)
    shifted = rest << 32
    frac = shifted // NANO
    if shifted % NANO >= NANO // 2:
        frac += 1
    return (sec << 32 | frac) & 0xFFFFFFFFFFFFFFFF


def _signed(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def query(server: str, port: int, version: int, ttl: int, timeout: float) -> dict:
    """One SNTP exchange; the response fields in nanoseconds, as node_exporter's client derives them."""
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if ttl and family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.settimeout(timeout)
        sock.connect((server, port))
        xmit_origin = int.from_bytes(os.urandom(8), "big")
        request = _HEADER.pack((0 << 6) | (version << 3) | 3, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, xmit_origin)
        sent_wall, sent_mono = time.time_ns(), time.monotonic_ns()
        sock.send(request)
        data = sock.recv(8192)
        received_wall = sent_wall + max(0, time.monotonic_ns() - sent_mono)
    if len(data) < _HEADER.size:
        raise ValueError(f"short SNTP reply ({len(data)} bytes)")
    li_vn_mode, stratum, _poll, _precision, root_delay, root_disp, _refid, ref, origin, recv, xmt = _HEADER.unpack_from(
        data
    )
    if li_vn_mode & 0x7 != 4:
        raise ValueError("invalid mode in SNTP reply")
    if xmt == 0:
        raise ValueError("invalid transmit time in SNTP reply")
    if origin != xmit_origin:
        raise ValueError("SNTP reply does not match the request")
    if recv > xmt:
        raise ValueError("server clock ticked backwards")
    org = _ns_to_ntp(sent_wall + NTP_TO_UNIX * NANO)
    dst = _ns_to_ntp(received_wall + NTP_TO_UNIX * NANO)
    a, b = _signed(recv - org), _signed(xmt - dst)
    off = a + (b - a) // 2 if (b - a) >= 0 else a - ((a - b) // 2)  # Go's integer division truncates to zero
    offset = -_ntp_to_ns(-off) if off < 0 else _ntp_to_ns(off)
    rtt = max(0, _signed(dst - org) - _signed(xmt - recv))
    error0 = (org - recv) if org >= recv else 0
    error1 = (xmt - dst) if xmt >= dst else 0
    return {
        "leap": li_vn_mode >> 6,
        "stratum": stratum,
        "rtt": _ntp_to_ns(rtt),
        "offset": offset,
        "time": _ntp_to_ns(xmt) - NTP_TO_UNIX * NANO,
        "ref": _ntp_to_ns(ref) - NTP_TO_UNIX * NANO,
        "root_delay": _short_to_ns(root_delay),
        "root_dispersion": _short_to_ns(root_disp),
        "min_error": _ntp_to_ns(max(error0, error1)),
    }


def go_seconds(ns: int) -> float:
    """time.Duration.Seconds(): whole seconds plus the rest divided by 1e9 (truncating toward zero)."""
    sec = abs(ns) // NANO * (1 if ns >= 0 else -1)
    return float(sec) + float(ns - sec * NANO) / 1e9


def valid(r: dict) -> bool:
    """The NTP client's own checks (RFC 5905): stratum, freshness, dispersion, time order, leap indicator."""
    if r["stratum"] == 0 or r["stratum"] >= MAX_STRATUM:
        return False
    if r["time"] - r["ref"] > MAX_POLL_INTERVAL:
        return False
    if r["root_delay"] // 2 + r["root_dispersion"] > MAX_DISPERSION:
        return False
    if r["time"] < r["ref"]:
        return False
    return r["leap"] != 3


@node_collectors.register
class NTPCollector(HostCollector):
    name = "ntp"
    default_enabled = False
    description = "Local NTP server state (SNTP query; deprecated in node_exporter)."
    metrics = (STRATUM, LEAP, RTT, OFFSET, REFTIME, ROOT_DELAY, ROOT_DISPERSION, SANITY)
    flags = (
        Flag(
            "--collector.ntp.server",
            "collector_ntp_server",
            "NTP server to use for ntp collector.",
            default="127.0.0.1",
            metavar="ADDRESS",
        ),
        Flag(
            "--collector.ntp.server-port",
            "collector_ntp_server_port",
            "UDP port number to connect to on NTP server.",
            default=123,
            type=int,
        ),
        Flag(
            "--collector.ntp.protocol-version",
            "collector_ntp_protocol_version",
            "NTP protocol version.",
            default=4,
            type=int,
        ),
        Flag(
            "--collector.ntp.server-is-local",
            "collector_ntp_server_is_local",
            "Certify that collector.ntp.server address is not a public ntp server.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.ntp.ip-ttl",
            "collector_ntp_ip_ttl",
            "IP TTL to use while sending NTP query.",
            default=1,
            type=int,
        ),
        Flag(
            "--collector.ntp.max-distance",
            "collector_ntp_max_distance",
            "Max accumulated distance to the root.",
            default="3.46608s",
            metavar="DURATION",
        ),
        Flag(
            "--collector.ntp.local-offset-tolerance",
            "collector_ntp_local_offset_tolerance",
            "Offset between local clock and local ntpd time to tolerate.",
            default="1ms",
            metavar="DURATION",
        ),
    )
    _leap_midnight = 0  # ns since the epoch; node_exporter keeps it across scrapes (the leap flag drops at midnight)
    _leap_lock = threading.Lock()

    def __init__(self, settings) -> None:
        super().__init__(settings)
        g = settings.get
        self.server = g("collector_ntp_server") or "127.0.0.1"
        try:
            loopback = ipaddress.ip_address(self.server).is_loopback
        except ValueError:
            loopback = False
        if not g("collector_ntp_server_is_local") and not loopback:
            raise ConfigError("only IP address of local NTP server is valid for --collector.ntp.server")
        self.version = int(g("collector_ntp_protocol_version") or 4)
        if not 2 <= self.version <= 4:
            raise ConfigError(f"invalid NTP protocol version {self.version}; must be 2, 3, or 4")
        self.port = int(g("collector_ntp_server_port") or 123)
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"invalid NTP port number {self.port}; must be between 1 and 65535 inclusive")
        self.ttl = int(g("collector_ntp_ip_ttl") if g("collector_ntp_ip_ttl") is not None else 1)
        self.max_distance = go_duration("collector.ntp.max-distance", g("collector_ntp_max_distance") or "3.46608s")
        self.tolerance = go_duration(
            "collector.ntp.local-offset-tolerance", g("collector_ntp_local_offset_tolerance") or "1ms"
        )
        if self.tolerance < 0:
            raise ConfigError("offset tolerance must be non-negative")

    def read(self):
        r = query(self.server, self.port, self.version, self.ttl, max(0.1, min(1.0, remaining_seconds())))
        values = {
            STRATUM: r["stratum"],
            LEAP: r["leap"],
            RTT: go_seconds(r["rtt"]),
            OFFSET: go_seconds(r["offset"]),
            # float64(UnixNano) / 1e9, as node_exporter computes it
            REFTIME: float(r["ref"]) / 1e9 if r["ref"] >= NANO else 0,
            ROOT_DELAY: go_seconds(r["root_delay"]),
            ROOT_DISPERSION: go_seconds(r["root_dispersion"]),
        }
        max_error = self.tolerance
        cls = type(self)
        with cls._leap_lock:
            if r["leap"] in (1, 2):  # a leap second is announced: tolerate smearing around that midnight
                cls._leap_midnight = r["time"] - r["time"] % DAY + DAY
            if cls._leap_midnight and cls._leap_midnight - DAY < r["time"] < cls._leap_midnight + DAY:
                max_error += NANO
        root_distance = (r["rtt"] + r["root_delay"]) // 2 + r["root_dispersion"]
        values[SANITY] = 1 if valid(r) and root_distance <= self.max_distance and r["min_error"] <= max_error else 0
        for d, value in values.items():
            fam = d.family()
            fam.add((), value)
            yield fam
