"""One persistent connection per Redis target, and one pipeline per scrape.

redis_exporter opens a new connection every scrape and sends its commands one by one; a hung
server holds it for its 15 s connection timeout. Here:
- the connection is kept between scrapes (named by ``CLIENT SETNAME``), made again when it breaks;
- every command a scrape needs whatever the collectors (INFO ALL, the CONFIG keys, SLOWLOG,
  LATENCY) goes out as one pipeline: one round trip; collectors turn the replies into families;
- every wait is bounded by the scrape deadline; a connection left mid-reply is dropped;
- ``redis_up`` is whether this scrape's INFO answered;
- a command the server refuses (a managed Redis without CONFIG, an ACL without SLOWLOG) fails only
  the collector that needs it, with a short reason.

Commands with more round trips (SCAN for key checks, CLUSTER INFO) go through :meth:`execute`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable

from ..core.collector import NoData, Settings
from ..core.errors import first_line
from ..core.logging import log_on_change
from ..core.metrics import COUNTER, GAUGE, SUMMARY, MetricDef
from ..core.scrape import ScrapeHooks, ScrapeResult, current_run  # current_run: see _Scrape
from ..core.scrape import time_left as _left
from . import resp
from .address import RedisTarget

log = logging.getLogger("exporters.redis")

UP = MetricDef("redis_up", GAUGE, "Information about the Redis instance")
LAST_ERROR = MetricDef("redis_exporter_last_scrape_error", GAUGE, "The last scrape error status.", ("err",))
SCRAPES = MetricDef("redis_exporter_scrapes_total", COUNTER, "Current total redis scrapes.")
# HELP as 1.45's (its table-driven "<name without namespace> metric")
LAST_DURATION = MetricDef(
    "redis_exporter_last_scrape_duration_seconds", GAUGE, "exporter_last_scrape_duration_seconds metric"
)
CONNECT_TIME = MetricDef(
    "redis_exporter_last_scrape_connect_time_seconds", GAUGE, "exporter_last_scrape_connect_time_seconds metric"
)
SCRAPE_DURATION = MetricDef("redis_exporter_scrape_duration_seconds", SUMMARY, "Durations of scrapes by the exporter")
PING_TIME = MetricDef(
    "redis_exporter_last_scrape_ping_time_seconds", GAUGE, "exporter_last_scrape_ping_time_seconds metric"
)  # --ping-on-connect (1.69)
STATUS_METRICS = (UP, LAST_ERROR, SCRAPES, LAST_DURATION, CONNECT_TIME, SCRAPE_DURATION, PING_TIME)

# CONFIG keys the config and keyspace collectors read; one CONFIG GET each (6.2 takes one pattern)
CONFIG_KEYS = ("maxmemory", "maxclients", "io-threads", "databases", "client-output-buffer-limit")


class TargetDown(NoData):
    """This scrape could not talk to the target; collectors fail fast (logged once by the session).
    ``cls`` is the error class of the cause (see :func:`error_class`)."""

    def __init__(self, message: str, cls: str = "connection failed", cause: str = "") -> None:
        super().__init__(message)
        self.cls = cls
        self.cause = cause


class CommandFailed(RuntimeError):
    """The server answered a command with an error (NOPERM, unknown command): one collector fails.
    ``detail`` is the server's whole error line (SENTINEL CKQUORUM's answer is one)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


def _refused(exc: Exception) -> CommandFailed:
    return CommandFailed(_short_refusal(exc), str(exc).strip().split("\n")[0][:500])


def error_class(exc: BaseException) -> str:
    """A short, bounded class for ``redis_exporter_last_scrape_error{err}``: never raw error text,
    which could carry a host name, a key or a password and would make a new series each time."""
    from redis import exceptions as rex

    if isinstance(exc, TargetDown):
        return exc.cls
    text = str(exc).lower()
    if isinstance(exc, (asyncio.TimeoutError, rex.TimeoutError)):
        return "timeout"
    if (
        isinstance(exc, rex.AuthenticationError)
        or "wrongpass" in text
        or "noauth" in text
        or "invalid password" in text
        or "auth" in text
        and "without" in text
    ):
        return "authentication failed"
    if isinstance(exc, rex.NoPermissionError) or "noperm" in text:
        return "no permission"
    if "loading" in text:
        return "loading"
    if isinstance(exc, (rex.ConnectionError, OSError)):
        return "connection failed"
    return "error"


_ERRNO_CAUSES = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connect timed out",
    errno.EPIPE: "connection closed",
    errno.ENOENT: "no such socket",
    errno.EACCES: "permission denied",
}


def error_cause(exc: BaseException) -> str:
    """Why a connection failed, for the log line and /health ("connection failed (connection
    refused)"): a few words from a fixed set, never the server's or the OS's raw text."""
    from redis import exceptions as rex

    if isinstance(exc, TargetDown):
        return exc.cause
    text = str(exc).lower()
    max_clients = getattr(rex, "MaxClientsReachedError", ())
    if (max_clients and isinstance(exc, max_clients)) or "max number of clients" in text:
        return "max number of clients reached"
    if isinstance(exc, (asyncio.TimeoutError, rex.TimeoutError)):
        return ""  # the class, "timeout", says it
    if (
        isinstance(exc, rex.AuthenticationError)
        or "wrongpass" in text
        or "invalid password" in text
        or "invalid username-password" in text
    ):
        return "wrong user name or password"
    if "noauth" in text or "authentication required" in text:
        return "the server wants a password"
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 5:  # redis-py wraps the OSError
        seen.append(cur)
        if isinstance(cur, ssl.SSLCertVerificationError):
            return "TLS certificate not trusted"
        if isinstance(cur, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cur, socket.gaierror):
            return "host name not found"
        if isinstance(cur, OSError) and cur.errno in _ERRNO_CAUSES:
            return _ERRNO_CAUSES[cur.errno]
        cur = cur.__cause__ or cur.__context__
    if "closed by server" in text or "connection closed" in text:
        return "connection closed by the server"
    if "refused" in text:
        return "connection refused"
    return ""


def with_cause(error: str, cause: str) -> str:
    """``connection failed (connection refused)``; the class alone when the cause adds nothing."""
    return f"{error} ({cause})" if cause and error and cause != error else error


def _tls_connection_class():
    from redis.asyncio.connection import SSLConnection

    class TLSConnection(SSLConnection):
        """redis-py's TLS connection, plus the server name to verify (--tls-server-name)."""

        server_hostname: str | None = None

        def _connection_arguments(self):
            kwargs = super()._connection_arguments()
            if self.server_hostname:
                kwargs["server_hostname"] = self.server_hostname
            return kwargs

    return TLSConnection


@dataclass
class _Scrape:
    """One scrape's replies and outcome. Scrapes of one target can run at the same time (other
    collect[] sets, an earlier deadline than the running one's: not coalesced); each finds its
    own by its deadline, which the scrape's before(), collectors and families() share through
    their context (a per-session attribute would hand one scrape another's replies)."""

    replies: dict[str, object] = field(default_factory=dict)  # by name; an Exception when refused
    up: bool = False
    error: str = ""
    ping: float | None = None  # seconds PING took (--ping-on-connect)
    started: float = field(default_factory=time.monotonic)
    cause: str = ""  # error_cause(): for the log and /health, not the metric


class RedisSession(ScrapeHooks):
    def __init__(
        self,
        target: RedisTarget,
        settings: Settings,
        password_source: Callable[[RedisTarget], RedisTarget] | None = None,
    ) -> None:
        self.target = target
        # the target with the password --redis.password-file gives it now (the options' PasswordSource.current)
        self.password_source = password_source
        self.display = target.display
        self.label = target.address
        self.timeout = float(settings.connection_timeout)
        self.client_name = "flextime-exporter" if settings.set_client_name else None
        self.config_command = settings.config_command
        self.latency_histogram = not settings.exclude_latency_histogram_metrics
        self.settings = settings
        self._conn = None
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()  # one connection at a time, whoever asks (scrape, /health)
        self.version: tuple[int, ...] = ()  # the server's redis_version, read when connecting
        self.sentinel = False  # redis_mode (Valkey: server_mode) sentinel, read when connecting: no CONFIG ...
        self.ping_on_connect = bool(settings.get("ping_on_connect"))
        self.all_config = bool(settings.get("include_config_metrics"))
        self._scrapes: dict[object, _Scrape] = {}  # the running scrapes, by their run (core.scrape.current_run)
        self._last = _Scrape()  # the latest finished before(): what a caller outside a scrape sees
        self.connect_time = 0.0
        self.scrapes = 0
        self.durations = (0, 0.0)  # count, sum of scrape durations
        self._logged_error = ""

    # ---- the connection -----------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.target.scheme != "rediss":
            return None
        s = self.settings
        ctx = ssl.create_default_context(cafile=s.get("tls_ca_cert_file") or None)
        if s.get("tls_client_cert_file"):
            # password "": an encrypted key fails instead of OpenSSL prompting on the terminal
            ctx.load_cert_chain(s.tls_client_cert_file, s.get("tls_client_key_file") or None, password="")
        if s.get("skip_tls_verification"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _make_connection(self):
        from redis.asyncio.connection import Connection, UnixDomainSocketConnection

        t = self.target
        # A user name without a password sends no AUTH, as redis_exporter (redigo) does; redis-py
        # would send "AUTH user None" and fail.
        common = dict(
            db=t.db,
            username=(t.username or None) if t.password else None,
            password=t.password or None,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=None,
            client_name=self.client_name,
            **_quiet_connection_kwargs(),
        )
        if t.scheme == "unix":
            return UnixDomainSocketConnection(path=t.path, **common)
        if t.scheme == "rediss":
            conn = _tls_connection_class()(host=t.host, port=t.port, **common)
            conn.ssl_context.context = self._ssl_context()  # our CA, client certificate and skip-verify
            conn.server_hostname = self.settings.get("tls_server_name") or None
            return conn
        return Connection(host=t.host, port=t.port, **common)

    async def _connect(self) -> None:
        """Connect unless connected (a failed connection is dropped by execute()); one at a time,
        so a scrape and /health, or two scrapes, never both connect. Also reads the server's
        version (INFO server, once per connection): commands a server lacks are not sent to it,
        so a restricted ACL user never gets them refused."""
        async with self._connect_lock:
            if self._conn is not None:
                return
            started = time.perf_counter()
            conn = self._make_connection()
            try:
                await asyncio.wait_for(self._open(conn), timeout=_left(self.timeout))
            except BaseException:
                await self._close_quietly(conn)
                raise
            self._conn = conn
            self.connect_time = time.perf_counter() - started

    async def _open(self, conn) -> None:
        from redis import exceptions as rex

        await conn.connect()
        await conn.send_command("INFO", "server", check_health=False)
        try:
            reply = await conn.read_response()
        except rex.ResponseError:  # INFO refused: this scrape's INFO will say so
            return
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        for line in text.splitlines():
            if line.startswith("redis_version:"):
                self.version = tuple(int(p) for p in line.split(":", 1)[1].strip().split(".") if p.isdigit())
            elif line.startswith(("redis_mode:", "server_mode:")):  # Valkey 8 says server_mode
                self.sentinel = line.split(":", 1)[1].strip() == "sentinel"

    @staticmethod
    async def _close_quietly(conn) -> None:
        try:
            await asyncio.wait_for(conn.disconnect(nowait=True), timeout=1)
        except Exception:  # a connection we give up on may fail to close cleanly
            pass

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._close_quietly(conn)

    async def execute(self, *commands: tuple) -> list:
        """Send ``commands`` as one pipeline on the kept connection and return the replies in
        order; a reply the server refused is a CommandFailed in its place. Raises TargetDown
        when the connection fails (it is then dropped)."""
        from redis import exceptions as rex

        if self._conn is None:
            raise TargetDown(f"no connection to {self.display}")
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise TargetDown(f"no connection to {self.display}")
            try:
                return await asyncio.wait_for(self._pipeline(conn, commands), timeout=_left(self.timeout))
            except (
                asyncio.TimeoutError,
                asyncio.CancelledError,
                rex.ConnectionError,
                rex.TimeoutError,
                OSError,
            ) as exc:
                if self._conn is conn:  # mid-reply or broken: a new connection next time
                    self._conn = None
                    asyncio.get_running_loop().create_task(self._close_quietly(conn))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                cls = error_class(exc)
                raise TargetDown(f"{self.display}: {cls}", cls, error_cause(exc)) from None

    @staticmethod
    async def _pipeline(conn, commands) -> list:
        from redis import exceptions as rex

        await conn.send_packed_command(resp.pack_commands(conn, commands), check_health=False)
        reader = getattr(conn, "_reader", None)
        if (
            isinstance(reader, asyncio.StreamReader)
            and not conn.encoder.decode_responses
            and str(getattr(conn, "protocol", 2) or 2) == "2"
        ):
            replies = await resp.read_replies(reader, len(commands), conn._parser.parse_error)
            return [_refused(r) if isinstance(r, rex.ResponseError) else r for r in replies]
        replies: list = []
        for _ in commands:  # redis-py's own parser: one coroutine per RESP line
            try:
                replies.append(await conn.read_response())
            except rex.ResponseError as exc:  # the reply was read: the connection stays in step
                replies.append(_refused(exc))
        return replies

    # ---- one scrape -----------------------------------------------------------------------------
    def _scrape_commands(self) -> list[tuple[str, tuple]]:
        cmds = [("info", ("INFO", "ALL"))]
        if self.sentinel:  # no CONFIG, SLOWLOG or LATENCY on a sentinel; its masters instead
            return cmds + [("sentinel_masters", ("SENTINEL", "MASTERS"))]
        if self.config_command != "-" and self.all_config:  # --include-config-metrics: every setting
            cmds.append(("config:*", (self.config_command, "GET", "*")))
        elif self.config_command != "-":
            cmds += [(f"config:{k}", (self.config_command, "GET", k)) for k in CONFIG_KEYS]
        cmds += [
            ("slowlog_len", ("SLOWLOG", "LEN")),
            ("slowlog_get", ("SLOWLOG", "GET", "1")),
            ("latency_latest", ("LATENCY", "LATEST")),
        ]
        if self.latency_histogram and (not self.version or self.version >= (7,)):  # Redis 7+, every Valkey
            cmds.append(("latency_histogram", ("LATENCY", "HISTOGRAM")))
        if self.settings.get("include_modules_metrics"):
            cmds.append(("info_modules", ("INFO", "MODULES")))
        if self.settings.get("is_tile38"):
            cmds.append(("tile38", ("SERVER", "EXT")))
        return cmds

    # ---- this scrape's state ------------------------------------------------------------------
    def _current(self) -> _Scrape:
        return self._scrapes.get(current_run(), self._last)

    @property
    def replies(self) -> dict[str, object]:
        """This scrape's replies by name (an Exception where the server refused the command)."""
        return self._current().replies

    @property
    def up(self) -> bool:
        return self._current().up

    @property
    def error(self) -> str:
        return self._current().error

    async def before(self) -> None:
        """Connect if needed and send the scrape's pipeline; its INFO reply is this scrape's redis_up."""
        self.scrapes += 1
        now = time.monotonic()
        for run in [r for r, st in self._scrapes.items() if st.started < now - 60]:  # families() never came
            del self._scrapes[run]
        state = self._scrapes[current_run()] = _Scrape()
        try:
            self._rotate_password()
            fresh = self._conn is None
            await self._connect()
            cmds = self._scrape_commands()
            try:
                replies = await self.execute(*(c for _, c in cmds))
            except TargetDown as exc:
                if fresh or exc.cls == "timeout":
                    raise
                await self._connect()  # the kept connection died (a restart): one fresh try
                cmds = self._scrape_commands()
                replies = await self.execute(*(c for _, c in cmds))
            state.replies = dict(zip((n for n, _ in cmds), replies))
            info = state.replies["info"]
            if isinstance(info, CommandFailed):
                raise info
            if self.ping_on_connect:  # its own round trip, timed (redis_exporter PINGs each new connection)
                started = time.perf_counter()
                (pong,) = await self.execute(("PING",))
                if not isinstance(pong, Exception):
                    state.ping = time.perf_counter() - started
            self._set_state(state, True, "")
        except asyncio.CancelledError:
            self._set_state(state, False, "timeout")
            await self._discard()
            raise
        except Exception as exc:
            self._set_state(state, False, error_class(exc), error_cause(exc))
            await self._discard()

    def _rotate_password(self) -> None:
        """--redis.password-file changed (a rotated secret): this target's password as the file has it
        now; when it differs, the next connection is made with it."""
        if self.password_source is None:
            return
        target = self.password_source(self.target)
        if target.key() != self.target.key():
            self.target = target
            conn, self._conn = self._conn, None
            if conn is not None:
                asyncio.get_running_loop().create_task(self._close_quietly(conn))

    def _set_state(self, state: _Scrape, up: bool, error: str, cause: str = "") -> None:
        state.up, state.error, state.cause = up, error, cause
        self._last = state
        said = with_cause(error, cause) if error else ""
        self._logged_error = log_on_change(
            log, self._logged_error, said, "cannot scrape %s: %s", "connected to %s again", self.display
        )

    def reply(self, name: str):
        """This scrape's reply to ``name``; raises TargetDown or CommandFailed as collectors should."""
        state = self._current()
        if not state.up:
            raise TargetDown(f"no connection to {self.display}", state.error or "connection failed")
        if name not in state.replies:
            raise NoData(f"{name} was not asked for (switched off by a flag)")
        value = state.replies[name]
        if isinstance(value, Exception):
            raise value
        return value

    def families(self, result: ScrapeResult):
        state = self._scrapes.pop(current_run(), self._last)
        count, total = self.durations
        self.durations = (count + 1, total + result.duration)
        out = []
        up = UP.family()
        up.add((), 1 if state.up else 0)
        out.append(up)
        err = LAST_ERROR.family()
        err.add((state.error,), 1 if state.error else 0)
        out.append(err)
        for d, v in ((SCRAPES, self.scrapes), (LAST_DURATION, result.duration), (CONNECT_TIME, self.connect_time)):
            fam = d.family()
            fam.add((), v)
            out.append(fam)
        if state.ping is not None:
            ping = PING_TIME.family()
            ping.add((), state.ping)
            out.append(ping)
        summary = SCRAPE_DURATION.family()
        summary.add((), total + result.duration, "_sum")
        summary.add((), count + 1, "_count")
        out.append(summary)
        return out

    async def close(self) -> None:
        await self._discard()

    async def health(self) -> str | None:
        """For /health: does the target answer PING right now (bounded)?"""
        try:
            await asyncio.wait_for(self._connect(), timeout=5)
            reply = (await asyncio.wait_for(self.execute(("PING",)), timeout=5))[0]
            return None if not isinstance(reply, Exception) else str(reply)
        except Exception as exc:
            return with_cause(error_class(exc), error_cause(exc))


def _quiet_connection_kwargs() -> dict:
    """RESP2 and no client-library chatter (CLIENT SETINFO, HELLO, CLIENT MAINT_NOTIFICATIONS):
    only the commands redis_exporter sends, which a least-privilege ACL allows. Whatever the
    redis-py release (>= 5) offers of these switches."""
    import inspect

    from redis.asyncio.connection import AbstractConnection

    params = inspect.signature(AbstractConnection.__init__).parameters
    kwargs: dict = {"protocol": 2} if "protocol" in params else {}
    if "driver_info" in params:
        kwargs["driver_info"] = None
    elif "lib_name" in params:
        kwargs.update(lib_name=None, lib_version=None)
    if "maint_notifications_config" in params:
        from redis.maint_notifications import MaintNotificationsConfig

        kwargs["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return kwargs


def _short_refusal(exc: Exception) -> str:
    """The first words of a server's refusal ('NOPERM ...', 'ERR unknown command ...'), bounded."""
    text = first_line(exc)
    code = getattr(exc, "status_code", None)  # redis-py takes 'NOPERM' off the text into status_code
    if isinstance(code, str) and code and not text.startswith(code):
        text = f"{code} {text}"
    return text[:120]
