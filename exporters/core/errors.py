"""Errors the user can act on. The CLI prints them as one line and exits 2."""


class ConfigError(Exception):
    """Bad input from the user: a flag, a file, an address. The message names it."""


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
