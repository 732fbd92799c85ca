"""What ``validate()`` made of the redis exporter's flags: read once at start-up, frozen, and passed
down as ``settings.options`` to every target's session and collectors. The one part that changes
while the exporter runs, the password file, lives in its own object (:class:`PasswordSource`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..core.collector import Settings
from ..core.errors import ConfigError
from ..core.helpers import file_signature
from ..core.targets import Allowlist
from .address import Credentials, RedisTarget, load_password_file, parse_address

log = logging.getLogger("exporters.redis")


class PasswordSource:
    """Which password each address gets: --redis.addr's own (or --redis.password), and the JSON
    --redis.password-file's, each sent to its own address only (address.py's Credentials).

    Mutable on purpose, unlike the rest of the options: the password file is read again when it
    changes (mtime, inode, size) and on /-/reload, so a rotated secret needs no restart. The lock
    makes each check-and-swap one step, whoever asks (a scrape's connect, /-/reload)."""

    def __init__(self, addr: RedisTarget | None, user: str, path: str) -> None:
        """Reads ``path`` (when given) now: a malformed file raises ConfigError and stops start-up."""
        self.path = path
        self._lock = threading.Lock()
        self._signature = file_signature(path) if path else ()
        self._credentials = Credentials(addr, user, load_password_file(path) if path else {})

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordSource:
        addr = parse_address(settings.redis_addr) if settings.redis_addr else None
        if addr is not None and settings.redis_password and not addr.password:
            addr = replace(addr, password=settings.redis_password)
        return cls(addr, settings.redis_user, settings.redis_password_file)

    @property
    def credentials(self) -> Credentials:
        """The passwords as last read."""
        with self._lock:
            return self._credentials

    def current(self, target: RedisTarget) -> RedisTarget:
        """``target`` with the password the file gives it now (read again when it changed). A file
        that cannot be read keeps the passwords in use (logged once per change, never a password)."""
        if not self.path:
            return target
        now = file_signature(self.path)
        with self._lock:
            if now != self._signature:
                self._signature = now
                try:
                    fresh = load_password_file(self.path)
                except ConfigError as exc:
                    log.error("%s; the passwords read before stay in use", exc)
                else:
                    self._credentials = replace(self._credentials, by_address=fresh)
                    log.info("%s changed: read again", self.path)
            creds = self._credentials
        bare = replace(target, password="")
        configured = creds.addr is not None and creds.addr.address == target.address
        return creds.for_configured(bare) if configured else creds.for_probe(bare)

    def reload(self) -> None:
        """/-/reload: the file read again now; ConfigError when it cannot be (the passwords in use stay)."""
        fresh = load_password_file(self.path)
        with self._lock:
            self._credentials = replace(self._credentials, by_address=fresh)


@dataclass(frozen=True)
class RedisOptions:
    """The redis exporter's options (``settings.options``)."""

    passwords: PasswordSource  # --redis.addr / --redis.password / --redis.password-file (re-read on change)
    allowlist: Allowlist  # --scrape.allowed-targets: what /scrape?target= may name (empty: nothing)
    scripts: Mapping[str, bytes]  # --script: each file's text by path, read at start-up
