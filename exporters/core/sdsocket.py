"""``--web.systemd-socket``: serve on the listening sockets systemd passes (socket activation).

systemd (or ``systemd-socket-activate``) opens the sockets of a ``.socket`` unit and starts the
service with them as file descriptors 3, 4, ... and the environment LISTEN_PID (the pid they are
meant for), LISTEN_FDS (how many) and LISTEN_FDNAMES (their names, ``:``-separated), as
sd_listen_fds(3) describes. Like the Go exporters, we take every descriptor passed and clear the
variables, so a program we start does not take them too."""

from __future__ import annotations

import os
import socket
import sys

from .errors import ConfigError

SD_LISTEN_FDS_START = 3
_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def _meant_for_us(listen_pid: int) -> bool:
    if listen_pid == os.getpid():
        return True
    # the single-file executable runs Python in a child of its bootloader, which systemd started
    return bool(getattr(sys, "frozen", False)) and listen_pid == os.getppid()


def systemd_sockets(environ=None) -> list[tuple[str, socket.socket]]:
    """The passed sockets as (description, socket); ConfigError when none were passed to us."""
    env = os.environ if environ is None else environ
    pid_text, count_text = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    if not pid_text or not count_text:
        raise ConfigError(
            "--web.systemd-socket: no sockets passed by systemd (LISTEN_PID/LISTEN_FDS are not set; "
            "start the exporter from a .socket unit)"
        )
    try:
        listen_pid, count = int(pid_text), int(count_text)
    except ValueError:
        raise ConfigError(
            f"--web.systemd-socket: malformed LISTEN_PID={pid_text!r} or LISTEN_FDS={count_text!r}"
        ) from None
    if not _meant_for_us(listen_pid):
        raise ConfigError(
            f"--web.systemd-socket: the sockets are meant for pid {listen_pid}, not this process ({os.getpid()})"
        )
    if count < 1:
        raise ConfigError("--web.systemd-socket: systemd passed no sockets (LISTEN_FDS=0)")
    names = env.get("LISTEN_FDNAMES", "").split(":") if env.get("LISTEN_FDNAMES") else []
    out = []
    for i in range(count):
        fd = SD_LISTEN_FDS_START + i
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ConfigError(f"--web.systemd-socket: descriptor {fd} is not a socket: {exc.strerror or exc}") from None
        if sock.type != socket.SOCK_STREAM:
            raise ConfigError(f"--web.systemd-socket: descriptor {fd} is not a stream socket")
        os.set_inheritable(fd, False)
        sock.setblocking(False)
        out.append((_describe(sock, names[i] if i < len(names) else ""), sock))
    if environ is None:
        for key in _ENV:
            os.environ.pop(key, None)
    return out


def _describe(sock: socket.socket, name: str) -> str:
    try:
        addr = sock.getsockname()
    except OSError:
        addr = "?"
    if isinstance(addr, tuple):
        host = addr[0]
        text = f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    else:
        text = str(addr) or "unnamed unix socket"
    return f"systemd socket {text}" + (f" ({name})" if name else "")
