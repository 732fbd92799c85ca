"""How the PostgreSQL exporter finds its target and converts settings (pure functions)."""

import pytest

from exporters.core.errors import ConfigError
from exporters.postgres.dsn import redact, resolve_dsns, scrub, server_label
from exporters.postgres.session import short_version
from exporters.postgres.settings import convert


def test_dsn_precedence_and_forms(tmp_path):
    assert resolve_dsns({"DATA_SOURCE_NAME": "postgresql://a@h1/db, host=h2 port=6432"}) == [
        "postgresql://a@h1/db",
        "host=h2 port=6432",
    ]
    assert resolve_dsns({"DATA_SOURCE_NAME": "postgresql://a@h1/db"}, flag="host=h3") == ["host=h3"]
    (tmp_path / "pw").write_text("s3cr:et/@\n")
    dsns = resolve_dsns(
        {
            "DATA_SOURCE_URI": "db.example:5433/app?sslmode=require",
            "DATA_SOURCE_USER": "mon",
            "DATA_SOURCE_PASS_FILE": str(tmp_path / "pw"),
        }
    )
    assert dsns == ["postgresql://mon:s3cr%3Aet%2F%40@db.example:5433/app?sslmode=require"]
    assert resolve_dsns({}) == []


def test_redaction_and_server_label():
    dsn = "postgresql://mon:topsecret@db.example:5433/app?sslmode=require"
    assert redact(dsn) == "postgresql://mon@db.example:5433/app"
    assert "topsecret" not in redact("host=db user=mon password=topsecret")
    assert server_label(dsn) == "db.example:5433"
    assert server_label("host=db") == "db:5432"
    assert (
        scrub("failed for postgresql://mon:topsecret@db.example:5433/app?sslmode=require with topsecret", dsn).count(
            "topsecret"
        )
        == 0
    )


def test_malformed_dsn_error_names_it_without_password():
    with pytest.raises(ConfigError) as err:
        resolve_dsns({"DATA_SOURCE_NAME": "host=db password=topsecret port"})
    assert "DATA_SOURCE_NAME" in str(err.value) and "topsecret" not in str(err.value)


@pytest.mark.parametrize(
    "row,expected",
    [
        (("max_connections", "100", "", "integer"), ("pg_settings_max_connections", 100.0, "")),
        (("fsync", "off", "", "bool"), ("pg_settings_fsync", 0.0, "")),
        (("shared_buffers", "16384", "8kB", "integer"), ("pg_settings_shared_buffers_bytes", 134217728.0, "bytes")),
        (("work_mem", "4096", "kB", "integer"), ("pg_settings_work_mem_bytes", 4194304.0, "bytes")),
        (("max_wal_size", "1024", "MB", "integer"), ("pg_settings_max_wal_size_bytes", 1073741824.0, "bytes")),
        (("checkpoint_timeout", "300", "s", "integer"), ("pg_settings_checkpoint_timeout_seconds", 300.0, "seconds")),
        (
            ("log_min_duration_statement", "-1", "ms", "integer"),
            ("pg_settings_log_min_duration_statement_seconds", -1.0, "seconds"),
        ),
        (("autovacuum_naptime", "1", "min", "integer"), ("pg_settings_autovacuum_naptime_seconds", 60.0, "seconds")),
        (("pg_stat_statements.max", "5000", "", "integer"), ("pg_settings_pg_stat_statements_max", 5000.0, "")),
    ],
)
def test_settings_unit_rules(row, expected):
    assert convert(*row) == expected


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError):
        convert("x", "1", "furlongs", "integer")


def test_short_version():
    assert short_version("PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64") == "15.18.0"
    assert short_version("PostgreSQL 18beta1 on x86_64") == "18.0.0"


def _probe_config(*allowed: str):
    from exporters.postgres.config import AuthModule, PgConfig

    return PgConfig("cfg.yml", {"mon": AuthModule("mon", "exporter", "topsecret", {"sslmode": "require"})}, allowed)


@pytest.mark.parametrize(
    "pattern,host,port,allowed",
    [
        ("db-1.internal:5432", "db-1.internal", "5432", True),
        ("db-1.internal:5432", "DB-1.Internal", "5432", True),  # host names are case-insensitive
        ("db-1.internal:5432", "db-1.internal", "5433", False),
        ("db-1.internal", "db-1.internal", "5432", True),  # no port: the default port only
        ("db-1.internal", "db-1.internal", "6432", False),
        ("*.pg.example.net:*", "a.pg.example.net", "6432", True),
        ("*.pg.example.net:*", "pg.example.net.evil.com", "5432", False),
        ("10.0.0.*:5432", "10.0.0.17", "5432", True),
        ("[::1]:5432", "::1", "5432", True),
        ("[::1]:5432", "::2", "5432", False),
        ("127.0.0.1:574*", "127.0.0.1", "5741", True),  # a port glob
        ("127.0.0.1:574*", "127.0.0.1", "5432", False),
        # a host glob only ever matches a host name: a path is a Unix socket directory to libpq
        ("*.corp.test:5432", "/tmp/x/evil.corp.test", "5432", False),
        ("*:*", "/tmp/x", "5432", False),
        ("*:*", "@abstract", "5432", False),
        ("*:*", "db 1", "5432", False),
        # a socket directory only by its exact path
        ("/var/run/postgresql", "/var/run/postgresql", "5432", True),
        ("/var/run/postgresql", "/var/run/postgresql/", "5432", True),
        ("/var/run/postgresql", "/var/run/postgresql/../../tmp", "5432", False),
        ("/var/run/postgresql", "/var/run/postgresql/sub", "5432", False),
        ("/var/run/postgresql", "/var/run", "5432", False),
    ],
)
def test_allowlist_patterns(pattern, host, port, allowed):
    assert _probe_config(pattern).allows(host, port) is allowed


def test_probe_dsn_takes_the_auth_modules_credentials_and_options():
    from psycopg.conninfo import conninfo_to_dict

    from exporters.postgres.config import resolve_probe

    dsn = resolve_probe(_probe_config("db:5432"), {"target": "db:5432/app", "auth_module": "mon"})
    assert conninfo_to_dict(dsn) == {
        "host": "db",
        "port": "5432",
        "dbname": "app",
        "user": "exporter",
        "password": "topsecret",
        "sslmode": "require",
    }


def test_refused_probe_messages_name_the_target_but_no_password():
    from exporters.core.targets import ProbeRefused
    from exporters.postgres.config import resolve_probe

    with pytest.raises(ProbeRefused) as err:
        resolve_probe(_probe_config(), {"target": "postgresql://u:hunter2@db:5432/x"})
    assert "db:5432 is not in probe.allowed_targets in cfg.yml" in str(err.value)
    with pytest.raises(ProbeRefused) as err:
        resolve_probe(_probe_config("db"), {"target": "postgresql://u:hunter2@db/x?passfile=/etc/shadow"})
    assert "'passfile' is not allowed" in str(err.value) and "hunter2" not in str(err.value)
