"""Errors the user can act on (the CLI prints them as one line and exits 2), and the one-line
text every exporter gives a failure in its logs, /health and the landing page."""

from __future__ import annotations

ERROR_TEXT_LIMIT = 200  # characters: an error is a line, never a page (a driver's multi-line message)


class ConfigError(Exception):
    """Bad input from the user: a flag, a file, an address. The message names it."""


def first_line(exc: BaseException) -> str:
    """The first line of the exception's message, or its class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """A short, bounded error description for logs and the landing page: the exception class and
    the first line of its message. Code must not put secrets into exception messages (the database
    exporters scrub DSNs: exporters/pgdsn.py)."""
    text = str(exc).strip()
    text = text.splitlines()[0][:ERROR_TEXT_LIMIT] if text else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def did_you_mean(candidates) -> str:
    """The one way every message suggests names: "Did you mean '--a'?", "Did you mean '--a' or '--b'?"."""
    names = [repr(c) for c in dict.fromkeys(candidates)]
    if not names:
        return ""
    shown = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"Did you mean {shown}?"


def error_line(command_path: str, message: str) -> str:
    """The one error format of the command line: ``flextime-exporter <sub>: error: <message>``."""
    return f"{command_path}: error: {message}"
