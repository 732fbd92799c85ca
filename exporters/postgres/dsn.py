"""Where the PostgreSQL exporter's target comes from, as postgres_exporter takes it,
and how a DSN is shown without its password.

Precedence (highest first): ``--dsn``; ``DATA_SOURCE_NAME`` (URI or key=value,
comma-separated list); ``DATA_SOURCE_URI`` (host[:port]/db?params) with
``DATA_SOURCE_USER`` / ``DATA_SOURCE_PASS``, each also as ``*_FILE`` (the
file's content, whitespace-trimmed). libpq environment variables (PGPASSFILE,
PGSSLMODE, ...) apply underneath, as with lib/pq.
"""

from __future__ import annotations

import os
from typing import Mapping
from urllib.parse import quote

from ..core.errors import ConfigError


def _env_or_file(env: Mapping[str, str], name: str) -> str | None:
    path = env.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE {path}: {exc.strerror or exc}") from exc
    value = env.get(name)
    return value if value else None


def resolve_dsns(env: Mapping[str, str] | None = None, flag: str | None = None) -> list[str]:
    """The DSNs to scrape, validated; [] when none is configured."""
    env = os.environ if env is None else env
    source, text = ("--dsn", flag) if flag else ("DATA_SOURCE_NAME", env.get("DATA_SOURCE_NAME"))
    if text:
        dsns = [d.strip() for d in text.split(",") if d.strip()]
    else:
        uri = _env_or_file(env, "DATA_SOURCE_URI")
        if not uri:
            return []
        source = "DATA_SOURCE_URI"
        user = _env_or_file(env, "DATA_SOURCE_USER")
        password = _env_or_file(env, "DATA_SOURCE_PASS")
        userinfo = ""
        if user:
            userinfo = quote(user, safe="")
            if password:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        uri = uri.split("://", 1)[1] if "://" in uri else uri
        dsns = [f"postgresql://{userinfo}{uri}"]
    for dsn in dsns:
        parse(dsn, source)
    return dsns


def parse(dsn: str, source: str = "DSN") -> dict[str, str]:
    """libpq's reading of the DSN; a ConfigError that never repeats the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception as exc:  # psycopg.ProgrammingError: libpq's message, which quotes no password
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{source}: malformed DSN {redact(dsn)}: {scrub(message, dsn)}") from None
    # libpq parses the port only when it connects: check it now, so a typo stops start-up (exit 2)
    # rather than failing every scrape; a multi-host DSN has one port per host ("5432,5433")
    for port in parts.get("port", "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"{source}: malformed DSN {redact(dsn)}: the port {port!r} is not a number "
                              "from 1 to 65535")
    return parts


def _password_of(dsn: str) -> str | None:
    try:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(dsn).get("password")
    except Exception:
        return None


def scrub(text: str, dsn: str) -> str:
    """Remove the DSN's password (and the DSN itself) from a message."""
    password = _password_of(dsn)
    text = text.replace(dsn, redact(dsn))
    return text.replace(password, "***") if password else text


def redact(dsn: str) -> str:
    """``postgresql://user@host:port/db`` with no password, for logs, errors and the landing page."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable DSN>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    db = f"/{parts['dbname']}" if parts.get("dbname") else ""
    return f"postgresql://{user}{host}{port}{db}"


def server_label(dsn: str) -> str:
    """postgres_exporter's ``server`` label: host:port of the target."""
    parts = parse(dsn)
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or '5432'}"
