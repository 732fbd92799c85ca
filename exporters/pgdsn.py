"""libpq connection strings (URI or key=value) as the PostgreSQL and scheduler exporters both read
them: parsed by libpq itself, and shown without their password (:func:`redact`, :func:`scrub`).

A neutral module: neither exporter package imports the other (tests/unit/test_imports.py)."""

from __future__ import annotations

from .core.errors import ConfigError, first_line


def parse(dsn: str, source: str = "DSN") -> dict[str, str]:
    """libpq's reading of the DSN; a ConfigError that never repeats the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception as exc:  # psycopg.ProgrammingError: libpq's message, which quotes no password
        raise ConfigError(f"{source}: malformed DSN {redact(dsn)}: {scrub(first_line(exc), dsn)}") from None
    # libpq parses the port only when it connects: check it now, so a typo stops start-up (exit 2)
    # rather than failing every scrape; a multi-host DSN has one port per host ("5432,5433")
    for port in parts.get("port", "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"{source}: malformed DSN {redact(dsn)}: the port {port!r} is not a number from 1 to 65535"
            )
    return parts


def _password_of(dsn: str) -> str | None:
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        return None if password is None else str(password)
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
