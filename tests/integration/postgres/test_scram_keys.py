"""The fan-out's SCRAM keys (exporters/postgres/scram.py, fanout.py) on a real primary.

- The exporter learns the keys once (debug log), serves every database with collector success
  1, and neither the password nor the keys show in its log, landing page or /metrics.
- The keys alone log in (no password anywhere), and wrong keys do not: a wrong client key is
  refused by the server, a wrong server key by libpq (the server's signature).
- libpq really uses them: for a role whose SCRAM secret has 300,000 PBKDF2 rounds, a scrape
  that opens three connections costs the exporter less CPU than one PBKDF2, where the same
  exporter with the keys ruled out (require_auth) spends at least three.
- A new salt under a running exporter (ALTER ROLE ... PASSWORD with the same password): no
  failed scrape, and the log says the keys were refused and learned again.
- The password from a libpq password file or DATA_SOURCE_PASS_FILE, with characters a URI or a
  password file must escape: the keys are learned all the same; a non-ASCII one: no keys.
- A role that the server authenticates otherwise (md5, password, trust: a pg_hba line of its
  own, removed afterwards): every database is served, the keys are switched off once, for good.

Every role here is our own (the shared ``exporter`` role's password is never changed)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from conftest import parse_families, value

from exporters.postgres import scram

from .conftest import EXPORTER_ROLE, PgServer, _missing

PREFIX = "sk_" + secrets.token_hex(3)  # our databases and roles: other tests share the server
DATABASES = tuple(f"{PREFIX}_{c}" for c in "abc")
FANOUT = ("stat_user_tables", "statio_user_tables")
LEARNED = "fan-out: SCRAM keys learned for"
REFUSED = "fan-out: SCRAM keys refused where the password was not; learning them again"
NO_KEYS = "fan-out: no SCRAM keys for"
NO_PASSFILE = "/nonexistent/flextime-no-pgpass"  # no password from ~/.pgpass behind our back


def table_of(db: str) -> str:
    return f"t_{db}"


@pytest.fixture(scope="module")
def databases(pg_primary: PgServer):
    if not scram.supported():  # psycopg-binary bundles libpq 18: a skip on a laptop without it, a failure in CI
        _missing(f"libpq {psycopg.pq.version()} has no scram_client_key (libpq 18 or later)")
    pg_primary.psql("".join(f"CREATE DATABASE {db};\n" for db in DATABASES))
    try:
        for db in DATABASES:
            pg_primary.psql(
                f"CREATE TABLE {table_of(db)} (id int PRIMARY KEY);\n"
                f"INSERT INTO {table_of(db)} SELECT generate_series(1, 5);\n",
                dbname=db,
            )
        yield DATABASES
    finally:
        pg_primary.psql("".join(f"DROP DATABASE IF EXISTS {db} WITH (FORCE);\n" for db in DATABASES))


class Roles:
    """Roles of our own (LOGIN, pg_monitor), dropped at the end."""

    def __init__(self, pg: PgServer) -> None:
        self.pg, self.names = pg, []

    def make(
        self, secret: str | None = None, encryption: str = "scram-sha-256", password: str | None = None
    ) -> tuple[str, str]:
        """(name, password): a fresh role; ``secret`` stores that SCRAM secret instead of hashing the password."""
        name, password = f"{PREFIX}_r{len(self.names)}", password or "canary-" + secrets.token_hex(12)
        self.names.append(name)
        stored = (secret or password).replace("'", "''")
        self.pg.psql(
            f"SET password_encryption = '{encryption}';\n"
            f"CREATE ROLE {name} LOGIN PASSWORD '{stored}' IN ROLE pg_monitor;\n"
        )
        return name, password

    def drop(self) -> None:
        for name in self.names:
            self.pg.psql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}';\n"
                f"DROP ROLE IF EXISTS {name};\n"
            )


@pytest.fixture
def roles(pg_primary):
    made = Roles(pg_primary)
    yield made
    made.drop()


def dsn(pg: PgServer, role: str, password: str, extra: str = "") -> str:
    return f"postgresql://{role}:{password}@{pg.host}:{pg.port}/postgres?sslmode=disable{extra}"


def start(exporter_factory, pg: PgServer, role: str, password: str, *args: str, extra: str = ""):
    """Our exporter as ``role``, at debug level, with a bound of 1: more databases than connections,
    so every scrape opens a connection per database (none is kept) and each one logs in."""
    return exporter_factory(
        "--compat=0.11",
        f"--postgres.application-name={PREFIX}-{role}",
        "--log.level=debug",
        "--auto-discover-databases",
        "--postgres.fanout-connections=1",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": dsn(pg, role, password, extra)},
    )


def scrape(exp, collectors=FANOUT, everything: bool = True) -> str:
    """One scrape (of only ``collectors`` unless ``everything``): pg_up 1, the fan-out collectors' success 1."""
    resp = exp.get() if everything else exp.get("/metrics?" + "&".join(f"collect[]={c}" for c in collectors))
    assert resp.status == 200, resp.text
    assert value(resp.text, "pg_up") == 1
    for collector in collectors:
        assert value(resp.text, "pg_scrape_collector_success", collector=collector) == 1, (collector, exp.log()[-2000:])
    return resp.text


def tables_by_db(text: str) -> dict[str, set[str]]:
    fam = parse_families(text).get("pg_stat_user_tables_n_live_tup")
    out: dict[str, set[str]] = {}
    for s in fam.samples if fam else ():
        out.setdefault(s.labels["datname"], set()).add(s.labels["relname"])
    return out


def assert_every_database(text: str, databases) -> None:
    seen = tables_by_db(text)
    for db in databases:
        assert seen.get(db) == {table_of(db)}, (db, seen)
    heap = {s.labels["datname"] for s in parse_families(text)["pg_statio_user_tables_heap_blks_hit"].samples}
    assert set(databases) <= heap


def assert_no_secrets(exp, *secrets_: str) -> None:
    """Neither the password nor the keys, anywhere the exporter shows something (debug log included)."""
    outputs = {"log": exp.log(), "/metrics": exp.get().text, "/": exp.get("/").text}
    for where, text in outputs.items():
        for secret in secrets_:
            assert secret not in text, f"a secret shows in {where}"


def learn(target: dict) -> dict:
    return asyncio.run(scram.learn(target, 10.0))


def target_of(pg: PgServer, role: str, password: str, dbname: str = "postgres") -> dict:
    """scram.eligible() of a real connection: what the fan-out logs in with."""
    with psycopg.connect(dsn(pg, role, password), dbname=dbname, passfile=NO_PASSFILE) as conn:
        target = scram.eligible(conn)
    assert target is not None
    assert (target["host"], target["port"], target["user"], target["dbname"]) == (pg.host, pg.port, role, dbname)
    return target


def connect_with_keys(pg: PgServer, role: str, keys: dict, dbname: str = "postgres"):
    """A libpq connection with the keys and no password at all."""
    return psycopg.connect(
        host=pg.host,
        port=pg.port,
        user=role,
        dbname=dbname,
        sslmode="disable",
        passfile=NO_PASSFILE,
        connect_timeout=5,
        **keys,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# ---- 1. learned, used, and every database served -----------------------------------------------


def test_fanout_learns_the_keys_and_serves_every_database(exporter_factory, pg_primary, databases):
    """The shared ``exporter`` role (read only here); no include list: every database of the server."""
    pw = pg_primary.exporter_password
    exp = start(exporter_factory, pg_primary, EXPORTER_ROLE, pw)
    for _ in range(3):
        text = scrape(exp)
        assert_every_database(text, databases)
        assert "items" in tables_by_db(text).get("app1", set()) and "app2" in tables_by_db(text)
    log = exp.log()
    assert log.count(LEARNED) == 1, log  # once, not per connection nor per scrape
    assert f"{LEARNED} postgresql://{EXPORTER_ROLE}@{pg_primary.host}:{pg_primary.port}/postgres" in log
    assert REFUSED not in log and NO_KEYS not in log
    # the keys the exporter holds are those of the role's current salt: what a login of ours learns
    keys = learn(target_of(pg_primary, EXPORTER_ROLE, pw))
    assert_no_secrets(exp, pw, *keys.values())


def test_the_keys_alone_log_in_and_wrong_keys_do_not(pg_primary, databases, roles):
    role, pw = roles.make()
    keys = learn(target_of(pg_primary, role, pw, dbname=databases[0]))
    assert set(keys) == {"scram_client_key", "scram_server_key"}
    # the keys are the role's: derived from the password and the salt the server stores
    secret = pg_primary.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    method, rest = secret.split("$", 1)
    iterations, salt = rest.split("$")[0].split(":")
    client_key, server_key = scram.derive(pw, base64.b64decode(salt), int(iterations))
    assert method == "SCRAM-SHA-256"
    assert keys == {
        "scram_client_key": base64.b64encode(client_key).decode(),
        "scram_server_key": base64.b64encode(server_key).decode(),
    }
    assert secret.endswith(":" + base64.b64encode(server_key).decode())
    # libpq logs in with them alone, into every database
    for db in ("postgres", *databases):
        with connect_with_keys(pg_primary, role, keys, db) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (role, db)
            assert conn.pgconn.used_password  # SCRAM happened (the keys stand for the password)
    # without keys nor password: refused (so the success above is the keys' doing)
    with pytest.raises(psycopg.OperationalError):
        connect_with_keys(pg_primary, role, {})
    # a wrong client key: the server refuses the proof
    wrong = base64.b64encode(bytes([client_key[0] ^ 1]) + client_key[1:]).decode()
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect_with_keys(pg_primary, role, {**keys, "scram_client_key": wrong})
    # a wrong server key: the server accepts the proof, libpq refuses the server's signature
    wrong = base64.b64encode(bytes([server_key[0] ^ 1]) + server_key[1:]).decode()
    with pytest.raises(psycopg.OperationalError, match="(?i)signature"):
        connect_with_keys(pg_primary, role, {**keys, "scram_server_key": wrong})
    # over the unix socket too (pg_hba: local all all scram-sha-256), with the same salt, the same keys
    with psycopg.connect(
        host=str(pg_primary.socket_dir),
        port=pg_primary.port,
        user=role,
        password=pw,
        dbname="postgres",
        passfile=NO_PASSFILE,
    ) as conn:
        target = scram.eligible(conn)
    assert target is not None and target["host"] == str(pg_primary.socket_dir)
    assert learn(target) == keys
    # a wrong password: refused, not for good, and the message does not hold it
    bad = {**target, "password": "wrong-" + secrets.token_hex(8)}
    with pytest.raises(scram.ScramUnavailable) as info:
        learn(bad)
    assert not info.value.permanent and bad["password"] not in str(info.value)
    assert "authentication failed" in str(info.value)


@pytest.mark.parametrize("source", ["PGPASSFILE", "DATA_SOURCE_PASS_FILE", "non-ASCII"])
def test_where_the_password_comes_from(exporter_factory, pg_primary, databases, roles, tmp_path, source):
    """The README's ways to give the password (a libpq password file, postgres_exporter's
    DATA_SOURCE_PASS_FILE), with characters a URI or a password file must escape: the keys are
    learned all the same. A non-ASCII password (SASLprep could change it): no keys, silently."""
    if source == "non-ASCII":
        password = "c\u00e4nary-\u00fc-" + secrets.token_hex(8)
    else:
        password = "c@n:ary/%?'\\#-" + secrets.token_hex(8)
    role, _ = roles.make(password=password)
    app, include = f"--postgres.application-name={PREFIX}-{role}", f"--include-databases={','.join(databases)}"
    file = tmp_path / "secret"
    if source == "PGPASSFILE":
        escaped = password.replace("\\", "\\\\").replace(":", "\\:")
        file.write_text(f"{pg_primary.host}:{pg_primary.port}:*:{role}:{escaped}\n")
        env = {
            "DATA_SOURCE_NAME": f"postgresql://{role}@{pg_primary.host}:{pg_primary.port}/postgres?sslmode=disable",
            "PGPASSFILE": str(file),
        }
    elif source == "DATA_SOURCE_PASS_FILE":
        file.write_text(password + "\n")
        env = {
            "DATA_SOURCE_NAME": "",
            "DATA_SOURCE_URI": f"{pg_primary.host}:{pg_primary.port}/postgres?sslmode=disable",
            "DATA_SOURCE_USER": role,
            "DATA_SOURCE_PASS_FILE": str(file),
        }
    else:
        env = {"DATA_SOURCE_NAME": dsn(pg_primary, role, quote(password, safe=""))}
    if file.exists():
        file.chmod(0o600)  # libpq ignores a password file others can read
    exp = exporter_factory(
        "--compat=0.11",
        app,
        "--log.level=debug",
        "--auto-discover-databases",
        "--postgres.fanout-connections=1",
        include,
        exporter="postgres",
        env=env,
    )
    for _ in range(2):
        assert_every_database(scrape(exp), databases)
    log = exp.log()
    assert REFUSED not in log and NO_KEYS not in log, log
    assert log.count(LEARNED) == (0 if source == "non-ASCII" else 1), log
    assert_no_secrets(exp, password, quote(password, safe=""))


def test_no_keys_where_they_would_weaken_the_login(pg_primary, roles):
    """eligible(): no password used (the superuser's trust over the socket), or require_auth set."""
    with psycopg.connect(
        host=str(pg_primary.socket_dir), port=pg_primary.port, user="postgres", dbname="postgres", passfile=NO_PASSFILE
    ) as conn:
        assert scram.eligible(conn) is None
    role, pw = roles.make()
    with psycopg.connect(dsn(pg_primary, role, pw, "&require_auth=scram-sha-256"), passfile=NO_PASSFILE) as conn:
        assert scram.eligible(conn) is None


def test_libpq_runs_no_pbkdf2_with_the_keys(exporter_factory, pg_primary, databases, roles):
    """A role whose stored SCRAM secret has 300,000 rounds (PostgreSQL takes a pre-hashed secret
    with any count): each login with the password costs the client one slow PBKDF2. The same
    exporter, once with the keys and once with them ruled out (require_auth=scram-sha-256 keeps
    the same SCRAM login, the keys are not used then), over scrapes that each open a connection to
    every one of our three databases (only the fan-out collectors: little CPU besides the logins)."""
    password, salt, rounds = "canary-" + secrets.token_hex(12), secrets.token_bytes(16), 300_000
    started = time.process_time()
    client_key, server_key = scram.derive(password, salt, rounds)
    pbkdf2 = time.process_time() - started  # one PBKDF2 at that count, in this process (OpenSSL's; libpq's is slower)
    secret = (
        f"SCRAM-SHA-256${rounds}:{base64.b64encode(salt).decode()}$"
        f"{base64.b64encode(hashlib.sha256(client_key).digest()).decode()}:"
        f"{base64.b64encode(server_key).decode()}"
    )
    role, _ = roles.make(secret=secret)
    include = f"--include-databases={','.join(databases)}"
    with_keys = start(exporter_factory, pg_primary, role, password, include)
    without = start(exporter_factory, pg_primary, role, password, include, extra="&require_auth=scram-sha-256")
    cost = {}
    for name, exp, n in (("keys", with_keys, 2), ("password", without, 1)):
        assert_every_database(scrape(exp), databases)  # the first: the session connects, the keys are learned
        before = cpu_seconds(exp.proc.pid)
        for _ in range(n):
            assert_every_database(scrape(exp, everything=False), databases)
        cost[name] = (cpu_seconds(exp.proc.pid) - before) / n
    detail = f"CPU per scrape: {cost}; one PBKDF2 here: {pbkdf2:.3f} s"
    assert cost["password"] >= 0.7 * len(databases) * pbkdf2, detail  # three slow logins per scrape, as set up
    assert cost["keys"] < pbkdf2, detail  # three logins per scrape, and not one PBKDF2
    assert with_keys.log().count(LEARNED) == 1
    assert LEARNED not in without.log() and NO_KEYS not in without.log()
    keys = {"k": base64.b64encode(client_key).decode(), "s": base64.b64encode(server_key).decode()}
    assert_no_secrets(with_keys, password, *keys.values())
    assert_no_secrets(without, password)


# ---- 2. a new salt under a running exporter ------------------------------------------------------


def test_a_new_salt_is_learned_again_without_a_failed_scrape(exporter_factory, pg_primary, databases, roles):
    role, pw = roles.make()
    exp = start(exporter_factory, pg_primary, role, pw, f"--include-databases={','.join(databases)}")
    assert_every_database(scrape(exp), databases)
    assert exp.log().count(LEARNED) == 1 and REFUSED not in exp.log()
    old_secret = pg_primary.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    old_keys = learn(target_of(pg_primary, role, pw))
    pg_primary.psql(f"ALTER ROLE {role} PASSWORD '{pw}'")  # the same password, a new salt
    assert pg_primary.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'") != old_secret
    with pytest.raises(psycopg.OperationalError):
        connect_with_keys(pg_primary, role, old_keys)  # what the exporter holds is stale now
    for _ in range(3):
        text = scrape(exp)
        assert_every_database(text, databases)
        failed = [s.labels for s in parse_families(text)["pg_scrape_collector_success"].samples if s.value != 1]
        assert not failed, failed  # no collector failed, not even for one database
    log = exp.log()
    assert log.count(REFUSED) == 1, log  # once: then new keys, which the next logins use
    assert log.count(LEARNED) == 2, log
    assert "failed" not in log.split(REFUSED, 1)[1], log
    new_keys = learn(target_of(pg_primary, role, pw))
    assert new_keys != old_keys
    assert_no_secrets(exp, pw, *old_keys.values(), *new_keys.values())


# ---- 3. a role the server authenticates otherwise ---------------------------------------------------


def _hba_with(pg: PgServer, line: str) -> tuple[Path, str]:
    """pg_hba.conf with ``line`` before the first ``host`` line (the first matching line wins)."""
    path = Path(pg.psql("SHOW hba_file"))
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    first_host = next(i for i, text in enumerate(lines) if text.split()[:1] == ["host"])
    lines.insert(first_host, line + "\n")
    pg.run_as.write(path, "".join(lines))
    return path, original


def _wait_for(check, what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} within {timeout}s")
        time.sleep(0.05)


def _logs_in_with(pg: PgServer, role: str, password: str, require_auth: str) -> bool:
    try:
        with psycopg.connect(
            dsn(pg, role, password, f"&require_auth={require_auth}"), passfile=NO_PASSFILE, connect_timeout=5
        ):
            return True
    except psycopg.OperationalError:
        return False


@pytest.mark.parametrize("method", ["md5", "password", "trust"])
def test_another_method_switches_the_keys_off(exporter_factory, pg_primary, databases, roles, method):
    role, pw = roles.make(encryption="md5" if method == "md5" else "scram-sha-256")
    require_auth = "none" if method == "trust" else method
    path, original = _hba_with(pg_primary, f"host all {role} {pg_primary.host}/32 {method}")
    try:
        pg_primary.psql("SELECT pg_reload_conf()")
        _wait_for(lambda: _logs_in_with(pg_primary, role, pw, require_auth), f"pg_hba's {method} line not in force")
        exp = start(exporter_factory, pg_primary, role, pw, f"--include-databases={','.join(databases)}")
        for _ in range(3):
            assert_every_database(scrape(exp), databases)
        log = exp.log()
        assert LEARNED not in log and REFUSED not in log, log
        if method == "trust":
            assert NO_KEYS not in log  # no password used at all: nothing to learn, silently
        else:
            # the server asked for another method: said once (not per scrape), never tried again
            assert log.count(NO_KEYS) == 1, log
            code = {"md5": 5, "password": 3}[method]
            assert f"authentication request {code}, not SCRAM" in log, log
        assert_no_secrets(exp, pw)
        exp.stop()
    finally:
        pg_primary.run_as.write(path, original)
        pg_primary.psql("SELECT pg_reload_conf()")
    _wait_for(lambda: not _logs_in_with(pg_primary, role, pw, require_auth), f"pg_hba's {method} line still in force")
