"""supervisord (off by default): the processes supervisord runs, from its XML-RPC interface
(``supervisor.getAllProcessInfo`` at --collector.supervisord.url: http(s)://... or unix:///path/to/socket),
under the scrape deadline."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from urllib.parse import urlsplit

from ..core.collector import Flag
from ..core.metrics import counter, gauge
from ..core.scrape import remaining_seconds
from .registry import HostCollector, node_collectors

LABELS = ("name", "group")
UP = gauge("node_supervisord_up", "Process Up", *LABELS)
STATE = gauge("node_supervisord_state", "Process State", *LABELS)
EXIT_STATUS = gauge("node_supervisord_exit_status", "Process Exit Status", *LABELS)
# a counter without _total, as in node_exporter
START_TIME = counter("node_supervisord_start_time_seconds", "Process start time", *LABELS)
RUNNING_STATES = {10, 20, 40}  # STARTING, RUNNING, STOPPING (supervisord's process states)
MAX_SECONDS = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class _Transport(xmlrpc.client.Transport):
    """HTTP or a unix socket, with a timeout on every read."""

    def __init__(self, unix_path: str | None, timeout: float, https: bool) -> None:
        super().__init__()
        self.unix_path, self.timeout, self.https = unix_path, timeout, https

    def make_connection(self, host):
        if self.unix_path:
            return _UnixConnection(self.unix_path, self.timeout)
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(host, timeout=self.timeout)


@node_collectors.register
class SupervisordCollector(HostCollector):
    name = "supervisord"
    default_enabled = False
    description = "Processes run by supervisord (XML-RPC)."
    metrics = (STATE, EXIT_STATUS, UP, START_TIME)
    flags = (
        Flag(
            "--collector.supervisord.url",
            "collector_supervisord_url",
            "XML RPC endpoint.",
            default="http://localhost:9001/RPC2",
            metavar="URL",
            env=("SUPERVISORD_URL",),
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.url = settings.get("collector_supervisord_url") or "http://localhost:9001/RPC2"
        parts = urlsplit(self.url)
        self.unix_path = parts.path if parts.scheme == "unix" else None
        self.endpoint = "http://unix/RPC2" if self.unix_path else self.url
        self.https = parts.scheme == "https"

    def read(self):
        timeout = max(0.1, min(MAX_SECONDS, remaining_seconds()))
        proxy = xmlrpc.client.ServerProxy(self.endpoint, transport=_Transport(self.unix_path, timeout, self.https))
        try:
            processes = proxy.supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            raise RuntimeError(f"unable to call supervisord at {self.url}: {exc}") from None
        families = {d.name: d.family() for d in self.metrics}
        for p in processes:
            labels = (str(p.get("name", "")), str(p.get("group", "")))
            state = int(p.get("state", 0))
            families[STATE.name].add(labels, state)
            families[EXIT_STATUS.name].add(labels, int(p.get("exitstatus", 0)))
            running = state in RUNNING_STATES
            families[UP.name].add(labels, 1 if running else 0)
            if running:
                families[START_TIME.name].add(labels, int(p.get("start", 0)))
        return list(families.values())
