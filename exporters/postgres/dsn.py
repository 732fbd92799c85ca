"""Where the PostgreSQL exporter's target comes from, as postgres_exporter takes it,
and how a DSN is shown without its password (exporters/pgdsn.py, shared with the scheduler).

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
from ..pgdsn import parse, redact, scrub, server_label

__all__ = ["parse", "redact", "resolve_dsns", "scrub", "server_label"]


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
