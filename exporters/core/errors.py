"""Errors the user can act on. The CLI prints them as one line and exits 2."""


class ConfigError(Exception):
    """Bad input from the user: a flag, a file, an address. The message names it."""
