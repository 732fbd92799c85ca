"""Where the Redis exporter connects, as redis_exporter takes it, and which password goes where.

Addresses: ``redis://[user[:password]@]host[:port][/db]``, ``rediss://`` (TLS), ``unix:///path``
(``?db=N``), a bare ``host:port``; ``valkey://`` / ``valkeys://`` are the same as redis / rediss.

Passwords, and the rule that fixes redis_exporter's credential leak (its #1104): a password is only
ever sent to the target it belongs to.
- ``--redis.addr``'s target takes the password in its URI, else ``--redis.password``, else its
  entry in ``--redis.password-file``.
- A ``/scrape?target=`` target may be scraped only when it matches ``--scrape.allowed-targets``;
  any password in the request is dropped (as redis_exporter does), and the target gets only the
  password-file entry for exactly its address (or ``--redis.password`` when it is the same
  address as ``--redis.addr``). Never the global password for some other host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..core.errors import ConfigError
from ..core.targets import Allowlist

SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss", "unix": "unix"}
DEFAULT_PORT = 6379


@dataclass(frozen=True)
class RedisTarget:
    """One Redis server as the exporter reaches it. ``password`` never leaves this object
    except towards that server: use :attr:`display` / :attr:`address` everywhere else."""

    scheme: str  # redis, rediss or unix
    host: str = ""
    port: int = DEFAULT_PORT
    path: str = ""  # unix socket
    db: int = 0
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def address(self) -> str:
        """host:port (or the socket path): the allowlist and the password-file key compare this."""
        if self.scheme == "unix":
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def display(self) -> str:
        """The URI without a password, for logs, errors and pages."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        if self.scheme == "unix":
            return f"unix://{user}{self.path}" + (f"?db={self.db}" if self.db else "")
        return f"{self.scheme}://{user}{self.address}" + (f"/{self.db}" if self.db else "")

    def key(self) -> str:
        """A string that says everything needed to connect, password included: a dict key, never shown."""
        return json.dumps([self.scheme, self.host, self.port, self.path, self.db, self.username, self.password])

    @classmethod
    def from_key(cls, key: str) -> "RedisTarget":
        scheme, host, port, path, db, username, password = json.loads(key)
        return cls(scheme, host, port, path, db, username, password)


def parse_address(text: str, source: str = "--redis.addr") -> RedisTarget:
    """A RedisTarget, or ConfigError naming ``source`` and the problem (never the password)."""
    text = text.strip()
    if not text:
        raise ConfigError(f"{source}: empty address")
    if "://" not in text:
        text = "redis://" + text
    scheme_text = text.split("://", 1)[0].lower()
    scheme = SCHEMES.get(scheme_text)
    shown = _shown(text)
    if scheme is None:
        raise ConfigError(f"{source} {shown}: unknown scheme {scheme_text!r} (redis, rediss, valkey, valkeys, unix)")
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for a port that is not a number or out of range
    except ValueError:
        # not urllib's text: it quotes what it took for the port, which may be part of a password
        # (a '/', '?' or '#' in the password ends the host part early)
        raise ConfigError(
            f"{source} {shown}: the port is not a number from 0 to 65535 (a password with "
            "'/', '?' or '#' must be percent-encoded)"
        ) from None
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    query = parse_qs(parts.query)
    if scheme == "unix":
        if not parts.path:
            raise ConfigError(f"{source} {shown}: no socket path")
        db_text = (query.get("db") or ["0"])[0]
        return RedisTarget(
            "unix", path=parts.path, db=_db(db_text, source, shown), username=username, password=password
        )
    if not parts.hostname:
        raise ConfigError(f"{source} {shown}: no host")
    db_text = parts.path.strip("/") or (query.get("db") or ["0"])[0]
    return RedisTarget(
        scheme,
        parts.hostname,
        port or DEFAULT_PORT,
        db=_db(db_text, source, shown),
        username=username,
        password=password,
    )


def _db(text: str, source: str, shown: str) -> int:
    if not text.isdigit():
        what = "the database" if "@" in text or len(text) > 20 else f"database {text!r}"  # may be a password's end
        raise ConfigError(f"{source} {shown}: {what} is not a number")
    return int(text)


def _shown(text: str) -> str:
    """The address as typed, minus any password, for an error message."""
    scheme, _, rest = text.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{hostpart}" if userinfo else f"{scheme}://{hostpart}"


def load_password_file(path: str) -> dict[str, str]:
    """redis_exporter's password file: a JSON object of URI -> password, keyed here by host:port."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ConfigError(f"--redis.password-file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--redis.password-file {path}: not valid JSON ({str(exc).split(':')[0]})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"--redis.password-file {path}: expected a JSON object of URI to password strings")
    out = {}
    for uri in data:
        out[parse_address(uri, f"--redis.password-file {path}: key").address] = data[uri]
    return out


@dataclass(frozen=True)
class Credentials:
    """Which password belongs to which address (options.py's PasswordSource swaps in a new one when the
    password file changes)."""

    addr: RedisTarget | None = None  # --redis.addr, with its password resolved
    user: str = ""
    by_address: dict[str, str] = field(default_factory=dict, repr=False)  # the password file

    def for_configured(self, target: RedisTarget) -> RedisTarget:
        password = target.password or self._global(target) or self.by_address.get(target.address, "")
        return replace(target, username=target.username or self.user, password=password)

    def _global(self, target: RedisTarget) -> str:
        return self.addr.password if self.addr is not None and self.addr.address == target.address else ""

    def for_probe(self, target: RedisTarget) -> RedisTarget:
        """A /scrape target: the request's password is dropped; only this address's own password is used."""
        password = self.by_address.get(target.address) or self._global(target)
        return replace(target, username=target.username or self.user, password=password)


def allowed(allowlist: Allowlist, target: RedisTarget) -> bool:
    """host:port shell-glob patterns (no port: 6379; ``host:*`` any port, ``host:63*`` a port glob), or
    exactly a socket path (a pattern ending in ``/`` allows the sockets directly in that directory)."""
    if target.scheme == "unix":
        return allowlist.allows(target.path)
    return allowlist.allows(target.host, target.port)
